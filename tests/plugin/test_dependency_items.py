"""Dependency items through pytest: a false marker is SKIPPED (never passed), and the
confusion check fails an internal package that pip could take from the public index."""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import Project

OTHER_PLATFORM = "win32" if sys.platform != "win32" else "linux"


def test_a_requirement_whose_marker_is_false_is_skipped_with_the_marker_as_reason(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "requirements.txt").write_text(
        f'numpy==2.1.0\npywin32==306 ; sys_platform == "{OTHER_PLATFORM}"\n'
    )

    result = pytester.runpytest("--mlsupply", "-rs")

    assert result.ret == 0
    assert result.parseoutcomes()["skipped"] == 1
    result.stdout.fnmatch_lines(
        [f'SKIPPED*pywin32==306: environment marker `sys_platform == "{OTHER_PLATFORM}"` is false*']
    )
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    (row,) = [r for r in matrix["rows"] if r["subject"] == "pywin32==306"]
    assert row["cells"]
    assert set(row["cells"].values()) == {"skipped"}
    numpy = next(r for r in matrix["rows"] if r["subject"] == "numpy==2.1.0")
    assert set(numpy["cells"].values()) == {"pass"}


def test_an_internal_package_from_a_requirements_file_with_an_extra_index_fails(
    pytester: pytest.Pytester, project: Project
) -> None:
    internal = "https://pypi.acme.internal/simple"
    (project.root / "requirements.txt").write_text(
        f"--index-url {internal}\n--extra-index-url https://pypi.org/simple\n"
        f"acme-models==1.4.0 --hash=sha256:{'a' * 64}\nnumpy==2.1.0 --hash=sha256:{'b' * 64}\n"
    )
    manifest = project.root / "mlsupply.yaml"
    manifest.write_text(
        manifest.read_text() + f"internal:\n  - {{index: {internal}, packages: ['acme-*']}}\n"
    )

    result = pytester.runpytest("--mlsupply")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.parseoutcomes()["failed"] == 1
    result.stdout.fnmatch_lines(["*[[]HIGH[]] MLS-DEP-010 more than one package index is in play*"])
    result.stdout.fnmatch_lines(["FAILED mlsupply.yaml::dependency[[]acme-models==1.4.0[]]*"])
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    cells = {r["subject"]: r["cells"] for r in matrix["rows"]}
    assert cells["acme-models==1.4.0"]["confusion"] == "fail"
    assert cells["numpy==2.1.0"]["confusion"] == "warn"


@pytest.mark.needs("xdist")
def test_under_xdist_a_skipped_dependency_is_skipped_as_in_a_serial_run(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "requirements.txt").write_text(
        f'numpy==2.1.0\npywin32==306 ; sys_platform == "{OTHER_PLATFORM}"\n'
    )

    result = pytester.runpytest_subprocess("--mlsupply", "-n", "2")

    assert result.ret == 0
    assert result.parseoutcomes()["skipped"] == 1
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    (row,) = [r for r in matrix["rows"] if r["subject"] == "pywin32==306"]
    assert set(row["cells"].values()) == {"skipped"}
    assert matrix["counts"]["pass"] > 0
