"""Provenance claim ``attestation``: signed in-toto statements vouch for every file of the model.

The envelopes (``attestation.path``: one DSSE envelope per file, or JSON Lines of them; default
``attestation.intoto.jsonl`` in the model's directory or Hub snapshot) are read and verified by
:mod:`pytest_mlsupply.engines.dsse` against the declared ``keys`` and ``threshold``. Then:

- every envelope must verify: one bad envelope among good ones fails the claim;
- every subject names a file of the model (relative to its directory; ``./`` segments are
  dropped, ``..``, absolute and backslashed names are findings) and every digest we can compute
  (any algorithm hashlib knows, plus ``gitBlob``) must match it; a subject needs at least one
  collision-resistant digest; the same file named twice with different digests is a finding;
- every file of the model must be a subject (the envelopes themselves and a model-signing bundle
  excepted; the model card is reported at low severity): a weight or code file no attestation
  speaks for is exactly what an attacker would add;
- SLSA provenance (v1, and v0.2) is read for its builder and source repository, checked against
  the allowed ``builders`` and the required ``source_repository``; a policy that a statement
  does not speak to is a finding, never assumed. When such a policy is set only SLSA statements
  vouch for files. Other predicate types verify signatures and subjects only (the facts say so).

The claim is made for models that declare ``attestation:``, and for every model under
``policy.require_attestation: true`` (where a model without one fails).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_mlsupply.checks.base import CheckContext, Outcome, ProvenanceCheck
from pytest_mlsupply.engines.regular_file import open_regular
from pytest_mlsupply.manifest.model import DEFAULT_ATTESTATION, AttestationDecl, Policy
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import ArtifactFile, ResolvedModel

# The DSSE engine (securesystemslib, cryptography) is imported by the run that uses it, not at
# import: a check is imported once planned, and a warm gate runs few of them.
if TYPE_CHECKING:
    from pytest_mlsupply.engines import dsse

SLSA_V1 = "https://slsa.dev/provenance/v1"
SLSA_V02 = "https://slsa.dev/provenance/v0.2"
#: A model-signing bundle is evidence of its own, not a model file an attestation must name.
_SIGNATURE_BUNDLE = "model.sig"
#: Git's own files (as model-signing ignores them): no loader reads them, and the Hub writes a
#: `.gitattributes` into every repository. Unattested, they are noted at low severity.
_GIT_METADATA = frozenset({".gitattributes", ".gitignore"})
_CHUNK = 1 << 20
#: in-toto digest-set names → hashlib constructors' names.
_ALGORITHMS = {
    "sha224": "sha224",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
    "sha512_224": "sha512_224",
    "sha512_256": "sha512_256",
    "sha3_224": "sha3_224",
    "sha3_256": "sha3_256",
    "sha3_384": "sha3_384",
    "sha3_512": "sha3_512",
    "sha3-224": "sha3_224",
    "sha3-256": "sha3_256",
    "sha3-384": "sha3_384",
    "sha3-512": "sha3_512",
    "shake128": "shake_128",
    "shake256": "shake_256",
    "blake2b": "blake2b",
    "blake2s": "blake2s",
    "md5": "md5",
    "sha1": "sha1",
    "gitblob": "gitblob",
}
#: Broken for collisions: a matching digest of these alone does not pin the bytes.
_WEAK = frozenset({"md5", "sha1", "gitblob"})
#: Extendable-output functions: the subject chooses the digest's length, so a short one (even
#: an empty one, which every file "matches") pins nothing. Below this many hex digits (256 bits,
#: sha256's length) it is no proof.
_XOF = frozenset({"shake128", "shake256"})
_MIN_XOF_HEX = 64
#: Hosts whose repository paths are case-insensitive (Acme/Model and acme/model are one repo).
_CASELESS_HOSTS = frozenset({"github.com", "gitlab.com"})
#: Schemes a source repository is fetched over (after ``git+``); ``file://github.com/acme/m`` is
#: a directory on the builder, not the repository.
_NETWORK_SCHEMES = frozenset({"https", "http", "ssh", "git"})
_MAX_PROPERTY = 2000


@dataclass
class _Claim:
    """A verified statement's build facts, as far as its predicate states them."""

    source: str
    predicate_type: str
    slsa: bool
    builder: str | None = None
    build_type: str | None = None
    repositories: list[str] = field(default_factory=list)
    commit: str | None = None
    parameters: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "envelope": self.source,
            "predicate_type": self.predicate_type,
            "checked": "slsa-provenance" if self.slsa else "signatures-and-subjects-only",
            "builder": self.builder,
            "build_type": self.build_type,
            "source_repository": self.repositories[0] if self.repositories else None,
            "source_commit": self.commit,
            "build_parameters": self.parameters,
        }


