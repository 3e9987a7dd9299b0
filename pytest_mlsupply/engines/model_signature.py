"""Verifying a model directory against an OpenSSF model-signing bundle: the one adapter.

model-signing's public API (``verifying.Config``) verifies the bundle and then compares the
model with the signed manifest, but a mismatch arrives as one ``ValueError`` whose text lists
the differences. To name each changed, missing or unsigned file as its own finding, this module
reaches into private attributes after a mismatch (the configured verifier, to get the signed
manifest back, and the hashing configuration that ``verify`` completed, to hash the model the
same way) and into the bundle's certificate chain. Those are the only private uses; a new
model-signing release that moves them breaks this module alone.

Files the signature never covers (model-signing's own rules, plus ours): the signature file
itself when it lies inside the model directory, ``.git/``, ``.github/``, ``.gitattributes``,
``.gitignore``. A file on disk that only the signer's recorded ``ignore_paths`` excluded is
reported unsigned, as is a symlinked directory in a Hub snapshot (model-signing hashes neither).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model_signing import verifying

__all__ = ["Mismatch", "SetupError", "Verification", "verify"]


class SetupError(Exception):
    """The verifier could not be configured (an unsupported key, an unreadable trust file)."""


@dataclass(frozen=True)
class Mismatch:
    """One file where the model on disk differs from what was signed."""

    kind: str
    """``changed`` (different bytes), ``missing`` (signed, not on disk) or ``unsigned`` (on disk,
    not covered by the signature)."""
    file: str
    """The path relative to the model directory, as the signed manifest names it."""
    expected: str | None = None
    actual: str | None = None


@dataclass
class Verification:
    """What verifying a bundle established."""

    signature_error: str | None = None
    """Why the bundle itself did not verify (wrong key, broken chain, unreadable bundle)."""
    mismatches: list[Mismatch] = field(default_factory=list)
    leaf_certificate: bytes | None = None
    """The DER signing certificate carried by a certificate-mode bundle."""

    @property
    def verified(self) -> bool:
        return self.signature_error is None and not self.mismatches


def _config(
    mode: str,
    *,
    public_key: Path | None,
    certificate_chain: tuple[Path, ...],
    identity: str | None,
    issuer: str | None,
    trust_config: Path | None,
) -> verifying.Config:
    try:
        # Imported here: model-signing 1.1.1 imports pyOpenSSL without declaring it, and a
        # missing module must fail this claim with a message, not the whole plugin's import.
        from model_signing import verifying
    except ImportError as exc:
        raise SetupError(
            f"the model-signing library cannot be imported ({exc}); install model-signing>=1.1.1 "
            "and pyOpenSSL"
        ) from exc
    config = verifying.Config()  # type: ignore[no-untyped-call]
    try:
        if mode == "public-key":
            assert public_key is not None
            _require_elliptic_curve(_public_key(public_key), f"{public_key.name} holds")
            return config.use_elliptic_key_verifier(public_key=public_key)
        if mode == "certificate":
            if not certificate_chain:
                # model-signing would fall back to the system's web CAs: not a release policy.
                raise SetupError("no certificate_chain to verify the signing certificate against")
            return config.use_certificate_verifier(certificate_chain=list(certificate_chain))
        assert identity is not None
        assert issuer is not None
        if trust_config is None:
            # Without a trust configuration sigstore fetches the public-good trusted root over
            # TUF: a network call a gate must not make behind the user's back.
            raise SetupError(
                "Sigstore verification offline needs `trust_config:` (a ClientTrustConfig JSON "
                "holding the trusted root); without it model-signing would fetch the root from "
                "the Sigstore TUF repository over the network"
            )
        return config.use_sigstore_verifier(
            identity=identity, oidc_issuer=issuer, trust_config=trust_config
        )
    except SetupError:
        raise
    except Exception as exc:  # model-signing and sigstore raise many types; all mean "cannot"
        raise SetupError(f"{type(exc).__name__}: {exc}") from exc


def verify(
    model_root: Path,
    signature: Path,
    mode: str,
    *,
    public_key: Path | None = None,
    certificate_chain: tuple[Path, ...] = (),
    identity: str | None = None,
    issuer: str | None = None,
    trust_config: Path | None = None,
    allow_symlinks: bool = False,
) -> Verification:
    """Verify ``model_root`` against the bundle ``signature``; raises :class:`SetupError`.

    ``allow_symlinks``: a Hugging Face snapshot is a tree of symlinks into the cache's blobs, so
    Hub models are hashed through them; a local model with a symlink fails to verify."""
    config = _config(
        mode,
        public_key=public_key,
        certificate_chain=certificate_chain,
        identity=identity,
        issuer=issuer,
        trust_config=trust_config,
    )

    ignored: list[Path] = []
    # The bundle inside the model cannot sign itself; one outside it needs no exclusion.
    if signature.resolve().is_relative_to(model_root.resolve()):
        ignored.append(signature.resolve().relative_to(model_root.resolve()))
    hash_config = _hashing_as_signed(config, signature)
    config.set_hashing_config(
        hash_config.set_ignored_paths(paths=ignored).set_allow_symlinks(allow_symlinks)
    )
    out = Verification(
        leaf_certificate=_leaf_certificate(signature) if mode == "certificate" else None
    )
    if out.leaf_certificate is not None:
        _require_elliptic_curve(
            _certificate_key(out.leaf_certificate), "the bundle's signing certificate holds"
        )
    try:
        config.verify(model_root, signature)
    except ValueError as exc:
        if not str(exc).startswith("Signature mismatch"):
            out.signature_error = _describe(exc)
            return out
        out.mismatches = _mismatches(config, model_root, signature)
        if not out.mismatches:  # never a pass on a mismatch we could not itemise
            out.signature_error = str(exc)
    except OSError as exc:
        # Unreadable files or a network call (sigstore looking something up): the signature
        # was not checked, so the item errors rather than reporting a verdict.
        raise SetupError(f"verification could not complete offline: {_describe(exc)}") from exc
    except Exception as exc:  # a broken bundle, a bad chain, an invalid signature: all fail
        out.signature_error = _describe(exc)
    if out.signature_error is None:
        out.mismatches += _signer_excluded(config, model_root, signature, ignored)
    if allow_symlinks and out.signature_error is None:
        # model-signing neither descends into a linked directory nor reports it, so the files
        # behind it were never hashed. A Hub snapshot links files, not directories.
        out.mismatches += [Mismatch("unsigned", name) for name in _linked_directories(model_root)]
    return out


_GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")

_CURVES = "P-256, P-384, P-521"


def _public_key(path: Path) -> object:
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SetupError(f"{path.name} is not a readable PEM public key: {exc}") from exc


def _certificate_key(der: bytes) -> object:
    from cryptography import x509

    try:
        return x509.load_der_x509_certificate(der).public_key()
    except Exception:  # an unreadable certificate or key: the verification itself reports it
        return None


def _require_elliptic_curve(key: object, holder: str) -> None:
    """model-signing 1.1.1 verifies ECDSA only: it would fail an RSA key with an
    ``AttributeError`` about curves, which says nothing to the user. Raises :class:`SetupError`
    naming the key type and the fix; an unreadable key (None) is left to the verifier."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

    kinds = {rsa.RSAPublicKey: "an RSA", ed25519.Ed25519PublicKey: "an Ed25519",
             ed448.Ed448PublicKey: "an Ed448"}  # fmt: skip
    if key is None or isinstance(key, ec.EllipticCurvePublicKey):
        return
    kind = next((name for cls, name in kinds.items() if isinstance(key, cls)), "a non-EC")
    raise SetupError(
        f"{holder} {kind} key, which is unsupported: model-signing 1.1.1 signs and verifies "
        f"with elliptic-curve keys only ({_CURVES}); sign the model with an EC key (and, for "
        "a certificate, have it issued for that key), then declare the matching public key or "
        "chain"
    )


