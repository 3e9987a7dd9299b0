"""Provenance claim ``model-card-accuracy``: what the model card says agrees with the artifacts.

The card is read with :mod:`pytest_mlsupply.engines.model_card` (front matter and the sections'
text). Each statement the card makes is compared with what the model's files and the manifest
say, and each contradiction is a finding that quotes both sides:

* licence: the card's ``license`` (``license_name`` for ``other``) against the manifest's
  ``license:`` (as SPDX expressions, not strings) and against a ``LICENSE`` file whose text
  :func:`pytest_mlsupply.licenses.identify` finds to be exactly one licence. For a Hub snapshot
  the card in the snapshot *is* the Hub's metadata (the Hub derives ``cardData`` from it), so no
  Hub call is made;
* base model: the ``lineage`` claim already compares the card's ``base_model`` with the
  manifest's lineage and ``adapter_config.json``; this claim only adds the card's
  ``base_model_relation`` (``adapter`` without an adapter config, or ``finetune`` / ``quantized``
  / ``merge`` with one);
* datasets: the card's ``datasets`` against the datasets the manifest declares for the model
  (``models[].datasets``), when both state some;
* architecture and sizes stated in the card's text (``Model type: Llama``, ``12-layer,
  768-hidden``, ``vocabulary size: 30,522``) against ``config.json``, and ``config.json``'s
  ``vocab_size`` against the tokenizer's vocabulary;
* a "safetensors only" or "no custom code" statement (text, or the ``safetensors`` tag) against
  the files present;
* a parameter count stated (``110M parameters``, ``7B params``, ``parameters: 7B``) against
  the count computed from the safetensors headers (no weights loaded), within the rounding of
  the stated precision.

A statement the card does not make is not compared (completeness is the ``model-card`` claim's).
A file a comparison needs that cannot be read makes the item error, never pass; findings made
before stand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pytest_mlsupply import licenses
from pytest_mlsupply.checks import registry
from pytest_mlsupply.checks.base import CheckContext, Outcome, ProvenanceCheck
from pytest_mlsupply.checks.provenance_license import LICENSE_FILES, card_licence
from pytest_mlsupply.engines.hf_config import (
    ConfigError,
    architecture,
    read_json_object,
    tokenizer_vocabulary,
)
from pytest_mlsupply.engines.identification import Family
from pytest_mlsupply.engines.model_card import CardError, ModelCard, read_card
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import ADAPTER_CONFIG, ResolvedModel

#: Families whose "unsafe" files are code, not serialised weights: other checks' concern.
_NOT_SERIALISED = frozenset({Family.SCRIPT, Family.EXECUTABLE})
#: A LICENSE file larger than this is not a licence text.
_MAX_LICENSE = 1 << 20

_CWE_DOC = "CWE-1059"
_CWE_PROVENANCE = "CWE-1357"

_SAFETENSORS_ONLY = re.compile(
    r"\bsafetensors[ -]only\b|\bonly (?:(?:available|provided|distributed|shipped|released|"
    r"published|stored) )?(?:in |as )?(?:the )?safetensors\b|\bexclusively (?:in |as )?"
    r"(?:the )?safetensors\b|\bsafetensors (?:format |weights |files )only\b"
    r"|\b(?:no|without(?: any)?) pickle(?:s|d| files| weights)?\b",
    re.I,
)
_NO_CUSTOM_CODE = re.compile(
    r"\bno (?:custom|remote) code\b|\bwithout (?:custom|remote) code\b|"
    r"\b(?:does not|doesn't|do not|don't|no need to) (?:require|need|use|set) `?trust_remote_code|"
    r"\bwithout `?trust_remote_code|\bno `?trust_remote_code|\bno need for `?trust_remote_code"
    r"|\btrust_remote_code(?:=True)?`? (?:is|are) not (?:required|needed|necessary)",
    re.I,
)
_MODEL_TYPE = re.compile(r"^\W*model[ _-]?type\W*[:|]\W*(?P<value>[^\n|]+)", re.I | re.M)
# Never starting inside a number ("1,000,000": not at "000,000"): each start would rescan the
# rest of the run, quadratic over a card of comma-grouped digits.
_NUMBER = r"(?<![\d,.])(?P<n>\d{1,3}(?:,\d{3})+|\d+)"
_SIZE_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "hidden size": (
        re.compile(rf"\bhidden[ _-]?(?:size|dim(?:ension)?s?)\b[^\d\n]{{0,12}}?{_NUMBER}\b", re.I),
        re.compile(rf"\b{_NUMBER}-hidden\b", re.I),
    ),
    "layers": (
        re.compile(
            rf"\b(?:number of (?:hidden |transformer )?layers|num_hidden_layers|n_layers?)\b"
            rf"[^\d\n\w]{{0,12}}?{_NUMBER}\b",
            re.I,
        ),
        # A bare "layers" only as a label ("Layers: 12", "| Layers | 12 |"): "layers 2-5 were
        # frozen" states no count.
        re.compile(rf"\blayers\W{{0,3}}[:|=]\W{{0,3}}{_NUMBER}\b", re.I),
        re.compile(rf"\b{_NUMBER}-layers?\b", re.I),
        # "2 encoder layers": the qualifier says these are the model's stack, not "the last 2
        # layers" of some procedure.
        re.compile(rf"\b{_NUMBER} (?:encoder|decoder|transformer|hidden) layers\b", re.I),
    ),
    "vocabulary size": (
        re.compile(
            rf"\b(?:vocab(?:ulary)?[ _-]?size|vocabulary of)\b[^\d\n]{{0,12}}?{_NUMBER}\b", re.I
        ),
        re.compile(rf"\b{_NUMBER}[- ]token vocabulary\b", re.I),
    ),
}
_UNITS = {
    "k": 10**3,
    "thousand": 10**3,
    "m": 10**6,
    "million": 10**6,
    "b": 10**9,
    "billion": 10**9,
    "t": 10**12,
    "trillion": 10**12,
}
_AMOUNT = r"(?<![\d,.])(?P<n>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(?P<unit>[kmbt]|thousand|million|billion|trillion)?"
_PARAMETERS = (
    re.compile(rf"\b{_AMOUNT}\b[\s-]*(?:parameters?|params)\b", re.I),
    re.compile(rf"\b(?:number of parameters|parameter count)\b[^\d\n\w]{{0,12}}?{_AMOUNT}\b", re.I),
    # A bare "parameters" only as a label: "parameters, 1000 steps" states no count.
    re.compile(rf"(?:\b(?:parameters|params)|#\s?params)\W{{0,3}}[:|=]\W{{0,3}}{_AMOUNT}\b", re.I),
)
#: "seven billion parameters", "one hundred ten million parameters": sizes in words.
_NUMBER_WORDS = {
    **{
        w: i
        for i, w in enumerate(
            [
                "zero",
                "one",
                "two",
                "three",
                "four",
                "five",
                "six",
                "seven",
                "eight",
                "nine",
                "ten",
                "eleven",
                "twelve",
                "thirteen",
                "fourteen",
                "fifteen",
                "sixteen",
                "seventeen",
                "eighteen",
                "nineteen",
            ]
        )
    },
    **{
        w: 10 * i
        for i, w in enumerate(
            ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], 2
        )
    },
}
_NUMBER_WORD = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
_WORDS_PARAMETERS = re.compile(
    rf"\b(?P<words>(?:(?:{_NUMBER_WORD}|hundred|and)[\s-]+){{1,6}}?)"
    r"(?P<unit>thousand|million|billion|trillion)[\s-]*(?:parameters?|params)\b",
    re.I,
)
_PARAMETER_KEYS = ("parameters", "num_parameters", "params")
#: Dtypes holding one parameter per element: weights stored only in these are not packed.
_UNPACKED = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"})


@dataclass
class _Run:
    """What one run of the claim found, compared and could not judge."""

    model: ResolvedModel
    card: ModelCard
    card_rel: str
    text: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    compared: dict[str, Any] = field(default_factory=dict)
    _config: dict[str, Any] | None = None
    _config_read: bool = False
    _tokenizer: tuple[str, int] | None = None
    _tokenizer_read: bool = False

    @property
    def root(self) -> Path:
        assert self.model.root is not None
        return self.model.root

    def config(self) -> dict[str, Any] | None:
        """``config.json``, read once; None when absent or unreadable (then an error)."""
        if not self._config_read:
            self._config_read = True
            path = self.root / "config.json"
            if path.is_file():
                try:
                    self._config = read_json_object(path)
                except (ConfigError, OSError) as exc:
                    self.errors.append(f"cannot compare the card with config.json: {exc}")
        return self._config

    def at(self, key_path: str | None = None) -> Location:
        """Where a finding points: the card, and the front matter key when there is one."""
        return Location(file=self.card_rel, key_path=key_path)


def _quote(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# --- licence ----------------------------------------------------------------------------------


def _licence(run: _Run) -> None:
    stated = card_licence(run.card.metadata)
    if stated is None or stated.strip().lower() in licenses.PLACEHOLDERS:
        return
    run.compared["license"] = stated
    declared = run.model.decl.license
    if declared:
        try:
            same = licenses.equivalent(stated, declared)
        except licenses.LicenceError:
            same = stated.strip().lower() == declared.strip().lower()
        if not same:
            run.findings.append(
                Finding(
                    rule="MLS-CARD-101",
                    severity=Severity.HIGH,
                    category="documentation",
                    title="the card's licence contradicts the manifest's",
                    location=run.at("license"),
                    evidence=f"the card says license {stated!r}; the manifest's `license:` says "
                    f"{declared!r}",
                    why="users read the card to learn what they may do with the model; the gate "
                    "judges the manifest's licence, so one of them misstates the terms",
                    remediation="make the card's `license` and the manifest's `license:` name the "
                    "licence the model is really released under",
                    cwe=_CWE_PROVENANCE,
                )
            )
    if run.model.root is None:
        return
    # Every licence file: an unrecognisable LICENSE must not keep the LICENSE.md beside it from
    # being compared.
    for name in LICENSE_FILES:
        path = run.root / name
        if not path.is_file():
            continue
        try:
            with path.open("rb") as handle:
                text = handle.read(_MAX_LICENSE).decode("utf-8", errors="replace")
        except OSError as exc:
            run.errors.append(f"cannot read {name} to compare it with the card: {exc}")
            continue
        only = licenses.identify(text).only
        found = only.key if only else None
        if found is not None or "license_file" not in run.compared:
            run.compared["license_file"] = {"file": name, "identified": found}
        if found is None:
            continue
        try:
            named = licenses.symbols(stated)
        except licenses.LicenceError:
            named = (stated,)
        if not any(licenses.same_family(found, key) for key in named):
            run.findings.append(
                Finding(
                    rule="MLS-CARD-101",
                    severity=Severity.HIGH,
                    category="documentation",
                    title="the card's licence contradicts the LICENSE file",
                    location=run.at("license"),
                    evidence=f"the card says license {stated!r}; {name} is the text of {found}",
                    why="the licence text shipped with the model is what binds its users; a card "
                    "that names another licence misleads everyone who reads only the card",
                    remediation=f"make the card's `license` name the licence of {name}, or ship "
                    "the text of the licence the card names",
                    cwe=_CWE_PROVENANCE,
                )
            )


# --- base model -------------------------------------------------------------------------------

_ADAPTER_RELATIONS = frozenset({"adapter"})
_WHOLE_RELATIONS = frozenset({"finetune", "quantized", "merge"})


def _base_model(run: _Run) -> None:
    lineage = registry.claim("lineage").applies(run.model)
    if lineage and run.card.metadata.get("base_model"):
        # The lineage claim compares the card's base_model with the manifest and the adapter
        # config; saying it twice would count one contradiction as two.
        run.compared["base_model"] = "compared by the lineage claim"
    relation = run.card.metadata.get("base_model_relation")
    if not isinstance(relation, str) or not relation.strip():
        return
    relation = relation.strip().lower()
    run.compared["base_model_relation"] = relation
    has_adapter = (run.root / ADAPTER_CONFIG).is_file()
    if relation in _ADAPTER_RELATIONS and not has_adapter:
        evidence = (
            f"the card says base_model_relation {relation!r}; the model has no {ADAPTER_CONFIG}"
        )
    elif relation in _WHOLE_RELATIONS and has_adapter:
        evidence = (
            f"the card says base_model_relation {relation!r}; the model ships "
            f"{ADAPTER_CONFIG}, so it is an adapter"
        )
    else:
        return
    run.findings.append(
        Finding(
            rule="MLS-CARD-102",
            severity=Severity.HIGH,
            category="documentation",
            title="the card misstates how the model derives from its base",
            location=run.at("base_model_relation"),
            evidence=evidence,
            why="an adapter is loaded on top of a base model, a fine-tune replaces it: a card that "
            "says the one for the other makes users load it wrongly, or hides an unreviewed base",
            remediation="set the card's base_model_relation to what the files are (`adapter` for "
            "a PEFT adapter, `finetune`, `quantized` or `merge` for full weights)",
            cwe=_CWE_PROVENANCE,
        )
    )


# --- datasets ---------------------------------------------------------------------------------

_DATASET_PREFIXES = ("hf-datasets://", "https://huggingface.co/datasets/", "datasets/")


def _dataset_id(text: str) -> str:
    text = text.strip()
    for prefix in _DATASET_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
    return text.split("@", 1)[0].strip("/").lower()


def _datasets(run: _Run, ctx: CheckContext) -> None:
    value = run.card.metadata.get("datasets")
    stated = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    card_ids = [str(v) for v in stated if str(v).strip()]
    declared = run.model.decl.datasets
    if not card_ids or not declared:
        return
    by_name = {d.name: d for d in ctx.inventory.datasets}
    # Each declared dataset as the card would name it: its Hub id, or (a local dataset) its
    # name, which a card may write as org/name.
    identities: dict[str, str] = {}
    for name in declared:
        decl = by_name.get(name)
        identities[name] = (
            decl.source.repo_id.lower() if decl is not None and decl.source else name.lower()
        )

    def matches(card_id: str, name: str) -> bool:
        ident, mine = identities[name], _dataset_id(card_id)
        if mine == ident:
            return True
        # A bare name on either side matches the other's last segment: the Hub's canonical
        # datasets moved under organisations (squad is rajpurkar/squad), and a local dataset
        # is named by the card as org/name.
        if "/" not in mine and mine == ident.rsplit("/", 1)[-1]:
            return True
        return "/" not in ident and ident == mine.rsplit("/", 1)[-1]

    extra = [c for c in card_ids if not any(matches(c, n) for n in declared)]
    missing = [n for n in declared if not any(matches(c, n) for c in card_ids)]
    run.compared["datasets"] = {"card": card_ids, "declared": list(declared)}
    if not extra and not missing:
        return
    declared_text = ", ".join(
        f"{n} ({identities[n]})" if identities[n] != n.lower() else n for n in declared
    )
    parts = []
    if extra:
        parts.append("the card names " + ", ".join(repr(c) for c in extra) + ", not declared")
    if missing:
        parts.append(
            "the manifest declares " + ", ".join(repr(n) for n in missing) + ", not in the card"
        )
    run.findings.append(
        Finding(
            rule="MLS-CARD-103",
            severity=Severity.HIGH,
            category="documentation",
            title="the card's datasets contradict the declared datasets",
            location=run.at("datasets"),
            evidence=f"the card says datasets {card_ids!r}; the manifest's `models[].datasets` "
            "declares "
            f"{declared_text}: " + "; ".join(parts),
            why="the declared datasets carry the licences and PII classification the model "
            "inherits; training data the card names but the manifest omits is never checked",
            remediation="declare every dataset the model was trained on under `datasets:` and "
            "list it in the model's `datasets:`, and make the card's `datasets` name the same ones",
            cwe=_CWE_PROVENANCE,
        )
    )


# --- architecture and sizes -------------------------------------------------------------------


#: A stated size with more digits than this is no model's: it is kept as a value no config
#: holds (so it is a contradiction, not a crash on Python's int conversion limit).
_MAX_DIGITS = 30


def _number(text: str) -> int:
    digits = text.replace(",", "")
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def _architecture(run: _Run) -> None:
    statements: dict[str, list[tuple[int, str]]] = {}
    for quantity, patterns in _SIZE_PATTERNS.items():
        for pattern in patterns:
            for match in pattern.finditer(run.text):
                value = _number(match["n"])
                if value not in [v for v, _ in statements.get(quantity, [])]:
                    statements.setdefault(quantity, []).append((value, match.group(0)))
    types = [m["value"].strip().strip("*_` ") for m in _MODEL_TYPE.finditer(run.text)]
    if isinstance(run.card.metadata.get("model_type"), str):
        types.append(run.card.metadata["model_type"])
    if not statements and not types:
        return
    config = run.config()
    if config is None:
        if not (run.root / "config.json").is_file():
            run.compared["architecture"] = "stated by the card, no config.json to compare with"
        return
    arch = architecture(config)
    compared: dict[str, Any] = {}
    for stated in types:
        compared["model_type"] = stated
        if arch.text_model_type is not None and _same_type(stated, arch.text_model_type):
            continue  # a multimodal model's card may name its language model's family
        if arch.model_type is not None and not _same_type(stated, arch.model_type):
            _size_finding(run, "model type", repr(stated), f"model_type {arch.model_type!r}")
    known = {
        "hidden size": arch.hidden_size,
        "layers": arch.layers,
        "vocabulary size": arch.vocab_size,
    }
    for quantity, values in statements.items():
        actual = known[quantity]
        compared[quantity] = [v for v, _ in values]
        for value, quote in values:
            if quantity == "vocabulary size":
                _vocabulary_statement(run, value, quote, actual)
            elif actual is not None and value != actual[1]:
                _size_finding(run, quantity, _quote(quote), f"{actual[0]} {actual[1]}")
    run.compared["architecture"] = compared


def _same_type(stated: str, model_type: str) -> bool:
    """Whether a stated model type names the config's family. Conservative: only a stated
    value that names some known family and shares no word with the config's is a contradiction
    (``Llama`` for ``llama``, ``BERT`` for ``bert``, ``Gemma 2`` for ``gemma2`` agree)."""
    mine = re.sub(r"[^a-z0-9]", "", model_type.lower())
    words = [re.sub(r"[^a-z0-9]", "", w) for w in re.split(r"[\s,/()]+", stated.lower())]
    words = [w for w in words if len(w) >= 3]
    joined = re.sub(r"[^a-z0-9]", "", stated.lower())
    if not words or mine in joined or any(w in mine for w in words):
        return True
    return not any(w in _KNOWN_TYPES for w in words)


#: model_type values of widely used families: a stated type outside these is free text.
_KNOWN_TYPES = frozenset(
    [
        "albert",
        "bart",
        "bert",
        "bloom",
        "clip",
        "deberta",
        "debertav2",
        "distilbert",
        "electra",
        "falcon",
        "gemma",
        "gemma2",
        "gemma3",
        "gpt2",
        "gptj",
        "gptneo",
        "gptneox",
        "llama",
        "mistral",
        "mixtral",
        "mpt",
        "mt5",
        "opt",
        "phi",
        "phi3",
        "qwen",
        "qwen2",
        "qwen3",
        "roberta",
        "t5",
        "vit",
        "whisper",
        "xlmroberta",
        "starcoder2",
        "olmo",
        "cohere",
        "mamba",
    ]
)


def _size_finding(run: _Run, quantity: str, stated: str, actual: str) -> None:
    run.findings.append(
        Finding(
            rule="MLS-CARD-104",
            severity=Severity.HIGH,
            category="documentation",
            title=f"the card's {quantity} contradicts config.json",
            location=run.at(),
            evidence=f"the card says {stated}; config.json says {actual}",
            why="a card that describes other dimensions than the weights has was written for "
            "another model (a copied card, or weights swapped after it was written)",
            remediation=f"correct the card's {quantity}, or check that these are the weights the "
            "card describes",
            cwe=_CWE_DOC,
        )
    )


def _vocabulary_statement(
    run: _Run, value: int, quote: str, actual: tuple[str, int] | None
) -> None:
    tokenizer = _tokenizer(run)
    sizes = [actual[1]] if actual else []
    if tokenizer is not None:
        sizes.append(tokenizer[1])
    if not sizes or value in sizes:
        return
    sides = []
    if actual is not None:
        sides.append(f"config.json says {actual[0]} {actual[1]}")
    if tokenizer is not None:
        sides.append(f"the tokenizer ({tokenizer[0]}) has {tokenizer[1]} tokens")
    run.findings.append(
        Finding(
            rule="MLS-CARD-104",
            severity=Severity.HIGH,
            category="documentation",
            title="the card's vocabulary size contradicts the model",
            location=run.at(),
            evidence=f"the card says {_quote(quote)}; " + " and ".join(sides),
            why="a card that describes another vocabulary than the model's was written for another "
            "model (a copied card, or a tokenizer swapped after it was written)",
            remediation="correct the card's vocabulary size, or check that the tokenizer is the "
            "one the card describes",
            cwe=_CWE_DOC,
        )
    )


def _tokenizer(run: _Run) -> tuple[str, int] | None:
    """(the files read, the vocabulary size) of the tokenizer, read once; None when the model
    has none this reads, or it cannot be read (then an error)."""
    if not run._tokenizer_read:
        run._tokenizer_read = True
        try:
            vocabulary = tokenizer_vocabulary(run.root)
        except (ConfigError, OSError) as exc:
            run.errors.append(f"cannot read the tokenizer's vocabulary: {exc}")
        else:
            if vocabulary is not None:
                run._tokenizer = (vocabulary.source, vocabulary.size)
    return run._tokenizer


def _vocabulary(run: _Run) -> None:
    """config.json's vocab_size holds every token id the tokenizer can emit."""
    config = run.config()
    if config is None:
        return
    arch = architecture(config)
    if arch.vocab_size is None:
        return
    tokenizer = _tokenizer(run)
    if tokenizer is None:
        return
    run.compared["vocabulary"] = {"config": arch.vocab_size[1], "tokenizer": tokenizer[1]}
    # Smaller is padding (embedding matrices are rounded up); larger is an id with no row.
    if tokenizer[1] > arch.vocab_size[1]:
        run.findings.append(
            Finding(
                rule="MLS-CARD-105",
                severity=Severity.HIGH,
                category="documentation",
                title="the tokenizer has more tokens than the model's vocabulary",
                location=run.at(),
                evidence=f"config.json says {arch.vocab_size[0]} {arch.vocab_size[1]}; the "
                "tokenizer "
                f"({tokenizer[0]}) has {tokenizer[1]} tokens",
                why="token ids beyond the embedding matrix fail or index garbage at inference: the "
                "tokenizer belongs to another model, or tokens were added without resizing",
                remediation="ship the tokenizer the model was trained with, or resize the "
                "embeddings and update vocab_size",
                cwe=_CWE_DOC,
            )
        )


