"""Corpus: what the eighth adversarial review of Scanner II got past it (``review9-*``).

Loaders find a zip's directory differently: zipfile (``numpy.load`` of an ``.npz``) uses the
last end record only and shifts offsets by what precedes the archive, even backwards; it finds
a zip64 record only right before its locator; torch's reader follows the locator and reads the
central directory at its recorded offset, unshifted. Each file here is one archive to the
scanner's reader and another to the loader's. And ``LZMAFile`` (joblib's .lzma and .xz) reads
stream after stream of either kind, where the scanner stopped after the first. The ninth
review (``review10-*``) put two zip64 records in one file (torch follows the locator's
pointer, zipfile takes the record before it) and an end record at the far edge of where
zipfile looks; the tenth (``review11-*``) a locator pointing at no record, and .npz members
skipped for their directory-like names or symlink mode bits, which numpy ignores.
"""

from __future__ import annotations

import io
import lzma
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from tests.corpus import Sample, file_sample, system_call
from tests.corpus.torch import checkpoint_records

_NUMPY_LOAD = "import numpy\nnumpy.load(ARTIFACT, allow_pickle=True)['arr']\n"
_TORCH_LOAD = "import torch\ntorch.load(ARTIFACT, weights_only=False)\n"
_JOBLIB_LOAD = "import joblib\njoblib.load(ARTIFACT)\n"
_ZIP_RULES = ("MLS-ARC-011", "MLS-TORCH-007")


def _object_npy(canary: Path) -> bytes:
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + system_call(canary)


def _numeric_npy() -> bytes:
    import numpy

    buffer = io.BytesIO()
    numpy.save(buffer, numpy.arange(4, dtype="<i4"))
    return buffer.getvalue()


def _local(name: str | bytes, data: bytes) -> bytes:
    raw = name.encode() if isinstance(name, str) else name
    return (
        struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0x21, zlib.crc32(data), len(data),
            len(data), len(raw), 0,
        )
        + raw
        + data
    )  # fmt: skip


def _central(
    name: str | bytes, data: bytes, offset: int, comment: bytes = b"", mode: int = 0
) -> bytes:
    raw = name.encode() if isinstance(name, str) else name
    made_by = (3 << 8) | 20 if mode else 20  # Unix, when mode bits are given
    return (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", made_by, 20, 0, 0, 0, 0x21, zlib.crc32(data),
            len(data), len(data), len(raw), 0, len(comment), 0, 0, mode << 16, offset,
        )
        + raw
        + comment
    )  # fmt: skip


def _end(entries: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, entries, entries, cd_size, cd_offset, 0)


def _npz_end_record_shifting_back(canary: Path) -> bytes:
    # The last end record's directory offset is 1000 too large: zipfile shifts every member
    # back by 1000 and reads the payload; a reader that refuses that record falls back to the
    # earlier one, which lists a numeric decoy of the same name.
    payload, decoy = _object_npy(canary), _numeric_npy()
    body = _local("arr.npy", payload) + _local("arr.npy", decoy)
    decoy_directory = _central("arr.npy", decoy, len(_local("arr.npy", payload)))
    body += decoy_directory + _end(1, len(decoy_directory), len(body))
    directory = _central("arr.npy", payload, 1000)
    return body + directory + _end(1, len(directory), len(body) + 1000)


def _npz_zip64_locator_pointing_elsewhere(canary: Path) -> bytes:
    # The directory's last 20 bytes (an entry comment) are a zip64 locator whose record is not
    # right before it: zipfile keeps the plain end record's fields (the payload's directory),
    # torch's reader follows the locator to a record naming the decoy's.
    payload, decoy = _object_npy(canary), _numeric_npy()
    body = _local("arr.npy", payload) + _local("arr.npy", decoy)
    decoy_at = len(body)
    decoy_directory = _central("arr.npy", decoy, len(_local("arr.npy", payload)))
    body += decoy_directory
    record_at = len(body)
    body += struct.pack(
        "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 1, 1, len(decoy_directory), decoy_at
    )
    body += bytes(16)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, record_at, 1)
    directory = _central("arr.npy", payload, 0, comment=b"x" * 80 + locator)
    return body + directory + _end(1, len(directory), len(body))


