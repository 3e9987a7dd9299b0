"""Every rule MLS-LOAD-002..012 on at least three vulnerable and two safe sources."""

from __future__ import annotations

import pytest

from pytest_mlsupply.engines.project_code import RULES, analyse_source
from pytest_mlsupply.results import Severity

PIN = "0123456789abcdef0123456789abcdef01234567"

# (rule, source, severity of the one finding of that rule)
VULNERABLE: list[tuple[str, str, Severity]] = [
    ("MLS-LOAD-002", "import pickle\npickle.load(open('x', 'rb'))\n", Severity.HIGH),
    ("MLS-LOAD-002", "import pickle as p\np.loads(data)\n", Severity.HIGH),
    ("MLS-LOAD-002", "from pickle import Unpickler\nUnpickler(f).load()\n", Severity.HIGH),
    ("MLS-LOAD-002", "import cloudpickle\ncloudpickle.loads(b)\n", Severity.HIGH),
    ("MLS-LOAD-002", "import dill\ndill.load(f)\n", Severity.HIGH),
    ("MLS-LOAD-002", "import joblib\nmodel = joblib.load('m.joblib')\n", Severity.HIGH),
    ("MLS-LOAD-002", "import pandas as pd\npd.read_pickle('df.pkl')\n", Severity.HIGH),
    ("MLS-LOAD-002", "import _pickle\n_pickle.loads(b)\n", Severity.HIGH),
    ("MLS-LOAD-003", "import numpy as np\nnp.load('a.npy', allow_pickle=True)\n", Severity.HIGH),
    ("MLS-LOAD-003", "import numpy as np\nnp.load('a.npy', None, True)\n", Severity.HIGH),
    (
        "MLS-LOAD-003",
        "import numpy\nALLOW = True\nnumpy.load('a', allow_pickle=ALLOW)\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-003",
        "import numpy as np\ndef f(a):\n    np.load('x', allow_pickle=a)\n",
        Severity.MEDIUM,
    ),
    (
        "MLS-LOAD-004",
        "from transformers import AutoModel\nAutoModel.from_pretrained('org/model')\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-004",
        "from transformers import AutoModel\n"
        "AutoModel.from_pretrained('bert-base-uncased', revision='main')\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-004",
        "import transformers as tr\ntr.AutoTokenizer.from_pretrained('org/m', revision='abc1234')\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-004",
        "def f(cls, name):\n    return cls.from_pretrained(name)\n",
        Severity.MEDIUM,
    ),
    (
        "MLS-LOAD-004",
        "from huggingface_hub import hf_hub_download\nhf_hub_download('org/m', 'config.json')\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-004",
        "import huggingface_hub\nhuggingface_hub.snapshot_download(repo_id='org/m')\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-004",
        "from huggingface_hub.file_download import hf_hub_download as get\nget('org/m', 'f')\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-004",
        "from transformers import pipeline\npipeline('sentiment-analysis')\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-004",
        "from transformers import pipeline\npipeline('text-generation', 'gpt2')\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-004",
        "from datasets import load_dataset\nload_dataset('org/data')\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-005",
        f"from transformers import AutoModel\n"
        f"AutoModel.from_pretrained('org/m', revision='{PIN}', trust_remote_code=True)\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-005",
        f"from transformers import AutoConfig\nTRUST = True\n"
        f"AutoConfig.from_pretrained('org/m', revision='{PIN}', trust_remote_code=TRUST)\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-005",
        f"from transformers import pipeline\n"
        f"pipeline('t', model='org/m', revision='{PIN}', **{{'trust_remote_code': True}})\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-005",
        f"from datasets import load_dataset\n"
        f"load_dataset('org/d', revision='{PIN}', trust_remote_code=True)\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-006",
        "import keras\nkeras.models.load_model('m.keras', safe_mode=False)\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-006",
        "import tensorflow as tf\ntf.keras.models.load_model('m.keras', None, True, False)\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-006",
        "from keras.saving import load_model\nload_model('m.keras', safe_mode=False)\n",
        Severity.HIGH,
    ),
    ("MLS-LOAD-006", "import keras\nkeras.config.enable_unsafe_deserialization()\n", Severity.HIGH),
    ("MLS-LOAD-007", "import yaml\nyaml.load(text)\n", Severity.HIGH),
    ("MLS-LOAD-007", "import yaml\nyaml.load(text, Loader=yaml.Loader)\n", Severity.HIGH),
    ("MLS-LOAD-007", "import yaml\nyaml.load(text, yaml.UnsafeLoader)\n", Severity.HIGH),
    ("MLS-LOAD-007", "import yaml\nyaml.unsafe_load(text)\n", Severity.HIGH),
    (
        "MLS-LOAD-007",
        "from yaml import CLoader as L\nimport yaml\nyaml.load(t, L)\n",
        Severity.HIGH,
    ),
    ("MLS-LOAD-007", "import yaml\nyaml.load(t, Loader=MyLoader)\n", Severity.MEDIUM),
    (
        "MLS-LOAD-007",
        "from yaml import load_all, FullLoader\nload_all(t, FullLoader)\n",
        Severity.MEDIUM,
    ),
    (
        "MLS-LOAD-008",
        "import jinja2\njinja2.Template(tokenizer.chat_template).render(messages=m)\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-008",
        "from jinja2 import Environment\nenv = Environment()\nenv.from_string(config['template'])\n",
        Severity.HIGH,
    ),
    (
        "MLS-LOAD-008",
        "import jinja2\njinja2.Environment(autoescape=True).from_string(text)\n",
        Severity.MEDIUM,
    ),
    ("MLS-LOAD-009", "eval(config['activation'])\n", Severity.HIGH),
    ("MLS-LOAD-009", "exec(open('hook.py').read())\n", Severity.HIGH),
    ("MLS-LOAD-009", "import builtins\nbuiltins.eval(expr)\n", Severity.HIGH),
    ("MLS-LOAD-009", "code = compile(src, 'f', 'exec')\n", Severity.HIGH),
    ("MLS-LOAD-010", "import requests\nrequests.get(url, verify=False)\n", Severity.HIGH),
    ("MLS-LOAD-010", "import requests\ns = requests.Session()\ns.verify = False\n", Severity.HIGH),
    ("MLS-LOAD-010", "import httpx\nhttpx.Client(verify=False)\n", Severity.HIGH),
    ("MLS-LOAD-010", "import ssl\nctx = ssl._create_unverified_context()\n", Severity.HIGH),
    (
        "MLS-LOAD-010",
        "import ssl\nctx = ssl.create_default_context()\nctx.check_hostname = False\n",
        Severity.HIGH,
    ),
    ("MLS-LOAD-010", "import ssl\nctx.verify_mode = ssl.CERT_NONE\n", Severity.HIGH),
    ("MLS-LOAD-010", "import urllib3\nurllib3.PoolManager(cert_reqs='CERT_NONE')\n", Severity.HIGH),
    ("MLS-LOAD-010", "import os\nos.environ['CURL_CA_BUNDLE'] = ''\n", Severity.HIGH),
    ("MLS-LOAD-010", "def f(self):\n    self.session.post(u, verify=False)\n", Severity.HIGH),
    ("MLS-LOAD-011", "import torch\ntorch.hub.load('pytorch/vision', 'resnet50')\n", Severity.HIGH),
    (
        "MLS-LOAD-011",
        "import torch.hub as hub\nhub.load('pytorch/vision:main', 'resnet50', trust_repo=True)\n",
        Severity.HIGH,
    ),
    ("MLS-LOAD-011", "from torch.hub import list as l\nl('org/repo:v1.0')\n", Severity.HIGH),
    ("MLS-LOAD-011", "import torch\ndef f(r):\n    torch.hub.load(r, 'm')\n", Severity.MEDIUM),
    ("MLS-LOAD-012", "import torch\ntorch.jit.load(path)\n", Severity.LOW),
    ("MLS-LOAD-012", "import tensorflow as tf\ntf.saved_model.load(export_dir)\n", Severity.LOW),
    ("MLS-LOAD-012", "import tensorflow as tf\ntf.keras.models.load_model(p)\n", Severity.LOW),
]

