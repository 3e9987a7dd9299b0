"""The pickle engine: a symbolic unpickler that reports imports and calls without running them.

Public surface::

    scan = scan_pickle_bytes(data, policy=PicklePolicy(), origin="model.pkl")
    scan.findings      # MLS-PKL-0xx findings, after the policy's verdicts
    scan.imports       # every global the loader would import, with byte offsets
    scan.calls         # every call it would make
    scan.error         # set when the bytes are not a pickle (MLS-PKL-008)
"""

from __future__ import annotations

from .policy import Decision, PicklePolicy, Verdict, decide
from .scan import NestedScan, PickleScan, scan_pickle_bytes
from .values import CallRef, ImportRef

#: The name the design notes use for a scan's result.
ScanResult = PickleScan

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
