"""The typosquat benchmark runs end to end on a few names and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_typosquat_benchmark_prints_a_row_per_kind_of_name() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "typosquat.py"),
            "--deps",
            "30",
            "--baseline-sample",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr
    assert "building the indexes (once per process)" in proc.stdout
    rows = {
        line.split("|")[1].strip(): line
        for line in proc.stdout.splitlines()
        if line.startswith("| ")
    }
    assert {"popular", "look-alike", "unrelated"} <= set(rows)
    assert "| popular | 10 |" in rows["popular"]