SAFE: list[tuple[str, str]] = [
    ("MLS-LOAD-002", "import json\njson.load(f)\n"),
    ("MLS-LOAD-002", "import pickle\npickle.dumps(obj)\n"),
    ("MLS-LOAD-002", "import pandas as pd\npd.read_parquet('x')\n"),
    ("MLS-LOAD-003", "import numpy as np\nnp.load('a.npy')\n"),
    ("MLS-LOAD-003", "import numpy as np\nnp.load('a.npy', allow_pickle=False)\n"),
    ("MLS-LOAD-003", "import numpy as np\nnp.load('a.npy', None, False)\n"),
    (
        "MLS-LOAD-004",
        f"from transformers import AutoModel\nAutoModel.from_pretrained('org/m', revision='{PIN}')\n",
    ),
    (
        "MLS-LOAD-004",
        f"from transformers import AutoModel\nREV = '{PIN}'\nAutoModel.from_pretrained('org/m', revision=REV)\n",
    ),
    (
        "MLS-LOAD-004",
        "from transformers import AutoModel\nAutoModel.from_pretrained('./checkpoints/m')\n",
    ),
    (
        "MLS-LOAD-004",
        "from transformers import AutoModel\nAutoModel.from_pretrained('/models/bert')\n",
    ),
    (
        "MLS-LOAD-004",
        "from datasets import load_dataset\nload_dataset('csv', data_files='a.csv')\n",
    ),
    (
        "MLS-LOAD-004",
        f"from transformers import pipeline\npipeline('t', model='org/m', revision='{PIN}')\n",
    ),
    (
        "MLS-LOAD-005",
        f"from transformers import AutoModel\n"
        f"AutoModel.from_pretrained('org/m', revision='{PIN}', trust_remote_code=False)\n",
    ),
    ("MLS-LOAD-005", "from transformers import AutoModel\nAutoModel.from_pretrained('./local')\n"),
    ("MLS-LOAD-006", "import keras\nkeras.models.load_model('m.keras')\n"),
    ("MLS-LOAD-006", "import keras\nkeras.models.load_model('m.keras', safe_mode=True)\n"),
    ("MLS-LOAD-007", "import yaml\nyaml.safe_load(text)\n"),
    ("MLS-LOAD-007", "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)\n"),
    ("MLS-LOAD-007", "from yaml import load, CSafeLoader as S\nload(text, S)\n"),
    ("MLS-LOAD-008", "import jinja2\njinja2.Template('Hello {{ name }}').render(name=n)\n"),
    (
        "MLS-LOAD-008",
        "from jinja2.sandbox import ImmutableSandboxedEnvironment\n"
        "env = ImmutableSandboxedEnvironment()\nenv.from_string(tokenizer.chat_template)\n",
    ),
    (
        "MLS-LOAD-008",
        "import jinja2.sandbox\njinja2.sandbox.SandboxedEnvironment().from_string(t)\n",
    ),
    ("MLS-LOAD-009", "eval('1 + 1')\n"),
    ("MLS-LOAD-009", "import ast\nast.literal_eval(config['x'])\n"),
    ("MLS-LOAD-009", "import re\nre.compile(pattern)\n"),
    ("MLS-LOAD-009", "model.eval()\n"),
    ("MLS-LOAD-010", "import requests\nrequests.get(url)\n"),
    ("MLS-LOAD-010", "import requests\nrequests.get(url, verify='/etc/ca.pem')\n"),
    ("MLS-LOAD-010", "import os\nos.environ['REQUESTS_CA_BUNDLE'] = '/etc/ca.pem'\n"),
    ("MLS-LOAD-010", "import ssl\nctx = ssl.create_default_context()\n"),
    ("MLS-LOAD-011", f"import torch\ntorch.hub.load('pytorch/vision:{PIN}', 'resnet50')\n"),
    ("MLS-LOAD-011", "import torch\ntorch.hub.load('./hubrepo', 'm', source='local')\n"),
    ("MLS-LOAD-011", "import torch\ntorch.hub.load_state_dict_from_url(u)\n"),
    ("MLS-LOAD-012", "import torch\ntorch.jit.load('model.pt')\n"),
    ("MLS-LOAD-012", "import tensorflow as tf\ntf.saved_model.load('export/1')\n"),
]


