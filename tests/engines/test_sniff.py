"""Tests for content-based file identification; every sample is built here, none is loaded."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import pickle
import random
import struct
import tarfile
import time
import zipfile
import zlib
from typing import TYPE_CHECKING, Any

import lz4.frame
import numpy as np
import pytest
import zstandard
from safetensors.numpy import save_file

from pytest_mlsupply.engines import sniff
from pytest_mlsupply.engines.regular_file import open_regular
from pytest_mlsupply.engines.sniff import Family, Identification, identify, identify_bytes
from tests.corpus.routing import tflite_model

if TYPE_CHECKING:
    from pathlib import Path

TORCH_MAGIC = 0x1950A86A20F9469CFC6C
PLAIN_DATA = {"weights": [1.5, 2.5], "name": "layer", "shape": (2,), "n": 12345678901234}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def sniffed(tmp_path: Path, name: str, data: bytes, **kwargs: Any) -> Identification:
    return identify(write(tmp_path, name, data), **kwargs)


def joblib_like_pickle() -> bytes:
    """A protocol 4 pickle that imports joblib's NumpyArrayWrapper via STACK_GLOBAL."""
    module, name = b"joblib.numpy_pickle", b"NumpyArrayWrapper"
    return (
        b"\x80\x04"
        + b"\x8c"
        + bytes([len(module)])
        + module
        + b"\x94"  # MEMOIZE sits between the strings, as pickle writes it
        + b"\x8c"
        + bytes([len(name)])
        + name
        + b"\x94\x93\x94)\x81\x94}\x94b."
    )


def torch_zip(root: str = "archive", *, torchscript: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{root}/data.pkl", pickle.dumps(PLAIN_DATA, protocol=2))
        archive.writestr(f"{root}/byteorder", "little")
        archive.writestr(f"{root}/data/0", b"\x00" * 64)
        archive.writestr(f"{root}/version", "3\n")
        if torchscript:
            archive.writestr(f"{root}/constants.pkl", pickle.dumps((), protocol=2))
            archive.writestr(f"{root}/code/__torch__/model.py", "def forward(self): ...\n")
    return buffer.getvalue()


# --- pickles --------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(6))
def test_it_identifies_pickles_of_every_protocol(tmp_path: Path, protocol: int) -> None:
    found = sniffed(tmp_path, "data.bin", pickle.dumps(PLAIN_DATA, protocol=protocol))
    assert (found.format, found.family, found.unsafe) == ("pickle", Family.PICKLE, True)
    assert f"protocol {protocol}" in found.detail


@pytest.mark.parametrize("protocol", range(6))
def test_it_identifies_a_protocol_0_to_5_pickle_of_a_bare_list(
    tmp_path: Path, protocol: int
) -> None:
    found = sniffed(tmp_path, "x", pickle.dumps([1, 2, 3], protocol=protocol))
    assert found.format == "pickle"


def test_it_identifies_a_pickle_larger_than_the_head_by_its_first_opcodes(tmp_path: Path) -> None:
    data = pickle.dumps([str(i) for i in range(40_000)], protocol=0)
    assert len(data) > sniff.HEAD_SIZE
    assert sniffed(tmp_path, "big.pkl", data).format == "pickle"


@pytest.mark.parametrize(
    "text",
    [
        "(see the note below)\n",
        "]\n",
        "] trailing bracket\nmore text\n",
        "}q and braces\n",
        "cat\ndog\n",
        "I am not a pickle\n",
        "2023-01-01,42\n",
    ],
)
def test_it_reports_text_that_starts_like_a_pickle_as_text(tmp_path: Path, text: str) -> None:
    found = sniffed(tmp_path, "notes.txt", text.encode())
    assert (found.format, found.unsafe) == ("text", False)


def test_it_recognises_a_legacy_torch_checkpoint_by_its_magic_number(tmp_path: Path) -> None:
    data = (
        pickle.dumps(TORCH_MAGIC, protocol=2)
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps({"little_endian": True}, protocol=2)
    )
    found = sniffed(tmp_path, "model.pt", data)
    assert (found.format, found.family, found.unsafe) == ("pytorch-legacy", Family.PICKLE, True)
    assert "0x1950a86a20f9469cfc6c" in found.evidence
    assert found.extension_mismatch is None


def test_it_recognises_a_joblib_pickle_by_its_globals(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "model.joblib", joblib_like_pickle())
    assert (found.format, found.unsafe) == ("joblib", True)
    assert "joblib.numpy_pickle.NumpyArrayWrapper" in found.evidence


# --- compressed pickles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "compress"),
    [
        ("gzip", gzip.compress),
        ("bz2", bz2.compress),
        ("xz", lzma.compress),
        ("lzma", lambda data: lzma.compress(data, format=lzma.FORMAT_ALONE)),
        ("zlib", zlib.compress),
        ("lz4", lz4.frame.compress),
        ("zstd", lambda data: zstandard.ZstdCompressor().compress(data)),
    ],
)
def test_it_looks_inside_compressed_streams_for_a_pickle(
    tmp_path: Path, fmt: str, compress: Any
) -> None:
    found = sniffed(tmp_path, "model.pkl", compress(pickle.dumps(PLAIN_DATA, protocol=4)))
    assert (found.format, found.family, found.unsafe) == (fmt, Family.COMPRESSED, True)
    assert found.detail == f"{fmt}-compressed pickle (protocol 4)"
    assert found.extension_mismatch is None


