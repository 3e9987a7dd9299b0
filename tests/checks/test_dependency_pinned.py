"""The pinned check: a dependency names one exact version from a package index."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_mlsupply.results import Location, Severity, Verdict

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline


#: The project's offline advisory snapshot: the vulnerabilities check beside this one asks no
#: service.
OFFLINE = "vulnerabilities: {service: offline, path: osv}"


def use_requirements(pipeline: Pipeline, text: str, top: str = "") -> None:
    (pipeline.project.root / "requirements.txt").write_text(text)
    pipeline.manifest(f"version: 1\nrequirements: [{{file: requirements.txt}}]\n{OFFLINE}\n{top}")


def test_an_exact_pin_passes_with_an_info_note_about_hashes(pipeline: Pipeline) -> None:
    result = pipeline.result("dependency[numpy==2.1.0]", "pinned")

    assert result.check == "pinned"
    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DEP-002", Severity.INFO)
    assert finding.location == Location(file="requirements.txt", line=1)
    assert "--hash" in finding.remediation
    assert result.facts == {
        "origin": "requirements.txt:1",
        "requirement": "numpy==2.1.0",
        "version": "2.1.0",
    }
    assert result.verdict(Severity.LOW) is Verdict.PASS


def test_an_exact_pin_with_a_hash_has_no_findings(pipeline: Pipeline) -> None:
    use_requirements(pipeline, f"numpy==2.1.0 --hash=sha256:{'a' * 64}\n")

    assert pipeline.result("dependency[numpy==2.1.0]", "pinned").findings == []


def test_a_range_is_a_high_finding_when_pins_are_required(pipeline: Pipeline) -> None:
    use_requirements(pipeline, "numpy==2.1.0\nrequests>=2.31\n")

    result = pipeline.result("dependency[requests>=2.31]", "pinned")

    (finding,) = result.findings
    assert (finding.rule, finding.severity, finding.cwe) == (
        "MLS-DEP-001",
        Severity.HIGH,
        "CWE-1357",
    )
    assert finding.location == Location(file="requirements.txt", line=2)
    assert finding.remediation.startswith("pin it: requests==")
    assert "version" not in result.facts
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_range_is_only_low_when_the_policy_does_not_require_pins(pipeline: Pipeline) -> None:
    use_requirements(pipeline, "requests>=2.31\n", top="policy: {require_pins: false}\n")

    result = pipeline.result("dependency[requests>=2.31]", "pinned")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DEP-001", Severity.LOW)
    assert result.verdict(Severity.HIGH) is Verdict.WARN


def test_a_url_requirement_does_not_come_from_an_index(pipeline: Pipeline) -> None:
    use_requirements(pipeline, "pkg @ https://example.com/pkg-1.0-py3-none-any.whl\n")
    (name,) = [n for n in pipeline.names() if n.startswith("dependency[")]

    result = pipeline.result(name, "pinned")

    (finding,) = result.findings
    assert (finding.rule, finding.severity, finding.cwe) == (
        "MLS-DEP-003",
        Severity.HIGH,
        "CWE-829",
    )
    assert "https://example.com/pkg-1.0-py3-none-any.whl" in finding.evidence


def test_a_local_path_requirement_does_not_come_from_an_index(pipeline: Pipeline) -> None:
    use_requirements(pipeline, "./vendored/pkg\n")

    result = pipeline.result("dependency[./vendored/pkg]", "pinned")

    assert [f.rule for f in result.findings] == ["MLS-DEP-003"]


def test_an_installed_distribution_is_pinned_by_definition(pipeline: Pipeline) -> None:
    pipeline.manifest(f"version: 1\nrequirements: [{{environment: current}}]\n{OFFLINE}\n")
    (name,) = [n for n in pipeline.names() if n.startswith("dependency[pytest==")]

    result = pipeline.result(name, "pinned")

    assert result.findings == []
    assert result.facts["origin"] == "environment"


def test_an_unreadable_requirements_file_becomes_an_error_item(pipeline: Pipeline) -> None:
    use_requirements(pipeline, "numpy==2.1.0\n<<< nonsense\n")
    path = pipeline.project.root / "requirements.txt"

    result = pipeline.result("dependency[requirements.txt]")

    assert result.check == "read"
    assert result.error is not None
    assert result.error.startswith(f"{path}:2: invalid requirement")
    assert result.verdict(Severity.CRITICAL) is Verdict.ERROR


def test_a_missing_hash_is_high_when_the_policy_requires_hashes(pipeline: Pipeline) -> None:
    use_requirements(pipeline, "numpy==2.1.0\n", top="policy: {require_hashes: true}\n")

    result = pipeline.result("dependency[numpy==2.1.0]", "pinned")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DEP-002", Severity.HIGH)
    assert "policy.require_hashes" in finding.title
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_pylock_package_carries_its_hashes_under_require_hashes(pipeline: Pipeline) -> None:
    (pipeline.project.root / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "tests"\n[[packages]]\nname = "numpy"\n'
        'version = "2.1.0"\nwheels = [{url = "https://files.example/numpy-2.1.0-py3-none-any.whl",'
        f' hashes = {{sha256 = "{"a" * 64}"}}}}]\n'
    )
    pipeline.manifest(
        "version: 1\nrequirements: [{pylock: pylock.toml}]\npolicy: {require_hashes: true}\n"
    )

    assert pipeline.result("dependency[numpy==2.1.0]", "pinned").findings == []


def test_a_range_pinned_by_a_constraint_is_pinned_and_names_the_constraint(
    pipeline: Pipeline,
) -> None:
    (pipeline.project.root / "constraints.txt").write_text("requests==2.32.3\n")
    use_requirements(pipeline, "-c constraints.txt\nrequests>=2.31\n")

    result = pipeline.result("dependency[requests==2.32.3]", "pinned")

    assert [f.rule for f in result.findings] == ["MLS-DEP-002"]
    assert result.facts["constraint"] == "constraints.txt:1"
    assert result.facts["requirement"] == "requests>=2.31"


def test_an_invalid_pylock_becomes_an_error_item_never_a_pass(pipeline: Pipeline) -> None:
    (pipeline.project.root / "pylock.toml").write_text('lock-version = "1.0"\n')
    pipeline.manifest("version: 1\nrequirements: [{pylock: pylock.toml}]\n")

    result = pipeline.result("dependency[pylock.toml]")

    assert result.check == "read"
    assert result.error is not None
    assert "is not a valid pylock.toml (PEP 751)" in result.error
    assert result.verdict(Severity.CRITICAL) is Verdict.ERROR


def test_under_require_hashes_a_second_file_repeating_the_pin_without_a_hash_fails(
    pipeline: Pipeline,
) -> None:
    root = pipeline.project.root
    (root / "requirements.txt").write_text(f"numpy==2.1.0 --hash=sha256:{'a' * 64}\n")
    (root / "requirements-dev.txt").write_text("numpy==2.1.0\n")
    pipeline.manifest(
        "version: 1\nrequirements: [{file: requirements.txt}, {file: requirements-dev.txt}]\n"
        "policy: {require_hashes: true}\n"
    )

    result = pipeline.result("dependency[numpy==2.1.0]", "pinned")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DEP-002", Severity.HIGH)
    assert finding.location == Location(file="requirements-dev.txt", line=1)


def test_a_pyproject_pin_that_uv_sources_from_git_does_not_come_from_an_index(
    pipeline: Pipeline,
) -> None:
    (pipeline.project.root / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1"\ndependencies = ["numpy==2.1.0"]\n'
        '[tool.uv.sources]\nnumpy = { git = "https://github.com/someone/numpy" }\n'
    )
    pipeline.manifest("version: 1\nrequirements: [{pyproject: pyproject.toml}]\n")

    result = pipeline.result("dependency[numpy==2.1.0]", "pinned")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DEP-003", Severity.HIGH)
    assert "git = https://github.com/someone/numpy" in finding.evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_an_unpinned_requirement_fails_when_hashes_are_required_even_if_pins_are_not(
    pipeline: Pipeline,
) -> None:
    use_requirements(
        pipeline,
        "numpy>=2\n",
        top="policy: {require_pins: false, require_hashes: true}\n",
    )

    result = pipeline.result("dependency[numpy>=2]", "pinned")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DEP-001", Severity.HIGH)
    assert result.verdict(Severity.HIGH) is Verdict.FAIL
