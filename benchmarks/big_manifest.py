"""How long a large ``mlsupply.yaml`` takes to load: YAML composition and the loader's node walk.

Run: ``python benchmarks/big_manifest.py --megabytes 10 --repeat 5`` (add ``--pure-python`` to
also time the pure-Python composer once, the loader's path before libyaml was used). The
manifest is generated in code, the way a large monorepo's would look: thousands of Hub models,
each pinned to a commit with a sha256 pin per file, plus a long list of governance labels. No
file or network access is needed to load it.

``measure(megabytes, repeat)`` is the entry point the overall harness calls.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from pytest_mlsupply.manifest import loader
from pytest_mlsupply.manifest.loader import parse_manifest

FILES_PER_MODEL = 8


def model_entry(index: int) -> str:
    """One model: a Hub source pinned to a commit and a sha256 pin for each of its files."""
    commit = hashlib.sha1(f"commit-{index}".encode()).hexdigest()
    lines = [
        f"  - name: model-{index:06d}",
        f"    source: hf://acme/model-{index:06d}@{commit}",
        "    license: apache-2.0",
        "    files:",
    ]
    for j in range(FILES_PER_MODEL):
        digest = hashlib.sha256(f"{index}/{j}".encode()).hexdigest()
        lines.append(f'      shard-{j:05d}-of-{FILES_PER_MODEL:05d}.safetensors: "sha256:{digest}"')
    return "\n".join(lines) + "\n"


def generate(megabytes: float) -> tuple[str, int]:
    """A valid manifest of about ``megabytes`` MB, and how many models it declares."""
    target = int(megabytes * 1_000_000)
    parts = ["version: 1\nproject: {name: big-monorepo}\nmodels:\n"]
    size, count = len(parts[0]), 0
    while size < target:
        entry = model_entry(count)
        parts.append(entry)
        size += len(entry)
        count += 1
    return "".join(parts), count


def measure(megabytes: int, repeat: int, *, pure_python: bool = False) -> dict[str, float]:
    """Median seconds (of ``repeat`` runs) to compose and to fully load a generated manifest.

    ``compose_s`` is the YAML composer alone, ``load_s`` is :func:`parse_manifest` (compose,
    then the node walk), ``walk_s`` their difference. With ``pure_python`` the pure-Python
    composer is timed once too (``compose_pure_python_s``: about a minute for 10 MB).
    """
    text, models = generate(megabytes)
    path = Path(tempfile.mkdtemp(prefix="mlsupply-bigmanifest-")) / "mlsupply.yaml"
    composer = loader.COMPOSER
    compose, load = [], []
    parse_manifest(text, path)  # warm-up: imports, regex compilation
    for _ in range(repeat):
        start = time.perf_counter()
        yaml.compose(text, Loader=composer)
        compose.append(time.perf_counter() - start)
        start = time.perf_counter()
        manifest = parse_manifest(text, path)
        load.append(time.perf_counter() - start)
        assert len(manifest.models) == models
    out = {
        "megabytes": len(text.encode()) / 1e6,
        "models": float(models),
        "compose_s": statistics.median(compose),
        "load_s": statistics.median(load),
        "walk_s": statistics.median(load) - statistics.median(compose),
    }
    if pure_python:
        start = time.perf_counter()
        yaml.compose(text, Loader=yaml.SafeLoader)
        out["compose_pure_python_s"] = time.perf_counter() - start
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--pure-python", action="store_true", help="also time the pure-Python composer (once)"
    )
    args = parser.parse_args(argv)
    result: dict[str, Any] = measure(args.megabytes, args.repeat, pure_python=args.pure_python)
    print(
        f"manifest: {result['megabytes']:.1f} MB, {int(result['models'])} models "
        f"x {FILES_PER_MODEL} pinned files; composer {loader.COMPOSER.__name__}; "
        f"medians of {args.repeat} runs"
    )
    print(f"compose: {result['compose_s']:.2f} s")
    print(f"walk:    {result['walk_s']:.2f} s")
    print(f"load:    {result['load_s']:.2f} s (parse_manifest: compose + walk)")
    if "compose_pure_python_s" in result:
        print(
            f"compose with the pure-Python SafeLoader (once): {result['compose_pure_python_s']:.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