def test_it_names_joblib_inside_a_compressed_stream(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "model.joblib", zlib.compress(joblib_like_pickle()))
    assert (found.format, found.unsafe) == ("zlib", True)
    assert found.detail == "zlib-compressed joblib pickle"


def test_it_reports_compressed_plain_data_as_safe(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "notes.txt.gz", gzip.compress(b"hello world\n" * 100))
    assert (found.format, found.unsafe) == ("gzip", False)
    assert found.detail == "gzip-compressed text"


def test_it_bounds_decompression_of_a_compression_bomb(tmp_path: Path) -> None:
    bomb = gzip.compress(pickle.dumps(b"\x00" * (16 << 20), protocol=4), compresslevel=1)
    found = sniffed(tmp_path, "bomb.gz", bomb)
    assert (found.format, found.unsafe) == ("gzip", True)


def test_a_stream_whose_header_the_codec_refuses_is_a_problem_not_a_pass(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "x.zst", b"\x28\xb5\x2f\xfd" + b"\xff" * 16)
    assert (found.format, found.family) == ("zstd", Family.COMPRESSED)
    assert found.problem is not None
    assert "corrupt" in found.problem


def test_an_lz4_frame_with_a_wrong_header_checksum_is_refused_as_the_lz4_reader_refuses_it(
    tmp_path: Path,
) -> None:
    frame = bytearray(lz4.frame.compress(pickle.dumps(PLAIN_DATA, protocol=4)))
    frame[6] ^= 0xFF  # the frame descriptor's checksum byte
    with pytest.raises(RuntimeError):
        lz4.frame.decompress(bytes(frame))
    found = sniffed(tmp_path, "m.pkl.lz4", bytes(frame))
    assert (found.format, found.unsafe) == ("lz4", False)
    assert found.problem is not None


# --- zip archives ---------------------------------------------------------------------------


def test_it_identifies_a_torch_zip_checkpoint(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "pytorch_model.bin", torch_zip())
    assert (found.format, found.family, found.unsafe) == ("pytorch-zip", Family.ZIP, True)
    assert "archive/data.pkl" in found.detail
    assert "member archive/data.pkl starts with 80 02" in found.evidence
    assert found.evidence.startswith("magic 50 4b 03 04")


def test_it_identifies_torchscript_by_constants_and_code(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "model.pt", torch_zip(torchscript=True))
    assert (found.format, found.unsafe) == ("torchscript", True)


def test_it_ignores_crc_errors_as_torch_does(tmp_path: Path) -> None:
    data = bytearray(torch_zip())
    at = bytes(data).index(b"\x00" * 64)  # the contents of archive/data/0
    data[at] = 0xFF
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        assert archive.testzip() == "archive/data/0"
    assert sniffed(tmp_path, "model.pt", bytes(data)).format == "pytorch-zip"


def test_it_reads_an_archive_zipfile_refuses_as_torch_reads_it(tmp_path: Path) -> None:
    data = bytearray(torch_zip())
    entry = bytes(data).rindex(b"PK\x01\x02")
    data[entry + 6] = 200  # "needs zip 20.0": zipfile gives up, torch never looks
    with pytest.raises(NotImplementedError):
        zipfile.ZipFile(io.BytesIO(bytes(data)))
    found = sniffed(tmp_path, "model.pt", bytes(data))
    assert found.format == "pytorch-zip"
    assert "read as torch reads" in found.evidence


