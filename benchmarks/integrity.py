"""How long the ``integrity`` check takes over a whole environment, cold and warm.

Run with the project's interpreter: ``python benchmarks/integrity.py`` verifies every
distribution the interpreter imports (``sys.path``), prints the total, the per-distribution
median and the slowest ones, and the count of distributions with findings (0 on a clean
environment: a false-alarm count as much as a timing). ``--path DIR`` audits another
site-packages instead. "Cold" is the first pass in this process, which reads from disk unless
the OS already caches the files; "warm" repeats it with the files in the page cache. The check
itself caches nothing between passes (see ``checks/dependency_integrity.py`` for why).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_mlsupply.checks.dependency_integrity import (
    DistributionReport,
    InstalledDistributions,
    verify,
)


def one_pass(
    installed: InstalledDistributions, names: list[str]
) -> dict[str, tuple[float, DistributionReport]]:
    out = {}
    for name in names:
        dist = installed.find(name)
        assert dist is not None
        start = time.perf_counter()
        report = verify(dist)
        out[name] = (time.perf_counter() - start, report)
    return out


def summarise(label: str, timings: dict[str, tuple[float, DistributionReport]], top: int) -> None:
    seconds = [t for t, _ in timings.values()]
    files = sum(r.verified for _, r in timings.values())
    flagged = sorted(
        name
        for name, (_, r) in timings.items()
        if r.changed or r.missing or r.unlisted or r.unverifiable or r.bad_entries
    )
    print(
        f"{label}: {len(timings)} distributions, {files} files verified in {sum(seconds):.2f} s "
        f"(median {statistics.median(seconds) * 1000:.1f} ms per distribution); "
        f"{len(flagged)} with findings{': ' + ', '.join(flagged) if flagged else ''}"
    )
    for name, (t, r) in sorted(timings.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"  {t:7.2f} s  {name} ({r.verified} files)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", action="append", help="a site-packages to audit (repeatable)")
    parser.add_argument("--top", type=int, default=5, help="how many of the slowest to list")
    args = parser.parse_args(argv)
    installed = InstalledDistributions(args.path)
    names = installed.names()
    summarise("cold", one_pass(installed, names), args.top)
    summarise("warm", one_pass(installed, names), args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
