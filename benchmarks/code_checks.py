"""What the code checks (issue 14) cost per file, against ``ast.parse`` alone in the same run.

Run from the repository root::

    python benchmarks/code_checks.py              # the standard library, torch and transformers
    python benchmarks/code_checks.py --limit 500  # the first 500 files of each tree
    python benchmarks/code_checks.py --json       # the figures as JSON
    python benchmarks/code_checks.py --pathological 3  # sources that were once super-linear

The corpus is real code available offline: the standard library
(``sysconfig.get_paths()["stdlib"]``) and, when installed, the source trees of torch and
transformers. Every file is read once into memory first, so the figures are the engine's, not
the disk's. For each file the benchmark times :func:`ast.parse` alone (the floor: the engine
cannot be faster than parsing) and :func:`~pytest_mlsupply.engines.project_code.analyse_source`
(parse, one walk, the judges, the suppression comments), and reports per tree and overall the
median and p95 milliseconds per file, files per second, and the ratio of the medians
(``analyse_over_parse``). It also counts the findings and errors, for a look at what the rules
say about code that is not the project's.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import json
import statistics
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from pytest_mlsupply.engines.project_code import analyse_source


def trees() -> dict[str, Path]:
    """The source trees to measure: the standard library, and torch/transformers if installed."""
    found = {"stdlib": Path(sysconfig.get_paths()["stdlib"])}
    for package in ("torch", "transformers"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            found[package] = Path(next(iter(spec.submodule_search_locations)))
    return found


def sources(root: Path, limit: int | None) -> list[tuple[str, str]]:
    """Every decodable ``.py`` file below ``root`` (sorted), as (name, text)."""
    out: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.relative_to(root).parts:
            continue
        try:
            out.append((path.relative_to(root).as_posix(), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
        if limit is not None and len(out) >= limit:
            break
    return out


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure_tree(files: list[tuple[str, str]]) -> dict[str, Any]:
    parse_ms: list[float] = []
    analyse_ms: list[float] = []
    findings = errors = 0
    by_rule: dict[str, int] = {}
    for name, text in files:
        start = time.perf_counter()
        with contextlib.suppress(SyntaxError, ValueError, RecursionError):
            ast.parse(text.removeprefix("\ufeff"), filename=name)
        parse_ms.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        analysis = analyse_source(text, file=name)
        analyse_ms.append((time.perf_counter() - start) * 1000)
        findings += len(analysis.findings)
        errors += analysis.error is not None
        for finding in analysis.findings:
            by_rule[finding.rule] = by_rule.get(finding.rule, 0) + 1
    total_s = sum(analyse_ms) / 1000
    parse_median = statistics.median(parse_ms)
    analyse_median = statistics.median(analyse_ms)
    return {
        "files": len(files),
        "parse_median_ms": round(parse_median, 3),
        "parse_p95_ms": round(_percentile(parse_ms, 0.95), 3),
        "analyse_median_ms": round(analyse_median, 3),
        "analyse_p95_ms": round(_percentile(analyse_ms, 0.95), 3),
        "files_per_s": round(len(files) / total_s, 1) if total_s else 0.0,
        "analyse_over_parse": round(analyse_median / parse_median, 2) if parse_median else 0.0,
        "findings": findings,
        "errors": errors,
        "findings_by_rule": dict(sorted(by_rule.items())),
        "_parse": parse_ms,
        "_analyse": analyse_ms,
    }


def measure(limit: int | None = None) -> dict[str, Any]:
    """Figures per tree and over all files (``all``)."""
    figures: dict[str, Any] = {}
    parse_all: list[float] = []
    analyse_all: list[float] = []
    for label, root in trees().items():
        tree = measure_tree(sources(root, limit))
        parse_all += tree.pop("_parse")
        analyse_all += tree.pop("_analyse")
        figures[label] = tree
    figures["all"] = {
        "files": len(analyse_all),
        "parse_median_ms": round(statistics.median(parse_all), 3),
        "analyse_median_ms": round(statistics.median(analyse_all), 3),
        "analyse_p95_ms": round(_percentile(analyse_all, 0.95), 3),
        "files_per_s": round(len(analyse_all) / (sum(analyse_all) / 1000), 1),
        "analyse_over_parse": round(
            statistics.median(analyse_all) / statistics.median(parse_all), 2
        ),
    }
    return figures


#: Sources that once made the engine super-linear, each with what it cost then (review R3 of
#: issue 14: a clipped quote's digest walked every spanned line, 70 s for the first).
PATHOLOGICAL = {
    "150 nested torch.load around 10^6 blank lines (was 70 s)": "import torch\nx = "
    + "torch.load(" * 150
    + "'a'\n"
    + "\n" * 1_000_000
    + ")" * 150
    + "\n",
}


def pathological(repeat: int) -> None:
    """Median seconds of ``analyse_source`` on each pathological source, against
    ``ast.parse`` of the same source (the floor), interleaved in one run."""
    print("| source | ast.parse median | analyse median | ratio |\n|---|---:|---:|---:|")
    for label, source in PATHOLOGICAL.items():
        parse_times: list[float] = []
        analyse_times: list[float] = []
        for _ in range(repeat):
            started = time.perf_counter()
            ast.parse(source)
            parse_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            analyse_source(source, file="a.py")
            analyse_times.append(time.perf_counter() - started)
        parsed, analysed = statistics.median(parse_times), statistics.median(analyse_times)
        print(f"| {label} | {parsed:.2f} s | {analysed:.2f} s | {analysed / parsed:.1f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="at most N files per tree")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--pathological", type=int, metavar="REPEAT", help="time the pathological sources only"
    )
    options = parser.parse_args(argv)
    if options.pathological:
        pathological(options.pathological)
        return 0
    figures = measure(options.limit)
    if options.json:
        json.dump(figures, sys.stdout, indent=2)
        print()
        return 0
    print(f"python {sys.version.split()[0]}; times in ms per file")
    header = ("tree", "files", "parse med", "analyse med", "analyse p95", "files/s", "ratio")
    print("{:<13} {:>6} {:>10} {:>12} {:>12} {:>9} {:>6}".format(*header))
    for label, tree in figures.items():
        print(
            f"{label:<13} {tree['files']:>6} {tree['parse_median_ms']:>10.3f} "
            f"{tree['analyse_median_ms']:>12.3f} {tree['analyse_p95_ms']:>12.3f} "
            f"{tree['files_per_s']:>9.1f} {tree['analyse_over_parse']:>6.2f}"
        )
    for label, tree in figures.items():
        if "findings_by_rule" in tree:
            print(f"{label}: {tree['errors']} errors, findings {tree['findings_by_rule']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
