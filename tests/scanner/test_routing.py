"""No routing holes: whatever a file is identified as, a payload pickle.load runs is reported.

Every format the sniffer can return is walked (``Format``). For each, a real file of that format
is built, then a payload is put in front of it (*prefixed*), and, where the format's own bytes
leave room for one (a user block, a name field, a string field, an opcode-shaped header), a
payload is hidden *inside* it while identification still says the format (*disguised*). Both
CPython unpicklers are run on every file in a subprocess; whenever either of them runs the
payload, the scan must report it at high or above. The disguises are checked to work (the
loader runs them and identification is fooled), so the property is never vacuous.
"""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import io
import json
import lzma
import marshal
import pickle
import struct
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import lz4.frame
import numpy as np
import py7zr
import pytest
import zstandard
from safetensors.numpy import save as save_safetensors

from pytest_mlsupply.engines.identification import Format
from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.engines.sniff import identify_bytes
from pytest_mlsupply.results import Severity
from tests.corpus.onnx_keras import add_graph, onnx_model
from tests.corpus.routing import DISGUISES, legacy_torch_tar, tar_archive, tflite_model
from tests.corpus.savedmodel import benign_metadata, frozen_graph, with_dense
from tests.corpus.skops_files import estimator, skops_file
from tests.corpus.torch import legacy_stream, torch_zip

_EXECUTION = {"MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-004", "MLS-PKL-005", "MLS-PKL-007"}


def payload(canary: Path, *, stop: bool = True) -> bytes:
    """os.system("touch <canary>") with no PROTO: SHORT_BINUNICODE x2, STACK_GLOBAL, REDUCE."""
    cmd = f"touch {canary}".encode()
    body = b"\x8c\x05posix\x8c\x06system\x93\x8c" + bytes([len(cmd)]) + cmd + b"\x85R"
    return body + (b"." if stop else b"")


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _seven_zip() -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        archive.writestr(b"hello", "notes.txt")
    return buffer.getvalue()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, w=np.zeros(4, dtype=np.float32))
    return buffer.getvalue()


def _joblib() -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump({"w": np.zeros(4)}, buffer)
    return buffer.getvalue()


def _gguf(tensors: int = 0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, tensors, 0)


def _pe(dos_header: bytes = b"") -> bytes:
    header = bytearray(b"MZ" + b"\x00" * 62)
    header[2 : 2 + len(dos_header)] = dos_header
    struct.pack_into("<I", header, 0x3C, 0x80)
    return bytes(header) + b"\x00" * (0x80 - 64) + b"PE\x00\x00" + b"\x00" * 64


#: A real file of every format identification can return.
EXAMPLES: dict[Format, Callable[[], bytes]] = {
    Format.PICKLE: lambda: pickle.dumps({"lr": 0.1, "layers": [4, 4]}, protocol=4),
    Format.JOBLIB: _joblib,
    Format.PYTORCH_LEGACY: lambda: legacy_stream(),
    Format.PYTORCH_ZIP: lambda: torch_zip(pickle.dumps({}, protocol=2)),
    Format.TORCHSCRIPT: lambda: _zip(
        {
            "m/data.pkl": pickle.dumps({}, protocol=2),
            "m/constants.pkl": pickle.dumps((), protocol=2),
            "m/code/__torch__/m.py": b"def forward(self): ...\n",
        }
    ),
    Format.PYTORCH_TAR: legacy_torch_tar,
    Format.NUMPY_NPY: lambda: _npy(np.arange(8, dtype=np.float32)),
    Format.NUMPY_NPZ: _npz,
    Format.GZIP: lambda: gzip.compress(b"hello world\n" * 10),
    Format.BZ2: lambda: bz2.compress(b"hello world\n" * 10),
    Format.XZ: lambda: lzma.compress(b"hello world\n" * 10),
    Format.LZMA: lambda: lzma.compress(b"hello world\n" * 10, format=lzma.FORMAT_ALONE),
    Format.ZLIB: lambda: zlib.compress(b"hello world\n" * 10),
    Format.LZ4: lambda: bytes(lz4.frame.compress(b"hello world\n" * 10)),
    Format.ZSTD: lambda: zstandard.ZstdCompressor().compress(b"hello world\n" * 10),
    Format.JOBLIB_ZFILE: lambda: (
        b"ZF" + b"0x%017x" % len(pickle.dumps([1, 2])) + zlib.compress(pickle.dumps([1, 2]))
    ),
    Format.ZIP: lambda: _zip({"notes.txt": b"hello"}),
    Format.TAR: lambda: tar_archive({"notes.txt": b"hello"}),
    Format.NEMO: lambda: tar_archive({"./model_config.yaml": b"sample_rate: 16000\n"}),
    Format.SEVEN_ZIP: _seven_zip,
    Format.SAFETENSORS: lambda: save_safetensors({"w": np.zeros(4, dtype=np.float32)}),
    Format.GGUF: _gguf,
    Format.ONNX: lambda: onnx_model(add_graph()),
    Format.KERAS_V3: lambda: _zip({"config.json": b'{"class_name": "Sequential"}'}),
    Format.TF_SAVED_MODEL: lambda: with_dense(),
    Format.TF_GRAPH_DEF: frozen_graph,
    Format.KERAS_METADATA: lambda: benign_metadata(Path()),
    Format.SKOPS: lambda: skops_file(estimator("sklearn.pipeline", "Pipeline")),
    Format.HDF5: lambda: b"\x89HDF\r\n\x1a\n" + b"\x00" * 120,
    Format.TFLITE: tflite_model,
    Format.ELF: lambda: b"\x7fELF\x02\x01\x01" + b"\x00" * 64,
    Format.PE: _pe,
    Format.MACH_O: lambda: b"\xcf\xfa\xed\xfe" + b"\x00" * 64,
    Format.JAVA_CLASS: lambda: b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + b"\x00" * 64,
    Format.PYTHON_BYTECODE: lambda: (
        importlib.util.MAGIC_NUMBER + b"\x00" * 12 + marshal.dumps(compile("x = 1", "m", "exec"))
    ),
    Format.SHEBANG_SCRIPT: lambda: b"#!/bin/sh\necho hello\n",
    Format.JSON: lambda: json.dumps({"model_type": "bert"}).encode(),
    Format.GIT_LFS_POINTER: lambda: (
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 12\n"
    ),
    Format.TEXT: lambda: b"hello world\n",
    Format.EMPTY: lambda: b"",
    Format.UNKNOWN: lambda: b"\xff\xfe" * 32,
}


