"""Snowflake: source, target (Parquet through an internal stage, then COPY INTO) and SQL."""
