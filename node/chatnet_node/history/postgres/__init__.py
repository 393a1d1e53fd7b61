"""History in PostgreSQL: one database shared by every server of a network."""
