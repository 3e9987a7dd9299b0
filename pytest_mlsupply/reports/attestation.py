"""The gate's own evidence: a signed in-toto statement of what this session checked.

``--mlsupply-attest KEY`` writes, after the ML-BOM, a DSSE envelope (through
:mod:`pytest_mlsupply.engines.dsse`, the one signer) holding an in-toto Statement v1:

- subjects: the BOM file and every model file the session verified, by sha256. A file's digest
  is the one its ``sha256`` check computed from the bytes it checked (``facts["sha256"]``): the
  controller never re-reads a model, so the attested digest is that of what was judged.
- predicate (:data:`PREDICATE_TYPE`): every cell's verdict (check, subject, verdict, rule ids),
  the effective policy, the manifest's digest, the tool version, the time and the gate verdict.

``--mlsupply-attest sigstore`` signs the same statement keylessly (Fulcio certificate for the
CI's ambient OIDC identity, Rekor entry) and writes a Sigstore bundle instead.

A deploy step checks it with ``mlsupply verify`` (:mod:`pytest_mlsupply.verify`); any DSSE /
in-toto tool reads it too, because it is a standard envelope around a standard statement.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from pytest_mlsupply import __version__
from pytest_mlsupply.results import CheckResult, RowKind, Verdict

if TYPE_CHECKING:
    from securesystemslib.signer import CryptoSigner

    from pytest_mlsupply.manifest.model import Policy
    from pytest_mlsupply.plan import PlannedItem
    from pytest_mlsupply.results import Severity

PREDICATE_TYPE = "https://pytest-mlsupply.dev/attestation/gate/v1"
"""Our predicate's type URI; the trailing ``v1`` is bumped on any incompatible change."""

PASSWORD_ENV = "MLSUPPLY_ATTEST_KEY_PASSWORD"
"""The environment variable holding the password of an encrypted attestation key."""

SIGSTORE = "sigstore"
"""The ``--mlsupply-attest`` value that selects keyless Sigstore signing."""

GATE_PASS, GATE_FAIL = "pass", "fail"

_SHA256 = re.compile(r"[0-9a-f]{64}")

#: Cells that mean the gate did not pass: a failure, a check that could not complete, and a
#: planned check that never reported (fail closed: none of them is evidence of a pass).
_BLOCKING = (Verdict.FAIL, Verdict.ERROR, Verdict.NOT_RUN)


class AttestationError(Exception):
    """The attestation cannot be built, signed or written; the message names the cause."""


@dataclass(frozen=True)
class AttestSigner:
    """What ``--mlsupply-attest`` resolved to, loaded at session start."""

    mode: str
    """``key`` or ``sigstore``."""
    signer: CryptoSigner | None = None
    source: str = ""
    """The key file, or ``sigstore``: named in messages."""


def load_attest_signer(value: str, base: Path, origin: str) -> AttestSigner:
    """Resolve ``--mlsupply-attest`` (``origin`` names where it came from) at session start.

    A key that cannot be read, or a wrong password, raises :class:`AttestationError` now, so
    the session stops before anything runs rather than losing its attestation at the end.
    """
    # The DSSE engine (securesystemslib, cryptography) is imported when a key is loaded or a
    # statement signed, not at import: a gate without --mlsupply-attest never needs it.
    from pytest_mlsupply.engines.dsse import DsseError, load_signer

    if value.strip().lower() == SIGSTORE:
        _sigstore_identity(origin)  # fails now when there is no identity to sign with
        return AttestSigner(mode="sigstore", source=SIGSTORE)
    if "-----BEGIN" in value or "\n" in value or "\r" in value:
        # The key itself where its path belongs (`--mlsupply-attest="$GATE_KEY"`): never echo
        # it, or the private key ends up in the CI log.
        raise AttestationError(
            f"{origin} holds key material, not the path of a key file (its value is not shown): "
            "write the key to a file and pass that file's path (see docs/ci.md)"
        )
    path = (base / value).resolve()
    if not path.is_file():
        raise AttestationError(
            f"{origin} {value}: no such key file ({path}); pass the PEM private key (EC, RSA "
            f"or Ed25519) that signs the gate's attestation, or `{SIGSTORE}` in CI"
        )
    password = os.environ.get(PASSWORD_ENV)
    try:
        signer = load_signer(path, password.encode() if password else None)
    except DsseError as exc:
        hint = (
            f"; the key is encrypted: put its password in ${PASSWORD_ENV}"
            if password is None
            else f"; check the password in ${PASSWORD_ENV}"
        )
        raise AttestationError(f"{origin}: {exc}{hint}") from None
    return AttestSigner(mode="key", signer=signer, source=str(path))


