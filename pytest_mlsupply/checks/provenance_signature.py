"""Provenance claim ``signature``: the model's files are exactly the ones its signer signed.

Verified with OpenSSF model-signing (through :mod:`pytest_mlsupply.engines.model_signature`) by
public key, by certificate chain, or by Sigstore identity and issuer. The bundle is
``signature.path`` (relative to the manifest) or ``model.sig`` in the model's directory (a Hub
model's snapshot). The claim is made for models that declare ``signature:``, and for every model
under ``policy.require_signature: true`` (where a model without one fails).
"""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_mlsupply.checks.base import CheckContext, Outcome, ProvenanceCheck
from pytest_mlsupply.engines import model_signature
from pytest_mlsupply.manifest.model import SignatureDecl
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import ResolvedModel

# cryptography's X.509 layer is imported by the run that reads a certificate, not at import:
# a check is imported once planned, and a warm gate runs few of them.
if TYPE_CHECKING:
    from cryptography import x509

DEFAULT_SIGNATURE = "model.sig"

_CWE_INTEGRITY = "CWE-345"
_CWE_SIGNATURE = "CWE-347"


def _finding(
    rule: str,
    severity: Severity,
    title: str,
    file: str,
    evidence: str,
    why: str,
    remediation: str,
    cwe: str,
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        category="provenance",
        title=title,
        location=Location(file=file),
        evidence=evidence,
        why=why,
        remediation=remediation,
        cwe=cwe,
    )


def signature_path(model: ResolvedModel, decl: SignatureDecl) -> Path | None:
    if decl.path is not None:
        return decl.path
    return None if model.root is None else model.root / DEFAULT_SIGNATURE


def run(model: ResolvedModel, ctx: CheckContext) -> Outcome:
    decl = model.decl.signature
    if decl is None:
        return Outcome(
            findings=[
                _finding(
                    "MLS-SIG-001",
                    Severity.HIGH,
                    "model has no signature",
                    model.name,
                    "policy.require_signature is true and the model declares no `signature:`",
                    "without a signature nothing ties these bytes to the people who released "
                    "them; a swapped or tampered model loads just the same",
                    "sign the model with model-signing (`model_signing sign key ...`) and declare "
                    "`signature: {public_key: <PEM>}` (or certificate_chain / identity+issuer)",
                    _CWE_SIGNATURE,
                )
            ]
        )
    if model.error is not None or model.root is None:
        return Outcome(error=model.error or "the model could not be resolved")
    bundle = signature_path(model, decl)
    assert bundle is not None
    # Relative names only: reports stay the same on every checkout.
    shown = bundle.name if decl.path is not None else f"{model.name}/{DEFAULT_SIGNATURE}"
    if not bundle.is_file():
        return Outcome(
            findings=[
                _finding(
                    "MLS-SIG-002",
                    Severity.HIGH,
                    "signature file not found",
                    shown,
                    f"the manifest declares a signature; {shown} does not exist",
                    "a declared signature that is absent proves nothing about the model",
                    f"ship the model-signing bundle as {DEFAULT_SIGNATURE} in the model "
                    "directory, or point `signature.path` at it",
                    _CWE_SIGNATURE,
                )
            ]
        )
    try:
        result = model_signature.verify(
            model.root,
            bundle,
            decl.mode,
            public_key=decl.public_key,
            certificate_chain=decl.certificate_chain,
            identity=decl.identity,
            issuer=decl.issuer,
            trust_config=decl.trust_config,
            allow_symlinks=model.decl.source is not None,
        )
    except model_signature.SetupError as exc:
        return Outcome(error=f"cannot verify the signature of {model.name} ({decl.mode}): {exc}")
    facts: dict[str, object] = {
        "signature": {
            # For the BOM's digital-signature reference: where the bundle is, relative to the
            # manifest when it lies under it (reports stay the same on every checkout).
            "bundle": _relative(bundle, ctx.inventory.manifest.root, shown),
            "sha256": hashlib.sha256(bundle.read_bytes()).hexdigest(),
            "mode": decl.mode,
            "verified": result.verified,
        }
    }
    if result.signature_error is not None:
        return Outcome(
            findings=[
                _finding(
                    "MLS-SIG-003",
                    Severity.CRITICAL,
                    "signature does not verify",
                    shown,
                    f"{decl.mode} verification failed: {result.signature_error}",
                    "the bundle was not made by the declared key, certificate or identity (or "
                    "was altered): the model's origin is unproven",
                    "re-sign the model with the release key, or fix `signature:` to name the "
                    "key, chain or identity that signed it",
                    _CWE_SIGNATURE,
                )
            ],
            facts=facts,
        )
    findings = [_mismatch(model, m) for m in result.mismatches]
    findings += _certificate_findings(model, decl, result.leaf_certificate, bundle, shown)
    return Outcome(findings=findings, facts=facts)


def _relative(path: Path, root: Path, fallback: str) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return fallback


