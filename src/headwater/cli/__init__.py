"""The ``headwater`` command line: one module per command group."""
