"""Text split into lines the way Python, jinja2 and Markdown number them: at ``\\r\\n``, ``\\r``, ``\\n``.

``str.splitlines`` also breaks at ``\\v``, ``\\f``, ``\\x1c``-``\\x1e``, ``\\x85``, U+2028 and
U+2029, which a string literal or a comment may hold: a reader that numbers lines with it quotes
another line than the one a finding is on, and one that matches line by line sees a statement
cut in two. Every engine that quotes or matches source lines reads them here.
"""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def source_lines(text: str) -> list[str]:
    """``text``'s lines, without their line breaks, numbered as the language's own reader does."""
    return _LINE_BREAK.split(text)
