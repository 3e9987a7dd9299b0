"""Corpus: review of the string-value analyser (encoded pickles in config values).

Each sample is a ``config.json`` whose value a consuming program decodes and unpickles; the
victim does exactly that.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

from tests.corpus import Sample, system_call

LAYER_RULES = ("MLS-ENC-001", "MLS-ENC-002", "MLS-ENC-003", "MLS-PKL-001", "MLS-PKL-002")


def _config_zlib_four_layers(directory: Path, canary: Path) -> Path:
    # Four zlib layers under base64: one more than the analyser peels.
    data = system_call(canary)
    for _ in range(4):
        data = zlib.compress(data)
    config = {"model_type": "llama", "state": base64.b64encode(data).decode()}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


SAMPLES = [
    Sample(
        name="config-json-base64-four-zlib-layers-pickle",
        build=_config_zlib_four_layers,
        malicious=True,
        rules=LAYER_RULES,
        technique="a pickle under four zlib layers and base64, one layer past what is peeled",
        victim="import base64, json, pickle, zlib\n"
        "data = base64.b64decode(json.load(open(ARTIFACT))['state'])\n"
        "for _ in range(4):\n"
        "    data = zlib.decompress(data)\n"
        "pickle.loads(data)\n",
    ),
]
