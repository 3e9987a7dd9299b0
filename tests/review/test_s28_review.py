"""Review of s28: the pickle machine's fast paths and the engine loops' budget checkpoints.

Each test is a hole found by the review: a small file that kept the scanner busy, with no
checkpoint reached, far past ``policy.limits.scan_seconds``.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path

from pytest_mlsupply.engines.budget import ScanLimits
from pytest_mlsupply.engines.scanner import ScanPolicy, scan_file


def _scan_seconds(path: Path, seconds: float) -> tuple[float, list[str]]:
    started = time.monotonic()
    report = scan_file(path, path.name, ScanPolicy(limits=ScanLimits(scan_seconds=seconds)))
    elapsed = time.monotonic() - started
    return elapsed, [f.evidence for f in report.findings if f.rule == "MLS-LIM-001"]


def test_a_safetensors_header_naming_many_tensors_twice_is_read_in_linear_time(
    tmp_path: Path,
) -> None:
    # 40,000 names, each given twice (4.6 MB): the duplicate search tested each repeated name
    # against a list of those found so far, then read the whole header once per name, with no
    # checkpoint in the first: about 15 s before the scan's budget was even looked at.
    names = [f"k{i}" for i in range(40_000)]
    entry = '{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
    header = ("{" + ",".join(f'"{name}":{entry}' for name in names + names) + "}").encode()
    header += b" " * (-len(header) % 8)
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    elapsed, stops = _scan_seconds(path, 1)
    assert elapsed < 5, (elapsed, stops)
