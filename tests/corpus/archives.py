"""Corpus: generic archives (zip, tar, gzip'd tar) with hostile members, names and shapes.

Also home to :func:`raw_zip`, a zip writer that does exactly what it is told (wrong CRCs, local
names that differ from central ones, flag bits, prepended data, duplicate names), which the
torch and numpy samples and the unit tests share: :mod:`zipfile` refuses to write such files.
"""

from __future__ import annotations

import io
import os
import pickle
import shlex
import stat
import struct
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import py7zr

from tests.corpus import Sample

__all__ = ["SAMPLES", "RawMember", "Touch", "raw_zip", "seven_zip", "tar_bytes", "touch_pickle"]


class Touch:
    """What attackers pickle: ``__reduce__`` names os.system, here only touching the canary."""

    def __init__(self, canary: Path | str) -> None:
        self.command = f"touch {shlex.quote(str(canary))}"

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def touch_pickle(canary: Path | str, protocol: int = 2) -> bytes:
    return pickle.dumps(Touch(canary), protocol=protocol)


@dataclass(frozen=True)
class RawMember:
    name: str
    data: bytes
    local_name: str | None = None
    """Name written in the local header when it should differ from the central one."""
    crc: int | None = None
    """CRC written in both headers instead of the real one."""
    flags: int = 0
    deflate: bool = False
    unix_mode: int | None = None
    """st_mode recorded in the external attributes (made by Unix, or ``host``)."""
    host: int = 3
    """The "made by" host system for ``unix_mode`` (3 Unix, 5 Atari, 16 BeOS...)."""


def raw_zip(members: list[RawMember], *, comment: bytes = b"", prefix: bytes = b"") -> bytes:
    """A zip archive written byte by byte, exactly as described (``prefix`` goes before it)."""
    body = bytearray()
    central = bytearray()
    for member in members:
        data = zlib.compressobj(9, zlib.DEFLATED, -15) if member.deflate else None
        payload = data.compress(member.data) + data.flush() if data else member.data
        crc = zlib.crc32(member.data) if member.crc is None else member.crc
        name = member.name.encode()
        local_name = (member.local_name or member.name).encode()
        method = 8 if member.deflate else 0
        offset = len(body)
        body += struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            member.flags,
            method,
            0,
            0x21,
            crc,
            len(payload),
            len(member.data),
            len(local_name),
            0,
        )
        body += local_name + payload
        made_by = (member.host << 8 | 20) if member.unix_mode is not None else 20
        external = (member.unix_mode or 0) << 16
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            made_by,
            20,
            member.flags,
            method,
            0,
            0x21,
            crc,
            len(payload),
            len(member.data),
            len(name),
            0,
            0,
            0,
            0,
            external,
            offset,
        )
        central += name
    eocd = struct.pack(
        "<IHHHHIIH",
        0x06054B50,
        0,
        0,
        len(members),
        len(members),
        len(central),
        len(body),
        len(comment),
    )
    return prefix + bytes(body + central + eocd + comment)


