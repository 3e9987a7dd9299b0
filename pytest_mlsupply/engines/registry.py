"""Which engine scans which format: one line per format.

Entries are ``"module:function"`` strings, imported on first use, so a session that never
meets an ONNX file never imports the ONNX engine. A format with no entry has nothing to
analyse beyond identification (plain text, for example); the ``format`` check still reports it.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from pytest_mlsupply.engines.scanner import Scanner

_F = "pytest_mlsupply.engines.formats"

SCANNERS: dict[str, str] = {
    # pickle family and the containers that carry pickles
    "pickle": f"{_F}.pickles:scan_pickle_file",
    "joblib": f"{_F}.pickles:scan_pickle_file",
    "pytorch-legacy": f"{_F}.pickles:scan_pickle_file",
    "pytorch-zip": f"{_F}.torch:scan_torch_zip",
    "torchscript": f"{_F}.torch:scan_torch_zip",
    "pytorch-tar": f"{_F}.torch:scan_torch_tar",
    "numpy-npy": f"{_F}.numpy:scan_npy",
    "numpy-npz": f"{_F}.numpy:scan_npz",
    "gzip": f"{_F}.compressed:scan_compressed",
    "bz2": f"{_F}.compressed:scan_compressed",
    "xz": f"{_F}.compressed:scan_compressed",
    "lzma": f"{_F}.compressed:scan_compressed",
    "zlib": f"{_F}.compressed:scan_compressed",
    "lz4": f"{_F}.compressed:scan_compressed",
    "zstd": f"{_F}.compressed:scan_zstd",
    # generic archives
    "zip": f"{_F}.archives:scan_zip",
    "tar": f"{_F}.archives:scan_tar",
    "7z": f"{_F}.archives:scan_7z",
    # tensor and model formats
    "safetensors": f"{_F}.safetensors:scan_safetensors",
    "gguf": f"{_F}.gguf:scan_gguf",
    "onnx": f"{_F}.onnx:scan_onnx",
    "keras-v3": f"{_F}.keras:scan_keras_archive",
    "hdf5": f"{_F}.keras:scan_hdf5",
    # Hugging Face repository files: JSON configs and tokenizers, Python code, templates
    "json": f"{_F}.hf_json:scan_json",
    "text": f"{_F}.text:scan_text",
    "shebang-script": f"{_F}.code:scan_script",
    # content nothing identified: the pickle machine still checks what pickle.load would run
    "unknown": f"{_F}.pickles:scan_unknown",
}


@cache
def scanner_for(format_name: str) -> Scanner | None:
    target = SCANNERS.get(format_name)
    if target is None:
        return None
    module_name, _, function = target.partition(":")
    module = importlib.import_module(module_name)
    return cast("Scanner", getattr(module, function))
