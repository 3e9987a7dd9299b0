"""Corpus: pickles in string values that are encoded, but not as the whole string.

A review of the string analyser found six ways a program decodes a value into a pickle that
the analyser missed while it required the whole string to be one encoding: a label before the
base64 (``pickle:<b64>``), the base64 inside literal quotes, a suffix after it, base32 /
base85 / ascii85, bare ``\\xNN`` escape text, and base64 split across a list of strings the
program joins. Each sample's victim reads the value with the real library (json, safetensors'
``safe_open``, ``yaml.safe_load``), decodes it that way and unpickles it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

from tests.corpus import EXEC_RULES, Sample, system_call
from tests.corpus.safetensors_gguf import safetensors_bytes

ENC_RULES = ("MLS-ENC-001", *EXEC_RULES)


def _b64(canary: Path) -> str:
    return base64.b64encode(system_call(canary)).decode()


def _config(value: Callable[[Path], object]) -> Callable[[Path, Path], Path]:
    """A config.json whose ``state`` is ``value(canary)``."""

    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "config.json"
        state = value(canary)
        path.write_text(json.dumps({"model_type": "llama", "state": state}), encoding="utf-8")
        return path

    return build


def _safetensors_label(directory: Path, canary: Path) -> Path:
    header = {
        "__metadata__": {"format": "pt", "optimizer_state": "base64:" + _b64(canary)},
        "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.safetensors"
    path.write_bytes(safetensors_bytes(header, bytes(4)))
    return path


def _yaml_suffix(directory: Path, canary: Path) -> Path:
    # A literal block scalar: the base64 line, then a trailer line the consumer drops.
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(
        f"model:\n  name: llama\n  state: |\n    {_b64(canary)}\n    #end of state\n",
        encoding="utf-8",
    )
    return path


def _escape_text(canary: Path) -> str:
    # What print(repr(data)[2:-1]) shows: \x80\x02cos\nsystem\n... as plain text.
    return repr(system_call(canary))[2:-1]


def _split_list(canary: Path) -> list[str]:
    text = _b64(canary)
    return [text[i : i + 8] for i in range(0, len(text), 8)]


_JSON_STATE = "import base64, codecs, json, pickle\nstate = json.load(open(ARTIFACT))['state']\n"

SAMPLES = [
    Sample(
        name="config-json-labelled-base64-pickle",
        build=_config(lambda c: "pickle:" + _b64(c)),
        malicious=True,
        rules=ENC_RULES,
        technique="a label before the base64 ('pickle:<b64>'): the consumer splits on the colon",
        victim=_JSON_STATE + "pickle.loads(base64.b64decode(state.split(':', 1)[1]))\n",
    ),
    Sample(
        name="safetensors-labelled-base64-pickle-in-metadata",
        build=_safetensors_label,
        malicious=True,
        rules=("MLS-ST-004", *EXEC_RULES),
        technique="'base64:<b64>' in __metadata__: the consumer splits on the colon",
        victim="from safetensors import safe_open\nimport base64, pickle\n"
        "with safe_open(ARTIFACT, framework='numpy') as f:\n"
        "    meta = f.metadata()\n"
        "pickle.loads(base64.b64decode(meta['optimizer_state'].partition(':')[2]))\n",
        requires=("safetensors", "numpy"),
    ),
    Sample(
        name="config-json-quoted-base64-pickle",
        build=_config(lambda c: '"' + _b64(c) + '"'),
        malicious=True,
        rules=ENC_RULES,
        technique="base64 inside literal quotes in the string: the consumer strips them",
        victim=_JSON_STATE + "pickle.loads(base64.b64decode(state.strip('\"\\'')))\n",
    ),
    Sample(
        name="yaml-config-base64-pickle-with-trailer-line",
        build=_yaml_suffix,
        malicious=True,
        rules=ENC_RULES,
        technique="base64 then a trailer line in a YAML block scalar: the consumer takes the first",
        victim="import base64, pickle, yaml\n"
        "state = yaml.safe_load(open(ARTIFACT))['model']['state']\n"
        "pickle.loads(base64.b64decode(state.split()[0]))\n",
        requires=("yaml",),
    ),
    Sample(
        name="config-json-base32-pickle",
        build=_config(lambda c: base64.b32encode(system_call(c)).decode()),
        malicious=True,
        rules=ENC_RULES,
        technique="a pickle in base32",
        victim=_JSON_STATE + "pickle.loads(base64.b32decode(state))\n",
    ),
    Sample(
        name="config-json-base85-pickle",
        build=_config(lambda c: base64.b85encode(system_call(c)).decode()),
        malicious=True,
        rules=ENC_RULES,
        technique="a pickle in base85 (base64.b85encode, git's alphabet)",
        victim=_JSON_STATE + "pickle.loads(base64.b85decode(state))\n",
    ),
    Sample(
        name="config-json-ascii85-pickle",
        build=_config(lambda c: base64.a85encode(system_call(c)).decode()),
        malicious=True,
        rules=ENC_RULES,
        technique="a pickle in ascii85 without delimiters",
        victim=_JSON_STATE + "pickle.loads(base64.a85decode(state))\n",
    ),
    Sample(
        name="config-json-adobe-ascii85-pickle",
        build=_config(lambda c: base64.a85encode(system_call(c), adobe=True).decode()),
        malicious=True,
        rules=ENC_RULES,
        technique="a pickle in Adobe ascii85, between <~ and ~>",
        victim=_JSON_STATE + "pickle.loads(base64.a85decode(state, adobe=True))\n",
    ),
    Sample(
        name="config-json-escape-text-pickle",
        build=_config(_escape_text),
        malicious=True,
        rules=ENC_RULES,
        technique="the pickle as bare \\xNN escape text, decoded with codecs.escape_decode",
        victim=_JSON_STATE + "pickle.loads(codecs.escape_decode(state.encode())[0])\n",
    ),
    Sample(
        name="config-json-escape-text-pickle-unicode-escape",
        build=_config(lambda c: "blob=" + _escape_text(c)),
        malicious=True,
        rules=ENC_RULES,
        technique="a label, then \\xNN escape text decoded with unicode_escape and latin-1",
        victim=_JSON_STATE
        + "text = state.split('=', 1)[1]\n"
        + "pickle.loads(text.encode().decode('unicode_escape').encode('latin-1'))\n",
    ),
    Sample(
        name="config-json-base64-pickle-split-across-a-list",
        build=_config(_split_list),
        malicious=True,
        rules=ENC_RULES,
        technique="base64 split into 8-character strings of a list that the consumer joins",
        victim=_JSON_STATE + "pickle.loads(base64.b64decode(''.join(state)))\n",
    ),
]
