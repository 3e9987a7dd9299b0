"""The typosquat check through the real pipeline: manifest → inventory → plan → runner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.runner import run_item
from pytest_mlsupply.manifest.loader import load_manifest
from pytest_mlsupply.plan import build_plan
from pytest_mlsupply.results import CheckResult, Location, Severity, Verdict
from pytest_mlsupply.sources.resolve import build_inventory
from pytest_mlsupply.typosquat import index as index_module
from tests.typosquat.index_server import FakeIndex, closed_port_url, serve

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline


def audit(
    pipeline: Pipeline, requirements: str, policy: str = "", index: str | None = None
) -> dict[str, CheckResult]:
    """The typosquat result of every dependency, by subject; ``index`` becomes the requirements
    file's ``--index-url`` line."""
    root = pipeline.project.root
    if index is not None:
        requirements = f"--index-url {index}\n{requirements}"
    (root / "requirements.txt").write_text(requirements)
    pipeline.manifest(f"version: 1\nrequirements: [{{file: requirements.txt}}]\n{policy}")
    manifest = load_manifest(root / "mlsupply.yaml")
    inventory = build_inventory(manifest)
    ctx = CheckContext(manifest.policy, inventory, ContentCache())
    out = {}
    for item in build_plan(inventory):
        for result in run_item(item, ctx):
            if result.check == "typosquat":
                out[result.subject] = result
    return out


@pytest.fixture(autouse=True)
def fresh_index_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """No answer cached by another test (a loopback port can be reused) and a short timeout."""
    monkeypatch.setattr(index_module, "_shared", index_module.IndexClient(timeout=2.0))


@pytest.fixture
def fake_index() -> Iterator[FakeIndex]:
    with serve(FakeIndex(published={"requests", "urlib3"})) as running:
        yield running


def test_a_lookalike_fails_its_dependency_naming_the_project_it_imitates(
    pipeline: Pipeline,
) -> None:
    results = audit(pipeline, "requests==2.32.3\nurlib3==2.2.2\n")

    result = results["urlib3==2.2.2"]
    (finding,) = result.findings
    assert (finding.rule, finding.severity, finding.cwe) == (
        "MLS-DEP-020",
        Severity.HIGH,
        "CWE-829",
    )
    assert finding.location == Location(file="requirements.txt", line=2)
    assert "'urllib3'" in finding.title
    assert "omitted one 'l' of 'll'" in finding.evidence
    assert "download rank" in finding.evidence
    assert "policy.typosquat.allow" in finding.remediation
    assert result.facts == {"imitates": "urllib3", "transformation": "omitted-double"}
    assert result.verdict(Severity.HIGH) is Verdict.FAIL
    assert results["requests==2.32.3"].findings == []
    assert results["requests==2.32.3"].verdict(Severity.LOW) is Verdict.PASS


def test_a_weaker_resemblance_warns_at_medium(pipeline: Pipeline) -> None:
    result = audit(pipeline, "openai-sdk==1.0\n")["openai-sdk==1.0"]

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DEP-021", Severity.MEDIUM)
    assert result.verdict(Severity.HIGH) is Verdict.WARN
    assert result.verdict(Severity.MEDIUM) is Verdict.FAIL


def test_an_unpinned_lookalike_is_checked_too(pipeline: Pipeline) -> None:
    results = audit(pipeline, "reqeusts>=2\n")

    (finding,) = results["reqeusts>=2"].findings
    assert finding.rule == "MLS-DEP-020"


def test_a_name_on_the_allow_list_is_not_reported(pipeline: Pipeline) -> None:
    results = audit(pipeline, "urlib3==2.2.2\n", "policy:\n  typosquat: {allow: [URLib3]}\n")

    result = results["urlib3==2.2.2"]
    assert result.findings == []
    assert result.facts == {"allowed": "policy.typosquat.allow"}


def test_a_path_requirement_is_not_judged_by_its_name(pipeline: Pipeline) -> None:
    (pipeline.project.root / "vendored" / "pkg").mkdir(parents=True)

    results = audit(pipeline, "./vendored/pkg\nreqeusts==1.0\n")

    assert list(results) == ["reqeusts==1.0"]


def test_without_the_index_lookup_nothing_is_asked(
    pipeline: Pipeline, fake_index: FakeIndex
) -> None:
    results = audit(pipeline, "requests==2.32.3\n", index=fake_index.url)

    assert results["requests==2.32.3"].findings == []
    assert fake_index.requests == []


