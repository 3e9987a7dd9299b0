"""diffusers ``model_index.json``: which library and class each pipeline component loads from.

``DiffusionPipeline.from_pretrained`` reads ``model_index.json`` and, for every component
``"unet": ["diffusers", "UNet2DConditionModel"]``, resolves the library: a pipeline module of
diffusers itself (``stable_diffusion``), else a file ``<component>/<library>.py`` in the
repository (a custom component, imported as remote code), else ``importlib.import_module`` of
whatever the name says. ``_class_name`` given as ``[module, class]`` makes it import a custom
pipeline from ``<module>.py``. Names are joined into file paths, so one that is not a plain
identifier can reach files elsewhere.

Libraries diffusers loads from installed packages (``LOADABLE_CLASSES`` in diffusers'
``pipeline_loading_utils.py``: ``diffusers``, ``transformers``, ``onnxruntime.training``; and
the pipeline modules under ``diffusers.pipelines`` that its own exports name) are not reported
— unless the repository holds ``<component>/<library>.py`` (``unet/diffusers.py``): diffusers
looks for that file before it imports any library that is not one of its pipeline modules.

Rules: MLS-CFG-007..009 (see ``docs/checks-hf.md``).
"""

from __future__ import annotations

import re
from typing import Any

from pytest_mlsupply.engines.blob import Blob, present
from pytest_mlsupply.results import Finding, Severity

__all__ = ["INSTALLED_LIBRARIES", "model_index_findings"]

#: Libraries whose classes diffusers imports from installed packages.
INSTALLED_LIBRARIES = frozenset({"diffusers", "transformers", "onnxruntime.training"})

#: Pipeline modules of ``diffusers.pipelines`` that diffusers' own exports name as a library
#: (``"safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"]``).
PIPELINE_MODULES = frozenset(
    {"stable_diffusion", "stable_diffusion_xl", "stable_diffusion_safe", "stable_diffusion_3",
     "alt_diffusion", "deepfloyd_if", "kandinsky", "kandinsky2_2", "kandinsky3",
     "latent_diffusion", "paint_by_example", "pixart_alpha", "wuerstchen", "stable_cascade",
     "versatile_diffusion", "unidiffuser", "audioldm2", "shap_e", "blip_diffusion",
     "controlnet", "deprecated", "musicldm", "stable_video_diffusion", "i2vgen_xl",
     "text_to_video_synthesis", "flux", "stable_audio", "t2i_adapter", "ledits_pp",
     "semantic_stable_diffusion", "aura_flow", "hunyuandit", "lumina", "kolors", "pag"}
)  # fmt: skip

#: ``_resolve_custom_pipeline_and_cls`` looks for ``f"{custom_pipeline}.py"`` in the pipeline
#: folder even when the caller passed no ``custom_pipeline``: ``None.py``.
NONE_PIPELINE = "None.py"

_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_EVIDENCE = 200


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= _MAX_EVIDENCE else shown[:_MAX_EVIDENCE] + "..."


def is_model_index(blob: Blob, document: dict[str, Any]) -> bool:
    """``model_index.json`` (or a modular pipeline's ``modular_model_index.json``) by name, or
    any JSON that carries diffusers' version key."""
    return (
        blob.name.lower() in ("model_index.json", "modular_model_index.json")
        or "_diffusers_version" in document
    )


def _file_note(blob: Blob, relative: str) -> str:
    present = blob.beside(relative)
    if present is None:
        return "analysed on its own item when it is part of the scanned files"
    if present:
        return "present in this repository, analysed by the code scanner"
    return "not found next to model_index.json: fetched from the hub when loaded"


def model_index_findings(blob: Blob, document: dict[str, Any]) -> list[Finding]:
    """Findings for a diffusers ``model_index.json`` (nothing for any other JSON)."""
    if not is_model_index(blob, document):
        return []
    findings: list[Finding] = []
    if _shadowed(blob, NONE_PIPELINE):
        findings.append(_none_pipeline(blob))
    class_name = document.get("_class_name")
    if isinstance(class_name, list):
        findings.extend(_custom_pipeline(blob, class_name))
    elif class_name is not None and not (
        isinstance(class_name, str) and _IDENTIFIER.match(class_name)
    ):
        findings.append(_odd_name(blob, "_class_name", f"_class_name {_show(class_name)}"))
    # Every pair, duplicates included: diffusers reads the last, another tool may read the first.
    pairs = getattr(document, "all_pairs", None) or list(document.items())
    for component, value in pairs:
        for path, (library, cls) in _library_class_pairs(component, value):
            findings.extend(_component_findings(blob, component, path, library, cls))
    return findings


def _library_class_pairs(component: str, value: Any) -> list[tuple[str, tuple[Any, Any]]]:
    """(key path, (library, class)) of a component entry: ``[library, class]``, or a modular
    pipeline's ``[library, class, {"type_hint": [library, class], "repo": ...}]`` whose spec
    names the class ``ComponentSpec.load`` imports too."""
    if component.startswith("_") or not isinstance(value, list):
        return []
    if len(value) == 2:
        return [(component, (value[0], value[1]))]
    if len(value) != 3 or not isinstance(value[2], dict):
        return []
    pairs = [(component, (value[0], value[1]))]
    hint = value[2].get("type_hint")
    if isinstance(hint, list) and len(hint) == 2:
        pairs.append((f"{component}[2].type_hint", (hint[0], hint[1])))
    return pairs


