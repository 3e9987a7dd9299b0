"""``@pytest.mark.model_artifact``: a test sees a model only after its artifact checks pass."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.checks.registry import ARTIFACT_CHECKS
from tests.conftest import (
    Project,
    build_hub_cache,
    comparable_matrix,
    require,
    write_model,
    write_pickle_payload,
)

COMMIT = "86b5e0934494bd15c9632b12f734a8a67f723594"


def tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))


def test_a_passing_marked_test_gets_the_verified_snapshot_path(
    pytester: pytest.Pytester, project: Project
) -> None:
    pytester.makepyfile(
        test_marked=f"""
        from pathlib import Path
        import pytest

        @pytest.mark.model_artifact(path="models/tiny")
        def test_uses_the_model(model_artifact):
            assert model_artifact == Path({str(project.model_dir)!r})
            assert (model_artifact / "model.safetensors").is_file()

        @pytest.mark.model_artifact("models/tiny")
        def test_the_positional_form_takes_a_directory_too(model_artifact):
            assert model_artifact.name == "tiny"
        """
    )
    result = pytester.runpytest("test_marked.py")
    result.assert_outcomes(passed=2)


def test_a_tampered_marked_model_fails_the_test_with_the_finding_and_the_body_never_runs(
    pytester: pytest.Pytester, project: Project
) -> None:
    tamper(project.model_dir / "model.safetensors")  # the manifest pins its sha256
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.model_artifact(path="models/tiny")
        def test_uses_the_model(model_artifact):
            open("body-ran", "w").close()
        """
    )
    result = pytester.runpytest("test_marked.py", "-rf")
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "model_artifact tiny (models/tiny) did not pass verification; the test did not run",
            "*artifact check 'sha256' on tiny/model.safetensors: FAIL*",
            "*CRITICAL? MLS-PIN-001 file does not match its sha256 pin*",
            "FAILED test_marked.py::test_uses_the_model*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "SKIPPED" not in result.stdout.str()
    assert not (pytester.path / "body-ran").exists()


def test_a_marked_test_that_does_not_request_the_fixture_is_still_verified(
    pytester: pytest.Pytester, project: Project
) -> None:
    write_pickle_payload(project.model_dir / "extra.bin")
    pytester.makepyfile(
        test_marked="""
        import pytest

        pytestmark = pytest.mark.model_artifact(path="models/tiny")

        def test_without_the_fixture():
            open("body-ran", "w").close()
        """
    )
    result = pytester.runpytest("test_marked.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*tiny/extra.bin*FAIL*", "*MLS-FMT-001*pickle*"])
    assert not (pytester.path / "body-ran").exists()


def test_without_the_mlsupply_flag_or_a_manifest_the_marker_still_verifies_with_default_policy(
    pytester: pytest.Pytester,
) -> None:
    model = write_model(pytester.path / "models" / "loose")
    write_pickle_payload(model / "weights.pkl")
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.model_artifact("models/loose")
        def test_uses_the_model(model_artifact):
            pass
        """
    )
    result = pytester.runpytest("test_marked.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*model_artifact loose*did not pass*", "*os.system*"])
    assert not (pytester.path / "build").exists()  # reports only with --mlsupply


def test_the_fixture_without_the_marker_fails_with_what_to_add(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(model_artifact):\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*model_artifact fixture needs @pytest.mark.model_artifact(...)*"])
    assert "Traceback" not in result.stdout.str()


def test_an_unknown_check_name_is_a_usage_error_that_names_the_valid_checks(
    pytester: pytest.Pytester, project: Project
) -> None:
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.model_artifact(path="models/tiny", checks=["sha256", "nope"])
        def test_uses_the_model(model_artifact):
            open("body-ran", "w").close()
        """
    )
    result = pytester.runpytest("test_marked.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error: nothing ran
    valid = ", ".join(check.name for check in ARTIFACT_CHECKS)
    result.stdout.fnmatch_lines(
        [
            f"*test_uses_the_model: @pytest.mark.model_artifact: unknown check(s) 'nope'; "
            f"the artifact checks are {valid}*"
        ]
    )
    assert not (pytester.path / "body-ran").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("", "*needs exactly one model*"),
        ('"models/tiny", path="models/tiny"', "*needs exactly one model*"),
        (
            '"acme/tiny"',
            "*no directory*for a Hub model pin the commit: 'acme/tiny@<40-hex commit>'*",
        ),
        ('"acme/tiny@"', "*has no revision; pin the commit*"),
        ('"hf-datasets://acme/reviews@' + COMMIT + '"', "*the marker verifies models*"),
        (
            'path="models/tiny", allow_pattern="*.json"',
            "*unknown keyword argument(s) allow_pattern*",
        ),
        ('path="models/tiny", allow_patterns=[]', "*allow_patterns=[] selects no file*"),
        ('path="models/tiny", checks=[]', "*checks= names no check*"),
        ('path="models/tiny", name="no spaces"', "*name='no spaces' is not a valid name*"),
    ],
)
def test_marker_arguments_that_cannot_work_fail_collection_with_the_fix(
    pytester: pytest.Pytester, project: Project, arguments: str, message: str
) -> None:
    pytester.makepyfile(
        test_marked=f"""
        import pytest

        @pytest.mark.model_artifact({arguments})
        def test_uses_the_model():
            pass
        """
    )
    result = pytester.runpytest("test_marked.py")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([message])


