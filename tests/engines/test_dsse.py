"""The DSSE reader, verifier and signer: envelopes made with real keys, then bent."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from securesystemslib import dsse as sslib_dsse

from pytest_mlsupply.engines import dsse

DIGEST = "ab" * 32


def _statement(**changes: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "_type": dsse.STATEMENT_V1,
        "subject": [{"name": "model.safetensors", "digest": {"sha256": DIGEST}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {"runDetails": {"builder": {"id": "https://ci.example/builder"}}},
    }
    statement.update(changes)
    return statement


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """An EC, an RSA and an Ed25519 key pair as PEM files: name → (private, public)."""
    root = tmp_path_factory.mktemp("keys")
    made = {
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "ec384": ec.generate_private_key(ec.SECP384R1()),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    out = {}
    for name, key in made.items():
        private, public = root / f"{name}.pem", root / f"{name}.pub"
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        out[name] = (private, public)
    return out


def _sign(keys: dict[str, tuple[Path, Path]], *names: str, statement: Any = None) -> bytes:
    signers = [dsse.load_signer(keys[name][0]) for name in names]
    return dsse.sign_statement(statement or _statement(), signers)


def _public(keys: dict[str, tuple[Path, Path]], *names: str) -> list[Any]:
    return [dsse.load_public_key(keys[name][1]) for name in names]


@pytest.mark.parametrize("kind", ["ec", "ec384", "rsa", "ed25519"])
def test_an_envelope_signed_with_each_key_type_verifies_and_yields_its_statement(
    keys: dict[str, tuple[Path, Path]], kind: str
) -> None:
    envelope = dsse.read_envelope(_sign(keys, kind), source="att.json")
    verified = dsse.verify(envelope, _public(keys, kind), 1)
    assert verified.statement.subjects[0].name == "model.safetensors"
    assert verified.statement.subjects[0].digests == {"sha256": DIGEST}
    assert verified.statement.predicate_type == "https://slsa.dev/provenance/v1"
    assert verified.keyids == (_public(keys, kind)[0].keyid,)


def test_what_we_sign_securesystemslib_itself_verifies(keys: dict[str, tuple[Path, Path]]) -> None:
    envelope = sslib_dsse.Envelope.from_dict(json.loads(_sign(keys, "ec", "rsa")))
    accepted = envelope.verify(_public(keys, "ec", "rsa"), 2)
    assert len(accepted) == 2


def test_a_signature_by_an_undeclared_key_does_not_verify(
    keys: dict[str, tuple[Path, Path]],
) -> None:
    envelope = dsse.read_envelope(_sign(keys, "rsa"), source="att.json")
    with pytest.raises(dsse.DsseError, match=r"att\.json: 0 of the 1 signatures verified"):
        dsse.verify(envelope, _public(keys, "ec"), 1)


def test_two_of_three_keys_are_needed_and_one_signature_is_below_the_threshold(
    keys: dict[str, tuple[Path, Path]],
) -> None:
    declared = _public(keys, "ec", "rsa", "ed25519")
    one = dsse.read_envelope(_sign(keys, "ec"), source="one.json")
    with pytest.raises(dsse.DsseError, match=r"1 of the 1 signatures verified.*2 required"):
        dsse.verify(one, declared, 2)
    two = dsse.read_envelope(_sign(keys, "ec", "ed25519"), source="two.json")
    assert len(dsse.verify(two, declared, 2).keyids) == 2


def test_the_same_signature_twice_counts_once(keys: dict[str, tuple[Path, Path]]) -> None:
    document = json.loads(_sign(keys, "ec"))
    document["signatures"] = [document["signatures"][0], {**document["signatures"][0]}]
    document["signatures"][1]["keyid"] = ""  # a second copy that hides which key made it
    envelope = dsse.read_envelope(json.dumps(document).encode(), source="dup.json")
    with pytest.raises(dsse.DsseError, match="1 of the 2 signatures verified"):
        dsse.verify(envelope, _public(keys, "ec", "rsa"), 2)


def test_the_same_key_declared_twice_cannot_meet_a_threshold_of_two(
    keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    copy = tmp_path / "copy.pub"
    copy.write_bytes(keys["ec"][1].read_bytes())
    declared = [dsse.load_public_key(keys["ec"][1]), dsse.load_public_key(copy)]
    envelope = dsse.read_envelope(_sign(keys, "ec"), source="att.json")
    with pytest.raises(dsse.DsseError, match="1 declared"):
        dsse.verify(envelope, declared, 2)


def test_a_signature_without_a_keyid_is_tried_against_every_declared_key(
    keys: dict[str, tuple[Path, Path]],
) -> None:
    document = json.loads(_sign(keys, "ed25519"))
    document["signatures"][0]["keyid"] = ""
    envelope = dsse.read_envelope(json.dumps(document).encode(), source="cosign.json")
    assert dsse.verify(envelope, _public(keys, "ec", "ed25519"), 1).keyids == (
        _public(keys, "ed25519")[0].keyid,
    )


def test_a_tampered_payload_does_not_verify(keys: dict[str, tuple[Path, Path]]) -> None:
    document = json.loads(_sign(keys, "ec"))
    other = _statement(subject=[{"name": "model.safetensors", "digest": {"sha256": "cd" * 32}}])
    document["payload"] = base64.b64encode(json.dumps(other).encode()).decode()
    envelope = dsse.read_envelope(json.dumps(document).encode(), source="att.json")
    with pytest.raises(dsse.DsseError, match="0 of the 1 signatures verified"):
        dsse.verify(envelope, _public(keys, "ec"), 1)


def test_an_envelope_of_another_payload_type_is_refused_before_any_key_is_tried(
    keys: dict[str, tuple[Path, Path]],
) -> None:
    """The payload type is signed too (PAE), but a foreign one is not an attestation at all."""
    document = json.loads(_sign(keys, "ec"))
    document["payloadType"] = "application/json"
    with pytest.raises(dsse.DsseError, match="not in-toto's"):
        dsse.read_envelope(json.dumps(document).encode(), source="att.json")


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda text: text[:-20], "not valid JSON"),
        (lambda text: "[1, 2]", "is a JSON object, not a list"),
        (lambda text: text.replace('"payload"', '"payload": "e30=", "payload"', 1), "duplicate"),
        (lambda text: json.dumps({"dsseEnvelope": {}}), "Sigstore bundle"),
        (lambda text: json.dumps({**json.loads(text), "signatures": []}), "no signatures"),
        (lambda text: json.dumps({**json.loads(text), "payload": "!!"}), "payload is not base64"),
    ],
    ids=["truncated", "a-list", "duplicate-key", "sigstore-bundle", "unsigned", "bad-base64"],
)
def test_an_envelope_that_cannot_be_read_is_an_error_naming_the_file(
    keys: dict[str, tuple[Path, Path]], mangle: Any, message: str
) -> None:
    text = mangle(_sign(keys, "ec").decode())
    with pytest.raises(dsse.DsseError, match=message) as raised:
        dsse.read_envelope(text.encode(), source="release/att.json")
    assert "release/att.json" in str(raised.value)


def test_an_envelope_larger_than_any_attestation_is_refused_unread() -> None:
    with pytest.raises(dsse.DsseError, match="larger than any attestation"):
        dsse.read_envelope(b" " * (dsse.MAX_ENVELOPE_BYTES + 1), source="big.json")


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (_statement(_type="https://example.com/Statement"), "not an in-toto Statement"),
        (_statement(subject=[]), "names no subject"),
        (_statement(subject=[{"name": "m", "digest": {}}]), "has no digest"),
        (_statement(subject=[{"name": "m", "digest": {"shake256": ""}}]), "non-empty"),
        (_statement(subject=[{"name": "m", "digest": {"sha256": "AB" * 32}}]), "lower-case hex"),
        (_statement(subject=[{"name": "m", "digest": {"sha256": "ab" * 31}}]), "64 lower-case"),
        (
            _statement(subject=[{"name": "m", "digest": {"sha256": DIGEST, "SHA256": DIGEST}}]),
            "twice",
        ),
        (_statement(predicateType=""), "no predicateType"),
        (_statement(predicate=[1]), "not an object"),
    ],
    ids=[
        "foreign-type",
        "no-subject",
        "empty-digest",
        "empty-digest-value",
        "upper-case-hex",
        "short-digest",
        "algorithm-twice",
        "no-predicate-type",
        "list-predicate",
    ],
)
def test_a_statement_that_is_not_a_well_formed_in_toto_statement_is_refused(
    statement: dict[str, Any], message: str
) -> None:
    payload = json.dumps(statement).encode()
    with pytest.raises(dsse.DsseError, match=message):
        dsse.read_statement(payload, source="att.json")


def test_nothing_is_signed_that_the_reader_would_refuse(
    keys: dict[str, tuple[Path, Path]],
) -> None:
    with pytest.raises(dsse.DsseError, match="names no subject"):
        _sign(keys, "ec", statement=_statement(subject=[]))


def test_a_private_key_with_a_password_needs_it(
    keys: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    key = serialization.load_pem_private_key(keys["ec"][0].read_bytes(), password=None)
    locked = tmp_path / "locked.pem"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"s3cret"),
        )
    )
    with pytest.raises(dsse.DsseError, match=r"locked\.pem.*password"):
        dsse.load_signer(locked)
    with pytest.raises(dsse.DsseError, match="wrong password"):
        dsse.load_signer(locked, b"nope")
    assert dsse.load_signer(locked, b"s3cret").public_key.keyid == _public(keys, "ec")[0].keyid


def test_a_file_that_is_not_a_key_is_an_error_naming_it(tmp_path: Path) -> None:
    junk = tmp_path / "release.pub"
    junk.write_text("not a key\n")
    with pytest.raises(dsse.DsseError, match=r"release\.pub: not a PEM public key"):
        dsse.load_public_key(junk)
    with pytest.raises(dsse.DsseError, match=r"missing\.pub: cannot read"):
        dsse.load_public_key(tmp_path / "missing.pub")


# --- adversarial review (rva) ----------------------------------------------------------------


def _rsa_envelope(keys: dict[str, tuple[Path, Path]], paddings: list[Any]) -> bytes:
    """An envelope signed with the RSA key as another tool would: the padding is its choice."""
    private = serialization.load_pem_private_key(keys["rsa"][0].read_bytes(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    payload = json.dumps(_statement()).encode()
    pae = sslib_dsse.Envelope(payload, dsse.IN_TOTO_PAYLOAD_TYPE, {}).pae()
    signatures = [
        {"keyid": "", "sig": base64.b64encode(private.sign(pae, pad, hashes.SHA256())).decode()}
        for pad in paddings
    ]
    return json.dumps(
        {
            "payloadType": dsse.IN_TOTO_PAYLOAD_TYPE,
            "payload": base64.b64encode(payload).decode(),
            "signatures": signatures,
        }
    ).encode()


def test_an_rsa_pkcs1_v15_signature_as_cosign_writes_it_verifies(
    keys: dict[str, tuple[Path, Path]],
) -> None:
    envelope = dsse.read_envelope(_rsa_envelope(keys, [padding.PKCS1v15()]), source="cosign.json")

    assert dsse.verify(envelope, _public(keys, "rsa"), 1).keyids == (_public(keys, "rsa")[0].keyid,)


def test_one_rsa_key_signing_with_both_paddings_counts_once(
    keys: dict[str, tuple[Path, Path]],
) -> None:
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    data = _rsa_envelope(keys, [padding.PKCS1v15(), pss])
    envelope = dsse.read_envelope(data, source="both.json")

    with pytest.raises(dsse.DsseError, match="1 of the 2 signatures verified"):
        dsse.verify(envelope, _public(keys, "rsa", "ec"), 2)


def test_an_integer_python_cannot_read_is_a_refusal_naming_the_file_not_a_crash(
    keys: dict[str, tuple[Path, Path]],
) -> None:
    text = _sign(keys, "ec").decode().rstrip().removesuffix("}") + ', "x": ' + "9" * 5000 + "}"

    with pytest.raises(dsse.DsseError, match=r"att\.json: not JSON we read"):
        dsse.read_envelope(text.encode(), source="att.json")


@pytest.mark.parametrize("where", ["envelope", "payload"])
def test_a_lone_surrogate_is_refused_as_not_unicode_text(
    keys: dict[str, tuple[Path, Path]], where: str
) -> None:
    """Valid JSON, but no report can write it: it failed the run after a passing claim."""
    if where == "payload":
        parameters = {"note": "\ud800"}
        statement = _statement(predicate={"buildDefinition": {"externalParameters": parameters}})
        payload = json.dumps(statement).encode()
        raw = sslib_dsse.Envelope(payload, dsse.IN_TOTO_PAYLOAD_TYPE, {})
        raw.sign(dsse.load_signer(keys["ec"][0]))
        envelope = dsse.read_envelope(json.dumps(raw.to_dict()).encode(), source="att.json")
        with pytest.raises(dsse.DsseError, match="lone surrogate"):
            dsse.verify(envelope, _public(keys, "ec"), 1)
    else:
        document = json.loads(_sign(keys, "ec"))
        document["signatures"][0]["keyid"] = "\udc00"
        with pytest.raises(dsse.DsseError, match="lone surrogate"):
            dsse.read_envelope(json.dumps(document).encode(), source="att.json")
