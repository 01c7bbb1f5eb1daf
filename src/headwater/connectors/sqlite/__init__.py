"""SQLite source and target (standard library ``sqlite3``)."""