def _finding(
    rule: str, severity: Severity, title: str, where: str, evidence: str, why: str, fix: str
) -> Finding:
    # One call per rule keeps the rule, severity and CWE side by side for the catalogue check.
    return Finding(
        rule=rule,
        severity=severity,
        category="provenance",
        title=title,
        location=Location(file=where),
        evidence=evidence,
        why=why,
        remediation=fix,
        cwe=_CWES[rule],
    )


_CWES = {
    "MLS-ATT-001": "CWE-345",
    "MLS-ATT-002": "CWE-345",
    "MLS-ATT-003": "CWE-347",
    "MLS-ATT-004": "CWE-345",
    "MLS-ATT-005": "CWE-345",
    "MLS-ATT-006": "CWE-22",
    "MLS-ATT-007": "CWE-345",
    "MLS-ATT-008": "CWE-328",
    "MLS-ATT-009": "CWE-345",
    "MLS-ATT-010": "CWE-345",
    "MLS-ATT-011": "CWE-345",
}


def attestation_paths(model: ResolvedModel, decl: AttestationDecl) -> tuple[Path, ...]:
    if decl.paths:
        return decl.paths
    return () if model.root is None else (model.root / DEFAULT_ATTESTATION,)


def run(model: ResolvedModel, ctx: CheckContext) -> Outcome:
    from pytest_mlsupply.engines import dsse

    decl = model.decl.attestation
    if decl is None:
        return Outcome(
            findings=[
                Finding(
                    rule="MLS-ATT-001",
                    severity=Severity.HIGH,
                    category="provenance",
                    title="model has no attestation",
                    location=Location(file=model.name),
                    evidence="policy.require_attestation is true and the model declares no "
                    "`attestation:`",
                    why="without signed build provenance nothing says which builder made these "
                    "weights, from which source",
                    remediation="have the build publish an in-toto SLSA provenance over the model "
                    "files and declare `attestation: {keys: [<builder's PEM key>]}`",
                    cwe="CWE-345",
                )
            ]
        )
    if model.error is not None or model.root is None:
        return Outcome(error=model.error or "the model could not be resolved")
    try:
        keys = [dsse.load_public_key(path) for path in decl.keys]
    except dsse.DsseError as exc:
        return Outcome(error=f"cannot verify the attestation of {model.name}: {exc}")
    distinct = len(dsse.distinct_keys(keys))
    if decl.threshold > distinct:
        return Outcome(
            error=f"cannot verify the attestation of {model.name}: threshold {decl.threshold} "
            f"needs {decl.threshold} distinct keys, but the files under `attestation.keys` hold "
            f"{distinct} (the same key in two files counts once); lower the threshold or add keys"
        )
    root = ctx.inventory.manifest.root
    findings: list[Finding] = []
    claims: list[tuple[_Claim, dsse.Statement]] = []
    envelopes: list[dict[str, Any]] = []
    paths = attestation_paths(model, decl)
    for path in paths:
        shown = _relative(path, root, model)
        if not path.is_file():
            findings.append(
                _finding(
                    "MLS-ATT-002",
                    Severity.HIGH,
                    "attestation file not found",
                    shown,
                    f"the manifest declares an attestation; {shown} does not exist (or is not a "
                    "regular file)",
                    "a declared attestation that is absent proves nothing about the model",
                    f"ship the envelope as {DEFAULT_ATTESTATION} in the model directory, or "
                    "point `attestation.path` at it",
                )
            )
            continue
        try:
            size = path.stat().st_size
            # An envelope names digests: a file this large is not one (weights named by
            # mistake, or a file grown to exhaust memory) and is not read.
            data = path.read_bytes() if size <= dsse.MAX_ENVELOPE_BYTES else b""
        except OSError as exc:
            # Findings about the other envelopes still stand (findings outrank errors).
            return Outcome(
                findings=findings, error=f"cannot read the attestation {shown}: {exc.strerror}"
            )
        if size > dsse.MAX_ENVELOPE_BYTES:
            findings.append(
                _finding(
                    "MLS-ATT-003",
                    Severity.CRITICAL,
                    "attestation does not verify",
                    shown,
                    f"{size} bytes is larger than any attestation (limit "
                    f"{dsse.MAX_ENVELOPE_BYTES} bytes); it was not read",
                    "a file that is not an envelope says nothing trustworthy about the model",
                    "point `attestation.path` at the DSSE envelope the build wrote",
                )
            )
            continue
        envelopes.append({"path": shown, "sha256": hashlib.sha256(data).hexdigest()})
        for source, verified in _verify_file(data, shown, keys, decl.threshold, findings):
            claims.append((_read_claim(verified.statement, source), verified.statement))
    policy = _effective_policy(decl, ctx.policy)
    findings += _policy_findings(claims, policy, model)
    if claims:
        findings += _subject_findings(model, claims, policy, paths, ctx)
    unverified = any(f.rule in ("MLS-ATT-002", "MLS-ATT-003") for f in findings)
    facts: dict[str, Any] = {
        "attestation": {
            "envelopes": envelopes,
            "statements": [claim.to_dict() for claim, _ in claims],
            # Every envelope met the threshold; the findings say what they failed to prove.
            "verified": bool(claims) and not unverified,
        }
    }
    return Outcome(findings=findings, facts=facts)