# --- safetensors only, no custom code ---------------------------------------------------------


def _tags(card: ModelCard) -> list[str]:
    tags = card.metadata.get("tags")
    return [str(t).lower() for t in tags] if isinstance(tags, list) else []


def _formats(run: _Run, ctx: CheckContext) -> None:
    statement = _SAFETENSORS_ONLY.search(run.text)
    tagged = "safetensors" in _tags(run.card)
    if statement is None and not tagged:
        return
    # By content, as every check identifies files (a pickle named model.safetensors is one):
    # the shared cache reads each file's head once per session.
    pickles: list[str] = []
    safetensors = False
    for file in run.model.files:
        try:
            ident = ctx.contents.get(file.path).identification
        except OSError as exc:
            run.errors.append(f"cannot identify {file.relpath}: {exc}")
            continue
        if ident.family is Family.SAFETENSORS:
            safetensors = True
        elif ident.unsafe and ident.family not in _NOT_SERIALISED:
            pickles.append(file.relpath)
    if statement is not None:
        run.compared["safetensors_only"] = statement.group(0)
        if pickles:
            _pickle_finding(run, f"the card says {_quote(statement.group(0))}", pickles)
    else:
        run.compared["safetensors_only"] = "tag safetensors"
        if pickles and not safetensors:
            _pickle_finding(run, "the card is tagged 'safetensors'", pickles, tag=True)


