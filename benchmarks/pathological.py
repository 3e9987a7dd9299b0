"""Scan time of pathological inputs, and what the budgets' checkpoints cost.

    python benchmarks/pathological.py                          # this checkout
    python benchmarks/pathological.py --compare /path/to/src   # and another tree, same run
    python benchmarks/pathological.py --repeat 5 --only nested

Each input (built in code into ``benchmarks/.data/pathological/``, git-ignored, and reused) is
scanned with ``scan_file`` under the default ``policy.limits`` in a fresh interpreter per tree,
``--repeat`` times; the table gives the median wall time, the rules found and the errors.
``--compare`` scans the same inputs with another checkout's ``pytest_mlsupply`` (``main``, say)
in the same run, interleaved, so both columns share the machine's load: quote the ratio.

The second table is the overhead of the cooperative checkpoints (``engines/budget.py``): the
same scans with every checkpoint replaced by a no-op ("off") against the checkpoints as
shipped ("on"), interleaved in the same run.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import struct
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / ".data" / "pathological"
N = 200_000

_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from pytest_mlsupply.engines.scanner import scan_file
if sys.argv[4] == "off":
    # Every checkpoint a no-op: the scan as it would run without budgets.
    from pytest_mlsupply.engines import budget, decompress, protobuf, python_ast, strings
    from pytest_mlsupply.engines import ziparchive
    from pytest_mlsupply.engines.formats import (
        archives, code, gguf, hf_json, keras, numpy, safetensors, savedmodel,
    )
    from pytest_mlsupply.engines.pickle import vm
    def nothing(held=0, **_):
        return None
    for module in (
        vm, ziparchive, decompress, gguf, protobuf, strings, archives, code, hf_json, keras,
        numpy, safetensors, python_ast,
    ):
        module.checkpoint = nothing
    for module in (numpy, savedmodel, python_ast):
        module.watched = lambda items: items
    budget.ScanGuard.check = lambda self, held=0, **_: None
    budget.ScanGuard.poll = lambda self: False
times = []
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    report = scan_file(Path(sys.argv[2]), Path(sys.argv[2]).name)
    times.append(time.perf_counter() - start)
rules = sorted({f.rule for f in report.findings})
print(json.dumps({"times": times, "rules": rules, "errors": len(report.errors)}))
"""


def _pickle(body: bytes, proto: int = 2) -> Callable[[Path], object]:
    def write(path: Path) -> None:
        path.write_bytes(bytes([0x80, proto]) + body + b".")

    return write


