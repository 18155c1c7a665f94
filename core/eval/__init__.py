"""eval package (see its modules)."""
