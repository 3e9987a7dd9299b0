"""Code judged by what it does when it runs: where its paths point, what it loads and changes.

Serving scripts and modelling code that only read their own files stay at low; writes outside the
model, code planted anywhere, unpickled request bodies, loader-steering environment variables,
foreign import paths and disabled TLS checks stay high, through every spelling tried here.
"""

from __future__ import annotations

import textwrap

import pytest

from pytest_mlsupply.engines.python_ast import CodeIssue, analyse_python
from pytest_mlsupply.results import Severity
from tests.corpus.model_code import BENIGN_FILES


def issues(source: str) -> list[CodeIssue]:
    return analyse_python(textwrap.dedent(source))


def found(source: str) -> dict[str, Severity]:
    """Rule → worst severity."""
    out: dict[str, Severity] = {}
    for issue in issues(source):
        out[issue.rule] = max(out.get(issue.rule, Severity.INFO), issue.severity)
    return out


def worst(source: str) -> Severity:
    return max((i.severity for i in issues(source)), default=Severity.INFO)


@pytest.mark.parametrize(("name", "source"), BENIGN_FILES, ids=[n for n, _ in BENIGN_FILES])
def test_real_looking_model_repository_code_is_at_most_low(name: str, source: str) -> None:
    assert worst(source) <= Severity.LOW, [(i.rule, i.evidence) for i in analyse_python(source)]


def test_a_configuration_file_has_nothing_of_note_at_all() -> None:
    [(_, configuration)] = [f for f in BENIGN_FILES if f[0] == "configuration_tiny.py"]
    assert analyse_python(configuration) == []


# -- loading the model's own files


HANDLER_UNSAFE_LOAD = """\
import os
import torch

class EndpointHandler:
    def __init__(self, path=""):
        self.model = torch.load(os.path.join(path, "model.pt"), map_location="cpu")
"""


def test_unpickling_the_models_own_file_is_medium_and_names_the_line() -> None:
    [issue] = [i for i in issues(HANDLER_UNSAFE_LOAD) if i.severity > Severity.LOW]
    assert (issue.rule, issue.severity, issue.line) == ("MLS-CODE-015", Severity.MEDIUM, 6)
    assert "inside the model directory" in issue.evidence
    assert "weights_only=True" in issue.remediation


@pytest.mark.parametrize(
    "source",
    [
        # SageMaker's scikit-learn convention
        "import os, joblib\ndef model_fn(model_dir):\n"
        "    return joblib.load(os.path.join(model_dir, 'model.joblib'))",
        # MLflow's loader module
        "import pickle, os\ndef _load_pyfunc(path):\n"
        "    with open(os.path.join(path, 'model.pkl'), 'rb') as fh:\n"
        "        return pickle.load(fh)",
        # TorchServe
        "import torch, os\nclass H:\n    def initialize(self, context):\n"
        "        d = context.system_properties.get('model_dir')\n"
        "        self.m = torch.load(os.path.join(d, 'm.pt'))",
        # next to the module itself
        "import torch\nfrom pathlib import Path\n"
        "STATE = torch.load(Path(__file__).parent / 'state.pt')",
        # MLflow PythonModel artifacts
        "import cloudpickle\nclass M:\n    def load_context(self, context):\n"
        "        self.m = cloudpickle.load(open(context.artifacts['model'], 'rb'))",
    ],
)
def test_own_file_loads_through_each_framework_are_medium_not_high(source: str) -> None:
    assert found(source).get("MLS-CODE-015") == Severity.MEDIUM
    assert worst(source) == Severity.MEDIUM


