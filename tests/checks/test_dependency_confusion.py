"""The confusion check: more than one index in play, and internal packages bound to theirs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_mlsupply.results import CheckResult, Severity, Verdict

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline

INTERNAL = "https://pypi.acme.internal/simple"
DIGEST = "a" * 64
INTERNAL_SECTION = f"internal:\n  - {{index: {INTERNAL}, packages: [acme-models, 'acme-*']}}\n"


def setup(pipeline: Pipeline, requirements: str, top: str = "") -> None:
    (pipeline.project.root / "requirements.txt").write_text(textwrap.dedent(requirements))
    pipeline.manifest(f"version: 1\nrequirements: [{{file: requirements.txt}}]\n{top}")


def confusion(pipeline: Pipeline, subject: str) -> CheckResult:
    return pipeline.result(f"dependency[{subject}]", "confusion")


def rules(result: CheckResult) -> list[tuple[str, Severity]]:
    return sorted((f.rule, f.severity) for f in result.findings)


def test_one_index_and_no_internal_packages_is_a_pass(pipeline: Pipeline) -> None:
    setup(pipeline, "numpy==2.1.0\n")

    result = confusion(pipeline, "numpy==2.1.0")

    assert result.findings == []
    assert result.facts["index"] == "https://pypi.org/simple"
    assert result.verdict(Severity.LOW) is Verdict.PASS


def test_an_extra_index_url_in_the_requirements_file_is_a_medium_finding(
    pipeline: Pipeline,
) -> None:
    setup(pipeline, "--extra-index-url https://mirror.example/simple\nnumpy==2.1.0\n")

    result = confusion(pipeline, "numpy==2.1.0")

    (finding,) = result.findings
    assert (finding.rule, finding.severity, finding.cwe) == (
        "MLS-DEP-010",
        Severity.MEDIUM,
        "CWE-427",
    )
    assert "https://mirror.example/simple (from requirements.txt option)" in finding.evidence
    assert "https://pypi.org/simple (from pip's default index)" in finding.evidence
    assert result.verdict(Severity.HIGH) is Verdict.WARN


def test_a_find_links_location_counts_as_another_place(pipeline: Pipeline) -> None:
    setup(pipeline, "--find-links https://download.example/whl/\nnumpy==2.1.0\n")

    assert rules(confusion(pipeline, "numpy==2.1.0")) == [("MLS-DEP-010", Severity.MEDIUM)]


def test_the_same_index_written_twice_is_one_index(pipeline: Pipeline) -> None:
    setup(
        pipeline,
        "--index-url https://PyPI.org/simple/\n--extra-index-url https://pypi.org/simple\n"
        "numpy==2.1.0\n",
    )

    assert confusion(pipeline, "numpy==2.1.0").findings == []


def test_an_extra_index_in_a_user_pip_conf_is_in_play(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    conf = home / ".config" / "pip" / "pip.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("[global]\nextra-index-url = https://mirror.example/simple\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("PIP_CONFIG_FILE")
    setup(pipeline, "numpy==2.1.0\n")

    (finding,) = confusion(pipeline, "numpy==2.1.0").findings

    assert finding.rule == "MLS-DEP-010"
    assert f"{conf} [global] extra-index-url" in finding.evidence


def test_the_requirements_files_index_url_replaces_the_configured_extra_index(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://mirror.example/simple")
    setup(pipeline, f"--index-url {INTERNAL}\nnumpy==2.1.0\n")

    result = confusion(pipeline, "numpy==2.1.0")

    assert result.findings == []
    assert result.facts["index"] == INTERNAL


def test_a_configured_find_links_location_survives_the_files_index_url(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    setup(pipeline, f"--index-url {INTERNAL}\nnumpy==2.1.0\n")

    (finding,) = confusion(pipeline, "numpy==2.1.0").findings

    assert "/opt/wheels (from PIP_FIND_LINKS)" in finding.evidence


def test_a_pip_conf_that_cannot_be_parsed_is_an_error_not_a_pass(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.conf"
    broken.write_text("extra-index-url = https://x.example\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(broken))
    setup(pipeline, "numpy==2.1.0\n")

    result = confusion(pipeline, "numpy==2.1.0")

    assert result.error is not None
    assert str(broken) in result.error
    assert result.verdict(Severity.CRITICAL) is Verdict.ERROR


def test_an_internal_package_bound_to_its_index_and_hash_pinned_passes(
    pipeline: Pipeline,
) -> None:
    setup(
        pipeline,
        f"--index-url {INTERNAL}/\nacme-models==1.4.0 --hash=sha256:{DIGEST}\n",
        INTERNAL_SECTION,
    )

    result = confusion(pipeline, "acme-models==1.4.0")

    assert result.findings == []
    assert result.facts["internal_index"] == INTERNAL


def test_an_internal_package_from_the_public_index_is_high(pipeline: Pipeline) -> None:
    setup(pipeline, f"Acme_Models==1.4.0 --hash=sha256:{DIGEST}\n", INTERNAL_SECTION)

    result = confusion(pipeline, "acme-models==1.4.0")

    (finding,) = result.findings
    assert (finding.rule, finding.severity, finding.cwe) == (
        "MLS-DEP-011",
        Severity.HIGH,
        "CWE-427",
    )
    assert f"declared internal to {INTERNAL}" in finding.evidence
    assert "https://pypi.org/simple" in finding.evidence
    assert f"--index-url {INTERNAL}" in finding.remediation
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_an_internal_package_with_an_extra_index_in_play_is_high(pipeline: Pipeline) -> None:
    setup(
        pipeline,
        f"--index-url {INTERNAL}\n--extra-index-url https://pypi.org/simple\n"
        f"acme-tokenizer==0.3.0 --hash=sha256:{DIGEST}\n",
        INTERNAL_SECTION,
    )

    result = confusion(pipeline, "acme-tokenizer==0.3.0")

    assert rules(result) == [("MLS-DEP-010", Severity.HIGH)]
    assert "declared internal" in result.findings[0].why


def test_an_internal_package_without_a_hash_is_high(pipeline: Pipeline) -> None:
    setup(pipeline, f"--index-url {INTERNAL}\nacme-models==1.4.0\n", INTERNAL_SECTION)

    (finding,) = confusion(pipeline, "acme-models==1.4.0").findings

    assert (finding.rule, finding.severity, finding.cwe) == (
        "MLS-DEP-012",
        Severity.HIGH,
        "CWE-494",
    )


def test_a_package_outside_the_internal_globs_is_not_held_to_them(pipeline: Pipeline) -> None:
    setup(pipeline, "acmemodels==1.0\n", INTERNAL_SECTION)

    assert confusion(pipeline, "acmemodels==1.0").findings == []


def test_an_internal_package_locked_in_pylock_with_its_index_passes(pipeline: Pipeline) -> None:
    (pipeline.project.root / "pylock.toml").write_text(
        textwrap.dedent(
            f"""\
            lock-version = "1.0"
            created-by = "tests"
            [[packages]]
            name = "acme-models"
            version = "1.4.0"
            index = "{INTERNAL}"
            sdist = {{url = "{INTERNAL}/acme_models-1.4.0.tar.gz", hashes = {{sha256 = "{DIGEST}"}}}}
            """
        )
    )
    pipeline.manifest(f"version: 1\nrequirements: [{{pylock: pylock.toml}}]\n{INTERNAL_SECTION}")

    assert confusion(pipeline, "acme-models==1.4.0").findings == []


def test_a_url_requirement_is_left_to_the_pinned_check(pipeline: Pipeline) -> None:
    setup(pipeline, "pkg @ https://example.com/pkg-1.0-py3-none-any.whl\n")
    (name,) = [n for n in pipeline.names() if n.startswith("dependency[")]

    checks = [r.check for r in pipeline.run(name)]
    assert "pinned" in checks
    assert "confusion" not in checks


def test_a_locked_package_ignores_configured_extra_indexes(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://mirror.example/simple")
    (pipeline.project.root / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "tests"\n[[packages]]\nname = "numpy"\n'
        'version = "2.1.0"\nindex = "https://pypi.org/simple"\n'
        'wheels = [{url = "https://files.example/numpy-2.1.0-py3-none-any.whl",'
        f' hashes = {{sha256 = "{DIGEST}"}}}}]\n'
    )
    pipeline.manifest("version: 1\nrequirements: [{pylock: pylock.toml}]\n")

    assert confusion(pipeline, "numpy==2.1.0").findings == []


def test_an_installed_internal_package_cannot_show_its_index(pipeline: Pipeline) -> None:
    pipeline.manifest(
        "version: 1\nrequirements: [{environment: current}]\n"
        f"internal:\n  - {{index: {INTERNAL}, packages: [pytest]}}\n"
    )
    (name,) = [n for n in pipeline.names() if n.startswith("dependency[pytest==")]

    result = pipeline.result(name, "confusion")

    assert [f.rule for f in result.findings] == ["MLS-DEP-011", "MLS-DEP-012"]
    assert "an installed distribution does not record its index" in result.findings[0].evidence


def test_an_internal_package_repeated_in_a_second_requirements_file_is_judged_by_both(
    pipeline: Pipeline,
) -> None:
    # pip install -r requirements-dev.txt takes acme-models from PyPI, without a hash: that the
    # first file binds it to its index and pins its hash does not make the second one safe.
    root = pipeline.project.root
    (root / "requirements.txt").write_text(
        f"--index-url {INTERNAL}\nacme-models==1.4.0 --hash=sha256:{DIGEST}\n"
    )
    (root / "requirements-dev.txt").write_text("acme-models==1.4.0\n")
    pipeline.manifest(
        "version: 1\nrequirements: [{file: requirements.txt}, {file: requirements-dev.txt}]\n"
        + INTERNAL_SECTION
    )

    result = confusion(pipeline, "acme-models==1.4.0")

    assert rules(result) == [
        ("MLS-DEP-010", Severity.HIGH),
        ("MLS-DEP-011", Severity.HIGH),
        ("MLS-DEP-012", Severity.HIGH),
    ]
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_an_internal_index_url_with_credentials_from_the_environment_is_its_index(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INDEX_TOKEN", "s3cret")
    setup(
        pipeline,
        "--index-url https://${INDEX_TOKEN}@pypi.acme.internal/simple\n"
        f"acme-models==1.4.0 --hash=sha256:{DIGEST}\n",
        INTERNAL_SECTION,
    )

    result = confusion(pipeline, "acme-models==1.4.0")

    assert result.findings == []
    assert result.facts["index"] == "https://****@pypi.acme.internal/simple"


def test_an_internal_package_locked_to_files_on_another_host_is_high(pipeline: Pipeline) -> None:
    # pip install -r pylock.toml downloads the wheel URL; the lock's index is only a label.
    (pipeline.project.root / "pylock.toml").write_text(
        textwrap.dedent(
            f"""\
            lock-version = "1.0"
            created-by = "tests"
            [[packages]]
            name = "acme-models"
            version = "1.4.0"
            index = "{INTERNAL}"
            wheels = [{{url = "https://files.pythonhosted.org/acme_models-1.4.0-py3-none-any.whl", hashes = {{sha256 = "{DIGEST}"}}}}]
            """
        )
    )
    pipeline.manifest(f"version: 1\nrequirements: [{{pylock: pylock.toml}}]\n{INTERNAL_SECTION}")

    result = confusion(pipeline, "acme-models==1.4.0")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DEP-011", Severity.HIGH)
    assert "https://files.pythonhosted.org/acme_models-1.4.0" in finding.evidence
