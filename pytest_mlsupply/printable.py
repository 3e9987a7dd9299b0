"""The one home of escaping for names and text that someone else chose.

A file name, an archive member's name, a Hub repository's file list and every string an
artifact carries (a pickle's argument, a JSON key) is chosen by whoever published it. Written
raw, ``a\\nPASSED x.bin`` forges a line of pytest's summary, ``\\x1b[2J`` clears the terminal, a
carriage return overwrites what was printed before it, and a byte that is not UTF-8 (an
``os.fsdecode`` surrogate) stops a UTF-8 writer. Three layers keep that out:

* names are made :func:`printable` where they become a subject or a member (the item names
  ``artifact[...]`` and ``code[...]``, :class:`~pytest_mlsupply.results.Location`'s member),
  one to one, so two different names never print the same and every report names a file alike;
* the check runner, the one funnel of every check's outcome, passes each finding through
  :func:`escaped_finding`: text an artifact carries reaches the results on one line, whichever
  engine quoted it (a check's facts are not: a model card's paragraphs keep their line breaks,
  and the JSON BOM its characters, JSON-escaped; a fact that names a member escapes it);
* each output escapes what is left in its free text as its format needs: :func:`one_line` for a
  single-line field (a SARIF message, a Markdown cell), :func:`terminal_text` for a block of
  lines (a failing item's text, ``mlsupply scan``'s output) whose own line breaks are kept.

:func:`pytest_mlsupply.results.shown` is the third form: a name quoted inside a sentence.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # results.py imports this module: the type only, to keep the import one-way
    from pytest_mlsupply.results import Finding

__all__ = ["escaped_finding", "one_line", "printable", "terminal_text"]


def printable(name: str) -> str:
    """``name`` as every report can write it, one to one: a backslash doubled, a byte that is
    not UTF-8 (``os.fsdecode``'s surrogate for it) as ``\\xNN``, and a character that is not
    printable (a newline, a NUL, an ESC, a zero-width space, a lone surrogate) as its Python
    escape, ``\\u00NN`` from U+0080 on.

    One to one because every escape reads back one way: the backslash doubled first (so
    ``a\\x1b`` typed out is not an ESC), and ``\\xNN`` above 7F kept for raw bytes (so the
    character U+00FF and the byte FF, which Python's own escapes both write ``\\xff``, differ)."""
    if name.isascii() and name.isprintable() and "\\" not in name:
        return name  # the common case
    return "".join(_name_char(c) for c in name)


def _name_char(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char.isprintable():
        return char
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"  # a file name's byte that is not UTF-8
    if 0x80 <= code <= 0xFF:
        return f"\\u{code:04x}"  # not \\xNN: that form is a raw byte's
    return _escape(char)


def one_line(text: str) -> str:
    """Free text for a single-line field: every character that is not printable (a line
    break, a carriage return, an ESC, a NUL, a lone surrogate, a bidirectional control) as its
    Python escape. Backslashes are left alone: this is display text, not a name to tell apart
    from another (names are already :func:`printable` where they enter)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def terminal_text(text: str) -> str:
    """A block of lines for a terminal or a log: each line :func:`one_line`, the line breaks
    between them kept. A carriage return is escaped, not kept: it would return the cursor and
    let what follows overwrite the line (and ``str.splitlines`` would count a forged line)."""
    if text.isprintable():
        return text
    return "\n".join(one_line(line) for line in text.split("\n"))


def _escape(char: str) -> str:
    # repr's own escapes (\n, \t, \x1b, \u200b, \udcff): what a Python reader expects.
    return repr(char)[1:-1]


def escaped_finding(finding: Finding) -> Finding:
    """``finding`` with its text fields :func:`one_line`: the title, the evidence, the why, the
    fix and the place (file, member, key path) quote names and strings an artifact chose (a
    pickle's ``os.system("\\x1b[2J...")`` argument, a JSON key, a member a format reader
    named). Applied where every check's outcome becomes a result, so no output meets them raw;
    applied twice, it changes nothing more."""
    location = finding.location
    texts = (finding.title, finding.evidence, finding.why, finding.remediation)
    places = (location.file or "", location.member or "", location.key_path or "")
    if all(text.isprintable() for text in texts + places):
        return finding  # the common case: nothing to escape, nothing copied
    return replace(
        finding,
        title=one_line(finding.title),
        evidence=one_line(finding.evidence),
        why=one_line(finding.why),
        remediation=one_line(finding.remediation),
        location=replace(
            location,
            file=None if location.file is None else one_line(location.file),
            member=None if location.member is None else one_line(location.member),
            key_path=None if location.key_path is None else one_line(location.key_path),
        ),
    )