def _relative(path: Path, root: Path, model: ResolvedModel) -> str:
    """The path as reports show it: relative to the manifest, else to the model (a snapshot)."""
    # Not resolved: a snapshot's files are symlinks into the cache's blobs.
    for base in (root, root.resolve()):
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            continue
    name = _model_relative(path, model)
    return path.name if name is None else f"{model.name}/{name}"


def _model_relative(path: Path, model: ResolvedModel) -> str | None:
    """``path`` relative to the model's directory, if it lies in it (not following symlinks)."""
    if model.root is None:
        return None
    for base in (model.root, model.root.resolve()):
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            continue
    return None


def _verify_file(
    data: bytes, shown: str, keys: list[Any], threshold: int, findings: list[Finding]
) -> list[tuple[str, dsse.Verified]]:
    """Every envelope in the file, verified; each one that is not becomes a finding."""
    from pytest_mlsupply.engines import dsse

    lines = [line for line in data.splitlines() if line.strip()]
    chunks: list[tuple[str, bytes]]
    if len(lines) > 1 and _is_json_object(lines[0]):
        # JSON Lines (the SLSA generators' *.intoto.jsonl): one envelope per line.
        chunks = [(f"{shown}:{i}", line) for i, line in enumerate(data.splitlines(), 1)]
        chunks = [(source, line) for source, line in chunks if line.strip()]
    else:
        chunks = [(shown, data)]
    out = []
    for source, chunk in chunks:
        try:
            envelope = dsse.read_envelope(chunk, source=source)
            out.append((source, dsse.verify(envelope, keys, threshold)))
        except dsse.DsseError as exc:
            findings.append(
                _finding(
                    "MLS-ATT-003",
                    Severity.CRITICAL,
                    "attestation does not verify",
                    source,
                    str(exc),
                    "an envelope the declared keys did not sign (or that was altered, or is not "
                    "an envelope at all) says nothing trustworthy about the model",
                    "publish the envelope as the builder signed it, or fix `attestation.keys` / "
                    "`threshold` to name the signers",
                )
            )
    return out


def _is_json_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


# --- build provenance -----------------------------------------------------------------------


#: Where SLSA provenance keeps what the build policy reads, and the JSON type each must have.
_SHAPES: dict[str, tuple[tuple[tuple[str, ...], type], ...]] = {
    SLSA_V1: (
        (("buildDefinition",), dict),
        (("buildDefinition", "externalParameters"), dict),
        (("buildDefinition", "externalParameters", "workflow"), dict),
        (("buildDefinition", "resolvedDependencies"), list),
        (("runDetails",), dict),
        (("runDetails", "builder"), dict),
    ),
    SLSA_V02: (
        (("builder",), dict),
        (("invocation",), dict),
        (("invocation", "configSource"), dict),
        (("materials",), list),
    ),
}


