"""What the content cache saves: a cold read of a model's files against a warm re-run.

    python benchmarks/content_cache.py                 # two files of 256 MiB, 5 runs each
    python benchmarks/content_cache.py --size-mb 1024 --runs 7

Generates a torch zip checkpoint and a safetensors file (``benchmarks/.data/content-cache/``,
git-ignored) and times, in this process, the three facts the artifact checks ask of each file
(``sha256``, ``identification``, ``scan_report``): cold (no store: every byte read, hashed and
scanned), and warm (a store filled by an earlier run: a ``stat``, one small JSON read and an
HMAC per file). The baseline, measured in the same run, is single-threaded
``hashlib.file_digest(sha256)`` over the same bytes. Prints a Markdown table of medians with
the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
# Its files are generated a moment before the warm runs: trust their identity after the clock
# tick, not the kernel's dirty-page lifetime (80 s) that a real re-run's files are past.
os.environ.setdefault("MLSUPPLY_CACHE_SETTLE_SECONDS", "0.1")

from pytest_mlsupply.checks.content import ContentCache  # noqa: E402
from pytest_mlsupply.checks.content_store import ContentStore  # noqa: E402
from pytest_mlsupply.engines.blob import ScanPolicy  # noqa: E402

DATA = HERE / ".data" / "content-cache"


def generate(size_mb: int) -> list[Path]:
    import numpy as np
    import torch
    from safetensors.numpy import save_file

    DATA.mkdir(parents=True, exist_ok=True)
    floats = size_mb * (1 << 20) // 4
    checkpoint = DATA / f"pytorch_model-{size_mb}.bin"
    weights = DATA / f"model-{size_mb}.safetensors"
    if not checkpoint.exists():
        torch.save({"w": torch.zeros(floats, dtype=torch.float32)}, checkpoint)
    if not weights.exists():
        save_file({"w": np.zeros(floats, dtype=np.float32)}, str(weights))
    # Old enough for the store's "racy" rule (a file changed within 100 ms is not cached).
    time.sleep(0.2)
    return [checkpoint, weights]


def facts(files: list[Path], store: ContentStore | None) -> None:
    cache = ContentCache(store)
    for path in files:
        content = cache.get(path)
        assert content.sha256
        assert content.identification
        report = content.scan_report(path.name, ScanPolicy())
        assert not report.errors, report.errors


def baseline(files: list[Path]) -> None:
    for path in files:
        with path.open("rb") as handle:
            hashlib.file_digest(handle, "sha256")


def median(fn: Callable[[], None], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _fmt(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256, help="size of each file")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    args = parser.parse_args()
    files = generate(args.size_mb)
    folder = Path(tempfile.mkdtemp(prefix="mlsupply-content-bench-"))
    try:
        store = ContentStore(folder)
        facts(files, store)  # fills the store
        assert store.writes >= len(files)
        rows = [
            ("hashlib.file_digest (baseline)", median(lambda: baseline(files), args.runs)),
            ("cold: no store", median(lambda: facts(files, None), args.runs)),
            ("warm: served by the store", median(lambda: facts(files, store), args.runs)),
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    base = rows[0][1]
    print(f"## Content cache: {len(files)} files of {args.size_mb} MiB, median of {args.runs}")
    print()
    print("| what | median | ratio to baseline |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {_fmt(seconds)} | {seconds / base:.4f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
