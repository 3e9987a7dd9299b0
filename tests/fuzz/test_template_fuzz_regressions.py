"""Chat templates the long fuzz run (target ``templates``) kept busy for 12 to 30+ seconds, or
crashed, rebuilt in code: each shape is held to the fuzz property just under the analyser's
size cap, and what the analyser makes of it is checked too.

The costs were quadratic: a ``str.format`` field quoted whole in the evidence of each of its
100,000 attribute steps; the candidate combinations of a 100,000-argument ``|format`` grown one
argument at a time; a name set thousands of times folded again at each of thousands of uses.
jinja2's own lexer and parser are linear but cannot be interrupted: past
:data:`~pytest_mlsupply.engines.templates.MAX_TEMPLATE_CHARS` a template is not parsed at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlsupply.engines.budget import ScanLimits
from pytest_mlsupply.engines.scanner import ScanPolicy, scan_file
from pytest_mlsupply.engines.templates import MAX_TEMPLATE_CHARS, analyse_template
from pytest_mlsupply.results import Severity
from tests.fuzz.targets import TARGETS, run_case


def format_field_steps(steps: int) -> str:
    """templates-5: a format string whose one field walks ``__`` ``steps`` times."""
    return (
        "{% set fmt = 'x'|attr('format') %}{{ fmt('{0"
        + ".__" * steps
        + ".__class__.__base__}', messages) }}"
    )


def repeated_field_chunks(chunks: int) -> str:
    """templates-2, -7, -8: one field of ``chunks`` private steps, then ``__class__``."""
    return "{{ '{0.__c" + "0.__c" * chunks + "0.__class__.__mro__}'.format(messages) }}"


def format_arguments(count: int) -> str:
    """templates-3, -4: ``|format`` with ``count`` arguments."""
    return (
        "{% set n = '%sglobals%s'|format('__'"
        + ", ''" * count
        + ", '__') %}{{ lipsum[n].os.popen('touch CANARY') }}"
    )


def filter_chain(length: int) -> str:
    """templates-1: ``length`` filters on one value, then an ``|attr`` of a reversed name."""
    return "{{ messages" + "|attges" * length + "|attr('__ssalc__'|reverse) }}"


def name_set_and_used(times: int) -> str:
    """One name set ``times`` times and read ``times`` times."""
    sets = "".join(f"{{% set a = 'v{i}' %}}" for i in range(times - 1))
    return sets + "{% set a = '__class__' %}" + "{{ x[a] }}" * times


SHAPES = {
    "format-field-steps": format_field_steps(87_000),
    "repeated-field-chunks": repeated_field_chunks(52_000),
    "format-arguments": format_arguments(65_000),
    "filter-chain": filter_chain(37_000),
    "name-set-and-used": name_set_and_used(8_000),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_fuzz_found_template_shape_just_under_the_cap_holds_the_fuzz_property(
    shape: str,
) -> None:
    source = SHAPES[shape]
    assert len(source) <= MAX_TEMPLATE_CHARS  # analysed, not refused for its size

    run_case(TARGETS["templates"], ("chat_template.jinja", source.encode()))


def test_a_field_walking_a_private_attribute_87000_times_is_reported_once_per_name() -> None:
    issues = analyse_template(format_field_steps(87_000))

    escapes = [issue for issue in issues if issue.rule == "MLS-TPL-001"]
    names = sorted(issue.evidence.split("'")[1] for issue in escapes)
    assert names == ["__", "__base__", "__class__"]
    assert max(len(issue.evidence) for issue in issues) < 500  # the field is quoted cut short
    assert {issue.severity for issue in escapes} == {Severity.HIGH, Severity.CRITICAL}


def test_a_name_joined_from_sixty_thousand_pieces_is_still_seen_as_class() -> None:
    pieces = "'_', '_', 'class', '_', '_'" + ", ''" * 60_000
    issues = analyse_template(f"{{{{ x[({pieces})|join] }}}}")

    assert any("'__class__'" in issue.evidence for issue in issues)


def test_a_name_set_eight_thousand_times_and_read_as_often_still_folds_to_the_escape() -> None:
    issues = analyse_template(name_set_and_used(8_000))

    # The fold keeps the first few dozen values in sorted order (the fold limit): '__class__'
    # sorts before every 'v...'.
    assert any("'__class__'" in issue.evidence for issue in issues)


def test_a_template_one_character_over_the_cap_is_a_high_issue_and_is_not_parsed() -> None:
    source = "{{ x['_' * 2 ~ 'class' ~ '_' * 2] }}"  # found by folding, after a parse
    padded = source + " " * (MAX_TEMPLATE_CHARS + 1 - len(source))

    (issue,) = analyse_template(padded)

    assert (issue.rule, issue.severity) == ("MLS-TPL-010", Severity.HIGH)
    assert issue.evidence == f"{MAX_TEMPLATE_CHARS + 1} characters (cap {MAX_TEMPLATE_CHARS})"


def test_a_template_over_the_cap_that_spells_out_an_internal_is_critical_too() -> None:
    source = "{{ x.__class__ }}"
    padded = source + " " * (MAX_TEMPLATE_CHARS + 1 - len(source))

    rules = [(issue.rule, issue.severity) for issue in analyse_template(padded)]

    assert rules == [("MLS-TPL-010", Severity.HIGH), ("MLS-TPL-001", Severity.CRITICAL)]


def test_a_template_exactly_at_the_cap_is_analysed() -> None:
    source = "{{ x.__class__ }}"
    padded = source + " " * (MAX_TEMPLATE_CHARS - len(source))

    assert [issue.rule for issue in analyse_template(padded)] == ["MLS-TPL-001"]


def test_a_chat_template_file_over_the_cap_fails_the_scan_with_a_high_finding(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chat_template.jinja"
    path.write_text(format_arguments(100_000))  # templates-3: 400 KB

    report = scan_file(path, "chat_template.jinja")

    assert [(f.rule, f.severity) for f in report.findings] == [("MLS-TPL-010", Severity.HIGH)]


def test_an_integer_literal_of_ten_thousand_digits_is_a_parse_issue_not_a_crash() -> None:
    # templates-9: jinja2's lexer calls int() on it, past Python's 4,300-digit limit.
    source = "{{ (messages|attr('\\x5f\\x5fclass\\x5f\\x5f'))[" + "1" * 10_001 + "] }}"

    (issue,) = analyse_template(source)

    assert issue.rule == "MLS-TPL-009"
    assert "4300 digits" in issue.evidence


def test_the_template_walk_stops_at_the_scans_time_budget(tmp_path: Path) -> None:
    path = tmp_path / "chat_template.jinja"
    path.write_text(name_set_and_used(8_000))

    report = scan_file(path, path.name, ScanPolicy(limits=ScanLimits(scan_seconds=0)))

    assert "MLS-LIM-001" in {finding.rule for finding in report.findings}
    assert any("scan_seconds" in error for error in report.errors)
