"""Corpus: payloads in string values (encoded pickles, templates under other keys, GGUF tokens).

Malicious pickles hide in the string values of data files: safetensors ``__metadata__`` and
unknown tensor-entry fields, ``config.json`` values, ``tokenizer.json`` vocabulary keys, GGUF
metadata. No standard loader unpickles these; the victims do what a consuming program does with
such a field (decode it as it is encoded, then ``pickle.loads`` it), which is how the payload
runs in real pipelines (optimizer state or preprocessing objects round-tripped through metadata).

Templates under keys other than ``chat_template`` (``custom_chat_template``,
``default_chat_template``, ``*_template``) and ``.template`` files are rendered by the tools
that read them, not by transformers. None of the escapes works against jinja2's
``ImmutableSandboxedEnvironment`` (see :mod:`tests.corpus.templates`), so the victims render
with a plain ``jinja2.Environment``, as a custom-template consumer does.

Benign samples come from the real libraries: ``tokenizers`` trains a tiny BPE and
``transformers``' ``PreTrainedTokenizerFast.save_pretrained`` writes ``tokenizer.json`` and
``tokenizer_config.json``; ``safetensors`` writes LoRA-style metadata with a base64 PNG
thumbnail; a config carries long base64 and hex strings that are not pickles.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import json
import lzma
import struct
import zlib
from pathlib import Path
from typing import Any

from tests.corpus import EXEC_RULES, Sample, system_call
from tests.corpus.safetensors_gguf import (
    GGUF_ARRAY,
    GGUF_FLOAT32,
    GGUF_STRING,
    GGUF_UINT32,
    gguf_bytes,
    safetensors_bytes,
)
from tests.corpus.templates import CHATML, ESCAPES

ENC_RULES = ("MLS-ENC-001", *EXEC_RULES)
TPL_RULES = ("MLS-TPL-001", "MLS-TPL-002")


def _write(directory: Path, name: str, content: bytes | str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def _tensor(begin: int, end: int) -> dict[str, Any]:
    return {"dtype": "F32", "shape": [(end - begin) // 4], "data_offsets": [begin, end]}


# A tiny PNG (a 1x1 image, zlib-compressed IDAT) padded with a text chunk: what thumbnails in
# model metadata look like once base64-encoded.
def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    text = b"Comment\x00" + b"generated preview " * 400
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", text)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


# --- safetensors ------------------------------------------------------------------------------

_READ_HEADER = (
    "import json, struct\n"
    "with open(ARTIFACT, 'rb') as f:\n"
    "    n = struct.unpack('<Q', f.read(8))[0]\n"
    "    header = json.loads(f.read(n))\n"
)


def _st_gzip_metadata(directory: Path, canary: Path) -> Path:
    value = base64.b64encode(gzip.compress(system_call(canary))).decode()
    header = {"__metadata__": {"format": "pt", "scheduler_state": value}, "w": _tensor(0, 4)}
    return _write(directory, "model.safetensors", safetensors_bytes(header, bytes(4)))


def _st_json_metadata(directory: Path, canary: Path) -> Path:
    # Trainers store structured metadata as JSON strings (kohya's ss_* keys); the pickle sits
    # one document down, as a data URI.
    state = "data:application/octet-stream;base64," + base64.b64encode(system_call(canary)).decode()
    inner = json.dumps({"optimizer": "AdamW", "resume": {"sampler_state": state}})
    header = {"__metadata__": {"format": "pt", "ss_training_state": inner}, "w": _tensor(0, 4)}
    return _write(directory, "model.safetensors", safetensors_bytes(header, bytes(4)))


def _st_tensor_field(directory: Path, canary: Path) -> Path:
    value = base64.urlsafe_b64encode(system_call(canary)).decode().rstrip("=")
    header = {"w": {**_tensor(0, 4), "quant_state": value}}
    return _write(directory, "model.safetensors", safetensors_bytes(header, bytes(4)))


def _st_lora_metadata(directory: Path, canary: Path) -> Path:
    import numpy as np
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "lora.safetensors"
    metadata = {
        "format": "pt",
        "ss_network_module": "networks.lora",
        "ss_network_dim": "16",
        "ss_tag_frequency": json.dumps({"img": {"a cat": 12, "a dog": 3}}),
        "ss_sd_model_hash": "e1441589a6f3c5a53f5f54d0975a18a7feb7cdf0b0dee276dfc3331ae376a053",
        "modelspec.thumbnail": "data:image/png;base64," + base64.b64encode(_png()).decode(),
        "modelspec.title": "tiny lora",
    }
    tensors = {"lora_down.weight": np.ones((4, 2), dtype=np.float32)}
    save_file(tensors, str(path), metadata=metadata)
    return path


# --- JSON configs and tokenizers --------------------------------------------------------------


def _config_gzip_base64(directory: Path, canary: Path) -> Path:
    payload = base64.b64encode(gzip.compress(system_call(canary))).decode()
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": 32,
        "preprocessing": {"normalizer": {"kind": "custom", "state": payload}},
    }
    return _write(directory, "config.json", json.dumps(config, indent=2))


def _config_compressed_variants(directory: Path, canary: Path) -> Path:
    # Several codecs and layerings at once: the scanner must see through each.
    raw = system_call(canary)
    config = {
        "model_type": "llama",
        "extras": [
            {"codec": "bz2-hex", "blob": bz2.compress(raw).hex()},
            {"codec": "xz-base64", "blob": base64.b64encode(lzma.compress(raw)).decode()},
            {"codec": "zlib-base64-wrapped", "blob": _wrap(base64.b64encode(zlib.compress(raw)))},
        ],
    }
    return _write(directory, "config.json", json.dumps(config, indent=2))


def _wrap(data: bytes) -> str:
    text = data.decode()
    return "\n".join(text[i : i + 16] for i in range(0, len(text), 16))


def _tiny_tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    )
    sentences = [
        "the quick brown fox jumps over the lazy dog",
        "a model repository holds weights, configs and tokenizers",
        "never unpickle what you did not write yourself",
    ] * 20
    tokenizer.train_from_iterator(sentences, trainer)
    return tokenizer


def _tokenizer_hex_vocab(directory: Path, canary: Path) -> Path:
    from tests.conftest import require

    require("tokenizers")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "tokenizer.json"
    _tiny_tokenizer().save(str(path))
    document = json.loads(path.read_text(encoding="utf-8"))
    vocab = document["model"]["vocab"]
    vocab[system_call(canary).hex()] = len(vocab)
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def _saved_tokenizer(directory: Path, canary: Path) -> Path:
    from tests.conftest import require

    require("transformers")
    require("tokenizers")
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_tiny_tokenizer(),
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tokenizer.chat_template = CHATML
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(directory))
    return directory


def _tokenizer_config(directory: Path, extra: dict[str, Any]) -> Path:
    config = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHATML,
        **extra,
    }
    return _write(directory, "tokenizer_config.json", json.dumps(config, indent=2))


def _escape(name: str, canary: Path) -> str:
    return ESCAPES[name].replace("CANARY", str(canary))


def _custom_chat_template(directory: Path, canary: Path) -> Path:
    escape = CHATML + _escape("cycler-init-globals-os-popen", canary)
    return _tokenizer_config(directory, {"custom_chat_template": escape})


def _default_chat_template(directory: Path, canary: Path) -> Path:
    escape = CHATML + _escape("joiner-init-globals", canary)
    return _tokenizer_config(directory, {"Default_Chat_Template": escape})


def _nested_prompt_template(directory: Path, canary: Path) -> Path:
    config = {
        "model_type": "llama",
        "serving": {
            "prompts": [
                {"name": "rag", "prompt_template": _escape("lipsum-globals-builtins", canary)}
            ]
        },
    }
    return _write(directory, "config.json", json.dumps(config, indent=2))


def _template_file(directory: Path, canary: Path) -> Path:
    return _write(
        directory, "prompt.template", CHATML + _escape("cycler-init-globals-os-popen", canary)
    )


def _benign_config_blobs(directory: Path, canary: Path) -> Path:
    config = {
        "model_type": "vit",
        "thumbnail": base64.b64encode(_png()).decode(),
        "weights_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "seed_material": base64.b64encode(bytes(range(256)) * 8).decode(),
        # Opens like a pickle once decoded ("C" is SHORT_BINBYTES) and holds a newline.
        "notes_b64": base64.b64encode(b"Created with numpy\n" + bytes(range(256))).decode(),
        "license_text": "Copyright (c) the authors. Licensed under the Apache License 2.0. " * 20,
        "prompt_template": "Question: {question}\nAnswer:",
        "id2label": {str(i): f"LABEL_{i}" for i in range(20)},
    }
    return _write(directory, "config.json", json.dumps(config, indent=2))


# --- GGUF -------------------------------------------------------------------------------------


def _gguf(metadata: list[tuple[str, int, Any]]) -> bytes:
    return gguf_bytes(metadata, [("token_embd.weight", [4, 8])])


def _vocab(tokens: list[str], types: list[int]) -> list[tuple[str, int, Any]]:
    return [
        ("general.architecture", GGUF_STRING, "llama"),
        ("general.name", GGUF_STRING, "tiny"),
        ("llama.context_length", GGUF_UINT32, 2048),
        ("tokenizer.ggml.model", GGUF_STRING, "gpt2"),
        ("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, tokens)),
        ("tokenizer.ggml.scores", GGUF_ARRAY, (GGUF_FLOAT32, [0.0] * len(tokens))),
        ("tokenizer.ggml.token_type", GGUF_ARRAY, (GGUF_UINT32, types)),
        ("tokenizer.chat_template", GGUF_STRING, CHATML),
    ]


_TOKENS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "hello", "Ġworld", "Ċ"]
_TYPES = [2, 3, 3, 3, 3, 1, 1, 1]

# What a consuming program does with a GGUF metadata value: read the key/value section, decode.
_GGUF_VALUE = (
    "import struct\n"
    "data = open(ARTIFACT, 'rb').read()\n"
    "pos = 24\n"
    "def take(fmt):\n"
    "    global pos\n"
    "    v = struct.unpack_from(fmt, data, pos); pos += struct.calcsize(fmt); return v[0]\n"
    "def text():\n"
    "    global pos\n"
    "    n = take('<Q'); s = data[pos:pos + n].decode(); pos += n; return s\n"
    "values = {}\n"
    "for _ in range(struct.unpack_from('<Q', data, 16)[0]):\n"
    "    key = text(); kind = take('<I')\n"
    "    if kind == 8: values[key] = text()\n"
    "    elif kind == 4: values[key] = take('<I')\n"
    "    else: break\n"
)


def _gguf_base64_metadata(directory: Path, canary: Path) -> Path:
    value = base64.b64encode(system_call(canary)).decode()
    metadata = [
        ("general.architecture", GGUF_STRING, "llama"),
        ("general.description", GGUF_STRING, value),
        *_vocab(_TOKENS, _TYPES)[1:],
    ]
    return _write(directory, "model.gguf", _gguf(metadata))


def _gguf_token_payload(directory: Path, canary: Path) -> Path:
    tokens = [*_TOKENS, base64.b64encode(gzip.compress(system_call(canary))).decode()]
    return _write(directory, "model.gguf", _gguf(_vocab(tokens, [*_TYPES, 1])))


def _gguf_token_anomalies(directory: Path, canary: Path) -> Path:
    # A control token that renders as "<|im_end|>" but carries a right-to-left override, and a
    # role marker demoted to a normal token that user text can produce.
    tokens = [*_TOKENS[:4], "<|im_end|>\u202e", "hello", "<|im_start|>", "Ċ"]
    return _write(directory, "model.gguf", _gguf(_vocab(tokens, _TYPES)))


def _gguf_duplicate_template(directory: Path, canary: Path) -> Path:
    # llama.cpp refuses duplicate keys; readers that keep the first render the escape.
    metadata = [
        ("general.architecture", GGUF_STRING, "llama"),
        ("tokenizer.chat_template", GGUF_STRING, CHATML + _escape("joiner-init-globals", canary)),
        *_vocab(_TOKENS, _TYPES)[1:],
    ]
    return _write(directory, "model.gguf", _gguf(metadata))


def _gguf_benign(directory: Path, canary: Path) -> Path:
    metadata = [
        *_vocab(_TOKENS, _TYPES),
        ("general.description", GGUF_STRING, "A tiny model. " * 50),
        ("general.source.url", GGUF_STRING, "https://huggingface.co/org/tiny"),
    ]
    return _write(directory, "model.gguf", _gguf(metadata))


# How a custom-template consumer renders: a plain environment, not transformers' sandbox.
_PLAIN_RENDER = (
    "import jinja2\n"
    "messages = [dict(role='user', content='hi')]\n"
    "jinja2.Environment().from_string(TEMPLATE).render(messages=messages, "
    "add_generation_prompt=True)\n"
)


SAMPLES = [
    Sample(
        name="safetensors-gzip-base64-pickle-in-metadata",
        build=_st_gzip_metadata,
        malicious=True,
        rules=("MLS-ST-004", *EXEC_RULES),
        technique="gzip'd pickle, base64-encoded, in __metadata__.scheduler_state",
        victim="from safetensors import safe_open\nimport base64, gzip, pickle\n"
        "with safe_open(ARTIFACT, framework='numpy') as f:\n"
        "    meta = f.metadata()\n"
        "pickle.loads(gzip.decompress(base64.b64decode(meta['scheduler_state'])))\n",
        requires=("safetensors", "numpy"),
    ),
    Sample(
        name="safetensors-data-uri-pickle-in-json-metadata-string",
        build=_st_json_metadata,
        malicious=True,
        rules=("MLS-ST-004", *EXEC_RULES),
        technique="base64 data URI pickle inside a JSON document stored as a metadata string",
        victim="from safetensors import safe_open\nimport base64, json, pickle\n"
        "with safe_open(ARTIFACT, framework='numpy') as f:\n"
        "    meta = f.metadata()\n"
        "uri = json.loads(meta['ss_training_state'])['resume']['sampler_state']\n"
        "pickle.loads(base64.b64decode(uri.split(',', 1)[1]))\n",
        requires=("safetensors", "numpy"),
    ),
    Sample(
        name="safetensors-urlsafe-base64-pickle-in-tensor-entry",
        build=_st_tensor_field,
        malicious=True,
        rules=ENC_RULES,
        technique="unpadded urlsafe base64 pickle in an unknown tensor-entry field (quant_state)",
        victim=_READ_HEADER + "import base64, pickle\n"
        "value = header['w']['quant_state']\n"
        "pickle.loads(base64.urlsafe_b64decode(value + '=' * (-len(value) % 4)))\n",
    ),
    Sample(
        name="config-json-gzip-base64-pickle-value",
        build=_config_gzip_base64,
        malicious=True,
        rules=ENC_RULES,
        technique="gzip+base64 pickle in config.json preprocessing.normalizer.state",
        victim="import base64, gzip, json, pickle\n"
        "config = json.load(open(ARTIFACT))\n"
        "state = config['preprocessing']['normalizer']['state']\n"
        "pickle.loads(gzip.decompress(base64.b64decode(state)))\n",
    ),
    Sample(
        name="config-json-bz2-xz-zlib-pickles",
        build=_config_compressed_variants,
        malicious=True,
        rules=ENC_RULES,
        technique="bz2 as hex, xz as base64, zlib as line-wrapped base64, in a list of extras",
        victim="import base64, bz2, json, pickle\n"
        "blob = json.load(open(ARTIFACT))['extras'][0]['blob']\n"
        "pickle.loads(bz2.decompress(bytes.fromhex(blob)))\n",
    ),
    Sample(
        name="tokenizer-json-hex-pickle-vocabulary-key",
        build=_tokenizer_hex_vocab,
        malicious=True,
        rules=ENC_RULES,
        technique="hex pickle added as a vocabulary entry of a tokenizers-written tokenizer.json",
        victim="import json, pickle\n"
        "vocab = json.load(open(ARTIFACT))['model']['vocab']\n"
        "pickle.loads(bytes.fromhex(max(vocab, key=vocab.get)))\n",
    ),
    Sample(
        name="tokenizer-config-custom-chat-template-escape",
        build=_custom_chat_template,
        malicious=True,
        rules=TPL_RULES,
        technique="escape in custom_chat_template beside a clean chat_template; rendered with a "
        "plain jinja2.Environment (the escape fails against the sandbox)",
        victim="import json\nTEMPLATE = json.load(open(ARTIFACT))['custom_chat_template']\n"
        + _PLAIN_RENDER,
        requires=("jinja2",),
    ),
    Sample(
        name="tokenizer-config-default-chat-template-mixed-case-escape",
        build=_default_chat_template,
        malicious=True,
        rules=TPL_RULES,
        technique="escape in a Default_Chat_Template key (case variant); plain jinja2 render",
        victim="import json\nTEMPLATE = json.load(open(ARTIFACT))['Default_Chat_Template']\n"
        + _PLAIN_RENDER,
        requires=("jinja2",),
    ),
    Sample(
        name="config-json-nested-prompt-template-escape",
        build=_nested_prompt_template,
        malicious=True,
        rules=TPL_RULES,
        technique="escape in serving.prompts[0].prompt_template; plain jinja2 render",
        victim="import json\n"
        "TEMPLATE = json.load(open(ARTIFACT))['serving']['prompts'][0]['prompt_template']\n"
        + _PLAIN_RENDER,
        requires=("jinja2",),
    ),
    Sample(
        name="template-file-escape",
        build=_template_file,
        malicious=True,
        rules=TPL_RULES,
        technique="prompt.template file with a cycler escape; plain jinja2 render",
        victim="TEMPLATE = open(ARTIFACT).read()\n" + _PLAIN_RENDER,
        requires=("jinja2",),
    ),
    Sample(
        name="gguf-base64-pickle-in-metadata-value",
        build=_gguf_base64_metadata,
        malicious=True,
        rules=ENC_RULES,
        technique="base64 pickle in general.description",
        victim=_GGUF_VALUE + "import base64, pickle\n"
        "pickle.loads(base64.b64decode(values['general.description']))\n",
    ),
    Sample(
        name="gguf-gzip-base64-pickle-in-token-array",
        build=_gguf_token_payload,
        malicious=True,
        rules=ENC_RULES,
        technique="gzip+base64 pickle as the last item of tokenizer.ggml.tokens",
    ),
    Sample(
        name="gguf-token-anomalies",
        build=_gguf_token_anomalies,
        malicious=True,
        rules=("MLS-TOK-001",),
        technique="control token with a right-to-left override; role marker as a normal token",
    ),
    Sample(
        name="gguf-duplicate-chat-template-key",
        build=_gguf_duplicate_template,
        malicious=True,
        rules=TPL_RULES,
        technique="two tokenizer.chat_template keys: an escape first, ChatML second",
    ),
    Sample(
        name="safetensors-lora-metadata-with-png-thumbnail",
        build=_st_lora_metadata,
        malicious=False,
        technique="safetensors.numpy.save_file with kohya-style metadata and a base64 PNG",
    ),
    Sample(
        name="config-json-base64-png-and-hex-digest",
        build=_benign_config_blobs,
        malicious=False,
        technique="long base64 (PNG, bytes 0-255) and hex strings that are not pickles",
    ),
    Sample(
        name="tokenizer-files-saved-by-transformers",
        build=_saved_tokenizer,
        malicious=False,
        technique="tokenizers-trained BPE saved by PreTrainedTokenizerFast.save_pretrained",
    ),
    Sample(
        name="gguf-vocabulary-with-control-tokens",
        build=_gguf_benign,
        malicious=False,
        technique="GGUF with typed tokens (control role markers), scores and a ChatML template",
    ),
]