@dataclass(frozen=True)
class GateRecord:
    """Everything the session learned that the statement records."""

    bom_name: str
    bom_sha256: str
    plan: Sequence[PlannedItem]
    results: Sequence[CheckResult]
    threshold: Severity
    policy: Policy
    manifest_name: str
    manifest_sha256: str
    exit_status: int
    extra_subjects: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Other report files attested (the XML BOM): name → sha256."""
    time: datetime | None = None
    manifest_threshold: Severity | None = None
    """The manifest's own ``policy.fail_on``, before ``--mlsupply-fail-on`` or the ini key:
    recorded so a weaker threshold given on the command line is visible to ``verify``."""
    declared_not_checked: Sequence[Mapping[str, str]] = ()
    """Manifest keys declared that no check reads yet: the pass does not cover them."""
    baseline: Mapping[str, Any] | None = None
    """The baseline file in force (name, sha256, counts, stale entries), when there is one."""


def model_file_digests(results: Sequence[CheckResult]) -> dict[str, str]:
    """Subject (``model/relpath``) → the sha256 its checks computed from the bytes they read.

    Two different digests for one file mean it changed while the session read it: no digest
    can stand for what was checked, so that raises rather than attesting either.
    """
    seen: dict[str, str] = {}
    for result in results:
        digest = result.facts.get("sha256") if result.kind is RowKind.ARTIFACT else None
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            continue
        held = seen.setdefault(result.subject, digest)
        if held != digest:
            raise AttestationError(
                f"{result.subject} was read with two different sha256 digests ({held} and "
                f"{digest}) in one session: the file changed while it was checked; run again"
            )
    return dict(sorted(seen.items()))


def gate_verdict(cells: Mapping[tuple[RowKind, str, str], Verdict], exit_status: int) -> str:
    """``pass`` only when pytest exited 0 and no cell failed, errored or went unreported."""
    if exit_status != 0 or any(v in _BLOCKING for v in cells.values()):
        return GATE_FAIL
    return GATE_PASS


def build_statement(record: GateRecord) -> dict[str, Any]:
    """The in-toto Statement v1 (a plain dict) the gate signs."""
    from pytest_mlsupply.engines.dsse import STATEMENT_V1
    from pytest_mlsupply.reports.matrix import cell_verdicts, index_results

    cells = cell_verdicts(record.plan, record.results, record.threshold)
    indexed = index_results(record.results, record.threshold)
    items = []
    for (kind, subject, check), verdict in sorted(cells.items()):
        result = indexed.get((kind, subject, check))
        entry: dict[str, Any] = {
            "kind": kind.value,
            "subject": subject,
            "check": check,
            "verdict": verdict.value,
            "rules": sorted({f.rule for f in result.findings}) if result else [],
        }
        if result is not None and result.error is not None:
            entry["error"] = result.error
        accepted = [
            {"rule": f.rule, "location": f.location.to_dict(), **f.accepted.to_dict()}
            for f in (result.findings if result is not None else ())
            if f.accepted is not None
        ]
        if accepted:
            # What the baseline accepted in this cell: a verifier sees the pass was a decision.
            entry["accepted"] = accepted
        items.append(entry)
    counts = {v.value: sum(1 for c in cells.values() if c is v) for v in Verdict}
    files = model_file_digests(record.results)
    subjects = [{"name": record.bom_name, "digest": {"sha256": record.bom_sha256}}]
    subjects += [
        {"name": name, "digest": {"sha256": digest}}
        for name, digest in sorted(record.extra_subjects.items())
    ]
    subjects += [{"name": name, "digest": {"sha256": digest}} for name, digest in files.items()]
    stamp = (record.time or datetime.now(UTC)).replace(microsecond=0)
    return {
        "_type": STATEMENT_V1,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "tool": {"name": "pytest-mlsupply", "version": __version__},
            "timestamp": stamp.isoformat().replace("+00:00", "Z"),
            "gate": {
                "verdict": gate_verdict(cells, record.exit_status),
                "exitStatus": record.exit_status,
                "threshold": record.threshold.label,
                "manifestThreshold": (record.manifest_threshold or record.threshold).label,
                "counts": counts,
            },
            "bom": {"name": record.bom_name, "sha256": record.bom_sha256},
            "modelFiles": sorted(files),
            "manifest": {"name": record.manifest_name, "sha256": record.manifest_sha256},
            "declaredNotChecked": [dict(declared) for declared in record.declared_not_checked],
            "policy": _jsonable(record.policy),
            "items": items,
            **({"baseline": dict(record.baseline)} if record.baseline is not None else {}),
        },
    }


def _jsonable(value: Any) -> Any:
    """The policy dataclass as JSON builtins (severities by label, paths and tuples as text
    and lists), so the predicate holds exactly the policy that was in force."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.IntEnum) and hasattr(value, "label"):
        return value.label
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, PurePath):
        return str(value)
    return value