@pytest.mark.parametrize(
    "source",
    [
        # a request body
        "import pickle\ndef input_fn(request_body, content_type):\n"
        "    return pickle.loads(request_body)",
        # a download
        "import torch, io, urllib.request\n"
        "state = torch.load(io.BytesIO(urllib.request.urlopen(URL).read()))",
        # an absolute path, a temporary directory, the home directory
        "import torch\nstate = torch.load('/tmp/state.pt')",
        "import joblib, tempfile, os\nm = joblib.load(os.path.join(tempfile.gettempdir(), 'm'))",
        "import torch, os\nm = torch.load(os.path.expanduser('~/m.pt'))",
        # the parent of the model directory
        "import torch, os\nm = torch.load(os.path.join(os.path.dirname(__file__), '..', 'x.pt'))",
        # an ordinary method's argument is not the model directory
        "import torch\nclass M:\n    def load_extra(self, path):\n        return torch.load(path)",
        "import marshal\nco = marshal.loads(blob)",
    ],
)
def test_unpickling_anything_but_the_models_own_files_stays_high(source: str) -> None:
    assert found(source).get("MLS-CODE-007") == Severity.HIGH


def test_an_entry_point_the_file_calls_itself_is_not_trusted_with_the_model_directory() -> None:
    source = """\
    import torch
    def model_fn(model_dir):
        return torch.load(model_dir)
    model_fn("/srv/shared/inbox.pt")
    """
    assert found(source).get("MLS-CODE-007") == Severity.HIGH
    handler = """\
    import os
    class EndpointHandler:
        def __init__(self, path=""):
            open(os.path.join(path, "notes.txt"), "w").write("x")
    EndpointHandler(os.getcwd())
    """
    assert found(handler).get("MLS-CODE-005") == Severity.MEDIUM


# -- writes


@pytest.mark.parametrize(
    "source",
    [
        "open('/etc/motd', 'w')",
        "open('/tmp/stage2.bin', 'wb')",
        "import os\nopen(os.path.expanduser('~/notes.txt'), 'a')",
        "from pathlib import Path\n(Path.home() / 'notes.txt').write_text('x')",
        "import os\nopen(os.path.join(os.path.dirname(__file__), '..', '..', 'x.txt'), 'w')",
        "import os\nopen(os.path.join(os.path.dirname(os.path.dirname(__file__)), 'x'), 'w')",
        "from pathlib import Path\n(Path(__file__).parent.parent / 'x.txt').write_text('x')",
        "def model_fn(model_dir):\n    open(f'{model_dir}/../x.txt', 'w')",
        "def model_fn(model_dir):\n    open(model_dir + '_evil/x.txt', 'w')",
        "import os\nopen(os.environ['OUTPUT'], 'w')",
        "import os\nopen(os.path.join(os.getenv('HOME'), 'x.txt'), 'w')",
        "import shutil, os\nshutil.copy(os.path.join(os.path.dirname(__file__), 'x'), '/usr/local/bin/x')",
        "import shutil\nshutil.rmtree('/var/lib/data')",
        "import sys, os\nopen(os.path.join(sys.prefix, 'x.txt'), 'w')",
        "import torch\ntorch.save(state, '/srv/models/override.pt')",
        "p = '/etc/' + 'cron.d'\nopen(p, 'w')",
        "import os\nd = os.path.dirname(__file__)\nopen(os.path.join(d, '/etc/hosts'), 'w')",
    ],
)
def test_writes_outside_the_model_directory_are_high(source: str) -> None:
    assert found(source).get("MLS-CODE-016") == Severity.HIGH


@pytest.mark.parametrize(
    "source",
    [
        "import os\nopen(os.path.join(os.path.dirname(__file__), 'evil.pth'), 'w')",
        "import os, site\nopen(os.path.join(site.getsitepackages()[0], 'hook.pth'), 'w')",
        "import os\nwith open(os.path.expanduser('~/.bashrc'), 'a') as f:\n    f.write('x')",
        "import os\nd = os.path.expanduser('~/.ssh')\nopen(os.path.join(d, 'authorized_keys'), 'a')",
        "import tempfile, os\nopen(os.path.join(tempfile.mkdtemp(), 'run.sh'), 'w')",
        "from pathlib import Path\n(Path(__file__).parent / 'sitecustomize.py').write_text('x')",
    ],
)
def test_writing_code_files_is_high_wherever_they_land(source: str) -> None:
    assert found(source).get("MLS-CODE-017") == Severity.HIGH


