"""Typed objects that a validated ``mlsupply.yaml`` turns into.

Nothing here knows about YAML or pytest: the loader builds these, every other layer reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pytest_mlsupply.engines.budget import ScanLimits
from pytest_mlsupply.results import DEFAULT_THRESHOLD, Severity

SCHEMA_VERSION = 1
DEFAULT_BOM_PATH = "build/ml-bom.cdx.json"
DEFAULT_MATRIX_PATH = "build/mlsupply-matrix"


@dataclass(frozen=True)
class Span:
    """Where a declaration sits in the manifest (1-based line and column)."""

    file: Path
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class HubRef:
    """A pinned Hugging Face Hub reference such as ``hf://org/name@<40-hex commit>``."""

    repo_type: Literal["model", "dataset"]
    repo_id: str
    revision: str

    @property
    def uri(self) -> str:
        scheme = "hf" if self.repo_type == "model" else "hf-datasets"
        return f"{scheme}://{self.repo_id}@{self.revision}"

    @property
    def pinned(self) -> bool:
        """Whether the revision is a full commit id (40 lowercase hex), not a branch or tag."""
        return len(self.revision) == 40 and all(c in "0123456789abcdef" for c in self.revision)


@dataclass(frozen=True)
class RevisionPointer:
    """The commit a mutable revision (a branch or tag) points to, and where that was read.

    Only ever used to make a message actionable ("pin this commit"): the Hub answers for now,
    the local cache for the last time huggingface_hub resolved the revision.
    """

    commit: str
    origin: Literal["hub", "cache"]

    @property
    def where(self) -> str:
        """How a message says where the commit came from: ``it points to <commit> <where>``."""
        return "today" if self.origin == "hub" else "in the local cache"


@dataclass(frozen=True)
class LicensePolicy:
    allow: tuple[str, ...] = ()
    deny_restrictions: tuple[str, ...] = ()
    unknown: Literal["allow", "deny"] = "deny"
    """A licence the vendored table does not know (``other``, ``unknown``, none at all):
    ``deny`` (the default) fails it; ``allow`` accepts it without restrictions."""


@dataclass(frozen=True)
class TyposquatPolicy:
    allow: tuple[str, ...] = ()
    """Canonical names that resemble a popular project on purpose (your own ``requests2``)."""
    index_lookup: bool = False
    """Ask the package index whether each declared name exists (off by default: offline)."""


@dataclass(frozen=True)
class AttestationPolicy:
    """What a model's build provenance (SLSA) must say: ``policy.attestation``, or per model."""

    builders: tuple[str, ...] = ()
    """Allowed builder ids (``runDetails.builder.id``); an entry ending in ``*`` is a prefix."""
    source_repository: str | None = None
    """The repository the model must have been built from (``https://github.com/org/repo``)."""


@dataclass(frozen=True)
class Policy:
    fail_on: Severity = DEFAULT_THRESHOLD
    pickle: Literal["default-deny", "denylist"] = "default-deny"
    require_pins: bool = True
    pickle_formats: Literal["deny", "scan"] = "deny"
    """``deny``: every pickle-based file fails, whatever it holds (safetensors-only teams).
    ``scan``: pickle-based files are accepted when the deep scan finds nothing wrong."""
    allow_globals: tuple[str, ...] = ()
    licenses: LicensePolicy = field(default_factory=LicensePolicy)
    require_hashes: bool = False
    """Every pinned requirement must also carry ``--hash`` (pip's ``--require-hashes`` mode):
    a missing hash is then a high finding rather than a note."""
    typosquat: TyposquatPolicy = field(default_factory=TyposquatPolicy)
    require_signature: bool = False
    """Every model must declare a signature: a model without one fails its ``signature``
    claim (otherwise that claim is not made for it)."""
    require_attestation: bool = False
    """Every model must declare an attestation: a model without one fails its ``attestation``
    claim (otherwise that claim is not made for it)."""
    require_card: bool = False
    """Every model must ship a card: the ``model-card`` claim is made for every model, not only
    those that declare ``card:``."""
    attestation: AttestationPolicy = field(default_factory=AttestationPolicy)
    """Defaults for every model's ``attestation`` claim (a model's own keys win)."""
    baseline: Path | None = None
    """The baseline file of accepted findings (``policy.baseline``); None: the default
    ``mlsupply-baseline.yaml`` beside the manifest, when there is one (``baseline.py``)."""
    limits: ScanLimits = field(default_factory=ScanLimits)
    """Each artifact's scan budgets (``policy.limits``): time, memory, archive bounds."""


