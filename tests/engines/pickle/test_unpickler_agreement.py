"""The machine agrees with CPython's two unpicklers on who runs a payload, input by input.

Hundreds of generated pickles put a payload behind the constructions the two unpicklers read
differently — FRAME opcodes of every size at every position (straddling, nested, overrunning,
cut short), INT, LONG, FLOAT and memo literals in every spelling (spaces, underscores, NULs),
dotted names of any length, a last line without its newline — and the real
unpicklers (``_pickle``'s ``pickle.load`` of a file, the same reading an ``io.BytesIO`` as
``torch.load`` reads a checkpoint's ``data.pkl``, and ``pickle.py``'s ``_Unpickler``, as
``joblib.load`` uses) are run on each in a subprocess. For every input, the machine must say
exactly which of them reaches the payload's call: the one that keeps going is followed, the one
that stops is named, the file-object reading is run on its own, and no input makes a loader run
something the machine does not see.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from pathlib import Path

from pytest_mlsupply.engines.pickle.decoder import C_FILE_LOADER, C_LOADER, PY_LOADER
from pytest_mlsupply.engines.pickle.vm import Trace, run_machine


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


def _file_reading(rng: random.Random, canary: str) -> bytes:
    """A string whose read runs past its frame with bytes left in the frame.

    Read from a file object, the frame's rest is dropped and the string taken from after the
    frame; read from memory, it goes on contiguously. One reading reaches the payload, the
    other stops (at a STOP, or inside the payload).
    """
    payload = _binary_payload(canary)
    length = rng.randint(3, 40)
    left = rng.randint(2, length - 1)
    if rng.random() < 0.5:
        # From memory: the string, None, STOP. From a file: a longer string, then the payload.
        after = b"x" * (length - left) + b"N." + b"x" * (left - 2) + b"0" + payload
    else:
        # From memory: the string, then the payload. From a file: the string eats into it.
        after = b"x" * (length - left) + b"0" + payload
    body = b"\x8c" + bytes([length]) + b"y" * left
    return b"\x80\x04" + _frame(len(body)) + body + after


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


# The loaders, and the suffix of the canary each copy of an input touches.
_LOADERS = ((C_LOADER, "c"), (PY_LOADER, "p"), (C_FILE_LOADER, "b"))


def _generated(count: int) -> list[tuple[str, dict[str, bytes]]]:
    """(kind, bytes per loader): each loader's copy touches its own canary."""
    rng = random.Random(20261203)
    makers = (
        [_framed] * 6
        + [_file_reading] * 2
        + [_int_literal] * 2
        + [_last_line] * 2
        + [_literal] * 3
        + [_long_name]
    )
    samples = []
    for index in range(count):
        make = rng.choice(makers)
        state = rng.getstate()
        copies = {}
        for _, suffix in _LOADERS:
            rng.setstate(state)  # the same construction, with a canary of the same length
            copies[suffix] = make(rng, f"{index}.{suffix}")
        assert len({len(copy) for copy in copies.values()}) == 1
        samples.append((make.__name__, copies))
    return samples


_LOAD_ALL = """
import io, json, pickle, sys
loads = {
    "c": pickle.load,
    "p": lambda f: pickle._Unpickler(f).load(),
    "b": lambda f: pickle.load(io.BytesIO(f.read())),
}
for files in json.load(sys.stdin):
    for suffix, name in files.items():
        try:
            with open(name, "rb") as f:
                loads[suffix](f)
        except BaseException:
            pass
"""


def _calls_system(trace: Trace) -> list[int]:
    return [
        call.offset
        for call in trace.calls
        if call.callable is not None and call.callable.dotted.endswith(".system")
    ]


def _predicted(copies: dict[str, bytes], index: int) -> set[str]:
    """The loaders the machine says reach the payload's call with its command intact."""
    trace = run_machine(copies["c"])
    reached: set[str] = set()
    for offset in _calls_system(trace):
        reached |= set(trace.reached_by(offset))
    # Read from a file object, the command itself may be taken from elsewhere (a string that
    # runs past its frame): the call runs, but with another argument.
    from_file = run_machine(copies["b"], loader=C_FILE_LOADER)
    if any(
        call.offset in _calls_system(from_file) and call.args == (f"touch {index}.b",)
        for call in from_file.calls
    ):
        reached.add(C_FILE_LOADER)
    return reached


def test_the_machine_names_exactly_the_unpicklers_that_run_each_payload(tmp_path: Path) -> None:
    samples = _generated(int(os.environ.get("MLSUPPLY_AGREEMENT_INPUTS", "600")))
    files = []
    for index, (_, copies) in enumerate(samples):
        for suffix, copy in copies.items():
            (tmp_path / f"{index}.{suffix}.pkl").write_bytes(copy)
        files.append({suffix: f"{index}.{suffix}.pkl" for suffix in copies})
    subprocess.run(
        [sys.executable, "-c", _LOAD_ALL],
        input=json.dumps(files).encode(),
        cwd=tmp_path,
        timeout=300,
        check=True,
    )

    disagreements = []
    seen: dict[str, set[frozenset[str]]] = {}
    for index, (kind, copies) in enumerate(samples):
        actual = {
            loader for loader, suffix in _LOADERS if (tmp_path / f"{index}.{suffix}").exists()
        }
        predicted = _predicted(copies, index)
        seen.setdefault(kind, set()).add(frozenset(actual))
        if actual != predicted:
            disagreements.append((index, kind, sorted(actual), sorted(predicted), copies["c"]))
    assert not disagreements, disagreements[:5]
    # The inputs exercise every outcome: all run it, only some of them do, none does, and the
    # C unpickler runs it from memory but not from a file object, or the other way round.
    outcomes = set().union(*seen.values())
    assert {
        frozenset({C_LOADER, PY_LOADER, C_FILE_LOADER}),
        frozenset({C_LOADER, C_FILE_LOADER}),
        frozenset({PY_LOADER}),
        frozenset({C_LOADER}),
        frozenset({C_FILE_LOADER}),
        frozenset(),
    } <= outcomes, outcomes
