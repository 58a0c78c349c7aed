"""Looking after the database: checks, backup and restore, the demo fleet."""
