"""The benchmark harness runs end to end on small inputs and prints its tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_quick_benchmark_prints_a_timing_row_for_each_large_file(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--no-baselines",
            "--size-mb",
            "8",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    section = proc.stdout.split("## Large files", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    header = next(line for line in lines if line.startswith("| input | size |"))
    assert "mlsupply median (min)" in header
    rows = {line.split("|")[1].strip(): line.split("|") for line in lines if line.startswith("| ")}
    for name in ("torch zip checkpoint", "safetensors"):
        assert name in rows, section
        size, timing = rows[name][2].strip(), rows[name][3].strip()
        assert size == "8 MiB"
        assert timing.split(" ")[1] in ("µs", "ms", "s"), timing  # "950 µs (930 µs)"
    assert "## Scaling with file size" in proc.stdout
    assert "No canary file appeared" in proc.stdout
    audit = proc.stdout.split("## Dependency audit: 50 pinned requirements", 1)[1]
    assert "| cold (index + audit) |" in audit
    assert "| warm (cache hit) |" in audit
    assert "(0 errors)" in audit
    # --quick leaves the committed figures alone.
    assert not (tmp_path / "results.md").exists()
    assert (tmp_path / "checkpoint-8m.pt").stat().st_size > 8 << 20


def test_the_parallel_hash_benchmark_measures_the_pool_against_one_thread(tmp_path: Path) -> None:
    from benchmarks.parallel_hash import measure

    result = measure(1, 1, gate=False, data_dir=tmp_path)

    assert set(result) == {"baseline", "pool", "pool_ratio"}
    assert all(value > 0 for value in result.values())
    assert (tmp_path / "parallel-hash-1" / "mlsupply.yaml").is_file()
