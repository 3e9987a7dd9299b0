"""Benchmark inputs built by code: a PyTorch zip checkpoint, a safetensors file, the test corpus.

The torch checkpoint is written by hand in the layout ``torch.save`` produces (protocol-2
``data.pkl`` whose tensors reference storages through BINPERSID and
``torch._utils._rebuild_tensor_v2``; one stored, 64-byte-aligned ``data/<key>`` member per
storage; ``version`` and ``byteorder``), so the benchmark needs no torch. When torch is
importable a real ``torch.save`` checkpoint is made as well.

Big files are cached in the data directory with a small JSON stamp and rebuilt only when the
requested size changes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import struct
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
#: Tensor data is written in pieces of this size: memory stays flat whatever the file size.
CHUNK = 16 * MIB
#: torch aligns every storage member's data to 64 bytes (``PyTorchStreamWriter``).
ALIGNMENT = 64
#: How many storages (and tensors) the hand-built checkpoint holds.
STORAGES = 16
SAFETENSORS_TENSORS = 8
STAMP_VERSION = 2


@dataclass(frozen=True)
class Artifact:
    """One big benchmark input."""

    name: str
    path: Path
    size: int
    description: str


def _fresh(path: Path, stamp: dict[str, object]) -> bool:
    stamp_path = path.with_name(path.name + ".json")
    if not path.exists() or not stamp_path.exists():
        return False
    try:
        return bool(json.loads(stamp_path.read_text()) == stamp)
    except ValueError:
        return False


def _stamp(path: Path, stamp: dict[str, object]) -> None:
    path.with_name(path.name + ".json").write_text(json.dumps(stamp, sort_keys=True))


def _tensor_bytes(total: int, index: int) -> Iterator[bytes]:
    """Even storages are random (incompressible), odd ones zeros: both shapes real weights take."""
    # One random chunk, repeated: generating 1 GB of fresh randomness would dominate set-up
    # time, and the scanners must not read tensor bytes anyway.
    chunk = bytes(min(CHUNK, total)) if index % 2 else os.urandom(min(CHUNK, total))
    remaining = total
    while remaining:
        n = min(CHUNK, remaining)
        yield chunk[:n]
        remaining -= n


# --- pickle opcodes (protocol 2, as torch.save writes) -------------------------------------


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _unicode(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _int(value: int) -> bytes:
    if 0 <= value < 256:
        return b"K" + bytes([value])
    if 0 <= value < 65536:
        return b"M" + struct.pack("<H", value)
    return b"J" + struct.pack("<i", value)


def _memo_put(index: int) -> bytes:
    return b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index)


def _tuple(items: list[bytes]) -> bytes:
    if not items:
        return b")"
    if len(items) <= 3:
        return b"".join(items) + {1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(items)]
    return b"(" + b"".join(items) + b"t"


def state_dict_pickle(tensors: Sequence[tuple[str, str, tuple[int, ...]]]) -> bytes:
    """``data.pkl`` for an ``OrderedDict`` of float32 tensors, each backed by its own storage.

    ``tensors`` lists ``(name, storage key, shape)``. The result is exactly what torch's
    pickler emits for ``torch.save(state_dict)``: the storage is a persistent id
    ``('storage', torch.FloatStorage, key, 'cpu', numel)`` and each tensor is rebuilt by
    ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)``.
    """
    out = [b"\x80\x02", _global("collections", "OrderedDict"), b")R", b"q\x00", b"("]
    memo = 1
    for name, key, shape in tensors:
        numel = 1
        for dim in shape:
            numel *= dim
        stride: list[int] = []
        step = 1
        for dim in reversed(shape):
            stride.insert(0, step)
            step *= dim
        persistent = _tuple(
            [
                _unicode("storage"),
                _global("torch", "FloatStorage"),
                _unicode(key),
                _unicode("cpu"),
                _int(numel),
            ]
        )
        args = (
            b"("
            + persistent
            + b"Q"
            + _int(0)
            + _tuple([_int(d) for d in shape])
            + _tuple([_int(s) for s in stride])
            + b"\x89"
            + _global("collections", "OrderedDict")
            + b")R"
            + b"t"
        )
        out += [
            _unicode(name),
            _global("torch._utils", "_rebuild_tensor_v2"),
            _memo_put(memo),
            args,
            b"R",
        ]
        memo += 1
    out += [b"u", b"."]
    return b"".join(out)


def _aligned_info(zf: zipfile.ZipFile, name: str, size: int) -> zipfile.ZipInfo:
    """A stored member whose data starts on a 64-byte boundary, padded like torch pads it."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = size
    assert zf.fp is not None
    # zipfile adds a 20-byte zip64 field to the local header of members this large.
    zip64 = size * 1.05 > zipfile.ZIP64_LIMIT
    header_end = zf.fp.tell() + 30 + len(name.encode()) + (20 if zip64 else 0)
    # torch's padding extra field: id "FB", then filler; at least 4 bytes for the field header.
    pad = (-(header_end + 4)) % ALIGNMENT
    info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
    return info


