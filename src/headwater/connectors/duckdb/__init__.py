"""DuckDB source and target (Arrow in and out)."""
