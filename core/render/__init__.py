"""render package (see its modules)."""
