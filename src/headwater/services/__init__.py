"""Domain operations: no HTTP here; errors are raised from ``headwater.errors``."""
