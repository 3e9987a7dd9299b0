"""The scan check on a file named as weights whose content nothing recognises: an error naming
the file, the format its name promises and what was found, never a clean scan (no engine read
those bytes, whatever ``fail_on`` says)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import pytest

from pytest_mlsupply.results import Severity, Verdict

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline


def safetensors_claiming(length: int) -> bytes:
    """An 8-byte header length (safetensors' first field), then a JSON-looking header."""
    return struct.pack("<Q", length) + b'{"w": {"dtype": "F32", "shape": [1]}}' + b"\0" * 64


@pytest.mark.parametrize("length", [0, 1 << 40, 1 << 63, (1 << 64) - 1])
def test_a_safetensors_file_whose_header_length_is_absurd_is_a_scan_error_naming_the_claim(
    pipeline: Pipeline, length: int
) -> None:
    (pipeline.model_dir / "model.safetensors").write_bytes(safetensors_claiming(length))

    result = pipeline.result("artifact[tiny/model.safetensors::scan]")

    assert result.error is not None
    assert result.error.startswith("tiny/model.safetensors: named .safetensors")
    assert "(safetensors file, for" in result.error  # what the name promises
    assert "unrecognised data" in result.error  # what was found
    assert struct.pack("<Q", length)[:8].hex(" ") in result.error  # the bytes it was found in
    assert result.verdict(Severity.CRITICAL) is Verdict.ERROR


@pytest.mark.parametrize(
    ("name", "content", "promised"),
    [
        ("model.gguf", b"GGUX" + b"\x01" * 60, "(GGUF model, for"),
        ("model.onnx", b"\xff" * 64, "(ONNX model, for"),
        ("model.pt", b"\xff not a checkpoint" * 4, "torch.load"),
        ("model.h5", b"\x89HDX" * 30, "(HDF5 file, for"),
        ("model.keras", b"\xff" * 64, "(Keras v3 archive"),
        ("array.npy", b"\x93NUMPX" * 20, "(NumPy array, for"),
        ("arrays.npz", b"\xff" * 64, "(NumPy .npz archive"),
    ],
    ids=lambda value: value if isinstance(value, str) and "." in value else "",
)
def test_any_weights_extension_with_unrecognised_content_is_a_scan_error(
    pipeline: Pipeline, name: str, content: bytes, promised: str
) -> None:
    (pipeline.model_dir / name).write_bytes(content)

    result = pipeline.result(f"artifact[tiny/{name}::scan]")

    assert result.error is not None
    assert f"tiny/{name}: named {name[name.rindex('.') :]}" in result.error
    assert promised in result.error
    assert "unrecognised data" in result.error


@pytest.mark.parametrize("name", ["model.bin", "flax_model.msgpack", "notes.dat"])
def test_unrecognised_content_under_a_name_that_claims_no_single_format_scans_clean(
    pipeline: Pipeline, name: str
) -> None:
    # fastText, GGML and word2vec binaries are .bin files nothing recognises; the pickle probe
    # still reads them as torch.load would.
    (pipeline.model_dir / name).write_bytes(b"\xba\x16\x4f\x2f" + bytes(range(256)))

    result = pipeline.result(f"artifact[tiny/{name}::scan]")

    assert (result.error, result.findings) == (None, [])


def test_real_safetensors_weights_scan_clean(pipeline: Pipeline) -> None:
    result = pipeline.result("artifact[tiny/model.safetensors::scan]")

    assert (result.error, result.findings) == (None, [])
