"""The terminal tells the truth once: the user's own tests counted, a marked model's findings shown
once with the right file count, a broken manifest reported once under xdist, the model-card
claim made only where a card is asked for."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Project, write_pickle_payload

MARKED_TWICE = """
import pytest

pytestmark = pytest.mark.model_artifact(path="models/tiny")

def test_first(model_artifact):
    pass

def test_second(model_artifact):
    pass
"""


def test_the_summary_counts_the_users_own_tests_beside_the_generated_items(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "tests" / "test_more.py").write_text(
        "def test_fails():\n    assert False\n\ndef test_passes():\n    pass\n"
    )

    result = pytester.runpytest("--mlsupply")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # Two of the user's tests pass (test_users_own_test and test_passes), one fails; the
    # generated items (all passing) are counted on the checks line, not here.
    result.stdout.fnmatch_lines(
        [
            "tests: 2 passed, 1 failed (your own, beside the generated items)",
            "checks: * pass, 0 fail, *",
        ]
    )


def test_unpinned_files_are_counted_in_the_summary_and_read_not_pinned_in_the_matrix(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--mlsupply")

    assert result.ret == 0
    # README.md and config.json have no pin in the default manifest; the weights do.
    result.stdout.fnmatch_lines(["not pinned: 2 passing cell(s) (counted as pass; see the matrix)"])
    markdown = (project.root / "build" / "mlsupply-matrix.md").read_text()
    assert "| `tiny/config.json` | ✅ pass | ✅ pass | 🔓 not pinned |" in markdown
    assert "| `tiny/model.safetensors` | ✅ pass | ✅ pass | ✅ pass |" in markdown
    assert "- Project: `tiny-service` `1.2.3`" in markdown


def test_a_marked_models_findings_are_printed_once_with_the_count_of_files_that_failed(
    pytester: pytest.Pytester, project: Project
) -> None:
    write_pickle_payload(project.model_dir / "extra.bin")
    pytester.makepyfile(test_marked=MARKED_TWICE)

    result = pytester.runpytest("-p", "no:randomly", "tests", "test_marked.py")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    # One full block of findings (format and scan), under the first test; the second test
    # points to it.
    assert out.count("MLS-PKL-001") == 1
    assert out.count("artifact check 'format' on tiny/extra.bin: FAIL") == 1
    result.stdout.fnmatch_lines(
        [
            "*did not pass verification; the test did not run "
            "(the findings are shown under test_marked.py::test_first)",
        ]
    )
    # extra.bin failed; the three other files of the model passed.
    result.stdout.fnmatch_lines(["tiny (models/tiny): 1 of 4 file(s) FAILED; *"])


@pytest.mark.needs("xdist")
def test_a_broken_manifest_under_xdist_is_reported_once_without_pytests_exit_wrapping(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.manifest("version: 1\nmodles: []\n")

    result = pytester.runpytest_subprocess("--mlsupply", "-n", "2")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    everything = result.stdout.str() + result.stderr.str()
    assert everything.count("mlsupply.yaml:2:1: modles: unknown key 'modles'") == 1
    assert "Exit" not in everything
    result.stdout.fnmatch_lines(
        ["*ERROR collecting mlsupply.yaml*", "*Interrupted: 1 error during collection*"]
    )
    assert "test_users_own_test" not in result.stdout.str()


def _claims(pytester: pytest.Pytester) -> set[str]:
    result = pytester.runpytest("--mlsupply", "--collect-only", "-q", "-k", "provenance")
    return {line.split("::", 1)[1] for line in result.stdout.lines if "::provenance[" in line}


def test_the_model_card_claim_is_made_only_where_a_card_is_asked_for(
    pytester: pytest.Pytester, project: Project
) -> None:
    assert "provenance[tiny::model-card]" in _claims(pytester)  # `card:` is declared

    without_card = "version: 1\nmodels:\n  - {name: tiny, path: models/tiny}\n"
    project.manifest(without_card)
    assert "provenance[tiny::model-card]" not in _claims(pytester)

    project.manifest(without_card + "policy: {require_card: true}\n")
    assert "provenance[tiny::model-card]" in _claims(pytester)


def test_a_model_without_a_card_fails_only_when_the_policy_requires_one(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.model_dir / "README.md").unlink()
    project.manifest("version: 1\nmodels:\n  - {name: tiny, path: models/tiny}\n")
    assert pytester.runpytest("--mlsupply").ret == 0

    project.manifest(
        "version: 1\npolicy: {require_card: true}\nmodels:\n  - {name: tiny, path: models/tiny}\n"
    )
    result = pytester.runpytest("--mlsupply")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    assert {f["rule"] for f in matrix["findings"] if f["check"] == "model-card"} == {"MLS-CARD-001"}
