"""Licences of models and datasets: the vendored table, SPDX expressions and the policy verdict.

The table (``data/licenses.json``, documented in ``docs/licenses.md``) lists the licences models
and datasets really use, keyed by SPDX id where one exists and by the Hugging Face Hub's licence
id otherwise (``llama3``, ``openrail``), each with the restrictions read from its text and the
URL of that text. Expressions (``apache-2.0 OR mit``, ``cc-by-4.0 AND openrail``, ``WITH``
exceptions) are parsed by license-expression over the SPDX database extended with the Hub's ids,
case-insensitively; nothing here string-matches an expression.

A verdict follows the expression: an ``OR`` takes the most permissive alternative that satisfies
the policy, an ``AND`` carries the restrictions of every part.

A licence's text (a model's ``LICENSE`` file) is identified by the table's ``fingerprints``
(:func:`identify`), one reading for both claims that read such a file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from license_expression import (  # type: ignore[import-untyped,unused-ignore]
    ExpressionError,
    LicenseExpression,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
    get_spdx_licensing,
)

from pytest_mlsupply.manifest.model import LicensePolicy

__all__ = [
    "RESTRICTIONS",
    "Licence",
    "LicenceError",
    "LicenceText",
    "Problem",
    "Verdict",
    "equivalent",
    "evaluate",
    "identify",
    "known_id",
    "licence",
    "parse",
    "same_family",
    "symbols",
    "table",
]

TABLE_FILE = "licenses.json"

#: The restrictions a licence can carry, and what each means for whoever ships the model.
RESTRICTIONS: dict[str, str] = {
    "attribution": "copies and derivatives must credit the authors and carry the licence or notice",
    "non-commercial": "no commercial use",
    "no-derivatives": "no modified or derived works may be shared (fine-tunes included)",
    "research-only": "use is limited to research",
    "no-use-of-outputs-for-training": "the model's outputs may not be used to train or improve "
    "other models",
    "share-alike": "derivatives must be released under the same licence (copyleft)",
    "use-based-restrictions": "an acceptable-use policy binds every user and every derivative",
    "user-threshold": "above a number of monthly active users a separate licence is needed",
    "territorial-restriction": "the rights are withheld in some territories",
}

#: The Hub's placeholders for a licence it does not name: never a licence of their own.
PLACEHOLDERS = frozenset({"other", "unknown"})


class LicenceError(ValueError):
    """A licence expression that cannot be parsed (the message says why)."""


@dataclass(frozen=True)
class Licence:
    """One entry of the vendored table."""

    key: str
    """The SPDX id (``Apache-2.0``) or, when there is none, the Hub's id (``llama3``)."""
    name: str
    spdx: bool
    restrictions: frozenset[str]
    source: str
    """The URL of the licence text the restrictions were read from."""
    aliases: tuple[str, ...] = ()
    """Other ids the Hub uses for it (``odbl`` for ``ODbL-1.0``)."""
    note: str | None = None
    fingerprints: tuple[tuple[str, ...], ...] = ()
    """How its text is identified (:func:`identify`): groups of phrases the text prints, its
    title and version lines (``Attribution-NonCommercial 4.0 International``); a text holding
    every phrase of one group is this licence's. Stored as :func:`_flat` made them."""

    @property
    def restrictive(self) -> bool:
        """Whether it asks more than attribution (takes a right away)."""
        return bool(self.restrictions - {"attribution"})


@cache
def table() -> dict[str, Licence]:
    """Every licence of the vendored table by its lower-cased key and aliases."""
    text = resources.files("pytest_mlsupply").joinpath("data", TABLE_FILE).read_text("utf-8")
    entries: list[dict[str, Any]] = json.loads(text)["entries"]
    out: dict[str, Licence] = {}
    for entry in entries:
        item = Licence(
            key=entry["key"],
            name=entry["name"],
            spdx=bool(entry["spdx"]),
            restrictions=frozenset(entry["restrictions"]),
            source=entry["source"],
            aliases=tuple(entry.get("aliases", ())),
            note=entry.get("note"),
            fingerprints=tuple(
                tuple(_flat(phrase) for phrase in group) for group in entry.get("fingerprints", ())
            ),
        )
        for name in (item.key, *item.aliases):
            out[name.lower()] = item
    return out