@pytest.mark.parametrize("refused", [False, True])
def test_it_reads_zip64_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refused: bool
) -> None:
    # Tiny limits make zipfile write a zip64 end record and zip64 extra fields, as torch does
    # for checkpoints past 4 GiB.
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 8)
    data = bytearray(torch_zip())
    monkeypatch.undo()
    assert b"PK\x06\x06" in data
    if refused:
        data[bytes(data).rindex(b"PK\x01\x02") + 6] = 200
    found = sniffed(tmp_path, "model.pt", b"prefix" + bytes(data))
    assert found.format == "pytorch-zip"
    assert "member archive/data.pkl starts with 80 02" in found.evidence


def test_it_finds_a_zip_appended_after_other_content(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "model.bin", os.urandom(4096) + torch_zip())
    assert found.format == "pytorch-zip"
    assert "archive begins at byte 4096" in found.evidence


def test_it_notes_a_zip_appended_to_a_recognised_format(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "model.pkl", pickle.dumps([1], protocol=4) + torch_zip())
    assert found.format == "pickle"
    assert "zip archive is appended" in found.detail


def test_it_calls_a_zip_with_a_pickle_member_a_pickle_archive(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("readme.txt", "hello")
        archive.writestr("weights", pickle.dumps(PLAIN_DATA, protocol=0))
    found = sniffed(tmp_path, "bundle.zip", buffer.getvalue())
    assert (found.format, found.unsafe) == ("pytorch-zip", True)
    assert "member weights" in found.detail


def test_it_identifies_a_plain_zip(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.txt", "(not a pickle)\n")
        archive.writestr("b/c.json", "{}")
    found = sniffed(tmp_path, "bundle.zip", buffer.getvalue())
    assert (found.format, found.unsafe) == ("zip", False)


def test_it_identifies_a_keras_v3_archive(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.0.0"}')
        archive.writestr("config.json", '{"class_name": "Sequential"}')
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 32)
    found = sniffed(tmp_path, "model.keras", buffer.getvalue())
    assert (found.format, found.unsafe, found.extension_mismatch) == ("keras-v3", False, None)


def test_it_reports_a_zip_without_central_directory_as_damaged(tmp_path: Path) -> None:
    data = torch_zip()
    found = sniffed(tmp_path, "model.pt", data[: data.index(b"PK\x01\x02")])
    assert (found.format, found.unsafe) == ("pytorch-zip", True)
    assert "damaged" in found.detail


# --- numpy ----------------------------------------------------------------------------------


def npy(array: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def test_it_identifies_a_numeric_npy_as_safe(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "a.npy", npy(np.arange(10, dtype=np.float32)))
    assert (found.format, found.family, found.unsafe) == ("numpy-npy", Family.NUMPY, False)
    assert "'<f4'" in found.evidence


def test_it_flags_an_object_npy_as_unsafe(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "a.npy", npy(np.array([{"a": 1}, None], dtype=object)))
    assert (found.format, found.unsafe) == ("numpy-npy", True)


def test_it_flags_a_structured_dtype_with_an_object_field(tmp_path: Path) -> None:
    array = np.zeros(2, dtype=[("Omega", "<f8"), ("payload", "O")])
    assert sniffed(tmp_path, "a.npy", npy(array)).unsafe is True
    safe = np.zeros(2, dtype=[("Omega", "<f8")])
    assert sniffed(tmp_path, "b.npy", npy(safe)).unsafe is False


@pytest.mark.parametrize("compressed", [False, True])
def test_it_identifies_npz_and_reads_member_headers(tmp_path: Path, compressed: bool) -> None:
    save = np.savez_compressed if compressed else np.savez
    safe, unsafe = tmp_path / "safe.npz", tmp_path / "unsafe.npz"
    save(safe, a=np.arange(3), b=np.ones(2))
    save(unsafe, a=np.arange(3), b=np.array([object()], dtype=object))
    assert (identify(safe).format, identify(safe).unsafe) == ("numpy-npz", False)
    found = identify(unsafe)
    assert (found.format, found.unsafe) == ("numpy-npz", True)
    assert "b.npy" in found.detail


# --- safetensors ----------------------------------------------------------------------------


def test_it_identifies_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file({"w": np.zeros((2, 2), dtype=np.float32)}, str(path))
    found = identify(path)
    assert (found.format, found.family, found.unsafe) == ("safetensors", Family.SAFETENSORS, False)
    assert found.extension_mismatch is None


def safetensors_bytes(header: bytes, payload: bytes = b"\x00" * 16) -> bytes:
    return struct.pack("<Q", len(header)) + header + payload


def test_it_accepts_a_whitespace_padded_safetensors_header(tmp_path: Path) -> None:
    header = b'  {"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}      '
    found = sniffed(tmp_path, "m.safetensors", safetensors_bytes(header))
    assert found.format == "safetensors"
    assert "1 tensor" in found.detail


def test_a_safetensors_lookalike_with_broken_json_goes_to_the_safetensors_engine(
    tmp_path: Path,
) -> None:
    found = sniffed(tmp_path, "m.safetensors", safetensors_bytes(b'{"w": oops}'))
    assert found.format == "safetensors"
    assert "malformed" in found.detail
    assert "not valid JSON" in found.detail


def test_a_safetensors_header_running_past_the_end_is_still_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", 10_000) + b'{"w": {}}')
    found = identify(path)
    assert found.format == "safetensors"
    assert "points past the end of the 17-byte file" in found.detail
    assert found.problem is not None
    assert "loader refuses it" in found.problem


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("requirements.txt", b"torch==2.4.0\n"),
        ("modeling.py", b"import os\n\nos.system('id')\n"),
        ("notes.txt", b"a" * 5000),
    ],
)
def test_text_that_decodes_as_pickle_opcodes_but_breaks_the_stack_is_text(
    tmp_path: Path, name: str, text: bytes
) -> None:
    found = sniffed(tmp_path, name, text)
    assert found.format == "text"


def test_it_identifies_a_sparse_gigabyte_file_from_a_bounded_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.safetensors"
    header = b'{"w":{"dtype":"U8","shape":[1073741000],"data_offsets":[0,1073741000]}}'
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(1 << 30)
    counted = CountingOpen()
    monkeypatch.setattr(sniff, "open_regular", counted)
    started = time.perf_counter()
    found = identify(path)
    assert time.perf_counter() - started < 1.0
    assert found.format == "safetensors"
    assert 0 < counted.total <= 1 << 20


class CountingOpen:
    """Stands in for ``open_regular`` inside the engine and counts the bytes the engine reads."""

    def __init__(self) -> None:
        self.total = 0

    def __call__(self, path: Path) -> tuple[CountingFile, os.stat_result]:
        handle, st = open_regular(path)
        return CountingFile(handle, self), st


class CountingFile:
    def __init__(self, fh: Any, counter: CountingOpen) -> None:
        self._fh = fh
        self._counter = counter

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._fh.read(size)
        self._counter.total += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return int(self._fh.seek(offset, whence))

    def tell(self) -> int:
        return int(self._fh.tell())

    def __enter__(self) -> CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


@pytest.mark.parametrize("builder", ["unknown", "zip", "json"])
def test_it_reads_a_bounded_amount_of_any_large_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, builder: str
) -> None:
    path = tmp_path / "big"
    with path.open("wb") as fh:
        if builder == "zip":
            fh.write(torch_zip())
        elif builder == "json":
            fh.write(b'["' + b"a" * (3 << 20) + b'"]')
        fh.truncate(max(fh.tell(), 256 << 20))
    counted = CountingOpen()
    monkeypatch.setattr(sniff, "open", counted, raising=False)
    identify(path, max_read=256 * 1024)
    assert counted.total <= 256 * 1024