def test_a_name_the_index_does_not_know_is_reported(
    pipeline: Pipeline, fake_index: FakeIndex
) -> None:
    results = audit(
        pipeline,
        "requests==2.32.3\nacme-internal-utils==1.0\n",
        "policy:\n  typosquat: {index_lookup: true}\n",
        index=f"{fake_index.url}/simple",
    )

    assert results["requests==2.32.3"].findings == []
    assert results["requests==2.32.3"].facts == {"on_index": True}
    result = results["acme-internal-utils==1.0"]
    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DEP-022", Severity.HIGH)
    assert finding.evidence == f"{fake_index.url}/pypi/acme-internal-utils/json answered 404"
    assert result.facts == {"on_index": False}
    assert sorted(fake_index.requests) == [
        "/pypi/acme-internal-utils/json",
        "/pypi/requests/json",
    ]


def test_a_lookalike_that_exists_is_still_a_lookalike(
    pipeline: Pipeline, fake_index: FakeIndex
) -> None:
    results = audit(
        pipeline, "urlib3==1.0\n", "policy:\n  typosquat: {index_lookup: true}\n", fake_index.url
    )

    (finding,) = results["urlib3==1.0"].findings
    assert finding.rule == "MLS-DEP-020"
    assert results["urlib3==1.0"].facts["on_index"] is True


def test_an_index_answering_500_makes_the_item_error_never_pass(
    pipeline: Pipeline, fake_index: FakeIndex
) -> None:
    fake_index.status = 500

    result = audit(
        pipeline,
        "requests==2.32.3\n",
        "policy:\n  typosquat: {index_lookup: true}\n",
        fake_index.url,
    )["requests==2.32.3"]

    assert result.findings == []
    assert result.error is not None
    assert "answered HTTP 500" in result.error
    assert "policy.typosquat.index_lookup: false" in result.error
    assert result.verdict(Severity.LOW) is Verdict.ERROR


def test_an_index_that_is_down_makes_the_item_error(pipeline: Pipeline) -> None:
    result = audit(
        pipeline,
        "requests==2.32.3\n",
        "policy:\n  typosquat: {index_lookup: true}\n",
        closed_port_url(),
    )["requests==2.32.3"]

    assert result.error is not None
    assert "cannot reach" in result.error
    assert result.verdict(Severity.LOW) is Verdict.ERROR


def test_a_lookalike_still_fails_when_the_index_cannot_answer(pipeline: Pipeline) -> None:
    result = audit(
        pipeline, "urlib3==1.0\n", "policy:\n  typosquat: {index_lookup: true}\n", closed_port_url()
    )["urlib3==1.0"]

    assert [f.rule for f in result.findings] == ["MLS-DEP-020"]
    assert result.error is not None
    assert result.verdict(Severity.HIGH) is Verdict.FAIL  # findings outrank errors


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            "{allow: [requests==2]}",
            "policy.typosquat.allow[0]: 'requests==2' is not a Python project name",
        ),
        ("{index_lookup: yes-please}", "policy.typosquat.index_lookup: expected true or false"),
        ("{allowed: [x]}", "policy.typosquat"),
    ],
)
def test_a_bad_typosquat_policy_is_a_manifest_error_naming_the_key(
    pipeline: Pipeline, policy: str, message: str
) -> None:
    from pytest_mlsupply.manifest.errors import ManifestError

    (pipeline.project.root / "requirements.txt").write_text("requests==2.32.3\n")
    pipeline.manifest(
        f"version: 1\nrequirements: [{{file: requirements.txt}}]\npolicy:\n  typosquat: {policy}\n"
    )

    with pytest.raises(ManifestError) as raised:
        load_manifest(pipeline.project.root / "mlsupply.yaml")

    assert message in str(raised.value)
    assert "mlsupply.yaml:4:" in str(raised.value)


def test_with_no_index_there_is_no_index_to_ask_and_the_fact_says_so(
    pipeline: Pipeline, fake_index: FakeIndex
) -> None:
    (pipeline.project.root / "wheels").mkdir()

    results = audit(
        pipeline,
        "--no-index\n--find-links ./wheels\nrequests==2.32.3\n",
        "policy:\n  typosquat: {index_lookup: true}\n",
    )

    result = results["requests==2.32.3"]
    assert result.error is None
    assert result.findings == []
    assert result.facts["on_index"] == "not asked: ./wheels is not an HTTP package index"
    assert fake_index.requests == []