def _signer_excluded(
    config: verifying.Config, model_root: Path, signature: Path, ours: list[Path]
) -> list[Mismatch]:
    """Files on disk that only the signer's recorded ``ignore_paths`` kept out of the check.

    model-signing honours whatever the signed manifest excludes (``.`` excludes everything: a
    bundle that signs nothing then verifies any model). The user declared a signer, not its
    exclusions, so an excluded file on disk is unsigned. Kept: the git paths and other
    signature bundles (``*.sig``), which no loader reads."""
    from model_signing._serialization.serialization import should_ignore

    expected = _expected_manifest(config, signature)
    recorded = [Path(p) for p in expected.serialization_type.get("ignore_paths", ())]
    theirs = [
        model_root / p
        for p in recorded
        if p not in ours and str(p) not in _GIT_PATHS and not p.name.endswith(".sig")
    ]
    if not theirs:
        return []
    own = [model_root / p for p in ours] + [model_root / p for p in _GIT_PATHS]
    out = []
    for here, _dirs, files in os.walk(model_root):  # as model-signing walks: links not followed
        for name in files:
            path = Path(here, name)
            if should_ignore(path, theirs) and not should_ignore(path, own):
                out.append(Mismatch("unsigned", path.relative_to(model_root).as_posix()))
    return sorted(out, key=lambda m: m.file)


def _expected_manifest(config: verifying.Config, signature: Path) -> Any:
    from model_signing._signing import sign_sigstore, sign_sigstore_pb

    # Private: see the module docstring.
    verifier: Any = config._verifier
    reader: Any = sign_sigstore.Signature if config._uses_sigstore else sign_sigstore_pb.Signature
    return verifier.verify(reader.read(signature))


def _linked_directories(model_root: Path) -> list[str]:
    found = []
    for here, dirs, _files in os.walk(model_root):  # does not follow links
        for name in dirs:
            path = Path(here, name)
            if path.is_symlink():
                found.append(path.relative_to(model_root).as_posix())
    return sorted(found)


def _describe(exc: Exception) -> str:
    # cryptography's InvalidSignature carries no text: say what it means.
    text = str(exc).strip() or "the signature does not match the signed payload for this key"
    return f"{type(exc).__name__}: {text}"


