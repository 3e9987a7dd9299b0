"""Does a package name imitate a popular project's? The transformations typosquatters use.

A name is compared with every popular name through indexes built once (a dict lookup per
transformation, and a deletion neighbourhood for edit distance), never a Levenshtein pass over the
whole list: a few hundred dependencies against 15,000 names stay in the milliseconds.

The transformations, strongest first:

- separators: the same letters with other separators (``hugging_face-hub``, ``scikitlearn``);
- word order: the same words in another order (``hub-huggingface``);
- look-alike characters: ``rn``/``m``, ``vv``/``w``, ``cl``/``d``, ``1``/``l``, ``i``/``l``,
  ``0``/``o``, ``3``/``e``, ``5``/``s`` (``jeIlyfish``: PEP 503 lowercases the capital I);
- affixes: noise around a known name (``python-torch``, ``torch-py``, ``openai-official``);
  affixes honest projects use too are a weaker signal (``pytorch-nightly``, ``openai-sdk``,
  ``transformers2``);
- glued projects: two ML projects written as one name (``torchtriton``);
- one edit: an omitted, repeated, inserted, swapped, keyboard-adjacent or same-sounding vowel
  character (``urlib3``, ``colourama``, ``reqeusts``, ``tenserflow``); within a project's family
  (``langchain-…``) the edit is judged on the word that differs;
- two edits, in long names only (a weaker signal).

A name on the popular list is never flagged, however close it is to another: ``requests`` and
``requests-toolbelt``, ``jinja2`` and ``jinja``, ``torch`` and ``torchvision`` are all real.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass

from pytest_mlsupply.typosquat.popular import PopularNames, vendored

MIN_LENGTH = 4
"""Shorter names (``six``, ``pip``, ``sh``) are one edit away from hundreds of others: matching
them by resemblance would flag noise, so they are matched only by affixes and separators."""
ONE_EDIT_MIN_LENGTH = 5
CONFIDENT_EDIT_LENGTH = 6
"""One edit in a name this long or longer is a confident look-alike (of a well-known project)."""
TWO_EDITS_MIN_LENGTH = 10

_SEPARATORS = re.compile(r"[-_.]+")

# Look-alike glyphs, as the skeleton every name is reduced to. Pairs first, then single glyphs.
_LOOKALIKE_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_LOOKALIKE_CHARS = {"1": "l", "i": "l", "0": "o", "3": "e", "5": "s"}
_LOOKALIKE_TABLE = str.maketrans(_LOOKALIKE_CHARS)
# Slips that stand out even in a short word (``huggingface-hubb``, ``flash-atn``).
_SHORT_NAME_EDITS = frozenset({"swapped", "look-alike", "repeated", "omitted-double"})
_LOOKALIKE_ANY = {frozenset(p) for p in _LOOKALIKE_PAIRS} | {
    frozenset(p) for p in _LOOKALIKE_CHARS.items()
}

_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEY_POSITION = {
    ch: (row, col) for row, keys in enumerate(_KEYBOARD_ROWS) for col, ch in enumerate(keys)
}

# Words that add nothing to a project's identity: a known name wrapped in them is a disguise.
_NOISE_PREFIXES = ("python3", "python", "py3", "py", "pypi", "pip", "official", "the")
_NOISE_SUFFIXES = (
    "python3",
    "python",
    "py3",
    "py",
    "official",
    "latest",
    "new",
    "pkg",
    "package",
    "pypi",
)
# Suffixes that honest projects also use, often the same publisher's (``<name>-client``,
# ``openvino-dev``, ``skypilot-nightly``): a weaker signal.
_WEAK_SUFFIXES = (
    "dev",
    "nightly",
    "stable",
    "release",
    "beta",
    "alpha",
    "lib",
    "sdk",
    "api",
    "client",
    "tools",
    "utils",
    "core",
    "plus",
    "pro",
    # Hardware builds (``tensorflow-gpu``, ``faiss-cpu``, ``cupy-cuda12x`` are real, and on the
    # popular list): on another project's name, a disguise seen in the wild (``torch-gpu``).
    "gpu",
    "cpu",
    "cuda",
)


@dataclass(frozen=True)
class Resemblance:
    """A name that imitates a popular project, and how."""

    imitates: str
    """The popular project's canonical name."""
    how: str
    """The transformation, in words (``omitted one 'l' of 'll'``)."""
    kind: str
    """The transformation's short name: separators, word-order, look-alike, affix, glued,
    omitted, omitted-double, repeated, inserted, plural, swapped, keyboard, vowel, two-edits."""
    confident: bool
    """A strong signal against a well-known project (a high finding), or a weaker one (medium)."""