def _id(case: tuple[object, ...]) -> str:
    return f"{case[0]}:{str(case[1]).splitlines()[-1][:50]}"


@pytest.mark.parametrize(("rule", "source", "severity"), VULNERABLE, ids=map(_id, VULNERABLE))
def test_a_vulnerable_source_is_a_finding_of_its_rule(
    rule: str, source: str, severity: Severity
) -> None:
    analysis = analyse_source(source, file="a.py")
    assert analysis.error is None
    mine = [f for f in analysis.findings if f.rule == rule]
    assert [f.severity for f in mine] == [severity]
    assert mine[0].cwe == RULES[rule].cwe


@pytest.mark.parametrize(("rule", "source"), SAFE, ids=map(_id, SAFE))
def test_a_safe_source_is_no_finding_of_the_rule(rule: str, source: str) -> None:
    analysis = analyse_source(source, file="a.py")
    assert analysis.error is None
    assert [f.rule for f in analysis.findings if f.rule == rule] == []


def test_every_rule_has_three_vulnerable_and_two_safe_cases() -> None:
    for rule in RULES:
        if rule in ("MLS-LOAD-001", "MLS-LOAD-013"):
            continue  # their own test modules
        assert sum(1 for r, _, _ in VULNERABLE if r == rule) >= 3, rule
        assert sum(1 for r, _ in SAFE if r == rule) >= 2, rule