def _hashing_as_signed(config: verifying.Config, signature: Path) -> Any:
    """A hashing configuration with the signed manifest's method and algorithm (files or
    shards; sha256, blake2 or blake3: all that model-signing writes), so a model signed with
    another than the default is not reported as changed. Exclusions and symlinks stay ours."""
    from model_signing import hashing

    try:
        args = _expected_manifest(config, signature).serialization_type
        # The manifest records the digest's name; blake2 is recorded as "blake2b".
        algorithm = {"blake2b": "blake2"}.get(args["hash_type"], args["hash_type"])
        hash_config: Any = hashing.Config()  # type: ignore[no-untyped-call]
        if args["method"] == "shards":
            hash_config.use_shard_serialization(
                hashing_algorithm=algorithm, shard_size=int(args["shard_size"])
            )
        else:
            hash_config.use_file_serialization(hashing_algorithm=algorithm)
    except Exception:  # verify() reports an unreadable or untrusted bundle; the default
        # hashing then reports a manifest it cannot reproduce as a mismatch: never a pass.
        return hashing.Config()  # type: ignore[no-untyped-call]
    return hash_config


def _mismatches(config: verifying.Config, model_root: Path, signature: Path) -> list[Mismatch]:
    expected = _expected_manifest(config, signature)
    hasher: Any = config._hashing_config  # completed by verify() (the signed ignore_paths)
    actual = hasher.hash(model_root)
    want = _by_file(expected)
    have = _by_file(actual)
    out = [Mismatch("unsigned", name) for name in sorted(have.keys() - want.keys())]
    out += [Mismatch("missing", name) for name in sorted(want.keys() - have.keys())]
    for name in sorted(want.keys() & have.keys()):
        if want[name] == have[name]:
            continue
        # The first differing entry (the file, or one of its shards) names the digests.
        part = min(p for p in want[name].keys() | have[name].keys()
                   if want[name].get(p) != have[name].get(p))  # fmt: skip
        signed, found = want[name].get(part), have[name].get(part)
        out.append(
            Mismatch(
                "changed",
                name,
                None if signed is None else signed.digest_hex,
                None if found is None else found.digest_hex,
            )
        )
    return out


def _by_file(manifest: Any) -> dict[str, dict[str, Any]]:
    """Each file's entries (one, or one per shard), by manifest identifier."""
    out: dict[str, dict[str, Any]] = {}
    for rd in manifest.resource_descriptors():
        out.setdefault(_file(rd.identifier), {})[rd.identifier] = rd.digest
    return out


def _file(identifier: str) -> str:
    """The file of a manifest entry (shard entries read ``path:start:end``)."""
    head, sep, tail = identifier.rpartition(":")
    if sep and tail.isdigit():
        head2, sep2, mid = head.rpartition(":")
        if sep2 and mid.isdigit():
            return head2
    return identifier


def _leaf_certificate(signature: Path) -> bytes | None:
    from model_signing._signing import sign_sigstore_pb

    try:
        bundle: Any = sign_sigstore_pb.Signature.read(signature).bundle
        raw: bytes = bundle.verification_material.x509_certificate_chain.certificates[0].raw_bytes
    except Exception:  # the verification itself reports the unreadable bundle
        return None
    return raw


def chain_invalid_now(
    signature: Path, certificate_chain: tuple[Path, ...], now: datetime.datetime
) -> str | None:
    """Why the bundle's certificate chain does not verify at ``now``, else None.

    model-signing verifies the chain at the leaf's notBefore, a date the issuer picks: an
    intermediate or root that has since expired (its retired key can mint back-dated leaves)
    still verifies there. Checking again today closes that; it also fails a leaf that has
    expired or is not yet valid."""
    from cryptography import x509
    from model_signing._signing import sign_sigstore_pb
    from OpenSSL import crypto

    try:
        bundle: Any = sign_sigstore_pb.Signature.read(signature).bundle
        raw = [
            c.raw_bytes for c in bundle.verification_material.x509_certificate_chain.certificates
        ]
        store = crypto.X509Store()
        anchors = x509.load_pem_x509_certificates(
            b"".join(p.read_bytes() for p in certificate_chain)
        )
        for anchor in anchors:
            store.add_cert(crypto.X509.from_cryptography(anchor))
        store.set_time(now)
        untrusted = [
            crypto.X509.from_cryptography(x509.load_der_x509_certificate(r)) for r in raw[1:]
        ]
        leaf = crypto.X509.from_cryptography(x509.load_der_x509_certificate(raw[0]))
        crypto.X509StoreContext(store, leaf, untrusted).verify_certificate()
    except Exception as exc:  # fail closed: a chain we cannot re-check is not valid today
        return _describe(exc)
    return None


def expired(der: bytes, now: datetime.datetime) -> datetime.datetime | None:
    """The certificate's end of validity when it is past ``now``, else None."""
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    end = cert.not_valid_after_utc
    return end if end < now else None
