"""Adversarial review of s25: attacker-controlled text (a pickle's global name, an archive
member's name) reaching the Markdown matrix and $GITHUB_STEP_SUMMARY as markup."""

from __future__ import annotations

from markdown_it import MarkdownIt

from pytest_mlsupply.engines.pickle.policy import PicklePolicy
from pytest_mlsupply.engines.pickle.scan import scan_pickle_bytes
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.ci_summary import render_summary
from pytest_mlsupply.reports.matrix import build_matrix, render_markdown
from pytest_mlsupply.results import CheckResult, RowKind, Severity

HIGH = Severity.HIGH
# A malicious pickle whose second global is named with markup (GLOBAL takes any bytes but a
# newline), inside a zip member whose name is an image.
PAYLOAD = (
    b"cos\nsystem\n(S'id'\ntR"
    b"cevil\n<img/src=https://evil.example/i.png>[ok](https://evil.example/)\n0."
)
MEMBER = "![pixel](https://evil.example/p.png)<b>pass</b>/data.pkl"


def _matrix():
    scan = scan_pickle_bytes(PAYLOAD, policy=PicklePolicy(), origin="tiny/model.pt", member=MEMBER)
    result = CheckResult(
        RowKind.ARTIFACT, "tiny/model.pt", "scan", findings=scan.findings, facts={}
    )
    plan = [PlannedItem(RowKind.ARTIFACT, "tiny/model.pt", ("scan",))]
    return build_matrix(plan, [result], HIGH)


def test_hostile_names_in_the_step_summary_stay_text() -> None:
    matrix = _matrix()
    summary = render_summary({"fail": 1}, HIGH, render_markdown(matrix), None)
    html = MarkdownIt("commonmark").enable("table").render(summary)
    assert "evil.example/i.png" in html  # shown...
    assert "<img" not in html  # ...but never an image GitHub fetches
    assert "<a " not in html  # nor a link
    assert "<b>" not in html  # nor markup


def test_a_pipe_or_backslash_in_a_name_does_not_split_the_table_cell() -> None:
    from pytest_mlsupply.reports.matrix import _inline

    assert _inline("a\\|b") == "a\\\\\\|b"
    cell = _inline("a\\|b")
    html = MarkdownIt("commonmark").enable("table").render(f"| x |\n|---|\n| {cell} |\n")
    assert html.count("<td>") == 1
    assert "a\\|b" in html


def test_a_partial_run_is_never_summarised_as_a_passed_gate() -> None:
    from pytest_mlsupply.reports.ci_summary import verdict_line

    line = verdict_line({"pass": 3, "not run": 2}, HIGH, None)
    assert "passed" not in line
    assert line.startswith("⚠️ supply-chain gate incomplete (partial run")
    assert "2 not run" in line


def test_the_html_report_shows_not_pinned_where_the_matrix_does() -> None:
    """The matrix reads "not pinned" on an unpinned file's sha256 cell, never "pass" (a digest
    nobody pinned proves nothing); the HTML report, rendered from the same matrix JSON, must
    not show that cell as a plain pass."""
    import json
    import re

    from pytest_mlsupply.reports.html import render_html
    from pytest_mlsupply.reports.matrix import render_json
    from tests.reports.html_documents import _bom

    result = CheckResult(
        RowKind.ARTIFACT,
        "tiny/model.safetensors",
        "sha256",
        findings=[],
        facts={"sha256": "a" * 64, "size": 1, "note": "not pinned"},
    )
    plan = [PlannedItem(RowKind.ARTIFACT, "tiny/model.safetensors", ("sha256",))]
    matrix = build_matrix(plan, [result], HIGH)
    assert "not pinned" in render_markdown(matrix)
    document = json.loads(render_json(matrix, [result]))
    assert document["rows"][0]["notes"] == {"sha256": "not pinned"}
    page = render_html(document, _bom({"tiny": [("model.safetensors", "a" * 64)]}))
    row = re.search(r"<tr data-v=[^>]*>.*?</tr>", page, re.S)
    assert row is not None
    assert "not pinned" in row.group(0)  # today: "✔ pass"
