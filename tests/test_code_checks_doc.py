"""docs/code-checks.md's rule table is the engine's rule catalogue: every rule in RULES has a row
with its severity and CWE, and the page names no rule that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_mlsupply.engines.project_code import RULES

PAGE = Path(__file__).resolve().parents[1] / "docs" / "code-checks.md"


def rows() -> dict[str, list[str]]:
    """Rule id → the cells of its row (rule, severity, CWE, what it finds, fix)."""
    found: dict[str, list[str]] = {}
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| MLS-") and len(cells) == 5:
            found[cells[0]] = cells
    return found


def expected_row(rule_id: str) -> str:
    """The row a rule needs, to paste when the test fails (what and fix from the catalogue)."""
    rule = RULES[rule_id]
    return f"| {rule.id} | {rule.severity.label} | {rule.cwe} | {rule.title} | {rule.fix} |"


def test_every_rule_of_the_catalogue_has_a_row_and_every_row_a_rule() -> None:
    documented = rows()

    missing = [expected_row(rule_id) for rule_id in RULES if rule_id not in documented]
    assert missing == [], "add these rows to docs/code-checks.md:\n" + "\n".join(missing)
    assert sorted(set(documented) - set(RULES)) == []
    assert list(documented) == sorted(documented)  # in id order, as RULES is


def test_each_row_gives_the_rules_severity_and_cwe() -> None:
    for rule_id, (_, severity, cwe, what, fix) in rows().items():
        rule = RULES[rule_id]
        # The usual severity first; a parenthesis may say when a finding differs.
        assert severity.split(" ")[0] == rule.severity.label, rule_id
        assert re.findall(r"CWE-\d+", cwe) == [rule.cwe], rule_id
        assert what, rule_id
        assert fix, rule_id
