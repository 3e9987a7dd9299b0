"""The pickle engine: a symbolic unpickler that reports imports and calls without running them.

Public surface::

    scan = scan_pickle_bytes(data, policy=PicklePolicy(), origin="model.pkl")
    scan.findings      # MLS-PKL-0xx findings, after the policy's verdicts
    scan.imports       # every global the loader would import, with byte offsets
    scan.calls         # every call it would make
    scan.error         # set when the bytes are not a pickle (MLS-PKL-008)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .policy import Decision, PicklePolicy, Verdict, decide

if TYPE_CHECKING:
    from .scan import NestedScan, PickleScan, scan_pickle_bytes
    from .values import CallRef, ImportRef

    #: The name the design notes use for a scan's result.
    ScanResult = PickleScan

# The symbolic unpickler (.scan, .values: the VM, its rules and readings) is loaded on first use
# of its names, not with the policy: a warm gate builds a PicklePolicy for its cache key and
# scans nothing.
_LAZY = {
    "NestedScan": ("scan", "NestedScan"),
    "PickleScan": ("scan", "PickleScan"),
    "ScanResult": ("scan", "PickleScan"),
    "scan_pickle_bytes": ("scan", "scan_pickle_bytes"),
    "CallRef": ("values", "CallRef"),
    "ImportRef": ("values", "ImportRef"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module, attribute = _LAZY[name]
    value = getattr(importlib.import_module(f".{module}", __name__), attribute)
    globals()[name] = value  # once: later lookups are plain module attributes
    return value


__all__ = [
    "CallRef",
    "Decision",
    "ImportRef",
    "NestedScan",
    "PicklePolicy",
    "PickleScan",
    "ScanResult",
    "Verdict",
    "decide",
    "scan_pickle_bytes",
]