def _torch_directory_at_its_recorded_offset(canary: Path) -> bytes:
    # A checkpoint whose data.pkl is the payload, then a decoy zip whose directory (padded to
    # the same size) sits right before the end record, which keeps the checkpoint's offset:
    # torch reads the directory there, a reader that takes the gap for prepended content
    # reads the decoy's.
    _, payload = _checkpoint_records(canary)
    body, directory = _archive(payload, 0)
    cd_offset, cd_size = len(body), len(directory)
    body += directory
    decoy_at = len(body)
    body += _local("readme.txt", b"hello\n")
    gap = len(body) - cd_offset
    short = _central("readme.txt", b"hello\n", decoy_at - gap)
    decoy = _central(
        "readme.txt", b"hello\n", decoy_at - gap, comment=b"c" * (cd_size - len(short))
    )
    return body + decoy + _end(len(payload), cd_size, cd_offset)


def _checkpoint_records(
    canary: Path,
) -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """A checkpoint's records as torch.save writes them, and the same with data.pkl the
    payload."""
    real = checkpoint_records()
    payload = [(n, system_call(canary) if n.endswith("/data.pkl") else d) for n, d in real]
    return real, payload


def _zip64_record(entries: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack(
        "<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, cd_size, cd_offset
    )


def _archive(members: list[tuple[str, bytes]], base: int) -> tuple[bytes, bytes]:
    """Local headers with data, and the central directory, for an archive at ``base``."""
    body, directory = b"", b""
    for name, data in members:
        directory += _central(name, data, base + len(body))
        body += _local(name, data)
    return body, directory


def _torch_two_zip64_records(canary: Path) -> bytes:
    # Two archives back to back, each with its zip64 record: the one right before the locator
    # lists a real checkpoint (zipfile reads it), the locator points at the other, whose
    # data.pkl is the payload (torch's reader follows the pointer).
    real, payload = _checkpoint_records(canary)
    body, directory = _archive(payload, 0)
    out = body + directory
    payload_record = len(out)
    out += _zip64_record(len(payload), len(directory), len(body))
    body, directory = _archive(real, len(out))
    out += body + directory + _zip64_record(len(real), len(directory), len(out) + len(body))
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, payload_record, 1)
    return out + locator + _end(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)


def _npz_end_record_a_comment_length_back(canary: Path) -> bytes:
    # The end record 65,558 bytes before the end of the file: the farthest zipfile looks.
    payload = _object_npy(canary)
    body, directory = _archive([("arr.npy", payload)], 0)
    return body + directory + _end(1, len(directory), len(body)) + bytes(1 << 16)


def _torch_zip64_pointer_to_no_record(canary: Path) -> bytes:
    # The zip64 record right before the locator lists a real checkpoint (zipfile reads it);
    # the locator points at byte 0, no zip64 record, so torch's reader keeps the plain end
    # record's fields, which list the payload's directory.
    real, payload = _checkpoint_records(canary)
    payload_body, payload_directory = _archive(payload, 0)
    out = payload_body + payload_directory
    body, directory = _archive(real, len(out))
    out += body + directory + _zip64_record(len(real), len(directory), len(out) + len(body))
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, 0, 1)
    return out + locator + _end(len(payload), len(payload_directory), len(payload_body))


def _npz_member(name: bytes, mode: int = 0) -> Callable[[Path], bytes]:
    """An .npz whose one member ``name`` (with Unix ``mode`` bits) holds an object array."""

    def build(canary: Path) -> bytes:
        data = _object_npy(canary)
        body = _local(name, data)
        directory = _central(name, data, 0, mode=mode)
        return body + directory + _end(1, len(directory), len(body))

    return build


