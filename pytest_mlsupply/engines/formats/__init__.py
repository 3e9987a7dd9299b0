"""Format engines: one module per family, each registered in ``engines/registry.py``."""