def _component_findings(
    blob: Blob, component: str, path: str, library: Any, cls: Any
) -> list[Finding]:
    findings: list[Finding] = []
    if library is None and cls is None:
        return findings  # an optional component left out
    if not _IDENTIFIER.match(component):
        findings.append(
            _odd_name(blob, path, f"component {_show(component)} names the subfolder it loads")
        )
    if not isinstance(library, str) or not _DOTTED.match(library):
        findings.append(_odd_name(blob, path, f"library {_show(library)}"))
        return findings
    if not isinstance(cls, str) or not _IDENTIFIER.match(cls):
        findings.append(_odd_name(blob, path, f"class {_show(cls)}"))
    # diffusers looks for <component>/<library>.py (the name as written, dots kept) before
    # it imports an installed library: only a diffusers pipeline module is resolved first.
    module_file = f"{component}/{library}.py"
    if library in INSTALLED_LIBRARIES or library in PIPELINE_MODULES:
        if _shadowed(blob, module_file):
            findings.append(_shadowing(blob, path, component, library, cls, module_file))
        return findings
    findings.append(
        Finding(
            rule="MLS-CFG-007",
            severity=Severity.HIGH,
            category="remote-code",
            title="diffusers component loads a module from outside diffusers and transformers",
            location=blob.location(key_path=path),
            evidence=f"{component}: [{library!r}, {cls!r}]; diffusers imports {module_file} "
            f"({_file_note(blob, module_file)}) or, without it, the installed module {library}",
            why="DiffusionPipeline.from_pretrained resolves a library that is not diffusers, "
            "transformers or a diffusers pipeline module as a custom component file in the "
            "repository (remote code) or an arbitrary installed module, and instantiates the "
            "class it names",
            remediation="use components from diffusers and transformers, or review the "
            "component's code and pin the repository revision",
            cwe="CWE-829",
        )
    )
    return findings


def _shadowed(blob: Blob, relative: str) -> bool:
    """Whether a file (or a link, which diffusers follows) named ``relative`` sits beside the
    index: diffusers then imports it instead of the installed library of that name."""
    folder = blob.folder()
    if folder is None:
        return False
    return present(folder / relative, links=True)


def _shadowing(
    blob: Blob, path: str, component: str, library: str, cls: Any, module_file: str
) -> Finding:
    return Finding(
        rule="MLS-CFG-007",
        severity=Severity.HIGH,
        category="remote-code",
        title=f"diffusers component {component} loads {module_file} instead of {library}",
        location=blob.location(key_path=path),
        evidence=f"{component}: [{library!r}, {cls!r}]; {module_file} is in the repository, and "
        "diffusers imports a component's <library>.py file before the installed library",
        why="DiffusionPipeline.from_pretrained resolves a library that is not a diffusers "
        "pipeline module by looking for <component>/<library>.py first (get_class_obj_and_"
        "candidates): a file named after diffusers or transformers is imported as remote code",
        remediation="remove the file, or review its code and pin the repository revision",
        cwe="CWE-829",
    )


def _none_pipeline(blob: Blob) -> Finding:
    return Finding(
        rule="MLS-CFG-008",
        severity=Severity.HIGH,
        category="remote-code",
        title="a None.py beside model_index.json is loaded by diffusers as a custom pipeline",
        location=blob.location(key_path="_class_name"),
        evidence=f"{NONE_PIPELINE} is in the repository next to model_index.json",
        why="DiffusionPipeline.from_pretrained checks for os.path.join(folder, "
        "f'{custom_pipeline}.py') with custom_pipeline left at None, so a file named None.py "
        "becomes the custom pipeline and is imported from a local folder, no "
        "trust_remote_code asked",
        remediation="remove None.py, or review it and pin the repository revision",
        cwe="CWE-829",
    )


def _custom_pipeline(blob: Blob, value: list[Any]) -> list[Finding]:
    module = value[0] if value else None
    shown = f"_class_name {_show(value)}"
    if not isinstance(module, str) or not _DOTTED.match(module):
        return [_odd_name(blob, "_class_name", shown)]
    module_file = f"{module.replace('.', '/')}.py"
    return [
        Finding(
            rule="MLS-CFG-008",
            severity=Severity.HIGH,
            category="remote-code",
            title="model_index.json makes diffusers load a custom pipeline",
            location=blob.location(key_path="_class_name"),
            evidence=f"{shown}: the pipeline class comes from {module_file} "
            f"({_file_note(blob, module_file)})",
            why="a [module, class] _class_name makes DiffusionPipeline.from_pretrained import the "
            "pipeline's code from the repository: arbitrary Python, run on load",
            remediation="use a pipeline class built into diffusers, or review the module and pin "
            "the repository revision",
            cwe="CWE-829",
        )
    ]


def _odd_name(blob: Blob, path: str, what: str) -> Finding:
    return Finding(
        rule="MLS-CFG-009",
        severity=Severity.HIGH,
        category="remote-code",
        title="model_index.json names a library, class or component that is not a plain name",
        location=blob.location(key_path=path),
        evidence=what,
        why="diffusers joins these names into file paths (<component>/<library>.py) and import "
        "names: separators, '..' or other characters reach files and modules outside the "
        "pipeline's own folders",
        remediation="use plain identifiers, as diffusers' own exports write them",
        cwe="CWE-829",
    )
