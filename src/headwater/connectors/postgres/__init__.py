"""PostgreSQL source and target (binary COPY for PostgreSQL-to-PostgreSQL, Arrow otherwise)."""
