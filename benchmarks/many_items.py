"""The plugin's own cost per generated item, on a gate of a few thousand cheap items.

Run: ``python benchmarks/many_items.py --items 5000 --repeat 5``. A project is generated in a
temporary directory: one local model whose tiny files give ``items`` artifact items (sha256,
format and scan on each file, plus the model's provenance items), and, as the baseline, a test
module with ``items`` trivial parametrized tests. Both sessions run in the same invocation,
alternating, each in a fresh interpreter with ``-p no:cacheprovider`` (a cold run):

- gate: ``pytest --mlsupply mlsupply.yaml`` (collection, the checks, the reports: matrix and BOM);
- baseline: ``pytest -p no:mlsupply baseline/`` (pytest's own cost for as many items).

The per-item overhead is (gate median - baseline median) / items: an upper bound on the plugin's
cost, since it also holds the checks' own work on the tiny files.

``measure(items, repeat)`` is the entry point the overall harness calls.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Artifact checks planned on each tiny local file (sha256, format, scan).
CHECKS_PER_FILE = 3


def build_project(root: Path, items: int) -> int:
    """Write the project; returns the number of model files (``items`` / checks per file)."""
    files = max(1, items // CHECKS_PER_FILE)
    model = root / "models" / "m"
    model.mkdir(parents=True)
    for i in range(files):
        (model / f"f{i:05d}.txt").write_text(f"tiny file {i}\n")
    (root / "mlsupply.yaml").write_text(
        "version: 1\nmodels:\n  - name: m\n    path: models/m\n    license: apache-2.0\n"
    )
    (root / "pytest.ini").write_text("[pytest]\n")
    baseline = root / "baseline"
    baseline.mkdir()
    (baseline / "test_trivial.py").write_text(
        "import pytest\n\n\n"
        f"@pytest.mark.parametrize('i', range({items}))\n"
        "def test_trivial(i):\n    pass\n"
    )
    return files


def _env() -> dict[str, str]:
    """This checkout's package in the child processes (not whatever the venv points at), and
    byte-code caching on: without it every session recompiles (and pytest re-rewrites) every
    module it imports, seconds that a developer's machine with __pycache__ never pays."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _run(root: Path, args: list[str]) -> tuple[float, str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "no:randomly", "-p", "no:xdist", *args]
    start = time.perf_counter()
    proc = subprocess.run(
        command, cwd=root, env=_env(), capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stdout[-2000:]}")
    return elapsed, proc.stdout


def _collected(stdout: str) -> int:
    """The number of items the session ran, from pytest's last summary line."""
    last = stdout.strip().splitlines()[-1]
    return sum(
        int(word)
        for word, label in zip(last.split(), last.split()[1:], strict=False)
        if word.isdigit() and label.rstrip(",") in ("passed", "failed", "skipped", "error")
    )


def measure(items: int, repeat: int) -> dict[str, float]:
    """Median seconds of the gate and of the baseline session, and the per-item overhead (ms).

    Returns ``items`` (the gate's actual item count), ``gate_s``, ``baseline_s``,
    ``overhead_ms_per_item`` and ``gate_ms_per_item``.
    """
    with tempfile.TemporaryDirectory(prefix="mlsupply-many-") as tmp:
        root = Path(tmp)
        build_project(root, items)
        gate_args = ["--mlsupply", "mlsupply.yaml"]
        baseline_args = ["-p", "no:mlsupply", "baseline"]
        _, out = _run(root, gate_args)  # warm-up: page cache, .pyc files
        count = _collected(out)
        _run(root, baseline_args)
        gate, baseline = [], []
        for _ in range(repeat):
            gate.append(_run(root, gate_args)[0])
            baseline.append(_run(root, baseline_args)[0])
    gate_s, baseline_s = statistics.median(gate), statistics.median(baseline)
    return {
        "items": float(count),
        "gate_s": gate_s,
        "baseline_s": baseline_s,
        "overhead_ms_per_item": (gate_s - baseline_s) / count * 1000,
        "gate_ms_per_item": gate_s / count * 1000,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    result = measure(args.items, args.repeat)
    print(f"gate items: {int(result['items'])}; medians of {args.repeat} runs")
    print(f"gate (pytest --mlsupply):              {result['gate_s']:.2f} s")
    print(f"baseline (as many trivial tests, off): {result['baseline_s']:.2f} s")
    print(
        f"overhead per item: {result['overhead_ms_per_item']:.2f} ms "
        f"(gate alone {result['gate_ms_per_item']:.2f} ms/item)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
