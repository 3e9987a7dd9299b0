"""What building and validating the ML-BOM costs for 1,000 components (issue 12, target (e)).

Run from the repository root::

    python benchmarks/bom_speed.py                  # 1,000 components, median of 5 runs
    python benchmarks/bom_speed.py --components 5000 --repeat 7

Prints the median seconds of each step, measured in this one process:

- ``build``: :func:`~pytest_mlsupply.reports.bom.build_bom` without its validation (the
  plugin assembles the CycloneDX JSON document itself, without cyclonedx-python-lib);
- ``validate_json``: the compiled jsonschema-rs validator on the built document;
- ``build_and_validate``: ``build_bom`` as the plugin calls it (the target: under 200 ms);
- ``library_build_and_validate``: the same BOM built and serialised by cyclonedx-python-lib
  (``library_built_json`` of ``tests/reports/library_reference.py``, the tests' reference and
  what ``build_bom`` did before: the baseline of ``build_and_validate``, checked equal to it
  first);
- ``validate_xml``: the XSD validation of the same BOM's XML form, and
  ``render_xml_and_validate``: ``render_bom_xml`` as the plugin calls it, and
  ``library_render_xml_and_validate``: its library-built baseline (the reference's
  ``library_built_xml``, checked equal to it byte for byte first);
- ``reference_validate_json``: cyclonedx-python-lib's ``JsonStrictValidator`` on the same
  document, the path ``build_bom`` used before (the baseline);
- ``first_validator_build`` and ``reference_first_build``: what the first validation in a process
  costs on top (import and compile; the reference's includes ``import jsonschema``'s IRI grammars),
  each timed inside a fresh interpreter that has already imported the BOM module;
- ``first_bom_in_process``: what a gate's session finish pays for its BOM, in a fresh
  interpreter with the inputs built: importing the BOM module, the first ``build_bom`` (the
  validator built) and ``render_bom_json``.

The other engineers' harness imports :func:`measure`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from pytest_mlsupply.manifest.model import Manifest, ModelDecl, OutputDecl, Policy, Span
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.results import CheckResult, RowKind, Severity
from pytest_mlsupply.sources.inventory import ArtifactFile, Dependency, Inventory, ResolvedModel

ROOT = Path(__file__).resolve().parent.parent
#: The tests' cyclonedx-python-lib reference, the baseline (loaded by path: tests/ is no package
#: of the distribution).
REFERENCE = ROOT / "tests" / "reports" / "library_reference.py"

_FIRST_BUILD = {
    "first_validator_build": (
        "from pytest_mlsupply.reports import bom_schema\nbom_schema.json_validator()"
    ),
    "reference_first_build": (
        "from cyclonedx.schema import SchemaVersion\n"
        "from cyclonedx.validation.json import JsonStrictValidator\n"
        "JsonStrictValidator(SchemaVersion.V1_6).validate_str('{}')"
    ),
}


def bom_inputs(
    root: Path, components: int
) -> tuple[Inventory, list[PlannedItem], list[CheckResult]]:
    """A project of one model and ``components - 2`` pinned libraries, every check passed.

    Its BOM has ``components`` components: the model, the model's one file and the libraries.
    """
    weights = root / "model" / "model.safetensors"
    weights.parent.mkdir(parents=True, exist_ok=True)
    weights.write_bytes(b"\0" * 64)
    span = Span(file=root / "mlsupply.yaml", line=1, column=1)
    model = ModelDecl(name="model", span=span, path=Path("model"), license="apache-2.0")
    manifest = Manifest(
        path=root / "mlsupply.yaml",
        version=1,
        policy=Policy(),
        output=OutputDecl(bom=root / "bom.json", matrix=root / "matrix"),
        project_name="bench",
        models=(model,),
    )
    artifact = ArtifactFile(model="model", relpath="model.safetensors", path=weights, size=64)
    dependencies = tuple(
        Dependency(
            f"package-{index}",
            f"package-{index}==1.{index}.0",
            f"requirements.txt:{index + 1}",
            f"1.{index}.0",
            hashes=(f"sha256:{index:064x}",),
        )
        for index in range(max(components - 2, 0))
    )
    inventory = Inventory(
        manifest=manifest,
        models=(ResolvedModel(decl=model, root=weights.parent, files=(artifact,)),),
        datasets=(),
        dependencies=dependencies,
    )
    A, D = RowKind.ARTIFACT, RowKind.DEPENDENCY
    items = [PlannedItem(A, "model/model.safetensors", ("format",))]
    results = [
        CheckResult(
            A, "model/model.safetensors", "format", facts={"sha256": "ab" * 32, "format": "st"}
        )
    ]
    for dependency in dependencies:
        items.append(PlannedItem(D, dependency.requirement, ("typosquat", "vulnerabilities")))
        results.append(CheckResult(D, dependency.requirement, "typosquat"))
        results.append(CheckResult(D, dependency.requirement, "vulnerabilities"))
    return inventory, items, results


def measure(
    components: int = 1000, repeat: int = 5, *, first_build: bool = True
) -> dict[str, float]:
    """Median seconds of each step (see the module docstring), plus ``components``.

    ``first_build=False`` leaves out the two fresh-interpreter figures (seconds each, for the
    reference).
    """
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    # Imported here, not at the top: first_bom_in_process times the import in a fresh process.
    from pytest_mlsupply.reports import bom, bom_schema

    library = _reference()
    with tempfile.TemporaryDirectory() as tmp:
        inventory, items, results = bom_inputs(Path(tmp), components)
        args = (inventory, items, results, Severity.HIGH)
        reference = JsonStrictValidator(SchemaVersion.V1_6)
        bom_schema.json_validator()
        bom_schema.xml_validator()
        document = bom.build_bom(*args)  # warm: the validators are built, the caches filled
        same = {"serial_number": UUID(int=1), "timestamp": datetime(2025, 1, 1, tzinfo=UTC)}
        assert bom.build_bom(*args, **same) == library.library_built_json(*args, **same), (
            "build_bom and the library-built reference disagree on the benchmark BOM"
        )
        text = json.dumps(document)
        assert reference.validate_str(text) is None, "the reference rejects the benchmark BOM"

        def reference_validate() -> Any:
            return reference.validate_str(json.dumps(document))

        xml_text = bom.render_bom_xml(*args, **same)
        assert xml_text == library.library_built_xml(*args, **same), (
            "render_bom_xml and the library-built reference disagree on the benchmark BOM"
        )

        original = bom.validate_bom_json
        bom.validate_bom_json = lambda document: None  # type: ignore[assignment]
        try:
            build = _median(lambda: bom.build_bom(*args), repeat)
        finally:
            bom.validate_bom_json = original
        figures = {
            "components": float(components),
            "build": build,
            "validate_json": _median(lambda: bom_schema.validate_json(document), repeat),
            "build_and_validate": _median(lambda: bom.build_bom(*args), repeat),
            "library_build_and_validate": _median(
                lambda: library.library_built_json(*args), repeat
            ),
            "validate_xml": _median(lambda: bom_schema.validate_xml(xml_text), repeat),
            "render_xml_and_validate": _median(lambda: bom.render_bom_xml(*args), repeat),
            "library_render_xml_and_validate": _median(
                lambda: library.library_built_xml(*args), repeat
            ),
            "reference_validate_json": _median(reference_validate, repeat),
        }
    for name, code in _FIRST_BUILD.items() if first_build else ():
        figures[name] = statistics.median(_fresh_interpreter(code) for _ in range(repeat))
    if first_build:
        figures["first_bom_in_process"] = statistics.median(
            _first_bom(components) for _ in range(repeat)
        )
    return figures


def _first_bom(components: int) -> float:
    """Seconds a new interpreter, its inputs built, takes to import the BOM module and write
    its first JSON BOM."""
    timed = (
        "import sys, tempfile, time\n"
        "from pathlib import Path\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "import bom_speed\n"
        "from pytest_mlsupply.results import Severity\n"
        f"inputs = bom_speed.bom_inputs(Path(tempfile.mkdtemp()), {components})\n"
        "start = time.perf_counter()\n"
        "from pytest_mlsupply.reports.bom import build_bom, render_bom_json\n"
        "render_bom_json(build_bom(*inputs, Severity.HIGH))\n"
        "print(time.perf_counter() - start)\n"
    )
    proc = subprocess.run([sys.executable, "-c", timed], check=True, capture_output=True, text=True)
    return float(proc.stdout.split()[-1])


def _reference() -> Any:
    spec = importlib.util.spec_from_file_location("library_reference", REFERENCE)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the library reference {REFERENCE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fresh_interpreter(code: str) -> float:
    """Seconds ``code`` takes in a new interpreter that has imported the BOM module already."""
    timed = (
        "import time, pytest_mlsupply.reports.bom\n"
        "start = time.perf_counter()\n"
        f"{code}\n"
        "print(time.perf_counter() - start)\n"
    )
    proc = subprocess.run([sys.executable, "-c", timed], check=True, capture_output=True, text=True)
    return float(proc.stdout.split()[-1])


def _median(step: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args(argv)
    figures = measure(options.components, options.repeat)
    print(f"ML-BOM of {int(figures.pop('components'))} components, medians of {options.repeat}:")
    for name, seconds in figures.items():
        print(f"  {name:<32} {seconds * 1000:9.1f} ms")
    ratio = figures["reference_validate_json"] / figures["validate_json"]
    print(f"  JSON validation: {ratio:.1f}x faster than JsonStrictValidator (same document)")
    ratio = figures["library_build_and_validate"] / figures["build_and_validate"]
    print(f"  build and validation: {ratio:.1f}x faster than the library-built BOM (same BOM)")
    ratio = figures["library_render_xml_and_validate"] / figures["render_xml_and_validate"]
    print(f"  XML form: {ratio:.1f}x faster than the library-built XML (same BOM)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
