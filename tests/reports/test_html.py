"""The HTML report without a browser: escaping, self-containedness, every finding, determinism,
and `mlsupply report` rebuilding the gate's file byte for byte from the saved documents."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.cli import main
from pytest_mlsupply.reports.html import json_island, render_html
from pytest_mlsupply.reports.outputs import ReportError
from tests.conftest import Project
from tests.reports.html_documents import (
    HOSTILE,
    HOSTILE_SCRIPT_END,
    gate_project,
    hostile_documents,
    large_documents,
)


def saved(project: Project) -> tuple[dict[str, Any], dict[str, Any]]:
    build = project.root / "build"
    matrix = json.loads((build / "mlsupply-matrix.json").read_text())
    bom = json.loads((build / "ml-bom.cdx.json").read_text())
    return matrix, bom


def test_mlsupply_report_rebuilds_the_gates_html_byte_for_byte_from_the_saved_files(
    pytester: pytest.Pytester, project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    gate_project(project)
    result = pytester.runpytest("--mlsupply", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    written = (project.root / "build" / "report.html").read_bytes()
    result.stdout.fnmatch_lines(["*wrote build/report.html*"])

    rebuilt = project.root / "rebuilt.html"
    config = str(project.root / "mlsupply.yaml")
    assert main(["report", "--config", config, "-o", str(rebuilt)]) == 0
    assert rebuilt.read_bytes() == written
    assert f"wrote {rebuilt}" in capsys.readouterr().out

    # Without -o, --config's output.html is the default: the same file, rewritten identically.
    (project.root / "build" / "report.html").unlink()
    assert main(["report", "--config", config]) == 0
    assert (project.root / "build" / "report.html").read_bytes() == written


def test_the_gates_report_holds_every_finding_the_lineage_and_the_vulnerability_fix(
    pytester: pytest.Pytester, project: Project
) -> None:
    gate_project(project)
    pytester.runpytest("--mlsupply", "-p", "no:randomly")
    html = (project.root / "build" / "report.html").read_text()
    matrix, bom = saved(project)

    assert matrix["findings"]
    for finding in matrix["findings"]:
        assert f'<code class="rule">{finding["rule"]}</code>' in html
    assert html.count('<article class="finding') == len(matrix["findings"])
    assert bom["serialNumber"] in html
    assert "Lineage of adapter: base \u2192 finetune \u2192 adapter" in html
    assert "Lineage of base: no recorded ancestor" in html
    assert "GHSA-53q9-r3pm-6pq6" in html
    assert "upgrade torch to a fixed version: 2.6.0" in html
    assert '<span class="gate gate-fail" id="gate">FAIL</span>' in html


def test_a_gate_that_asks_for_no_html_report_writes_none(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--mlsupply")
    assert result.ret == 0
    assert not list((project.root / "build").glob("*.html"))


def test_the_command_line_option_beats_the_ini_option_and_writes_where_it_says(
    pytester: pytest.Pytester, project: Project
) -> None:
    pytester.makeini("[pytest]\nmlsupply_html = reports/ini.html\n")
    assert pytester.runpytest("--mlsupply").ret == 0
    assert (project.root / "reports" / "ini.html").is_file()

    assert pytester.runpytest("--mlsupply", "--mlsupply-html", "cli.html").ret == 0
    assert (project.root / "cli.html").read_text().startswith("<!DOCTYPE html>")


def test_a_manifest_whose_output_html_is_not_a_string_is_refused_naming_the_key(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.default_manifest(top="output: {html: [report.html]}")
    result = pytester.runpytest("--mlsupply")
    assert result.ret != 0
    assert "output.html" in result.stdout.str() + result.stderr.str()


def test_every_hostile_string_is_escaped_and_nothing_can_close_the_data_island() -> None:
    matrix, bom = hostile_documents()
    html = render_html(matrix, bom)

    assert "<img" not in html
    assert "<svg onload" not in html.lower()
    assert 'onerror="' not in html
    # Exactly the report's own two scripts, and nothing can end one early.
    assert html.count("<script") == 2
    assert html.lower().count("</script>") == 2
    island = re.search(r'<script type="application/json" id="mlsupply-data">(.*?)</script>', html)
    assert island is not None
    assert "<" not in island[1]
    assert "\u2028" not in island[1]
    assert json.loads(island[1])["project"] == f"{HOSTILE} 1.0"
    # Escaped text, and the controls an attacker uses to hide text shown as code points.
    assert (
        "&lt;/script&gt;&lt;img src=x onerror=&quot;window.__pwned=1;alert(&#x27;x&#x27;)" in html
    )
    assert "\u202e" not in html
    assert "\x07" not in html
    assert "\u27e8U+202E\u27e9" in html
    assert "\u27e8U+0007\u27e9" in html


def test_the_data_island_escapes_what_could_end_a_script_or_a_line_of_javascript() -> None:
    text = json_island({"a": HOSTILE_SCRIPT_END + "&"})
    assert not set(text) & set("<>&\u2028\u2029")
    assert json.loads(text) == {"a": HOSTILE_SCRIPT_END + "&"}


def test_the_report_loads_nothing_from_anywhere() -> None:
    html = render_html(*large_documents(40))

    assert re.findall(r'(?:src|href)\s*=\s*"(?!#)', html, re.IGNORECASE) == []
    assert "@import" not in html
    assert "url(" not in html
    assert "<link" not in html
    assert "<iframe" not in html
    (policy,) = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html)
    assert policy.startswith("default-src 'none'; ")
    assert "unsafe" not in policy


def test_rendering_is_deterministic_and_every_cell_has_a_text_label() -> None:
    matrix, bom = large_documents(60)
    first = render_html(matrix, bom)
    assert render_html(json.loads(json.dumps(matrix)), json.loads(json.dumps(bom))) == first

    cells = re.findall(r'<td class="([^"]*)">(.*?)</td>', first)
    assert len(cells) == 60 * 3
    labels = {re.sub(r"<[^>]+>", "", body).strip() for _, body in cells}
    assert labels == {"\u2713 pass", "\u2717 fail"}


def test_a_verdict_the_report_does_not_know_shows_as_text_and_a_partial_run_says_so() -> None:
    matrix, bom = large_documents(2)
    matrix["rows"][0]["cells"]["sha256"] = "not pinned"
    matrix["rows"][1]["cells"]["scan"] = "accepted"
    matrix["partial"] = True
    matrix["not_run_items"] = ["artifact[a::scan]", "artifact[b::scan]"]
    matrix["metadata"] = {
        "commit": "0123abc",
        "dirty": True,
        "project": "big-service",
        "version": "1.0",
        "bom_serial_number": "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "timestamp": "2026-12-04T04:00:00+00:00",
        "ci_run_url": "https://ci.example/run/7",
    }

    html = render_html(matrix, bom)
    # The heading names each fact once, in words: the serial is the matrix's (the BOM it goes
    # with), never a raw key, never twice.
    assert html.count("urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427") == 1
    assert "bom_serial_number" not in html
    assert "<dt>CI run</dt><dd>https://ci.example/run/7</dd>" in html
    assert "2 planned item(s) did not run" in html

    assert '<td class="v v-other"><span aria-hidden="true">\u2022</span> not pinned</td>' in html
    assert '<td class="v v-accepted">' in html
    assert "Partial run:" in html
    assert "<dt>commit</dt><dd>0123abc (uncommitted changes)</dd>" in html


def test_a_model_without_lineage_is_one_node_and_a_local_base_continues_the_chain() -> None:
    matrix, bom = large_documents(2)
    (model,) = bom["components"]
    assert render_html(matrix, bom).count('<g class="node') == 1

    base = {"type": "machine-learning-model", "name": "base"}
    middle = {"type": "machine-learning-model", "name": "middle"}
    bom["components"] = [
        {**model, "pedigree": {"ancestors": [middle]}},
        {**middle, "pedigree": {"ancestors": [base]}},
        # A loop in hand-edited lineage is drawn once, not followed forever.
        {**base, "pedigree": {"ancestors": [{"type": "machine-learning-model", "name": "middle"}]}},
    ]
    html = render_html(matrix, bom)
    assert "Lineage of model-00: base \u2192 middle \u2192 model-00" in html


def _run(tmp_path: Path, *args: str) -> tuple[int, str]:
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["report", *args, "-o", str(tmp_path / "out.html")])
    return code, err.getvalue()


def test_mlsupply_report_names_a_missing_file_and_how_to_get_it(tmp_path: Path) -> None:
    code, err = _run(tmp_path, "--matrix", str(tmp_path / "gone.json"))
    assert code == 2
    assert f"--matrix {tmp_path / 'gone.json'}: no such file" in err
    assert "run `pytest --mlsupply` first" in err
    assert not (tmp_path / "out.html").exists()


def test_mlsupply_report_refuses_a_matrix_of_another_schema_and_a_bom_that_is_not_cyclonedx(
    tmp_path: Path,
) -> None:
    matrix, bom = large_documents(1)
    (tmp_path / "m.json").write_text(json.dumps({**matrix, "schema": "other/2"}))
    (tmp_path / "b.json").write_text(json.dumps(bom))
    code, err = _run(
        tmp_path, "--matrix", str(tmp_path / "m.json"), "--bom", str(tmp_path / "b.json")
    )
    assert code == 2
    assert "is not a pytest-mlsupply matrix (schema 'other/2', expected 'mlsupply-matrix/1')" in err

    (tmp_path / "m.json").write_text(json.dumps(matrix))
    (tmp_path / "b.json").write_text(json.dumps({"spdxVersion": "SPDX-2.3"}))
    code, err = _run(
        tmp_path, "--matrix", str(tmp_path / "m.json"), "--bom", str(tmp_path / "b.json")
    )
    assert code == 2
    assert f"--bom {tmp_path / 'b.json'} is not a CycloneDX JSON BOM" in err

    (tmp_path / "b.json").write_text("<bom/>")
    code, err = _run(
        tmp_path, "--matrix", str(tmp_path / "m.json"), "--bom", str(tmp_path / "b.json")
    )
    assert code == 2
    assert "not JSON (line 1, column 1" in err
    assert not (tmp_path / "out.html").exists()


def test_a_document_of_the_right_schema_but_a_broken_shape_is_a_report_error() -> None:
    matrix, bom = large_documents(1)
    bom["metadata"] = ["not", "an", "object"]
    with pytest.raises(ReportError, match="unexpected shape"):
        render_html(matrix, bom)


def test_an_unpinned_files_passing_cell_reads_not_pinned_and_a_failing_one_still_reads_fail() -> (
    None
):
    matrix, bom = large_documents(2)
    first, second = matrix["rows"][0], matrix["rows"][1]
    first["cells"]["sha256"] = "pass"
    first["notes"] = {"sha256": "not pinned"}
    second["cells"]["sha256"] = "fail"
    second["notes"] = {"sha256": "not pinned"}

    html = render_html(matrix, bom)

    rows = re.findall(r"<tr data-v=.*?</tr>", html)
    unpinned = next(row for row in rows if first["subject"] in row)
    failing = next(row for row in rows if second["subject"] in row)
    # The third column is sha256 (columns are sorted: format, scan, sha256).
    assert re.findall(r'<td class="([^"]*)"', unpinned)[2] == "v v-note"
    assert "not pinned</td>" in unpinned
    assert re.findall(r'<td class="([^"]*)"', failing)[2] == "v v-fail"
    assert "not pinned" not in failing


def test_an_accepted_finding_says_who_accepted_it_until_when_and_why_escaped() -> None:
    matrix, bom = large_documents(2)
    finding = next(f for f in matrix["findings"])
    finding["blocking"] = False
    finding["accepted"] = {
        "owner": "<b>sec</b>",
        "expires": "2027-01-31",
        "reason": "vendor pickle <script>alert(1)</script>",
        "source": "mlsupply-baseline.yaml:4",
    }

    html = render_html(matrix, bom)

    assert '<span class="accepted">accepted</span>' in html
    assert (
        "<dt>accepted</dt><dd>by &lt;b&gt;sec&lt;/b&gt; until 2027-01-31: vendor pickle "
        "&lt;script&gt;alert(1)&lt;/script&gt; (mlsupply-baseline.yaml:4)</dd>"
    ) in html


def test_a_partial_run_without_failures_is_headed_incomplete_not_pass() -> None:
    matrix, bom = large_documents(2)
    for row in matrix["rows"]:
        row["cells"] = {check: "pass" for check in row["cells"]}
    matrix["counts"] = {"pass": 6, "fail": 0, "not run": 0}
    matrix["findings"] = []
    assert '<span class="gate gate-pass" id="gate">PASS</span>' in render_html(matrix, bom)
    matrix["partial"] = True
    html = render_html(matrix, bom)
    assert '<span class="gate gate-partial" id="gate">INCOMPLETE</span>' in html
    assert ">PASS</span>" not in html
