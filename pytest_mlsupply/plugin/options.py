"""What every session declares: the command-line options, the ini keys and the marker line.

The entry point imports this module whenever the plugin is installed, with ``--mlsupply`` or
not: it must stay light (no dataclass, no import of the package's other modules at import
time), because a session that does not use the plugin pays for it (docs/performance.md,
"inert means free"). How the options combine with the manifest is :mod:`.settings`.
"""

from __future__ import annotations

import argparse

import pytest

MANIFEST_NAME = "mlsupply.yaml"

MARKER = "model_artifact"

MARKER_HELP = (
    "model_artifact(ref=None, *, path=None, allow_patterns=None, checks=None, name=None): run "
    "the test only after the model's artifact checks pass; the model_artifact fixture returns "
    "the verified local snapshot (a Path). ref: 'org/name@<40-hex commit>' or 'hf://...' for a "
    "Hub model, or a directory relative to the rootdir (see docs/marker.md)"
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlsupply", "ML supply-chain checks (pytest-mlsupply)")
    group.addoption(
        "--mlsupply",
        action="store_true",
        default=False,
        help="generate supply-chain test items from mlsupply.yaml and write the "
        "ML-BOM and matrix at the end of the session",
    )
    group.addoption(
        "--mlsupply-config",
        metavar="PATH",
        default=None,
        help=f"the manifest to use (default: {MANIFEST_NAME} at the rootdir)",
    )
    group.addoption(
        "--mlsupply-fail-on",
        metavar="LEVEL",
        default=None,
        type=threshold_choice,
        help="findings at or above this severity fail their item "
        "(critical, high, medium, low; overrides ini and manifest policy)",
    )
    group.addoption(
        "--mlsupply-bom",
        metavar="PATH",
        default=None,
        help="where to write the CycloneDX 1.6 ML-BOM (JSON)",
    )
    group.addoption(
        "--mlsupply-bom-xml",
        metavar="PATH",
        default=None,
        help="also write the ML-BOM as CycloneDX 1.6 XML at PATH",
    )
    group.addoption(
        "--mlsupply-matrix",
        metavar="PATH",
        default=None,
        help="where to write the pass/fail matrix (PATH.md and PATH.json)",
    )
    group.addoption(
        "--mlsupply-sarif",
        metavar="PATH",
        default=None,
        help="also write the findings as a SARIF 2.1.0 log at PATH (for code scanning)",
    )
    group.addoption(
        "--mlsupply-html",
        metavar="PATH",
        default=None,
        help="also write the report as one self-contained HTML file at PATH",
    )
    group.addoption(
        "--mlsupply-attest",
        metavar="KEY",
        default=None,
        help="after the BOM, write a signed in-toto attestation of what the gate checked: "
        "KEY is a PEM private key (EC, RSA or Ed25519; password in "
        "$MLSUPPLY_ATTEST_KEY_PASSWORD), or `sigstore` for keyless signing in CI",
    )
    group.addoption(
        "--mlsupply-attest-output",
        metavar="PATH",
        default=None,
        help="where to write the attestation (default: beside the BOM, <bom>.intoto.json, "
        "or <bom>.sigstore.json in sigstore mode)",
    )
    group.addoption(
        "--mlsupply-online",
        action="store_true",
        default=False,
        help="also add a drift[<model>] item per model pinned to a Hub commit: it fails when "
        "the commit is gone from the Hub or the Hub's file digests no longer match the local "
        "snapshot (asks the Hub; fails when it cannot be reached)",
    )
    parser.addini(
        "mlsupply", type="bool", default=False, help="turn pytest-mlsupply on without --mlsupply"
    )
    parser.addini(
        "mlsupply_config",
        type="string",
        default="",
        help="path of the manifest, relative to the rootdir",
    )
    parser.addini(
        "mlsupply_fail_on",
        type="string",
        default="",
        help="severity threshold: critical, high, medium or low",
    )
    parser.addini(
        "mlsupply_sarif",
        type="string",
        default="",
        help="where to write the SARIF 2.1.0 log, relative to the rootdir",
    )
    parser.addini(
        "mlsupply_html",
        type="string",
        default="",
        help="where to write the HTML report, relative to the rootdir",
    )
    parser.addini(
        "mlsupply_attest",
        type="string",
        default="",
        help="the attestation key (relative to the rootdir), or sigstore",
    )
    parser.addini(
        "mlsupply_attest_output",
        type="string",
        default="",
        help="where to write the attestation, relative to the rootdir",
    )


def is_enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("mlsupply")) or bool(config.getini("mlsupply"))


def threshold_choice(text: str) -> str:
    """``--mlsupply-fail-on``'s value, checked when the option is given (argparse's ``type``):
    the severities live in :mod:`pytest_mlsupply.results`, imported only then."""
    from pytest_mlsupply.results import THRESHOLD_CHOICES

    if text not in THRESHOLD_CHOICES:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(map(repr, THRESHOLD_CHOICES))})"
        )
    return text
