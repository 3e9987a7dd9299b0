"""How the service's batch jobs load models: every loader pins what it loads.

This is the code `code: {paths: [sentiment_service/, src/]}` puts under the code checks
(../../docs/code-checks.md). It is not imported by the service or its tests (the batch jobs run
elsewhere, with torch and transformers installed); the checks only read it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

#: The base model's commit the fine-tune was reviewed against (a branch would move).
BASE_REPOSITORY = "google-bert/bert-base-uncased"
BASE_REVISION = "86b5e0934494bd15c9632b12f734a8a67f723594"


def load_base_model() -> AutoModelForSequenceClassification:
    return AutoModelForSequenceClassification.from_pretrained(
        BASE_REPOSITORY, revision=BASE_REVISION
    )


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    # safetensors holds tensors only: loading it never runs code.
    return load_file(path)


def load_optimizer_state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def load_legacy_head(path: Path) -> torch.nn.Module:
    # The 2023 head was saved with its class, so it needs the full unpickler. It is our own
    # file, pinned by digest in release/, and the job that reads it retires with it.
    return torch.load(  # mlsupply: ignore[MLS-LOAD-001] -- our own 2023 head, pinned in release/
        path, weights_only=False
    )
