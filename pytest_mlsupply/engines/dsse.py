"""DSSE envelopes holding in-toto statements: the one reader, verifier and signer.

Every attestation the tool reads (``provenance[<model>::attestation]``) or writes (the gate's own
``--mlsupply-attest``, checked by ``mlsupply verify``) goes through this module, so an envelope
and its statement are parsed by one piece of code.

Cryptography is securesystemslib's (``dsse.Envelope``, ``signer.SSlibKey`` / ``CryptoSigner``):
ECDSA P-256/384/521, RSA (PSS and PKCS#1 v1.5, SHA-256/384/512: a PEM key names no scheme, so
each is tried, and the key still counts once) and Ed25519 keys. What this module adds is the
strictness a gate needs around it:

- the envelope is bounded in size, JSON with no duplicate keys and no lone surrogates, standard
  or URL-safe base64, and its ``payloadType`` is in-toto's;
- the statement is an in-toto Statement (v1, or the older v0.1 ``_type``) with at least one
  subject, and every subject digest is lower-case hex of the length its algorithm implies;
- the threshold counts *distinct* keys: declared keys are deduplicated by key material (the
  securesystemslib key id is a hash of it), and a signature only counts for the key that made it.
  A signature whose ``keyid`` is empty or foreign (cosign, witness and others write their own)
  is still tried against every declared key, so interoperable envelopes verify; it never counts
  twice.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from securesystemslib import dsse
from securesystemslib.exceptions import UnverifiedSignatureError, VerificationError
from securesystemslib.signer import CryptoSigner, Key, Signature, SSlibKey

from pytest_mlsupply.engines import strict_json

__all__ = [
    "IN_TOTO_PAYLOAD_TYPE",
    "MAX_ENVELOPE_BYTES",
    "STATEMENT_V1",
    "DsseError",
    "Envelope",
    "Statement",
    "Subject",
    "Verified",
    "distinct_keys",
    "load_public_key",
    "load_signer",
    "read_envelope",
    "read_statement",
    "sign_statement",
    "verify",
]

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
_STATEMENT_TYPES = frozenset({STATEMENT_V1, "https://in-toto.io/Statement/v0.1"})
MAX_ENVELOPE_BYTES = 64 * 1024 * 1024
"""An attestation names digests, not content: anything larger is not one (and is not read)."""

_DIGEST_LENGTHS = {
    "sha256": 64,
    "sha384": 96,
    "sha512": 128,
    "sha3-256": 64,
    "sha3-384": 96,
    "sha3-512": 128,
    "sha224": 56,
    "sha512_224": 56,
    "sha512_256": 64,
    "sha1": 40,
    "gitcommit": 40,
    "gittree": 40,
    "gitblob": 40,
}
"""Hex digest lengths of the in-toto digest-set algorithms we can check (others are kept as
strings; a subject needs at least one digest we can check to be matched to a file)."""
_HEX = re.compile(r"[0-9a-f]+")
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class DsseError(Exception):
    """An envelope or statement that cannot be read, or that does not verify.

    The message names the cause in words a release engineer can act on."""


def _strict_json(data: bytes, what: str) -> Any:
    try:
        return strict_json.loads(data)
    except strict_json.StrictJsonError as exc:
        raise DsseError(f"{what}: {exc}") from None


def _b64decode(value: str, what: str) -> bytes:
    """Standard or URL-safe base64 (the DSSE spec accepts either), padded or not; nothing else."""
    alphabet = _B64 if _B64.fullmatch(value) else _B64URL if _B64URL.fullmatch(value) else None
    if alphabet is None:
        raise DsseError(f"{what} is not base64")
    padded = value + "=" * (-len(value) % 4)
    try:
        if alphabet is _B64:
            return base64.b64decode(padded, validate=True)
        return base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        raise DsseError(f"{what} is not base64") from None


@dataclass(frozen=True)
class Subject:
    """One artifact an in-toto statement speaks for."""

    name: str
    digests: Mapping[str, str]
    """Algorithm (lower case, in-toto's names: ``sha256``, ``sha512`` …) → lower-case hex."""


@dataclass(frozen=True)
class Statement:
    """An in-toto statement, as signed."""

    type: str
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any]
    payload: bytes
    """The exact signed bytes (what a deploy step hashes or re-reads)."""


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope as read: the payload is not trusted until :func:`verify` says so."""

    payload_type: str
    payload: bytes
    signatures: tuple[tuple[str, bytes], ...]
    """(keyid as written — possibly empty —, raw signature bytes)."""
    source: str


@dataclass(frozen=True)
class Verified:
    """An envelope whose signatures met the threshold, and the statement it carries."""

    statement: Statement
    keyids: tuple[str, ...]
    """The securesystemslib key ids of the distinct declared keys whose signature verified."""


def read_envelope(data: bytes, *, source: str) -> Envelope:
    """Parse a DSSE envelope (JSON). ``source`` names the file in every error."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise DsseError(
            f"{source}: {len(data)} bytes is larger than any attestation "
            f"(limit {MAX_ENVELOPE_BYTES} bytes)"
        )
    document = _strict_json(data, source)
    if not isinstance(document, dict):
        raise DsseError(f"{source}: a DSSE envelope is a JSON object, not {_kind(document)}")
    if "dsseEnvelope" in document and "payload" not in document:
        raise DsseError(
            f"{source} is a Sigstore bundle, not a bare DSSE envelope (keyless Sigstore "
            "signatures are not read here: extract the bundle's `dsseEnvelope` and declare the "
            "signing certificate's key)"
        )
    payload_type = document.get("payloadType")
    payload = document.get("payload")
    signatures = document.get("signatures")
    if not isinstance(payload_type, str) or not isinstance(payload, str):
        raise DsseError(
            f"{source}: not a DSSE envelope (it needs string `payloadType` and `payload` keys)"
        )
    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise DsseError(
            f"{source}: payloadType is {payload_type!r}, not in-toto's {IN_TOTO_PAYLOAD_TYPE!r}"
        )
    if not isinstance(signatures, list) or not signatures:
        raise DsseError(f"{source}: the envelope carries no signatures")
    sigs: list[tuple[str, bytes]] = []
    for i, entry in enumerate(signatures):
        if not isinstance(entry, dict) or not isinstance(entry.get("sig"), str):
            raise DsseError(f"{source}: signatures[{i}] has no string `sig`")
        keyid = entry.get("keyid", "")
        if not isinstance(keyid, str):
            raise DsseError(f"{source}: signatures[{i}].keyid is not a string")
        sigs.append((keyid, _b64decode(entry["sig"], f"{source}: signatures[{i}].sig")))
    return Envelope(
        payload_type=payload_type,
        payload=_b64decode(payload, f"{source}: payload"),
        signatures=tuple(sigs),
        source=source,
    )


