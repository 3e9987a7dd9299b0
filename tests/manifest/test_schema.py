"""The JSON Schema for editors agrees with the manifest loader, key for key and value for value."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

import pytest_mlsupply.manifest
from pytest_mlsupply.manifest.errors import ManifestError, Problem
from pytest_mlsupply.manifest.loader import card_fields, load_manifest, parse_manifest
from pytest_mlsupply.results import THRESHOLD_CHOICES

REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = Path(pytest_mlsupply.manifest.__file__).parent / "mlsupply.schema.json"
COMMIT = "3f2a9c0e4b1d7a6c5e8f9a0b1c2d3e4f5a6b7c8d"
PIN = "sha256:" + "ab" * 32
UPPER_HEX_PIN = "sha256:" + "AB" * 32
#: A key no mapping of the loader accepts and none is close to, so the loader's problem lists
#: every key allowed at that place ("allowed keys here: ...") instead of guessing one.
PROBE = "zzzz"

#: Uses every key the schema declares (``test_the_full_manifest_uses_every_declared_key``).
FULL_MANIFEST = f"""\
version: 1
project: {{name: sentiment-service, version: 1.0.0}}
policy:
  fail_on: medium
  pickle: denylist
  require_pins: true
  require_hashes: true
  require_signature: true
  require_attestation: true
  require_card: true
  attestation: {{builders: ["https://github.com/actions/runner/*"], source_repository: "https://github.com/acme/models"}}
  pickle_formats: scan
  allow_globals: [mypackage.models.MyModel]
  licenses: {{allow: [apache-2.0, mit], deny_restrictions: [non-commercial], unknown: deny}}
  typosquat: {{allow: [my-requests2], index_lookup: false}}
  baseline: security/accepted.yaml
  limits: {{scan_seconds: 60.5, scan_memory_mb: 2048, max_member_bytes: 1000000, max_total_bytes: 9000000, max_ratio: 100.5, max_members: 500, max_depth: 4}}
models:
  - name: sentiment
    path: models/sentiment
    files: {{model.safetensors: "{PIN}", tokenizer/vocab.txt: "{PIN}"}}
    license: apache-2.0
    description: Binary sentiment classifier.
    card: {{path: README.md, require: [{", ".join(card_fields())}]}}
    datasets: [reviews, hub-reviews]
    signature: {{path: model.sig, public_key: keys/release.pub}}
    attestation: {{path: [model.sig], keys: [keys/release.pub, keys/cert.pem], threshold: 2, builders: [b], source_repository: github.com/acme/m}}
    lineage: {{base_model: {{ref: "hf://google-bert/bert-base-uncased@{COMMIT}", sha256: "{PIN}", files: {{model.safetensors: "{PIN}"}}}}}}
    promotion: {{evaluation: reports/eval.json, approval: reports/approval.yaml, deploy: deploy/manifest.yaml, thresholds: {{accuracy: ">=0.9", latency_ms: "<120"}}}}
  - name: hub-model
    source: hf://acme/sentiment-bert@{COMMIT}
    signature: {{certificate_chain: [keys/root.pem], certificate: keys/cert.pem}}
  - name: ci-signed
    path: models/sentiment
    signature: {{identity: release@acme.example, issuer: "https://accounts.acme.example", trust_config: keys/trust.json}}
    lineage: {{chain: ["hf://google-bert/bert-base-uncased@{COMMIT}", {{ref: acme-internal/sentiment-ft, sha256: "{PIN}", files: {{adapter_model.safetensors: "{PIN}"}}}}]}}
datasets:
  - name: reviews
    path: data/reviews
    license: cc-by-4.0
    pii: none
    description: Twenty labelled English reviews.
    files: {{reviews.csv: "{PIN}"}}
    governance: {{owners: [Acme ML Platform], custodians: [Acme Data Ops], stewards: [Acme Data Quality]}}
  - name: hub-reviews
    source: hf-datasets://acme/reviews@{COMMIT}