def canonical(name: str) -> str:
    """PEP 503 normalisation (lowercase, runs of ``-_.`` as one ``-``)."""
    return _SEPARATORS.sub("-", name).lower().strip("-")


def compressed(name: str) -> str:
    return _SEPARATORS.sub("", name).lower()


def skeleton(letters: str) -> str:
    for fake, real in _LOOKALIKE_PAIRS:
        letters = letters.replace(fake, real)
    return letters.translate(_LOOKALIKE_TABLE)


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def _keyboard_neighbours(a: str, b: str) -> bool:
    pa, pb = _KEY_POSITION.get(a), _KEY_POSITION.get(b)
    if pa is None or pb is None:
        return False
    return abs(pa[0] - pb[0]) <= 1 and abs(pa[1] - pb[1]) <= 1


_VOWELS = frozenset("aeiouy")


def describe_one_edit(name: str, popular: str) -> tuple[str, str, bool] | None:
    """(kind, words, strong?) for a name one edit away from ``popular`` (both without
    separators), or None when the edit is no disguise (one version digit for another).

    Strong edits are the ones people make or overlook: a doubled or dropped letter inside the
    name, a vowel that sounds the same, a key next to the right one, a look-alike glyph, two
    letters swapped. An edit at the end of a name or an ``s`` more or less (``dateutil`` /
    ``dateutils``, ``dataset`` / ``datasets``) is weaker: honest projects are named that way too.
    An edit of the first letter (``jinja`` / ``ninja``) or one consonant for another that is no
    neighbour on the keyboard (``mocket`` / ``locket``) is how unrelated names differ, not how
    a reader is fooled, and is not reported (look-alike glyphs excepted).
    """
    if len(name) == len(popular) + 1:
        i = next((k for k in range(len(popular)) if name[k] != popular[k]), len(popular))
        extra = name[i]
        if i == 0:
            return None
        neighbours = {name[k] for k in (i - 1, i + 1) if 0 <= k < len(name)}
        if extra in neighbours:
            # ``requestss``: the doubled letter may sit before the difference.
            return "repeated", f"repeated {extra!r}", True
        if extra == "s" and i == len(name) - 1:
            return "plural", f"an 's' added to {popular!r}", False
        inside = 0 < i < len(name) - 1
        typed = extra in _VOWELS or any(_keyboard_neighbours(extra, n) for n in neighbours)
        return "inserted", f"inserted {extra!r}", inside and typed
    if len(name) + 1 == len(popular):
        i = next((k for k in range(len(name)) if name[k] != popular[k]), len(name))
        missing = popular[i]
        if i == 0:
            return None
        if missing in {popular[k] for k in (i - 1, i + 1) if 0 <= k < len(popular)}:
            return "omitted-double", f"omitted one {missing!r} of {missing * 2!r}", True
        if missing == "s" and i == len(popular) - 1:
            return "plural", f"the 's' of {popular!r} dropped", False
        return "omitted", f"omitted {missing!r}", 0 < i < len(popular) - 1
    diffs = [k for k in range(len(name)) if name[k] != popular[k]]
    if len(diffs) == 2 and diffs[1] == diffs[0] + 1:
        i = diffs[0]
        return "swapped", f"swapped {popular[i : i + 2]!r} to {name[i : i + 2]!r}", True
    i = diffs[0]
    fake, real = name[i], popular[i]
    if fake.isdigit() and real.isdigit():
        return None  # ``cupy-cuda11x`` / ``cupy-cuda12x``, ``protobuf3`` / ``protobuf4``
    if frozenset((fake, real)) in _LOOKALIKE_ANY:
        return "look-alike", f"{fake!r} in place of the look-alike {real!r}", True
    if i == 0:
        return None
    if _keyboard_neighbours(fake, real):
        return "keyboard", f"{fake!r} typed for its keyboard neighbour {real!r}", True
    if fake in _VOWELS and real in _VOWELS:
        return "vowel", f"the vowel {fake!r} in place of {real!r}", True
    return None


def _middle(name: str, popular: str) -> tuple[str, str]:
    """The parts of two strings between their common prefix and common suffix."""
    start = 0
    while start < min(len(name), len(popular)) and name[start] == popular[start]:
        start += 1
    end = 0
    while end < min(len(name), len(popular)) - start and name[-1 - end] == popular[-1 - end]:
        end += 1
    return name[start : len(name) - end], popular[start : len(popular) - end]