def read_statement(payload: bytes, *, source: str) -> Statement:
    """Parse the in-toto statement an envelope carries."""
    document = _strict_json(payload, f"{source}: payload")
    if not isinstance(document, dict):
        raise DsseError(f"{source}: the payload is {_kind(document)}, not an in-toto statement")
    kind = document.get("_type")
    if kind not in _STATEMENT_TYPES:
        raise DsseError(
            f"{source}: the payload's _type is {kind!r}, not an in-toto Statement "
            f"({STATEMENT_V1!r})"
        )
    raw_subjects = document.get("subject")
    if not isinstance(raw_subjects, list) or not raw_subjects:
        raise DsseError(f"{source}: the statement names no subject")
    subjects = []
    for i, raw in enumerate(raw_subjects):
        subjects.append(_subject(raw, f"{source}: subject[{i}]"))
    predicate_type = document.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise DsseError(f"{source}: the statement has no predicateType")
    predicate = document.get("predicate", {})
    if not isinstance(predicate, dict):
        raise DsseError(f"{source}: the predicate is {_kind(predicate)}, not an object")
    return Statement(
        type=str(kind),
        subjects=tuple(subjects),
        predicate_type=predicate_type,
        predicate=predicate,
        payload=payload,
    )


def _subject(raw: object, where: str) -> Subject:
    if not isinstance(raw, dict):
        raise DsseError(f"{where} is {_kind(raw)}, not an object")
    name = raw.get("name", "")
    digest = raw.get("digest")
    if not isinstance(name, str):
        raise DsseError(f"{where}.name is not a string")
    if not isinstance(digest, dict) or not digest:
        raise DsseError(f"{where} ({name!r}) has no digest")
    digests: dict[str, str] = {}
    for algorithm, value in digest.items():
        if not isinstance(value, str) or not value:
            raise DsseError(f"{where}.digest.{algorithm} is not a (non-empty) string")
        algorithm_key = algorithm.lower()
        if algorithm_key in digests:
            raise DsseError(f"{where} ({name!r}) names {algorithm_key} twice (in two cases)")
        expected = _DIGEST_LENGTHS.get(algorithm_key)
        if expected is not None and (not _HEX.fullmatch(value) or len(value) != expected):
            raise DsseError(
                f"{where} ({name!r}): {algorithm} digest {value!r} is not {expected} "
                "lower-case hex digits"
            )
        digests[algorithm_key] = value
    return Subject(name=name, digests=digests)


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else "a scalar"


