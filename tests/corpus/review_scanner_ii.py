"""Corpus: what an adversarial review of Scanner II got past it, kept as regression samples.

Each one hid where the machine read a pickle more strictly than CPython (a long dotted name,
NUL-terminated literals, spaces before digits, a last byte pickle.py drops, a frame a read
from memory cuts short), where a format's reader knew less than its loader (numpy's object
dtype spellings, joblib's frames and ``complex`` sizes and old z-files, torch's case-blind
record names), or where a pickle names another file to load. Each victim proof runs the real
loader; each sample must be flagged at high or above.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

from tests.corpus import EXEC_RULES, Sample, file_sample

_PICKLE_LOAD = "import pickle\nwith open(ARTIFACT, 'rb') as f:\n    pickle.load(f)\n"
_PY_UNPICKLER = "import pickle\nwith open(ARTIFACT, 'rb') as f:\n    pickle._Unpickler(f).load()\n"
_JOBLIB_LOAD = "import joblib\njoblib.load(ARTIFACT)\n"
_JOBLIB_FROM_MEMORY = "import io, joblib\njoblib.load(io.BytesIO(open(ARTIFACT, 'rb').read()))\n"
_NUMPY_LOAD = "import numpy\nnumpy.load(ARTIFACT, allow_pickle=True)\n"
_NPZ_LOAD = "import numpy\nnumpy.load(ARTIFACT, allow_pickle=True)['arr']\n"
_TORCH_LOAD = "import torch\ntorch.load(ARTIFACT, weights_only=False)\n"
_EXEC = EXEC_RULES


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _protocol0_call(canary: Path) -> bytes:
    return b"cos\nsystem\n(S'touch " + str(canary).encode() + b"'\ntR."


def _long_dotted_name(canary: Path) -> bytes:
    cmd = f"touch {canary}".encode()
    name = b"path.os." * 520 + b"system"  # 4166 bytes: protocol 4 walks the attributes
    return b"\x80\x04cos\n" + name + b"\n\x8c" + bytes([len(cmd)]) + cmd + b"\x85R."


def _object_npy(descr: str, canary: Path) -> bytes:
    header = f"{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}".encode()
    header += b" " * ((64 - (11 + len(header)) % 64) % 64) + b"\n"
    payload = b"\x80\x02cposix\nsystem\nq\x00" + _unicode(f"touch {canary}") + b"\x85R."
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def _object_npz(canary: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("arr.npy", _object_npy("'object'", canary))
    return buffer.getvalue()


def _joblib_wrapper(shape: bytes, dtype: str) -> bytes:
    """A NumpyArrayWrapper BUILD, as joblib writes it (after which joblib reads array bytes)."""
    u = _unicode
    return (
        b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}("
        + u("subclass") + b"cnumpy\nndarray\n"
        + u("shape") + shape + u("order") + u("C")
        + u("dtype") + b"cnumpy\ndtype\n(" + u(dtype) + b"\x89\x88tR"
        + b"(K\x03" + u("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + u("allow_mmap") + b"\x89" + u("numpy_array_alignment_bytes") + b"Nub"
    )  # fmt: skip


def _joblib_array_inside_a_frame(canary: Path) -> bytes:
    # The frame holds the wrapper and then the payload: joblib reads the array (n x i8) from
    # the file after the frame, then runs the rest of the frame.
    payload = b"\x880cposix\nsystem\n(" + _unicode(f"touch {canary}") + b"tR0"
    payload += b"N" * (len(payload) % 2)  # NONE to an even length, then NONE POP pairs
    payload += b"N0" * ((-len(payload) % 8) // 2)  # to whole 8-byte items
    items = len(payload) // 8
    body = _joblib_wrapper(b"K" + bytes([items]) + b"\x85", "i8") + payload
    array = b"N0" * (len(payload) // 2)  # what pickle.load, not joblib, would read here
    return b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body + array + b"."


def _joblib_complex_size(canary: Path) -> bytes:
    # numpy's 'complex' is 16 bytes: a reader taking 8 sees a fake STOP in the array's bytes.
    data = b"\x80\x02" + _joblib_wrapper(b"(K\x01t", "complex")
    payload = b"0cposix\nsystem\n(" + _unicode(f"touch {canary}") + b"tR."
    return data + b"\x00" * 8 + b"N." + b"\xff" * 6 + payload


def _joblib_zfile(canary: Path) -> bytes:
    payload = _protocol0_call(canary)
    return b"ZF" + b"0x%017x" % len(payload) + zlib.compress(payload)


def _joblib_file_reference(directory: Path, canary: Path) -> Path:
    """A joblib pickle whose old-format wrapper names a file outside the model's folder."""
    outside = directory / "elsewhere"
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "blob.dat").write_bytes(_protocol0_call(canary))
    model = directory / "model"
    model.mkdir(exist_ok=True)
    u = _unicode
    (model / "model.joblib").write_bytes(
        b"\x80\x02cjoblib.numpy_pickle_compat\nNDArrayWrapper\n)\x81}("
        + u("filename") + u("../elsewhere/blob.dat")
        + u("subclass") + b"cnumpy\nndarray\n" + u("allow_mmap") + b"\x89ub."
    )  # fmt: skip
    return model / "model.joblib"