def _misshapen(predicate: Mapping[str, Any], predicate_type: str) -> str | None:
    """The first field the build policy reads that is present with the wrong JSON type."""
    for path, kind in _SHAPES.get(predicate_type, ()):
        value: Any = predicate
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and not isinstance(value, kind):
            return ".".join(path)
    return None


def _read_claim(statement: dsse.Statement, source: str) -> _Claim:
    claim = _read_slsa(statement, source)
    misshapen = _misshapen(statement.predicate, statement.predicate_type)
    if misshapen is not None:
        # A reader that skipped the misshapen field would fall back on another one (the next
        # git input, say) the attacker chose: the provenance states no builder or source we read.
        claim.builder = None
        claim.repositories = [f"<predicate.{misshapen} is not a JSON {_json_kind(misshapen)}>"]
        claim.commit = None
    return claim


def _json_kind(path: str) -> str:
    return "list" if path.endswith(("resolvedDependencies", "materials")) else "object"


def _read_slsa(statement: dsse.Statement, source: str) -> _Claim:
    predicate = statement.predicate
    if statement.predicate_type == SLSA_V1:
        build = _mapping(predicate.get("buildDefinition"))
        details = _mapping(predicate.get("runDetails"))
        external = _mapping(build.get("externalParameters"))
        dependencies = build.get("resolvedDependencies")
        claim = _Claim(
            source=source,
            predicate_type=statement.predicate_type,
            slsa=True,
            builder=_text(_mapping(details.get("builder")).get("id")),
            build_type=_text(build.get("buildType")),
            parameters=dict(external) or None,
        )
        workflow = _mapping(external.get("workflow"))
        stated = [workflow.get("repository"), external.get("repository")]
        source_param = external.get("source")
        stated.append(
            _mapping(source_param).get("uri") if isinstance(source_param, dict) else source_param
        )
        # A field that states a source in a form we cannot read (a list, an object) is not
        # skipped in favour of one we can: it stands as written, and matches no repository.
        claim.repositories = [
            value if isinstance(value, str) else f"<{json.dumps(value, sort_keys=True)}>"
            for value in stated
            if value is not None and (not isinstance(value, str) or value.strip())
        ]
        materials = dependencies if isinstance(dependencies, list) else []
        _source_from_materials(claim, materials)
        return claim
    if statement.predicate_type == SLSA_V02:
        invocation = _mapping(predicate.get("invocation"))
        config = _mapping(invocation.get("configSource"))
        parameters = {
            key: value
            for key, value in (
                ("entryPoint", config.get("entryPoint")),
                ("parameters", invocation.get("parameters")),
            )
            if value
        }
        claim = _Claim(
            source=source,
            predicate_type=statement.predicate_type,
            slsa=True,
            builder=_text(_mapping(predicate.get("builder")).get("id")),
            build_type=_text(predicate.get("buildType")),
            parameters=parameters or None,
        )
        uri = config.get("uri")
        if isinstance(uri, str) and uri.strip():
            claim.repositories = [uri]
        elif uri is not None and not isinstance(uri, str):
            claim.repositories = [f"<{json.dumps(uri, sort_keys=True)}>"]  # as for v1
        inputs = predicate.get("materials")
        _source_from_materials(claim, [config, *(inputs if isinstance(inputs, list) else [])])
        return claim
    return _Claim(source=source, predicate_type=statement.predicate_type, slsa=False)


def _source_from_materials(claim: _Claim, materials: list[Any]) -> None:
    """The source (when no parameter states it) and its commit, from the build's inputs.

    Only the first git input stands for the source: a build that lists the required repository
    among its dependencies but was defined elsewhere did not build from it."""
    entries = [_mapping(m) for m in materials]
    # A git input is a `git+` URI, or any URI pinned by a git commit (not every builder writes
    # the `git+`): the first such input is the source, whichever way it is spelled.
    git = [e for e in entries if e.get("uri") is not None and _is_git_input(e)]
    if not claim.repositories and git:
        uri = git[0]["uri"]
        # As for the parameters: a source URI we cannot read stands, and matches nothing.
        claim.repositories = [
            uri if isinstance(uri, str) else f"<{json.dumps(uri, sort_keys=True)}>"
        ]
    if not claim.repositories:
        return
    wanted = normalise_repository(claim.repositories[0])
    for entry in entries:
        uri = _text(entry.get("uri"))
        if uri and normalise_repository(uri) == wanted:
            digest = _mapping(entry.get("digest"))
            commit = _text(digest.get("gitCommit")) or _text(digest.get("sha1"))
            if commit:
                claim.commit = commit
                return