@pytest.mark.parametrize(
    "source",
    [
        "import os\nopen(os.path.join(os.path.dirname(__file__), 'cache.json'), 'w')",
        "import tempfile\nfd, name = tempfile.mkstemp()\nopen(name, 'w')",
        "import tempfile\nwith tempfile.NamedTemporaryFile('w') as fh:\n    open(fh.name, 'w')",
        "import os\nclass T:\n    def save_vocabulary(self, save_directory, prefix=None):\n"
        "        open(os.path.join(save_directory, 'vocab.txt'), 'w')",
    ],
)
def test_writes_inside_the_model_a_temporary_or_the_save_directory_are_low(source: str) -> None:
    assert found(source).get("MLS-CODE-005") == Severity.LOW


# -- environment, import path, TLS


@pytest.mark.parametrize(
    "source",
    [
        "import os\nos.environ['LD_PRELOAD'] = '/tmp/x.so'",
        "import os\nos.environ.update({'PYTHONPATH': '/tmp'})",
        "import os\nos.environ.update(PYTHONSTARTUP='/tmp/x.py')",
        "import os\nos.environ.update(dict(LD_LIBRARY_PATH='/tmp'))",
        "import os\nos.environ.setdefault('HTTPS_PROXY', 'http://x.invalid:8080')",
        "import os\nos.putenv('LD_AUDIT', '/tmp/x.so')",
        "from os import environ as e\ne['REQUESTS_CA_BUNDLE'] = '/tmp/ca.pem'",
        "import os\nos.environ |= {'PIP_INDEX_URL': 'https://x.invalid'}",
        "import os\nos.environb[b'LD_PRELOAD'] = b'/tmp/x.so'",
        "import os\nos.environ['https_proxy'] = 'http://x.invalid'",
        "import os\nos.environ['HF_ENDPOINT'] = 'https://mirror.invalid'",
    ],
)
def test_environment_variables_that_steer_loaders_are_high(source: str) -> None:
    assert found(source).get("MLS-CODE-019") == Severity.HIGH


def test_ordinary_environment_settings_are_not_findings() -> None:
    source = (
        "import os\nos.environ['TOKENIZERS_PARALLELISM'] = 'false'\n"
        "os.environ.setdefault('CUDA_VISIBLE_DEVICES', '0')\n"
        "os.environ.update({'OMP_NUM_THREADS': '1'})\n"
    )
    assert "MLS-CODE-019" not in found(source)


def test_a_computed_environment_variable_name_is_medium() -> None:
    assert found("import os\nos.environ[name] = value").get("MLS-CODE-019") == Severity.MEDIUM


def test_adding_the_models_own_directory_to_the_import_path_is_not_a_finding() -> None:
    source = (
        "import os, sys\nsys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))\n"
        "from pathlib import Path\nsys.path.append(str(Path(__file__).parent / 'src'))\n"
    )
    assert "MLS-CODE-020" not in found(source)


@pytest.mark.parametrize(
    "source",
    [
        "import sys\nsys.path.insert(0, '/tmp/pkgs')",
        "import sys, os\nsys.path.append(os.environ['EXTRA'])",
        "import site\nsite.addsitedir('/opt/plugins')",
        "import sys\nsys.path += ['/tmp/pkgs']",
        "import sys\nsys.path[0:0] = ['/tmp/pkgs']",
    ],
)
def test_import_paths_outside_the_model_are_high(source: str) -> None:
    assert found(source).get("MLS-CODE-020") == Severity.HIGH


@pytest.mark.parametrize(
    "source",
    [
        "import requests\nrequests.get(url, verify=False)",
        "import httpx\nhttpx.Client(verify=False)",
        "import requests\ns = requests.Session()\ns.verify = False",
        "import ssl\nssl._create_default_https_context = ssl._create_unverified_context",
        "import ssl, urllib.request\nurllib.request.urlopen(u, context=ssl._create_unverified_context())",
    ],
)
def test_turning_off_tls_verification_is_high(source: str) -> None:
    assert found(source).get("MLS-CODE-018") == Severity.HIGH


# -- other repositories