def tar_bytes(members: list[tuple[str, bytes]], *, mode: str = "w") -> bytes:
    """A tar archive of regular files (``mode`` "w:gz" etc. compresses it)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tar:  # type: ignore[call-overload]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def seven_zip(members: list[tuple[str, bytes]]) -> bytes:
    """A 7z archive whose member names are written as given, hostile ones included.

    py7zr refuses to write a name like ``../x``, so members are written under placeholders of
    the same length and the names patched in the (unencoded) header, CRCs recomputed.
    """
    buffer = io.BytesIO()
    archive = py7zr.SevenZipFile(buffer, "w")
    archive.encoded_header_mode = False  # a plain header, whose names can be patched
    placeholders = []
    for index, (name, data) in enumerate(members):
        placeholder = f"{index:0{len(name)}d}"[-len(name) :] if len(name) >= 2 else name
        placeholders.append(placeholder)
        archive.writestr(data, placeholder)
    archive.close()
    raw = bytearray(buffer.getvalue())
    (offset, size) = struct.unpack_from("<QQ", raw, 12)
    header = bytearray(raw[32 + offset : 32 + offset + size])
    for (name, _), placeholder in zip(members, placeholders, strict=True):
        old, new = placeholder.encode("utf-16-le"), name.encode("utf-16-le")
        at = header.index(old + b"\x00\x00")
        header[at : at + len(old)] = new
    raw[32 + offset : 32 + offset + size] = header
    struct.pack_into("<I", raw, 28, zlib.crc32(bytes(header)))
    struct.pack_into("<I", raw, 8, zlib.crc32(bytes(raw[12:32])))
    return bytes(raw)


def _link_tar(canary: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("weights")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
        readme = b"model weights\n"
        entry = tarfile.TarInfo("README.md")
        entry.size = len(readme)
        tar.addfile(entry, io.BytesIO(readme))
    return out.getvalue()


def _write(name: str, content: Callable[[Path], bytes]) -> Callable[[Path, Path], Path]:
    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        path.write_bytes(content(canary))
        return path

    return build


def _zip_in_tar(canary: Path) -> bytes:
    inner = raw_zip([RawMember("model/weights.pkl", touch_pickle(canary), deflate=True)])
    return tar_bytes([("bundle/model.zip", inner), ("bundle/README", b"a model\n")])


def _nested_zips(depth: int) -> Callable[[Path], bytes]:
    def build(canary: Path) -> bytes:
        data = touch_pickle(canary)
        name = "model.pkl"
        for level in range(depth):
            data = raw_zip([RawMember(name, data)])
            name = f"level{level}.zip"
        return data

    return build


def _elf() -> bytes:
    # A minimal ELF64 header: enough for any tool (and the sniffer) to call it an executable.
    header = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + struct.pack("<HHI", 2, 62, 1)
    return header + b"\x00" * (64 - len(header))


_ZIP_IN_TAR_VICTIM = """
import io, pickle, tarfile, zipfile
with tarfile.open(ARTIFACT) as tar:
    inner = tar.extractfile('bundle/model.zip').read()
pickle.loads(zipfile.ZipFile(io.BytesIO(inner)).read('model/weights.pkl'))
"""

_TAR_GZ_VICTIM = """
import pickle, tarfile
with tarfile.open(ARTIFACT, 'r:gz') as tar:
    pickle.load(tar.extractfile('model/model.pkl'))
