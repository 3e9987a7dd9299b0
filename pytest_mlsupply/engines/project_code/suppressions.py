"""Inline suppressions: ``# mlsupply: ignore[MLS-LOAD-001, MLS-LOAD-004] -- reason``.

Comments are read with :mod:`tokenize`, so a ``#`` inside a string is no comment. The comment's
own text is then parsed (it is prose, not code). A suppression needs at least one rule id of the
catalogue and a non-empty reason after `` -- ``; one that lacks either, or names an unknown rule,
suppresses nothing and is reported (MLS-LOAD-013) where it stands.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass

__all__ = ["Comment", "Suppression", "read_suppressions"]

# ASCII only: under IGNORECASE alone, Unicode folding lets U+0131 (dotless i) stand for "i" and
# U+017F (long s) for "s": a suppression no ``grep "mlsupply: ignore"`` of the repository finds.
# Anchored at a comment's start (``# mlsupply: ...``, or chained after another tool's comment
# on the line): ``# notmlsupply: ignore[...]`` or a URL ending in ``mlsupply: ignore`` is no marker.
_MARKER = re.compile(r"(?:^|#)\s*\bmlsupply\s*:\s*ignore\b", re.IGNORECASE | re.ASCII)
_FULL = re.compile(
    r"mlsupply\s*:\s*ignore\s*(?:\[(?P<ids>[^\]]*)\])?\s*(?:--\s*(?P<reason>.*))?$",
    re.IGNORECASE | re.ASCII,
)


@dataclass(frozen=True)
class Suppression:
    """A well-formed suppression comment: the rules it silences on its line, and why."""

    line: int
    rules: frozenset[str]
    reason: str
    column: int
    """Where the comment starts (0-based characters): quotes of the line stop there, so adding
    a suppression does not change a finding's evidence (the baseline's fingerprint)."""


@dataclass(frozen=True)
class Comment:
    """A malformed suppression comment: where it is and what is wrong with it."""

    line: int
    column: int
    """0-based, as :mod:`tokenize` counts (in characters)."""
    problem: str
    text: str


def read_suppressions(
    source: str, known: frozenset[str]
) -> tuple[dict[int, list[Suppression]], list[Comment]]:
    """Every suppression comment of ``source`` by line, and the malformed ones.

    ``source`` already parsed with :func:`ast.parse`, so tokenizing it cannot fail but for
    pathological inputs; :class:`tokenize.TokenError` and :class:`SyntaxError` propagate then.
    """
    by_line: dict[int, list[Suppression]] = {}
    malformed: list[Comment] = []
    if "mlsupply" not in source.lower():
        return by_line, malformed  # the common case: no tokenizing at all
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT or not _MARKER.search(token.string):
            continue
        line, column = token.start
        text = token.string
        found = _MARKER.search(text)
        assert found is not None
        match = _FULL.match(text, text.lower().index("mlsupply", found.start()))
        problem = ""
        ids: list[str] = []
        reason = ""
        if match is None:
            problem = "is not of the form 'mlsupply: ignore[RULE] -- reason'"
        else:
            ids = [i.strip() for i in (match.group("ids") or "").split(",") if i.strip()]
            reason = (match.group("reason") or "").strip()
            unknown = [i for i in ids if i not in known]
            if not ids:
                problem = "names no rule"
            elif unknown:
                problem = f"names unknown rule(s) {', '.join(unknown)}"
            elif not any(c.isalnum() for c in reason):
                problem = "gives no reason after ' -- '"  # "-- --" or "-- ." says nothing
        if problem:
            malformed.append(Comment(line, column, problem, text.strip()))
        else:
            by_line.setdefault(line, []).append(Suppression(line, frozenset(ids), reason, column))
    return by_line, malformed