def load_public_key(path: Path) -> Key:
    """A PEM public key (EC P-256/384/521, RSA, Ed25519) or a certificate's key, as a
    securesystemslib key. Its key id is a hash of the key material, so the same key loaded from
    two files is one key."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DsseError(f"{path}: cannot read the key ({exc.strerror})") from None
    public: object
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            public = x509.load_pem_x509_certificate(data).public_key()
        else:
            public = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise DsseError(f"{path}: not a PEM public key or certificate ({exc})") from None
    if not isinstance(
        public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
    ):
        raise DsseError(
            f"{path}: a {type(public).__name__} is not supported; use an EC (P-256/384/521), "
            "RSA or Ed25519 key"
        )
    try:
        return SSlibKey.from_crypto(public)
    except ValueError as exc:
        raise DsseError(f"{path}: {exc}") from None


def load_signer(path: Path, password: bytes | None = None) -> CryptoSigner:
    """A PEM private key (PKCS#8 or traditional; encrypted with ``password``) as a signer."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DsseError(f"{path}: cannot read the private key ({exc.strerror})") from None
    try:
        private = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        raise DsseError(f"{path}: {exc} (set the key's password)") from None
    except ValueError as exc:
        raise DsseError(f"{path}: not a PEM private key, or a wrong password ({exc})") from None
    if not isinstance(
        private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise DsseError(
            f"{path}: a {type(private).__name__} is not supported; use an EC, RSA or Ed25519 key"
        )
    return CryptoSigner(private)


def distinct_keys(keys: Iterable[Key]) -> list[Key]:
    """Declared keys with duplicates (same key material) removed, first occurrence kept."""
    out: dict[str, Key] = {}
    for key in keys:
        out.setdefault(key.keyid, key)
    return list(out.values())


_RSA_SCHEMES = tuple(
    f"{padding}-{digest}"
    for padding in ("rsassa-pss", "rsa-pkcs1v15")
    for digest in ("sha256", "sha384", "sha512")
)
"""The RSA signature schemes an envelope may use: a key file names no scheme, and builders sign
with either padding (securesystemslib's default is PSS; cosign and others write PKCS#1 v1.5)."""


def _verifies(key: Key, sig: bytes, pae: bytes) -> bool:
    """Whether ``sig`` is ``key``'s signature over ``pae``, in any scheme the key's type has."""
    variants = [key]
    if key.keytype == "rsa" and isinstance(key, SSlibKey):
        variants += [
            SSlibKey(key.keyid, key.keytype, scheme, dict(key.keyval))
            for scheme in _RSA_SCHEMES
            if scheme != key.scheme
        ]
    for variant in variants:
        try:
            variant.verify_signature(Signature(key.keyid, sig.hex()), pae)
        except (UnverifiedSignatureError, VerificationError):
            continue
        return True
    return False


def verify(envelope: Envelope, keys: Sequence[Key], threshold: int) -> Verified:
    """Check that at least ``threshold`` distinct ``keys`` signed the envelope, then parse its
    statement. Raises :class:`DsseError` naming how many valid signatures were found."""
    unique = distinct_keys(keys)
    if threshold < 1:
        raise DsseError(f"threshold {threshold} must be at least 1")
    if threshold > len(unique):
        raise DsseError(
            f"threshold {threshold} needs at least {threshold} distinct keys; "
            f"{len(unique)} declared (the same key in two files counts once)"
        )
    pae = dsse.Envelope(envelope.payload, envelope.payload_type, {}).pae()
    accepted: dict[str, Key] = {}
    for keyid, sig in envelope.signatures:
        # A keyid naming a declared key is tried first; an empty or foreign one against all.
        named = [key for key in unique if key.keyid == keyid]
        candidates = named or [key for key in unique if key.keyid not in accepted]
        for key in candidates:
            if key.keyid in accepted:
                continue
            if not _verifies(key, sig, pae):
                continue
            # One key counts once, whatever scheme or encoding its signatures use.
            accepted[key.keyid] = key
            break
    if len(accepted) < threshold:
        raise DsseError(
            f"{envelope.source}: {len(accepted)} of the {len(envelope.signatures)} signatures "
            f"verified with the declared keys; {threshold} required"
        )
    statement = read_statement(envelope.payload, source=envelope.source)
    return Verified(statement=statement, keyids=tuple(accepted))


def sign_statement(statement: Mapping[str, Any], signers: Sequence[CryptoSigner]) -> bytes:
    """A DSSE envelope (JSON bytes) over an in-toto statement, signed by every signer."""
    if not signers:
        raise DsseError("no signing key given")
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    # The statement we sign must be one our reader accepts: nothing is written that
    # `mlsupply verify` would later refuse.
    read_statement(payload, source="the statement to sign")
    envelope = dsse.Envelope(payload, IN_TOTO_PAYLOAD_TYPE, {})
    for signer in signers:
        envelope.sign(signer)
    return json.dumps(envelope.to_dict(), indent=2, sort_keys=True).encode() + b"\n"
