"""Zip member names with a NUL byte: Python's :mod:`zipfile` ends a name at its first NUL, so
``config.json\\x00`` is ``config.json`` to Keras (and ``schema.json`` to skops) while every
check keyed on member names sees another file. Found in the skops review; Keras reads its
``.keras`` archives with the same :mod:`zipfile`.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from tests.corpus import Sample, file_sample
from tests.corpus.onnx_keras import keras3_lambda, sequential, weights_h5

KERAS_VICTIM = (
    "import os\nos.environ['KERAS_BACKEND'] = 'torch'\nimport keras\n"
    "try:\n    keras.saving.load_model(ARTIFACT, safe_mode=False)\n"
    "except Exception:\n    pass  # the stand-in weights do not load; the Lambda already ran\n"
)


def _keras_config_nul(canary: Path) -> bytes:
    metadata = {"keras_version": "3.6.0", "date_saved": "2024-11-02@10:11:12"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json#", json.dumps(sequential([keras3_lambda(canary)])))
        archive.writestr("model.weights.h5", weights_h5())
    return buffer.getvalue().replace(b"config.json#", b"config.json\x00")


SAMPLES: list[Sample] = [
    file_sample("keras-config-member-name-nul", _keras_config_nul,
                "a .keras whose config.json member is named config.json\\x00 (a Lambda)",
                KERAS_VICTIM, filename="model.keras", rules=("MLS-ARC-004", "MLS-KERAS-001"),
                requires=("keras",)),
]  # fmt: skip
