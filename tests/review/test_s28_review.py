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


def test_an_hdf5_file_of_many_unterminated_keras_configs_is_stopped_near_its_budget(
    tmp_path: Path,
) -> None:
    # A file naming model_config in no attribute message the reader knows, then 100 objects
    # that open with Keras' first key and never close: each is decoded from its '{' to the end
    # of the file (windows of 64 KiB, 1 MiB, 16 MiB...). The search checked the budgets at
    # every hit, but the guard reads its clock at every 64th check: 64 decodes of megabytes
    # ran between two readings, about 15 s past scan_seconds=1 for this 6 MB file.
    group = b'{"class_name":[' + b"1," * 30_000
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(56) + b"model_config\x00" + group * 100)
    elapsed, stops = _scan_seconds(path, 1)
    [stop] = stops
    assert stop.startswith("scan stopped after"), stop
    assert elapsed < 5, (elapsed, stops)
