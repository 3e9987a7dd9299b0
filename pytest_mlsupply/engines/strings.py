"""One analyser for the string values of structured documents: encoded pickles and templates.

JSON configs, tokenizer files, safetensors headers and GGUF metadata are data, but their string
values reach code two ways:

* a program decodes a value (base64, hex, a compressed stream, or its latin-1 bytes as they are)
  and calls ``pickle.loads`` on it: the value is found with the pickle engine's recogniser
  (:func:`pytest_mlsupply.engines.pickle.nested.embedded_pickles`, which peels compression
  through the bounded layer :mod:`pytest_mlsupply.engines.decompress`), scanned with the pickle
  engine, and its findings are reported at the value's key path (MLS-ENC-001);
* a loader renders it as a jinja2 template: ``chat_template``, any ``*_template`` key (and
  everything under a ``*_templates`` one, such as ``{name, template}`` lists) goes to
  :mod:`pytest_mlsupply.engines.templates`; any other string holding ``{{`` or ``{%`` is
  analysed too, and reported when it reaches for Python internals (high or above), since a
  template in an oddly named key is still rendered by the tool that reads it.

A list of strings that is one base64 run split into pieces is also analysed joined, at
``key (joined)``, as the program that joins it would read it.

A string that is itself a JSON document (safetensors metadata stores nested data that way) is
parsed and its strings are analysed at ``key (JSON).inner``.

Documents hold up to a million strings (a tokenizer's vocabulary), so each string first passes
a cheap gate (:func:`~pytest_mlsupply.engines.pickle.nested.might_hold_pickle`: its length and
first character, or one regular expression for encoded runs inside it) and identical values are analysed once. All decoding of one document shares a
:class:`~pytest_mlsupply.engines.pickle.nested.DecodeBudget`; when it runs out, the strings left
unanalysed are counted and reported (MLS-ENC-003), never passed in silence.

Usage, for any reader that walks a document (JSON here; a YAML reader feeds its scalars the
same way)::

    analyser = StringAnalyser(blob, ctx.policy.pickle)
    findings = analyser.walk(document)           # or analyser.value(key_path, text, key=key)
    findings += analyser.finish()
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.engines.budget import CHECK_EVERY, checkpoint
from pytest_mlsupply.engines.pickle import scan_pickle_bytes
from pytest_mlsupply.engines.pickle.nested import DecodeBudget, embedded_pickles, might_hold_pickle
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.blob import Blob
    from pytest_mlsupply.engines.pickle import PicklePolicy

__all__ = [
    "DECODE_BUDGET",
    "StringAnalyser",
    "child_path",
    "is_template_key",
    "string_findings",
]

#: Decoded bytes one document may spend on its strings (base64, hex, decompression together).
DECODE_BUDGET = 256 << 20
#: Template parses one document may run on strings that are not under a template key's name.
MAX_ANALYSES = 10_000
#: Strings outside template keys shorter than this are not parsed as templates.
MIN_ESCAPE_CHARS = 12
#: Decode budget charged per pickle scan on top of the bytes decoded.
SCAN_COST = 1024
#: JSON documents inside strings inside JSON documents are followed this deep (deeper ones
#: are counted as unanalysed).
MAX_JSON_DEPTH = 8

#: A list of strings is also analysed joined when it is one base64 run this long or longer.
MIN_JOINED = 16

_JOINABLE = re.compile(r"[A-Za-z0-9+/_=-]+")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_TEMPLATE_MARKERS = ("{{", "{%")
_KEY_SHOWN = 60


def is_template_key(key: str) -> bool:
    """Whether a loader renders the value of ``key`` as a template.

    ``chat_template`` and every ``*_template`` (``custom_chat_template``,
    ``default_chat_template``, ``prompt_template``), ``template`` itself (``{name, template}``
    items), ``*_templates`` collections, and any other key whose last dotted part names a
    template; case, separators (``chat-template``, ``chatTemplate``) and a dotted prefix
    (``tokenizer.chat_template``) do not matter.
    """
    # Any spelling: chat_template, chat-template, chatTemplate, Default_Chat_Template,
    # chat_template_rag. A key that merely names a template (template_path) costs a parse of
    # plain text, which finds nothing.
    last = key.strip().lower().rsplit(".", 1)[-1]
    return "template" in last


def child_path(parent: str, key: str | int) -> str:
    """``parent.key``, ``parent[3]``, or ``parent["odd key"]`` (long keys shortened)."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _PLAIN_KEY.match(key) and len(key) <= _KEY_SHOWN:
        return f"{parent}.{key}" if parent else key
    shown = key if len(key) <= _KEY_SHOWN else key[: _KEY_SHOWN - 3] + "..."
    return f"{parent}[{json.dumps(shown)}]"