def sign(statement: Mapping[str, Any], signer: AttestSigner) -> bytes:
    """The bytes to write: a DSSE envelope (key mode) or a Sigstore bundle (sigstore mode)."""
    from pytest_mlsupply.engines.dsse import DsseError, sign_statement

    if signer.mode == SIGSTORE:
        return _sign_sigstore(statement)
    if signer.signer is None:  # pragma: no cover - load_attest_signer always sets it
        raise AttestationError("no signing key loaded")
    try:
        return sign_statement(statement, [signer.signer])
    except DsseError as exc:
        raise AttestationError(f"cannot sign the attestation: {exc}") from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_output(bom: Path, mode: str) -> Path:
    """Beside the BOM: ``<bom>.intoto.json`` (a DSSE envelope) or ``<bom>.sigstore.json``."""
    suffix = ".sigstore.json" if mode == SIGSTORE else ".intoto.json"
    return bom.with_name(bom.name + suffix)


# -- Sigstore (keyless) ---------------------------------------------------------------------------


def _sigstore_identity(origin: str) -> str:
    """The CI's ambient OIDC identity token, or an error saying there is none."""
    from sigstore.oidc import IdentityError, detect_credential

    try:
        token = detect_credential()
    except IdentityError as exc:
        raise AttestationError(
            f"{origin} {SIGSTORE}: cannot obtain an OIDC identity token for Sigstore: {exc}"
        ) from None
    if not token:
        raise AttestationError(
            f"{origin} {SIGSTORE}: no ambient OIDC identity token was found, so Sigstore "
            "cannot issue a signing certificate (offline, or not in a CI that provides one: "
            "on GitHub Actions grant `permissions: id-token: write`); sign with a key instead: "
            "--mlsupply-attest PATH/TO/KEY.pem"
        )
    from sigstore.oidc import IdentityToken

    try:
        IdentityToken(token)  # expired or malformed: say so now, not after the session
    except IdentityError as exc:
        raise AttestationError(
            f"{origin} {SIGSTORE}: the ambient OIDC identity token is unusable: {exc}"
        ) from None
    return token


def _sign_sigstore(statement: Mapping[str, Any]) -> bytes:
    """Sign keylessly: Fulcio certificate for the ambient identity, Rekor log entry."""
    import json

    from sigstore.dsse import Statement
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken
    from sigstore.sign import SigningContext

    token = _sigstore_identity("--mlsupply-attest")
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    try:
        context = SigningContext.from_trust_config(ClientTrustConfig.production())
        with context.signer(IdentityToken(token)) as signer:
            bundle = signer.sign_dsse(Statement(payload))
    except Exception as exc:  # network, Fulcio or Rekor refusal: all mean no attestation
        raise AttestationError(
            f"Sigstore signing failed, so no attestation was written: {type(exc).__name__}: "
            f"{exc} (Fulcio and Rekor must be reachable; offline, sign with a key)"
        ) from None
    return bundle.to_json().encode() + b"\n"
