"""`pytest --mlsupply` on dependencies: a tampered installed distribution fails its item, and a
dependency whose marker is false is skipped (and shown so), never passed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from pytest_mlsupply.sources.requirements import from_requirements_file
from tests.conftest import Project
from tests.installed import NAME, VERSION, build_wheel, pip_install


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tinypkg`` installed by pip into a directory the (in-process) pytest run imports from."""
    site = pip_install(build_wheel(tmp_path), tmp_path / "site", from_file=False)
    monkeypatch.syspath_prepend(str(site))
    return site


def test_a_file_edited_after_install_fails_the_dependency_item_naming_the_file(
    pytester: pytest.Pytester, project: Project, installed: Path
) -> None:
    (project.root / "requirements.txt").write_text(f"{NAME}=={VERSION}\n")
    (installed / NAME / "core.py").write_text("import os\nos.system('true')\n")

    result = pytester.runpytest("--mlsupply")

    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            f"*dependency check 'integrity' on {NAME}=={VERSION}: FAIL*",
            "*MLS-DEP-030 installed file differs from the distribution's RECORD",
            f"*changed: {NAME}/core.py",
        ]
    )
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    (row,) = [r for r in matrix["rows"] if r["subject"] == f"{NAME}=={VERSION}"]
    assert row["cells"]["integrity"] == "fail"


def test_under_xdist_the_tampered_dependency_fails_as_in_a_serial_run(
    pytester: pytest.Pytester, project: Project, installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every process (controller and workers) must see the same installed distribution, or
    # they would plan different items: the import path goes through the environment.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(installed), *sys.path]))
    (project.root / "requirements.txt").write_text(f"{NAME}=={VERSION}\n")
    (installed / NAME / "data" / "table.json").unlink()

    result = pytester.runpytest_subprocess("--mlsupply", "-n", "2")

    assert result.ret == 1
    result.stdout.fnmatch_lines(["*MLS-DEP-031*", f"*missing: {NAME}/data/table.json"])
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    (row,) = [r for r in matrix["rows"] if r["subject"] == f"{NAME}=={VERSION}"]
    assert row["cells"]["integrity"] == "fail"


def test_an_untouched_installed_dependency_passes_integrity(
    pytester: pytest.Pytester, project: Project, installed: Path
) -> None:
    (project.root / "requirements.txt").write_text(f"{NAME}=={VERSION}\n")

    result = pytester.runpytest("--mlsupply")

    assert result.ret == 0
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    (row,) = [r for r in matrix["rows"] if r["subject"] == f"{NAME}=={VERSION}"]
    assert row["cells"]["integrity"] == "pass"


def _markers_are_evaluated(tmp_path: Path) -> bool:
    probe = tmp_path / "probe.txt"
    probe.write_text('absent==1.0; python_version < "1"\n')
    return any(dep.skipped for dep in from_requirements_file(probe, tmp_path))


def test_a_dependency_whose_marker_is_false_is_skipped_not_passed(
    pytester: pytest.Pytester, project: Project, tmp_path: Path
) -> None:
    if not _markers_are_evaluated(tmp_path):
        pytest.skip("the requirements source does not evaluate markers yet (issue 9, i9-src)")
    (project.root / "requirements.txt").write_text(
        'numpy==2.1.0\npywin32==306; sys_platform == "nonexistent-os"\n'
    )

    result = pytester.runpytest("--mlsupply", "-rs")

    assert result.ret == 0
    result.stdout.fnmatch_lines(["SKIPPED*pywin32==306*"])
    result.stdout.fnmatch_lines(["checks: * skipped (fail at high and above)"])
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    (row,) = [r for r in matrix["rows"] if r["subject"] == "pywin32==306"]
    assert set(row["cells"].values()) == {"skipped"}
    markdown = (project.root / "build" / "mlsupply-matrix.md").read_text()
    assert "⏭️ skipped" in markdown