class StringAnalyser:
    """The strings of one document: shared budget, values analysed once, exhaustion reported.

    ``pickle_rule`` / ``pickle_title`` name the finding for a pickle in a value (a format may
    keep its own rule id, as safetensors metadata does with MLS-ST-004).
    """

    def __init__(
        self,
        blob: Blob,
        policy: PicklePolicy,
        *,
        pickle_rule: str = "MLS-ENC-001",
        pickle_title: str = "a string value holds a pickle",
        budget: int = DECODE_BUDGET,
        max_analyses: int = MAX_ANALYSES,
    ) -> None:
        self.blob = blob
        self.policy = policy
        self.pickle_rule = pickle_rule
        self.pickle_title = pickle_title
        self.budget = DecodeBudget(budget)
        self.limits = (budget, max_analyses)
        self.analyses_left = max_analyses
        self.skipped = 0
        self.first_skipped: str | None = None
        self._seen: set[tuple[str, bool, bool]] = set()
        self._seen_json: set[str] = set()
        self._json_depth = 0
        self._plain = False  # set while a string that only looked like JSON is analysed

    # --- one value ------------------------------------------------------------------------

    def value(
        self,
        key_path: str,
        text: str,
        *,
        key: str | None = None,
        template: bool | None = None,
        offset: int | None = None,
        pickles_only: bool = False,
        gated: bool = False,
    ) -> list[Finding]:
        """Findings for one string ``text`` at ``key_path`` (``key`` is its own key name).

        ``template`` forces the template decision (None: decided by ``key``); ``offset`` is the
        value's byte offset in the file, where the format knows it; ``pickles_only`` leaves
        templates to a caller that analyses this value itself; ``gated`` says the caller has
        run :func:`might_hold_pickle` on it and it said yes (a million strings are not gated
        twice).
        """
        as_template = is_template_key(key) if template is None and key else bool(template)
        if not (as_template or self._plain) and _looks_like_json(text):
            if self._json_depth < MAX_JSON_DEPTH:
                return self._json(key_path, text, pickles_only)
            self._skip(key_path)  # nested deeper than followed: fail closed
            return []
        pickled = gated or might_hold_pickle(text)
        markup = not pickles_only and (
            as_template
            or (
                # The shortest escape ("{{x.__class__}}") is longer: code vocabularies hold
                # thousands of short tokens like "{{" or "{%-" that are not worth a parse.
                len(text) >= MIN_ESCAPE_CHARS
                and any(marker in text for marker in _TEMPLATE_MARKERS)
            )
        )
        if not (pickled or markup):
            return []
        memo = (text, as_template, markup)
        if memo in self._seen:
            return []  # the same value elsewhere: reported at its first key path
        self._seen.add(memo)
        findings: list[Finding] = []
        if pickled:
            refused = self.budget.refused
            findings += self._pickles(key_path, text, offset)
            if self.budget.refused > refused:
                self._skip(key_path)
        if markup:
            if not self._charge(key_path):
                return findings
            # Imported here: jinja2 costs ~60 ms to import, and only a template needs it (this
            # branch, not the top of a function called once per string of a vocabulary).
            from pytest_mlsupply.engines.templates import template_findings

            location = self.blob.location(key_path=key_path, offset=offset)
            found = template_findings(text, location)
            if not as_template:
                # Not named as a template: only what reaches Python internals, not the
                # wording or syntax of text that may never be rendered.
                found = [f for f in found if f.severity >= Severity.HIGH]
            findings += found
        return findings

    def joined(self, key_path: str, items: list[Any], *, key: str | None = None) -> list[Finding]:
        """Findings for a list of strings that a program joins into one (``"".join(items)``):
        base64 split into pieces.

        Vocabularies and GGUF token lists hold hundreds of thousands of short strings, so a list
        is joined only when its first piece, then all of it, is one run of the base64 alphabet
        (hex and base32 are subsets): the first piece of a real token list turns it away.
        """
        if len(items) < 2 or not isinstance(items[0], str) or not _JOINABLE.fullmatch(items[0]):
            return []
        try:
            text = "".join(items)
        except TypeError:
            return []  # not all strings
        if len(text) < MIN_JOINED or not _JOINABLE.fullmatch(text):
            return []
        return self.value(f"{key_path} (joined)", text, key=key, template=False, pickles_only=True)

    def _charge(self, key_path: str) -> bool:
        """Count one template parse; False (and counted as skipped) past the cap."""
        if self.analyses_left <= 0:
            self._skip(key_path)
            return False
        self.analyses_left -= 1
        return True

    def _json(self, key_path: str, text: str, pickles_only: bool) -> list[Finding]:
        """A JSON document inside a string (safetensors metadata is full of them): its own
        strings are analysed at ``key_path (JSON).inner``."""
        if text in self._seen_json:
            return []
        self._seen_json.add(text)
        if not self.budget.take(len(text)):
            self._skip(key_path)
            return []
        try:
            inner = json.loads(text)
        except (ValueError, RecursionError):
            inner = None
        if not isinstance(inner, (dict, list)):
            # Not JSON after all: analysed as the plain string it is.
            self._plain = True
            try:
                return self.value(key_path, text, template=False, pickles_only=pickles_only)
            finally:
                self._plain = False
        self._json_depth += 1
        try:
            return self.walk(inner, f"{key_path} (JSON)")
        finally:
            self._json_depth -= 1

    def _skip(self, key_path: str) -> None:
        self.skipped += 1
        if self.first_skipped is None:
            self.first_skipped = key_path

    def _pickles(self, key_path: str, text: str, offset: int | None) -> list[Finding]:
        findings: list[Finding] = []
        for embedded in embedded_pickles(text, verbatim=False, budget=self.budget):
            # Every scan costs at least a little budget, so a million tiny ones stay bounded.
            if not self.budget.take(SCAN_COST):
                break  # counted as refused, so the caller reports the value as skipped
            if embedded.over_limit is not None:
                findings.append(self._bomb(key_path, embedded.encoding, embedded.over_limit))
            scan = scan_pickle_bytes(
                embedded.data,
                policy=self.policy,
                origin=self.blob.subject,
                member=self.blob.member,
            )
            if not any(ref.ext_code is None for ref in scan.imports):
                # Imports nothing by name: inert data, or bytes that merely start like a
                # pickle (base64 noise makes EXT opcodes, whose unregistered codes the loader
                # refuses). Nothing in it can run.
                continue
            imports = ", ".join(sorted({ref.dotted for ref in scan.imports})[:8]) or "none"
            findings.append(
                Finding(
                    rule=self.pickle_rule,
                    severity=Severity.HIGH,
                    category="unsafe-deserialization",
                    title=self.pickle_title,
                    location=self.blob.location(key_path=key_path, offset=offset),
                    evidence=f"{embedded.encoding} pickle of {len(embedded.data)} bytes; "
                    f"imports: {imports}",
                    why="this value is data only until a program decodes it and calls "
                    "pickle.loads, which runs whatever the pickle imports and calls; the "
                    "decoded pickle is scanned with the pickle engine and its findings are "
                    "reported at this key path",
                    remediation="remove the pickle; store plain values (numbers, strings, "
                    "lists) or a format that cannot run code",
                    cwe="CWE-502",
                )
            )
            inner_path = f"{key_path} ({embedded.encoding} pickle)"
            for finding in scan.findings:
                where = inner_path
                if finding.location.offset is not None:
                    where += f", pickle byte {finding.location.offset}"
                location = self.blob.location(key_path=where, offset=offset)
                findings.append(replace(finding, location=location))
        return findings

    def _bomb(self, key_path: str, encoding: str, reason: str) -> Finding:
        return Finding(
            rule="MLS-ENC-002",
            severity=Severity.HIGH,
            category="resource-exhaustion",
            title="a compressed string value expands past the limit",
            location=self.blob.location(key_path=key_path),
            evidence=f"{encoding}: {reason}",
            why="a value that decompresses this far is a decompression bomb for whatever "
            "decodes it, and everything past the limit is content no one analysed",
            remediation="remove the value; configs and metadata hold short descriptive data",
            cwe="CWE-409",
        )

    # --- documents ------------------------------------------------------------------------

    def walk(
        self,
        document: Any,
        root: str = "",
        *,
        handled: Callable[[str], bool] | None = None,
        in_template: bool = False,
    ) -> list[Finding]:
        """Every string of a parsed document: values, and keys (a vocabulary's tokens are keys).

        Objects may be dicts, objects that keep duplicate keys (``all_pairs``), or lists of
        ``(key, value)`` tuples; every pair is visited, duplicates included. ``handled`` names
        key paths whose templates the caller analyses itself (their pickles are still looked
        for here). Iterative, so nesting depth costs no stack.
        """
        findings: list[Finding] = []

        def string(parent: str, at: str | int, key: str | None, text: str, templated: bool) -> None:
            # Paths are built only for strings that pass the cheap look (run once): a
            # vocabulary has a million keys, and nearly all of them are plain words.
            pickled = might_hold_pickle(text)
            if not (templated or pickled or "{" in text or text[:1] == "["):
                return
            path = child_path(parent, at)
            mine = handled is not None and handled(path)
            findings.extend(
                self.value(
                    path,
                    text,
                    key=key,
                    template=templated and not mine,
                    pickles_only=mine,
                    gated=pickled,
                )
            )

        stack: list[tuple[str, str | None, Any, bool]] = [(root, None, document, in_template)]
        # The walk of every JSON document the scanner reads (and of YAML, GGUF and ONNX
        # strings): it checks the scan's budgets per node, and every few hundred children of
        # one node (a vocabulary is one object of a million keys).
        while stack:
            checkpoint()
            path, key, node, templated = stack.pop()
            if isinstance(node, str):  # a document that is one string
                if templated or might_hold_pickle(node) or "{" in node or node[:1] == "[":
                    mine = handled is not None and handled(path)
                    template = templated and not mine
                    findings += self.value(
                        path, node, key=key, template=template, pickles_only=mine
                    )
                continue
            pairs = _pairs(node)
            if pairs is not None:
                children = []
                for count, (child_key, child) in enumerate(pairs, 1):
                    if not count % CHECK_EVERY:
                        checkpoint()
                    if might_hold_pickle(child_key):
                        findings += self.value(
                            child_path(path, child_key), child_key, template=False, gated=True
                        )
                    elif "{" in child_key or child_key[:1] == "[":
                        findings += self.value(
                            child_path(path, child_key), child_key, template=False
                        )
                    inner = templated or _template_key(child_key)
                    if isinstance(child, str):
                        string(path, child_key, child_key, child, inner)
                    elif isinstance(child, (list, dict)) or _pairs(child) is not None:
                        children.append((child_path(path, child_key), child_key, child, inner))
                stack.extend(reversed(children))
            elif isinstance(node, list):
                findings += self.joined(path, node, key=key)
                items = []
                for index, item in enumerate(node):
                    if index and not index % CHECK_EVERY:
                        checkpoint()
                    if isinstance(item, str):
                        string(path, index, key, item, templated)
                    elif isinstance(item, (list, dict)) or _pairs(item) is not None:
                        items.append((child_path(path, index), key, item, templated))
                stack.extend(reversed(items))
        return findings

    def finish(self) -> list[Finding]:
        """The finding for strings the budget left unanalysed, if any (fail closed)."""
        if not self.skipped:
            return []
        return [
            Finding(
                rule="MLS-ENC-003",
                severity=Severity.HIGH,
                category="resource-exhaustion",
                title="too many encoded-looking strings to analyse",
                location=self.blob.location(key_path=self.first_skipped),
                evidence=f"{self.skipped} candidate string(s) left unanalysed, from "
                f"{self.first_skipped}; budget: {self.limits[0]} decoded bytes and "
                f"{self.limits[1]} template parses per document",
                why="real configs and tokenizers hold few strings that decode to pickles or "
                "compressed data; a document that exhausts the budget may hide a payload "
                "among the strings that could not be looked at",
                remediation="find out why the document holds so much encoded data; do not "
                "load it until it is explained",
                cwe="CWE-400",
            )
        ]


def string_findings(
    blob: Blob,
    key_path: str,
    key: str | None,
    value: str,
    policy: PicklePolicy,
    *,
    template: bool | None = None,
) -> list[Finding]:
    """Findings for one lone string value (a reader with many should keep a
    :class:`StringAnalyser`, which shares one budget across them)."""
    analyser = StringAnalyser(blob, policy)
    return analyser.value(key_path, value, key=key, template=template) + analyser.finish()


def _looks_like_json(text: str) -> bool:
    return len(text) >= 8 and text[:1] in "{[" and text.rstrip()[-1:] in "}]"


def _template_key(key: str) -> bool:
    # "emplate" first: a substring test is far cheaper than lowering a million keys.
    return ("emplate" in key or "EMPLATE" in key) and is_template_key(key)


def _pairs(node: Any) -> Iterator[tuple[str, Any]] | None:
    pairs: list[tuple[str, Any]] | None = getattr(node, "all_pairs", None)
    if pairs is not None:
        return iter(pairs)
    if isinstance(node, dict):
        return iter(node.items())
    if isinstance(node, list) and node and all(isinstance(item, tuple) for item in node):
        return iter(node)  # an object parsed into its pairs (duplicates kept)
    return None