@cache
def licensing() -> Licensing:
    """SPDX's licensing database, plus the table's Hub ids as keys and aliases of their own."""
    spdx = get_spdx_licensing()
    symbols: dict[str, LicenseSymbol] = {}
    for symbol in spdx.known_symbols.values():
        symbols.setdefault(symbol.key.lower(), symbol)
    for item in {entry.key: entry for entry in table().values()}.values():
        known = symbols.get(item.key.lower())
        if known is not None:
            aliases = tuple(a for a in item.aliases if a.lower() not in symbols)
            if aliases:
                symbols[item.key.lower()] = LicenseSymbol(
                    known.key,
                    aliases=(*known.aliases, *aliases),
                    is_exception=known.is_exception,
                )
        else:
            symbols[item.key.lower()] = LicenseSymbol(item.key, aliases=item.aliases)
    return Licensing(list(symbols.values()))


def parse(text: str) -> LicenseExpression:
    """``text`` as an expression tree; keys the database does not know stay as written."""
    # SPDX and Hub licence ids are ASCII: a Cyrillic or fullwidth letter in one is a look-alike
    # (a Cyrillic M in ``MIT``) that would otherwise be an "unknown" licence, which `unknown: allow` accepts.
    odd = next((c for c in text if not c.isascii() and not c.isspace()), None)
    if odd is not None:
        raise LicenceError(
            f"{text!r} is not a licence expression: licence ids are ASCII, and {odd!r} "
            f"(U+{ord(odd):04X}) at position {text.index(odd)} is not"
        )
    try:
        # validate=False: an unknown key is a policy question (``unknown: allow|deny``), not a
        # syntax error; it stays in the tree as written and the verdict names it.
        parsed = licensing().parse(text, validate=False, strict=True)
    except ExpressionError as exc:
        raise LicenceError(f"{text!r} is not a licence expression: {exc}") from None
    if parsed is None:
        raise LicenceError("the licence is empty")
    return parsed


def licence(key: str) -> Licence | None:
    """The table's entry for an id as the parser resolved it (any case, any alias)."""
    return table().get(key.lower())


def known_id(text: str) -> str | bool:
    """True when ``text`` is one licence id of the table (``WITH`` an exception allowed), else
    what is wrong with it, worded to follow the id: ``'foo' is not a licence the table knows``."""
    try:
        tree = parse(text)
    except LicenceError as exc:
        return f"is not a licence id ({exc})"
    symbol = tree.license_symbol if isinstance(tree, LicenseWithExceptionSymbol) else tree
    if not isinstance(symbol, LicenseSymbol):
        return "is an expression; list one licence id per entry"
    if symbol.key.lower() in PLACEHOLDERS or licence(symbol.key) is None:
        return "is not a licence the vendored table knows"
    return True


@dataclass(frozen=True)
class Problem:
    """Why (part of) an expression does not satisfy the policy."""

    kind: Literal["not-allowed", "restricted", "unknown"]
    licence: str
    """The licence as the expression names it, canonical when known (``CC-BY-NC-4.0``)."""
    restriction: str | None = None
    resembles: str | None = None
    """For an unknown licence: the table's licence it is a respelling of (``CC BY-NC 4.0``)."""

    def describe(self) -> str:
        if self.kind == "restricted":
            return f"{self.licence} carries the denied restriction {self.restriction!r}"
        if self.kind == "not-allowed":
            return f"{self.licence} is not in policy.licenses.allow"
        if self.resembles:
            return (
                f"{self.licence} is not a licence the gate knows (it resembles "
                f"{self.resembles}: write that id, or the id of the licence it really is)"
            )
        return f"{self.licence} is not a licence the gate knows"


@dataclass(frozen=True)
class Verdict:
    """What an expression means under a policy."""

    expression: str
    """The expression as parsed, ids in their canonical spelling."""
    licences: tuple[str, ...]
    """The licences whose terms apply (each ``OR`` resolved to the alternative taken)."""
    restrictions: tuple[tuple[str, str], ...]
    """(restriction, licence carrying it), sorted."""
    problems: tuple[Problem, ...]
    unknown: tuple[str, ...] = ()
    """Licences the table does not know, accepted because the policy says ``unknown: allow``."""

    @property
    def ok(self) -> bool:
        return not self.problems


