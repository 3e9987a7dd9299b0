"""What ``mlsupply bom diff`` costs on two BOMs of 1,000 components (issue 13, slice D).

Run from the repository root::

    python benchmarks/bom_diff_speed.py                  # 1,000 components, median of 7
    python benchmarks/bom_diff_speed.py --components 5000 --repeat 5

The two BOMs are ``build_bom`` of :func:`bom_speed.bom_inputs` (one model, its file and
pinned libraries) and the same with 50 library versions changed. Prints the medians of:

- ``in_process``: the steps inside one interpreter: importing ``pytest_mlsupply.cli``, reading
  and validating the first BOM (the schema validator built), the second, and comparing;
- ``command``: ``python -m pytest_mlsupply.cli bom diff OLD NEW --format json`` end to end, and
  its baseline in the same run: a Python process that only parses the two JSON files.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bom_speed import bom_inputs

from pytest_mlsupply.reports.bom import build_bom, render_bom_json
from pytest_mlsupply.results import Severity

_IN_PROCESS = """
import sys, time
from pathlib import Path
t0 = time.perf_counter()
import pytest_mlsupply.cli
t1 = time.perf_counter()
from pytest_mlsupply import bom_diff
old = bom_diff.read_bom(Path(sys.argv[1]))
t2 = time.perf_counter()
new = bom_diff.read_bom(Path(sys.argv[2]))
t3 = time.perf_counter()
changes = bom_diff.compare(bom_diff.snapshot(Path("o"), old), bom_diff.snapshot(Path("n"), new))
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3, len(changes))
"""


def _timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return time.perf_counter() - start, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        old = build_bom(*bom_inputs(root, args.components), Severity.HIGH)
        new = json.loads(json.dumps(old))
        for library in [c for c in new["components"] if c["type"] == "library"][:50]:
            library["version"] += ".1"
        old_path, new_path = root / "old.cdx.json", root / "new.cdx.json"
        old_path.write_text(render_bom_json(old))
        new_path.write_text(render_bom_json(new))

        steps: list[list[float]] = [[], [], [], []]
        command, baseline = [], []
        diff = [sys.executable, "-m", "pytest_mlsupply.cli", "bom", "diff"]
        parse = (
            f"import json; json.load(open({str(old_path)!r})); json.load(open({str(new_path)!r}))"
        )
        for _ in range(args.repeat):
            _, done = _timed([sys.executable, "-c", _IN_PROCESS, str(old_path), str(new_path)])
            *times, count = done.stdout.split()
            for step, value in zip(steps, times, strict=True):
                step.append(float(value))
            elapsed, done = _timed([*diff, str(old_path), str(new_path), "--format", "json"])
            assert done.returncode == 0, done.stderr
            command.append(elapsed)
            baseline.append(_timed([sys.executable, "-c", parse])[0])

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e3:8.1f} ms"

    print(f"{args.components} components, {count} changes, medians of {args.repeat}")
    print(f"  in_process import cli          {ms(steps[0])}")
    print(f"  in_process read+validate OLD   {ms(steps[1])}  (schema validator built)")
    print(f"  in_process read+validate NEW   {ms(steps[2])}")
    print(f"  in_process snapshot+compare    {ms(steps[3])}")
    print(f"  command bom diff --format json {ms(command)}")
    print(f"  baseline: python parsing both  {ms(baseline)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
