"""train package (see its modules)."""
