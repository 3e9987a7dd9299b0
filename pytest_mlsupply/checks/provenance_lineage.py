"""Provenance claim ``lineage``: the model's ancestry is stated alike wherever it is stated.

Three sources name a model's ancestors: the manifest's ``lineage:`` (``base_model:`` or a
``chain:``, oldest first), the model card's ``base_model`` (a string or a list) and, for a PEFT /
LoRA adapter, ``adapter_config.json``'s ``base_model_name_or_path`` (and ``revision``). They are
compared by repository identity: ``hf://Org/Name``, ``org/name`` and
``https://huggingface.co/org/name`` are the same repository (Hub ids are ASCII and
case-insensitive); ``org/name-v2`` or a name with a Cyrillic letter a (U+0430) is not. A revision one source
gives that differs from another's is a disagreement too.

Under ``policy.require_pins`` every hop must be immutable (a 40-hex Hub commit, or sha256
digests of its files). An adapter must bind its base model's digest (the parent hop's
``files:``/``sha256:``, compared with that model's files when it is also declared in the
manifest) and its own (its ``adapter_model.*`` weights pinned in the model's ``files:``).

The claim is made for models that declare ``lineage:`` and for every adapter (a model directory
holding ``adapter_config.json``, at its top or in a subfolder): an adapter is only meaningful on its base. A base named only by
the card is the model author's statement, not the project's claim; it is not checked on its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pytest_mlsupply.checks.base import CheckContext, Outcome, ProvenanceCheck
from pytest_mlsupply.engines import strict_json
from pytest_mlsupply.engines.extensions import WEIGHTS_SUFFIXES
from pytest_mlsupply.engines.model_card import CardError, read_card
from pytest_mlsupply.manifest.model import LineageHop
from pytest_mlsupply.results import Finding, Location, RowKind, Severity, shown
from pytest_mlsupply.sources.inventory import ADAPTER_CONFIG, ResolvedModel, adapter_configs

#: PEFT writes the adapter's weights under these names.
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
#: Bytes read from adapter_config.json at most: a PEFT config is a few kilobytes.
_MAX_CONFIG = 1 << 20

_CWE_PROVENANCE = "CWE-1357"
_CWE_INTEGRITY = "CWE-345"
_CWE_PINNING = "CWE-494"

#: A base's weights, which its adapter must bind (``.model`` is a SentencePiece tokenizer here).
_BASE_WEIGHTS = WEIGHTS_SUFFIXES - {".model"}

_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
# Hub ids: ASCII only (the Hub rejects anything else), so a look-alike letter is another repo.
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_HF_URI = re.compile(rf"^hf://(?P<repo>{_SEGMENT}(?:/{_SEGMENT})?)(?:@(?P<rev>[^@\s/]+))?$")
_HUB_URL = re.compile(
    rf"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<repo>{_SEGMENT}/{_SEGMENT})"
    r"(?:/(?:tree|commit|resolve|blob)/(?P<rev>[^/\s]+))?/?$"
)
_BARE = re.compile(rf"^(?P<repo>{_SEGMENT}(?:/{_SEGMENT})?)(?:@(?P<rev>[^@\s/]+))?$")


@dataclass(frozen=True)
class Identity:
    """What a reference names: a Hub repository (lower-cased id) at an optional revision, or,
    for anything else (a local path), the text itself."""

    repo: str | None
    revision: str | None
    text: str

    def same_repository(self, other: Identity) -> bool:
        if self.repo is None or other.repo is None:
            # A path (``./base``, ``models/base/``) is the same text however it is written; it
            # never matches a Hub repository by resemblance.
            return _path_text(self.text) == _path_text(other.text)
        return self.repo == other.repo

    def revision_conflict(self, other: Identity) -> bool:
        if self.revision is None or other.revision is None:
            return False
        return self.revision.lower() != other.revision.lower()

    @property
    def pinned(self) -> bool:
        return self.revision is not None and _COMMIT.match(self.revision) is not None


def _path_text(text: str) -> str:
    text = text.strip().rstrip("/")
    while text.startswith("./"):
        text = text[2:]
    return text


def identify(text: str, revision: str | None = None) -> Identity:
    """The repository ``text`` names (``hf://``, a huggingface.co URL or a bare ``org/name``)."""
    text = text.strip()
    for pattern in (_HF_URI, _HUB_URL, _BARE):
        match = pattern.match(text)
        if match is not None:
            rev = match["rev"] or revision
            if match["rev"] and revision and match["rev"].lower() != revision.lower():
                # Two revisions in one source: neither can be trusted to be the one used.
                rev = f"{match['rev']} or {revision}"
            return Identity(match["repo"].lower(), rev.lower() if rev else None, text)
    return Identity(None, revision, text)


@dataclass(frozen=True)
class Source:
    """One statement of an ancestor, and who makes it."""

    identity: Identity
    who: str
    """``the manifest (lineage.chain[0])``, ``the model card (README.md base_model)``."""


def _finding(
    rule: str,
    severity: Severity,
    title: str,
    file: str,
    evidence: str,
    why: str,
    remediation: str,
    cwe: str,
    key_path: str | None = None,
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        category="provenance",
        title=title,
        location=Location(file=file, key_path=key_path),
        evidence=evidence,
        why=why,
        remediation=remediation,
        cwe=cwe,
    )


class _Unreadable(Exception):
    """A source that exists but cannot be read: the claim cannot be judged (an item error)."""


@dataclass(frozen=True)
class AdapterConfig:
    base: str
    revision: str | None


def read_adapter_config(path: Path) -> AdapterConfig:
    """``adapter_config.json`` read as strict JSON; raise :class:`ValueError` saying why not.

    Strict because two readers of a file with a duplicated key can disagree on its value: the
    base this gate compared need not be the one PEFT loads.
    """
    with path.open("rb") as handle:
        data = handle.read(_MAX_CONFIG + 1)
    if len(data) > _MAX_CONFIG:
        raise ValueError(f"larger than {_MAX_CONFIG} bytes; a PEFT config is a few kilobytes")
    config = strict_json.loads(data)  # StrictJsonError is a ValueError saying why
    if not isinstance(config, dict):
        raise ValueError("not a JSON object")
    base = config.get("base_model_name_or_path")
    if not isinstance(base, str) or not base.strip():
        raise ValueError("base_model_name_or_path is missing or not a non-empty string")
    revision = config.get("revision")
    if revision is not None and not isinstance(revision, str):
        raise ValueError("revision is not a string")
    return AdapterConfig(base.strip(), revision or None)


def _card_bases(model: ResolvedModel) -> list[str]:
    path = model.card_path
    if path is None or not path.is_file():
        return []
    try:
        card = read_card(path)
    except (CardError, OSError) as exc:
        raise _Unreadable(f"cannot read the model card {model.decl.card.path}: {exc}") from None
    value = card.metadata.get("base_model")
    if value is None or value == "":
        return []
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise _Unreadable(
            f"the model card {model.decl.card.path} gives base_model as {value!r}: "
            "expected a repository id or a list of them"
        )
    return [v.strip() for v in values]


def _hop_identity(hop: LineageHop, models: Sequence[ResolvedModel] = ()) -> Identity:
    # The loader already parsed the manifest's hops: a reference that is not hf:// is opaque
    # (``models/base`` is a directory, not the Hub repository ``models/base``), unless it is
    # the name of a model of this manifest from the Hub: it then names that repository and
    # revision, as the adapter config and the card written for that model do.
    if hop.repo is None:
        for candidate in models:
            source = candidate.decl.source
            if candidate.name == hop.ref and source is not None and source.repo_type == "model":
                revision = candidate.commit or source.revision
                return Identity(source.repo_id.lower(), revision and revision.lower(), hop.ref)
        return Identity(None, None, hop.ref)
    return Identity(hop.repo.lower(), hop.revision, hop.ref)


def _hop_pinned(hop: LineageHop) -> bool:
    if hop.sha256 is not None or hop.files:
        return True
    return hop.revision is not None and _COMMIT.match(hop.revision) is not None


def run(model: ResolvedModel, ctx: CheckContext) -> Outcome:
    if model.error is not None or model.root is None:
        return Outcome(error=model.error or "the model could not be resolved")
    decl = model.decl
    hops = decl.lineage.hops if decl.lineage is not None else ()
    card_rel = f"{model.name}/{decl.card.path}"
    findings: list[Finding] = []
    errors: list[str] = []
    try:
        card_bases = _card_bases(model)
    except _Unreadable as exc:
        # The other sources are still compared: findings outrank errors.
        card_bases, errors = [], [str(exc)]

    # Every adapter_config.json of the model (PEFT loads one in a subfolder with
    # ``subfolder=``): the one at the top first.
    configs = adapter_configs(model)
    adapters: list[tuple[str, Source]] = []
    for rel in configs:
        try:
            adapter = read_adapter_config(model.root / rel)
        except (OSError, ValueError) as exc:
            findings.append(
                _finding(
                    "MLS-LIN-006",
                    Severity.HIGH,
                    f"{ADAPTER_CONFIG} cannot be read",
                    f"{model.name}/{rel}",
                    f"{rel}: {exc}",
                    "the adapter's base model cannot be established from a config that does not "
                    "parse as strict JSON (a duplicated key can mean one base to this gate and "
                    "another to PEFT)",
                    "rewrite adapter_config.json as PEFT saves it: one JSON object, each key once, "
                    "with base_model_name_or_path naming the base repository",
                    _CWE_PROVENANCE,
                )
            )
            continue
        who = f"{rel} (base_model_name_or_path" + (", revision)" if adapter.revision else ")")
        adapters.append((rel, Source(identify(adapter.base, adapter.revision), who)))

    # The chain this claim judges, oldest first: the manifest's when declared, else the base the
    # adapter config names (the adapter's author is then the only witness).
    models = ctx.inventory.models
    chain = [Source(_hop_identity(h, models), f"the manifest ({h.key})") for h in hops]
    adapter_source = adapters[0][1] if adapters else None
    card_sources = [
        Source(identify(b), f"the model card ({decl.card.path} base_model)") for b in card_bases
    ]

    # An adapter is applied to exactly one model: the manifest's immediate parent (without a
    # chain, the base the first config names, which every other config must name too).
    if not chain and adapter_source is not None:
        chain = [adapter_source]
        adapters = adapters[1:]
    for rel, source in adapters:
        findings += _disagreement(chain[-1], source, f"{model.name}/{rel}", rel)
    # The card may name the immediate parent or an earlier ancestor, but nothing outside the
    # chain; without a chain it is only recorded.
    if chain:
        for card_source in card_sources:
            findings += _card_disagreement(chain, card_source, card_rel)

    if ctx.policy.require_pins:
        findings += _unpinned(model, hops, chain, adapter_source)
    facts: dict[str, Any] = {"lineage": _facts(hops, chain, card_sources, adapter_source)}
    if configs:
        try:
            bound, checked = _adapter_binding(model, ctx, hops, configs)
        except _Unreadable as exc:
            errors.append(str(exc))
        else:
            findings += bound
            if checked is not None:
                facts["lineage"]["base_digest"] = checked
    # Every other hop's digests are evidence only when compared with that ancestor where it is
    # on this machine (an adapter's parent was compared above).
    for hop in hops[:-1] if configs else hops:
        if hop.sha256 is None and not hop.files:
            continue
        try:
            found, where = _base_files(model, ctx, hop)
            problems = _compare(ctx, hop, found, where)[0] if found is not None else []
        except _Unreadable as exc:
            errors.append(str(exc))
            continue
        if problems:
            findings.append(_base_differs(model, hop, where, "; ".join(problems), adapter=False))
    # What was found stands; what could not be judged keeps the claim from passing.
    return Outcome(findings=findings, facts=facts, error="; ".join(errors) or None)


def _disagreement(parent: Source, other: Source, file: str, what: str) -> list[Finding]:
    if parent.identity.same_repository(other.identity) and not parent.identity.revision_conflict(
        other.identity
    ):
        return []
    return [
        _finding(
            "MLS-LIN-001",
            Severity.HIGH,
            "sources disagree on the base model",
            file,
            f"{parent.who} says the base is {_describe(parent.identity)}; {other.who} says "
            f"{_describe(other.identity)}",
            "a model whose sources name different bases may be built on one nobody reviewed "
            "(or the card was copied from another model)",
            f"make {what} and the manifest's `lineage:` name the same repository and revision, "
            "after establishing which base the model was really derived from",
            _CWE_PROVENANCE,
        )
    ]


def _describe(identity: Identity) -> str:
    rev = identity.revision
    extra = f" at revision {rev}" if rev and rev not in identity.text.lower() else ""
    return shown(identity.text) + extra


def _card_disagreement(chain: list[Source], card: Source, file: str) -> list[Finding]:
    for hop in chain:
        if hop.identity.same_repository(card.identity) and not hop.identity.revision_conflict(
            card.identity
        ):
            return []
    names = ", ".join(f"{_describe(s.identity)} ({s.who})" for s in chain)
    return [
        _finding(
            "MLS-LIN-001",
            Severity.HIGH,
            "sources disagree on the base model",
            file,
            f"{card.who} says the base is {_describe(card.identity)}; the lineage is {names}",
            "a card that names another base may describe another model, or the model may be "
            "built on a base nobody reviewed",
            "fix the card's base_model, or the manifest's `lineage:`, so both name the "
            "repository the model was really derived from",
            _CWE_PROVENANCE,
            key_path="base_model",
        )
    ]


def _unpinned(
    model: ResolvedModel,
    hops: tuple[LineageHop, ...],
    chain: list[Source],
    adapter_source: Source | None,
) -> list[Finding]:
    out = []
    if hops:
        # A hop naming a model of this manifest is pinned by that model's source commit.
        for hop, source in zip(hops, chain, strict=True):
            if _hop_pinned(hop) or (hop.repo is None and source.identity.pinned):
                continue
            fix = (
                f"pin the 40-hex commit: hf://{hop.repo}@<commit sha>"
                if hop.repo is not None
                else f'write {{ref: {hop.ref}, files: {{<file>: "sha256:<64 hex>"}}}}'
            )
            out.append(
                _finding(
                    "MLS-LIN-002",
                    Severity.HIGH,
                    "lineage hop is not pinned",
                    model.name,
                    f"{hop.key} is {shown(hop.ref)}: not a commit or a sha256 digest",
                    "a branch, a tag or a bare name can be moved to other weights: the lineage "
                    "then proves nothing about the bytes the model was derived from",
                    fix + ", or set policy.require_pins: false",
                    _CWE_PINNING,
                    key_path=f"models[{model.name}].{hop.key}",
                )
            )
    elif adapter_source is not None and not adapter_source.identity.pinned:
        out.append(
            _finding(
                "MLS-LIN-002",
                Severity.HIGH,
                "lineage hop is not pinned",
                f"{model.name}/{ADAPTER_CONFIG}",
                f"the adapter's base {shown(adapter_source.identity.text)} is named without a "
                "commit, and the manifest declares no `lineage:`",
                "an adapter loaded on whatever the base's branch holds today is not the adapter "
                "that was released",
                "declare `lineage: {base_model: {ref: hf://org/base@<commit>, files: "
                '{model.safetensors: "sha256:<64 hex>"}}}` for the model',
                _CWE_PINNING,
            )
        )
    return out


def _adapter_binding(
    model: ResolvedModel, ctx: CheckContext, hops: tuple[LineageHop, ...], configs: list[str]
) -> tuple[list[Finding], str | None]:
    """An adapter release binds its base's digest (parent hop) and its own (``files:``).

    Returns the findings and how the bound base digest was checked (for the facts)."""
    assert model.root is not None
    out: list[Finding] = []
    parent = hops[-1] if hops else None
    checked: str | None = None
    if parent is None or (parent.sha256 is None and not parent.files):
        out.append(
            _finding(
                "MLS-LIN-004",
                Severity.HIGH,
                "adapter does not bind its base model's digest",
                model.name,
                "adapter_config.json is present; the manifest's lineage gives no sha256 of the "
                "base model's files"
                + ("" if parent is not None else " (no `lineage:` is declared)"),
                "an adapter is trained against exact base weights; on other weights (a re-upload, "
                "a quantised copy, a poisoned look-alike) it behaves in ways nobody tested",
                "declare the base's digests: `lineage: {base_model: {ref: hf://org/base@<commit>, "
                'files: {model.safetensors: "sha256:<64 hex>"}}}`',
                _CWE_INTEGRITY,
            )
        )
    else:
        found, checked = _base_files(model, ctx, parent)
        digests: dict[str, str] = {}
        if found is not None:
            problems, digests = _compare(ctx, parent, found, checked)
            if problems:
                out.append(_base_differs(model, parent, checked, "; ".join(problems)))
        unbound_base = _unbound_weights(parent, found, digests)
        if unbound_base is not None:
            out.append(_weights_unbound(model, parent, checked, unbound_base))
    weights = [
        str(PurePosixPath(rel).parent / name).removeprefix("./")
        for rel in configs
        for name in ADAPTER_WEIGHTS
        if (model.root / rel).parent.joinpath(name).is_file()
    ]
    unbound = [name for name in weights if name not in model.decl.files]
    if unbound or not model.decl.files:
        out.append(
            _finding(
                "MLS-LIN-005",
                Severity.HIGH,
                "adapter does not bind its own digest",
                model.name,
                "adapter weights not pinned in `files:`: "
                + ", ".join(unbound or ["(no files: pins)"]),
                "without its own digest, the adapter bound to a base can be swapped for another",
                'pin the adapter\'s weights: `files: {adapter_model.safetensors: "sha256:<64 hex>"}`',
                _CWE_INTEGRITY,
                key_path=f"models[{model.name}].files",
            )
        )
    return out, checked


@dataclass(frozen=True)
class _Found:
    """The base's files this run can read: relative path → file (None: known to be absent)."""

    files: dict[str, Path | None]
    complete: bool
    """Whether a bound file absent here is absent from the base (a declared model or a
    directory) rather than merely not downloaded (a partial Hub cache)."""
    revision: str | None = None


def _base_files(
    model: ResolvedModel, ctx: CheckContext, hop: LineageHop
) -> tuple[_Found | None, str]:
    """Where the bound base is on this machine: a model of this manifest, a directory the hop
    names (relative to the manifest), or its snapshot in the local Hub cache."""
    base = _declared_base(model, ctx, hop)
    if base is not None:
        if base.error is not None:
            raise _Unreadable(
                f"cannot compare the adapter's bound base digest: models[{base.name}] could not "
                f"be resolved ({base.error})"
            )
        used = base.commit or (base.decl.source.revision if base.decl.source else None)
        files: dict[str, Path | None] = {a.relpath: a.path for a in base.files}
        return _Found(files, complete=True, revision=used), f"models[{base.name}]"
    if hop.repo is None:
        directory = ctx.inventory.manifest.root / hop.ref
        if directory.is_dir():
            # What the hop binds and the directory's top-level files (their weights must all
            # be bound): a mistyped ref must not walk and hash a whole tree.
            top = (p.name for p in directory.iterdir() if p.is_file())
            names = sorted(set(hop.files) | set(top))
            local: dict[str, Path | None] = {
                rel: directory / rel if (directory / rel).is_file() else None for rel in names
            }
            return _Found(local, complete=True), f"the directory {hop.ref}"
        return None, "declared, not compared: the base is not on this machine"
    if hop.revision is None or not _COMMIT.match(hop.revision) or not hop.files:
        return None, "declared, not compared: the base is not on this machine"
    from huggingface_hub import try_to_load_from_cache

    from pytest_mlsupply.sources.hub import HubSettings

    cache = HubSettings.from_environment().cache_dir
    cached: dict[str, Path | None] = {}
    for rel in hop.files:
        path = try_to_load_from_cache(hop.repo, rel, cache_dir=cache, revision=hop.revision)
        if isinstance(path, str):
            cached[rel] = Path(path)
    if not cached:
        return None, "declared, not compared: the base is not on this machine"
    return _Found(cached, complete=False), f"the local Hub cache of {hop.repo}@{hop.revision}"


def _is_weights(rel: str) -> bool:
    return Path(rel).suffix.lower() in _BASE_WEIGHTS


def _unbound_weights(
    hop: LineageHop, found: _Found | None, digests: dict[str, str]
) -> list[str] | None:
    """The base's weights the binding leaves out (None: it covers them).

    A binding of the base's ``config.json`` alone (or a lone sha256 matching it) lets the
    weights be swapped for anything: every weights file of a base that is on this machine must
    be bound, and a base that is not (or whose weights are not recognised by name) must have
    at least one weights file bound."""
    if found is not None and found.complete:
        weights = sorted(rel for rel, path in found.files.items() if path and _is_weights(rel))
        lone = hop.sha256
        unbound = [
            rel
            for rel in weights
            if rel not in hop.files and (lone is None or digests.get(rel) != lone)
        ]
        if weights:
            return unbound or None
        # No weights by name (only top-level files of a directory are listed): as below.
    if hop.files and not any(_is_weights(rel) for rel in hop.files):
        return ["(no weights file is bound)"]
    return None


def _weights_unbound(
    model: ResolvedModel, hop: LineageHop, where: str, unbound: list[str]
) -> Finding:
    return _finding(
        "MLS-LIN-004",
        Severity.HIGH,
        "adapter does not bind its base model's weights",
        model.name,
        f"{hop.key} binds "
        + (", ".join(sorted(hop.files)) if hop.files else f"sha256 {hop.sha256}")
        + f"; weights of {where} left unbound: "
        + ", ".join(unbound),
        "an adapter bound to its base's config or tokenizer, or to one of its weights files, "
        "is still loaded on whatever the other weights files hold",
        f"bind every weights file of the base in {hop.key}.files "
        '(`files: {model.safetensors: "sha256:<64 hex>"}`)',
        _CWE_INTEGRITY,
        key_path=f"models[{model.name}].{hop.key}",
    )


def _compare(
    ctx: CheckContext, hop: LineageHop, found: _Found, where: str
) -> tuple[list[str], dict[str, str]]:
    digests: dict[str, str] = {}
    for rel, path in found.files.items():
        # Hash only the bound files, unless a lone sha256 may be any of the base's files.
        if path is None or (rel not in hop.files and hop.sha256 is None):
            continue
        try:
            digests[rel] = "sha256:" + ctx.contents.get(path).sha256
        except OSError as exc:
            raise _Unreadable(f"cannot read {rel} of {where} to compare it: {exc}") from None
    problems = []
    if (
        hop.revision is not None
        and found.revision is not None
        and hop.revision.lower() != found.revision.lower()
    ):
        problems.append(f"{hop.key} names revision {hop.revision}; {where} is {found.revision}")
    for rel, digest in sorted(hop.files.items()):
        actual = digests.get(rel)
        if actual is None:
            if found.complete:
                problems.append(f"{rel}: bound {digest}, not in {where}")
        elif actual != digest:
            problems.append(f"{rel}: bound {digest}, {where} has {actual}")
    if hop.sha256 is not None and found.complete and hop.sha256 not in digests.values():
        problems.append(f"sha256 {hop.sha256} matches no file of {where}")
    return problems, digests


def _declared_base(
    model: ResolvedModel, ctx: CheckContext, hop: LineageHop
) -> ResolvedModel | None:
    """The manifest's own model that ``hop`` names (by Hub repository, or by its name); of two
    releases of one repository, the one at the hop's revision."""
    matches: list[ResolvedModel] = []
    for candidate in ctx.inventory.models:
        if candidate.decl is model.decl:
            continue  # an adapter is not its own base
        source = candidate.decl.source
        if hop.repo is not None and source is not None:
            if source.repo_id.lower() == hop.repo.lower():
                matches.append(candidate)
        elif hop.repo is None and hop.ref == candidate.name:
            return candidate
    for candidate in matches:
        source = candidate.decl.source
        used = candidate.commit or (source.revision if source is not None else None)
        if hop.revision is not None and used is not None and used.lower() == hop.revision.lower():
            return candidate
    # None at that revision: the first is compared, and its other revision reported.
    return matches[0] if matches else None


def _base_differs(
    model: ResolvedModel, hop: LineageHop, where: str, evidence: str, *, adapter: bool = True
) -> Finding:
    return _finding(
        "MLS-LIN-003",
        Severity.CRITICAL,
        "adapter's base model digest differs" if adapter else "ancestor's digest differs",
        model.name,
        evidence,
        "the adapter was bound to other base weights than the ones this project ships: it is "
        "loaded on a base it was not trained for, or the base was replaced"
        if adapter
        else "the lineage pins the ancestor to other bytes than the ones on this machine: the "
        "model was not derived from them, or the ancestor was replaced",
        f"restore {where} to the bound weights, or re-bind the adapter ({hop.key}.files) after "
        "reviewing the new base",
        _CWE_INTEGRITY,
        key_path=f"models[{model.name}].{hop.key}",
    )


def _facts(
    hops: tuple[LineageHop, ...],
    chain: list[Source],
    card: list[Source],
    adapter: Source | None,
) -> dict[str, Any]:
    """The chain for the BOM's pedigree: oldest first, with purl parts and digests."""
    ancestors: list[dict[str, Any]] = []
    if hops:
        for hop in hops:
            entry: dict[str, Any] = {"ref": hop.ref, "repo": hop.repo, "revision": hop.revision}
            if hop.sha256:
                entry["sha256"] = hop.sha256.removeprefix("sha256:")
            if hop.files:
                entry["files"] = {k: v.removeprefix("sha256:") for k, v in hop.files.items()}
            ancestors.append(entry)
    else:
        for source in chain:
            ident = source.identity
            ancestors.append({"ref": ident.text, "repo": ident.repo, "revision": ident.revision})
    return {
        "ancestors": ancestors,
        "card": [s.identity.text for s in card],
        "adapter_base": adapter.identity.text if adapter is not None else None,
    }


def ancestry(model: ResolvedModel, models: Sequence[ResolvedModel] = ()) -> list[Identity]:
    """The model's ancestors as this claim judges them, nearest first: the manifest's
    ``lineage:`` hops, else the base its ``adapter_config.json`` names.

    Shared with the licence claim, so a restriction is inherited over the same hops (an
    unreadable adapter config gives none here: this claim reports it, MLS-LIN-006)."""
    decl = model.decl
    if decl.lineage is not None:
        return [_hop_identity(hop, models) for hop in reversed(decl.lineage.hops)]
    if decl.base_model:
        return [identify(decl.base_model)]
    configs = adapter_configs(model)
    if model.root is not None and configs:
        try:
            adapter = read_adapter_config(model.root / configs[0])
        except (OSError, ValueError):
            return []
        return [identify(adapter.base, adapter.revision)]
    return []


CHECK = ProvenanceCheck(
    name="lineage",
    kind=RowKind.PROVENANCE,
    summary="the base model → fine-tune → adapter chain agrees across the manifest, the card and "
    "adapter_config.json, pinned, with adapters bound to their base's digest",
    run=run,
    # When it applies (a declared lineage or an adapter config) is its registry line's call.
)