requirements:
  - file: requirements.txt
  - pyproject: pyproject.toml
  - pylock: pylock.toml
  - environment: current
internal:
  - {{index: "https://pypi.acme.internal/simple", packages: [acme-models, "acme-*"]}}
vulnerabilities: {{service: offline, url: "https://osv.example/", path: osv}}
code: {{paths: [src], exclude: ["src/legacy/*"]}}
monitor: {{models: [acme/sentiment-bert], orgs: [acme], dependencies: [torch]}}
output: {{bom: build/ml-bom.cdx.json, bom_xml: build/ml-bom.cdx.xml, matrix: build/matrix, sarif: build/mlsupply.sarif, html: build/report.html}}
"""

MINIMAL_MODEL = "models:\n  - name: m\n    path: models/sentiment\n"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema)


@pytest.fixture(scope="module")
def project_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding every file and directory FULL_MANIFEST names."""
    root = tmp_path_factory.mktemp("project")
    for directory in ("models/sentiment", "data/reviews", "osv", "src"):
        (root / directory).mkdir(parents=True)
    for file in (
        "requirements.txt",
        "pyproject.toml",
        "pylock.toml",
        "model.sig",
        "keys/release.pub",
        "keys/cert.pem",
        "keys/root.pem",
        "keys/trust.json",
        "reports/eval.json",
        "reports/approval.yaml",
        "deploy/manifest.yaml",
        "security/accepted.yaml",
    ):
        (root / file).parent.mkdir(parents=True, exist_ok=True)
        (root / file).write_text("")
    return root


def loader_problems(text: str, root: Path) -> list[Problem]:
    try:
        parse_manifest(text, root / "mlsupply.yaml")
    except ManifestError as exc:
        return exc.problems
    return []


def schema_errors(validator: Draft202012Validator, text: str) -> list[str]:
    return [error.message for error in validator.iter_errors(yaml.safe_load(text))]


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    target: dict[str, Any] = schema["$defs"][ref.removeprefix("#/$defs/")]
    return {**resolve(schema, target), **node}


