"""Running the farm's server: backup and restore, the running-app lock, private files."""