def _is_git_input(entry: Mapping[str, Any]) -> bool:
    digest = _mapping(entry.get("digest"))
    return str(entry.get("uri")).startswith("git+") or any(
        str(algorithm).lower() == "gitcommit" for algorithm in digest
    )


def normalise_repository(uri: str) -> str:
    """``host/path`` of a repository URI: scheme, credentials, ``git+``, ``@ref`` and ``.git``
    dropped, so ``git+https://github.com/acme/m@refs/heads/main`` is ``github.com/acme/m``.

    A URI that a git client would fetch from somewhere else than its ``host/path`` reads (a
    ``file://`` or other non-network scheme, ``.``/``..`` segments — also after the ``@`` —,
    percent-escapes or backslashes) is kept whole in angle brackets: it equals no other URI."""
    raw = uri.strip()
    text = raw.removeprefix("git+")
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
    except ValueError:  # "https://[x/": not a URL at all
        return f"<{raw}>"
    if parts.scheme.lower() not in _NETWORK_SCHEMES or "\\" in text or "%" in parts.path:
        return f"<{raw}>"
    host, _, port = parts.netloc.rpartition("@")[2].lower().partition(":")
    path = parts.path
    if port and not port.isdigit():
        # scp-like ssh (git@github.com:acme/m): the part after the colon is the path.
        path = f"/{port}{path}"
    elif port and port not in ("22", "80", "443"):
        host = f"{host}:{port}"  # another port may be another server
    # curl and git resolve dot segments across the whole path, the `@ref` part included:
    # `acme/m@x/../../evil/m` is evil/m's repository, not acme/m's.
    if any(segment in (".", "..") for segment in path.split("/")):
        return f"<{raw}>"
    path = path.split("@", 1)[0].rstrip("/").removesuffix(".git")
    if host in _CASELESS_HOSTS:
        path = path.lower()
    return host + path


@dataclass(frozen=True)
class _BuildPolicy:
    builders: tuple[str, ...]
    source_repository: str | None

    @property
    def set(self) -> bool:
        return bool(self.builders) or self.source_repository is not None


def _effective_policy(decl: AttestationDecl, policy: Policy) -> _BuildPolicy:
    builders = decl.builders if decl.builders is not None else policy.attestation.builders
    repository = decl.source_repository or policy.attestation.source_repository
    return _BuildPolicy(builders=builders, source_repository=repository)


def _builder_allowed(builder: str, allowed: tuple[str, ...]) -> bool:
    return any(
        builder.startswith(entry[:-1]) if entry.endswith("*") else builder == entry
        for entry in allowed
    )


def _policy_findings(
    claims: list[tuple[_Claim, dsse.Statement]], policy: _BuildPolicy, model: ResolvedModel
) -> list[Finding]:
    if not policy.set or not claims:
        return []
    slsa = [claim for claim, _ in claims if claim.slsa]
    if not slsa:
        kinds = ", ".join(sorted({claim.predicate_type for claim, _ in claims}))
        wanted = [("MLS-ATT-010", "builder")] if policy.builders else []
        wanted += [("MLS-ATT-011", "source repository")] if policy.source_repository else []
        return [
            _finding(
                rule,
                Severity.HIGH,
                f"no attestation states the {what}",
                model.name,
                f"the policy requires a {what}; the verified statements are {kinds}, not SLSA "
                "provenance",
                f"a {what} that is not stated is not proven",
                "publish SLSA provenance (https://slsa.dev/provenance/v1) for the model",
            )
            for rule, what in wanted
        ]
    out: list[Finding] = []
    for claim in slsa:
        if policy.builders:
            if claim.builder is None:
                out.append(
                    _finding(
                        "MLS-ATT-010",
                        Severity.HIGH,
                        "attestation names no builder",
                        claim.source,
                        "the SLSA provenance has no builder id; allowed: "
                        + ", ".join(policy.builders),
                        "a builder that is not stated is not proven to be a trusted one",
                        "have the build platform record runDetails.builder.id",
                    )
                )
            elif not _builder_allowed(claim.builder, policy.builders):
                out.append(
                    _finding(
                        "MLS-ATT-010",
                        Severity.HIGH,
                        "model built by a builder that is not allowed",
                        claim.source,
                        f"builder {claim.builder!r}; allowed: " + ", ".join(policy.builders),
                        "a build on an untrusted builder can inject anything into the weights, "
                        "however good its source",
                        "rebuild on an allowed builder, or add this builder id to `builders`",
                    )
                )
        if policy.source_repository is not None:
            required = normalise_repository(policy.source_repository)
            if not claim.repositories:
                out.append(
                    _finding(
                        "MLS-ATT-011",
                        Severity.HIGH,
                        "attestation names no source repository",
                        claim.source,
                        f"required {policy.source_repository}; the SLSA provenance states none "
                        "(no externalParameters workflow/source, no git input)",
                        "a source that is not stated is not proven",
                        "record the source repository in the provenance (externalParameters or "
                        "resolvedDependencies)",
                    )
                )
            for stated in claim.repositories:
                if normalise_repository(stated) != required:
                    out.append(
                        _finding(
                            "MLS-ATT-011",
                            Severity.HIGH,
                            "model built from another source repository",
                            claim.source,
                            f"built from {stated}; required {policy.source_repository}",
                            "weights built from another repository are not the ones your "
                            "release process reviewed",
                            "rebuild from the required repository, or correct `source_repository`",
                        )
                    )
    return out