def test_trust_remote_code_on_an_unpinned_repo_is_critical() -> None:
    source = "from transformers import AutoModel\nAutoModel.from_pretrained('org/m', trust_remote_code=True)\n"
    findings = {f.rule: f for f in analyse_source(source, file="a.py").findings}
    assert set(findings) == {"MLS-LOAD-004", "MLS-LOAD-005"}
    assert findings["MLS-LOAD-005"].severity is Severity.CRITICAL


def test_a_non_literal_repo_says_it_may_be_a_local_directory() -> None:
    source = "from transformers import AutoModel\ndef f(p):\n    AutoModel.from_pretrained(p)\n"
    (finding,) = analyse_source(source, file="a.py").findings
    assert "local directory" in finding.evidence


def test_a_pipeline_without_a_model_is_the_default_model() -> None:
    source = "from transformers import pipeline\npipeline('sentiment-analysis')\n"
    (finding,) = analyse_source(source, file="a.py").findings
    assert "default model" in finding.evidence


def test_trust_repo_is_named_in_the_torch_hub_evidence() -> None:
    source = "import torch\ntorch.hub.load('a/b', 'm', trust_repo=True)\n"
    (finding,) = analyse_source(source, file="a.py").findings
    assert "trust_repo=True" in finding.evidence


def test_every_rule_of_the_catalogue_says_what_a_finding_needs() -> None:
    assert list(RULES) == [f"MLS-LOAD-{n:03d}" for n in range(1, 14)]
    for rule in RULES.values():
        assert rule.cwe.startswith("CWE-")
        assert all((rule.title, rule.why, rule.fix))
