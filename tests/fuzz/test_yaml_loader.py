"""The linear safe loader (engines/yaml_loader.py) reads every text exactly as PyYAML's safe
loader does: the same events with the same marks, the same error at the same place."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_mlsupply.engines.yaml_loader import MAX_FLOW_DEPTH, LinearSafeLoader
from tests.fuzz.targets import TARGETS, run_case

_YAML_CHARACTERS = st.sampled_from(list("[]{}:,-?#&*!|>'\"\\\n\t ab1%@`"))
_YAML_TOKENS = st.sampled_from(
    ["a", "key: ", "- ", "[", "]", "{", "}", ", ", ": ", "\n", "  ", "? ", "&x ", "*x", "!!str ",
     "'q'", '"d"', "|\n  ", ">\n  ", "---\n", "...\n", "# c\n", "x" * 1030]
)  # fmt: skip


def _read(text: str, loader: type[yaml.SafeLoader]) -> list[Any]:
    seen: list[Any] = []
    try:
        for event in yaml.parse(text, Loader=loader):
            marks = [(m.line, m.column, m.index) for m in (event.start_mark, event.end_mark) if m]
            seen.append((repr(event), marks))
    except yaml.YAMLError as exc:
        seen.append((type(exc).__name__, str(exc)))
    return seen


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(_YAML_CHARACTERS, max_size=300),
        st.lists(_YAML_TOKENS, max_size=60).map("".join),
    )
)
@example(text="a: " + "[" * 50)
@example(text="{a: [b, {c: d}], " + "x" * 1100 + ": 1}")
@example(text="- [a\n  b]: c\n")
def test_the_linear_loader_reads_any_text_as_the_safe_loader_does(text: str) -> None:
    assert _read(text, LinearSafeLoader) == _read(text, yaml.SafeLoader)


def test_a_config_ten_thousand_brackets_deep_is_scanned_within_the_case_limit() -> None:
    # 38 s with PyYAML's own bookkeeping (quadratic in the depth); the case limit is 20 s.
    run_case(TARGETS["yaml-config"], ("config.yaml", b"a: " + b"[" * 10_000))


def test_flow_collections_past_the_depth_limit_stop_with_an_error_naming_it() -> None:
    deep = "a: " + "[" * (MAX_FLOW_DEPTH + 1)

    with pytest.raises(yaml.scanner.ScannerError, match="nested deeper than 1000 levels"):
        list(yaml.parse(deep, Loader=LinearSafeLoader))
    assert _read("a: " + "[" * MAX_FLOW_DEPTH, LinearSafeLoader)[-1][0] == "ParserError"


def test_a_config_a_hundred_thousand_brackets_deep_is_a_parse_finding_in_time() -> None:
    # Over 20 s before the depth limit (linear, but pure-Python YAML is slow per level).
    data = b"? !!python/object/apply:os.system " + b"[" * 100_000 + b'"touch x"]\n: value\n'

    whole = dataclasses.replace(TARGETS["yaml-config"], max_bytes=None)  # not cut to 64 kB

    run_case(whole, ("config.yaml", data))