# --- subjects against the model's files -------------------------------------------------------


def _subject_name(name: str) -> str | None:
    """The model-relative path a subject names, or None when it escapes the model directory."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return None
    if len(name) > 1 and name[1] == ":":  # C:/... on a Windows builder
        return None
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def _subject_findings(
    model: ResolvedModel,
    claims: list[tuple[_Claim, dsse.Statement]],
    policy: _BuildPolicy,
    paths: tuple[Path, ...],
    ctx: CheckContext,
) -> list[Finding]:
    files = {f.relpath: f for f in model.files}
    out: list[Finding] = []
    # A file → every (algorithm, digest) stated for it → the envelope that first said so.
    stated: dict[str, dict[tuple[str, str], str]] = {}
    vouching: set[str] = set()
    for claim, statement in claims:
        counts = claim.slsa or not policy.set
        for subject in statement.subjects:
            rel = _subject_name(subject.name)
            if rel is None:
                out.append(
                    _finding(
                        "MLS-ATT-006",
                        Severity.HIGH,
                        "attestation subject is outside the model",
                        claim.source,
                        f"subject {subject.name!r} is not a path inside the model directory",
                        "a subject that escapes the model (../, an absolute path) vouches for "
                        "some other file, not the model's",
                        "name subjects by their path relative to the model directory",
                    )
                )
                continue
            seen = stated.setdefault(rel, {})
            for algorithm, value in subject.digests.items():
                earlier = [
                    (v, src) for (a, v), src in seen.items() if a == algorithm and v != value
                ]
                if earlier:
                    out.append(
                        _finding(
                            "MLS-ATT-007",
                            Severity.HIGH,
                            f"{rel} is attested with two different digests",
                            f"{model.name}/{rel}",
                            f"{earlier[0][1]} says {algorithm} {earlier[0][0]}, {claim.source} "
                            f"says {value}",
                            "two readers could take either subject: the attestation does not "
                            "pin one content",
                            "publish one attestation per release, naming each file once",
                        )
                    )
                seen.setdefault((algorithm, value), claim.source)
            if counts:
                vouching.add(rel)
    for rel in sorted(stated):
        out += _check_digests(model, rel, stated[rel], files.get(rel), ctx)
    out += _unattested(model, files, vouching, policy, paths)
    return out


def _check_digests(
    model: ResolvedModel,
    rel: str,
    digests: Mapping[tuple[str, str], str],
    file: ArtifactFile | None,
    ctx: CheckContext,
) -> list[Finding]:
    where = f"{model.name}/{rel}"
    if file is None:
        return [
            _finding(
                "MLS-ATT-005",
                Severity.HIGH,
                f"{rel} is attested but missing",
                where,
                f"the attestation names {rel}; the model directory has no such file "
                "(names are matched exactly, case included)",
                "an attestation about files that are not here is about another model, or an "
                "incomplete one",
                "restore the file from the attested release, or use this model's attestation",
            )
        ]
    checkable = sorted(
        (algorithm, value, source)
        for (algorithm, value), source in digests.items()
        if algorithm in _ALGORITHMS
    )
    strong = [
        algorithm
        for algorithm, value, _ in checkable
        if algorithm not in _WEAK
        and (algorithm not in _XOF or (len(value) >= _MIN_XOF_HEX and len(value) % 2 == 0))
    ]
    out: list[Finding] = []
    if not strong:
        out.append(
            _finding(
                "MLS-ATT-008",
                Severity.HIGH,
                f"{rel} is attested without a strong digest",
                where,
                "the subject's digests are "
                + (", ".join(sorted({algorithm for algorithm, _ in digests})) or "none")
                + "; none of sha256, sha384, sha512, sha3, blake2, or shake of at least "
                f"{_MIN_XOF_HEX} hex digits",
                "a digest that is broken for collisions (md5, sha1), too short (a shake digest "
                "the subject cut short, even to nothing) or unknown does not pin the bytes",
                "attest the file by its sha256",
            )
        )
    for algorithm, expected, source in checkable:
        try:
            actual = _digest(file, algorithm, len(expected), ctx)
        except OSError as exc:
            out.append(
                _finding(
                    "MLS-ATT-004",
                    Severity.CRITICAL,
                    f"{rel} cannot be compared with its attestation",
                    where,
                    f"reading it failed: {exc}",
                    "a file that cannot be read cannot be proven to be the attested one",
                    "make the file readable (a regular file) and run again",
                )
            )
            break
        if actual != expected:
            out.append(
                _finding(
                    "MLS-ATT-004",
                    Severity.CRITICAL,
                    f"{rel} differs from its attestation",
                    where,
                    f"attested {algorithm} {expected} ({source}), on disk {actual}",
                    "bytes that differ from the attested build may be tampered weights or config",
                    "restore the file from the attested build, or publish a new attestation "
                    "after review",
                )
            )
    return out


def _digest(file: ArtifactFile, algorithm: str, hex_length: int, ctx: CheckContext) -> str:
    if algorithm == "sha256":
        return ctx.contents.get(file.path).sha256
    # Never waits on a FIFO or device, even one swapped in after an earlier look at the path.
    handle, st = open_regular(file.path)
    name = _ALGORITHMS[algorithm]
    if name == "gitblob":
        digest: Any = hashlib.sha1(f"blob {st.st_size}\0".encode())
    else:
        digest = hashlib.new(name)
    with handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    if name.startswith("shake_"):
        return str(digest.hexdigest(hex_length // 2))
    return str(digest.hexdigest())


def _unattested(
    model: ResolvedModel,
    files: Mapping[str, ArtifactFile],
    vouching: set[str],
    policy: _BuildPolicy,
    paths: tuple[Path, ...],
) -> list[Finding]:
    signature = model.decl.signature
    signature_path = None if signature is None else signature.path
    evidence = {_model_relative(p, model) for p in (*paths, signature_path) if p is not None}
    out = []
    for rel in sorted(files):
        if rel in vouching or rel in evidence or rel == _SIGNATURE_BUNDLE:
            continue
        card = rel == model.decl.card.path
        # Not `.github/`: it may hold anything, a module a config's auto_map names included.
        git = rel in _GIT_METADATA
        if card:
            why = "the model card is documentation, not loaded with the model"
        elif git:
            why = (
                "git metadata, not loaded with the model (the Hub writes a .gitattributes into "
                "every repository, after any build)"
            )
        else:
            why = (
                "a file no attestation speaks for (weights, a config, code) loads with the "
                "model without the build having produced it"
            )
        out.append(
            _finding(
                "MLS-ATT-009",
                Severity.LOW if card or git else Severity.HIGH,
                f"{rel} is not covered by the attestation",
                f"{model.name}/{rel}",
                f"{rel} is in the model directory but no verified "
                + ("SLSA provenance" if policy.set else "attestation")
                + " names it as a subject",
                why,
                "remove the file, or have the build attest it",
            )
        )
    return out


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


CHECK = ProvenanceCheck(
    name="attestation",
    kind=RowKind.PROVENANCE,
    summary="signed in-toto attestations (SLSA provenance) vouch for every file of the model",
    run=run,
    # When it applies, and which policy requires it, is its registry line's call.
)