# Text needs a printable payload; it is built from a shell command, not from ``payload``.
TEXT_DISGUISE = Format.TEXT


def _text_that_breaks_after_the_call(command: bytes) -> bytes:
    return b"I0x1\n0cposix\nsystem\n(S'" + command + b"'\ntR0 and then plain text\n"


def _loaders_run(directory: Path, paths: dict[str, tuple[Path, Path, Path]]) -> dict[str, set[str]]:
    """For each file, which CPython unpicklers run its payload (``c``, ``py``), tried in a
    subprocess in ``directory``: each loader on its own copy, which touches its own canary."""
    script = (
        "import json, pickle, sys\n"
        "for c_file, py_file in json.load(sys.stdin):\n"
        "    for name, load in ((c_file, lambda f: pickle.load(f)), "
        "(py_file, lambda f: pickle._Unpickler(f).load())):\n"
        "        try:\n"
        "            with open(name, 'rb') as f:\n"
        "                load(f)\n"
        "        except BaseException:\n"
        "            pass\n"
    )
    argument = json.dumps([[str(c), str(py)] for c, py, _ in paths.values()])
    subprocess.run(
        [sys.executable, "-c", script],
        input=argument.encode(),
        cwd=directory,
        timeout=120,
        check=True,
    )
    ran: dict[str, set[str]] = {}
    for key, (c_file, py_file, _) in paths.items():
        ran[key] = {
            loader
            for loader, file in (("c", c_file), ("py", py_file))
            if file.with_suffix(".canary").exists()
        }
    return ran


def _flagged(path: Path) -> bool:
    report = scan_file(path, path.name)
    return any(f.rule in _EXECUTION and f.severity >= Severity.HIGH for f in report.findings)


def _build(directory: Path, index: int, make: Callable[[Path], bytes]) -> tuple[Path, Path, Path]:
    """Three copies of one construction: for the C loader, for pickle.py, for the scan. The
    canary is named relative to ``directory`` (the loaders' working directory), so payloads
    stay short enough for the smallest hiding places (a tar name field holds 100 bytes)."""
    files = []
    for role in ("c", "py", "scan"):
        path = directory / f"{index}.{role}.bin"
        path.write_bytes(make(Path(path.with_suffix(".canary").name)))
        files.append(path)
    return files[0], files[1], files[2]


def test_every_format_the_sniffer_returns_has_an_example_identified_as_it() -> None:
    assert set(EXAMPLES) == set(Format)
    for fmt, make in EXAMPLES.items():
        assert identify_bytes(make(), "file.bin").format == fmt, fmt


def test_a_payload_prefixed_or_disguised_as_any_format_never_passes(tmp_path: Path) -> None:
    constructions: dict[str, Callable[[Path], bytes]] = {}
    for fmt, make in EXAMPLES.items():
        example = make()
        constructions[f"prefixed-{fmt}"] = lambda canary, e=example: payload(canary) + e
        constructions[f"appended-{fmt}"] = lambda canary, e=example: e + payload(canary)
    for fmt, hide in DISGUISES.items():
        constructions[f"disguised-{fmt}"] = lambda canary, h=hide: h(payload(canary))
    constructions[f"disguised-{TEXT_DISGUISE}"] = lambda canary: _text_that_breaks_after_the_call(
        f"touch {canary}".encode()
    )
    files = {
        key: _build(tmp_path, index, make)
        for index, (key, make) in enumerate(constructions.items())
    }

    ran = _loaders_run(tmp_path, files)

    holes = [key for key, loaders in ran.items() if loaders and not _flagged(files[key][2])]
    assert not holes, f"payloads a loader runs but the scan passes: {holes}"
    # Not vacuous: every disguise fools identification and runs under the C unpickler.
    for fmt in [*DISGUISES, TEXT_DISGUISE]:
        key = f"disguised-{fmt}"
        assert "c" in ran[key], f"{key}: the disguise does not run under pickle.load"
        disguised = files[key][2].read_bytes()
        assert identify_bytes(disguised, "file.bin").format == fmt, key
    for fmt in EXAMPLES:
        assert "c" in ran[f"prefixed-{fmt}"], f"prefixed-{fmt} does not run"


@pytest.mark.parametrize("fmt", sorted(DISGUISES, key=str))
def test_a_disguised_payload_is_reported_where_it_lies_with_the_probes_rules(
    fmt: Format, tmp_path: Path
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(DISGUISES[fmt](payload(Path("canary"))))
    report = scan_file(path, "weights.bin")
    assert report.formats[""] == fmt.value
    rules = {f.rule for f in report.findings if f.severity >= Severity.CRITICAL}
    assert {"MLS-PKL-001", "MLS-PKL-002"} <= rules
    assert not (tmp_path / "canary").exists()