# --- other model formats --------------------------------------------------------------------


def test_it_identifies_gguf(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "m.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    assert (found.format, found.detail) == ("gguf", "GGUF model (version 3, 0 tensors)")
    assert found.problem is None


def test_a_gguf_count_that_cannot_fit_in_the_file_is_a_problem(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "m.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 0))
    assert found.format == "gguf"
    assert found.problem is not None
    assert "cannot fit" in found.problem


@pytest.mark.parametrize("offset", [0, 512, 2048])
def test_it_finds_the_hdf5_signature_after_a_user_block(tmp_path: Path, offset: int) -> None:
    data = b"\x00" * offset + b"\x89HDF\r\n\x1a\n" + b"\x00" * 64
    found = sniffed(tmp_path, "m.h5", data)
    assert (found.format, found.evidence.endswith(f"byte {offset}")) == ("hdf5", True)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def length_delimited(field_number: int, payload: bytes) -> bytes:
    return varint(field_number << 3 | 2) + varint(len(payload)) + payload


def onnx_model(with_opset: bool = True) -> bytes:
    """A ModelProto by hand (onnx is not installed): ir_version, producer, graph, opset."""
    data = b"\x08" + varint(8) + length_delimited(2, b"exporter")
    data += length_delimited(7, length_delimited(2, b"main"))  # graph { name: "main" }
    if with_opset:
        data += length_delimited(8, length_delimited(1, b"") + b"\x10" + varint(17))
    return data


def test_it_identifies_an_onnx_model_from_its_protobuf_layout(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "model.bin", onnx_model())
    assert (found.format, found.family, found.unsafe) == ("onnx", Family.ONNX, False)
    assert "ir_version 8" in found.detail


def test_it_uses_the_onnx_extension_only_to_break_a_tie(tmp_path: Path) -> None:
    bare = b"\x08" + varint(7) + b"\x28" + varint(1)  # ir_version and model_version only
    assert sniffed(tmp_path, "model.onnx", bare).format == "onnx"
    assert sniffed(tmp_path, "model.data", bare).format == "unknown"


def test_it_identifies_tflite(tmp_path: Path) -> None:
    assert sniffed(tmp_path, "m.tflite", tflite_model()).format == "tflite"


@pytest.mark.parametrize(
    "data",
    [
        b"S'xyTFL3'\n0cmymodule\nThing\n.",  # a text pickle: the "root offset" is far past the end
        b"\x1c\x00\x00\x00TFL3" + b"\x00" * 32,  # a root table whose vtable has no size
        b"\x1e\x00\x00\x00TFL3" + b"\x00" * 32,  # a root offset that is not 4-aligned
        b"\x04\x00\x00\x00TFL3" + b"\x00" * 32,  # a root inside the header
    ],
    ids=["text-pickle", "empty-vtable", "unaligned-root", "root-in-header"],
)
def test_tfl3_at_byte_4_alone_is_not_tflite(tmp_path: Path, data: bytes) -> None:
    assert sniffed(tmp_path, "m.tflite", data).format != "tflite"


def test_it_recognises_7z_and_tar(tmp_path: Path) -> None:
    assert sniffed(tmp_path, "a.7z", b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24).format == "7z"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        add_tar_member(archive, "notes.txt", b"hello")
    found = sniffed(tmp_path, "a.tar", buffer.getvalue())
    assert (found.format, found.family, found.unsafe) == ("tar", Family.TAR, False)


def add_tar_member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def test_it_identifies_a_legacy_torch_tar_checkpoint(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        add_tar_member(archive, "sys_info", pickle.dumps({"little_endian": True}, protocol=2))
        add_tar_member(archive, "pickle", pickle.dumps(PLAIN_DATA, protocol=2))
        add_tar_member(archive, "tensors", pickle.dumps(0, protocol=2))
        add_tar_member(archive, "storages", pickle.dumps(0, protocol=2))
    found = sniffed(tmp_path, "model.pt", buffer.getvalue())
    assert (found.format, found.family, found.unsafe) == ("pytorch-tar", Family.TAR, True)
    assert "member pickle starts with 80 02" in found.evidence


# --- executables, scripts and text ----------------------------------------------------------


def pe_head() -> bytes:
    head = bytearray(b"MZ" + b"\x00" * 0x3E)
    head[0x3C:0x40] = struct.pack("<I", 0x80)
    return bytes(head) + b"\x00" * (0x80 - 0x40) + b"PE\x00\x00" + b"\x00" * 64


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 57, "elf"),
        (pe_head(), "pe"),
        (b"\xcf\xfa\xed\xfe" + b"\x00" * 28, "mach-o"),
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + b"\x00" * 40, "mach-o"),
        (b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + b"\x00" * 40, "java-class"),
        (b"#!/usr/bin/env python3\nimport os\n", "shebang-script"),
    ],
)
def test_it_marks_executables_and_scripts_unsafe(tmp_path: Path, data: bytes, fmt: str) -> None:
    found = sniffed(tmp_path, "model.bin", data)
    assert (found.format, found.unsafe) == (fmt, True)
    assert found.family in (Family.EXECUTABLE, Family.SCRIPT)


