"""The strict JSON reader: what a trusting claim refuses, each with a message naming why."""

from __future__ import annotations

import pytest

from pytest_mlsupply.engines import strict_json


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"x": {"a": 1, "a": 1}}', "duplicate key 'a'"),
        (b'{"a": NaN}', "NaN is not JSON"),
        (b'{"a": -Infinity}', "-Infinity is not JSON"),
        (b'{"a": "\\ud800"}', "lone surrogate"),
        (b'{"a": 1', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"1" * 5000, "not JSON we read"),
    ],
    ids=[
        "duplicate",
        "nested-duplicate",
        "nan",
        "infinity",
        "lone-surrogate",
        "truncated",
        "utf16",
        "deep",
        "huge-int",
    ],
)
def test_what_a_lenient_reader_would_accept_or_crash_on_is_refused_with_its_cause(
    data: bytes, cause: str
) -> None:
    with pytest.raises(strict_json.StrictJsonError, match=cause):
        strict_json.loads(data)


def test_a_well_formed_document_reads_as_json_does() -> None:
    assert strict_json.loads('{"a": [1, 2.5, "é", null, true]}') == {"a": [1, 2.5, "é", None, True]}
