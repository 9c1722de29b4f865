"""Sign-up without a login: the public page, its confirmation, the coordinators' decision."""