"""

_ZIP_MEMBER_VICTIM = """
import pickle, zipfile
pickle.loads(zipfile.ZipFile(ARTIFACT).read('model/weights.pkl'))
"""

SAMPLES: list[Sample] = [
    Sample(
        "archive-pickle-in-zip-in-tar",
        _write("bundle.tar", _zip_in_tar),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="a malicious pickle two containers deep (tar > zip > pickle)",
        victim=_ZIP_IN_TAR_VICTIM,
    ),
    Sample(
        "archive-pickle-in-tar-gz",
        _write(
            "model.tar.gz",
            lambda c: tar_bytes([("model/model.pkl", touch_pickle(c))], mode="w:gz"),
        ),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="a malicious pickle inside a gzip-compressed tar",
        victim=_TAR_GZ_VICTIM,
    ),
    Sample(
        "archive-pickle-in-plain-zip",
        _write(
            "bundle.zip",
            lambda c: raw_zip(
                [
                    RawMember("README.txt", b"weights\n"),
                    RawMember("model/weights.pkl", touch_pickle(c)),
                ]
            ),
        ),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="a malicious pickle as a member of an ordinary zip",
        victim=_ZIP_MEMBER_VICTIM,
    ),
    Sample(
        "archive-7z-traversal-member-holding-a-pickle",
        _write(
            "bundle.7z",
            lambda c: seven_zip([("ok.txt", b"fine"), ("../../model.pkl", touch_pickle(c))]),
        ),
        malicious=True,
        rules=("MLS-ARC-004", "MLS-PKL-001"),
        technique="a 7z member named ../../model.pkl (py7zr refuses to extract it; 7z does not)",
    ),
    Sample(
        "archive-zip-traversal-member",
        _write(
            "model.zip",
            lambda c: raw_zip(
                [RawMember("config.json", b"{}"), RawMember("../../.bashrc", b"touch /tmp/x\n")]
            ),
        ),
        malicious=True,
        rules=("MLS-ARC-004",),
        technique="Zip Slip: a member name that climbs out of the extraction directory",
    ),
    Sample(
        "archive-zip-absolute-member",
        _write(
            "model.zip",
            lambda c: raw_zip([RawMember("/etc/cron.d/model", b"* * * * * root true\n")]),
        ),
        malicious=True,
        rules=("MLS-ARC-004",),
        technique="a member with an absolute path",
    ),
    Sample(
        "archive-tar-symlink-member",
        _write("model.tar", _link_tar),
        malicious=True,
        rules=("MLS-ARC-005",),
        technique="a tar symlink member pointing outside the archive",
    ),
    Sample(
        "archive-zip-unix-symlink-member",
        _write(
            "model.zip",
            lambda c: raw_zip(
                [RawMember("weights", b"/root/.ssh/id_rsa", unix_mode=stat.S_IFLNK | 0o777)]
            ),
        ),
        malicious=True,
        rules=("MLS-ARC-005",),
        technique="a zip entry whose Unix mode bits make it a symlink to an absolute path",
    ),
    Sample(
        "archive-elf-inside-zip",
        _write(
            "model.zip",
            lambda c: raw_zip([RawMember("config.json", b"{}"), RawMember("bin/helper", _elf())]),
        ),
        malicious=True,
        rules=("MLS-ARC-008",),
        technique="a native executable shipped inside a model archive",
    ),
    Sample(
        "archive-zip-bomb-ratio",
        _write(
            "data.zip",
            lambda c: raw_zip([RawMember("zeros.bin", b"\x00" * (8 << 20), deflate=True)]),
        ),
        malicious=True,
        rules=("MLS-ARC-001",),
        technique="a member that expands over a thousand times (decompression bomb)",
    ),
    Sample(
        "archive-nested-beyond-depth-limit",
        _write("nested.zip", _nested_zips(8)),
        malicious=True,
        rules=("MLS-ARC-002",),
        technique="zips nested eight deep to outrun the scanner",
    ),
    Sample(
        "archive-zip-encrypted-member",
        _write(
            "model.zip",
            lambda c: raw_zip([RawMember("model.pkl", bytes(range(64)), flags=0x1)]),
        ),
        malicious=True,
        rules=("MLS-ARC-007",),
        technique="an encrypted member that no scanner can read",
    ),
    Sample(
        "archive-zip-duplicate-names",
        _write(
            "model.zip",
            lambda c: raw_zip(
                [
                    RawMember("model.pkl", pickle.dumps({"ok": 1})),
                    RawMember("model.pkl", touch_pickle(c)),
                ]
            ),
        ),
        malicious=True,
        rules=("MLS-ARC-006", "MLS-PKL-001"),
        technique="two members with one name: a scanner vets one, an extractor keeps the other",
    ),
    # --- benign ---------------------------------------------------------------------------
    Sample(
        "archive-benign-zip-of-text",
        _write(
            "docs.zip",
            lambda c: raw_zip(
                [
                    RawMember("docs/", b""),
                    RawMember("docs/README.md", b"# Model\n\nA model card.\n" * 50, deflate=True),
                    RawMember("docs/LICENSE", b"Apache License 2.0\n"),
                ]
            ),
        ),
        malicious=False,
    ),
    Sample(
        "archive-benign-tar-of-text",
        _write(
            "docs.tar",
            lambda c: tar_bytes([("docs/README.md", b"# Model\n"), ("docs/NOTICE", b"none\n")]),
        ),
        malicious=False,
    ),
    Sample(
        "archive-benign-tar-gz-with-benign-pickle",
        _write(
            "model.tar.gz",
            lambda c: tar_bytes(
                [("model/vocab.pkl", pickle.dumps({"a": 1, "b": [1.5, "x"]})), ("README", b"x\n")],
                mode="w:gz",
            ),
        ),
        malicious=False,
    ),
]
