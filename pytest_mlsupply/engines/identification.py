"""What identification says about content: the format, its family, and the bytes that showed it.

Plain types shared by the orchestrator (:mod:`pytest_mlsupply.engines.sniff`), each format's
``identify`` function (in its engine module, beside the reader it shares with the scan) and the
checks that report formats. Nothing here reads a file.
"""

from __future__ import annotations

import codecs
import enum
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pytest_mlsupply.engines.budget import BoundedFile

__all__ = ["Detector", "Family", "Format", "Identification", "View", "decode_text", "hex_bytes"]


class Family(enum.StrEnum):
    """The physical container a format lives in: it says which engine opens the file."""

    PICKLE = "pickle"
    ZIP = "zip"
    TAR = "tar"
    SEVEN_ZIP = "7z"
    COMPRESSED = "compressed"
    SAFETENSORS = "safetensors"
    NUMPY = "numpy"
    GGUF = "gguf"
    HDF5 = "hdf5"
    ONNX = "onnx"
    PROTOBUF = "protobuf"
    TFLITE = "tflite"
    EXECUTABLE = "executable"
    SCRIPT = "script"
    JSON = "json"
    TEXT = "text"
    EMPTY = "empty"
    UNKNOWN = "unknown"


class Format(enum.StrEnum):
    """Every format identification can return; the registry maps each to its engine."""

    PICKLE = "pickle"
    JOBLIB = "joblib"
    PYTORCH_LEGACY = "pytorch-legacy"
    PYTORCH_ZIP = "pytorch-zip"
    TORCHSCRIPT = "torchscript"
    PYTORCH_TAR = "pytorch-tar"
    NUMPY_NPY = "numpy-npy"
    NUMPY_NPZ = "numpy-npz"
    GZIP = "gzip"
    BZ2 = "bz2"
    XZ = "xz"
    LZMA = "lzma"
    ZLIB = "zlib"
    LZ4 = "lz4"
    ZSTD = "zstd"
    JOBLIB_ZFILE = "joblib-zfile"
    ZIP = "zip"
    TAR = "tar"
    NEMO = "nemo"
    SEVEN_ZIP = "7z"
    SAFETENSORS = "safetensors"
    GGUF = "gguf"
    ONNX = "onnx"
    KERAS_V3 = "keras-v3"
    TF_SAVED_MODEL = "tf-saved-model"
    TF_GRAPH_DEF = "tf-graph-def"
    KERAS_METADATA = "keras-metadata"
    SKOPS = "skops"
    HDF5 = "hdf5"
    TFLITE = "tflite"
    ELF = "elf"
    PE = "pe"
    MACH_O = "mach-o"
    JAVA_CLASS = "java-class"
    PYTHON_BYTECODE = "python-bytecode"
    SHEBANG_SCRIPT = "shebang-script"
    JSON = "json"
    GIT_LFS_POINTER = "git-lfs-pointer"
    TEXT = "text"
    EMPTY = "empty"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Identification:
    """What a file is, whether loading it can run code, and the bytes that showed it.

    ``format`` is specific (``pytorch-zip``, ``gzip``, ``numpy-npy``); ``family`` is the
    container. For a compressed stream ``format`` names the compression and ``detail`` what the
    decompressed head holds (``gzip-compressed pickle``). ``problem`` is set when the format's
    magic number or structure is there but broken (a safetensors header length past the end of
    the file): the format's loaders refuse or misread it. ``appended_zip`` is the offset of a
    zip archive that follows other content (a polyglot, or a self-extractor).
    """

    format: Format
    family: Family
    unsafe: bool
    detail: str
    evidence: str
    extension_mismatch: str | None = None
    problem: str | None = None
    appended_zip: int | None = None

    def with_(self, **changes: Any) -> Identification:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        # Plain str values: results cross process boundaries (xdist) as builtins only.
        return {
            "format": self.format.value,
            "family": self.family.value,
            "unsafe": self.unsafe,
            "detail": self.detail,
            "evidence": self.evidence,
            "extension_mismatch": self.extension_mismatch,
            "problem": self.problem,
            "appended_zip": self.appended_zip,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Identification:
        """The inverse of :meth:`to_dict`; raises ValueError, KeyError or TypeError on bad data."""
        unsafe, appended = data["unsafe"], data.get("appended_zip")
        texts = [data["detail"], data["evidence"]]
        optional = [data.get("extension_mismatch"), data.get("problem")]
        if (
            not isinstance(unsafe, bool)
            or not all(isinstance(t, str) for t in texts)
            or not all(o is None or isinstance(o, str) for o in optional)
            or not (appended is None or (isinstance(appended, int) and appended >= 0))
        ):
            raise TypeError("not an identification")
        return cls(
            format=Format(data["format"]),
            family=Family(data["family"]),
            unsafe=unsafe,
            detail=texts[0],
            evidence=texts[1],
            extension_mismatch=optional[0],
            problem=optional[1],
            appended_zip=appended,
        )


@dataclass(frozen=True)
class View:
    """The bytes being identified: a file, a member, or the decompressed head of a stream.

    ``head`` is the first bytes (all of them when ``size`` equals its length); ``read_at``
    reads elsewhere within the read budget. ``file`` offers archive-level random access (the
    zip reader) and is None for a decompressed head. ``inner`` identifies decompressed bytes
    (``complete`` says whether they are the whole stream); it is None where nesting stops.
    """

    head: bytes
    size: int | None
    """None: unknown (a decompressed stream that was not read to its end)."""
    read_at: Callable[[int, int], bytes]
    file: BoundedFile | None
    suffix: str
    inner: Callable[[bytes, bool], Identification] | None = None

    @property
    def truncated(self) -> bool:
        """Whether more content follows ``head`` (or may: an unknown size)."""
        return self.size is None or len(self.head) < self.size


#: A format's answer to "is this mine?": an identification, or None to let the next one look.
Detector = Callable[[View], "Identification | None"]


def hex_bytes(data: bytes, limit: int = 8) -> str:
    """The first bytes as hex pairs, for evidence."""
    return " ".join(f"{b:02x}" for b in data[:limit])


def decode_text(data: bytes, truncated: bool) -> str | None:
    """``data`` as UTF-8 text with no NUL or control bytes, or None when it is not text.

    A head cut in the middle of a multi-byte character (``truncated``) is still text.
    """
    if b"\x00" in data:
        return None
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    try:
        text: str = decoder.decode(data, final=not truncated)
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\t\n\r\f\v\x1b" for c in text):
        return None
    return text
