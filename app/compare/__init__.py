"""The comparison side panel (the same viewport rendered by several sources)."""