def _pickle_finding(run: _Run, said: str, pickles: list[str], tag: bool = False) -> None:
    shown = ", ".join(pickles[:10]) + (
        f" and {len(pickles) - 10} more" if len(pickles) > 10 else ""
    )
    run.findings.append(
        Finding(
            rule="MLS-CARD-106",
            severity=Severity.HIGH,
            category="documentation",
            title="the card says safetensors, the model ships pickle files",
            location=run.at("tags" if tag else None),
            evidence=f"{said}; the model has pickle-based "
            + ("weights only" if tag else "files")
            + f": {shown}",
            why="users trust a safetensors-only model not to run code when loaded; a pickle file "
            "runs whatever it was made to run",
            remediation="remove the pickle files (convert weights to safetensors), or stop "
            "claiming safetensors only in the card",
            cwe="CWE-502",
        )
    )


#: Besides config.json, the files whose ``auto_map`` makes transformers import the model's code
#: (tokenizers, processors, image processors, feature extractors).
_AUTO_MAP_FILES = (
    "tokenizer_config.json",
    "processor_config.json",
    "preprocessor_config.json",
    "image_processor_config.json",
    "feature_extractor_config.json",
    "video_preprocessor_config.json",
)


def _custom_code(run: _Run) -> None:
    statement = _NO_CUSTOM_CODE.search(run.text)
    if statement is None:
        return
    run.compared["no_custom_code"] = statement.group(0)
    code = [f.relpath for f in run.model.files if f.relpath.lower().endswith(".py")]
    sides = []
    if code:
        sides.append("the model ships Python code: " + ", ".join(code[:10]))
    config = run.config()
    if config is not None and architecture(config).auto_map:
        sides.append("config.json maps classes to custom code (auto_map)")
    if config is not None and config.get("custom_pipelines"):
        sides.append("config.json maps a pipeline to custom code (custom_pipelines)")
    for name in _AUTO_MAP_FILES:
        path = run.root / name
        if not path.is_file():
            continue
        try:
            if read_json_object(path).get("auto_map"):
                sides.append(f"{name} maps classes to custom code (auto_map)")
        except (ConfigError, OSError) as exc:
            run.errors.append(f"cannot read {name} for auto_map: {exc}")
    if not sides:
        return
    run.findings.append(
        Finding(
            rule="MLS-CARD-107",
            severity=Severity.HIGH,
            category="documentation",
            title="the card says no custom code, the model ships code",
            location=run.at(),
            evidence=f"the card says {_quote(statement.group(0))}; " + "; ".join(sides),
            why="users who read that no custom code is needed may pass trust_remote_code=True "
            "without reviewing the code the model then runs",
            remediation="remove the code and auto_map entries, or say in the card that the model "
            "needs custom code and what it does",
            cwe="CWE-94",
        )
    )