def test_allow_patterns_narrows_the_files_that_are_verified(
    pytester: pytest.Pytester, project: Project
) -> None:
    model = write_model(pytester.path / "models" / "narrow")
    write_pickle_payload(model / "extra.bin")
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.model_artifact("models/narrow", allow_patterns=["*.safetensors", "*.json"])
        def test_narrowed(model_artifact, mlsupply_results):
            assert mlsupply_results.model("narrow").files == ("config.json", "model.safetensors")
            assert "narrow/extra.bin::format" not in mlsupply_results.verdicts()

        @pytest.mark.model_artifact("models/narrow")
        def test_everything(model_artifact):
            pass

        @pytest.mark.model_artifact("models/narrow", allow_patterns="*.onnx")
        def test_matches_nothing(model_artifact):
            pass
        """
    )
    result = pytester.runpytest("test_marked.py")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*narrow/extra.bin*FAIL*",
            "*allow_patterns=?'?.onnx'? matches no file of*",
            "FAILED test_marked.py::test_everything*",
            "FAILED test_marked.py::test_matches_nothing*",
        ]
    )


def test_a_model_is_verified_once_per_session_however_many_tests_ask(
    pytester: pytest.Pytester, project: Project
) -> None:
    pytester.makepyfile(
        test_a=_marked_tests("a", 3),
        test_b=_marked_tests("b", 2),
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=6)  # five marked tests and the project's own test
    result.stdout.fnmatch_lines(
        ["tiny (models/tiny): 3 file(s) passed; verified once for 5 test(s)"]
    )


def _marked_tests(prefix: str, count: int) -> str:
    body = "import pytest\n"
    for i in range(count):
        body += (
            f"\n@pytest.mark.model_artifact(path='models/tiny')\n"
            f"def test_{prefix}{i}(model_artifact):\n"
            "    assert (model_artifact / 'model.safetensors').is_file()\n"
        )
    return body


SPY_CONFTEST = """
import os
# verify() is looked up in its own module at call time (model_artifact imports it lazily).
from pytest_mlsupply.plugin import verification as module

real = module.verify

def counting_verify(*args, **kwargs):
    # A spy, not a mock: the real verification runs; the log shows who ran it.
    with open(os.path.join(os.environ["SPY_DIR"], "verifications.log"), "a") as log:
        log.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")
    return real(*args, **kwargs)

