"""Password hashing, token secrets and encryption at rest."""
