"""MySQL / MariaDB source (ConnectorX keyset chunks, PyMySQL streaming) and target."""
