"""What the matrix's truths cost: its heading, "not pinned" notes and dataset rows, at scale.

Run: ``python benchmarks/matrix_render.py 5000``. Builds and renders (Markdown and JSON) the
matrix of N artifact files (three checks each, a third of the files unpinned) plus N/100 datasets,
twice in the same run: as a full run writes it (heading, notes, dataset rows) and, as the
baseline, the same results without any of them (no metadata, no note facts, no dataset names).
Prints the median of each and their ratio.
"""

from __future__ import annotations

import statistics
import sys
import time

from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.matrix import (
    MatrixMetadata,
    build_matrix,
    render_json,
    render_markdown,
)
from pytest_mlsupply.results import CheckResult, RowKind, Severity

CHECKS = ("format", "scan", "sha256")


def scenario(count: int, truths: bool) -> tuple[list[PlannedItem], list[CheckResult], list[str]]:
    items: list[PlannedItem] = []
    results: list[CheckResult] = []
    for i in range(count):
        subject = f"m/f{i:06d}.bin"
        for check in CHECKS:
            items.append(PlannedItem(RowKind.ARTIFACT, subject, (check,)))
            facts: dict[str, object] = {"sha256": "ab" * 32}
            if truths and check == "sha256" and i % 3 == 0:
                facts["note"] = "not pinned"
            results.append(CheckResult(RowKind.ARTIFACT, subject, check, facts=facts))
    datasets = [f"d{i:04d}" for i in range(max(1, count // 100))]
    for name in datasets:
        items.append(PlannedItem(RowKind.PROVENANCE, name, ("dataset",)))
        results.append(CheckResult(RowKind.PROVENANCE, name, "dataset"))
    return items, results, datasets if truths else []


def measure(count: int, truths: bool, repeat: int = 7) -> float:
    items, results, datasets = scenario(count, truths)
    metadata = (
        MatrixMetadata(
            project="bench",
            version="1.0.0",
            commit="0" * 40,
            timestamp="2026-12-04T00:00:00+00:00",
            bom_serial_number="urn:uuid:00000000-0000-4000-8000-000000000000",
        )
        if truths
        else None
    )
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        matrix = build_matrix(items, results, Severity.HIGH, datasets=datasets, metadata=metadata)
        render_markdown(matrix)
        render_json(matrix, results)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    for count in [int(a) for a in argv] or [5000]:
        baseline = measure(count, truths=False)
        truthful = measure(count, truths=True)
        print(
            f"{count} files ({3 * count} cells): baseline median {baseline * 1000:.0f} ms, "
            f"with heading, notes and dataset rows {truthful * 1000:.0f} ms "
            f"({truthful / baseline:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