def test_it_does_not_call_text_starting_with_mz_an_executable(tmp_path: Path) -> None:
    assert sniffed(tmp_path, "a.txt", b"MZ is a postcode prefix\n" * 4).format == "text"


def test_it_identifies_json_and_large_json(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "config.json", b'\xef\xbb\xbf  {"hidden_size": 768}\n')
    assert (found.format, found.family) == ("json", Family.JSON)
    big = b'{"vocab": "' + b"x" * (2 << 20) + b'"}'  # larger than the default read budget
    assert sniffed(tmp_path, "tokenizer.json", big).format == "json"


def test_it_reports_broken_json_as_text(tmp_path: Path) -> None:
    assert sniffed(tmp_path, "a.txt", b'{"a": 1,,}\n').format == "text"


def test_it_recognises_a_git_lfs_pointer_in_place_of_a_model(tmp_path: Path) -> None:
    pointer = (
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 1234\n"
    )
    found = sniffed(tmp_path, "model.safetensors", pointer)
    assert found.format == "git-lfs-pointer"
    assert found.extension_mismatch == (
        "extension .safetensors but content is a Git LFS pointer (text)"
    )


def test_it_identifies_empty_and_random_files(tmp_path: Path) -> None:
    assert sniffed(tmp_path, "empty.bin", b"").format == "empty"
    random = bytes((i * 7919 + 13) % 251 + 2 for i in range(4096))
    found = sniffed(tmp_path, "noise.bin", b"\x01\x00" + random)
    assert (found.format, found.family, found.unsafe) == ("unknown", Family.UNKNOWN, False)
    assert found.extension_mismatch is None