def build_torch_zip(
    path: Path, total_bytes: int, *, storages: int = STORAGES, prefix: str = "layers"
) -> Artifact:
    """A ``torch.save``-layout checkpoint with ``storages`` float32 tensors of ``total_bytes``
    (many small ones make a checkpoint whose deep scan, not its hashing, takes the time);
    ``prefix`` names the tensors, so that shards of one model differ."""
    stamp: dict[str, object] = {"v": STAMP_VERSION, "kind": "torch-zip", "bytes": total_bytes}
    if storages != STORAGES or prefix != "layers":
        stamp.update(storages=storages, prefix=prefix)
    per_storage = max(4, (total_bytes // storages) // 4 * 4)
    description = (
        f"hand-built torch.save layout, {storages} float32 storages of "
        f"{per_storage / MIB:g} MiB, stored (uncompressed)"
    )
    if _fresh(path, stamp):
        return Artifact("torch zip checkpoint", path, path.stat().st_size, description)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = per_storage // 4 // 1024 or 1
    cols = per_storage // 4 // rows
    tensors = [(f"{prefix}.{i}.weight", str(i), (rows, cols)) for i in range(storages)]
    archive = "archive"
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        zf.writestr(_aligned_info(zf, f"{archive}/data.pkl", 0), state_dict_pickle(tensors))
        zf.writestr(_aligned_info(zf, f"{archive}/byteorder", 0), b"little")
        for index, (_, key, shape) in enumerate(tensors):
            size = shape[0] * shape[1] * 4
            info = _aligned_info(zf, f"{archive}/data/{key}", size)
            with zf.open(info, "w") as member:
                for chunk in _tensor_bytes(size, index):
                    member.write(chunk)
        zf.writestr(_aligned_info(zf, f"{archive}/version", 0), b"3\n")
        zf.writestr(_aligned_info(zf, f"{archive}/.data/serialization_id", 0), b"0" * 40)
    tmp.replace(path)
    _stamp(path, stamp)
    return Artifact("torch zip checkpoint", path, path.stat().st_size, description)


def build_real_torch(path: Path, total_bytes: int) -> Artifact | None:
    """A checkpoint written by ``torch.save`` itself, when torch is importable (else None)."""
    if importlib.util.find_spec("torch") is None:
        return None
    stamp: dict[str, object] = {"v": STAMP_VERSION, "kind": "torch-save", "bytes": total_bytes}
    description = f"torch.save of a state dict, {STORAGES} float32 tensors"
    if not _fresh(path, stamp):
        import torch  # only here: the benchmark must run without torch

        per = max(1, total_bytes // STORAGES // 4)
        state = {f"layers.{i}.weight": torch.zeros(per) for i in range(STORAGES)}
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        _stamp(path, stamp)
    return Artifact("torch.save checkpoint", path, path.stat().st_size, description)


def build_safetensors(path: Path, total_bytes: int, *, seed: int = 0) -> Artifact:
    """A safetensors file of ``SAFETENSORS_TENSORS`` float32 tensors, saved by the library."""
    import numpy as np
    from safetensors.numpy import save_file

    stamp: dict[str, object] = {"v": STAMP_VERSION, "kind": "safetensors", "bytes": total_bytes}
    per = max(1, total_bytes // SAFETENSORS_TENSORS // 4)
    description = (
        f"safetensors.numpy.save_file, {SAFETENSORS_TENSORS} float32 tensors of "
        f"{per * 4 / MIB:g} MiB"
    )
    if _fresh(path, stamp):
        return Artifact("safetensors", path, path.stat().st_size, description)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tensors: dict[str, object] = {}
    for i in range(SAFETENSORS_TENSORS):
        # Zeros cost no memory until touched (calloc); random halves are real pages. The
        # library writes straight from each array's buffer, so peak memory is the tensors.
        if i % 2:
            tensors[f"layers.{i}.weight"] = np.zeros(per, dtype=np.float32)
        else:
            tensors[f"layers.{i}.weight"] = rng.random(per, dtype=np.float32)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt"})  # type: ignore[arg-type]
    del tensors
    tmp.replace(path)
    _stamp(path, stamp)
    return Artifact("safetensors", path, path.stat().st_size, description)


@dataclass(frozen=True)
class CorpusEntry:
    name: str
    path: Path
    malicious: bool
    technique: str
    canary: Path
    format: str
    """The artifact's format as identified by content (for a directory: its most telling file)."""


def sample_format(path: Path) -> str:
    from pytest_mlsupply.engines.sniff import identify

    if path.is_file():
        return identify(path).format
    formats = [
        identify(p).format for p in sorted(path.rglob("*")) if p.is_file() and not p.is_symlink()
    ]
    telling = [f for f in formats if f not in ("json", "text", "unknown")]
    return f"{(telling or formats or ['empty'])[0]} (directory)"


def build_corpus(directory: Path) -> list[CorpusEntry]:
    """Every sample of ``tests.corpus`` built into its own folder below ``directory``."""
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import pytest

    from tests.corpus import all_samples

    entries = []
    for sample in all_samples():
        folder = directory / sample.name
        folder.mkdir(parents=True)
        canary = folder / "canary"
        try:
            path = sample.build(folder / "artifact", canary)
        except pytest.skip.Exception as skipped:
            # A sample whose builder needs a library this environment lacks (tests skip it
            # the same way): left out of the figures, and said so.
            print(f"corpus sample {sample.name} left out: {skipped.msg}", file=sys.stderr)
            continue
        entries.append(
            CorpusEntry(
                sample.name, path, sample.malicious, sample.technique, canary, sample_format(path)
            )
        )
    return entries


def build_ecosystem(directory: Path) -> list[CorpusEntry]:
    """The benign ecosystem corpus (``tests.ecosystem``): artifacts made by the real libraries.

    Only the artifacts whose libraries are importable here are built; each is benign, so a
    tool that flags one raises a false alarm.
    """
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from tests.ecosystem import build_all, sklearn_artifacts, static_artifacts

    artifacts = static_artifacts()
    with contextlib.suppress(ImportError):  # no scikit-learn here: the rest still counts
        artifacts += sklearn_artifacts()
    folder = directory / "ecosystem"
    entries = []
    for artifact, built in build_all(folder, artifacts):
        if isinstance(built, Path):
            entries.append(
                CorpusEntry(
                    f"ecosystem-{artifact.name}", built, False, "", folder / "canary",
                    sample_format(built),
                )
            )  # fmt: skip
    return entries