def _zip_members(count: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w") as archive:
            for i in range(count):
                archive.writestr(str(i), b"")

    return write


def _tar_members(count: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with tarfile.open(path, "w") as archive:
            for i in range(count):
                archive.addfile(tarfile.TarInfo(str(i)), io.BytesIO(b""))

    return write


def _onnx_nodes(count: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        sys.path.insert(0, str(ROOT))  # the tests' ONNX writer: one writer of the format
        from tests.corpus.onnx_keras import onnx_graph, onnx_model, onnx_node

        nodes = [
            onnx_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=f"relu_{i}") for i in range(count)
        ]
        path.write_bytes(onnx_model(onnx_graph(nodes)))

    return write


def _tokenizer(vocab: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        added = [{"id": vocab + i, "content": f"<extra_{i}>", "special": True} for i in range(1000)]
        model = {"type": "WordLevel", "vocab": {f"tok{i}": i for i in range(vocab)}}
        path.write_text(json.dumps({"version": "1.0", "added_tokens": added, "model": model}))

    return write


def _python_statements(count: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        body = "".join(f"value_{i} = math.sqrt({i}) + {i}\n" for i in range(count))
        path.write_text("import math\n\n" + body)

    return write


def _zip_bomb(nesting: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("weights.bin", bytes(64 << 20))
        inner = buffer.getvalue()
        for level in range(nesting):
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr(f"level{level}.zip", inner)
            inner = buffer.getvalue()
        path.write_bytes(inner)

    return write


#: name → (file name, writer, group). 200,000 nested containers in every shape the pickle
#: machine builds them; a chain of calls of calls; the sizes and counts of the issue.
INPUTS: dict[str, tuple[str, Callable[[Path], object], str]] = {
    "10^7 opcodes (NONE POP)": ("ops.pkl", _pickle(b"N0" * 5_000_000 + b"N"), "vm"),
    "10^6 opcodes (NONE POP)": ("ops-1e6.pkl", _pickle(b"N0" * 500_000 + b"N"), "vm"),
    "memo of 10^6 entries": ("memo.pkl", _pickle(b"N\x940" * 1_000_000 + b"N", 4), "vm"),
    "nested lists (APPEND)": ("list_append.pkl", _pickle(b"]" * N + b"a" * (N - 1)), "nested"),
    "nested lists (MARK LIST)": ("mark_list.pkl", _pickle(b"(" * N + b"l" * N), "nested"),
    "nested tuples (MARK TUPLE)": ("mark_tuple.pkl", _pickle(b"(" * N + b"t" * N), "nested"),
    "nested tuples (TUPLE1)": ("tuple1.pkl", _pickle(b"N" + b"\x85" * N), "nested"),
    "nested dicts (SETITEM)": (
        "dict_setitem.pkl",
        _pickle(b"}K\x01" * N + b"s" * (N - 1)),
        "nested",
    ),
    "nested dicts (MARK DICT)": (
        "mark_dict.pkl",
        _pickle(b"(K\x01" * N + b"N" + b"d" * N),
        "nested",
    ),
    "BUILD chain": ("build_chain.pkl", _pickle(b"}" * (N + 1) + b"b" * N), "nested"),
    # Top-down, each list appended to its parent and fetched back from the memo: the only way
    # to nest from the outside in, four opcodes a level, and the memo makes the graph shared.
    "nested lists top-down (memo)": (
        "topdown.pkl",
        _pickle(b"]\x94" + b"".join(b"]\x94aj" + struct.pack("<I", i) for i in range(1, N + 1)), 4),
        "nested",
    ),
    "REDUCE chain (calls of calls)": (
        "reduce_chain.pkl",
        _pickle(b"cmod\nf\n" + b")R" * N),
        "chain",
    ),
    "NEWOBJ chain": ("newobj_chain.pkl", _pickle(b"cmod\nC\n" + b")\x81" * N), "chain"),
    "zip bomb by ratio (64 MiB of zeros)": ("ratio.zip", _zip_bomb(0), "archive"),
    "zip bomb nested 3 deep": ("nested.zip", _zip_bomb(3), "archive"),
    "zip of 100,001 members": ("many.zip", _zip_members(100_001), "archive"),
    "tar of 100,001 members": ("many.tar", _tar_members(100_001), "archive"),
    "safetensors header length 2^63": (
        "huge.safetensors",
        lambda p: p.write_bytes(struct.pack("<Q", 1 << 63) + b"{}"),
        "header",
    ),
    "GGUF counts of 2^63": (
        "huge.gguf",
        lambda p: p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1 << 63, 1 << 63)),
        "header",
    ),
    "ONNX model of 200,000 nodes": ("many-nodes.onnx", _onnx_nodes(200_000), "engines"),
    "tokenizer.json of 10^6 tokens": ("tokenizer.json", _tokenizer(1_000_000), "engines"),
    "Python file of 50,000 statements": ("many.py", _python_statements(50_000), "engines"),
}

#: The overhead table: inputs whose loops check the budgets most often.
OVERHEAD = (
    "10^6 opcodes (NONE POP)",
    "nested lists (APPEND)",
    "zip of 100,001 members",
    "ONNX model of 200,000 nodes",
    "tokenizer.json of 10^6 tokens",
    "Python file of 50,000 statements",
)


def _measure(tree: Path, path: Path, repeat: int, mode: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tree), str(path), str(repeat), mode],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:  # the scan itself raised (a crash, which the table shows)
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"times": [float("nan")], "rules": [f"crashed: {last[:60]}"], "errors": "—"}
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _build(names: list[str]) -> dict[str, Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in names:
        filename, write, _ = INPUTS[name]
        paths[name] = DATA / filename
        if not paths[name].exists():
            write(paths[name])
    return paths


def _verdicts(paths: dict[str, Path], trees: list[tuple[str, Path]], repeat: int) -> None:
    header = "| input | " + " | ".join(f"{label} median" for label, _ in trees)
    print(f"## Pathological inputs (default limits, median of {repeat})\n")
    print(header + " | rules (this tree) | errors |")
    print("|---" * (len(trees) + 3) + "|", flush=True)
    for name, path in paths.items():
        times: list[list[float]] = [[] for _ in trees]
        each: list[dict[str, Any]] = [{} for _ in trees]
        for _ in range(repeat):  # interleaved: every tree sees the same load
            for i, (_, tree) in enumerate(trees):
                result = _measure(tree, path, 1, "on")
                times[i] += result["times"]
                each[i] = result
        medians = [statistics.median(t) for t in times]
        cells = [
            f"{m:.2f} s" if m == m else ", ".join(r["rules"])  # NaN: the scan crashed
            for m, r in zip(medians, each, strict=True)
        ]
        if len(medians) == 2 and medians[0] == medians[0] and medians[1] == medians[1]:
            cells[-1] += f" ({medians[1] / medians[0]:.2f}x)"
        rules = ", ".join(each[0]["rules"]) or "—"
        print(f"| {name} | {' | '.join(cells)} | {rules} | {each[0]['errors']} |", flush=True)


def _overhead(paths: dict[str, Path], repeat: int) -> None:
    print(f"\n## Budget checkpoints: on vs off (median of {repeat}, interleaved)\n")
    print("| input | checkpoints off | checkpoints on | on / off |")
    print("|---|---|---|---|", flush=True)
    for name, path in paths.items():
        off_times: list[float] = []
        on_times: list[float] = []
        for _ in range(repeat):  # interleaved: the two see the same load
            off_times += _measure(ROOT, path, 1, "off")["times"]
            on_times += _measure(ROOT, path, 1, "on")["times"]
        off, on = statistics.median(off_times), statistics.median(on_times)
        print(f"| {name} | {off:.2f} s | {on:.2f} s | {on / off:.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, help="another source tree to measure beside")
    parser.add_argument("--repeat", type=int, default=3, help="scans per input (default 3)")
    parser.add_argument(
        "--only",
        choices=("vm", "nested", "chain", "archive", "header", "engines"),
        help="one group of inputs (and of the checkpoint table's)",
    )
    parser.add_argument("--no-overhead", action="store_true", help="skip the checkpoint table")
    parser.add_argument("--overhead-only", action="store_true", help="only the checkpoint table")
    args = parser.parse_args()
    if not args.overhead_only:
        names = [n for n, (_, _, group) in INPUTS.items() if args.only in (None, group)]
        trees = [("this tree", ROOT)] + ([("compare", args.compare)] if args.compare else [])
        _verdicts(_build(names), trees, args.repeat)
    if not args.no_overhead:
        measured = [n for n in OVERHEAD if args.only in (None, INPUTS[n][2])]
        _overhead(_build(measured), args.repeat)


if __name__ == "__main__":
    main()
