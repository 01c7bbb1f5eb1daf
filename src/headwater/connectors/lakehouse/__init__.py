"""Open table formats as targets and sources: Apache Iceberg (pyiceberg), Delta Lake
(delta-rs)."""
