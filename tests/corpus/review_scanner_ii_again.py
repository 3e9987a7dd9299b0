"""Corpus: what a second adversarial review of Scanner II got past it, kept as regressions.

Each one hid in a reading of the stream the machine did not follow: the C unpickler reading
joblib's array bytes as opcodes (``pickle.load`` of a joblib file), or reading a frame from a
file object that drops the frame's rest (``torch.load`` of a zip checkpoint reads ``data.pkl``
from ``io.BytesIO``); where pickle.py imports before it fails (INST without MARK, a GLOBAL with
an empty name); where a literal, an identifier or a tar member was taken for something else.
Each victim proof runs the real loader; each sample must be flagged at high or above.

Imports alone run code: the victims of the import-only samples put a module named
``canarymod`` on ``sys.path`` whose import touches the canary.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np

from tests.corpus import Sample, file_sample
from tests.corpus.torch import legacy_tar

_PICKLE_LOAD = "import pickle\nwith open(ARTIFACT, 'rb') as f:\n    pickle.load(f)\n"
_PICKLE_LOAD_BYTESIO = "import io, pickle\npickle.load(io.BytesIO(open(ARTIFACT, 'rb').read()))\n"
_TORCH_LOAD = "import torch\ntorch.load(ARTIFACT, weights_only=False)\n"
_CANARY_MODULE = """
import pathlib, sys
modules = pathlib.Path(CANARY).parent / "modules"
modules.mkdir(exist_ok=True)
(modules / "canarymod.py").write_text(
    f"open({CANARY!r}, 'w').close()\\nclass Thing:\\n    pass\\n"
)
sys.path.insert(0, str(modules))
"""
_PY_UNPICKLER = "import pickle\nwith open(ARTIFACT, 'rb') as f:\n    pickle._Unpickler(f).load()\n"


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _frame(size: int) -> bytes:
    return b"\x95" + struct.pack("<Q", size)


def _call(canary: Path) -> bytes:
    return b"cos\nsystem\n(S'touch " + str(canary).encode() + b"'\ntR."


def _joblib_array_bytes_run_by_pickle_load(canary: Path) -> bytes:
    """A joblib pickle whose "array" of int8 is opcodes calling os.system from the memo.

    joblib.load steps over the array; pickle.load runs it as opcodes, with the stack and memo
    of the outer stream: the strings 'posix', 'system' and the command, memoised before the
    wrapper as harmless constants. The array spells no name and is no pickle on its own.
    """
    u = _unicode
    array = b"h\x02h\x03\x93h\x01\x85R."
    return (
        b"\x80\x02" + u(f"touch {canary}") + b"q\x010" + u("posix") + b"q\x020"
        + u("system") + b"q\x030"
        + b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}("
        + u("subclass") + b"cnumpy\nndarray\n"
        + u("shape") + b"K" + bytes([len(array)]) + b"\x85" + u("order") + u("C")
        + u("dtype") + b"cnumpy\ndtype\n(" + u("i1") + b"\x89\x88tR"
        + b"(K\x03" + u("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + u("allow_mmap") + b"\x89" + u("numpy_array_alignment_bytes") + b"Nub"
        + array + b"."
    )  # fmt: skip


def _frame_read_from_a_file_object(canary: Path) -> bytes:
    """From memory: the string 'abcde', then None. From a file object: 'cdeN.', then the call.

    The frame holds a SHORT_BINUNICODE of 5 bytes with only 2 of them; a file object without
    peek() drops those 2 and reads the 5 after the frame.
    """
    return b"\x80\x04" + _frame(4) + b"\x8c\x05ab" + b"cdeN." + b"0" + _call(canary)


def _torch_zip(data_pkl: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/version", b"3\n")
        archive.writestr("archive/byteorder", b"little")
    return buffer.getvalue()


def _joblib_every_dtype(canary: Path) -> bytes:
    import joblib

    arrays = {
        str(dtype): np.zeros(7, dtype=dtype)
        for dtype in (
            "u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f2", "f4", "f8", "c8", "c16",
            "b1", "M8[ns]", "m8[s]", "S5", "U3", [("a", "i4"), ("b", "f8")], ("i4", (2,)),
        )
    }  # fmt: skip
    buffer = io.BytesIO()
    joblib.dump(arrays, buffer)
    return buffer.getvalue()


SAMPLES: list[Sample] = [
    file_sample(
        "review3-joblib-array-bytes-run-by-pickle-load",
        _joblib_array_bytes_run_by_pickle_load,
        "a joblib array whose bytes pickle.load runs as opcodes, with the outer memo",
        _PICKLE_LOAD,
        requires=("joblib",),
    ),
    file_sample(
        "review3-frame-read-from-a-file-object",
        _frame_read_from_a_file_object,
        "a read past a frame with bytes left: pickle.load(io.BytesIO) reads on elsewhere",
        _PICKLE_LOAD_BYTESIO,
    ),
    file_sample(
        "review3-torch-zip-data-pkl-frame-read-from-bytesio",
        lambda c: _torch_zip(_frame_read_from_a_file_object(c)),
        "torch.load reads data.pkl from io.BytesIO: a frame straddle it reads differently",
        _TORCH_LOAD,
        filename="model.pt",
        requires=("torch",),
    ),
    file_sample(
        "review3-int-literal-starting-with-nul",
        lambda c: b"I\x00x\n0" + _call(c),
        "an INT literal whose first byte is NUL: the C unpickler reads False",
        _PICKLE_LOAD,
    ),
    file_sample(
        "review3-text-pickle-with-a-tflite-identifier",
        lambda c: b"S'xyTFL3'\n0ccanarymod\nThing\n.",
        "a protocol 0 pickle whose bytes 4-7 read TFL3, taken for TFLite and only probed",
        _CANARY_MODULE + _PICKLE_LOAD,
        rules=("MLS-PKL-003",),
    ),
    file_sample(
        "review3-inst-without-a-mark-imports-under-pickle-py",
        lambda c: b"icanarymod\nThing\n.",
        "INST with no MARK: pickle.py imports the class before it finds no MARK",
        _CANARY_MODULE + _PY_UNPICKLER,
        rules=("MLS-PKL-003",),
    ),
    file_sample(
        "review3-global-with-an-empty-name-imports-under-pickle-py",
        lambda c: b"ccanarymod\n\n.",
        "GLOBAL with an empty name: pickle.py imports the module, then fails",
        _CANARY_MODULE + _PY_UNPICKLER,
        rules=("MLS-PKL-003",),
    ),
    file_sample(
        "review3-torch-tar-pickle-member-that-looks-like-text",
        lambda c: legacy_tar(main=b"ccanarymod\nThing\n." + b" and then some plain text" * 4),
        "a legacy tar's 'pickle' member with text after its STOP, identified as text",
        _CANARY_MODULE + _TORCH_LOAD,
        filename="model.tar",
        rules=("MLS-PKL-003",),
        requires=("torch",),
    ),
    file_sample(
        "review3-deque-of-a-huge-range",
        lambda c: b"ccollections\ndeque\n(cbuiltins\nrange\n(I0\nI1099511627776\ntRtR.",
        "collections.deque (allowed) of range(2**40): the loader builds it in memory",
        None,
        rules=("MLS-PKL-011",),
    ),
    file_sample(
        "review3-benign-joblib-arrays-of-every-dtype",
        _joblib_every_dtype,
        "joblib arrays of every fixed-size numpy dtype (uint32 is '<u4', complex64 '<c8')",
        None,
        filename="arrays.joblib",
        malicious=False,
    ),
]
