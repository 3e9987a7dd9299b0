"""The machine agrees with CPython's two unpicklers on who runs a payload, input by input.

Hundreds of generated pickles put a payload behind the constructions the two unpicklers read
differently — FRAME opcodes of every size at every position (straddling, nested, overrunning,
cut short), INT, LONG, FLOAT and memo literals in every spelling (spaces, underscores, NULs),
dotted names of any length, a last line without its newline — and both real
unpicklers (``_pickle``'s ``pickle.load`` and ``pickle.py``'s ``_Unpickler``, as ``joblib.load``
uses) are run on each in a subprocess. For every input, the machine must say exactly which of
them reaches the payload's call: the one that keeps going is followed, the one that stops is
named, and no input makes a loader run something the machine does not see.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

from pytest_mlsupply.engines.pickle.decoder import C_LOADER, PY_LOADER
from pytest_mlsupply.engines.pickle.vm import run_machine


def _binary_payload(canary: str) -> bytes:
    cmd = f"touch {canary}".encode()
    return b"\x8c\x05posix\x8c\x06system\x93\x8c" + bytes([len(cmd)]) + cmd + b"\x85R."


def _frame(size: int) -> bytes:
    return b"\x95" + struct.pack("<Q", size)


def _framed(rng: random.Random, canary: str) -> bytes:
    """PROTO 4, then the payload cut at random places, a FRAME before some pieces."""
    body = _binary_payload(canary)
    cuts = sorted(rng.sample(range(len(body) + 1), rng.randint(1, 4)))
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    out = bytearray(b"\x80\x04")
    for index, piece in enumerate(pieces):
        if rng.random() < 0.7:
            rest = sum(len(p) for p in pieces[index:])
            size = rng.choice(
                [
                    len(piece),  # exactly the piece
                    max(len(piece) - rng.randint(1, 3), 0),  # the piece straddles its end
                    len(piece) + rng.randint(1, 12),  # the next frame opens inside it
                    rest,  # everything that follows
                    rest + rng.randint(1, 4096),  # more than the data holds
                ]
            )
            out += _frame(size)
        out += piece
    return bytes(out)


_INT_SPELLINGS = [
    b"0x1", b"010", b"07", b"08", b" 5", b"5 ", b"1_0", b"+7", b"-0x10", b"0o7", b"0b11",
    b"5\x00z", b"00", b"01", b"0x", b"", b"1" * 30, b"\t3", b"3\t",
]  # fmt: skip


def _int_literal(rng: random.Random, canary: str) -> bytes:
    return (
        b"I" + rng.choice(_INT_SPELLINGS) + b"\n0cposix\nsystem\n(S'touch " + canary.encode()
    ) + b"'\ntR."


def _last_line(rng: random.Random, canary: str) -> bytes:
    head = b"(S'touch " + canary.encode() + b"'\n"
    last = bytes([rng.choice([0x58, 0x0A, 0xFF, 0x80, 0x00, 0x20])])
    ending = rng.choice([b"ios\nsystem" + last, b"ios\nsystem\n.", b"ios\nsystem", b"cos\nsystemX"])
    return head + ending


_LITERALS = [
    # FLOAT: the C parser takes no spaces or underscores and stops at a NUL; float() the reverse
    b"F1.0", b"F 1.0", b"F1.0 ", b"F1_0.5", b"F1.0\x00x", b"Finf", b"F1e5", b"F\t1.0", b"F.5",
    # LONG: a last L is dropped (C turns it into the string's end), NULs end C's string
    b"L1", b"L1L", b"L 5", b"L1_0", b"L1\x00x", b"L1\x00L", b"L1L\x00", b"L010", b"L0x10L",
    # INT with spaces and long runs: the digit limit counts digits, not spaces
    b"I" + b" " * 5000 + b"1", b"L" + b" " * 5000 + b"1", b"I1\x00" + b"a" * 5000,
    # memo indexes: base 10, NULs end C's string
    b"Np0\x00x\n0g0\x00y", b"Np 0\n0g0 ", b"Np0_0\n0g00",
]  # fmt: skip


def _literal(rng: random.Random, canary: str) -> bytes:
    return rng.choice(_LITERALS) + b"\n0cos\nsystem\n(S'touch " + canary.encode() + b"'\ntR."


def _long_name(rng: random.Random, canary: str) -> bytes:
    # Protocol 4 GLOBAL names are dotted attribute paths, of any length.
    name = b"path.os." * rng.randint(1, 900) + b"system"
    cmd = f"touch {canary}".encode()
    return b"\x80\x04cos\n" + name + b"\n\x8c" + bytes([len(cmd)]) + cmd + b"\x85R."


def _generated(count: int) -> list[tuple[str, bytes, bytes]]:
    """(kind, bytes for the C loader, bytes for pickle.py): each copy touches its own canary."""
    rng = random.Random(20261203)
    makers = [_framed] * 6 + [_int_literal] * 2 + [_last_line] * 2 + [_literal] * 3 + [_long_name]
    samples = []
    for index in range(count):
        make = rng.choice(makers)
        state = rng.getstate()
        c_copy = make(rng, f"{index}.c")
        rng.setstate(state)  # the same construction, with the other canary (of the same length)
        py_copy = make(rng, f"{index}.p")
        assert len(c_copy) == len(py_copy)
        samples.append((make.__name__, c_copy, py_copy))
    return samples


_LOAD_ALL = """
import json, pickle, sys
for c_file, py_file in json.load(sys.stdin):
    for name, load in ((c_file, pickle.load), (py_file, lambda f: pickle._Unpickler(f).load())):
        try:
            with open(name, "rb") as f:
                load(f)
        except BaseException:
            pass
"""


def _predicted(data: bytes) -> set[str]:
    """The loaders the machine says reach the payload's call."""
    trace = run_machine(data)
    reached: set[str] = set()
    for call in trace.calls:
        if call.callable is not None and call.callable.dotted.endswith(".system"):
            reached |= set(trace.reached_by(call.offset))
    return reached


def test_the_machine_names_exactly_the_unpicklers_that_run_each_payload(tmp_path: Path) -> None:
    samples = _generated(int(os.environ.get("MLSUPPLY_AGREEMENT_INPUTS", "600")))
    files = []
    for index, (_, c_copy, py_copy) in enumerate(samples):
        (tmp_path / f"{index}.c.pkl").write_bytes(c_copy)
        (tmp_path / f"{index}.p.pkl").write_bytes(py_copy)
        files.append([f"{index}.c.pkl", f"{index}.p.pkl"])
    subprocess.run(
        [sys.executable, "-c", _LOAD_ALL],
        input=json.dumps(files).encode(),
        cwd=tmp_path,
        timeout=300,
        check=True,
    )

    disagreements = []
    seen: dict[str, set[frozenset[str]]] = {}
    for index, (kind, c_copy, _) in enumerate(samples):
        actual = {
            loader
            for loader, suffix in ((C_LOADER, "c"), (PY_LOADER, "p"))
            if (tmp_path / f"{index}.{suffix}").exists()
        }
        predicted = _predicted(c_copy)
        seen.setdefault(kind, set()).add(frozenset(actual))
        if actual != predicted:
            disagreements.append((index, kind, sorted(actual), sorted(predicted), c_copy[:60]))
    assert not disagreements, disagreements[:5]
    # The inputs exercise every outcome: both run it, only one of them runs it, neither does.
    outcomes = set().union(*seen.values())
    assert {
        frozenset({C_LOADER, PY_LOADER}),
        frozenset({C_LOADER}),
        frozenset({PY_LOADER}),
        frozenset(),
    } <= outcomes