class Detector:
    """Indexes of the popular names, built once, asked once per dependency name."""

    def __init__(self, popular: PopularNames) -> None:
        self.popular = popular
        names = popular.names  # most popular first: setdefault keeps the best-ranked target
        self.by_letters: dict[str, str] = {}
        self.by_skeleton: dict[str, str] = {}
        self.by_words: dict[tuple[str, ...], str] = {}
        neighbourhood: defaultdict[str, list[str]] = defaultdict(list)
        self.letters_of: dict[str, str] = {}
        self.longest = 0
        """The most letters a popular name has: a name longer by more than an edit or two
        cannot be one or two edits from any, and is not spelled out edit by edit (the
        deletions of a name are quadratic in its length, two of them cubic: a name of a few
        thousand letters from a package feed would take minutes and gigabytes)."""
        for name in names:
            letters = compressed(name)
            self.letters_of[name] = letters
            self.longest = max(self.longest, len(letters))
            self.by_letters.setdefault(letters, name)
            if len(letters) >= MIN_LENGTH:
                self.by_skeleton.setdefault(skeleton(letters), name)
            words = name.split("-")
            if len(words) > 1:
                self.by_words.setdefault(tuple(sorted(words)), name)
            if len(letters) >= MIN_LENGTH:
                for key in {letters} | _deletions(letters):
                    neighbourhood[key].append(name)
        # Deletion neighbourhood: two names within one edit share a key (one of them, or each
        # with one letter deleted), so candidates come from ~15 lookups, not 15,000 distances.
        self.neighbourhood: dict[str, list[str]] = neighbourhood

    def check(self, name: str) -> Resemblance | None:
        """How ``name`` imitates a popular project, or None (always None for a popular name)."""
        name = canonical(name)
        if not name or name in self.popular:
            return None
        letters = compressed(name)
        for finder in (
            self._separators,
            self._word_order,
            self._lookalike,
            self._affix,
            self._glued,
            self._one_edit,
            self._two_edits,
        ):
            found = finder(name, letters)
            if found is not None:
                return found
        return None

    def _well_known(self, name: str) -> bool:
        return self.popular.well_known(name)

    def _separators(self, name: str, letters: str) -> Resemblance | None:
        target = self.by_letters.get(letters)
        if target is None:
            return None
        return Resemblance(
            target,
            "the same letters with other separators",
            "separators",
            self._well_known(target),
        )

    def _word_order(self, name: str, letters: str) -> Resemblance | None:
        words = name.split("-")
        if len(words) < 2:
            return None
        target = self.by_words.get(tuple(sorted(words)))
        if target is None:
            return None
        return Resemblance(
            target,
            "the same words in another order",
            "word-order",
            self._well_known(target),
        )

    def _lookalike(self, name: str, letters: str) -> Resemblance | None:
        if len(letters) < MIN_LENGTH:
            return None
        target = self.by_skeleton.get(skeleton(letters))
        if target is None:
            return None
        fake, real = _middle(letters, self.letters_of[target])
        return Resemblance(
            target,
            f"look-alike characters: {fake!r} in place of {real!r}",
            "look-alike",
            self._well_known(target),
        )

    def _affix(self, name: str, letters: str) -> Resemblance | None:
        found: Resemblance | None = None
        for core, affix, weak in self._strip_affixes(name):
            if core in self.popular and len(compressed(core)) >= MIN_LENGTH:
                confident = not weak and self._well_known(core)
                candidate = Resemblance(core, f"{affix} added", "affix", confident)
                if found is None or (candidate.confident and not found.confident):
                    found = candidate
        return found

    @staticmethod
    def _strip_affixes(name: str) -> list[tuple[str, str, bool]]:
        """(core, what was added, weak?) for every way of peeling noise off ``name``."""
        out: list[tuple[str, str, bool]] = []
        if name.startswith("python3-"):
            # ``python3-dateutil`` for ``python-dateutil`` (a real incident).
            out.append(("python-" + name[len("python3-") :], "'3' in the prefix 'python-'", False))
        frontier: list[tuple[str, list[str], bool]] = [(name, [], False)]
        for _ in range(2):  # ``python-torch-nightly``: at most two layers
            nxt: list[tuple[str, list[str], bool]] = []
            for current, added, weak in frontier:
                for prefix in _NOISE_PREFIXES:
                    if current.startswith(prefix + "-"):
                        nxt.append(
                            (current[len(prefix) + 1 :], [*added, f"the prefix {prefix!r}"], weak)
                        )
                    elif (
                        current.startswith(prefix)
                        and prefix.startswith("py")
                        and len(current) > len(prefix)
                    ):
                        # Glued ``py``/``python``: ``pyrequests``. Honest ``py<name>`` projects
                        # exist, so this is a weaker signal.
                        nxt.append(
                            (current[len(prefix) :], [*added, f"the prefix {prefix!r}"], True)
                        )
                for suffix in _NOISE_SUFFIXES + _WEAK_SUFFIXES:
                    if current.endswith("-" + suffix):
                        nxt.append(
                            (
                                current[: -len(suffix) - 1],
                                [*added, f"the suffix {suffix!r}"],
                                weak or suffix in _WEAK_SUFFIXES,
                            )
                        )
                # The trailing number (``-?\d+$``), found from the end: a regular expression
                # searched over a long run of digits not at the end is quadratic.
                end = len(current)
                while end > 0 and current[end - 1].isdecimal():
                    end -= 1
                start = end - 1 if end < len(current) and current[:end].endswith("-") else end
                if end < len(current) and start > 0:
                    # A number is how honest successors are named too (``jinja2``, ``boto3``,
                    # ``progressbar2``, ``httpx2``, a fork that huggingface_hub depends on): a
                    # weaker signal.
                    number = current[end:]
                    nxt.append((current[:start], [*added, f"the number {number!r}"], True))
            for core, added, weak in nxt:
                out.append((core.strip("-"), " and ".join(added), weak))
            frontier = nxt
        return out

    def _glued(self, name: str, letters: str) -> Resemblance | None:
        if letters != name:
            return None  # ``spacy-transformers``: a plugin named after both, honestly
        if len(letters) > 2 * self.longest:
            return None  # no two popular names are that long together
        ml = self.popular.ml
        for i in range(MIN_LENGTH, len(letters) - MIN_LENGTH + 1):
            head, tail = letters[:i], letters[i:]
            head_name, tail_name = self.by_letters.get(head), self.by_letters.get(tail)
            if head_name in ml and tail_name in ml:
                return Resemblance(
                    tail_name,
                    f"two ML projects glued into one name ({head_name!r} + {tail_name!r})",
                    "glued",
                    True,
                )
        return None

    def _candidates(self, keys: set[str]) -> list[str]:
        seen: dict[str, None] = {}
        for key in keys:
            for target in self.neighbourhood.get(key, ()):
                seen.setdefault(target, None)
        # Most popular first, so ties go to the project an attacker would rather imitate.
        return sorted(seen, key=lambda n: self.popular.ranks.get(n, 0))

    def _one_edit(self, name: str, letters: str) -> Resemblance | None:
        if len(letters) < MIN_LENGTH or len(letters) > self.longest + 1:
            return None
        for target in self._candidates({letters} | _deletions(letters)):
            if osa_distance(letters, self.letters_of[target]) != 1:
                continue
            # Within a project's family, judge the edit by the words that differ:
            # ``langchain-code`` and ``langchain-core`` differ in a four-letter word, however long
            # the shared ``langchain-`` is.
            mine, real = self.differing_words(name, target)
            if osa_distance(mine, real) != 1:
                continue
            if mine == real.rstrip("0123456789") and real[-1].isdigit():
                # ``jinja`` for ``jinja2``, ``beautifulsoup`` for ``beautifulsoup4``: the older
                # project under its own name, not a disguise.
                continue
            edit = describe_one_edit(mine, real)
            if edit is None:
                continue
            kind, how, strong = edit
            if len(mine) < ONE_EDIT_MIN_LENGTH and kind not in _SHORT_NAME_EDITS:
                continue
            if kind == "inserted" and len(mine) < CONFIDENT_EDIT_LENGTH:
                continue  # a foreign letter in a five-letter name: ``jinja`` is not ``jina``
            confident = (
                strong and len(letters) >= CONFIDENT_EDIT_LENGTH and self._well_known(target)
            )
            return Resemblance(target, how, kind, confident)
        return None

    def differing_words(self, name: str, target: str) -> tuple[str, str]:
        """The letters of two canonical names, less the leading words they share when those
        words name a popular project (its family: ``langchain-…``, ``torch-…``)."""
        mine, theirs = name.split("-"), target.split("-")
        shared = 0
        while (
            shared + 1 < min(len(mine), len(theirs))
            and mine[shared] == theirs[shared]
            and "-".join(mine[: shared + 1]) in self.popular
        ):
            shared += 1
        return "".join(mine[shared:]), "".join(theirs[shared:])

    def _two_edits(self, name: str, letters: str) -> Resemblance | None:
        if len(letters) < TWO_EDITS_MIN_LENGTH or len(letters) > self.longest + 2:
            return None
        keys = {d2 for d1 in _deletions(letters) for d2 in _deletions(d1)} | _deletions(letters)
        for target in self._candidates(keys):
            mine, real = self.differing_words(name, target)
            if min(len(mine), len(real)) < TWO_EDITS_MIN_LENGTH or mine[0] != real[0]:
                continue
            if osa_distance(mine, real) == 2:
                fake, part = _middle(mine, real)
                return Resemblance(
                    target, f"two edits: {fake!r} in place of {part!r}", "two-edits", False
                )
        return None


@functools.cache
def vendored_detector() -> Detector:
    """The detector over the vendored lists, built once per process."""
    return Detector(vendored())
