"""What the baseline file costs a large gate: reading 5,000 entries, and applying them to 5,000
results, beside building the matrix of those results (the reference, measured in the same run).

Everything is built in memory (no gate run); each figure is the median of seven runs. Run it
from a checkout: ``PYTHONPATH=$PWD python benchmarks/baseline_cost.py``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from pytest_mlsupply.baseline import apply_baseline, parse_baseline
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.matrix import build_matrix
from pytest_mlsupply.results import CheckResult, Finding, Location, RowKind, Severity

N = 5000
RUNS = 7
TODAY = date(2026, 12, 4)


def median_seconds(run: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    subjects = [f"m/f{i}.pkl" for i in range(N)]
    results = [
        CheckResult(
            RowKind.ARTIFACT,
            subject,
            "scan",
            findings=[
                Finding(
                    "MLS-PKL-001",
                    Severity.CRITICAL,
                    "pickle",
                    "a dangerous import",
                    Location(file=subject, offset=2),
                )
            ],
        )
        for subject in subjects
    ]
    plan = [PlannedItem(RowKind.ARTIFACT, subject, ("scan",)) for subject in subjects]
    text = "version: 1\naccepted:\n" + "".join(
        f"  - {{rule: MLS-PKL-001, kind: artifact, subject: {subject}, check: scan, "
        f"location: {{file: {subject}, offset: 2}}, reason: r, owner: o, expires: 2027-01-31}}\n"
        for subject in subjects
    )
    path, root = Path("/project/mlsupply-baseline.yaml"), Path("/project")
    load = median_seconds(lambda: parse_baseline(text, path, TODAY, root=root))
    baseline = parse_baseline(text, path, TODAY, root=root)
    apply = median_seconds(lambda: apply_baseline(results, baseline, Severity.HIGH, TODAY))
    matrix = median_seconds(lambda: build_matrix(plan, results, Severity.HIGH))
    print(f"{N} results, {N} baseline entries, median of {RUNS} runs:")
    print(f"  read and validate the baseline: {load * 1e3:.0f} ms")
    print(f"  apply it to the results:         {apply * 1e3:.1f} ms")
    print(f"  build_matrix (reference):        {matrix * 1e3:.1f} ms")
    print(f"  apply / build_matrix:            {apply / matrix:.2f}x")


if __name__ == "__main__":
    main()
