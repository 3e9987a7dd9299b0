"""A real installed distribution for tests: a wheel built with ``zipfile`` (a correct RECORD)
and installed by pip into a directory of the test's own, never the running interpreter's."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

NAME = "tinypkg"
VERSION = "1.0.0"
FILES = {
    "tinypkg/__init__.py": b"from tinypkg.core import answer\n",
    "tinypkg/core.py": b"def answer():\n    return 42\n",
    "tinypkg/data/table.json": b'{"rows": []}\n',
}


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def build_wheel(directory: Path) -> Path:
    """A minimal, valid wheel of ``tinypkg`` 1.0.0 with a correct RECORD."""
    info = f"{NAME}-{VERSION}.dist-info"
    members = dict(FILES)
    members[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode()
    )
    members[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    members[f"{info}/top_level.txt"] = f"{NAME}\n".encode()
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in members.items()]
    record.append(f"{info}/RECORD,,")
    members[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in members.items():
            archive.writestr(path, data)
    return wheel


def pip_install(wheel: Path, target: Path, *, from_file: bool) -> Path:
    """Install ``wheel`` into ``target`` as pip does from an index (``--find-links``, no
    ``direct_url.json``) or from a file (PEP 610 ``direct_url.json`` with the archive's hash)."""
    source = (
        [str(wheel)] if from_file else ["--find-links", str(wheel.parent), f"{NAME}=={VERSION}"]
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-index",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(target),
            *source,
        ],
        check=True,
    )
    return target