def _torch_upper_case_record(canary: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.PKL", b"F1.0\x00x\n0" + _protocol0_call(canary))
        archive.writestr("archive/version", b"3\n")
        archive.writestr("archive/byteorder", b"little")
    return buffer.getvalue()


_NUL_LITERALS = {
    "float": b"F1.0\x00x\n0",
    "long": b"L1\x00x\n0",
    "memo": b"Np0\x00x\n0g0\x00y\n0",
    "int": b"I1\x00" + b"a" * 5000 + b"\n0",
}

SAMPLES: list[Sample] = [
    file_sample(
        "review2-global-name-longer-than-4096-bytes",
        _long_dotted_name,
        "a protocol 4 GLOBAL whose dotted name is 4 KiB of attribute steps",
        _PICKLE_LOAD,
        filename="pytorch_model.bin",
    ),
    *(
        file_sample(
            f"review2-{kind}-literal-ended-by-nul",
            lambda c, prefix=prefix: prefix + _protocol0_call(c),
            f"a {kind} literal the C unpickler reads up to a NUL (pickle.py refuses it)",
            _PICKLE_LOAD,
        )
        for kind, prefix in _NUL_LITERALS.items()
    ),
    *(
        file_sample(
            f"review2-{opcode.decode().lower()}-literal-after-5000-spaces",
            lambda c, opcode=opcode: opcode + b" " * 5000 + b"1\n0" + _protocol0_call(c),
            "an INT or LONG after 5000 spaces (Python's digit limit counts digits only)",
            _PY_UNPICKLER,
        )
        for opcode in (b"I", b"L")
    ),
    file_sample(
        "review2-inst-last-byte-not-ascii",
        lambda c: b"(S'touch " + str(c).encode() + b"'\nios\nsystem\xff",
        "INST whose last line has no newline and a non-ASCII last byte pickle.py drops",
        _JOBLIB_LOAD,
        filename="model.joblib",
        requires=("joblib",),
    ),
    file_sample(
        "review2-frame-of-2-to-the-60-read-from-memory",
        lambda c: b"\x95" + (1 << 60).to_bytes(8, "little") + _protocol0_call(c),
        "a FRAME of 2**60 bytes: read from memory, pickle.py takes the short frame and runs it",
        _JOBLIB_FROM_MEMORY,
        filename="model.joblib",
        requires=("joblib",),
    ),
    *(
        file_sample(
            f"review2-npy-object-dtype-spelled-{label}",
            lambda c, descr=descr: _object_npy(descr, c),
            f"an object dtype spelled {descr}: numpy.load unpickles the data",
            _NUMPY_LOAD,
            filename="array.npy",
            rules=(*_EXEC, "MLS-NPY-001"),
        )
        for label, descr in (
            ("object", "'object'"),
            ("subarray", "('O', (1,))"),
            ("structured", "[('a', 'object')]"),
        )
    ),
    file_sample(
        "review2-npz-object-dtype-spelled-object",
        _object_npz,
        "an .npz member whose dtype is spelled 'object'",
        _NPZ_LOAD,
        filename="arrays.npz",
    ),
    file_sample(
        "review2-joblib-array-inside-a-frame",
        _joblib_array_inside_a_frame,
        "joblib reads an array from after the frame and runs the rest of the frame first",
        _JOBLIB_LOAD,
        filename="model.joblib",
        requires=("joblib",),
    ),
    file_sample(
        "review2-joblib-complex-is-16-bytes",
        _joblib_complex_size,
        "a joblib array of dtype 'complex' (16 bytes an item) hiding a fake STOP",
        _JOBLIB_LOAD,
        filename="model.joblib",
        requires=("joblib",),
    ),
    file_sample(
        "review2-joblib-old-zfile",
        _joblib_zfile,
        "joblib's old 'ZF' compressed format, which joblib.load still reads",
        _JOBLIB_LOAD,
        filename="model.joblib",
        requires=("joblib",),
    ),
    Sample(
        "review2-joblib-wrapper-names-a-file-outside",
        _joblib_file_reference,
        True,
        ("MLS-PKL-013",),
        "an old-format NDArrayWrapper naming ../elsewhere/blob.dat, which joblib.load unpickles",
        _JOBLIB_LOAD,
        ("joblib",),
    ),
    file_sample(
        "review2-torch-record-name-in-upper-case",
        _torch_upper_case_record,
        "archive/data.PKL: torch finds records ignoring case",
        _TORCH_LOAD,
        filename="model.pt",
        requires=("torch",),
    ),
    file_sample(
        "review2-memo-index-of-10-to-the-8-in-text",
        lambda c: b"Np100000000\n." + b" this is some plain text after it\n",
        "PUT 100000000 then text: pickle.load grows its memo to 1.5 GB",
        None,
        filename="notes.txt",
        rules=("MLS-PKL-011",),
    ),
    file_sample(
        "review2-allowed-bytearray-of-1-5-gb",
        lambda c: (
            b"\x80\x02cbuiltins\nbytearray\n\x8a\x05"
            + (1_500_000_000).to_bytes(5, "little")
            + b"\x85R."
        ),
        "builtins.bytearray (allowed, also by torch's weights_only) asked for 1.5 GB",
        None,
        rules=("MLS-PKL-011",),
    ),
]
