"""Code analysis follows a path built by concatenation in bounded memory.

``p = p + p`` doubles the text the path analysis keeps for ``p``: n such lines of a model's
custom code made the scan build a string of 7 x 2^n characters (24 lines: 112 MiB and 7 s;
26 lines, 300 bytes: 448 MiB; 30 lines: 7 GiB; 40 lines: 7 TiB). No system opens a path that long, so the text is
kept to its first characters, which still say where the path leads.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from pytest_mlsupply.engines.scanner import ScanReport, scan_file


def doubling_path_code(start: str, doublings: int) -> str:
    return f"p = {start!r}\n" + "p = p + p\n" * doublings + "open(p, 'w')\n"


def scan_code(tmp_path: Path, source: str) -> tuple[ScanReport, int]:
    path = tmp_path / "modeling_custom.py"
    path.write_text(source)
    tracemalloc.start()
    try:
        report = scan_file(path, path.name)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return report, peak


#: Doublings in the tests: 448 MiB if the text were built (forty would be terabytes).
DOUBLINGS = 26


def test_a_path_doubled_26_times_is_followed_without_building_it(tmp_path: Path) -> None:
    once, baseline = scan_code(tmp_path, doubling_path_code("weights", 1))
    report, peak = scan_code(tmp_path, doubling_path_code("weights", DOUBLINGS))
    assert peak < baseline + (32 << 20)
    assert report.errors == []
    assert {f.rule for f in report.findings} == {f.rule for f in once.findings}


def test_an_absolute_path_doubled_26_times_still_leads_outside_the_model(
    tmp_path: Path,
) -> None:
    once, baseline = scan_code(tmp_path, doubling_path_code("/root/.ssh/", 1))
    report, peak = scan_code(tmp_path, doubling_path_code("/root/.ssh/", DOUBLINGS))
    assert peak < baseline + (32 << 20)
    assert {f.rule for f in report.findings} == {f.rule for f in once.findings}
    assert report.findings  # writing below /root is reported, however long the path grew
