"""pytest-mlsupply: put the ML supply chain under test."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
