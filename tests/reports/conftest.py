"""A small supply chain built in code: two models (hub and local), two datasets, three libraries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from pytest_mlsupply.manifest.model import (
    DatasetDecl,
    HubRef,
    Manifest,
    ModelDecl,
    OutputDecl,
    Policy,
    Span,
)
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.results import CheckResult, Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import ArtifactFile, Dependency, Inventory, ResolvedModel

MODEL_SHA = "3f2a9c0e" * 5
BASE_SHA = "86b5e09a" * 5
DATASET_SHA = "9c1d0b7f" * 5
#: A digest no file here has: proves the BOM takes the digest from the check's facts.
REPORTED_SHA256 = "ab" * 32

CARD = {
    "metadata": {
        "license": "mit",
        "pipeline_tag": "text-classification",
        "model_type": "bert",
        "architectures": ["BertForSequenceClassification"],
        "model-index": [
            {
                "name": "sentiment-bert",
                "results": [
                    {
                        "task": {"type": "text-classification"},
                        "dataset": {"name": "reviews-test", "type": "acme/reviews"},
                        "metrics": [
                            {"type": "accuracy", "value": 0.931},
                            {"type": "f1", "value": 0.9},
                        ],
                    }
                ],
            }
        ],
    },
    "sections": {
        "Intended uses": "Classifying the sentiment of English product reviews.",
        "Limitations": "Not evaluated on sarcasm.",
        "Bias and risks": "May under-rate reviews written in dialects.",
        "Training procedure": "Three epochs.",
    },
}


@dataclass
class Scenario:
    # Test modules cannot import this conftest (tests/ is not a package): they reach the
    # constants through the fixture instead.
    MODEL_SHA: ClassVar[str] = MODEL_SHA
    BASE_SHA: ClassVar[str] = BASE_SHA
    DATASET_SHA: ClassVar[str] = DATASET_SHA
    REPORTED_SHA256: ClassVar[str] = REPORTED_SHA256

    inventory: Inventory
    items: list[PlannedItem]
    results: list[CheckResult]
    contents: dict[str, bytes]
    """File contents by artifact subject (``model/relpath``)."""


def _span(path: Path) -> Span:
    return Span(file=path, line=1, column=1)


def _artifact(model: str, root: Path, relpath: str, data: bytes) -> ArtifactFile:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return ArtifactFile(model=model, relpath=relpath, path=path, size=len(data))


def build_scenario(tmp_path: Path) -> Scenario:
    manifest_path = tmp_path / "mlsupply.yaml"
    span = _span(manifest_path)

    sentiment = ModelDecl(
        name="sentiment",
        span=span,
        source=HubRef("model", "Acme/Sentiment-BERT", MODEL_SHA),
        license="apache-2.0",
        description="Sentiment classifier for product reviews",
        datasets=("reviews",),
        base_model=f"hf://google-bert/bert-base-uncased@{BASE_SHA}",
    )
    legacy = ModelDecl(
        name="legacy",
        span=span,
        path=Path("models/legacy"),
        license="Acme Internal Licence 1.0",
    )
    reviews = DatasetDecl(
        name="reviews",
        span=span,
        source=HubRef("dataset", "acme/reviews", DATASET_SHA),
        license="cc-by-4.0",
        pii="none",
    )
    support_logs = DatasetDecl(
        name="support-logs",
        span=span,
        path=Path("data/logs"),
        pii="personal",
        governance={"owners": ("Acme Support",), "custodians": ("Acme Data Ops",)},
        description="Support tickets, 2023",
    )
    manifest = Manifest(
        path=manifest_path,
        version=1,
        policy=Policy(),
        output=OutputDecl(bom=tmp_path / "bom.json", matrix=tmp_path / "matrix"),
        project_name="review-service",
        project_version="1.4.0",
        models=(sentiment, legacy),
        datasets=(reviews, support_logs),
    )

    contents = {
        "sentiment/model.safetensors": b"pretend safetensors bytes",
        "sentiment/config.json": b'{"model_type": "bert"}',
        "legacy/model.pkl": b"\x80\x04pretend pickle",
    }
    sentiment_root = tmp_path / "hub" / "sentiment"
    legacy_root = tmp_path / "models" / "legacy"
    sentiment_files = (
        _artifact("sentiment", sentiment_root, "config.json", contents["sentiment/config.json"]),
        _artifact(
            "sentiment",
            sentiment_root,
            "model.safetensors",
            contents["sentiment/model.safetensors"],
        ),
    )
    legacy_files = (_artifact("legacy", legacy_root, "model.pkl", contents["legacy/model.pkl"]),)
    inventory = Inventory(
        manifest=manifest,
        models=(
            ResolvedModel(decl=sentiment, root=sentiment_root, files=sentiment_files),
            ResolvedModel(decl=legacy, root=legacy_root, files=legacy_files),
        ),
        datasets=(reviews, support_logs),
        dependencies=(
            Dependency("numpy", "numpy==2.1.0", "requirements.txt:1", "2.1.0"),
            Dependency("numpy", "numpy==2.1.0", "environment", "2.1.0"),
            Dependency("requests", "requests>=2", "requirements.txt:2"),
            Dependency("torch", "torch==2.4.0", "requirements.txt:3", "2.4.0"),
            # Sorts before torch by bom-ref ("-" < "=") but after it by name: proves the sort.
            Dependency("torch-audio", "torch-audio==2.4.0", "requirements.txt:4", "2.4.0"),
        ),
    )

    A, D, P = RowKind.ARTIFACT, RowKind.DEPENDENCY, RowKind.PROVENANCE
    items = [
        PlannedItem(A, "sentiment/config.json", ("format",)),
        PlannedItem(A, "sentiment/model.safetensors", ("format",)),
        PlannedItem(A, "sentiment/model.safetensors", ("safetensors-header",)),
        PlannedItem(A, "legacy/model.pkl", ("format",)),
        PlannedItem(A, "legacy/model.pkl", ("pickle",)),
        PlannedItem(D, "numpy==2.1.0", ("typosquat", "vulnerabilities")),
        PlannedItem(D, "requests>=2", ("typosquat", "vulnerabilities")),
        PlannedItem(D, "torch==2.4.0", ("typosquat", "vulnerabilities")),
        PlannedItem(P, "sentiment", ("model-card",)),
        PlannedItem(P, "sentiment", ("license",)),
        PlannedItem(P, "legacy", ("model-card",)),
    ]
    pickle_finding = Finding(
        rule="PKL001",
        severity=Severity.CRITICAL,
        category="code-execution",
        title="pickle imports os.system",
        location=Location(file="legacy/model.pkl", offset=2),
        remediation="convert the model to safetensors",
        cwe="CWE-502",
    )
    results = [
        CheckResult(
            A,
            "sentiment/model.safetensors",
            "format",
            facts={"sha256": REPORTED_SHA256, "format": "safetensors"},
        ),
        CheckResult(A, "sentiment/model.safetensors", "safetensors-header"),
        CheckResult(A, "sentiment/config.json", "format", facts={"format": "json"}),
        CheckResult(A, "legacy/model.pkl", "format", facts={"format": "pickle"}),
        CheckResult(A, "legacy/model.pkl", "pickle", findings=[pickle_finding]),
        CheckResult(D, "numpy==2.1.0", "typosquat"),
        CheckResult(D, "numpy==2.1.0", "vulnerabilities"),
        CheckResult(D, "requests>=2", "typosquat"),
        CheckResult(
            D,
            "requests>=2",
            "vulnerabilities",
            findings=[
                Finding("PIN001", Severity.LOW, "pinning", "requests is not pinned"),
            ],
        ),
        # torch: the worker died, so no results at all -> "not run".
        CheckResult(P, "sentiment", "model-card", facts={"card": CARD}),
        CheckResult(P, "sentiment", "license", error="could not reach the hub"),
        CheckResult(P, "legacy", "model-card"),
    ]
    return Scenario(inventory=inventory, items=items, results=results, contents=contents)


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return build_scenario(tmp_path)


@pytest.fixture(scope="session")
def make_scenario() -> Callable[[Path], Scenario]:
    """The scenario builder, for tests that need two independent copies."""
    return build_scenario
