"""Corpus: password-protected archive members, which no scanner can read and so never pass.

The zip member is encrypted for real with traditional PKWARE encryption (ZipCrypto, which
``zipfile`` reads with a password but cannot write: the cipher is written out here); the 7z ones
are written by py7zr with a password, with plain and with encrypted headers. The victim reads the
zip member with its password and unpickles it, as a loader handed the password would.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import py7zr

from tests.corpus import Sample, system_call

PASSWORD = b"infected"


class _ZipCrypto:
    """The traditional PKWARE stream cipher (APPNOTE 6.1): three keys updated by CRC-32."""

    def __init__(self, password: bytes) -> None:
        self.keys = [0x12345678, 0x23456789, 0x34567890]
        for byte in password:
            self._update(byte)

    @staticmethod
    def _crc(value: int, byte: int) -> int:
        # zlib's crc32 pre- and post-inverts; the cipher uses the raw table step.
        return zlib.crc32(bytes([byte]), value ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    def _update(self, byte: int) -> None:
        k0, k1, k2 = self.keys
        k0 = self._crc(k0, byte)
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = self._crc(k2, k1 >> 24)
        self.keys = [k0, k1, k2]

    def encrypt(self, plain: bytes) -> bytes:
        out = bytearray()
        for byte in plain:
            temp = (self.keys[2] | 2) & 0xFFFF
            out.append(byte ^ (((temp * (temp ^ 1)) >> 8) & 0xFF))
            self._update(byte)
        return bytes(out)


def zipcrypto_zip(name: str, plain: bytes, password: bytes = PASSWORD) -> bytes:
    """A one-member zip whose stored member is ZipCrypto-encrypted (flag bit 0)."""
    crc = zlib.crc32(plain)
    # 12-byte encryption header: random bytes, the last one the CRC's high byte (the check).
    header = os.urandom(11) + bytes([crc >> 24])
    data = _ZipCrypto(password).encrypt(header + plain)
    raw_name = name.encode()
    local = struct.pack(
        "<IHHHHHIIIHH",
        0x04034B50,
        20,
        0x1,
        0,
        0,
        0x21,
        crc,
        len(data),
        len(plain),
        len(raw_name),
        0,
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0x1,
        0,
        0,
        0x21,
        crc,
        len(data),
        len(plain),
        len(raw_name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + raw_name + data
    directory = central + raw_name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end


def seven_zip_with_password(
    members: list[tuple[str, bytes]], *, encrypt_headers: bool, password: str = "infected"
) -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w", password=password) as archive:
        archive.set_encrypted_header(encrypt_headers)
        for name, data in members:
            archive.writestr(data, name)
    return buffer.getvalue()


def _write(filename: str, make: Callable[[Path], bytes]) -> Callable[[Path, Path], Path]:
    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / filename
        path.write_bytes(make(canary))
        return path

    return build


_ZIP_VICTIM = (
    "import pickle, zipfile\n"
    "pickle.loads(zipfile.ZipFile(ARTIFACT).read('model.pkl', pwd=b'infected'))\n"
)
_SEVEN_ZIP_VICTIM = (
    "import pickle, py7zr, tempfile, os\n"
    "with tempfile.TemporaryDirectory() as out:\n"
    "    with py7zr.SevenZipFile(ARTIFACT, password='infected') as archive:\n"
    "        archive.extractall(out)\n"
    "    pickle.loads(open(os.path.join(out, 'model.pkl'), 'rb').read())\n"
)

SAMPLES = [
    Sample(
        "archive-zip-zipcrypto-encrypted-pickle",
        _write("model.zip", lambda c: zipcrypto_zip("model.pkl", system_call(c))),
        malicious=True,
        rules=("MLS-ARC-007",),
        technique="a pickle payload in a real ZipCrypto member: unreadable without the password",
        victim=_ZIP_VICTIM,
    ),
    Sample(
        "archive-7z-password-protected-pickle",
        _write(
            "model.7z",
            lambda c: seven_zip_with_password(
                [("model.pkl", system_call(c))], encrypt_headers=False
            ),
        ),
        malicious=True,
        rules=("MLS-ARC-007",),
        technique="a pickle payload in a password-protected 7z archive (names visible)",
        victim=_SEVEN_ZIP_VICTIM,
    ),
    Sample(
        "archive-7z-password-protected-headers",
        _write(
            "model.7z",
            lambda c: seven_zip_with_password(
                [("model.pkl", system_call(c))], encrypt_headers=True
            ),
        ),
        malicious=True,
        rules=("MLS-ARC-007",),
        technique="a 7z archive whose headers are encrypted too: not even names are visible",
        victim=_SEVEN_ZIP_VICTIM,
    ),
]
