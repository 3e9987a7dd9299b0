"""The project's code through pytest: `code: {paths: [...], exclude: [...]}` makes one item per
file, named by its path, failing on unsafe model loading with the file, line, column and the
quoted line; suppressed findings are accepted (matrix, BOM) with their reason; a file that does
not parse, and a path that yields no file, are errors, never passes."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.baseline import fingerprint, today_utc
from pytest_mlsupply.bom_diff import compare, read_bom, snapshot
from pytest_mlsupply.cli import main
from pytest_mlsupply.reports.bom import validate_bom_json
from tests.conftest import Project, comparable_matrix, sha256_of

UNSAFE = "import torch\n\n\ndef restore(path):\n    return torch.load(path)\n"
SAFE = (
    "import torch\n"
    "from safetensors.torch import load_file\n\n\n"
    "def restore(path):\n"
    "    return torch.load(path, weights_only=True), load_file(path)\n"
)
SUPPRESSED = (
    "import torch\n\n\n"
    "def restore(path):\n"
    "    return torch.load(path)  # mlsupply: ignore[MLS-LOAD-001] -- our own checkpoints, "
    "signed in CI\n"
)
#: A date the acceptances hold to, whatever day the suite runs (at most a year ahead).
FUTURE = (today_utc() + timedelta(days=90)).isoformat()
NO_REASON = "import torch\n\nstate = torch.load('x.pt')  # mlsupply: ignore[MLS-LOAD-001]\n"


def with_code(project: Project, files: dict[str, str], code: str = "{paths: [src/]}") -> Project:
    for name, text in files.items():
        path = project.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    project.default_manifest(top=f"code: {code}")
    return project


def matrix(project: Project) -> dict[str, Any]:
    return json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())


def code_cells(project: Project) -> dict[str, str]:
    return {
        r["subject"]: r["cells"]["code"] for r in matrix(project)["rows"] if r["kind"] == "code"
    }


def bom(project: Project) -> dict[str, Any]:
    return json.loads((project.root / "build" / "ml-bom.cdx.json").read_text())


def code_component(project: Project, subject: str) -> dict[str, Any]:
    (component,) = [c for c in bom(project)["components"] if c.get("bom-ref") == f"code:{subject}"]
    return component


def properties(component: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for prop in component.get("properties", []):
        out.setdefault(prop["name"], []).append(prop["value"])
    return out


def test_a_file_that_loads_a_checkpoint_unsafely_fails_its_item_naming_rule_and_position(
    pytester: pytest.Pytester, project: Project
) -> None:
    with_code(project, {"src/app/load.py": UNSAFE, "src/app/safe.py": SAFE})

    result = pytester.runpytest("--mlsupply", "-rf", "--mlsupply-html", "build/report.html")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["FAILED mlsupply.yaml::code[[]src/app/load.py[]]*"])
    text = result.stdout.str()
    assert "MLS-LOAD-001" in text
    assert "where: src/app/load.py:5:12" in text
    assert "torch.load(path)" in text  # the engine's evidence quotes the line
    # Shown once in the item's report (the short summary names the item, not the finding).
    assert text.count("where: src/app/load.py:5:12") == 1
    assert code_cells(project) == {"src/app/load.py": "fail", "src/app/safe.py": "pass"}
    (finding,) = [f for f in matrix(project)["findings"] if f["kind"] == "code"]
    assert finding["location"] == {"file": "src/app/load.py", "line": 5, "column": 12}
    assert finding["blocking"] is True
    # The HTML report: a Code table, "code" in the kind filter, the position to the column.
    html = (project.root / "build" / "report.html").read_text()
    assert "<caption>Code (2)</caption>" in html
    assert '<input type="checkbox" name="kind" value="' in html
    assert "> code</label>" in html
    assert "src/app/load.py, line 5, column 12" in html


def test_a_file_that_loads_only_safely_passes(pytester: pytest.Pytester, project: Project) -> None:
    with_code(project, {"src/safe.py": SAFE})

    result = pytester.runpytest("--mlsupply", "-v")

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["*mlsupply.yaml::code[[]src/safe.py[]] PASSED*"])
    assert code_cells(project) == {"src/safe.py": "pass"}
    markdown = (project.root / "build" / "mlsupply-matrix.md").read_text()
    assert "### Code" in markdown
    assert "| `src/safe.py` | ✅ pass |" in markdown


def test_a_finding_suppressed_with_a_reason_is_accepted_in_the_matrix_and_the_bom(
    pytester: pytest.Pytester, project: Project
) -> None:
    with_code(project, {"src/load.py": SUPPRESSED})

    result = pytester.runpytest("--mlsupply")

    assert result.ret == pytest.ExitCode.OK
    assert code_cells(project) == {"src/load.py": "accepted"}
    markdown = (project.root / "build" / "mlsupply-matrix.md").read_text()
    assert "suppressed in the source (`src/load.py:5`): our own checkpoints, signed in CI" in (
        markdown
    )
    (finding,) = [f for f in matrix(project)["findings"] if f["kind"] == "code"]
    assert finding["accepted"]["reason"] == "our own checkpoints, signed in CI"
    assert finding["blocking"] is False
    component = code_component(project, "src/load.py")
    assert component["type"] == "file"
    assert component["hashes"] == [
        {"alg": "SHA-256", "content": sha256_of(project.root / "src" / "load.py")}
    ]
    props = properties(component)
    assert props["mlsupply:check:code"] == ["accepted"]
    (accepted,) = props["mlsupply:accepted:code"]
    assert "suppressed in the source (src/load.py:5): our own checkpoints, signed in CI" in (
        accepted
    )
    (recorded,) = [json.loads(v) for v in props["mlsupply:finding"]]
    assert recorded["rule"] == "MLS-LOAD-001"
    assert recorded["accepted"]["reason"] == "our own checkpoints, signed in CI"
    # The project uses its code: each file hangs off the project in the dependency graph.
    root = next(d for d in bom(project)["dependencies"] if d["ref"].startswith("project:"))
    assert "code:src/load.py" in root["dependsOn"]
    validate_bom_json(bom(project))


def test_a_suppression_without_a_reason_suppresses_nothing_and_is_a_finding_itself(
    pytester: pytest.Pytester, project: Project
) -> None:
    with_code(project, {"src/load.py": NO_REASON})

    result = pytester.runpytest("--mlsupply")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert code_cells(project) == {"src/load.py": "fail"}
    rules = {f["rule"]: f for f in matrix(project)["findings"] if f["kind"] == "code"}
    assert "MLS-LOAD-013" in rules
    assert "accepted" not in rules["MLS-LOAD-001"]


def test_a_notebook_is_an_item_whose_findings_name_their_cell(
    pytester: pytest.Pytester, project: Project
) -> None:
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Restore\n"]},
            {
                "cell_type": "code",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": ["import torch\n", "state = torch.load('ckpt.pt')\n"],
            },
        ],
    }
    with_code(project, {"notebooks/explore.ipynb": json.dumps(notebook)}, "{paths: [notebooks]}")

    result = pytester.runpytest("--mlsupply")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*where: notebooks/explore.ipynb, cell 2:2:9*"])
    (finding,) = [f for f in matrix(project)["findings"] if f["kind"] == "code"]
    assert finding["location"]["cell"] == 2
    assert finding["rule"] == "MLS-LOAD-001"


def test_an_excluded_file_gets_no_item(pytester: pytest.Pytester, project: Project) -> None:
    with_code(
        project,
        {"src/app.py": SAFE, "src/legacy/old.py": UNSAFE, "src/app_test.py": UNSAFE},
        '{paths: [src/], exclude: ["src/legacy/*", "*_test.py"]}',
    )

    result = pytester.runpytest("--mlsupply")

    assert result.ret == pytest.ExitCode.OK
    assert code_cells(project) == {"src/app.py": "pass"}


def test_a_file_that_does_not_parse_is_an_error_never_a_pass(
    pytester: pytest.Pytester, project: Project
) -> None:
    with_code(project, {"src/broken.py": "def load(:\n    pass\n"})

    result = pytester.runpytest("--mlsupply")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert code_cells(project) == {"src/broken.py": "error"}
    result.stdout.fnmatch_lines(["*could not complete: *broken.py*"])
    # The BOM still names the file (with its digest) and its verdict.
    assert properties(code_component(project, "src/broken.py"))["mlsupply:check:code"] == ["error"]


def test_a_code_path_that_yields_no_file_is_an_error_naming_it_and_the_fix(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "src").mkdir()
    (project.root / "src" / "README.md").write_text("no code yet\n")
    (project.root / "tools").mkdir()
    (project.root / "tools" / "old.py").write_text(UNSAFE)
    with_code(project, {"app.py": SAFE}, '{paths: [src/, tools, app.py], exclude: ["tools/"]}')

    result = pytester.runpytest("--mlsupply", "-rf")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*no .py or .ipynb file under src/ (after exclude); fix: point code.paths at *",
            "FAILED mlsupply.yaml::code[[]src/[]]*",
        ]
    )
    assert code_cells(project) == {"app.py": "pass", "src/": "error", "tools/": "error"}


def test_policy_fail_on_decides_whether_a_code_finding_fails(
    pytester: pytest.Pytester, project: Project
) -> None:
    with_code(project, {"src/load.py": UNSAFE})

    result = pytester.runpytest("--mlsupply", "--mlsupply-fail-on", "critical")

    assert result.ret == pytest.ExitCode.OK
    assert code_cells(project) == {"src/load.py": "warn"}


def test_the_baseline_writes_code_findings_and_accepts_them_once_beside_a_suppression(
    pytester: pytest.Pytester, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    with_code(project, {"src/load.py": UNSAFE, "src/quiet.py": SUPPRESSED})
    assert pytester.runpytest("--mlsupply").ret == pytest.ExitCode.TESTS_FAILED

    assert main(["baseline"]) == 0
    written = project.root / "mlsupply-baseline.yaml"
    text = written.read_text()
    assert "kind: code" in text
    assert "subject: src/load.py" in text
    # The suppressed finding needs no entry: its comment is its record.
    assert "subject: src/quiet.py" not in text
    # Filled in, and an entry added by hand for the suppressed one too.
    suppressed = next(f for f in matrix(project)["findings"] if f["subject"] == "src/quiet.py")
    text = text.replace("reason: TODO", "reason: reviewed in SEC-9").replace(
        "owner: TODO", "owner: ml-platform"
    )
    text = text.replace("expires: TODO", f"expires: {FUTURE}")
    written.write_text(
        text
        + "- rule: MLS-LOAD-001\n  kind: code\n  subject: src/quiet.py\n  check: code\n"
        + f"  location: {json.dumps(suppressed['location'])}\n"
        + f"  fingerprint: '{fingerprint(suppressed['title'], suppressed['evidence'])}'\n"
        + f"  reason: also in the baseline\n  owner: alice\n  expires: {FUTURE}\n"
    )
    capsys.readouterr()

    result = pytester.runpytest("--mlsupply")

    assert result.ret == pytest.ExitCode.OK
    assert code_cells(project) == {"src/load.py": "accepted", "src/quiet.py": "accepted"}
    quiet = [f for f in matrix(project)["findings"] if f["subject"] == "src/quiet.py"]
    assert len(quiet) == 1
    assert quiet[0]["accepted"]["reason"] == "our own checkpoints, signed in CI"  # inline, once
    loud = next(f for f in matrix(project)["findings"] if f["subject"] == "src/load.py")
    assert loud["accepted"]["owner"] == "ml-platform"
    assert matrix(project)["baseline"]["stale"] == []


def test_bom_diff_shows_a_code_file_whose_verdict_flipped(
    pytester: pytest.Pytester, project: Project, tmp_path: Path
) -> None:
    with_code(project, {"src/load.py": SAFE})
    assert pytester.runpytest("--mlsupply").ret == pytest.ExitCode.OK
    old = tmp_path / "old.cdx.json"
    old.write_text((project.root / "build" / "ml-bom.cdx.json").read_text())
    (project.root / "src" / "load.py").write_text(UNSAFE)
    assert pytester.runpytest("--mlsupply").ret == pytest.ExitCode.TESTS_FAILED
    new = project.root / "build" / "ml-bom.cdx.json"

    changes = compare(snapshot(old, read_bom(old)), snapshot(new, read_bom(new)))

    flips = [c for c in changes if c.kind == "verdict-flip"]
    assert [(c.what, c.name, c.field, c.old, c.new) for c in flips] == [
        ("code", "src/load.py", "check:code", "pass", "fail")
    ]
    assert main(["bom", "diff", str(old), str(new), "--fail-on", "new-failure"]) == 1


@pytest.mark.needs("xdist")
def test_two_workers_give_the_same_matrix_as_a_serial_run(
    pytester: pytest.Pytester, project: Project
) -> None:
    with_code(
        project,
        {"src/a.py": UNSAFE, "src/b.py": SAFE, "src/c.py": SUPPRESSED, "src/d.py": "x = (\n"},
    )
    serial = pytester.runpytest_subprocess("--mlsupply")
    expected = comparable_matrix(project.root / "build" / "mlsupply-matrix.json")

    parallel = pytester.runpytest_subprocess("--mlsupply", "-n", "2")

    assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED
    assert comparable_matrix(project.root / "build" / "mlsupply-matrix.json") == expected
    assert code_cells(project) == {
        "src/a.py": "fail",
        "src/b.py": "pass",
        "src/c.py": "accepted",
        "src/d.py": "error",
    }


def test_a_code_file_linked_to_a_device_errors_its_item_instead_of_hanging_the_gate(
    pytester: pytest.Pytester, project: Project
) -> None:
    # A link committed as src/zero.py -> /dev/zero: the check's digest read it forever.
    with_code(project, {"src/safe.py": SAFE})
    (project.root / "src" / "zero.py").symlink_to("/dev/zero")

    result = pytester.runpytest("--mlsupply", "-rE")

    assert code_cells(project) == {"src/safe.py": "pass", "src/zero.py": "error"}
    assert "src/zero.py: not a regular file" in result.stdout.str()
    assert "hashes" not in code_component(project, "src/zero.py")


def test_a_file_name_that_is_not_utf8_still_gets_its_reports(
    pytester: pytest.Pytester, project: Project
) -> None:
    with_code(project, {"src/safe.py": SAFE})
    (project.root / os.fsdecode(b"src/\xff.py")).write_text(UNSAFE)
    result = pytester.runpytest("--mlsupply")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert len(code_cells(project)) == 2


def test_a_file_name_with_a_newline_and_an_escape_sequence_forges_no_line_of_the_summary(
    pytester: pytest.Pytester, project: Project
) -> None:
    # Review R2: the item was named code[<raw name>]: this name printed a line starting with
    # PASSED in pytest's short summary, and its ESC sequence reached the terminal and the matrix.
    with_code(project, {"src/safe.py": SAFE})
    name = "a\nPASSED mlsupply.yaml::code[src\x1b[32m.evil.py].py"
    (project.root / "src" / name).write_text(UNSAFE)

    result = pytester.runpytest("--mlsupply", "-rA")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    lines = out.splitlines()
    passed_code = [x for x in lines if x.startswith("PASSED mlsupply.yaml::code[")]
    assert passed_code == ["PASSED mlsupply.yaml::code[src/safe.py]"]
    assert "\x1b" not in out
    escaped = "src/a\\nPASSED mlsupply.yaml::code[src\\x1b[32m.evil.py].py"
    assert code_cells(project) == {"src/safe.py": "pass", escaped: "fail"}
    markdown = (project.root / "build" / "mlsupply-matrix.md").read_text()
    assert "\x1b" not in markdown
