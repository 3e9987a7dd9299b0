"""The service run on a model that pytest-mlsupply verified before the test could see it.

``@pytest.mark.model_artifact`` runs the artifact checks (sha256 pins from mlsupply.yaml, real
format, deep scan) on ``models/sentiment`` once per session; the ``model_artifact`` fixture then
returns the directory. A tampered or pickle-laden model fails these tests instead of loading.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sentiment_service import SentimentModel

from pytest_mlsupply.plugin.results_fixture import SupplyChainResults

pytestmark = pytest.mark.model_artifact(path="models/sentiment")


@pytest.fixture
def verified_model(model_artifact: Path) -> SentimentModel:
    return SentimentModel.load(model_artifact)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Brilliant, I would buy it again.", "POSITIVE"),
        ("Broke after a day. Terrible.", "NEGATIVE"),
    ],
)
def test_the_verified_model_labels_clear_reviews(
    verified_model: SentimentModel, text: str, label: str
) -> None:
    assert verified_model.predict(text)["label"] == label


def test_the_verified_model_is_the_one_pinned_in_the_manifest(
    model_artifact: Path, mlsupply_results: SupplyChainResults
) -> None:
    assert mlsupply_results.verdicts("sentiment/model.safetensors")["sha256"] == "pass"
    assert mlsupply_results.model("sentiment").root == model_artifact


@pytest.mark.model_artifact(
    path="models/sentiment", allow_patterns=["*.safetensors", "*.json"], checks=["sha256", "scan"]
)
def test_a_narrower_marker_verifies_only_the_weights_and_configs(
    model_artifact: Path, mlsupply_results: SupplyChainResults
) -> None:
    # The closest marker wins the fixture; the module's marker was verified as well.
    weights = mlsupply_results.verdicts("sentiment/model.safetensors")
    assert weights["scan"] == "pass"
    assert SentimentModel.load(model_artifact).labels
