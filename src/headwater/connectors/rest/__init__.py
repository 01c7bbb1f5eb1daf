"""REST API source: JSON endpoints read into tables (auth, paging, retries, incremental)."""
