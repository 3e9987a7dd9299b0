"""Corpus: safetensors headers the library rejects or silently accepts, and GGUF metadata.

safetensors files are written byte by byte (the library's writer cannot produce malformed or
duplicate headers); benign ones also come from ``safetensors.numpy.save_file`` when numpy is
importable. GGUF files are written by :func:`gguf_bytes`, a minimal v3 writer.
"""

from __future__ import annotations

import base64
import json
import pickle
import struct
from pathlib import Path
from typing import Any

from tests.corpus import Sample
from tests.corpus.templates import CHATML, ESCAPES, LLAMA3, QWEN25

# --- safetensors ----------------------------------------------------------------------------


def safetensors_bytes(header: bytes | dict[str, Any], data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def _tensor(dtype: str, shape: list[int], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


class _Payload:
    """``pickle.loads`` of this runs ``exec``: the canary is created, nothing else."""

    def __init__(self, canary: Path) -> None:
        self.canary = str(canary)

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.canary!r}, 'w').close()",))


def _write(directory: Path, name: str, content: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(content)
    return path


def _st_duplicate_key(directory: Path, canary: Path) -> Path:
    # The loader keeps the second "classifier.weight": a reviewer diffing the first sees zeros.
    header = (
        b'{"classifier.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
        b'"classifier.weight":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}'
    )
    return _write(directory, "model.safetensors", safetensors_bytes(header, bytes(16)))


def _st_bad_offsets(directory: Path, canary: Path) -> Path:
    header = {"a": _tensor("F32", [2], 0, 8), "b": _tensor("F32", [2], 4, 12)}
    return _write(directory, "model.safetensors", safetensors_bytes(header, bytes(12)))


def _st_header_past_eof(directory: Path, canary: Path) -> Path:
    header = json.dumps({"a": _tensor("F32", [2], 0, 8)}).encode()
    content = struct.pack("<Q", len(header) + 4096) + header + bytes(8)
    return _write(directory, "model.safetensors", content)


def _st_pickle_metadata(directory: Path, canary: Path) -> Path:
    blob = base64.b64encode(pickle.dumps(_Payload(canary), protocol=4)).decode()
    header = {"__metadata__": {"format": "pt", "optimizer": blob}, "w": _tensor("F32", [1], 0, 4)}
    return _write(directory, "model.safetensors", safetensors_bytes(header, bytes(4)))


def _st_trailing_bytes(directory: Path, canary: Path) -> Path:
    header = {"w": _tensor("F32", [1], 0, 4)}
    trailer = pickle.dumps(_Payload(canary), protocol=2)
    return _write(directory, "model.safetensors", safetensors_bytes(header, bytes(4) + trailer))


def _st_size_mismatch(directory: Path, canary: Path) -> Path:
    header = {"w": _tensor("F32", [4], 0, 8)}
    return _write(directory, "model.safetensors", safetensors_bytes(header, bytes(8)))


def _st_zero_length(directory: Path, canary: Path) -> Path:
    header = {
        "empty": _tensor("F32", [0], 0, 0),
        "empty_2d": _tensor("F16", [3, 0], 0, 0),
        "w": _tensor("F32", [2], 0, 8),
    }
    return _write(directory, "model.safetensors", safetensors_bytes(header, bytes(8)))


def _st_padded(directory: Path, canary: Path) -> Path:
    raw = json.dumps({"__metadata__": {"format": "pt"}, "w": _tensor("BF16", [4], 0, 8)})
    padded = raw.encode() + b" " * (8 - (len(raw) + 8) % 8 + 8)
    return _write(directory, "model.safetensors", safetensors_bytes(padded, bytes(8)))


def _st_library_written(directory: Path, canary: Path) -> Path:
    import numpy as np
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.safetensors"
    tensors = {
        "embeddings.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
        "bias": np.zeros(0, dtype=np.float16),
        "ids": np.arange(5, dtype=np.int64),
    }
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path


# --- GGUF -----------------------------------------------------------------------------------

GGUF_UINT32 = 4
GGUF_STRING = 8
GGUF_ARRAY = 9
GGUF_FLOAT32 = 6


def _gguf_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _gguf_value(kind: int, value: Any) -> bytes:
    if kind == GGUF_STRING:
        return _gguf_string(value)
    if kind == GGUF_UINT32:
        return struct.pack("<I", value)
    if kind == GGUF_FLOAT32:
        return struct.pack("<f", value)
    if kind == GGUF_ARRAY:
        element, items = value
        return struct.pack("<IQ", element, len(items)) + b"".join(
            _gguf_value(element, item) for item in items
        )
    raise ValueError(kind)


def gguf_bytes(
    metadata: list[tuple[str, int, Any]], tensors: list[tuple[str, list[int]]] | None = None
) -> bytes:
    """A GGUF v3 file: the metadata pairs, F32 tensor infos, aligned zero data."""
    tensors = tensors or []
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, kind, value in metadata:
        out += _gguf_string(key) + struct.pack("<I", kind) + _gguf_value(kind, value)
    offset = 0
    for name, dims in tensors:
        count = 1
        for d in dims:
            count *= d
        out += _gguf_string(name) + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", 0, offset)  # ggml type 0 = F32
        offset += -(-4 * count // 32) * 32
    out += bytes(-len(out) % 32)
    return out + bytes(offset)


def _gguf_model(template: str) -> list[tuple[str, int, Any]]:
    return [
        ("general.architecture", GGUF_STRING, "llama"),
        ("general.name", GGUF_STRING, "tiny"),
        ("llama.context_length", GGUF_UINT32, 2048),
        ("tokenizer.ggml.model", GGUF_STRING, "gpt2"),
        ("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, ["<s>", "</s>", "hello", "world"])),
        ("tokenizer.ggml.scores", GGUF_ARRAY, (GGUF_FLOAT32, [0.0, 0.0, -1.0, -2.0])),
        ("tokenizer.chat_template", GGUF_STRING, template),
    ]


def _gguf_file(directory: Path, metadata: list[tuple[str, int, Any]]) -> Path:
    return _write(directory, "model.gguf", gguf_bytes(metadata, [("token_embd.weight", [4, 8])]))


def _gguf_escape(directory: Path, canary: Path) -> Path:
    escape = ESCAPES["cycler-init-globals-os-popen"].replace("CANARY", str(canary))
    return _gguf_file(directory, _gguf_model(CHATML + escape))


def _gguf_named_escape(directory: Path, canary: Path) -> Path:
    escape = ESCAPES["string-built-names"].replace("CANARY", str(canary))
    metadata = [*_gguf_model(LLAMA3), ("tokenizer.chat_template.tool_use", GGUF_STRING, escape)]
    return _gguf_file(directory, metadata)


def _gguf_length_past_eof(directory: Path, canary: Path) -> Path:
    content = gguf_bytes(_gguf_model(CHATML))
    # Point the first key's length far past the end: a parser that trusts it reads out of bounds.
    patched = content[:24] + struct.pack("<Q", 1 << 40) + content[32:]
    return _write(directory, "model.gguf", patched)


SAMPLES = [
    Sample(
        name="safetensors-duplicate-tensor-name",
        build=_st_duplicate_key,
        malicious=True,
        rules=("MLS-ST-002",),
        technique="duplicate key in the header: the last entry silently shadows the first",
    ),
    Sample(
        name="safetensors-overlapping-offsets",
        build=_st_bad_offsets,
        malicious=True,
        rules=("MLS-ST-001",),
        technique="overlapping data_offsets (two tensors alias the same bytes)",
    ),
    Sample(
        name="safetensors-header-length-past-eof",
        build=_st_header_past_eof,
        malicious=True,
        rules=("MLS-ST-001",),
        technique="header length field points past the end of the file",
    ),
    Sample(
        name="safetensors-pickle-in-metadata",
        build=_st_pickle_metadata,
        malicious=True,
        rules=("MLS-ST-004", "MLS-PKL-001", "MLS-PKL-002"),
        # No victim: no standard loader unpickles metadata; the payload waits for a tool that
        # does (optimizer-state round trips are the usual excuse).
        technique="base64 pickle (exec payload) stored in __metadata__",
    ),
    Sample(
        name="safetensors-pickle-after-tensor-data",
        build=_st_trailing_bytes,
        malicious=True,
        rules=("MLS-ST-001",),
        technique="a pickle appended after the tensor data (polyglot file)",
    ),
    Sample(
        name="safetensors-shape-size-mismatch",
        build=_st_size_mismatch,
        malicious=True,
        rules=("MLS-ST-001",),
        technique="shape promises more bytes than data_offsets give (out-of-bounds read)",
    ),
    Sample(
        name="gguf-chat-template-sandbox-escape",
        build=_gguf_escape,
        malicious=True,
        rules=("MLS-TPL-001",),
        technique="tokenizer.chat_template with cycler.__init__.__globals__.os.popen",
    ),
    Sample(
        name="gguf-named-chat-template-escape",
        build=_gguf_named_escape,
        malicious=True,
        rules=("MLS-TPL-001",),
        technique="escape in tokenizer.chat_template.tool_use behind a real Llama 3 default",
    ),
    Sample(
        name="gguf-key-length-past-eof",
        build=_gguf_length_past_eof,
        malicious=True,
        rules=("MLS-GGUF-001",),
        technique="metadata key length pointing 1 TiB past the end of the file",
    ),
    Sample(
        name="safetensors-zero-length-tensors",
        build=_st_zero_length,
        malicious=False,
        technique="zero-length tensors beside a real one",
    ),
    Sample(
        name="safetensors-whitespace-padded-header",
        build=_st_padded,
        malicious=False,
        technique="header padded with spaces to 8-byte alignment, metadata {'format': 'pt'}",
    ),
    Sample(
        name="safetensors-written-by-the-library",
        build=_st_library_written,
        malicious=False,
        technique="safetensors.numpy.save_file output with metadata and an empty tensor",
    ),
    Sample(
        name="gguf-real-llama3-template",
        build=lambda directory, canary: _gguf_file(directory, _gguf_model(LLAMA3)),
        malicious=False,
        technique="GGUF with Llama 3's chat template",
    ),
    Sample(
        name="gguf-real-qwen-template",
        build=lambda directory, canary: _gguf_file(directory, _gguf_model(QWEN25)),
        malicious=False,
        technique="GGUF with Qwen 2.5's chat template",
    ),
]
