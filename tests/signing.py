"""Keys, a small CA and model-signing bundles made in the test: nothing is fetched or committed."""

from __future__ import annotations

import base64
import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from tests.conftest import write_model

if TYPE_CHECKING:
    from model_signing import hashing

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def write_signed_model_files(directory: Path, *, seed: int = 0) -> Path:
    """The conftest's tiny safetensors model plus a tokenizer.json, as a release ships it."""
    write_model(directory, seed=seed)
    (directory / "tokenizer.json").write_text(
        json.dumps({"version": "1.0", "model": {"type": "WordLevel", "vocab": {"good": 0}}})
    )
    return directory


def write_key(directory: Path, name: str, key: PrivateKey) -> tuple[Path, Path]:
    """(private PEM, public PEM) for ``key`` under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / f"{name}.key"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = directory / f"{name}.pub"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _hashing(
    signature_name: str, *, allow_symlinks: bool = False, ignore: tuple[str, ...] = ()
) -> hashing.Config:
    # Imported here: model-signing 1.1.1 needs pyOpenSSL, which a test module marks as needed.
    from model_signing import hashing

    # The bundle lives in the model directory: it cannot sign itself.
    return (
        hashing.Config()
        .set_ignored_paths(paths=[signature_name, *ignore])
        .set_allow_symlinks(allow_symlinks)
    )


def sign_with_key(
    model: Path,
    private_key: Path,
    signature: Path | None = None,
    *,
    allow_symlinks: bool = False,
    ignore: tuple[str, ...] = (),
) -> Path:
    """``ignore``: more paths the signer excludes (recorded in the signed manifest)."""
    from model_signing import signing

    signature = signature or model / "model.sig"
    signing.Config().use_elliptic_key_signer(private_key=private_key).set_hashing_config(
        _hashing(signature.name, allow_symlinks=allow_symlinks, ignore=ignore)
    ).sign(model, signature)
    return signature


@dataclass
class Authority:
    """root → intermediate → leaf, as PEM files; the leaf signs."""

    root: Path
    intermediate: Path
    leaf: Path
    leaf_key: Path

    @property
    def chain(self) -> list[Path]:
        return [self.root, self.intermediate]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str,
    key: PrivateKey,
    issuer: str,
    issuer_key: PrivateKey,
    *,
    ca: bool,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    purposes: list[x509.ObjectIdentifier] | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if purposes is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(purposes), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_authority(
    directory: Path,
    name: str = "acme",
    *,
    leaf_expired: bool = False,
    intermediate_expired: bool = False,
    leaf_purposes: list[x509.ObjectIdentifier] | None = None,
    rsa_authority: bool = False,
    rsa_leaf: bool = False,
) -> Authority:
    """A root, an intermediate and a release signer's leaf. ``intermediate_expired``: the
    intermediate's validity ended a month ago, and its (retired) key issued a leaf dated back
    into that validity that is valid for years to come. ``rsa_authority``: the root and the
    intermediate have RSA keys; ``rsa_leaf``: the signer has one (elliptic curve otherwise)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    long_ago, far = now - datetime.timedelta(days=3650), now + datetime.timedelta(days=3650)
    root_key, inter_key = (rsa_key(), rsa_key()) if rsa_authority else (ec_key(), ec_key())
    leaf_key = rsa_key() if rsa_leaf else ec_key()
    root = _certificate(
        f"{name} root", root_key, f"{name} root", root_key,
        ca=True, not_before=long_ago, not_after=far,
    )  # fmt: skip
    inter = _certificate(
        f"{name} intermediate", inter_key, f"{name} root", root_key,
        ca=True, not_before=long_ago,
        not_after=now - datetime.timedelta(days=30) if intermediate_expired else far,
    )  # fmt: skip
    leaf_start = now - datetime.timedelta(days=400 if leaf_expired or intermediate_expired else 1)
    leaf_end = now - datetime.timedelta(days=30) if leaf_expired else far
    leaf = _certificate(
        f"{name} release signer", leaf_key, f"{name} intermediate", inter_key,
        ca=False, not_before=leaf_start, not_after=leaf_end, purposes=leaf_purposes,
    )  # fmt: skip
    paths = []
    for label, cert in (("root", root), ("intermediate", inter), ("leaf", leaf)):
        path = directory / f"{name}-{label}.pem"
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths.append(path)
    private, _ = write_key(directory, f"{name}-leaf", leaf_key)
    return Authority(root=paths[0], intermediate=paths[1], leaf=paths[2], leaf_key=private)


def sign_with_certificate(model: Path, authority: Authority) -> Path:
    from model_signing import signing

    signature = model / "model.sig"
    signing.Config().use_certificate_signer(
        private_key=authority.leaf_key,
        signing_certificate=authority.leaf,
        certificate_chain=[authority.intermediate, authority.root],
    ).set_hashing_config(_hashing(signature.name)).sign(model, signature)
    return signature


def sign_with_rsa_certificate(model: Path, authority: Authority, scratch: Path) -> Path:
    """The bundle a signer holding an RSA certificate (``make_authority(rsa_leaf=True)``) makes.

    model-signing 1.1.1 cannot sign with RSA, so the statement is signed first under a
    throwaway EC authority; then the RSA leaf and its chain replace that chain, and the RSA key
    signs the same DSSE payload (PKCS#1 v1.5, SHA-256): a bundle that is valid for its RSA key.
    """
    from model_signing._signing.sign_sigstore_pb import pae

    signature = sign_with_certificate(model, make_authority(scratch, "throwaway"))
    bundle = json.loads(signature.read_text())
    key = serialization.load_pem_private_key(authority.leaf_key.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    envelope = bundle["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"])
    envelope["signatures"] = [
        {"sig": base64.b64encode(
            key.sign(pae(payload), padding.PKCS1v15(), hashes.SHA256())
        ).decode()}
    ]  # fmt: skip
    chain = [authority.leaf, authority.intermediate, authority.root]
    bundle["verificationMaterial"]["x509CertificateChain"]["certificates"] = [
        {"rawBytes": base64.b64encode(
            x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(
                serialization.Encoding.DER
            )
        ).decode()}
        for path in chain
    ]  # fmt: skip
    signature.write_text(json.dumps(bundle))
    return signature
