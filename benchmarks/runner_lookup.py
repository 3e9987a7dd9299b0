"""How run_item's cost grows with the number of files in one model (sha256 items only).

Run: ``python benchmarks/runner_lookup.py 2000 20000``. Each item must find its subject in the
inventory; with the runner's subject index this is constant time, so total time should grow
linearly with the file count (it grew quadratically before the index: 1.1 s for 2,000 files).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.runner import run_item
from pytest_mlsupply.manifest.loader import load_manifest
from pytest_mlsupply.plan import build_plan
from pytest_mlsupply.sources.resolve import build_inventory


def measure(count: int, repeat: int = 3) -> float:
    root = Path(tempfile.mkdtemp(prefix="mlsupply-lookup-"))
    (root / "m").mkdir()
    for i in range(count):
        (root / "m" / f"f{i:06d}.txt").write_text("x")
    (root / "mlsupply.yaml").write_text("version: 1\nmodels: [{name: m, path: m}]\n")
    inventory = build_inventory(load_manifest(root / "mlsupply.yaml"))
    items = [p for p in build_plan(inventory) if p.checks == ("sha256",)]
    times = []
    for _ in range(repeat):
        ctx = CheckContext(inventory.manifest.policy, inventory, ContentCache())
        start = time.perf_counter()
        for item in items:
            run_item(item, ctx)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    for count in [int(a) for a in argv] or [2000, 20000]:
        print(f"{count} files: median {measure(count):.2f} s for {count} sha256 items")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