def _empty_lzma_then_xz(canary: Path) -> bytes:
    return lzma.compress(b"", format=lzma.FORMAT_ALONE) + lzma.compress(
        system_call(canary), format=lzma.FORMAT_XZ
    )


def _empty_xz_then_lzma(canary: Path) -> bytes:
    return lzma.compress(b"", format=lzma.FORMAT_XZ) + lzma.compress(
        system_call(canary), format=lzma.FORMAT_ALONE
    )


SAMPLES: list[Sample] = [
    file_sample(
        "review9-npz-end-record-shifting-back",
        _npz_end_record_shifting_back,
        "an .npz whose last end record zipfile reads with a backwards shift; another lists a decoy",
        _NUMPY_LOAD,
        filename="weights.npz",
        rules=_ZIP_RULES,
        requires=("numpy",),
    ),
    file_sample(
        "review9-npz-zip64-locator-pointing-elsewhere",
        _npz_zip64_locator_pointing_elsewhere,
        "an .npz whose zip64 locator points away from where zipfile looks for its record",
        _NUMPY_LOAD,
        filename="weights.npz",
        rules=_ZIP_RULES,
        requires=("numpy",),
    ),
    file_sample(
        "review9-torch-directory-at-its-recorded-offset",
        _torch_directory_at_its_recorded_offset,
        "a checkpoint and a decoy zip: torch.load reads the directory at its recorded offset",
        _TORCH_LOAD,
        filename="model.pt",
        rules=_ZIP_RULES,
        requires=("torch",),
    ),
    file_sample(
        "review10-torch-two-zip64-records",
        _torch_two_zip64_records,
        "a checkpoint with two zip64 records: torch follows the locator to the payload's",
        _TORCH_LOAD,
        filename="model.pt",
        rules=_ZIP_RULES,
        requires=("torch",),
    ),
    file_sample(
        "review10-npz-end-record-a-comment-length-back",
        _npz_end_record_a_comment_length_back,
        "an .npz whose end record is as far from the file's end as zipfile looks",
        _NUMPY_LOAD,
        filename="weights.npz",
        requires=("numpy",),
    ),
    file_sample(
        "review11-torch-zip64-pointer-to-no-record",
        _torch_zip64_pointer_to_no_record,
        "a zip64 locator pointing at no record: torch reads the plain end record's directory",
        _TORCH_LOAD,
        filename="model.pt",
        rules=_ZIP_RULES,
        requires=("torch",),
    ),
    file_sample(
        "review11-npz-member-named-like-a-directory",
        _npz_member(b"arr/"),
        "an .npz member named 'arr/' with data: numpy lists and loads it like any other",
        "import numpy\nz = numpy.load(ARTIFACT, allow_pickle=True)\n[z[k] for k in z.files]\n",
        filename="weights.npz",
        requires=("numpy",),
    ),
    file_sample(
        "review11-npz-member-name-cut-at-a-nul",
        _npz_member(b"arr.npy\x00/"),
        "an .npz member named 'arr.npy\\0/': zipfile cuts the name at the NUL",
        _NUMPY_LOAD,
        filename="weights.npz",
        requires=("numpy",),
    ),
    file_sample(
        "review11-npz-member-with-symlink-mode-bits",
        _npz_member(b"arr.npy", mode=0o120644),
        "an .npz member whose Unix mode bits say symbolic link: numpy ignores them",
        _NUMPY_LOAD,
        filename="weights.npz",
        requires=("numpy",),
    ),
    file_sample(
        "review9-empty-lzma-stream-then-xz",
        _empty_lzma_then_xz,
        "an empty .lzma stream, then an .xz stream: LZMAFile (joblib) reads both",
        _JOBLIB_LOAD,
        filename="model.lzma",
        requires=("joblib",),
    ),
    file_sample(
        "review9-empty-xz-stream-then-lzma",
        _empty_xz_then_lzma,
        "an empty .xz stream, then an .lzma one: LZMAFile (joblib) reads both",
        _JOBLIB_LOAD,
        filename="model.joblib",
        requires=("joblib",),
    ),
]
