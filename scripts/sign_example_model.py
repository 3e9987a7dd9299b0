"""Sign the example project's model with the committed DEMONSTRATION key (OpenSSF model-signing).

Writes ``model.sig`` (a model-signing bundle: a DSSE envelope over an in-toto statement listing
the sha256 of every file) into the model directory, signed with
``example_project/keys/demo-signing-key.pem``; ``example_project/mlsupply.yaml`` declares the
matching public key, so ``pytest --mlsupply`` verifies the signature offline.

The key is a demonstration key: its private half is committed so anyone can re-sign the example
after changing it. Never sign a real release with it; a signature made with a published private
key proves nothing.

ECDSA signatures are randomised: signing the same files twice gives two different (both valid)
bundles. So the script signs only when the model directory does not verify against the current
bundle (a changed, added or removed file, or no bundle yet), and re-running it on an unchanged
model leaves ``model.sig`` as committed (no ``git diff``). ``--force`` signs anyway. Run it
after ``scripts/make_example_model.py``, or after any edit under the model directory:

    python scripts/sign_example_model.py [--model DIR] [--key PEM] [--force]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from model_signing import hashing, signing

from pytest_mlsupply.engines import model_signature

EXAMPLE = Path(__file__).resolve().parents[1] / "example_project"
SIGNATURE = "model.sig"


def public_key_of(private_key: Path) -> Path:
    """The ``.pub`` beside the private key; written from it when absent."""
    public = private_key.with_suffix(".pub")
    if not public.is_file():
        key = serialization.load_pem_private_key(private_key.read_bytes(), password=None)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return public


def problems(model: Path, public_key: Path) -> list[str]:
    """Why the model does not verify against its bundle (empty: it does), checked exactly as
    the gate's ``signature`` claim checks it."""
    bundle = model / SIGNATURE
    if not bundle.is_file():
        return [f"no {SIGNATURE} yet"]
    result = model_signature.verify(model, bundle, "public-key", public_key=public_key)
    if result.signature_error is not None:
        return [result.signature_error]
    return [f"{m.kind}: {m.file}" for m in result.mismatches]


def sign(model: Path, private_key: Path) -> Path:
    bundle = model / SIGNATURE
    # The bundle lives in the model directory and cannot sign itself; every other file is
    # covered (model-signing leaves out .git and .gitattributes on its own).
    hashing_config = hashing.Config()  # type: ignore[no-untyped-call]
    hashing_config.set_ignored_paths(paths=[SIGNATURE])
    config = signing.Config()  # type: ignore[no-untyped-call]
    config.use_elliptic_key_signer(private_key=private_key).set_hashing_config(hashing_config)
    config.sign(model, bundle)
    return bundle


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_model = EXAMPLE / "models" / "sentiment"
    default_key = EXAMPLE / "keys" / "demo-signing-key.pem"
    parser.add_argument(
        "--model", type=Path, default=default_model, help=f"default: {default_model}"
    )
    parser.add_argument("--key", type=Path, default=default_key, help=f"default: {default_key}")
    parser.add_argument(
        "--force", action="store_true", help="sign even when the current bundle still verifies"
    )
    args = parser.parse_args()
    public_key = public_key_of(args.key)
    before = problems(args.model, public_key)
    if not before and not args.force:
        print(f"{args.model / SIGNATURE} already verifies against {public_key.name}; unchanged")
        return 0
    for problem in before:
        print(f"re-signing: {problem}")
    bundle = sign(args.model, args.key)
    after = problems(args.model, public_key)
    if after:  # never leave a bundle behind that the gate would reject without saying so
        print(f"{bundle} does not verify after signing: {'; '.join(after)}", file=sys.stderr)
        return 1
    print(f"signed {args.model} -> {bundle} (DEMONSTRATION key {args.key.name})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
