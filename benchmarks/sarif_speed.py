"""What the gate's SARIF log costs (issue 13, slice S), against a baseline measured in the same run.

Run from the repository root::

    python benchmarks/sarif_speed.py                 # 5,000 files, median of 7 runs
    python benchmarks/sarif_speed.py --files 1000 --repeat 5

Prints the median seconds of each step, measured in this one process:

- ``render``: :func:`~pytest_mlsupply.reports.sarif.render_sarif` as the gate and the scan call
  it, every file placed relative to the repository root
  (:class:`~pytest_mlsupply.reports.sarif.SourceRoot`);
- ``render_plain``: the same without a source root (file names as the checks write them, as
  ``mlsupply scan --format sarif`` did before): what the placement costs;
- ``write_lines``: writing the built log as render_sarif does, one line per result
  (:func:`~pytest_mlsupply.reports.sarif.dumps_log`), and ``write_indent2``: the same document
  written by ``json.dumps(log, indent=2)``, as render_sarif did before (the baseline);
  ``indent2_over_lines`` is the ratio;
- ``matrix_json``: the matrix's JSON (``render_json``) of the same results, the report every gate
  already writes, for scale;
- ``build_context``: :func:`~pytest_mlsupply.build_context.detect` in this repository (three
  short ``git`` commands), which every gate now pays once a report writer is registered.

The results: one artifact file per model directory entry, four checks each, a pickle finding on
every tenth file (with an archive member and offset) and an informational format finding on all.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_mlsupply.build_context import detect
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.matrix import build_matrix, render_json
from pytest_mlsupply.reports.sarif import SourceRoot, dumps_log, render_sarif
from pytest_mlsupply.results import CheckResult, Finding, Location, RowKind, Severity

ROOT = Path(__file__).resolve().parent.parent
CHECKS = ("format", "scan", "sha256", "hub")


def sarif_inputs(files: int) -> tuple[list[PlannedItem], list[CheckResult]]:
    items: list[PlannedItem] = []
    results: list[CheckResult] = []
    for index in range(files):
        subject = f"model/shard-{index:05d}.bin"
        items.append(PlannedItem(RowKind.ARTIFACT, subject, CHECKS))
        info = Finding("MLS-FMT-900", Severity.INFO, "format", "identified", Location(file=subject))
        results.append(CheckResult(RowKind.ARTIFACT, subject, "format", [info]))
        scan: list[Finding] = []
        if index % 10 == 0:
            scan.append(
                Finding(
                    "MLS-PKL-001",
                    Severity.CRITICAL,
                    "code-execution",
                    "pickle imports dangerous global os.system",
                    Location(file=subject, member="archive/data.pkl", offset=58),
                    evidence="GLOBAL os system",
                    why="loading the file runs os.system",
                    remediation="re-export the weights as safetensors",
                    cwe="CWE-502",
                )
            )
        results.append(CheckResult(RowKind.ARTIFACT, subject, "scan", scan))
        results.append(
            CheckResult(RowKind.ARTIFACT, subject, "sha256", facts={"sha256": f"{index:064x}"})
        )
        results.append(CheckResult(RowKind.ARTIFACT, subject, "hub"))
    return items, results


def _median(step: Callable[[], object], repeat: int) -> float:
    step()  # unmeasured: imports, caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(files: int = 5000, repeat: int = 7) -> dict[str, float]:
    items, results = sarif_inputs(files)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        root = SourceRoot(
            root=repo, base=repo / "service", prefixes={"model": repo / "service" / "model"}
        )
        log = json.loads(render_sarif(results, Severity.HIGH, tool_version="0", root=root))
        # The layout changes, never the document.
        assert json.loads(dumps_log(log)) == log
        figures = {
            "files": float(files),
            "render": _median(
                lambda: render_sarif(results, Severity.HIGH, tool_version="0", root=root), repeat
            ),
            "render_plain": _median(
                lambda: render_sarif(results, Severity.HIGH, tool_version="0"), repeat
            ),
            "write_lines": _median(lambda: dumps_log(log), repeat),
            "write_indent2": _median(lambda: json.dumps(log, indent=2, ensure_ascii=False), repeat),
        }
    matrix = build_matrix(items, results, Severity.HIGH, [])
    figures["matrix_json"] = _median(lambda: render_json(matrix, results), repeat)
    figures["build_context"] = _median(lambda: detect(ROOT), repeat)
    figures["placed_over_plain"] = figures["render"] / figures["render_plain"]
    figures["indent2_over_lines"] = figures["write_indent2"] / figures["write_lines"]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args(argv)
    for name, value in measure(options.files, options.repeat).items():
        if name == "files":
            print(f"{name}: {int(value)}")
        elif "_over_" in name:
            print(f"{name}: {value:.2f}x")
        else:
            print(f"{name}: {value * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
