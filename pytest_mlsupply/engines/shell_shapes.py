"""Linear-time searches for the shell shapes whose regular expressions backtrack quadratically.

A pattern such as ``curl[^|;]*\\|\\s*sh\\b`` scans, from every ``curl``, to the next ``|`` or
``;``: a line of ``curl curl curl ...`` with neither is read once per word, inside one ``re``
call where no budget checkpoint can run (a 1 MB line took about 20 minutes; a line of ``>``
for the profile pattern, hours). Each class here finds exactly what its regular expression
finds (tests hold them to it) in one pass, and offers the same ``search`` as a compiled pattern.
"""

from __future__ import annotations

import re

__all__ = ["AnyOf", "HeadThenTail", "PipedInto", "ProfileWrite", "Search"]


class Search:
    """What the scanners call: ``search(text)``, truthy when the shape is in ``text``."""

    def search(self, text: str) -> object:  # pragma: no cover - overridden
        raise NotImplementedError


class AnyOf(Search):
    """Any of several searches (a regular expression's alternatives)."""

    def __init__(self, *parts: re.Pattern[str] | Search) -> None:
        self.parts = parts

    def search(self, text: str) -> object:
        return any(part.search(text) for part in self.parts)


class PipedInto(Search):
    """``head[^<separators>]*\\|tail``: a ``head`` whose next separator is a ``|`` that
    ``tail`` follows. ``head`` must match no separator (so every match of it in a stretch
    between two separators is judged by the same next one)."""

    def __init__(self, head: str, tail: str, separators: str) -> None:
        self.head = re.compile(head)
        self.tail = re.compile(tail)
        self.separator = re.compile(f"[{re.escape(separators)}]")

    def search(self, text: str) -> object:
        pos = 0
        while True:
            head = self.head.search(text, pos)
            if head is None:
                return False
            separator = self.separator.search(text, head.end())
            if separator is None:
                return False
            if separator.group() == "|" and self.tail.match(text, separator.end()):
                return True
            pos = separator.end()


class HeadThenTail(Search):
    """``head.*tail`` on one line (a script's lines are searched one at a time): a ``tail``
    anywhere after the first ``head``, which leaves it the most room."""

    def __init__(self, head: str, tail: str) -> None:
        self.head = re.compile(head)
        self.tail = re.compile(tail)

    def search(self, text: str) -> object:
        head = self.head.search(text)
        return head is not None and self.tail.search(text, head.end()) is not None


class ProfileWrite(Search):
    """``>>?\\s*~?/?[^\\s]*<name>``: a run of non-space characters holding ``name`` after a
    ``>`` of its own, or right after a ``>`` and spaces."""

    def __init__(self, name: str) -> None:
        self.name = re.compile(name)

    def search(self, text: str) -> object:
        after_redirect = False  # the last non-space character before this run is a '>'
        for run in re.finditer(r"\S+", text):
            start, end = run.span()
            if after_redirect and self.name.search(text, start, end):
                return True
            redirect = text.find(">", start, end)
            if redirect >= 0 and self.name.search(text, redirect + 1, end):
                return True
            after_redirect = text[end - 1] == ">"
        return False
