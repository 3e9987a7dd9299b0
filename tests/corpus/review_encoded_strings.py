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


def _config_base64_of_base64(directory: Path, canary: Path) -> Path:
    # The pickle's base64 text, encoded again: base64 of base64 and hex of base64.
    inner = base64.b64encode(system_call(canary))
    config = {
        "model_type": "llama",
        "state": base64.b64encode(inner).decode(),
        "extra_state": inner.hex(),
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def _config_hex_of_base64(directory: Path, canary: Path) -> Path:
    inner = base64.b64encode(system_call(canary))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "state": inner.hex()}), encoding="utf-8")
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
    Sample(
        name="config-json-base64-of-base64-pickle",
        build=_config_base64_of_base64,
        malicious=True,
        rules=("MLS-ENC-001", "MLS-PKL-001", "MLS-PKL-002"),
        technique="a pickle's base64 text encoded again as base64: the decoded head is text",
        victim="import base64, json, pickle\n"
        "state = json.load(open(ARTIFACT))['state']\n"
        "pickle.loads(base64.b64decode(base64.b64decode(state)))\n",
    ),
    Sample(
        name="config-json-hex-of-base64-pickle",
        build=_config_hex_of_base64,
        malicious=True,
        rules=("MLS-ENC-001", "MLS-PKL-001", "MLS-PKL-002"),
        technique="a pickle's base64 text encoded as hex: the decoded head is text",
        victim="import base64, json, pickle\n"
        "state = json.load(open(ARTIFACT))['state']\n"
        "pickle.loads(base64.b64decode(bytes.fromhex(state)))\n",
    ),
]
