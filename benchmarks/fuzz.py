"""The long fuzz run: every parser fed N mutated or random inputs, outside the default suite.

    python benchmarks/fuzz.py --cases 100000                 # every target
    python benchmarks/fuzz.py --cases 100000 --target pickle --target zip

The targets, their seeds and the property each case must hold are the default suite's
(``tests/fuzz/targets.py``); the suite runs a few cases of each, this runs as many as asked.
A failing case does not stop the run: it is counted, its input and traceback are written to
``--failures`` (``<target>-<n>.bin`` and ``.txt``), and the run goes on. Hypothesis runs
in chunks (``--chunk`` cases each, a fresh seed per chunk) with no example database and no
shrinking, so memory stays flat however long the run. For each target it prints the cases run,
the wall time, cases per second and the failures; the exit status is 1 when any case failed.
See docs/fuzzing.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

from tests.fuzz.mutate import Case  # noqa: E402
from tests.fuzz.seeds import CANARY_DIR  # noqa: E402
from tests.fuzz.targets import TARGETS, CaseTimedOut, Target, run_case  # noqa: E402


class _Tally:
    def __init__(self, target: Target, failures: Path) -> None:
        self.target = target
        self.failures_dir = failures
        self.cases = 0
        self.failures = 0
        self.wall = 0.0
        self.kinds: dict[str, int] = {}

    def run(self, case: Case) -> None:
        self.cases += 1
        try:
            run_case(self.target, case)
        except (Exception, CaseTimedOut) as exc:
            self._record(case, exc)

    def _record(self, case: Case, exc: BaseException) -> None:
        self.failures += 1
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if "pytest_mlsupply" in f.filename] or frames
        where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
        kind = f"{type(exc).__name__} at {where}"
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        stem = self.failures_dir / f"{self.target.name}-{self.failures}"
        self.failures_dir.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".bin").write_bytes(case[1])
        stem.with_suffix(".txt").write_text(
            f"name: {case[0]!r}\n" + "".join(traceback.format_exception(exc))
        )
        # A payload that ran left its file: clear it so the next cases are judged afresh.
        for leftover in set(os.listdir(CANARY_DIR)) - _BESIDE:
            shutil.rmtree(CANARY_DIR / leftover, ignore_errors=True)
            (CANARY_DIR / leftover).unlink(missing_ok=True)


_BESIDE: set[str] = set()


def fuzz(target: Target, cases: int, chunk: int, failures: Path, base_seed: int) -> _Tally:
    tally = _Tally(target, failures)
    strategy = target.strategy()
    started = time.perf_counter()
    number = 0
    while tally.cases < cases:
        size = min(chunk, cases - tally.cases)
        before = tally.cases

        @seed(base_seed + number)
        @settings(
            max_examples=size,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def one_chunk(case: Case) -> None:
            tally.run(case)

        one_chunk()
        number += 1
        if tally.cases == before:
            break  # hypothesis found nothing new to try
        wall = time.perf_counter() - started
        print(
            f"[{target.name}] {tally.cases}/{cases} cases, {wall:.1f} s, "
            f"{tally.cases / wall:.1f} cases/s, {tally.failures} failures",
            flush=True,
        )
    tally.wall = time.perf_counter() - started
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases per target")
    parser.add_argument(
        "--target", action="append", choices=sorted(TARGETS), help="repeatable; default: all"
    )
    parser.add_argument("--chunk", type=int, default=1000, help="cases per hypothesis run")
    parser.add_argument("--seed", type=int, default=0, help="the first chunk's seed")
    parser.add_argument(
        "--failures",
        type=Path,
        default=Path("fuzz-failures"),
        help="where failing inputs and tracebacks go (default ./fuzz-failures)",
    )
    args = parser.parse_args(argv)
    names = args.target or sorted(TARGETS)
    # Seeds are built (and the corpus's own files beside the canary noted) before any case.
    for name in names:
        TARGETS[name].seeds()
    _BESIDE.update(os.listdir(CANARY_DIR))
    rows = []
    for name in names:
        tally = fuzz(TARGETS[name], args.cases, args.chunk, args.failures, args.seed)
        rows.append((name, tally.cases, tally.wall, tally.failures))
        for kind, count in sorted(tally.kinds.items()):
            print(f"[{name}] {count} x {kind}", flush=True)
    print("\n| target | cases | wall (s) | cases/s | failures |\n|---|---:|---:|---:|---:|")
    for name, count, wall, failed in rows:
        print(f"| {name} | {count} | {wall:.1f} | {count / wall:.1f} | {failed} |")
    failed_any = any(row[3] for row in rows)
    if failed_any:
        print(f"\nfailing inputs and tracebacks: {args.failures}/")
    return 1 if failed_any else 0


if __name__ == "__main__":
    sys.exit(main())
