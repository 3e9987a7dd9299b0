"""Peak memory and time of scanning hostile inputs: decompression bombs, exhaustion pickles.

    python benchmarks/bombs.py                         # this checkout
    python benchmarks/bombs.py --compare /path/to/src  # and another source tree, same inputs

Each input is scanned with ``scan_file`` under the default limits, in a fresh interpreter, and
the process's own peak resident memory (``VmHWM``) and wall time are reported; ``--compare``
runs the same scans against another checkout's ``pytest_mlsupply`` (an older commit, say) in
the same run, so the two columns share the machine's conditions. Inputs are generated into
``benchmarks/.data/bombs/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / ".data" / "bombs"

_CHILD = """
import json, re, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from pytest_mlsupply.engines.scanner import scan_file
start = time.perf_counter()
report = scan_file(Path(sys.argv[2]), Path(sys.argv[2]).name)
elapsed = time.perf_counter() - start
status = open("/proc/self/status").read()
peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) * 1024
rules = sorted({f.rule for f in report.findings})
print(json.dumps({"seconds": elapsed, "peak": peak, "rules": rules, "errors": len(report.errors)}))
"""


def _lz4_bomb(path: Path) -> str:
    """A 16 MiB LZ4 frame of 4 MiB blocks spelled with 255-runs: 4 GiB once decompressed."""
    match = (4 << 20) - 1 - 5
    runs, rest = divmod(match - 4 - 15, 255)
    block = bytes([0x1F]) + b"\x00" + b"\x01\x00" + b"\xff" * runs + bytes([rest])
    block += bytes([0x50]) + b"\x00" * 5
    with path.open("wb") as handle:
        handle.write(b"\x04\x22\x4d\x18" + bytes([0x60, 0x70, 0x73]))
        for _ in range(1024):
            handle.write(struct.pack("<I", len(block)) + block)
        handle.write(b"\x00" * 4)
    return "4 GiB"


def _lz4_one_block(path: Path) -> str:
    """One 16 MiB block holding a single match of 4 GiB (the block size field says 16 MiB, past
    the 4 MiB the frame allows): what a decoder that trusts match lengths expands whole."""
    runs = 16 << 20
    block = bytes([0x1F]) + b"\x00" + b"\x01\x00" + b"\xff" * runs + b"\x00"
    block += bytes([0x50]) + b"\x00" * 5
    frame = b"\x04\x22\x4d\x18" + bytes([0x60, 0x70, 0x73])
    path.write_bytes(frame + struct.pack("<I", len(block)) + block + b"\x00" * 4)
    return "4 GiB"


def _zstd_bomb(path: Path) -> str:
    import zstandard

    with path.open("wb") as handle, zstandard.ZstdCompressor().stream_writer(handle) as writer:
        for _ in range(4096):
            writer.write(b"\x00" * (1 << 20))
    return "4 GiB"


def _gzip_bomb(path: Path) -> str:
    with gzip.open(path, "wb", compresslevel=9) as handle:
        for _ in range(4096):
            handle.write(b"\x00" * (1 << 20))
    return "4 GiB"


def _billion_laughs(path: Path) -> str:
    out = bytearray(b"\x80\x02]q\x00")
    for level in range(1, 10):
        out += b"(" + b"h" + bytes([level - 1]) + b"2" * 9 + b"lq" + bytes([level])
    path.write_bytes(bytes(out + b"."))
    return "10^9 nodes"


def _huge_length(path: Path) -> str:
    path.write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"x" * 64)
    return "1 TiB declared"


INPUTS: dict[str, tuple[str, Callable[[Path], str]]] = {
    "lz4 bomb, 4 MiB blocks": ("bomb.pkl.lz4", _lz4_bomb),
    "lz4 bomb, one oversized block": ("block.pkl.lz4", _lz4_one_block),
    "zstd bomb": ("bomb.pkl.zst", _zstd_bomb),
    "gzip bomb": ("bomb.pkl.gz", _gzip_bomb),
    "billion-laughs pickle": ("laughs.pkl", _billion_laughs),
    "BINBYTES8 of 1 TiB": ("huge.pkl", _huge_length),
}


def _measure(source: Path, path: Path, repeat: int) -> dict[str, object]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(source), str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        runs.append(json.loads(out.stdout))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak": max(r["peak"] for r in runs),
        "rules": runs[0]["rules"],
        "errors": runs[0]["errors"],
    }


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, help="another source tree to measure beside")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    sources = {"this checkout": ROOT}
    if args.compare is not None:
        sources[f"{args.compare}"] = args.compare.resolve()
    header = "| input | file | expands to |"
    rule = "|---|---:|---:|"
    for label in sources:
        header += f" {label}: peak memory | time | findings |"
        rule += "---:|---:|---|"
    print(header)
    print(rule)
    for name, (filename, build) in INPUTS.items():
        path = DATA / filename
        expands = build(path)
        row = f"| {name} | {_size(path.stat().st_size)} | {expands} |"
        for source in sources.values():
            result = _measure(source, path, args.repeat)
            rules = ", ".join(result["rules"]) or "none"  # type: ignore[arg-type]
            if result["errors"]:
                rules += " + scan error (fails closed)"
            row += f" {_size(result['peak'])} | {result['seconds']:.2f} s | {rules} |"  # type: ignore[arg-type]
        print(row, flush=True)


if __name__ == "__main__":
    main()