def _mismatch(model: ResolvedModel, m: model_signature.Mismatch) -> Finding:
    where = f"{model.name}/{m.file}"
    if m.kind == "changed":
        return _finding(
            "MLS-SIG-004",
            Severity.CRITICAL,
            f"{m.file} changed since it was signed",
            where,
            f"signed sha256 {m.expected}, on disk {m.actual}",
            "bytes that differ from the signed release may be tampered weights or config",
            "restore the file from the signed release, or re-sign the model after review",
            _CWE_INTEGRITY,
        )
    if m.kind == "missing":
        return _finding(
            "MLS-SIG-005",
            Severity.HIGH,
            f"{m.file} is signed but missing",
            where,
            f"the signature covers {m.file}; it is not in the model directory",
            "an incomplete model is not the release that was signed",
            "restore the file from the signed release",
            _CWE_INTEGRITY,
        )
    return _finding(
        "MLS-SIG-006",
        Severity.HIGH,
        f"{m.file} is not covered by the signature",
        where,
        f"{m.file} is in the model directory but not in the signed manifest",
        "an unsigned file loads with the model (a config, a tokenizer, code) without "
        "anyone having vouched for it",
        "remove the file, or re-sign the model with it included",
        _CWE_INTEGRITY,
    )


def _certificate_findings(
    model: ResolvedModel, decl: SignatureDecl, leaf: bytes | None, bundle: Path, shown: str
) -> list[Finding]:
    from cryptography import x509

    if decl.mode != "certificate" or leaf is None:
        return []
    out = []
    # model-signing checks the chain at the leaf's notBefore (bundles carry no trusted time):
    # an expired leaf still verifies there. Without a timestamp we cannot prove it signed
    # while valid, so expiry is a finding of its own.
    end = model_signature.expired(leaf, datetime.datetime.now(datetime.UTC))
    if end is not None:
        out.append(
            _finding(
                "MLS-SIG-007",
                Severity.HIGH,
                "signing certificate has expired",
                shown,
                f"the signing certificate was valid until {end.isoformat()}",
                "with no trusted timestamp in the bundle nothing proves the model was signed "
                "while the certificate was valid",
                "re-sign the model with a currently valid certificate",
                "CWE-298",
            )
        )
    else:
        problem = model_signature.chain_invalid_now(
            bundle, decl.certificate_chain, datetime.datetime.now(datetime.UTC)
        )
        if problem is not None:
            out.append(
                _finding(
                    "MLS-SIG-007",
                    Severity.HIGH,
                    "signing certificate chain is not valid today",
                    shown,
                    f"the chain verifies only at the leaf's own start date: {problem}",
                    "an expired intermediate or root's retired key can still issue back-dated "
                    "leaves; with no trusted timestamp nothing proves the chain was valid when "
                    "the model was signed",
                    "re-sign the model with a certificate whose whole chain is valid now",
                    "CWE-298",
                )
            )
    purposes = _extended_key_usage(leaf)
    if purposes is not None and not purposes & _signing_purposes():
        # model-signing accepts any leaf with the digitalSignature key usage, which every TLS
        # server certificate has: a CA that also issues those would vouch for any server.
        out.append(
            _finding(
                "MLS-SIG-009",
                Severity.HIGH,
                "signing certificate is not for code signing",
                shown,
                "the signing certificate's extended key usage is limited to "
                + ", ".join(sorted(p.dotted_string for p in purposes)),
                "a certificate issued for another purpose (a TLS server) is not a release "
                "signer, even from the declared chain",
                "sign with a certificate whose extended key usage includes codeSigning",
                _CWE_SIGNATURE,
            )
        )
    if decl.certificate is not None:
        try:
            want = x509.load_pem_x509_certificate(decl.certificate.read_bytes())
            got = x509.load_der_x509_certificate(leaf)
        except (OSError, ValueError) as exc:
            # Fail closed: a pin that cannot be compared is not a match.
            want, got = None, None
            out.append(
                _finding(
                    "MLS-SIG-008",
                    Severity.HIGH,
                    "signed by a different certificate than declared",
                    shown,
                    f"the declared certificate cannot be compared: {exc}",
                    "the release policy names a signer this run could not confirm",
                    "point `signature.certificate` at the signer's PEM certificate",
                    _CWE_SIGNATURE,
                )
            )
        if want is not None and got is not None and want != got:
            out.append(
                _finding(
                    "MLS-SIG-008",
                    Severity.HIGH,
                    "signed by a different certificate than declared",
                    shown,
                    f"declared {want.subject.rfc4514_string()}, bundle holds "
                    f"{got.subject.rfc4514_string()}",
                    "the chain vouches for the signer, but not the one the release policy names",
                    "re-sign with the declared certificate, or update `signature.certificate`",
                    _CWE_SIGNATURE,
                )
            )
    return out


def _signing_purposes() -> frozenset[x509.ObjectIdentifier]:
    """The extended key usages that allow signing code (a model is code to its loader)."""
    from cryptography import x509

    return frozenset(
        {
            x509.oid.ExtendedKeyUsageOID.CODE_SIGNING,
            x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
        }
    )


def _extended_key_usage(leaf: bytes) -> frozenset[x509.ObjectIdentifier] | None:
    """The leaf's extended key usages, or None when it declares none (no restriction)."""
    from cryptography import x509

    try:
        usage = x509.load_der_x509_certificate(leaf).extensions.get_extension_for_class(
            x509.ExtendedKeyUsage
        )
    except x509.ExtensionNotFound:
        return None
    return frozenset(usage.value)


CHECK = ProvenanceCheck(
    name="signature",
    kind=RowKind.PROVENANCE,
    summary="the model's files are exactly those its signer signed (model-signing bundle)",
    run=run,
    # When it applies, and which policy requires it, is its registry line's call.
)
