"""Payment reminders by the scheduler, who owes what (aged), hardship arrangements."""