def test_it_survives_truncated_and_garbage_headers(tmp_path: Path) -> None:
    samples = [
        b"\x80\x02",
        b"\x80\x09garbage",
        b"\x93NUMPY\x01\x00\xff\xff{",
        b"\x93NUMPY\x01\x00\x10\x00{'descr': os.system}",
        b"PK\x05\x06" + b"\xff" * 18,
        b"\x1f\x8b\x08" + b"\x00" * 7 + b"garbage",
        b"BZh91AY&SY" + b"\x00" * 20,
        b"\x04\x22\x4d\x18\x60\x70\x00" + struct.pack("<I", 8) + b"\x00\x05\x00\x00",
        struct.pack("<Q", 1 << 60) + b"{",
    ]
    for index, data in enumerate(samples):
        found = sniffed(tmp_path, f"s{index}", data)
        assert isinstance(found, Identification)


def test_it_does_not_read_fifos(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    found = identify(fifo)
    assert (found.format, found.detail) == ("unknown", "not a regular file, so it was not read")


def test_it_raises_oserror_for_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="missing"):
        identify(tmp_path / "missing")


# --- extension mismatch ---------------------------------------------------------------------


def test_it_flags_a_pickle_renamed_to_safetensors(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "model.safetensors", pickle.dumps(PLAIN_DATA, protocol=4))
    assert found.format == "pickle"
    assert found.extension_mismatch == (
        "extension .safetensors but content is a pickle (protocol 4)"
    )


def test_it_flags_a_torch_zip_named_safetensors(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "model.safetensors", torch_zip())
    assert found.extension_mismatch == (
        "extension .safetensors but content is a PyTorch zip checkpoint (pickle)"
    )


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "model.ckpt", "model.pkl"])
def test_it_accepts_the_extensions_torch_checkpoints_use(tmp_path: Path, name: str) -> None:
    assert sniffed(tmp_path, name, torch_zip()).extension_mismatch is None


def test_it_does_not_flag_an_unknown_extension(tmp_path: Path) -> None:
    assert sniffed(tmp_path, "weights.dat", pickle.dumps(1)).extension_mismatch is None


def test_identification_serialises_to_builtins(tmp_path: Path) -> None:
    found = sniffed(tmp_path, "model.safetensors", pickle.dumps(1))
    data = found.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["family"] == "pickle"


def test_random_bytes_are_almost_never_taken_for_a_pickle_or_safetensors() -> None:
    rng = random.Random(1234)
    formats = [
        identify_bytes(bytes(rng.getrandbits(8) for _ in range(512)), "w.bin").format
        for _ in range(3000)
    ]
    # PROTO 2-5 plus one valid opcode is accepted by design (about 1 in 30,000 random files).
    assert formats.count("safetensors") == 0
    assert formats.count("pickle") <= 1


def test_text_that_only_opens_like_an_lfs_pointer_is_text(tmp_path: Path) -> None:
    pointer = (
        b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 12\n"
    )
    payload = pointer + b"---\ncallback: !!python/object/apply:os.system [id]\n"
    assert sniffed(tmp_path, "hparams.yaml", pointer).format == "git-lfs-pointer"
    assert sniffed(tmp_path, "hparams.yaml", payload).format == "text"