# --- parameter count --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stated:
    quote: str
    value: Decimal
    tolerance: Decimal
    """Half a unit of the last stated digit: the computed count rounds to the statement."""
    alternatives: tuple[_Stated, ...] = ()
    """The other sizes of an enumeration ("comes in 8B and 70B parameters"): the statement holds
    when the count rounds to any of them."""

    def holds(self, total: int) -> bool:
        return any(abs(Decimal(total) - s.value) <= s.tolerance for s in (self, *self.alternatives))


def _stated_count(number: str, unit: str | None, quote: str) -> _Stated | None:
    digits = number.replace(",", "")
    try:
        amount = Decimal(digits)
    except InvalidOperation:
        return None
    scale = _UNITS[unit.lower()] if unit else 1
    if "." in digits:
        step = Decimal(10) ** -len(digits.split(".", 1)[1])
    else:
        # Trailing zeros of a whole number are not significant (110,000,000 is 110M).
        stripped = digits.rstrip("0") or "0"
        step = Decimal(10) ** (len(digits) - len(stripped))
    value = amount * scale
    if value < 1000:
        return None  # "3 parameters" is not a model's size
    return _Stated(quote, value, step * scale / 2)


_ENUMERATED = re.compile(
    rf"{_AMOUNT}\s{{0,3}}(?:,|/|\band\b|\bor\b)\s{{0,3}}(?:and\s{{1,3}}|or\s{{1,3}})?$", re.I
)