def test_trust_remote_code_on_another_repository_is_high_and_on_its_own_directory_is_not() -> None:
    other = "from transformers import AutoModel\nAutoModel.from_pretrained('org/x', trust_remote_code=True)"
    assert found(other).get("MLS-CODE-006") == Severity.HIGH
    own = (
        "from transformers import AutoModel\nclass EndpointHandler:\n"
        "    def __init__(self, path=''):\n"
        "        self.m = AutoModel.from_pretrained(path, trust_remote_code=True)\n"
    )
    assert "MLS-CODE-006" not in found(own)


def test_fetching_another_hub_repository_is_medium() -> None:
    source = (
        "from transformers import CLIPVisionModel\n"
        "tower = CLIPVisionModel.from_pretrained('openai/clip-vit-large-patch14')"
    )
    assert found(source).get("MLS-CODE-021") == Severity.MEDIUM
    hub = "from huggingface_hub import hf_hub_download\nhf_hub_download('org/x', 'w.bin')"
    assert found(hub).get("MLS-CODE-021") == Severity.MEDIUM


# -- names resolved as Python resolves them


@pytest.mark.parametrize(
    "source",
    [
        "import subprocess\nrun = subprocess.run\nrun(['id'])",
        "from os import *\nsystem('id')",
        "import sys\nsys.modules['os'].system('id')",
        "m = __import__('subprocess')\nm.check_call(['id'])",
        "import importlib\nsp = importlib.import_module('subprocess')\nsp.run(['id'])",
        "import os\nspawn = getattr(os, 'system')\nspawn('id')",
        "import os, threading\nthreading.Thread(target=os.system, args=('id',)).start()",
        "import os, multiprocessing\nmultiprocessing.Pool(1).map(os.system, ['id'])",
        "import subprocess as sp\nlist(map(sp.call, [['id']]))",
    ],
)
def test_process_execution_is_critical_through_assignments_stars_and_callbacks(
    source: str,
) -> None:
    assert found(source).get("MLS-CODE-002") == Severity.CRITICAL


@pytest.mark.parametrize(
    "source",
    [
        "import pickle\npickle.Unpickler(fh).load()",
        "import pandas as pd\npd.read_pickle(url)",
        "import torch\ntorch.serialization.load(buffer)",
        "import torch\ntorch.load(map_location='cpu', f=buffer)",
    ],
)
def test_other_spellings_of_unpickling_stay_high(source: str) -> None:
    assert found(source).get("MLS-CODE-007") == Severity.HIGH


def test_unpacking_an_archive_outside_the_model_is_a_high_write() -> None:
    source = "import tarfile\ntarfile.open(p).extractall('/')"
    assert found(source).get("MLS-CODE-016") == Severity.HIGH
    unpack = "import shutil, os\nshutil.unpack_archive(p, os.path.expanduser('~'))"
    assert found(unpack).get("MLS-CODE-016") == Severity.HIGH


def test_a_function_built_from_a_marshalled_code_object_is_critical() -> None:
    source = "import marshal, types\nf = types.FunctionType(marshal.loads(blob), {})"
    assert found(source).get("MLS-CODE-001") == Severity.CRITICAL


def test_environment_variables_spread_from_a_dict_are_still_read() -> None:
    source = "import os\nos.environ.update(**{'LD_PRELOAD': '/tmp/x.so'})"
    assert found(source).get("MLS-CODE-019") == Severity.HIGH


def test_a_torchserve_handler_calling_its_base_initialize_still_gets_the_model_directory() -> None:
    source = """\
    import os, torch
    from ts.torch_handler.base_handler import BaseHandler
    class H(BaseHandler):
        def initialize(self, context):
            super().initialize(context)
            model_dir = context.system_properties.get("model_dir")
            self.extra = torch.load(os.path.join(model_dir, "extra.pt"))
    """
    assert found(source).get("MLS-CODE-015") == Severity.MEDIUM


def test_an_entry_point_called_through_globals_is_not_trusted() -> None:
    source = """\
    import joblib
    def model_fn(model_dir):
        return joblib.load(model_dir)
    globals()["model_fn"]("/srv/inbox/upload.joblib")
    """
    assert found(source).get("MLS-CODE-007") == Severity.HIGH