def declared(
    schema: dict[str, Any], node: dict[str, Any], prefix: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property the schema declares, as (key path such as ``models[].card``, subschema)."""
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        resolved = resolve(schema, sub)
        yield path, resolved
        yield from declared(schema, resolved, f"{path}.")
        if "items" in resolved:
            yield from declared(schema, resolve(schema, resolved["items"]), f"{path}[].")


def used_key_paths(value: Any, prefix: str = "") -> Iterator[str]:
    """Key paths a parsed document uses; the keys under ``files:`` and ``thresholds:`` (file
    and metric names) are data, not schema keys."""
    if isinstance(value, dict):
        for key, sub in value.items():
            path = f"{prefix}{key}"
            yield path
            if key not in ("files", "thresholds"):
                yield from used_key_paths(sub, f"{path}.")
    elif isinstance(value, list):
        for item in value:
            yield from used_key_paths(item, prefix.removesuffix(".") + "[].")


def nest(path: tuple[str, ...], leaf: Any) -> Any:
    """The document that puts ``leaf`` at ``path`` (``"[]"`` is a list item)."""
    for part in reversed(path):
        leaf = [leaf] if part == "[]" else {part: leaf}
    return leaf


def render(path: tuple[str, ...]) -> str:
    return ".".join(path).replace(".[]", "[]")


def loader_mappings(root: Path) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Every place where the loader rejects unknown keys, with the keys it allows there.

    Found by asking the loader itself: a mapping holding only PROBE at a place makes it report
    the keys allowed there; then each allowed key is probed as a mapping and as a list of them.
    """
    found: dict[tuple[str, ...], tuple[str, ...]] = {}

    def explore(path: tuple[str, ...]) -> None:
        text = yaml.safe_dump(nest(path, {PROBE: 1}))
        for problem in loader_problems(text, root):
            if problem.message == f"unknown key {PROBE!r}":
                assert problem.fix.startswith("allowed keys here: "), problem.fix
                keys = tuple(problem.fix.removeprefix("allowed keys here: ").split(", "))
                found[path] = keys
                for key in keys:
                    explore((*path, key))
                    explore((*path, key, "[]"))

    explore(())
    return found


@pytest.fixture(scope="module")
def loader_places(project_root: Path) -> dict[tuple[str, ...], tuple[str, ...]]:
    return loader_mappings(project_root)


def test_the_schema_is_a_valid_draft_2020_12_schema(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_every_declared_key_has_a_description_for_hover_text(schema: dict[str, Any]) -> None:
    undescribed = [path for path, sub in declared(schema, schema) if not sub.get("description")]
    assert undescribed == []


def test_the_schema_declares_exactly_the_keys_the_loader_accepts(
    schema: dict[str, Any], loader_places: dict[tuple[str, ...], tuple[str, ...]]
) -> None:
    loader_keys = {render((*place, key)) for place, keys in loader_places.items() for key in keys}
    assert {path for path, _ in declared(schema, schema)} == loader_keys


def test_the_schema_rejects_unknown_keys_wherever_the_loader_does(
    validator: Draft202012Validator, loader_places: dict[tuple[str, ...], tuple[str, ...]]
) -> None:
    assert len(loader_places) > 10
    for place in loader_places:
        document = nest(place, {PROBE: 1})
        messages = [e.message for e in validator.iter_errors(document)]
        assert any(PROBE in m and "Additional properties" in m for m in messages), render(place)


def test_the_schema_allows_the_loaders_thresholds_and_card_fields(schema: dict[str, Any]) -> None:
    keys = dict(declared(schema, schema))
    assert tuple(keys["policy.fail_on"]["enum"]) == THRESHOLD_CHOICES
    assert tuple(keys["models[].card.require"]["items"]["enum"]) == card_fields()


def test_the_example_project_manifest_is_valid_for_the_schema_and_the_loader(
    validator: Draft202012Validator,
) -> None:
    path = REPO / "example_project" / "mlsupply.yaml"
    assert schema_errors(validator, path.read_text(encoding="utf-8")) == []
    assert load_manifest(path).models


def test_the_full_manifest_uses_every_declared_key(schema: dict[str, Any]) -> None:
    used = set(used_key_paths(yaml.safe_load(FULL_MANIFEST)))
    assert used == {path for path, _ in declared(schema, schema)}


def test_a_manifest_using_every_key_is_accepted_by_the_loader_and_the_schema(
    validator: Draft202012Validator, project_root: Path
) -> None:
    assert loader_problems(FULL_MANIFEST, project_root) == []
    assert schema_errors(validator, FULL_MANIFEST) == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("version: 1\nmodels:\nrequirements:\n", id="empty-sections"),
        pytest.param("version: 1\nproject: {name: 2024, version: 1.0}\n", id="numbers-as-text"),
        pytest.param(
            "version: 1\npolicy: {require_pins: false}\n"
            "models:\n  - {name: m, source: hf://acme/m@main}\n"
            "datasets:\n  - {name: d, source: hf-datasets://acme/d@v1.0}\n",
            id="mutable-revisions-when-pins-are-not-required",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    files: {{a/b..c/x.bin: '{UPPER_HEX_PIN}'}}\n",
            id="dots-inside-a-file-name-and-an-upper-case-pin",
        ),
    ],
)
def test_edge_cases_the_loader_accepts_are_accepted_by_the_schema(
    text: str, validator: Draft202012Validator, project_root: Path
) -> None:
    assert loader_problems(text, project_root) == []
    assert schema_errors(validator, text) == []