def _with_enumeration(stated: _Stated, text: str, start: int, unit: str | None) -> _Stated:
    """``stated`` with the sizes listed just before it ("2B, 8B and 70B parameters"): a family's
    card names every size, its weights are one of them."""
    alternatives: list[_Stated] = []
    end = start
    while len(alternatives) < 8:
        before = _ENUMERATED.search(text[max(0, start - 60) : start])
        if before is None:
            break
        # "8 and 70B parameters": a size written without a unit shares the last one's.
        other = _stated_count(before["n"], before["unit"] or unit, before.group(0))
        if other is None:
            break
        alternatives.append(other)
        start -= len(before.group(0))
    if not alternatives:
        return stated
    quote = text[start:end] + stated.quote
    return _Stated(quote, stated.value, stated.tolerance, tuple(alternatives))


def _stated_counts(run: _Run) -> list[_Stated]:
    out: list[_Stated] = []
    for pattern in _PARAMETERS:
        for match in pattern.finditer(run.text):
            stated = _stated_count(match["n"], match["unit"], match.group(0))
            if stated is not None and stated.value not in [s.value for s in out]:
                out.append(_with_enumeration(stated, run.text, match.start(), match["unit"]))
    for match in _WORDS_PARAMETERS.finditer(run.text):
        amount = _words_value(match["words"])
        if amount is not None:
            stated = _stated_count(str(amount), match["unit"], match.group(0))
            if stated is not None and stated.value not in [s.value for s in out]:
                out.append(stated)
    for key in _PARAMETER_KEYS:
        value = run.card.metadata.get(key)
        if isinstance(value, int | str) and not isinstance(value, bool):
            found = re.fullmatch(_AMOUNT, str(value).strip(), re.I)
            if found is not None:
                stated = _stated_count(found["n"], found["unit"], f"{key}: {value}")
                if stated is not None:
                    out.append(stated)
    return out