@dataclass(frozen=True)
class SignatureDecl:
    """How a model's signature (a model-signing bundle) is found and verified.

    Exactly one mode is declared: ``public_key``; ``certificate_chain`` (optionally pinning the
    signing ``certificate``); or Sigstore ``identity`` + ``issuer`` (with ``trust_config``)."""

    path: Path | None = None
    """The bundle, relative to the manifest; None: ``model.sig`` in the model's directory."""
    public_key: Path | None = None
    certificate: Path | None = None
    """The expected signing (leaf) certificate, compared with the one in the bundle."""
    certificate_chain: tuple[Path, ...] = ()
    identity: str | None = None
    issuer: str | None = None
    trust_config: Path | None = None
    """A Sigstore ClientTrustConfig JSON file (trusted root and signing config) for offline use."""

    @property
    def mode(self) -> str:
        if self.public_key is not None:
            return "public-key"
        if self.identity is not None or self.issuer is not None:
            return "sigstore"
        return "certificate"


DEFAULT_ATTESTATION = "attestation.intoto.jsonl"


@dataclass(frozen=True)
class AttestationDecl:
    """In-toto attestations (DSSE envelopes) about a model, and who must have signed them."""

    keys: tuple[Path, ...]
    """PEM public keys (or certificates) of the signers; distinct keys count toward ``threshold``."""
    paths: tuple[Path, ...] = ()
    """Envelope files (a JSON envelope, or JSON Lines of them), relative to the manifest; empty:
    ``attestation.intoto.jsonl`` in the model's directory (a Hub model's snapshot)."""
    threshold: int = 1
    builders: tuple[str, ...] | None = None
    """Allowed builder ids for this model; None: ``policy.attestation.builders``."""
    source_repository: str | None = None
    """None: ``policy.attestation.source_repository``."""


@dataclass(frozen=True)
class LineageHop:
    """One ancestor of a model: a Hub repository at a revision, or another reference pinned by
    the digests of its files."""

    ref: str
    """As written: ``hf://org/name@<commit>``, ``hf://org/name`` (unpinned) or any other
    reference (a local path, an internal registry name)."""
    span: Span
    key: str
    """The key path that declared it (``lineage.chain[1]``), for messages."""
    repo: str | None = None
    """The Hub repository id when ``ref`` is an ``hf://`` URI."""
    revision: str | None = None
    """Its revision, if any; may be mutable (the lineage claim, not the loader, reports an
    unpinned hop, so every source is compared first)."""
    sha256: str | None = None
    """``sha256:<64 hex>`` of the base's weights when it is a single file."""
    files: dict[str, str] = field(default_factory=dict)
    """Relative path → ``sha256:<64 hex>`` of the base's files (what an adapter binds)."""


@dataclass(frozen=True)
class LineageDecl:
    """Where a model comes from, oldest first: the base, then each derived model (fine-tunes);
    the declaring model itself is the last, implicit link."""

    hops: tuple[LineageHop, ...]

    @property
    def parent(self) -> LineageHop:
        return self.hops[-1]


@dataclass(frozen=True)
class Threshold:
    """A metric the evaluation report must meet: ``accuracy: ">=0.9"``."""

    metric: str
    operator: Literal[">=", ">", "<=", "<", "=="]
    value: float
    text: str
    """As written (``>=0.9``), for messages."""

    def met_by(self, measured: float) -> bool:
        return {
            ">=": measured >= self.value,
            ">": measured > self.value,
            "<=": measured <= self.value,
            "<": measured < self.value,
            "==": measured == self.value,
        }[self.operator]


@dataclass(frozen=True)
class PromotionDecl:
    """Release evidence for a model (files relative to the manifest, each existing)."""

    span: Span
    evaluation: Path | None = None
    approval: Path | None = None
    deploy: Path | None = None
    thresholds: tuple[Threshold, ...] = ()


