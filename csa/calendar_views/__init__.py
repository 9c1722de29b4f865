"""The pickup calendar blueprint (named so it does not shadow the stdlib `calendar`)."""
