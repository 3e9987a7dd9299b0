"""Measure the typosquat check: indexing the vendored lists once, then names per dependency.

    python benchmarks/typosquat.py               # 500 dependency names, prints a Markdown table
    python benchmarks/typosquat.py --deps 2000   # more names

The names are a deterministic mix (seeded): popular projects (the fast path: a set lookup),
look-alikes made by the transformations the detector knows, and names that resemble nothing (the
slow path: every index is asked and the deletion neighbourhood is searched). The baseline is what
the indexes avoid: one edit distance against every popular name, measured on a sample of names
and scaled.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_mlsupply.typosquat.detector import (  # noqa: E402  (after the path set-up)
    Detector,
    compressed,
    osa_distance,
)
from pytest_mlsupply.typosquat.popular import vendored  # noqa: E402


def lookalike(rng: random.Random, name: str) -> str:
    letters = list(name)
    i = rng.randrange(1, max(2, len(letters) - 1))
    move = rng.choice(("double", "drop", "swap", "affix", "separator"))
    if move == "double":
        letters.insert(i, letters[i - 1])
    elif move == "drop" and len(letters) > 4:
        del letters[i]
    elif move == "swap" and i + 1 < len(letters):
        letters[i], letters[i + 1] = letters[i + 1], letters[i]
    elif move == "affix":
        return f"python-{name}"
    else:
        return name.replace("-", "_") if "-" in name else f"{name[:i]}-{name[i:]}"
    return "".join(letters)


def names_to_check(count: int, seed: int) -> dict[str, list[str]]:
    rng = random.Random(seed)
    popular = vendored().names
    third = count // 3
    unrelated = [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randrange(6, 18)))
        for _ in range(count - 2 * third)
    ]
    return {
        "popular": rng.sample(popular, third),
        "look-alike": [lookalike(rng, name) for name in rng.sample(popular[:3000], third)],
        "unrelated": unrelated,
    }


def fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deps", type=int, default=500, help="dependency names to check")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument(
        "--baseline-sample", type=int, default=5, help="names for the baseline (0: skip it)"
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    popular = vendored()
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    detector = Detector(popular)
    indexed = time.perf_counter() - started

    groups = names_to_check(args.deps, args.seed)
    rows = []
    flagged = 0
    for group, names in groups.items():
        timings = []
        for name in names:
            t0 = time.perf_counter()
            found = detector.check(name)
            timings.append(time.perf_counter() - t0)
            flagged += found is not None
        rows.append((group, len(names), statistics.median(timings), max(timings), sum(timings)))

    naive_each = None
    if args.baseline_sample > 0:
        every = [compressed(n) for n in popular.names]
        sample = groups["unrelated"][: args.baseline_sample]
        t0 = time.perf_counter()
        for name in sample:
            letters = compressed(name)
            min(osa_distance(letters, other) for other in every)
        naive_each = (time.perf_counter() - t0) / len(sample)

    total = sum(row[4] for row in rows)
    print(f"# typosquat check: {args.deps} names against {len(popular.names)} popular projects\n")
    print(f"- reading the vendored lists: {fmt(loaded)}")
    print(f"- building the indexes (once per process): {fmt(indexed)}")
    print(f"- checking all {args.deps} names: {fmt(total)} ({flagged} flagged)")
    if naive_each is not None:
        print(
            f"- baseline, one edit distance against every popular name: {fmt(naive_each)} a "
            f"name, {fmt(naive_each * args.deps)} for {args.deps} names"
        )
    print()
    print("| names | count | median | max | total |")
    print("|---|---|---|---|---|")
    for group, count, median, worst, sum_ in rows:
        print(f"| {group} | {count} | {fmt(median)} | {fmt(worst)} | {fmt(sum_)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