@dataclass(frozen=True)
class CardDecl:
    path: str = "README.md"
    require: tuple[str, ...] = ()
    declared: bool = False
    """The model's ``card:`` key is in the manifest: the ``model-card`` claim is made for it."""


@dataclass(frozen=True)
class ModelDecl:
    name: str
    span: Span
    source: HubRef | None = None
    path: Path | None = None
    files: dict[str, str] = field(default_factory=dict)
    license: str | None = None
    description: str | None = None
    card: CardDecl = field(default_factory=CardDecl)
    datasets: tuple[str, ...] = ()
    signature: SignatureDecl | None = None
    attestation: AttestationDecl | None = None
    base_model: str | None = None
    """The immediate parent as written (``lineage.base_model`` or the last ``lineage.chain``
    hop); kept for readers that need only its text."""
    lineage: LineageDecl | None = None
    promotion: PromotionDecl | None = None

    @property
    def source_text(self) -> str:
        if self.source is not None:
            return self.source.uri
        return str(self.path)


#: ``datasets[].pii``: what personal data a dataset holds, least to most (CycloneDX
#: ``data.classification`` carries the level; the last two are also its ``sensitiveData``).
PII_LEVELS = ("none", "pseudonymised", "personal", "sensitive")
#: ``datasets[].governance`` roles, as CycloneDX 1.6 ``data.governance`` names them.
GOVERNANCE_ROLES = ("owners", "custodians", "stewards")


@dataclass(frozen=True)
class DatasetDecl:
    name: str
    span: Span
    source: HubRef | None = None
    path: Path | None = None
    license: str | None = None
    pii: str | None = None
    """One of :data:`PII_LEVELS` (the loader refuses anything else); None: not classified."""
    description: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    """Relative path → ``sha256:<64 hex>``, pinned as for models."""
    governance: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Role (one of :data:`GOVERNANCE_ROLES`) → the organisations holding it."""


@dataclass(frozen=True)
class RequirementDecl:
    """One source of Python dependencies: a requirements file, a pyproject, or an environment."""

    kind: Literal["file", "pyproject", "pylock", "environment"]
    span: Span
    path: Path | None = None


@dataclass(frozen=True)
class InternalDecl:
    """Packages published only on a private index: a public upload of the same name must never
    be installed in their place (dependency confusion)."""

    index: str
    """The private index's URL, as pip is given it (``https://pypi.acme.internal/simple``)."""
    packages: tuple[str, ...]
    """Canonical project names or shell-style globs over them (``acme-*``)."""
    span: Span


@dataclass(frozen=True)
class CodeDecl:
    """The project's own code to check for unsafe model loading (``code:``): one item per file."""

    paths: tuple[Path, ...]
    """Files or directories, resolved against the manifest's directory (each exists)."""
    exclude: tuple[str, ...] = ()
    """Patterns over the files' paths relative to the manifest's directory (the semantics of
    :func:`pytest_mlsupply.sources.code.excluded`: ``.gitignore``'s rules, ``*`` within one
    name, ``**`` across directories, a trailing ``/`` names a directory)."""
    span: Span | None = None
    """Where ``code:`` is declared (for messages about a path that yields no file)."""
    path_texts: tuple[str, ...] = ()
    """Each path as written in the manifest (``src/``), for messages and item names."""


@dataclass(frozen=True)
class OutputDecl:
    bom: Path
    matrix: Path
    bom_xml: Path | None = None
    sarif: Path | None = None
    """The gate's SARIF 2.1.0 log (``output.sarif``); None: not written."""
    html: Path | None = None
    """The gate's HTML report (``output.html``); None: not written."""


@dataclass(frozen=True)
class Manifest:
    path: Path
    version: int
    policy: Policy
    output: OutputDecl
    project_name: str
    project_version: str | None = None
    models: tuple[ModelDecl, ...] = ()
    datasets: tuple[DatasetDecl, ...] = ()
    requirements: tuple[RequirementDecl, ...] = ()
    internal: tuple[InternalDecl, ...] = ()
    # Sections owned by later capabilities; kept as validated plain data until they land.
    vulnerabilities: dict[str, Any] = field(default_factory=dict)
    code: CodeDecl | None = None
    """``code:``; None when the manifest declares no code to check."""
    monitor: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent
