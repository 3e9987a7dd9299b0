"""Sources: turn declarations into local bytes and lists (model files, dependencies)."""