def evaluate(text: str, policy: LicensePolicy) -> Verdict:
    """The verdict of the expression ``text`` under ``policy``; :class:`LicenceError` if it does
    not parse."""
    tree = parse(text)
    return _walk(tree, policy, _allowed(policy))


def _allowed(policy: LicensePolicy) -> frozenset[str]:
    keys: set[str] = set()
    for entry in policy.allow:
        try:
            keys.add(str(parse(entry)).lower())
        except LicenceError:
            # The loader rejects these; a policy built in code just never matches them.
            continue
    return frozenset(keys)


#: Exception ids outside SPDX's exception list: the license-expression database also knows
#: ScanCode's ``LicenseRef-scancode-*`` exceptions, some of which take rights away (the Commons
#: Clause forbids selling) or say nothing the gate can read (``generic-exception``).
_NON_SPDX = ("licenseref-", "documentref-")


def _walk(node: LicenseExpression, policy: LicensePolicy, allowed: frozenset[str]) -> Verdict:
    if isinstance(node, LicenseWithExceptionSymbol):
        shown = str(node)
        exception = node.exception_symbol.key.lower()
        if exception.startswith(_NON_SPDX) and shown.lower() not in allowed:
            # Only SPDX's exceptions are known to add permissions; anything else is an unknown
            # licence (unless the allow list names this exact combination).
            return _unknown(shown, policy, allowed)
        return _leaf(node.license_symbol.key, shown, policy, allowed)
    if isinstance(node, LicenseSymbol):
        return _leaf(node.key, node.key, policy, allowed)
    parts = [_walk(arg, policy, allowed) for arg in node.args]
    if isinstance(node, licensing().OR):
        # The most permissive alternative that satisfies the policy; when none does, the one
        # with the fewest problems (those are the ones worth reporting). A known licence is
        # preferred to an unknown one accepted by `unknown: allow` (its restrictions are unseen).
        best = min(parts, key=lambda v: (len(v.problems), len(v.unknown), len(v.restrictions)))
        return Verdict(
            expression=str(node),
            licences=best.licences,
            restrictions=best.restrictions,
            problems=best.problems,
            unknown=best.unknown,
        )
    return Verdict(
        expression=str(node),
        licences=tuple(dict.fromkeys(k for p in parts for k in p.licences)),
        restrictions=tuple(sorted({r for p in parts for r in p.restrictions})),
        problems=tuple(dict.fromkeys(q for p in parts for q in p.problems)),
        unknown=tuple(dict.fromkeys(u for p in parts for u in p.unknown)),
    )


def _leaf(key: str, shown: str, policy: LicensePolicy, allowed: frozenset[str]) -> Verdict:
    entry = None if key.lower() in PLACEHOLDERS else licence(key)
    if entry is None:
        return _unknown(shown, policy, allowed)
    problems: list[Problem] = []
    # A WITH exception only adds permissions: allowing the licence allows it with exceptions.
    if allowed and not {shown.lower(), entry.key.lower()} & allowed:
        problems.append(Problem("not-allowed", shown))
    problems += [
        Problem("restricted", shown, restriction)
        for restriction in sorted(entry.restrictions)
        if restriction in policy.deny_restrictions
    ]
    restrictions = tuple(sorted((r, shown) for r in entry.restrictions))
    return Verdict(shown, (shown,), restrictions, tuple(problems))


def _skeleton(key: str) -> str:
    """``key`` without case, punctuation or a ``.0`` version suffix: ``CC BY-NC 4.0``, ``cc_by_nc_4``
    and ``CC-BY-NC-4.0`` are all ``ccbync4``."""
    return re.sub(r"[^a-z0-9]", "", re.sub(r"(\d)\.0(?!\d)", r"\1", key.lower()))


@cache
def _skeletons() -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in table().values():
        for name in (entry.key, *entry.aliases):
            out.setdefault(_skeleton(name), entry.key)
    return out