def _words_value(words: str) -> int | None:
    """``"one hundred ten"`` → 110; None when the words are no number below a thousand."""
    total, current, seen = 0, 0, False
    for word in re.split(r"[\s-]+", words.lower().strip()):
        if word in ("", "and"):
            continue
        if word == "hundred":
            if not seen or current >= 100:
                return None
            current *= 100
        elif word in _NUMBER_WORDS:
            current += _NUMBER_WORDS[word]
            seen = True
        else:
            return None
    total += current
    return total if seen and total < 1000 else None


def _weight_files(run: _Run) -> list[str] | str:
    """The safetensors files holding the model's weights, or why they cannot be told. The order
    is transformers': a top-level ``model.safetensors`` is loaded before a shard index, so an
    index naming other (smaller) shards beside it does not stand for the weights."""
    if (run.root / "model.safetensors").is_file():
        return ["model.safetensors"]
    index = run.root / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = read_json_object(index).get("weight_map")
        except (ConfigError, OSError) as exc:
            run.errors.append(f"cannot read model.safetensors.index.json: {exc}")
            return "the shard index cannot be read"
        if not isinstance(weight_map, dict) or not weight_map:
            run.errors.append("model.safetensors.index.json has no weight_map")
            return "the shard index has no weight_map"
        shards = sorted({str(v) for v in weight_map.values()})
        outside = [n for n in shards if n.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", n)]
        if outside:
            run.errors.append(
                "model.safetensors.index.json names shards outside the model: "
                + ", ".join(repr(n) for n in outside[:5])
            )
            return "the shard index names files outside the model"
        return shards
    top = sorted(
        f.relpath
        for f in run.model.files
        if "/" not in f.relpath
        and f.relpath.endswith(".safetensors")
        and not f.relpath.startswith("adapter_model")
    )
    if not top:
        return "no safetensors weights to count"
    if len(top) == 1 or all(re.fullmatch(r"model-\d+-of-\d+\.safetensors", n) for n in top):
        return top
    return "several safetensors files and no shard index: which hold the weights is ambiguous"


def _parameters(run: _Run) -> None:
    # The safetensors reader (and the format registry behind it) is imported by the run that uses
    # it, not at import: a check is imported once planned, and a warm gate runs few of them.
    from pytest_mlsupply.engines.formats.safetensors import tensor_summary

    stated = _stated_counts(run)
    if not stated:
        return
    files = _weight_files(run)
    if isinstance(files, str) and (run.root / ADAPTER_CONFIG).is_file():
        # An adapter's card states its base's size; the adapter's own tensors are a fraction.
        # An adapter_config.json beside full weights does not excuse them from the count.
        run.compared["parameters"] = "not compared: an adapter's card states its base's size"
        return
    if isinstance(files, str):
        run.compared["parameters"] = f"not compared: {files}"
        return
    total = 0
    dtypes: set[str] = set()
    for name in files:
        try:
            count, stored = tensor_summary(run.root / name)
        except (ValueError, OSError) as exc:
            run.errors.append(f"cannot count the parameters of {name}: {exc}")
            return
        total += count
        dtypes |= stored
    config = run.config()
    if config is not None and architecture(config).quantized and not dtypes <= _UNPACKED:
        # Only what the headers show excuses the count: a quantization_config over weights
        # stored as plain floats packs nothing.
        run.compared["parameters"] = "not compared: quantised weights pack several per element"
        return
    run.compared["parameters"] = {"computed": total, "files": files}
    for statement in stated:
        if statement.holds(total):
            continue
        run.findings.append(
            Finding(
                rule="MLS-CARD-108",
                severity=Severity.MEDIUM,
                category="documentation",
                title="the card's parameter count contradicts the weights",
                location=run.at(),
                evidence=f"the card says {_quote(statement.quote)}; the safetensors headers of "
                f"{', '.join(files)} hold {total:,} parameters ({_human(total)})",
                why="a model of another size than the card states is another model, or the card "
                "was copied from one",
                remediation="state the parameter count the weights have (rounded as you like: the "
                "count must "
                "round to what is written), or check that these are the weights the card describes",
                cwe=_CWE_DOC,
            )
        )


def _human(count: int) -> str:
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= scale:
            return f"{count / scale:.2f}{unit}"
    return str(count)


# --- the claim --------------------------------------------------------------------------------


def run(model: ResolvedModel, ctx: CheckContext) -> Outcome:
    if model.error is not None or model.card_path is None or model.root is None:
        return Outcome(error=model.error or "the model could not be resolved")
    card_rel = f"{model.name}/{model.decl.card.path}"
    try:
        card = read_card(model.card_path)
    except CardError as exc:
        # Unreadable front matter is the model-card claim's finding; here nothing can be judged.
        return Outcome(error=f"cannot compare the card: {card_rel}: {exc}")
    except OSError as exc:
        return Outcome(error=f"cannot read {card_rel}: {exc}")
    # The text before the first heading too: a card with no heading states things as well.
    text = "\n".join(
        [card.preamble, *(f"{title}\n{body}" for title, body in card.sections.items())]
    )
    state = _Run(model, card, card_rel, text)
    _licence(state)
    _base_model(state)
    _datasets(state, ctx)
    _architecture(state)
    _vocabulary(state)
    _formats(state, ctx)
    _custom_code(state)
    _parameters(state)
    compared = dict(state.compared)
    if model.decl.source is not None:
        compared["hub_metadata"] = "the snapshot's card is the Hub's card metadata"
    return Outcome(
        findings=state.findings,
        facts={"card_accuracy": compared},
        error="; ".join(dict.fromkeys(state.errors)) or None,
    )


CHECK = ProvenanceCheck(
    name="model-card-accuracy",
    kind=RowKind.PROVENANCE,
    summary="what the model card states (licence, datasets, architecture, sizes, formats, code, "
    "parameter count) agrees with the manifest and the model's files",
    run=run,
    # When it applies (a model with a card) is its registry line's call.
)
