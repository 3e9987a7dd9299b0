"""Review of three changes: a marked test judged by the project's baseline, code files in
`mlsupply bom diff`, and a percent-encoded URL password masked decoded as well."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from pytest_mlsupply.baseline import today_utc
from pytest_mlsupply.redaction import forget_registered_secrets, redact_text, register_url
from tests.cli import test_bom_diff
from tests.cli.test_bom_diff import Releases, _with_code, diff
from tests.conftest import Project, write_pickle_payload
from tests.plugin.test_baseline_gate import ACCEPTED_PICKLE, FUTURE

MARKED = """
import pytest

@pytest.mark.model_artifact(path="{path}")
def test_the_model_is_there(model_artifact):
    assert (model_artifact / "evil.pkl").is_file()
"""


@pytest.fixture
def unsafe(project: Project) -> Project:
    write_pickle_payload(project.model_dir / "evil.pkl")
    return project


releases = test_bom_diff.releases  # the two releases' BOMs (a fixture)


# -- the marker and the baseline -----------------------------------------------------------------


def test_a_marked_test_fails_closed_when_the_baseline_cannot_be_read(
    pytester: pytest.Pytester, unsafe: Project
) -> None:
    pytester.makepyfile(test_uses_model=MARKED.format(path="models/tiny"))
    # The acceptances are there, but the file is unfilled (TODO): it is refused, never ignored.
    (unsafe.root / "mlsupply-baseline.yaml").write_text(
        ACCEPTED_PICKLE.replace("owner: alice", "owner: TODO")
    )
    result = pytester.runpytest("test_uses_model.py")
    result.assert_outcomes(failed=1)
    assert "mlsupply-baseline.yaml" in result.stdout.str()


def test_a_marked_test_whose_acceptance_expired_does_not_run(
    pytester: pytest.Pytester, unsafe: Project
) -> None:
    pytester.makepyfile(test_uses_model=MARKED.format(path="models/tiny"))
    yesterday = (today_utc() - timedelta(days=1)).isoformat()
    (unsafe.root / "mlsupply-baseline.yaml").write_text(ACCEPTED_PICKLE.replace(FUTURE, yesterday))
    result = pytester.runpytest("test_uses_model.py")
    result.assert_outcomes(failed=1)
    assert "MLS-BASE-001" in result.stdout.str()


def test_another_directory_of_the_same_name_is_not_accepted_by_the_manifest_models_entries(
    pytester: pytest.Pytester, unsafe: Project
) -> None:
    other = unsafe.root / "vendor" / "tiny"
    other.mkdir(parents=True)
    shutil.copy(unsafe.model_dir / "evil.pkl", other / "evil.pkl")
    (unsafe.root / "mlsupply-baseline.yaml").write_text(ACCEPTED_PICKLE)
    pytester.makepyfile(test_uses_model=MARKED.format(path="vendor/tiny"))
    result = pytester.runpytest("test_uses_model.py")
    result.assert_outcomes(failed=1)  # the name is the manifest model's: refused, not accepted


# -- bom diff and code files ---------------------------------------------------------------------


def test_a_code_file_named_twice_in_new_is_refused_not_read_as_its_last_copy(
    releases: Releases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _with_code(releases.new, tmp_path / "old.json", {"src/app.py": "a" * 64})
    changed = _with_code(releases.new, tmp_path / "mid.json", {"src/app.py": "c" * 64})
    document = json.loads(changed.read_text())
    # The same path again, under another bom-ref, with the old digest: the last copy read.
    document["components"].append(
        {
            "type": "file",
            "bom-ref": "code:src/app.py#again",
            "name": "src/app.py",
            "hashes": [{"alg": "SHA-256", "content": "a" * 64}],
        }
    )
    new = tmp_path / "new.json"
    new.write_text(json.dumps(document))
    code = diff(old, new, "--format", "json", "--fail-on", "any")
    assert code != 0, capsys.readouterr().out  # never a silent "nothing changed"


def test_a_code_file_whose_new_component_has_no_digest_is_a_change(
    releases: Releases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _with_code(releases.new, tmp_path / "old.json", {"src/app.py": "a" * 64})
    document = json.loads(old.read_text())
    for component in document["components"]:
        if component.get("bom-ref") == "code:src/app.py":
            del component["hashes"]
    new = tmp_path / "new.json"
    new.write_text(json.dumps(document))
    assert diff(old, new, "--format", "json", "--fail-on", "digest-change") == 1
    found = json.loads(capsys.readouterr().out)["changes"]
    assert [(c["kind"], c["name"]) for c in found] == [("digest-change", "src/app.py")]


# -- redaction of a percent-encoded password -----------------------------------------------------


@pytest.fixture
def clean_registry() -> Iterator[None]:
    forget_registered_secrets()
    yield
    forget_registered_secrets()


@pytest.mark.usefixtures("clean_registry")
def test_a_percent_encoded_password_is_masked_as_written_and_as_a_client_decodes_it() -> None:
    register_url("https://u:p%40ssw0rd-x+y%2Bz@index.example/simple/")
    # A client decodes userinfo with unquote ('+' stays '+'), as requests and pip do.
    assert redact_text("sent p@ssw0rd-x+y+z; wrote p%40ssw0rd-x+y%2Bz") == "sent ****; wrote ****"


@pytest.mark.usefixtures("clean_registry")
def test_a_password_whose_decoded_form_is_short_does_not_mask_common_text() -> None:
    register_url("https://u:%61%62%63%64@index.example/")  # "abcd": under the minimum length
    assert redact_text("abcd efgh") == "abcd efgh"


def test_two_xdist_workers_judge_the_accepted_model_as_a_serial_run_does(
    pytester: pytest.Pytester, unsafe: Project
) -> None:
    (unsafe.root / "mlsupply-baseline.yaml").write_text(ACCEPTED_PICKLE)
    pytester.makepyfile(
        test_uses_model="\n".join(
            MARKED.format(path="models/tiny").replace("test_the_model_is_there", f"test_{n}")
            for n in ("one", "two", "three", "four")
        )
    )
    result = pytester.runpytest("-n", "2", "-p", "xdist", "test_uses_model.py")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["tiny (models/tiny): * file(s) passed; verified once on gw* *"])
    gated = pytester.runpytest("-n", "2", "-p", "xdist", "--mlsupply")
    assert gated.ret == pytest.ExitCode.OK, gated.stdout.str()