def _unknown(shown: str, policy: LicensePolicy, allowed: frozenset[str]) -> Verdict:
    """A licence the table does not know: ``unknown: allow`` accepts it, but an allow list is
    exhaustive, and an unknown licence is never in it; nor is a respelling of a licence the table
    knows an unknown one (accepting it "without restrictions" would drop that licence's)."""
    resembles = _skeletons().get(_skeleton(shown))
    if resembles is not None and shown.lower() not in PLACEHOLDERS:
        return Verdict(shown, (shown,), (), (Problem("unknown", shown, resembles=resembles),))
    if policy.unknown == "allow":
        if allowed and shown.lower() not in allowed:
            return Verdict(shown, (shown,), (), (Problem("not-allowed", shown),))
        return Verdict(shown, (shown,), (), (), unknown=(shown,))
    return Verdict(shown, (shown,), (), (Problem("unknown", shown),))


# --- licence texts --------------------------------------------------------------------------


def _flat(text: str) -> str:
    """``text`` lower-cased, every run of whitespace one space: neither case nor line breaks
    hide a phrase."""
    return " ".join(text.split()).lower()


#: How far into a licence file (in characters, whitespace runs counted as one) a licence's text
#: may start and still be what the file opens with: a title further down is quoted or appended.
TITLE_WINDOW = 3000


@dataclass(frozen=True)
class LicenceText:
    """The table's licences a licence file's text holds (:func:`identify`), read two ways."""

    found: tuple[tuple[int, Licence], ...]
    """Each licence whose fingerprint the text holds, with where that fingerprint starts (in
    the text as :func:`_flat` makes it), in that order."""

    @property
    def licences(self) -> tuple[Licence, ...]:
        return tuple(item for _, item in self.found)

    @property
    def only(self) -> Licence | None:
        """The licence the text is, when it holds exactly one: the ``model-card-accuracy``
        claim's reading (``MLS-CARD-101``). A text holding two licences, or none, is no licence:
        a wrong identification would report a contradiction that is not there."""
        return self.found[0][1] if len(self.found) == 1 else None

    @property
    def opening(self) -> tuple[Licence, ...]:
        """The restrictive licences whose text starts in the first :data:`TITLE_WINDOW`
        characters, in order: the ``license`` claim's reading (``MLS-LIC-010``), which applies
        every one of them on top of the declared licence (fail closed: a file opening with two
        licences carries both). A licence that asks only attribution takes nothing away; whether
        the card names it is the accuracy claim's question."""
        return tuple(item for at, item in self.found if at < TITLE_WINDOW and item.restrictive)


def identify(text: str) -> LicenceText:
    """The table's licences whose text ``text`` (a ``LICENSE`` file) is, by the entries'
    ``fingerprints``: the one reader of licence texts, for both claims that read them.

    Fingerprints are the lines a licence's text prints (title and version), each distinctive of
    one licence (the test suite checks that none matches another's), so a mention ("licensed
    under the MIT licence") is not the text. The GNU licences say "or any later version" only in
    their how-to-apply appendix, so the ``-only`` id is reported; it is still the same licence
    family for a comparison (:func:`same_family`).
    """
    flat = _flat(text)
    found: list[tuple[int, Licence]] = []
    for item in {entry.key: entry for entry in table().values()}.values():
        starts = []
        for group in item.fingerprints:
            at = [flat.find(phrase) for phrase in group]
            if all(i >= 0 for i in at):
                starts.append(min(at))
        if starts:
            found.append((min(starts), item))
    return LicenceText(tuple(sorted(found, key=lambda f: f[0])))


def symbols(text: str) -> tuple[str, ...]:
    """The licence keys an expression names (canonical when known), in order, each once."""
    tree = parse(text)
    keys: list[str] = []
    for symbol in licensing().license_symbols(tree, unique=True, decompose=True):
        if not symbol.is_exception:
            keys.append(str(symbol.key))
    return tuple(dict.fromkeys(keys))


def _family(key: str) -> str:
    key = key.lower()
    for suffix in ("-only", "-or-later"):
        key = key.removesuffix(suffix)
    return key


def same_family(a: str, b: str) -> bool:
    """Whether two licence keys name one licence (``GPL-3.0-only`` and ``GPL-3.0-or-later`` do:
    a licence file cannot tell them apart)."""
    return _family(a) == _family(b)


def equivalent(a: str, b: str) -> bool:
    """Whether two expressions say the same (``Apache-2.0 OR MIT`` is ``mit or apache-2.0``);
    :class:`LicenceError` when either does not parse."""
    return bool(licensing().is_equivalent(parse(a), parse(b)))
