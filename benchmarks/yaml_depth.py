"""What deep flow nesting costs the YAML config reader: PyYAML's safe loader against the
linear one the scanner uses (``pytest_mlsupply/engines/yaml_loader.py``), measured in the same
run on ``a: [[[[…]]]], [[[[…]]]], …``: R groups of 999 nested flow sequences on one line
(deeper than 1,000 levels is an error to both the linear loader and libyaml).

    python benchmarks/yaml_depth.py [--repeat 3]

Prints the median seconds of each loader per size and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from pytest_mlsupply.engines.yaml_loader import LinearSafeLoader


def _parse(text: str, loader: type[yaml.SafeLoader]) -> float:
    started = time.perf_counter()
    try:
        for _ in yaml.parse(text, Loader=loader):
            pass
    except yaml.YAMLError:
        pass  # unclosed, as it was written: the error comes at the end
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print("| groups | bytes | yaml.SafeLoader (s) | LinearSafeLoader (s) | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for groups in (1, 4, 16):
        text = "a: [" + ("[" * 998 + "]" * 998 + ", ") * groups + "]"
        safe = statistics.median(_parse(text, yaml.SafeLoader) for _ in range(args.repeat))
        linear = statistics.median(_parse(text, LinearSafeLoader) for _ in range(args.repeat))
        print(
            f"| {groups} | {len(text)} | {safe:.3f} | {linear:.3f} | {safe / linear:.0f}x |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
