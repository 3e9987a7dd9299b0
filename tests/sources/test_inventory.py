"""The inventory: a manifest's models resolved to files and its requirement sources merged."""

from __future__ import annotations

from pathlib import Path

from pytest_mlsupply.manifest.loader import load_manifest
from pytest_mlsupply.sources.inventory import Inventory
from pytest_mlsupply.sources.resolve import build_inventory
from tests.conftest import build_project


def inventory_of(root: Path, manifest_text: str) -> Inventory:
    project = build_project(root)
    return build_inventory(load_manifest(project.manifest(manifest_text)))


def test_a_local_model_resolves_to_its_directory_and_files(tmp_path: Path) -> None:
    inventory = inventory_of(tmp_path, "version: 1\nmodels: [{name: tiny, path: models/tiny}]\n")

    (model,) = inventory.models
    assert model.error is None
    assert model.root == tmp_path / "models" / "tiny"
    assert [f.subject for f in model.files] == [
        "tiny/README.md",
        "tiny/config.json",
        "tiny/model.safetensors",
    ]


def test_a_dependency_declared_in_two_files_is_listed_once_with_its_first_origin(
    tmp_path: Path,
) -> None:
    (tmp_path / "dev.txt").write_text("pytest==8.4.0\nnumpy==2.1.0\n")

    inventory = inventory_of(
        tmp_path,
        """\
        version: 1
        requirements:
          - file: requirements.txt
          - file: dev.txt
        """,
    )

    assert [(d.subject, d.origin) for d in inventory.dependencies] == [
        ("numpy==2.1.0", "requirements.txt:1"),
        ("pytest==8.4.0", "dev.txt:1"),
        ("safetensors==0.4.5", "requirements.txt:2"),
    ]
    assert inventory.dependency_errors == ()


def test_dependencies_from_a_file_and_a_pyproject_are_merged_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "svc"\ndependencies = ["aiohttp>=3", "numpy==2.1.0"]\n'
    )

    inventory = inventory_of(
        tmp_path,
        "version: 1\nrequirements: [{pyproject: pyproject.toml}, {file: requirements.txt}]\n",
    )

    assert [(d.subject, d.origin) for d in inventory.dependencies] == [
        ("aiohttp>=3", "pyproject.toml:[project].dependencies[0]"),
        ("numpy==2.1.0", "pyproject.toml:[project].dependencies[1]"),
        ("safetensors==0.4.5", "requirements.txt:2"),
    ]


def test_an_unreadable_requirements_file_is_recorded_and_the_others_still_read(
    tmp_path: Path,
) -> None:
    (tmp_path / "broken.txt").write_text("numpy==2.1.0\n<<< not a requirement\n")

    inventory = inventory_of(
        tmp_path,
        """\
        version: 1
        requirements:
          - file: broken.txt
          - file: requirements.txt
        """,
    )

    (error,) = inventory.dependency_errors
    assert error.source == "broken.txt"
    assert error.message.startswith(f"{tmp_path / 'broken.txt'}:2: invalid requirement")
    # Nothing from the broken file leaks in; the good file is read in full.
    assert [(d.subject, d.origin) for d in inventory.dependencies] == [
        ("numpy==2.1.0", "requirements.txt:1"),
        ("safetensors==0.4.5", "requirements.txt:2"),
    ]


def test_a_requirements_file_removed_after_validation_is_recorded_as_an_error(
    tmp_path: Path,
) -> None:
    project = build_project(tmp_path)
    manifest = load_manifest(project.default_manifest())
    (tmp_path / "requirements.txt").unlink()

    inventory = build_inventory(manifest)

    assert inventory.dependencies == ()
    (error,) = inventory.dependency_errors
    assert error.source == "requirements.txt"
    assert error.message.startswith(f"{tmp_path / 'requirements.txt'}: cannot be parsed")


def test_a_model_directory_removed_after_validation_has_no_files(tmp_path: Path) -> None:
    project = build_project(tmp_path)
    manifest = load_manifest(project.default_manifest())
    for file in project.model_dir.iterdir():
        file.unlink()
    project.model_dir.rmdir()

    (model,) = build_inventory(manifest).models

    # os.walk swallows the missing root: the planner then reports the model as unresolved.
    assert model.files == ()


def test_the_environment_source_lists_installed_distributions(tmp_path: Path) -> None:
    inventory = inventory_of(tmp_path, "version: 1\nrequirements: [{environment: current}]\n")

    origins = {d.origin for d in inventory.dependencies}
    assert origins == {"environment"}
    assert any(d.name == "pytest" for d in inventory.dependencies)


def test_the_inventory_carries_the_declared_datasets(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()

    inventory = inventory_of(tmp_path, "version: 1\ndatasets: [{name: reviews, path: data}]\n")

    assert [d.name for d in inventory.datasets] == ["reviews"]
    assert inventory.models == ()