def test_trust_remote_code_passed_through_from_the_caller_is_the_callers_decision() -> None:
    source = (
        "from transformers import AutoModel\n"
        "def build(name, trust_remote_code=False):\n"
        "    return AutoModel.from_pretrained(name, trust_remote_code=trust_remote_code)\n"
    )
    assert "MLS-CODE-006" not in found(source)
    truthy = "from transformers import AutoModel\nAutoModel.from_pretrained(n, trust_remote_code=1)"
    assert found(truthy).get("MLS-CODE-006") == Severity.HIGH


def test_a_file_with_nothing_of_note_reports_its_imports_as_information_only() -> None:
    source = (
        "import os\nHERE = os.path.dirname(__file__)\nprint(open(os.path.join(HERE, 'a')).read())"
    )
    assert {i.severity for i in issues(source)} == {Severity.INFO}


@pytest.mark.parametrize(
    "source",
    [
        "from pathlib import Path\nPath('/etc/cron.d/job').open('w')",
        "import os\nopen(f\"{os.environ['HOME']}/notes.txt\", 'w')",
        "import os\nparts = ['/etc', 'x']\nopen(os.path.join(os.path.dirname(__file__), *parts), 'w')",
        "for p in ['a.txt', '/etc/b.txt']:\n    open(p, 'w')",
        "class W:\n    target = '/var/tmp/x'\n    def go(self):\n        open(self.target, 'w')",
    ],
)
def test_outside_writes_hidden_behind_loops_stars_and_attributes_are_high(source: str) -> None:
    assert found(source).get("MLS-CODE-016") == Severity.HIGH


def test_a_parameter_shadows_the_module_level_model_directory() -> None:
    source = (
        "import os\npath = os.path.dirname(__file__)\n"
        "def export(path):\n    open(os.path.join(path, 'x.txt'), 'w')\n"
    )
    assert found(source).get("MLS-CODE-005") == Severity.MEDIUM


@pytest.mark.parametrize(
    "source",
    [
        "from pip._vendor import requests\nrequests.get('https://x.invalid')",
        "from six.moves.urllib.request import urlopen\nurlopen('https://x.invalid')",
        "import torch\ntorch.hub.load_state_dict_from_url('https://x.invalid/w.pth')",
    ],
)
def test_vendored_and_download_helpers_are_network_access(source: str) -> None:
    assert found(source).get("MLS-CODE-004") == Severity.HIGH


def test_writing_to_the_null_device_is_not_a_write() -> None:
    source = "import os\nopen(os.devnull, 'w')\nopen('/dev/null', 'w')"
    assert not {"MLS-CODE-005", "MLS-CODE-016"} & set(found(source))


def test_opening_an_image_by_a_name_with_letters_of_a_mode_is_not_a_write() -> None:
    source = "from PIL import Image\nimg = Image.open('examples/cat.png')"
    assert "MLS-CODE-005" not in found(source)


@pytest.mark.parametrize(
    "source",
    [
        "import gzip\ngzip.open('/etc/profile.d/x.gz', 'wb')",
        "import tarfile\ntarfile.open('/var/tmp/x.tar', 'w')",
        "import io\nio.FileIO('/etc/x', 'w')",
    ],
)
def test_module_openers_write_to_the_path_they_are_given(source: str) -> None:
    assert found(source).get("MLS-CODE-016") == Severity.HIGH


@pytest.mark.parametrize(
    "source",
    [
        "import runpy, os\nrunpy.run_path(os.path.join(os.path.dirname(__file__), 'labels.txt'))\n",
        "import runpy\nrunpy.run_module('tiny_helpers')\n",
        "from runpy import run_path as rp\nrp('weights.bin')\n",
    ],
)
def test_running_a_file_or_module_with_runpy_is_high_even_the_models_own(source: str) -> None:
    assert found(source).get("MLS-CODE-006") is Severity.HIGH


