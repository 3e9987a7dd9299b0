"""The typosquat check's engine: popular names (vendored), the look-alike detector, the index lookup."""
