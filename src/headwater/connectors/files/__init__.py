"""File connectors: local folders and S3-compatible object storage (CSV, JSON, Parquet)."""
