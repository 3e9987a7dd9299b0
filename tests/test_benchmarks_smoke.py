"""The benchmark harness runs end to end on small inputs and prints its tables."""

from __future__ import annotations

import json
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


def test_the_quick_speed_benchmark_measures_the_gate_and_the_bom_without_writing_the_doc(
    tmp_path: Path,
) -> None:
    doc = ROOT / "docs" / "performance.md"
    before = doc.read_bytes() if doc.exists() else None
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "speed.py"),
            "--quick",
            "--size-mb",
            "1",
            "--only",
            "a,e",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = proc.stdout
    assert "**Not measured:**" not in report, report
    gate = report.split("## (a) Cold gate", 1)[1].split("\n## ", 1)[0]
    cells = [line.split("|") for line in gate.splitlines() if line.startswith("| ")]
    rows = {row[1].strip(): row for row in cells}
    xdist = "gate -n 2 --dist loadgroup (reference: see the notes)"
    scan_bound = "scan-bound model, gate -n 2 --dist loadgroup (figure: speed-up over -n 0)"
    assert {"gate -n 0", xdist, scan_bound} <= rows.keys(), gate
    assert rows["gate -n 0"][6].strip().endswith("x")  # a ratio to the file_digest baseline
    assert rows["gate -n 0"][8].strip() in ("met", "**not met**")
    # xdist's own target: a speed-up of -n 2 over -n 0 where the scan is the work.
    assert rows[scan_bound][6].strip().endswith("x faster")
    assert rows[scan_bound][8].strip() in ("met", "**not met**")
    assert f"| (a) {scan_bound} |" in report  # in the summary table too
    bom = report.split("## (e) BOM build", 1)[1]
    assert "| first call (validator built) |" in bom
    assert "| JSON and XML, first call (validators built) |" in bom
    assert "The document holds 31 components" in bom  # 30 files and their model
    # The generated project pins the real digests: its sha256 items ran, and passed.
    matrix = json.loads((tmp_path / "speed-gate-1m" / "build" / "mlsupply-matrix.json").read_text())
    verdicts = {row["subject"]: row["cells"] for row in matrix["rows"]}
    assert verdicts["big/checkpoint.pt"]["sha256"] == "pass"
    assert verdicts["big/model.safetensors"]["sha256"] == "pass"
    # --quick leaves the committed figures alone.
    assert (doc.read_bytes() if doc.exists() else None) == before


def test_the_quick_many_items_benchmark_measures_cold_warm_and_the_session_end(
    tmp_path: Path,
) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "speed.py"),
            "--quick",
            "--only",
            "d",
            "--items",
            "30",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    section = proc.stdout.split("## (d) About 30 items", 1)[1]
    assert "**Not measured:**" not in section, section
    cells = [line.split("|") for line in section.splitlines() if line.startswith("| ")]
    rows = {row[1].strip().split(",")[0]: row for row in cells}
    assert {"gate", "warm gate"} <= rows.keys(), section
    assert rows["gate"][6].strip().endswith("per item")
    assert rows["warm gate"][6].strip().endswith("per item")
    assert "Session end" in section
    assert "baseline" in section.split("Session end", 1)[1]
    # The warm row ran on a filled content cache: the first cache-on run wrote its entries.
    store = tmp_path / "speed-items-10" / ".pytest_cache" / "d" / "mlsupply-content"
    assert list(store.rglob("*.json"))


def test_the_speed_benchmark_keeps_the_other_benchmarks_figures_below_its_marker(
    tmp_path: Path,
) -> None:
    from benchmarks.speed import OTHER_BENCHMARKS, kept_tail

    doc = tmp_path / "performance.md"
    assert kept_tail(doc) == ""
    doc.write_text("# Performance\n\n## (a) old figures\n")
    assert kept_tail(doc) == ""
    doc.write_text(f"# Performance\n\n## (a) old\n\n{OTHER_BENCHMARKS}\n\n## HTML report\n| x |\n")
    assert kept_tail(doc) == f"\n{OTHER_BENCHMARKS}\n\n## HTML report\n| x |\n"
    # The real page carries the marker before the HTML report's section.
    page = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
    assert "## HTML report" in kept_tail(page)
