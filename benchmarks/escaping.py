"""What escaping every check's outcome costs the runner (pytest_mlsupply.printable).

Run: ``python benchmarks/escaping.py 5000``. One model of N files, each one sha256 item (an
unpinned file: one info finding with a fix naming the file); ``run_item`` over all of them,
alternately with the runner's escaping and with it replaced by the identity (the baseline, in
the same process and run), 7 rounds each. Prints both medians and their ratio.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_mlsupply.checks import runner
from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.manifest.loader import load_manifest
from pytest_mlsupply.plan import build_plan
from pytest_mlsupply.sources.resolve import build_inventory


def _identity(value: Any) -> Any:
    return value


def measure(count: int, rounds: int = 7) -> tuple[float, float]:
    root = Path(tempfile.mkdtemp(prefix="mlsupply-escaping-"))
    (root / "m").mkdir()
    for i in range(count):
        (root / "m" / f"f{i:06d}.txt").write_text("x")
    (root / "mlsupply.yaml").write_text("version: 1\nmodels: [{name: m, path: m}]\n")
    inventory = build_inventory(load_manifest(root / "mlsupply.yaml"))
    items = [p for p in build_plan(inventory) if p.checks == ("sha256",)]
    escaping = (runner.escaped_finding, runner.one_line)
    timings: dict[bool, list[float]] = {True: [], False: []}
    contents = ContentCache()  # shared: the digests are computed once, before the rounds
    for item in items:
        runner.run_item(item, CheckContext(inventory.manifest.policy, inventory, contents))
    try:
        for _ in range(rounds):
            for escaped in (True, False):
                if escaped:
                    runner.escaped_finding, runner.one_line = escaping
                else:
                    runner.escaped_finding = runner.one_line = _identity
                ctx = CheckContext(inventory.manifest.policy, inventory, contents)
                start = time.perf_counter()
                for item in items:
                    runner.run_item(item, ctx)
                timings[escaped].append(time.perf_counter() - start)
    finally:
        runner.escaped_finding, runner.one_line = escaping
    return statistics.median(timings[True]), statistics.median(timings[False])


def main(argv: list[str]) -> int:
    for count in [int(a) for a in argv] or [5000]:
        escaped, plain = measure(count)
        print(
            f"{count} sha256 items: median {escaped * 1000:.0f} ms escaped, "
            f"{plain * 1000:.0f} ms without (ratio {escaped / plain:.3f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
