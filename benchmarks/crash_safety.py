"""What crash safety costs a gate's report writing: the stale-temp scan of each atomic write, and
the signal hold plus the reports' lock around the set.

Times :func:`~pytest_mlsupply.reports.atomic.write_atomic` of a 200 kB report into a folder of 0
and 1,000 other files, with the scan for a killed writer's temp files and (the baseline, same
run) without it; and an uncontended ``signals_held`` + ``reports_locked`` block. Medians of many
runs. Run it from a checkout: ``PYTHONPATH=$PWD python benchmarks/crash_safety.py``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from pytest_mlsupply.plugin.interrupts import signals_held
from pytest_mlsupply.reports import atomic
from pytest_mlsupply.reports.lock import reports_locked

REPORT = "x" * 200_000


def median_seconds(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    for siblings in (0, 1000):
        with tempfile.TemporaryDirectory() as folder:
            for number in range(siblings):
                (Path(folder) / f"file-{number}.bin").write_bytes(b"")
            target = Path(folder) / "bom.json"
            scanned = median_seconds(partial(atomic.write_atomic, target, REPORT), 300)
            scan = atomic._remove_stale_temps
            atomic._remove_stale_temps = lambda path: None  # the baseline: no scan
            try:
                plain = median_seconds(partial(atomic.write_atomic, target, REPORT), 300)
            finally:
                atomic._remove_stale_temps = scan
        print(
            f"write_atomic 200 kB beside {siblings} files: {scanned * 1e3:.2f} ms with the "
            f"stale-temp scan, {plain * 1e3:.2f} ms without (ratio {scanned / plain:.3f})"
        )
    with tempfile.TemporaryDirectory() as folder:

        def guarded() -> None:
            with signals_held() as held, reports_locked(Path(folder), stop=held.__bool__):
                pass

        print(
            f"signals held + reports' lock, uncontended: {median_seconds(guarded, 2000) * 1e6:.1f} us"
        )


if __name__ == "__main__":
    main()