@pytest.mark.parametrize(
    "source",
    [
        "import torch, os\ntorch.ops.load_library(os.path.join(os.path.dirname(__file__), 'o.so'))\n",
        "import torch\ntorch.classes.load_library(LIB)\n",
        "import numpy as np\nnp.ctypeslib.load_library('libops', '.')\n",
    ],
)
def test_loading_a_shared_library_through_torch_or_numpy_is_high_like_ctypes(source: str) -> None:
    assert found(source).get("MLS-CODE-013") is Severity.HIGH


def test_trust_remote_code_set_from_a_true_constant_of_the_file_is_not_the_callers() -> None:
    source = """\
    from transformers import AutoModel
    TRUST = True
    model = AutoModel.from_pretrained("/opt/other/repository", trust_remote_code=TRUST)
    """
    assert found(source).get("MLS-CODE-006") is Severity.HIGH


@pytest.mark.parametrize(
    "source",
    [
        "import os\nd = os.path.dirname(os.__file__)\nopen(os.path.join(d, 'x', 'a.pth'), 'w')\n",
        "import os\nd = os.path.dirname(os.__file__)\nopen(f'{d}/sitecustomize.py', 'w')\n",
        "import pathlib\nd = pathlib.Path(''.join(['/t', 'mp']))\n(d / 'hook.pth').write_text('')\n",
    ],
)
def test_a_code_file_written_below_a_computed_directory_is_still_code(source: str) -> None:
    assert found(source).get("MLS-CODE-017") is Severity.HIGH


def test_unpickling_an_embedded_bytes_literal_is_high_not_an_own_file_load() -> None:
    assert found("import pickle\npickle.loads(b'cos\\nsystem\\n.')\n").get("MLS-CODE-007") is (
        Severity.HIGH
    )


@pytest.mark.parametrize(
    "source",
    [
        "import torch\ntorch.os.system('id')\n",
        "import platform\nplatform.os.popen('id')\n",
        "import posix\nposix.system('id')\n",
        "import sklearn\nrun = sklearn.os.system\nrun('id')\n",
        "import distutils.spawn\ndistutils.spawn.spawn(['id'])\n",
        "import pip\npip.main(['install', 'x'])\n",
    ],
)
def test_processes_reached_through_another_modules_namespace_are_critical(source: str) -> None:
    assert found(source).get("MLS-CODE-002") is Severity.CRITICAL


@pytest.mark.parametrize(
    "source",
    [
        "import timeit\ntimeit.timeit('x = 1')\n",
        "import cProfile\ncProfile.run('x = 1')\n",
        "import pdb\npdb.run('x = 1')\n",
        "import code\ncode.InteractiveInterpreter().runsource('x = 1')\n",
        "import operator, os\noperator.methodcaller('system', 'id')(os)\n",
    ],
)
def test_standard_library_helpers_that_run_source_strings_are_high(source: str) -> None:
    assert found(source).get("MLS-CODE-003") is Severity.HIGH


def test_timing_with_the_default_timer_is_not_running_source() -> None:
    assert "MLS-CODE-003" not in found("import timeit\nstart = timeit.default_timer()\n")


def test_a_zip_importer_is_a_dynamic_import() -> None:
    source = "import zipimport\nzipimport.zipimporter('x.zip').load_module('m')\n"
    assert found(source).get("MLS-CODE-006") is Severity.HIGH


@pytest.mark.parametrize(
    "source",
    [
        "import os\n(run := os.system)('id')\n",
        "import os\nrun, n = os.system, 1\nrun('id')\n",
        "import os\nhooks = [print, os.system]\nhooks[1]('id')\n",
        "import os\nhooks = {'a': os.system}\nhooks['a']('id')\n",
        "import os\nos.__dict__['system']('id')\n",
        "import os\ng = lambda cmd, run=os.system: run(cmd)\ng('id')\n",
        "import os\ndef f(cmd, *, run=os.system):\n    run(cmd)\n",
        "import os\nclass A:\n    run = os.system\nA.run('id')\n",
        "import os\nclass A:\n    run = os.system\n    def go(self):\n        self.run('id')\n",
    ],
)
def test_a_process_call_through_an_alias_the_file_builds_is_critical(source: str) -> None:
    assert found(source).get("MLS-CODE-002") is Severity.CRITICAL
