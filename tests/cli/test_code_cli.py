"""``mlsupply code PATH...``: the code checks outside pytest, in text, JSON and SARIF.

Each test writes its own small Python files and notebooks and runs the command in-process
(``cli.main``) from the directory that holds them, as a user or the pre-commit hook does.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.cli import main
from pytest_mlsupply.engines.project_code import RULES, analyse_file
from tests.reports.sarif_checks import assert_github_accepts

VULNERABLE = "import torch\nstate = torch.load('weights.pt')\n"
SAFE = "import torch\nstate = torch.load('weights.pt', weights_only=True)\n"
SUPPRESSED = (
    "import torch\n"
    "state = torch.load('ours.pt')  # mlsupply: ignore[MLS-LOAD-001] -- our own checkpoint\n"
)
BROKEN = "def load(:\n"


def notebook(*cells: tuple[str, str]) -> str:
    """An nbformat 4 notebook of (cell_type, source) cells, sources as lists of lines."""
    return json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {
                    "cell_type": kind,
                    "metadata": {},
                    "source": source.splitlines(keepends=True),
                    **({"outputs": [], "execution_count": None} if kind == "code" else {}),
                }
                for kind, source in cells
            ],
        }
    )


#: A markdown cell first, so the finding's cell (2) is not its index among code cells (1).
NOTEBOOK = notebook(("markdown", "# Evaluation\n"), ("code", "import torch\nm = torch.load(p)\n"))

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory, the current directory of the run."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def code(capsys: pytest.CaptureFixture[str]) -> Run:
    """``mlsupply code ARGS...``: (exit status, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(["code", *args])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


# -- text -----------------------------------------------------------------------------------


def test_a_vulnerable_file_fails_with_place_rule_quoted_line_fix_and_cwe(
    project: Path, code: Run
) -> None:
    write(project, {"src/load.py": VULNERABLE})
    status, out, _ = code("src/load.py")
    assert status == 1
    lines = out.splitlines()
    head = next(line for line in lines if "MLS-LOAD-001" in line)
    assert head.startswith("src/load.py:2:9: [HIGH] MLS-LOAD-001 ")
    block = lines[lines.index(head) : lines.index(head) + 4]
    assert any("state = torch.load('weights.pt')" in line for line in block)  # the quoted line
    assert any(line.startswith("  fix: ") for line in block)
    assert "  CWE-502" in block
    assert lines[-1].startswith("checked 1 file: 1 failing finding, 0 below the threshold, ")


def test_a_safe_file_passes_with_a_count_line_only(project: Path, code: Run) -> None:
    write(project, {"safe.py": SAFE})
    status, out, _ = code("safe.py")
    assert status == 0
    assert out == (
        "checked 1 file: 0 failing findings, 0 below the threshold, 0 suppressed, 0 errors "
        "(fail at high and above)\n"
    )


def test_a_suppressed_finding_is_listed_with_its_reason_and_does_not_fail(
    project: Path, code: Run
) -> None:
    write(project, {"load.py": SUPPRESSED})
    status, out, _ = code("load.py")
    assert status == 0
    assert "load.py:2:9: [HIGH] MLS-LOAD-001 " in out
    head = next(line for line in out.splitlines() if "MLS-LOAD-001" in line)
    assert head.endswith("(suppressed)")
    assert "suppressed in the source (load.py:2): our own checkpoint" in out
    assert "0 failing findings, 0 below the threshold, 1 suppressed" in out


def test_a_notebook_finding_is_placed_in_its_cell(project: Path, code: Run) -> None:
    write(project, {"notebooks/eval.ipynb": NOTEBOOK})
    status, out, _ = code("notebooks/eval.ipynb")
    assert status == 1
    assert "notebooks/eval.ipynb:cell 2:2:5: [HIGH] MLS-LOAD-001 " in out


def test_a_finding_below_the_threshold_is_shown_but_does_not_fail(project: Path, code: Run) -> None:
    write(project, {"load.py": VULNERABLE})
    status, out, _ = code("--fail-on", "critical", "load.py")
    assert status == 0
    head = next(line for line in out.splitlines() if "MLS-LOAD-001" in line)
    assert head.endswith("(below the threshold, critical)")
    assert "0 failing findings, 1 below the threshold" in out


# -- exit statuses --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_an_unparseable_file_is_an_error_never_a_pass(project: Path, code: Run, fmt: str) -> None:
    write(project, {"broken.py": BROKEN, "safe.py": SAFE})
    status, out, _ = code("--format", fmt, ".")
    assert status == 2
    assert "broken.py" in out


def test_the_text_report_names_the_file_that_could_not_be_parsed(project: Path, code: Run) -> None:
    write(project, {"broken.py": BROKEN})
    _, out, _ = code("broken.py")
    (error,) = [line for line in out.splitlines() if line.startswith("ERROR ")]
    assert error.startswith("ERROR broken.py: ")
    assert "broken.py: broken.py" not in error  # the engine's message names it already
    assert error.endswith("or exclude the file with --exclude")  # the CLI's option, not the key
    assert out.splitlines()[-1].endswith("1 error (fail at high and above)")


def test_findings_outrank_an_unparseable_file(project: Path, code: Run) -> None:
    write(project, {"broken.py": BROKEN, "load.py": VULNERABLE})
    status, _, _ = code("broken.py", "load.py")
    assert status == 1


def test_a_missing_path_is_an_error_and_the_other_paths_are_still_checked(
    project: Path, code: Run
) -> None:
    write(project, {"safe.py": SAFE})
    status, out, _ = code("nowhere.py", "safe.py")
    assert status == 2
    assert "ERROR nowhere.py: no such file or directory" in out
    assert "checked 1 file: " in out
    write(project, {"load.py": VULNERABLE})
    assert code("nowhere.py", "load.py")[0] == 1  # findings outrank errors, as in scan


def test_a_directory_without_python_files_is_an_error_not_a_clean_run(
    project: Path, code: Run
) -> None:
    write(project, {"docs/readme.md": "# nothing to check\n"})
    status, out, _ = code("docs")
    assert status == 2
    assert "ERROR docs: no .py or .ipynb file in this directory" in out


def test_bad_arguments_exit_2_before_anything_is_checked(project: Path, code: Run) -> None:
    write(project, {"load.py": VULNERABLE})
    with pytest.raises(SystemExit) as exit_info:
        code("--fail-on", "info", "load.py")
    assert exit_info.value.code == 2


# -- paths: walk, exclude, names ------------------------------------------------------------


def test_a_directory_is_walked_in_order_with_paths_relative_to_the_current_directory(
    project: Path, code: Run
) -> None:
    write(
        project,
        {
            "src/b.py": VULNERABLE,
            "src/a/deep.py": VULNERABLE,
            "src/.hidden/x.py": VULNERABLE,  # hidden directories hold no project code
            "src/__pycache__/x.py": VULNERABLE,
            "src/notes.txt": VULNERABLE,
            "src/nb.ipynb": NOTEBOOK,
        },
    )
    status, out, _ = code("--format", "json", "src")
    assert status == 1
    document = json.loads(out)
    assert [f["path"] for f in document["files"]] == ["src/a/deep.py", "src/b.py", "src/nb.ipynb"]
    assert [f["notebook"] for f in document["files"]] == [False, False, True]


def test_exclude_leaves_out_matching_files_walked_or_named(project: Path, code: Run) -> None:
    write(project, {"src/app.py": SAFE, "src/legacy/old.py": VULNERABLE, "x_test.py": VULNERABLE})
    assert code("src", "x_test.py")[0] == 1
    status, out, _ = code("--exclude", "src/legacy/*", "--exclude", "*_test.py", "src", "x_test.py")
    assert status == 0
    assert "checked 1 file: 0 failing findings" in out


def test_a_directory_whose_files_are_all_excluded_is_an_error(project: Path, code: Run) -> None:
    write(project, {"tests/t.py": VULNERABLE})
    status, out, _ = code("--exclude", "tests/", "tests")
    assert status == 2
    assert "(after --exclude)" in out


def test_a_path_outside_the_current_directory_is_named_absolutely(
    project: Path, code: Run, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    write(elsewhere, {"load.py": VULNERABLE})
    _, out, _ = code(str(elsewhere / "load.py"))
    assert f"{elsewhere.as_posix()}/load.py:2:9: [HIGH]" in out


@pytest.mark.parametrize("name", ["evil\nFAKE.py", "\x1b[32mgreen.py", "rtl\u202eyp.py"])
def test_a_hostile_file_name_is_escaped_in_the_text_report(
    project: Path, code: Run, name: str
) -> None:
    (project / "src").mkdir()
    (project / "src" / name).write_text(VULNERABLE, encoding="utf-8")
    status, out, _ = code("src")
    assert status == 1
    assert "\x1b" not in out
    assert "\u202e" not in out
    # One line per block head: the name's newline cannot start a line of its own.
    assert not any(line.startswith("FAKE.py") for line in out.splitlines())
    head = next(line for line in out.splitlines() if "MLS-LOAD-001" in line)
    # Named as every report names it (sources/code.py): each such character as its escape.
    assert head.startswith("src/" + repr(name)[1:-1] + ":2:9: [HIGH]")


# -- JSON -----------------------------------------------------------------------------------


def test_the_json_document_has_each_file_its_findings_as_to_dict_and_the_summary(
    project: Path, code: Run
) -> None:
    write(
        project,
        {
            "bad.py": VULNERABLE,
            "good.py": SAFE,
            "ours.py": SUPPRESSED,
            "nb.ipynb": NOTEBOOK,
            "broken.py": BROKEN,
        },
    )
    status, out, _ = code("--format", "json", ".")
    assert status == 1
    document = json.loads(out)
    assert document["version"] == 1
    assert document["tool"]["name"] == "pytest-mlsupply"
    assert document["threshold"] == "high"
    assert document["errors"] == []
    files = {f["path"]: f for f in document["files"]}
    assert sorted(files) == ["bad.py", "broken.py", "good.py", "nb.ipynb", "ours.py"]
    assert {p: f["verdict"] for p, f in files.items()} == {
        "bad.py": "fail",
        "broken.py": "error",
        "good.py": "pass",
        "nb.ipynb": "fail",
        "ours.py": "accepted",
    }
    assert files["broken.py"]["error"]
    assert files["good.py"] == {
        "path": "good.py",
        "notebook": False,
        "verdict": "pass",
        "error": None,
        "findings": [],
    }
    # The engine's findings, as Finding.to_dict() writes them (the matrix JSON's form).
    expected = [f.to_dict() for f in analyse_file(project / "bad.py", display="bad.py").findings]
    assert [
        {k: v for k, v in f.items() if k != "blocking"} for f in files["bad.py"]["findings"]
    ] == expected
    (bad,) = files["bad.py"]["findings"]
    assert bad["location"] == {"file": "bad.py", "line": 2, "column": 9}
    assert bad["blocking"] is True
    (cell,) = files["nb.ipynb"]["findings"]
    assert cell["location"]["cell"] == 2
    (ours,) = files["ours.py"]["findings"]
    assert ours["blocking"] is False
    assert ours["accepted"]["reason"] == "our own checkpoint"
    assert ours["accepted"]["source"] == "ours.py:2"
    assert document["summary"] == {
        "files": 5,
        "findings": 3,
        "blocking": 2,
        "below_threshold": 0,
        "suppressed": 1,
        "errors": 1,
        "pass": 1,
        "fail": 2,
        "warn": 0,
        "accepted": 1,
        "error": 1,
    }


def test_the_json_document_lists_paths_that_named_nothing(project: Path, code: Run) -> None:
    status, out, _ = code("--format", "json", "gone.py")
    assert status == 2
    document = json.loads(out)
    assert document["errors"] == [{"path": "gone.py", "error": "no such file or directory"}]
    assert document["summary"]["errors"] == 1


# -- SARIF ----------------------------------------------------------------------------------


def sarif(code: Run, *args: str) -> tuple[int, dict[str, Any]]:
    status, out, _ = code("--format", "sarif", *args)
    log: dict[str, Any] = json.loads(out)
    assert_github_accepts(log)  # the OASIS schema, and what GitHub code scanning requires
    return status, log


def test_the_sarif_log_validates_and_places_findings_at_line_and_column(
    project: Path, code: Run
) -> None:
    write(project, {"src/bad.py": VULNERABLE, "src/good.py": SAFE})
    status, log = sarif(code, "src")
    assert status == 1
    (run,) = log["runs"]
    (result,) = run["results"]
    assert result["ruleId"] == "MLS-LOAD-001"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "src/bad.py"
    assert result["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 2,
        "startColumn": 9,
    }
    assert run["invocations"][0]["executionSuccessful"] is True
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == project.resolve().as_uri() + "/"


def test_the_sarif_rule_carries_the_catalogues_help_and_cwe(project: Path, code: Run) -> None:
    write(project, {"bad.py": VULNERABLE})
    _, log = sarif(code, "bad.py")
    (rule,) = log["runs"][0]["tool"]["driver"]["rules"]
    catalogue = RULES["MLS-LOAD-001"]
    assert rule["id"] == "MLS-LOAD-001"
    assert rule["shortDescription"]["text"] == catalogue.title
    assert rule["fullDescription"]["text"] == catalogue.why
    assert rule["help"]["text"].startswith(catalogue.fix)
    assert catalogue.cwe in rule["properties"]["tags"]
    assert "external/cwe/cwe-502" in rule["properties"]["tags"]


def test_the_sarif_log_names_a_notebook_cell_and_marks_an_inline_suppression(
    project: Path, code: Run
) -> None:
    write(project, {"nb.ipynb": NOTEBOOK, "ours.py": SUPPRESSED})
    status, log = sarif(code, ".")
    assert status == 1
    by_file = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r
        for r in log["runs"][0]["results"]
    }
    cell = by_file["nb.ipynb"]
    assert "region" not in cell["locations"][0]["physicalLocation"]
    assert cell["locations"][0]["logicalLocations"][0]["name"] == "cell 2"
    assert "(cell 2, line 2, column 5)" in cell["message"]["text"]
    ours = by_file["ours.py"]
    assert ours["suppressions"][0]["kind"] == "inSource"
    assert "our own checkpoint" in ours["suppressions"][0]["justification"]
    assert ours["properties"]["blocking"] is False


def test_an_unparseable_file_makes_the_sarif_invocation_unsuccessful(
    project: Path, code: Run
) -> None:
    write(project, {"broken.py": BROKEN})
    status, log = sarif(code, "broken.py", "gone.py")
    assert status == 2
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    texts = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert any(t.startswith("broken.py [code] could not complete: ") for t in texts)
    assert "gone.py [code] could not complete: no such file or directory" in texts


# -- --output -------------------------------------------------------------------------------


def test_output_writes_the_report_to_a_file_and_prints_the_count_line(
    project: Path, code: Run
) -> None:
    write(project, {"bad.py": VULNERABLE})
    status, out, _ = code("--format", "sarif", "--output", "build/code.sarif", "bad.py")
    assert status == 1
    log = json.loads((project / "build" / "code.sarif").read_text(encoding="utf-8"))
    assert_github_accepts(log)
    assert out == (
        "checked 1 file: 1 failing finding, 0 below the threshold, 0 suppressed, 0 errors "
        "(fail at high and above); report written to build/code.sarif\n"
    )


def test_an_unwritable_output_is_an_error_naming_the_path(project: Path, code: Run) -> None:
    write(project, {"good.py": SAFE, "taken": "a file, not a directory\n"})
    status, _, err = code("--output", "taken/report.txt", "good.py")
    assert status == 2
    assert "mlsupply code: cannot write taken/report.txt" in err
    assert "--output" in err


def test_an_engine_crash_is_that_files_error_and_the_other_files_are_still_checked(
    project: Path, code: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The engine promises never to raise, so no real file makes it crash: this stands in for
    # a bug in it. A crash must fail closed (exit 2, the file named), never pass or abort.
    import pytest_mlsupply.engines.project_code as engine

    real = engine.analyse_file

    def crashing(path: Path, *, display: str) -> engine.CodeAnalysis:
        if path.name == "odd.py":
            raise RecursionError("maximum recursion depth exceeded")
        return real(path, display=display)

    monkeypatch.setattr(engine, "analyse_file", crashing)
    write(project, {"odd.py": SAFE, "safe.py": SAFE})
    status, out, _ = code(".")
    assert status == 2
    assert "ERROR odd.py: the analysis crashed (RecursionError: " in out
    assert "checked 2 files: " in out


@pytest.mark.skipif(sys.platform != "linux", reason="a file name that is not UTF-8")
def test_a_file_name_that_is_not_utf8_is_escaped_in_the_sarif_log(project: Path, code: Run) -> None:
    # Review R3: the walk listed it (its bytes as surrogates) and the SARIF writer crashed with
    # UnicodeEncodeError, a traceback and exit 1, like a gate that found something.
    (project / "src").mkdir()
    (project / os.fsdecode(b"src/\xff.py")).write_text(VULNERABLE, encoding="utf-8")
    status, log = sarif(code, "src")
    assert status == 1
    (result,) = log["runs"][0]["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    # Named as every report names it (sources/code.py: \xNN for a byte that is not UTF-8).
    assert uri == "src/%5Cxff.py"


# -- --config: the manifest's code section ---------------------------------------------------

MANIFEST = """\
version: 1
project: {name: p, version: 1.0.0}
code: {paths: [src/], exclude: ["src/legacy/"]}
policy: {fail_on: critical}
"""


def test_config_checks_the_manifests_paths_less_its_exclude_named_as_the_gate_names_them(
    project: Path, code: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project / "app", {"mlsupply.yaml": MANIFEST, "src/load.py": VULNERABLE})
    write(project / "app", {"src/legacy/old.py": VULNERABLE, "tools/t.py": VULNERABLE})
    monkeypatch.chdir(project / "app" / "src")  # anywhere: the manifest's directory names files

    status, out, _ = code("--config", "../mlsupply.yaml", "--format", "json")

    document = json.loads(out)
    assert [f["path"] for f in document["files"]] == ["src/load.py"]
    # policy.fail_on is critical: a high finding does not fail the run.
    assert status == 0


def test_config_fail_on_yields_to_an_explicit_fail_on(project: Path, code: Run) -> None:
    write(project, {"mlsupply.yaml": MANIFEST, "src/load.py": VULNERABLE})
    status, out, _ = code("--config", "mlsupply.yaml", "--fail-on", "high")
    assert status == 1
    assert out.splitlines()[0].startswith("src/load.py:2:9: [HIGH] MLS-LOAD-001")


def test_config_applies_its_exclude_to_files_named_on_the_command_line(
    project: Path, code: Run
) -> None:
    # The pre-commit hook names every changed file: the manifest's exclude still holds.
    write(project, {"mlsupply.yaml": MANIFEST, "src/legacy/old.py": VULNERABLE})
    status, out, _ = code("--config", "mlsupply.yaml", "--fail-on", "low", "src/legacy/old.py")
    assert status == 0
    assert out.startswith("checked 0 files")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name the files or directories to check, or pass --config"),
        (("--config", "missing.yaml"), "--config missing.yaml: no such file"),
        (("--config", "bare.yaml"), "bare.yaml has no code section and no PATH is named"),
    ],
)
def test_nothing_to_check_is_an_error_saying_what_to_name(
    project: Path, code: Run, args: tuple[str, ...], message: str
) -> None:
    write(project, {"bare.yaml": "version: 1\n"})
    status, out, err = code(*args)
    assert status == 2
    assert message in err
    assert out == ""


def test_a_manifest_that_does_not_validate_is_an_error_naming_it(project: Path, code: Run) -> None:
    write(project, {"mlsupply.yaml": "version: 1\ncode: {exclude: [x]}\n"})
    status, _, err = code("--config", "mlsupply.yaml")
    assert status == 2
    assert "mlsupply.yaml" in err
    assert "paths" in err