module.verify = counting_verify
"""


def test_under_two_xdist_workers_a_model_is_verified_once_for_the_whole_session(
    pytester: pytest.Pytester, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require("xdist")
    monkeypatch.setenv("SPY_DIR", str(tmp_path))
    pytester.makeconftest(SPY_CONFTEST)
    pytester.makepyfile(**{f"test_{c}": _marked_tests(c, 4) for c in "abcd"})
    result = pytester.runpytest_subprocess("-n", "2", "-v")
    result.assert_outcomes(passed=17)
    output = result.stdout.str()
    for worker in ("gw0", "gw1"):  # both workers ran marked tests
        assert re.search(rf"\[{worker}\].* PASSED test_", output), output
    result.stdout.fnmatch_lines(
        ["tiny (models/tiny): 3 file(s) passed; verified once on gw? for 16 test(s)"]
    )
    runs = (tmp_path / "verifications.log").read_text().split()
    assert len(runs) == 1, runs


def test_a_hub_model_resolves_from_the_offline_cache_and_the_fixture_returns_the_snapshot(
    pytester: pytest.Pytester, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "hf-cache"
    files = {p.name: p.read_bytes() for p in project.model_dir.iterdir()}
    snapshot = build_hub_cache(cache, "acme/tiny-bert", COMMIT, files)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyfile(
        test_hub=f"""
        from pathlib import Path
        import pytest

        @pytest.mark.model_artifact("acme/tiny-bert@{COMMIT}")
        def test_short_form(model_artifact):
            assert model_artifact == Path({str(snapshot)!r})

        @pytest.mark.model_artifact("hf://acme/tiny-bert@{COMMIT}", name="tiny-bert")
        def test_uri_form(model_artifact):
            assert (model_artifact / "config.json").is_file()
        """
    )
    result = pytester.runpytest_subprocess("test_hub.py")
    result.assert_outcomes(passed=2)


def test_a_model_that_cannot_be_resolved_fails_the_test_with_the_reason(
    pytester: pytest.Pytester, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty-cache").mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyfile(
        test_missing=f"""
        import pytest

        @pytest.mark.model_artifact("acme/absent@{COMMIT}")
        def test_hub_model(model_artifact):
            pass

        @pytest.mark.model_artifact(path="models/nowhere")
        def test_local_model(model_artifact):
            pass

        @pytest.mark.model_artifact("acme/tiny-bert@main")
        def test_mutable_revision(model_artifact):
            pass
        """
    )
    result = pytester.runpytest_subprocess("test_missing.py")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines_random(
        [
            f"*model_artifact absent (hf://acme/absent@{COMMIT}) did not pass verification*",
            f"*could not complete: *hf://acme/absent@{COMMIT}*",
            "*models/nowhere is not a directory; point the marker at the model's files*",
            "*revision 'main' of acme/tiny-bert is mutable*pin the commit*",
        ]
    )


def test_one_name_for_two_different_models_fails_their_tests_with_the_fix(
    pytester: pytest.Pytester, project: Project
) -> None:
    write_model(pytester.path / "other" / "tiny", seed=1)
    pytester.makepyfile(
        test_names="""
        import pytest

        @pytest.mark.model_artifact(path="other/tiny")
        def test_other(model_artifact):
            pass

        @pytest.mark.model_artifact(path="other/tiny", name="other-tiny")
        def test_other_named(model_artifact):
            pass
        """
    )
    result = pytester.runpytest("test_names.py")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        ["*the name 'tiny' is the manifest's model*models/tiny*pass name='...' to the marker*"]
    )


def bom_and_matrix(root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    bom = json.loads((root / "build" / "ml-bom.cdx.json").read_text())
    bom.pop("serialNumber")
    bom["metadata"].pop("timestamp")
    return bom, comparable_matrix(root / "build" / "mlsupply-matrix.json")


MARKED_FOR_REPORTS = """
import pytest

@pytest.mark.model_artifact(path="models/extra", name="extra")
def test_extra(model_artifact):
    pass

@pytest.mark.model_artifact(path="models/extra", name="extra", allow_patterns=["*.json"])
def test_extra_json(model_artifact):
    pass

@pytest.mark.model_artifact(path="models/tiny", allow_patterns=["*.json"])
def test_declared_model(model_artifact):
    pass