@pytest.mark.parametrize(
    ("text", "loader_says"),
    [
        pytest.param("project: {name: x}\n", "missing schema version", id="no-version"),
        pytest.param('version: "1"\n', "unsupported schema version", id="version-as-string"),
        pytest.param("version: 2\n", "unsupported schema version", id="version-2"),
        pytest.param("version: 1\nmodles: []\n", "unknown key 'modles'", id="unknown-top-key"),
        pytest.param(
            "version: 1\npolicy: {fail_onn: high}\n",
            "unknown key 'fail_onn'",
            id="unknown-policy-key",
        ),
        pytest.param(
            "version: 1\npolicy: {licenses: {deny: [x]}}\n",
            "unknown key 'deny'",
            id="unknown-licenses-key",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    licence: mit\n",
            "unknown key 'licence'",
            id="unknown-model-key",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    card: {{required: [license]}}\n",
            "unknown key 'required'",
            id="unknown-card-key",
        ),
        pytest.param(
            "version: 1\nrequirements:\n  - {requirements: r.txt}\n",
            "unknown key 'requirements'",
            id="unknown-requirement-key",
        ),
        pytest.param(
            "version: 1\noutput: {sbom: x.json}\n", "unknown key 'sbom'", id="unknown-output-key"
        ),
        pytest.param(
            "version: 1\npolicy: {require_pins: 'yes'}\n",
            "expected true or false",
            id="string-for-bool",
        ),
        pytest.param("version: 1\nmodels: {name: m}\n", "expected a list", id="mapping-for-list"),
        pytest.param("version: 1\nproject: [x]\n", "expected a mapping", id="list-for-mapping"),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    license: [mit]\n",
            "expected a string",
            id="list-for-string",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    license: ''\n", "must not be empty", id="empty-string"
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    signature:\n",
            "declare exactly one way to verify the signature",
            id="null-signature",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    signature: {{path: model.sig}}\n",
            "declare exactly one way to verify the signature",
            id="signature-without-a-verification-mode",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    signature: "
            "{public_key: keys/release.pub, identity: a@b.example, issuer: https://i.example}\n",
            "declare exactly one way to verify the signature",
            id="signature-with-two-verification-modes",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    signature: {{identity: a@b.example}}\n",
            "issuer is missing",
            id="sigstore-identity-without-issuer",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    signature: "
            "{public_key: keys/release.pub, certificate: keys/cert.pem}\n",
            "checked against a certificate chain",
            id="signing-certificate-without-a-chain",
        ),
        pytest.param(
            "version: 1\npolicy: {require_signature: yes please}\n",
            "expected true or false",
            id="require-signature-not-a-boolean",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    attestation: {{path: model.sig}}\n",
            "needs the public keys of its signers",
            id="attestation-without-keys",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    attestation: {{keys: keys/release.pub, threshold: 0}}\n",
            "expected a whole number of signatures",
            id="attestation-threshold-zero",
        ),
        pytest.param(
            "version: 1\npolicy: {attestation: {source_repository: acme}}\n",
            "is not a repository URL",
            id="attestation-source-not-a-url",
        ),
        pytest.param("version: 1\npolicy: {fail_on: hgih}\n", "is not one of", id="bad-fail-on"),
        pytest.param("version: 1\npolicy: {fail_on: info}\n", "is not one of", id="info-threshold"),
        pytest.param(
            "version: 1\npolicy: {pickle: allowlist}\n", "is not one of", id="bad-pickle-policy"
        ),
        pytest.param(
            "version: 1\nvulnerabilities: {service: snyk}\n", "is not one of", id="bad-service"
        ),
        pytest.param(
            "version: 1\nrequirements:\n  - {environment: system}\n",
            "is not one of",
            id="bad-environment",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    card: {{require: [licence]}}\n",
            "unknown card field",
            id="bad-card-field",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    files: {{model.safetensors: 'sha256:abc'}}\n",
            "is not a sha256 pin",
            id="short-sha-pin",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    files: {{model.safetensors: 'md5:{'ab' * 16}'}}\n",
            "is not a sha256 pin",
            id="md5-pin",
        ),
        pytest.param(
            f"version: 1\n{MINIMAL_MODEL}    files: {{../escape.bin: '{PIN}'}}\n",
            "is not a path inside the model",
            id="file-outside-the-model",
        ),
        pytest.param(
            "version: 1\nmodels:\n  - {name: m, source: hf://acme/m@main}\n",
            "is mutable",
            id="mutable-revision",
        ),
        pytest.param(
            "version: 1\nmodels:\n  - {name: m, source: hf://acme/m}\n",
            "has no revision",
            id="no-revision",
        ),
        pytest.param(
            f"version: 1\nmodels:\n  - {{name: m, source: 'hf-datasets://acme/m@{COMMIT}'}}\n",
            "is not a hf:// reference",
            id="dataset-scheme-for-a-model",
        ),
        pytest.param(
            f"version: 1\nmodels:\n  - {{name: m, path: models/sentiment, source: 'hf://a/m@{COMMIT}'}}\n",
            "exactly one of `source:` and `path:`",
            id="source-and-path",
        ),
        pytest.param(
            "version: 1\ndatasets:\n  - {name: d}\n",
            "exactly one of `source:` and `path:`",
            id="neither-source-nor-path",
        ),
        pytest.param(
            "version: 1\nmodels:\n  - {path: models/sentiment}\n", "missing name", id="no-name"
        ),
        pytest.param(
            "version: 1\nmodels:\n  - {name: -m, path: models/sentiment}\n",
            "is not a valid name",
            id="bad-name",
        ),
        pytest.param(
            "version: 1\nrequirements:\n  - {file: requirements.txt, pyproject: pyproject.toml}\n",
            "declare exactly one of",
            id="two-requirement-sources",
        ),
        pytest.param(
            "version: 1\npolicy: {allow_globals: [MyModel]}\n",
            "is not a dotted module.name",
            id="global-without-module",
        ),
        pytest.param(
            "version: 1\nvulnerabilities: {service: offline}\n",
            "the offline service needs a path",
            id="offline-without-path",
        ),
    ],
)
def test_manifests_the_loader_rejects_are_rejected_by_the_schema(
    text: str, loader_says: str, validator: Draft202012Validator, project_root: Path
) -> None:
    messages = [p.message for p in loader_problems(text, project_root)]
    assert any(loader_says in m for m in messages), messages
    assert schema_errors(validator, text) != []


