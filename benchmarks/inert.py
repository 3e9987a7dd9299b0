"""What an installed but inactive pytest-mlsupply costs a pytest session (issue 12, target c).

Run: ``python benchmarks/inert.py --repeat 10``. A small test module is collected with
``pytest --co -q`` with the plugin installed and ``--mlsupply`` off, and again with
``-p no:mlsupply``, alternating in the same invocation, each in a fresh interpreter; the
difference of the medians is the plugin's cost (the target is under 20 ms).

``measure(repeat)`` is the entry point the overall harness calls.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speed import child_env  # the same child environment (this checkout, byte-code cached)


def _run(root: Path, extra: list[str]) -> float:
    command = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", *extra]
    start = time.perf_counter()
    subprocess.run(command, cwd=root, env=child_env(), capture_output=True, check=True)
    return time.perf_counter() - start


def measure(repeat: int) -> dict[str, float]:
    """Median seconds with the plugin inert (``off_s``) and removed (``removed_s``), and the
    difference in milliseconds (``overhead_ms``)."""
    with tempfile.TemporaryDirectory(prefix="mlsupply-inert-") as tmp:
        root = Path(tmp)
        (root / "pytest.ini").write_text("[pytest]\n")
        (root / "test_small.py").write_text(
            "import pytest\n\n\n@pytest.mark.parametrize('i', range(20))\n"
            "def test_small(i):\n    assert i >= 0\n"
        )
        _run(root, [])  # warm-up: page cache and byte-code of both variants
        _run(root, ["-p", "no:mlsupply"])
        inert, removed = [], []
        for _ in range(repeat):
            inert.append(_run(root, []))
            removed.append(_run(root, ["-p", "no:mlsupply"]))
    off_s, removed_s = statistics.median(inert), statistics.median(removed)
    return {"off_s": off_s, "removed_s": removed_s, "overhead_ms": (off_s - removed_s) * 1000}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args(argv)
    result = measure(args.repeat)
    print(f"pytest --co -q, medians of {args.repeat} runs each, alternating")
    print(f"plugin installed, --mlsupply off: {result['off_s'] * 1000:.0f} ms")
    print(f"-p no:mlsupply (baseline):        {result['removed_s'] * 1000:.0f} ms")
    print(f"difference: {result['overhead_ms']:+.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
