"""diffusers ``model_index.json``: each component's library and class, and custom pipelines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.results import Finding, Severity
from tests.corpus.diffusers_index import STABLE_DIFFUSION, STABLE_DIFFUSION_XL


def scan_index(tmp_path: Path, index: Any, name: str = "model_index.json") -> list[Finding]:
    path = tmp_path / name
    path.write_text(json.dumps(index) if not isinstance(index, str) else index)
    report = scan_file(path, name)
    assert not report.errors, report.errors
    return report.findings


@pytest.mark.parametrize("index", [STABLE_DIFFUSION, STABLE_DIFFUSION_XL])
def test_real_stable_diffusion_indexes_scan_clean(tmp_path: Path, index: dict[str, Any]) -> None:
    assert scan_index(tmp_path, index) == []


def test_a_component_from_a_repository_file_is_high_and_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "my_unet.py").write_text("class MyUNet: ...\n")
    findings = scan_index(tmp_path, dict(STABLE_DIFFUSION, unet=["my_unet", "MyUNet"]))
    (hit,) = findings
    assert hit.rule == "MLS-CFG-007"
    assert hit.severity is Severity.HIGH
    assert "unet/my_unet.py" in hit.evidence
    assert "present in this repository" in hit.evidence
    assert hit.location.key_path == "unet"


def test_a_component_from_an_arbitrary_installed_module_is_reported(tmp_path: Path) -> None:
    findings = scan_index(tmp_path, dict(STABLE_DIFFUSION, scheduler=["subprocess", "Popen"]))
    assert [f.rule for f in findings] == ["MLS-CFG-007"]
    assert "not found next to model_index.json" in findings[0].evidence


def test_a_custom_pipeline_class_name_is_high(tmp_path: Path) -> None:
    findings = scan_index(tmp_path, dict(STABLE_DIFFUSION, _class_name=["my_pipe", "Pipe"]))
    (hit,) = findings
    assert hit.rule == "MLS-CFG-008"
    assert "my_pipe.py" in hit.evidence


@pytest.mark.parametrize(
    "change",
    [
        {"vae": ["../../evil", "Evil"]},
        {"vae": ["diffusers", "AutoencoderKL; import os"]},
        {"vae": [["diffusers"], "AutoencoderKL"]},
        {"../vae": ["diffusers", "AutoencoderKL"]},
        {"_class_name": "os.system"},
        {"_class_name": ["../x", "Pipe"]},
    ],
)
def test_a_name_that_is_not_a_plain_identifier_is_high(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    findings = scan_index(tmp_path, dict(STABLE_DIFFUSION, **change))
    assert "MLS-CFG-009" in {f.rule for f in findings}


def test_a_duplicate_component_key_is_judged_in_every_copy(tmp_path: Path) -> None:
    text = (
        json.dumps(STABLE_DIFFUSION)[:-1]
        + ', "unet": ["my_unet", "MyUNet"], "unet": ["diffusers", "UNet2DConditionModel"]}'
    )
    findings = scan_index(tmp_path, text)
    assert [f.rule for f in findings] == ["MLS-CFG-007"]


def test_a_renamed_index_is_recognised_by_its_diffusers_version_key(tmp_path: Path) -> None:
    findings = scan_index(
        tmp_path, dict(STABLE_DIFFUSION, unet=["my_unet", "MyUNet"]), "index.json"
    )
    assert [f.rule for f in findings] == ["MLS-CFG-007"]


def test_other_json_with_two_element_lists_is_not_a_model_index(tmp_path: Path) -> None:
    assert scan_index(tmp_path, {"pair": ["a", "b"], "range": [0, 1]}, "config.json") == []


@pytest.mark.parametrize(
    ("component", "library"), [("unet", "diffusers"), ("text_encoder", "transformers")]
)
def test_a_component_file_named_after_an_installed_library_is_high(
    tmp_path: Path, component: str, library: str
) -> None:
    (tmp_path / component).mkdir()
    (tmp_path / component / f"{library}.py").write_text("class Model: ...\n")
    (hit,) = scan_index(tmp_path, STABLE_DIFFUSION)
    assert hit.rule == "MLS-CFG-007"
    assert hit.severity is Severity.HIGH
    assert f"{component}/{library}.py" in hit.title
    assert hit.location.key_path == component


def test_a_dotted_custom_library_names_the_file_diffusers_looks_for(tmp_path: Path) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "my.unet.py").write_text("class U: ...\n")
    (hit,) = scan_index(tmp_path, dict(STABLE_DIFFUSION, unet=["my.unet", "U"]))
    assert "unet/my.unet.py (present in this repository" in hit.evidence


def _modular(library: str, cls: str, hint: list[str] | None = None) -> list[Any]:
    spec = {"repo": "stabilityai/stable-diffusion-xl-base-1.0", "subfolder": "unet",
            "type_hint": hint or [library, cls], "variant": None, "revision": None}  # fmt: skip
    return [library, cls, spec]


def test_a_modular_index_of_diffusers_components_scans_clean(tmp_path: Path) -> None:
    index = {"_class_name": "StableDiffusionXLModularPipeline", "_diffusers_version": "0.35.0",
             "unet": _modular("diffusers", "UNet2DConditionModel"),
             "text_encoder": _modular("transformers", "CLIPTextModel")}  # fmt: skip
    assert scan_index(tmp_path, index, "modular_model_index.json") == []


def test_a_modular_component_from_an_outside_library_is_high(tmp_path: Path) -> None:
    index = {"_diffusers_version": "0.35.0", "unet": _modular("my_unet", "MyUNet")}
    findings = scan_index(tmp_path, index, "modular_model_index.json")
    assert {(f.rule, f.location.key_path) for f in findings} == {
        ("MLS-CFG-007", "unet"),
        ("MLS-CFG-007", "unet[2].type_hint"),
    }


def test_a_modular_type_hint_is_judged_apart_from_the_pair_it_sits_beside(tmp_path: Path) -> None:
    entry = _modular("diffusers", "UNet2DConditionModel", hint=["subprocess", "Popen"])
    findings = scan_index(tmp_path, {"_diffusers_version": "0.35.0", "unet": entry})
    (hit,) = findings
    assert hit.rule == "MLS-CFG-007"
    assert hit.location.key_path == "unet[2].type_hint"


def test_a_none_py_beside_the_index_is_a_custom_pipeline(tmp_path: Path) -> None:
    (tmp_path / "None.py").write_text("class P: ...\n")
    (hit,) = scan_index(tmp_path, STABLE_DIFFUSION)
    assert hit.rule == "MLS-CFG-008"
    assert hit.severity is Severity.HIGH
    assert "None.py" in hit.evidence
