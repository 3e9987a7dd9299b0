"""The pytest layer: hooks, collectors, items, the marker and xdist glue."""
