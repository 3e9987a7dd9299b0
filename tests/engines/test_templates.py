"""The chat-template analyser: escapes are found on the AST, real templates stay clean."""

from __future__ import annotations

import pytest

from pytest_mlsupply.engines.templates import analyse_template, template_findings
from pytest_mlsupply.results import Location, Severity
from tests.corpus.templates import ESCAPES, REAL_TEMPLATES


def worst(source: str) -> Severity | None:
    return max((issue.severity for issue in analyse_template(source)), default=None)


def rules(source: str) -> set[str]:
    return {issue.rule for issue in analyse_template(source)}


@pytest.mark.parametrize("name", sorted(REAL_TEMPLATES))
def test_a_real_chat_template_produces_no_issue_at_all(name: str) -> None:
    assert analyse_template(REAL_TEMPLATES[name]) == []


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_every_known_escape_technique_is_flagged_high_or_critical(name: str) -> None:
    severity = worst(ESCAPES[name])
    assert severity is not None
    assert severity >= Severity.HIGH


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ x['__globals__'] }}",
        "{{ x|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
        "{{ x[('_' * 2) ~ 'class' ~ ('_' * 2)] }}",
        "{{ x['%sclass%s' % ('__', '__')] }}",
        "{{ x['{}class{}'.format('__', '__')] }}",
        "{{ x['_-class-_'.replace('-', '_')] }}",
        "{% set n %}__class__{% endset %}{{ x|attr(n) }}",
        "{{ messages|map(attribute='__class__')|list }}",
        "{{ x|attr('__ssalc__'|reverse) }}",
    ],
)
def test_a_dunder_name_is_critical_however_it_is_built(source: str) -> None:
    assert worst(source) == Severity.CRITICAL
    assert "MLS-TPL-001" in rules(source)


def test_the_evidence_names_the_attribute_and_quotes_the_line() -> None:
    [issue] = analyse_template("hello\n{{ lipsum.__globals__ }}")
    assert issue.line == 2
    assert "'__globals__'" in issue.evidence
    assert "'lipsum' global" in issue.evidence
    assert "{{ lipsum.__globals__ }}" in issue.evidence


def test_namespace_used_for_loop_state_is_benign() -> None:
    source = (
        "{% set ns = namespace(found=false, count=0) %}{% for m in messages %}"
        "{% set ns.count = ns.count + 1 %}{% if m.role == 'system' %}{% set ns.found = true %}"
        "{% endif %}{% endfor %}{{ ns.count }}"
    )
    assert analyse_template(source) == []


def test_reaching_into_a_gadget_with_a_non_dunder_name_is_high() -> None:
    [issue] = analyse_template("{{ lipsum.whatever }}")
    assert (issue.rule, issue.severity) == ("MLS-TPL-002", Severity.HIGH)


def test_cycler_public_methods_are_not_reaching_in() -> None:
    assert analyse_template("{% set c = cycler('a', 'b') %}{{ c.next() }}{{ cycler.reset }}") == []


def test_an_attr_filter_with_a_name_unknown_until_render_is_high() -> None:
    [issue] = analyse_template("{{ messages|attr(bos_token) }}")
    assert (issue.rule, issue.severity) == ("MLS-TPL-003", Severity.HIGH)


def test_an_item_key_built_from_unknown_pieces_is_only_medium() -> None:
    [issue] = analyse_template("{{ message['con' ~ suffix] }}")
    assert (issue.rule, issue.severity) == ("MLS-TPL-003", Severity.MEDIUM)


def test_ordinary_indexing_is_not_a_computed_name() -> None:
    assert analyse_template("{{ messages[loop.index0 + 1].role }}{{ m[key] }}") == []


def test_fetching_the_format_method_is_the_cve_2025_27516_shape() -> None:
    assert "MLS-TPL-004" in rules("{% set f = 'x'|attr('format') %}{{ f('{0}', 1) }}")


def test_a_format_field_walking_attributes_is_reported() -> None:
    assert worst("{{ '{0.__class__}'.format(x) }}") == Severity.CRITICAL
    assert rules("{{ '{0.name}'.format(x) }}") == {"MLS-TPL-005"}


@pytest.mark.parametrize(
    "source", ["{% include 'other.j2' %}", "{% import 'm.j2' as m %}", "{% extends name %}"]
)
def test_loading_another_template_is_medium(source: str) -> None:
    [issue] = analyse_template(source)
    assert (issue.rule, issue.severity) == ("MLS-TPL-007", Severity.MEDIUM)


def test_flask_and_python_globals_are_medium() -> None:
    assert {i.severity for i in analyse_template("{{ config.items() }}")} == {Severity.MEDIUM}


def test_a_template_that_does_not_parse_is_a_medium_finding_not_a_crash() -> None:
    [issue] = analyse_template("{% for m in messages %}{{ m }}")
    assert (issue.rule, issue.severity, issue.line) == ("MLS-TPL-009", Severity.MEDIUM, 1)


def test_the_loaders_extensions_parse_generation_break_and_do() -> None:
    source = (
        "{% for m in messages %}{% if m.role == 'x' %}{% break %}{% endif %}"
        "{% generation %}{{ m.content }}{% endgeneration %}{% endfor %}"
    )
    assert analyse_template(source) == []


def test_a_one_megabyte_template_is_too_large_to_parse_and_its_tail_escape_still_critical() -> None:
    padding = "You are a helpful assistant. " * 36_000  # about 1 MB of plain template text
    source = REAL_TEMPLATES["chatml"] + padding + "{{ cycler.__init__.__globals__ }}"
    assert len(source) > 1_000_000
    rules = {(issue.rule, issue.severity) for issue in analyse_template(source)}
    assert rules == {("MLS-TPL-010", Severity.HIGH), ("MLS-TPL-001", Severity.CRITICAL)}


def test_findings_carry_the_callers_location_and_the_issue_line() -> None:
    [finding] = template_findings(
        "\n\n{{ x.__class__ }}", Location(file="tokenizer_config.json", key_path="chat_template")
    )
    assert finding.location.key_path == "chat_template"
    assert finding.location.line == 3
    assert finding.cwe == "CWE-1336"


def test_the_evidence_quotes_the_line_jinja_numbers_whatever_the_text_holds() -> None:
    [issue] = analyse_template("hello\x0cworld \u2028 there\n{{ lipsum.__globals__ }}")
    assert issue.line == 2
    assert "{{ lipsum.__globals__ }}" in issue.evidence