def _docs_tree(destination: Path) -> Path:
    """A copy of what ``scripts/check_docs.py`` reads, to break without touching the checkout."""
    ignore = shutil.ignore_patterns("__pycache__", "build")
    for directory in ("docs", "pytest_mlsupply", "scripts"):
        shutil.copytree(REPO / directory, destination / directory, ignore=ignore)
    shutil.copy(REPO / "README.md", destination / "README.md")
    # Its README links to the other pages of the example (keys/README.md, the model card).
    for page in (REPO / "example_project").rglob("*.md"):
        target = destination / page.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(page, target)
    return destination


def run_check_docs(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/check_docs.py"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_docs_check_passes_on_this_checkout() -> None:
    result = run_check_docs(REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("docs: ok (")


def test_the_docs_check_lists_a_missing_key_a_broken_link_and_a_wrong_severity(
    tmp_path: Path,
) -> None:
    root = _docs_tree(tmp_path)
    configuration = root / "docs" / "configuration.md"
    text = configuration.read_text(encoding="utf-8")
    configuration.write_text(text.replace("| `output.bom_xml` |", "| bom_xml |"), encoding="utf-8")
    index = root / "docs" / "index.md"
    index.write_text(index.read_text(encoding="utf-8") + "\n[gone](nowhere.md#top)\n")
    checks = root / "docs" / "checks.md"
    checks.write_text(
        checks.read_text(encoding="utf-8").replace(
            "| `MLS-CARD-002` | high |", "| `MLS-CARD-002` | medium |"
        )
    )

    result = run_check_docs(root)

    assert result.returncode == 1
    assert result.stdout == ""
    assert textwrap.dedent(result.stderr).count("\n  ") == 3, result.stderr
    assert "manifest key `output.bom_xml` is not documented" in result.stderr
    assert "docs/index.md:" in result.stderr
    assert "link target 'nowhere.md#top' does not exist" in result.stderr
    assert "rule MLS-CARD-002: the code gives severity 'high'" in result.stderr
