"""redact_text (pytest_mlsupply.redaction) on hostile text: linear on long runs of URL-like
characters (the parse error of a 384 kB requirement line is redacted), and no URL's credentials
survive it whatever text surrounds them."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_mlsupply.redaction import MARKER, redact_text
from tests.fuzz.targets import Target, run_case

_PIECES = st.sampled_from(
    ["a", "Z", "9", "_", "+", ".", "-", ":", "/", "//", "://", "@", " ", "\n", "é", "https",
     "user", ":tok", "git+ssh", "x-https"]
)  # fmt: skip

#: A URL's userinfo: up to the last "@" before its path (a raw "@" in a password stays in
#: it, as urllib reads it). Once redacted it is ``user:****`` or ``****``.
_USERINFO = re.compile(r"://([^/\s\"'<>]+)@")


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the default suite is deterministic; the long run explores
    suppress_health_check=[HealthCheck.too_slow],
)
@given(text=st.lists(_PIECES, max_size=40).map("".join))
@example(text="pkg @ https://user:secret@host/simple https://tok@h/ x-git+https://a:b@c")
@example(text="_https://u:p@h 1https://u:p@h --i--i://u@h a://x --i--i")
@example(text="://a@:@")
def test_no_url_credentials_survive_the_redaction_and_it_is_idempotent(text: str) -> None:
    redacted = redact_text(text)
    for match in _USERINFO.finditer(redacted):
        userinfo = match[1]
        assert userinfo == MARKER or userinfo.endswith(":" + MARKER), (text, redacted)
    assert redact_text(redacted) == redacted


def _redact(case: tuple[str, bytes], workdir: Path) -> None:
    redact_text(case[1].decode())


def test_a_long_run_of_scheme_characters_is_redacted_within_the_case_limit() -> None:
    # 384 kB of '--i' (a requirement line the parser's error message quotes): a pattern that
    # starts at every letter of the run retried 128,000 times and took minutes.
    target = Target("redaction", "redaction.redact_text", list, (), _redact)

    run_case(target, ("requirements.txt", b"a://x " + b"--i" * 128_000))
    run_case(target, ("requirements.txt", b"://a" * 100_000 + b"@"))
