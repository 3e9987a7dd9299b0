"""`policy.licenses`: ids the licence table does not know and misspelt restrictions are errors."""

from __future__ import annotations

from pathlib import Path

from tests.manifest.test_loader import _parse, only_problem


def test_the_licence_policy_reads_allow_restrictions_and_unknown(tmp_path: Path) -> None:
    manifest = _parse(
        tmp_path,
        """\
        version: 1
        policy:
          licenses: {allow: [Apache-2.0, llama3], deny_restrictions: [research-only], unknown: allow}
        """,
    )

    licenses = manifest.policy.licenses
    assert licenses.allow == ("Apache-2.0", "llama3")
    assert licenses.deny_restrictions == ("research-only",)
    assert licenses.unknown == "allow"


def test_unknown_licences_are_denied_unless_the_policy_says_otherwise(tmp_path: Path) -> None:
    manifest = _parse(tmp_path, "version: 1\npolicy: {licenses: {allow: [mit]}}\n")

    assert manifest.policy.licenses.unknown == "deny"


def test_an_allowed_id_the_table_does_not_know_is_an_error_at_its_entry(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        policy:
          licenses:
            allow: [mit, apache2]
        """,
    )

    assert (problem.line, problem.column) == (4, 18)
    assert problem.key_path == "policy.licenses.allow[1]"
    assert problem.message == "'apache2' is not a licence the vendored table knows"
    assert "docs/licenses.md" in problem.fix


def test_an_expression_in_the_allow_list_is_an_error(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, "version: 1\npolicy: {licenses: {allow: [apache-2.0 OR mit]}}\n"
    )

    assert problem.message == "'apache-2.0 OR mit' is an expression; list one licence id per entry"


def test_a_misspelt_restriction_is_an_error_suggesting_the_right_one(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, "version: 1\npolicy: {licenses: {deny_restrictions: [non-comercial]}}\n"
    )

    assert problem.key_path == "policy.licenses.deny_restrictions[0]"
    assert problem.fix.startswith("did you mean 'non-commercial'?")
