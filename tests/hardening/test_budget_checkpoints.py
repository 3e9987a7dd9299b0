"""policy.limits.scan_seconds is checked inside every engine loop that grows with its input.

Each input below is a legitimate-looking file of its format, large enough that its engine's
loop runs thousands of steps: an ONNX model of many nodes, a tokenizer of a large vocabulary, a
Python file of many statements... Scanned with ``scan_seconds=0``, the guard reads the clock at
its 64th check and stops at once, so the assertion is deterministic: the time finding says
"scan stopped after" (a checkpoint inside the loop fired), not "scan took" (only the end of the
scan noticed, after the loop had run to its end). Under the default limits the same file scans
without any budget finding: the checkpoints do not misfire.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_mlsupply.engines.budget import ScanLimits
from pytest_mlsupply.engines.scanner import ScanPolicy, ScanReport, scan_file
from tests.corpus import savedmodel
from tests.corpus.onnx_keras import onnx_graph, onnx_model, onnx_node


def onnx_of_many_nodes(directory: Path) -> Path:
    nodes = [onnx_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=f"relu_{i}") for i in range(5000)]
    path = directory / "model.onnx"
    path.write_bytes(onnx_model(onnx_graph(nodes)))
    return path


def saved_model_of_many_nodes(directory: Path) -> Path:
    nodes = [savedmodel.node(f"relu_{i}", "Relu", f"relu_{i - 1}") for i in range(5000)]
    path = directory / "saved_model.pb"
    path.write_bytes(savedmodel.saved_model(nodes))
    return path


def safetensors_of_many_tensors(directory: Path) -> Path:
    import numpy
    from safetensors.numpy import save_file

    path = directory / "model.safetensors"
    tensors = {f"layers.{i}.weight": numpy.zeros((2,), dtype=numpy.float32) for i in range(2000)}
    save_file(tensors, str(path))
    return path


def tokenizer_of_a_large_vocabulary(directory: Path) -> Path:
    vocab = {f"tok{i}": i for i in range(50_000)}
    document = {
        "version": "1.0",
        "added_tokens": [
            {"id": 50_000 + i, "content": f"<extra_{i}>", "special": True} for i in range(500)
        ],
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "tok0"},
    }
    path = directory / "tokenizer.json"
    path.write_text(json.dumps(document))
    return path


def python_of_many_statements(directory: Path) -> Path:
    lines = ["import math", ""] + [f"value_{i} = math.sqrt({i}) + {i}" for i in range(5000)]
    path = directory / "helpers.py"
    path.write_text("\n".join(lines) + "\n")
    return path


def shell_script_of_many_lines(directory: Path) -> Path:
    path = directory / "prepare.sh"
    path.write_text("#!/bin/sh\n" + "".join(f"echo step {i}\n" for i in range(20_000)))
    return path


def npy_of_many_fields(directory: Path) -> Path:
    import numpy

    path = directory / "record.npy"
    with warnings.catch_warnings():  # a header past 64 KiB: numpy says it writes format 2.0
        warnings.simplefilter("ignore", UserWarning)
        numpy.save(path, numpy.zeros(1, dtype=[(f"f{i}", "<f4") for i in range(20_000)]))
    return path


def seven_zip_of_many_members(directory: Path) -> Path:
    import py7zr

    path = directory / "bundle.7z"
    with py7zr.SevenZipFile(path, "w") as archive:
        for i in range(300):
            archive.writestr(f"line {i}\n", f"notes/{i}.txt")
    return path


def _keras_config(layers: int) -> dict[str, object]:
    return {
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "Dense",
                    "config": {"name": f"dense_{i}", "units": 4, "activation": "relu"},
                    "registered_name": None,
                }
                for i in range(layers)
            ],
        },
    }


def keras_archive_of_many_layers(directory: Path) -> Path:
    path = directory / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.3.3"}))
        archive.writestr("config.json", json.dumps(_keras_config(5000)))
        archive.writestr("model.weights.h5", b"")
    return path


def hdf5_of_many_layers(directory: Path) -> Path:
    import h5py

    path = directory / "model.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs["keras_version"] = "2.15.0"
        handle.attrs["model_config"] = json.dumps(_keras_config(5000))
        weights = handle.create_group("model_weights")
        for i in range(50):
            weights.create_dataset(f"dense_{i}", data=[0.0] * 4)
    return path


LARGE_INPUTS: dict[str, Callable[[Path], Path]] = {
    "onnx": onnx_of_many_nodes,
    "savedmodel": saved_model_of_many_nodes,
    "safetensors": safetensors_of_many_tensors,
    "tokenizer-json": tokenizer_of_a_large_vocabulary,
    "python": python_of_many_statements,
    "shell": shell_script_of_many_lines,
    "npy": npy_of_many_fields,
    "7z": seven_zip_of_many_members,
    "keras": keras_archive_of_many_layers,
    "hdf5": hdf5_of_many_layers,
}


def scan(path: Path, limits: ScanLimits) -> ScanReport:
    return scan_file(path, path.name, ScanPolicy(limits=limits))


@pytest.mark.parametrize("build", LARGE_INPUTS.values(), ids=LARGE_INPUTS.keys())
def test_a_large_input_is_stopped_by_a_checkpoint_inside_its_engine_loop(
    build: Callable[[Path], Path], tmp_path: Path
) -> None:
    report = scan(build(tmp_path), ScanLimits(scan_seconds=0))
    [finding] = [f for f in report.findings if f.rule == "MLS-LIM-001"]
    assert finding.evidence.startswith("scan stopped after "), finding.evidence
    assert any("policy.limits.scan_seconds is 0" in error for error in report.errors)


@pytest.mark.parametrize("build", LARGE_INPUTS.values(), ids=LARGE_INPUTS.keys())
def test_the_same_input_scans_to_its_end_under_the_default_limits(
    build: Callable[[Path], Path], tmp_path: Path
) -> None:
    report = scan(build(tmp_path), ScanLimits())
    assert not [f for f in report.findings if f.rule.startswith("MLS-LIM")]
    assert not [e for e in report.errors if "policy.limits" in e]
    assert report.formats  # identified as its format, not passed over
