"""HTTP layer: FastAPI routes, one module per resource."""
