"""redact_text (sources/pipconfig.py) tries each run of scheme characters once: the same
redactions as one ``re.sub`` of its pattern, on any text, without its quadratic retries."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pytest_mlsupply.sources import pipconfig
from pytest_mlsupply.sources.pipconfig import redact_text
from tests.fuzz.targets import Target, run_case

_PIECES = st.sampled_from(
    ["a", "Z", "9", "_", "+", ".", "-", ":", "/", "//", "://", "@", " ", "\n", "é", "https",
     "user", ":tok", "git+ssh", "x-https"]
)  # fmt: skip


def _one_sub(text: str) -> str:
    def mask(match: re.Match[str]) -> str:
        user, sep, _ = match["userinfo"].partition(":")
        return f"{match['scheme']}{user + ':****' if sep else '****'}@"

    return pipconfig._URL_CREDENTIALS.sub(mask, text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.lists(_PIECES, max_size=40).map("".join))
@example(text="pkg @ https://user:secret@host/simple https://tok@h/ x-git+https://a:b@c")
@example(text="_https://u:p@h 1https://u:p@h --i--i://u@h a://x --i--i")
def test_the_redaction_is_that_of_one_substitution_of_its_pattern(text: str) -> None:
    assert redact_text(text) == _one_sub(text)


def _redact(case: tuple[str, bytes], workdir: Path) -> None:
    redact_text(case[1].decode())


def test_a_long_run_of_scheme_characters_is_redacted_within_the_case_limit() -> None:
    # 384 kB of '--i' (a requirement line the parser's error message quotes): the substitution
    # alone retried at each of its 128,000 letters and took minutes.
    target = Target("redaction", "sources.pipconfig.redact_text", list, (), _redact)

    run_case(target, ("requirements.txt", b"a://x " + b"--i" * 128_000))