"""


def test_marked_models_appear_in_the_bom_and_matrix_once_and_the_same_under_xdist(
    pytester: pytest.Pytester, project: Project
) -> None:
    write_model(pytester.path / "models" / "extra", seed=2)
    pytester.makepyfile(test_marked=MARKED_FOR_REPORTS)
    serial = pytester.runpytest_subprocess("--mlsupply", "-p", "no:xdist")
    assert serial.ret == 0, serial.stdout.str()
    bom, matrix = bom_and_matrix(project.root)

    models = {c["name"]: c for c in bom["components"] if c["type"] == "machine-learning-model"}
    assert set(models) == {"tiny", "extra"}  # the declared model is not duplicated
    extra_files = {f["name"] for f in models["extra"]["components"]}
    assert extra_files == {"README.md", "config.json", "model.safetensors"}
    assert {"name": "mlsupply:source", "value": "models/extra"} in models["extra"]["properties"]
    weights = next(f for f in models["extra"]["components"] if f["name"] == "model.safetensors")
    assert {"name": "mlsupply:check:scan", "value": "pass"} in weights["properties"]

    rows = {row["subject"]: row["cells"] for row in matrix["rows"]}
    assert rows["extra/model.safetensors"] == {"format": "pass", "scan": "pass", "sha256": "pass"}
    assert sum(1 for s in rows if s.startswith("extra/")) == 3

    parallel = pytester.runpytest_subprocess("--mlsupply", "-n", "2")
    assert parallel.ret == 0, parallel.stdout.str()
    assert bom_and_matrix(project.root) == (bom, matrix)


def test_a_marked_model_fills_cells_of_deselected_generated_items(
    pytester: pytest.Pytester, project: Project
) -> None:
    pytester.makepyfile(
        test_marked=MARKED_FOR_REPORTS.split("@pytest.mark")[0]
        + """
@pytest.mark.model_artifact(path="models/tiny")
def test_declared_model(model_artifact):
    pass
"""
    )
    generated = "mlsupply.yaml::artifact[tiny/model.safetensors::sha256]"
    result = pytester.runpytest("--mlsupply", "--deselect", generated)
    assert result.ret == 0
    _, matrix = bom_and_matrix(project.root)
    rows = {row["subject"]: row["cells"] for row in matrix["rows"]}
    # The generated artifact items were deselected; the marker's verification filled them.
    assert rows["tiny/model.safetensors"]["sha256"] == "pass"


def test_a_marker_added_by_a_conftest_after_collection_still_verifies_the_model(
    pytester: pytest.Pytester, project: Project
) -> None:
    # The marker plugin is registered on first need: a marker no collector saw (added by
    # another plugin's modifyitems hook) must still stop the test before its body runs.
    tamper(project.model_dir / "model.safetensors")
    pytester.makeconftest(
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                item.add_marker(pytest.mark.model_artifact(path="models/tiny"))
        """
    )
    pytester.makepyfile(
        test_plain="""
        def test_body():
            open("body-ran", "w").close()
        """
    )
    result = pytester.runpytest_subprocess("test_plain.py", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*model_artifact tiny (models/tiny) did not pass verification*"])
    assert not (pytester.path / "body-ran").exists()


def test_a_marker_added_at_setup_by_an_earlier_hook_still_verifies_the_model(
    pytester: pytest.Pytester, project: Project
) -> None:
    tamper(project.model_dir / "model.safetensors")
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_setup(item):
            item.add_marker(pytest.mark.model_artifact(path="models/tiny"))
        """
    )
    pytester.makepyfile(
        test_plain="""
        def test_body():
            open("body-ran", "w").close()
        """
    )
    result = pytester.runpytest_subprocess("test_plain.py", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    assert not (pytester.path / "body-ran").exists()


def test_one_name_for_two_models_marked_after_collection_fails_the_reports_not_merges_them(
    pytester: pytest.Pytester, project: Project
) -> None:
    # A trylast modifyitems hook of a conftest runs after the plugin's conflict check: both
    # models are verified, but one BOM component for the two would leave one model's files out.
    write_model(pytester.path / "a" / "m", seed=1)
    write_model(pytester.path / "b" / "m", seed=2)
    pytester.makeconftest(
        """
        import pytest

        @pytest.hookimpl(trylast=True)
        def pytest_collection_modifyitems(items):
            for item in items:
                where = "a/m" if item.name == "test_a" else "b/m"
                item.add_marker(pytest.mark.model_artifact(path=where))
        """
    )
    pytester.makepyfile(test_late="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    result = pytester.runpytest_subprocess("test_late.py", "--mlsupply", "-p", "no:randomly")
    assert result.ret == 6  # the report error status: no BOM that drops a verified model
    result.stdout.fnmatch_lines(
        ["*cannot put the marked models in the reports: the name 'm' is used for different*"]
    )
    assert not (pytester.path / "build" / "ml-bom.cdx.json").exists()
