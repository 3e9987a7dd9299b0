"""What a warm re-run of the gate costs over the same session without the plugin (issue 12, (b)).

    python benchmarks/warm_rerun.py --repeat 7
    python benchmarks/warm_rerun.py --repeat 7 --before 6968362   # and an older commit, same run

A small project (``mlsupply.yaml`` with one model at ``path: m``: a ``model.safetensors`` and a
``torch.save``-layout checkpoint, both pinned; ``policy: {fail_on: critical}``; one plain test)
is built in a temporary folder. One unmeasured ``pytest --mlsupply`` run fills the content cache
in ``.pytest_cache``; then ``pytest --mlsupply -q`` (warm: every artifact served from the cache)
and ``pytest -p no:mlsupply -q`` run alternately, each in a fresh interpreter with byte-code
caching on, and the difference of the medians is the plugin's cost on a warm re-run (target:
under 0.3 s). The files are small on purpose: what is measured is the plugin's fixed cost
(imports, manifest, plan, items, reports), not reading bytes (a warm run reads none).

``--before REV`` adds the same pair for the package as it was at ``REV`` (``git archive`` into
a temporary folder, its own project copy and cache), interleaved with the others, so "before"
and "after" are measured under the same load. ``measure(repeat)`` is the entry point.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Its files are generated a moment before the warm runs: trust their identity after the clock
# tick, not the kernel's dirty-page lifetime (80 s) that a real re-run's files are past.
os.environ.setdefault("MLSUPPLY_CACHE_SETTLE_SECONDS", "0.1")


def _env(package_root: Path) -> dict[str, str]:
    """``package_root``'s pytest_mlsupply in the child (not whatever the venv points at), and
    byte-code caching on: without it every session recompiles every module it imports."""
    path = os.pathsep.join(p for p in (str(package_root), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def build_project(root: Path) -> None:
    """The small project: a safetensors file and a torch zip checkpoint, pinned, one test."""
    import numpy as np
    from safetensors.numpy import save_file

    sys.path.insert(0, str(ROOT))
    from tests.corpus.torch import state_dict_pickle, torch_zip

    model = root / "m"
    model.mkdir(parents=True)
    save_file({"w": np.zeros((16, 16), dtype=np.float32)}, str(model / "model.safetensors"))
    (model / "pytorch_model.bin").write_bytes(torch_zip(state_dict_pickle({"w": (8,)})))
    pins = "".join(
        f'      {f.name}: "sha256:{hashlib.sha256(f.read_bytes()).hexdigest()}"\n'
        for f in sorted(model.iterdir())
    )
    (root / "mlsupply.yaml").write_text(
        "version: 1\nproject: {name: warm}\npolicy: {fail_on: critical}\n"
        f"models:\n  - name: m\n    path: m\n    files:\n{pins}"
    )
    (root / "pytest.ini").write_text("")
    (root / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    # Files written within a timestamp tick of their read are (rightly) not cached.
    time.sleep(0.2)


def _run(root: Path, package_root: Path, extra: list[str]) -> float:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *extra]
    start = time.perf_counter()
    subprocess.run(command, cwd=root, env=_env(package_root), capture_output=True, check=True)
    return time.perf_counter() - start


def _checkout(rev: str, into: Path) -> Path:
    """The package as it was at ``rev`` (only ``pytest_mlsupply/``), under ``into``."""
    data = subprocess.run(
        ["git", "archive", "--format=tar", rev, "pytest_mlsupply"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def measure(repeat: int, before: str | None = None) -> dict[str, float]:
    """Medians in seconds of the warm gate (``warm_s``) and the baseline (``baseline_s``), and
    the difference in milliseconds (``extra_ms``); with ``before``, the same with ``before_``
    prefixed, for the package at that revision."""
    with tempfile.TemporaryDirectory(prefix="mlsupply-warm-") as tmp:
        base = Path(tmp)
        # Each variant has its own project copy: its own content cache, so one never
        # invalidates the other's entries (the scanner's version is part of their key).
        variants = {"": (base / "after", ROOT)}
        build_project(base / "after")
        if before is not None:
            shutil.copytree(base / "after", base / "before")
            variants["before_"] = (base / "before", _checkout(before, base / "pkg-before"))
        series: dict[str, list[float]] = {}
        for prefix, (project, package) in variants.items():
            # Fills the cache (cold), then one unmeasured warm run of each (page cache, .pyc).
            _run(project, package, ["--mlsupply"])
            _run(project, package, ["--mlsupply"])
            _run(project, package, ["-p", "no:mlsupply"])
            series[prefix + "warm_s"], series[prefix + "baseline_s"] = [], []
        for _ in range(repeat):
            for prefix, (project, package) in variants.items():
                series[prefix + "warm_s"].append(_run(project, package, ["--mlsupply"]))
                series[prefix + "baseline_s"].append(_run(project, package, ["-p", "no:mlsupply"]))
    result = {name: statistics.median(times) for name, times in series.items()}
    for prefix in variants:
        extra = result[prefix + "warm_s"] - result[prefix + "baseline_s"]
        result[prefix + "extra_ms"] = extra * 1000
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--before", metavar="REV", help="also measure the package at REV")
    args = parser.parse_args(argv)
    result = measure(args.repeat, args.before)
    print(f"medians of {args.repeat} interleaved runs, each in a fresh interpreter")
    print("| package | warm `pytest --mlsupply` | `pytest -p no:mlsupply` | warm extra |")
    print("|---|---|---|---|")
    rows = [("this checkout", "")]
    if args.before is not None:
        rows.append((args.before, "before_"))
    for label, prefix in rows:
        print(
            f"| {label} | {result[prefix + 'warm_s'] * 1000:.0f} ms "
            f"| {result[prefix + 'baseline_s'] * 1000:.0f} ms "
            f"| {result[prefix + 'extra_ms']:+.0f} ms |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
