"""How cyclonedx-python-lib writes a BOM's values, for the plugin's own BOM writer.

The plugin writes the BOM without the library (:mod:`pytest_mlsupply.reports.bom`,
:mod:`~pytest_mlsupply.reports.bom_vulnerabilities`) but in its forms, so the two documents stay
equal (``tests/reports/test_bom_build.py`` holds them equal):

- the order of its sets: the library keeps every list of a BOM (references, ratings,
  components, ...) in a ``SortedSet``, duplicates dropped, sorted by a ``ComparableTuple`` of
  the item's fields. Where every field is a string a plain ``sorted`` is the same order;
  :func:`library_order` is for the items with optional fields (a comment, a vector) and nested
  lists (a reference's hashes);
- URIs as its ``XsUri`` makes them (:func:`uri`), timestamps as it writes them
  (:func:`timestamp`).
"""

from __future__ import annotations

import functools
import re
from itertools import zip_longest
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

__all__ = ["InvalidUri", "compare", "library_order", "timestamp", "uri"]

_T = TypeVar("_T")


def library_order(items: Iterable[_T], key: Callable[[_T], tuple[Any, ...]]) -> list[_T]:
    """``items`` as the library's ``SortedSet`` holds them: the first of equal keys kept, in
    the order :func:`compare` gives their keys (``key``: the item's fields in the library's
    order, ``None`` for an absent one, a tuple for a nested list)."""
    unique: dict[tuple[Any, ...], _T] = {}
    for item in items:
        unique.setdefault(key(item), item)
    return [unique[k] for k in sorted(unique, key=functools.cmp_to_key(compare))]


def compare(a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
    """The library's ``ComparableTuple`` order: field by field, ``None`` after any value, a
    missing trailing field as ``None``, nested tuples compared the same way."""
    for mine, theirs in zip_longest(a, b):
        if mine == theirs:
            continue
        if mine is None:
            return 1
        if theirs is None:
            return -1
        if isinstance(mine, tuple):
            return compare(mine, theirs)
        return -1 if mine < theirs else 1
    return 0


class InvalidUri(ValueError):
    """A link the BOM cannot hold as a URI (the message says why and what to do)."""


#: What the library refuses as a URI, and what it percent-encodes in one (``XsUri``).
_INVALID_URI = re.compile(r"%(?![0-9A-F]{2})|#.*#", re.IGNORECASE | re.MULTILINE)
_URI_ESCAPES = (
    (" ", "%20"),
    ('"', "%22"),
    ("'", "%27"),
    ("[", "%5B"),
    ("]", "%5D"),
    ("<", "%3C"),
    (">", "%3E"),
    ("{", "%7B"),
    ("}", "%7D"),
)


def uri(text: str) -> str:
    """``text`` as an ``iri-reference`` / ``xs:anyURI``, as the library's ``XsUri`` makes one:
    the characters neither form allows percent-encoded; :class:`InvalidUri` for a stray ``%``
    or two ``#`` (which the library refuses too)."""
    if _INVALID_URI.search(text):
        raise InvalidUri(
            f"{text!r} is not a valid URI (a '%' not followed by two hex digits, or two '#'): "
            "rename what it names, or percent-encode it"
        )
    for character, escaped in _URI_ESCAPES:
        text = text.replace(character, escaped)
    return text


def timestamp(when: datetime) -> str:
    """ISO 8601 with its offset, always (a naive time is local time), as the library writes it."""
    return (when.astimezone() if when.tzinfo is None else when).isoformat()
