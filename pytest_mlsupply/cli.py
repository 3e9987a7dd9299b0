"""The ``mlsupply`` command line (placeholder until it lands)."""

from __future__ import annotations


def main() -> int:
    return 0
