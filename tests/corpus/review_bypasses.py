"""Corpus: bypasses an adversarial review found, kept as regression samples.

Each starts the pickle somewhere no detector used to expect (no PROTO, PROTO 0/1, a FRAME
first, MARK then POP), or desynchronises joblib's array reader; each runs its payload under the
real loader, and each must be caught.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

from tests.corpus import Sample

_VICTIM_PICKLE = "import pickle\npickle.load(open(ARTIFACT, 'rb'))\n"
_VICTIM_JOBLIB = "import joblib\njoblib.load(ARTIFACT)\n"
_VICTIM_TORCH = "import torch\ntorch.load(ARTIFACT, weights_only=False)\n"
_EXEC = ("MLS-PKL-001", "MLS-PKL-002")


def _payload(canary: Path) -> bytes:
    """SHORT_BINUNICODE x2, STACK_GLOBAL, argument, TUPLE1, REDUCE, STOP: os.system(touch)."""
    cmd = f"touch {canary}".encode()
    return b"\x8c\x05posix\x8c\x06system\x93\x8c" + bytes([len(cmd)]) + cmd + b"\x85R."


def _write(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(data)
    return path


def _sample(
    name: str,
    build_bytes: object,
    technique: str,
    victim: str = _VICTIM_PICKLE,
    filename: str = "model.bin",
    requires: tuple[str, ...] = (),
) -> Sample:
    def build(directory: Path, canary: Path) -> Path:
        data = build_bytes(canary)  # type: ignore[operator]
        return _write(directory, filename, data)

    return Sample(
        name=name,
        build=build,
        malicious=True,
        rules=_EXEC,
        technique=technique,
        victim=victim,
        requires=requires,
    )


def _joblib_dtype_desync(canary: Path) -> bytes:
    def su(text: str) -> bytes:
        raw = text.encode()
        return b"X" + len(raw).to_bytes(4, "little") + raw

    wrapper = (
        b"\x80\x02cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}("
        + su("subclass") + b"cnumpy\nndarray\n"
        + su("shape") + b"K\x02\x85"
        + su("order") + su("C")
        + su("dtype") + b"cnumpy\ndtype\n" + su("float64") + b"\x89\x88\x87R"
        + b"(K\x03" + su("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + su("allow_mmap") + b"\x89ub"
    )  # fmt: skip
    # joblib reads 2 x 8 bytes of array data, then unpickles on: the payload sits right there.
    data = wrapper + b"\x00" * 16 + _payload(canary)
    data += b"\x00" * (len(wrapper) + 128 - len(data))
    return data + b"N."


def _torch_zip(canary: Path) -> bytes:
    path = canary.parent / "torch-build.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", _payload(canary))
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/byteorder", "little")
    data = path.read_bytes()
    path.unlink()
    return data


SAMPLES = [
    _sample("review-pickle-without-proto", _payload, "a pickle with no PROTO opcode"),
    _sample(
        "review-pickle-proto-1-binary-opcodes",
        lambda c: b"\x80\x01" + _payload(c),
        "PROTO 1 followed by protocol-4 opcodes",
    ),
    _sample(
        "review-pickle-proto-0-binary-opcodes",
        lambda c: b"\x80\x00" + _payload(c),
        "PROTO 0 followed by protocol-4 opcodes",
    ),
    _sample(
        "review-pickle-frame-first",
        lambda c: b"\x95" + len(_payload(c)).to_bytes(8, "little") + _payload(c),
        "a FRAME opcode as the first byte",
    ),
    _sample(
        "review-pickle-mark-pop-text",
        lambda c: b"(0cposix\nsystem\n(S'touch " + str(c).encode() + b"'\ntR.",
        "protocol 0: MARK then POP pops the mark, which a naive stack model rejects",
    ),
    _sample(
        "review-gzip-pickle-without-proto",
        lambda c: gzip.compress(_payload(c), mtime=0),
        "gzip-wrapped pickle with no PROTO",
        victim="import gzip, pickle\npickle.load(gzip.open(ARTIFACT))\n",
        filename="model.pkl.gz",
    ),
    _sample(
        "review-joblib-dtype-itemsize-desync",
        _joblib_dtype_desync,
        "joblib array with dtype 'float64': a scanner reading 64-byte items skips the payload",
        victim=_VICTIM_JOBLIB,
        filename="model.joblib",
        requires=("joblib",),
    ),
    _sample(
        "review-torch-zip-data-pkl-without-proto",
        _torch_zip,
        "torch zip whose data.pkl has no PROTO",
        victim=_VICTIM_TORCH,
        filename="pytorch_model.bin",
        requires=("torch",),
    ),
]
