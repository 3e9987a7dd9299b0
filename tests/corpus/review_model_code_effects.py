"""Adversarial review of the effect-based Python analyser: code in a model directory whose effect
was judged below high.

* ``runpy.run_path`` of one of the model's own files: runpy runs any file as Python whatever its
  name, so a ``labels.txt`` holding code is executed, and the text engine never reads a ``.txt``
  as Python. runpy was not judged at all (only the imports were listed).
* ``torch.ops.load_library`` of a shared library (dlopen: its constructors run): not judged, where
  ``ctypes.CDLL`` of the same path is high.
* ``trust_remote_code=TRUST`` with ``TRUST = True`` set in the same file: a variable was taken to
  be the caller's decision, so the remote code load was not reported.

* A ``.pth`` written below a directory computed at run time (the parent of an installed
  package's directory): the file name was dropped once the directory was unknown, so the write
  was a medium "somewhere" instead of a high "code planted".

* ``pickle.loads(b"...")`` was judged as loading the model's own file (a bytes constant read as a
  relative path); ``torch.os.system`` / ``posix.system`` were not process calls; ``timeit.timeit``,
  ``cProfile.run``, ``pdb.run``, ``code.InteractiveInterpreter`` ran source unjudged; os.system
  held in a class attribute, a default argument, a container, a walrus or a tuple unpacking was
  called without the call being resolved.

Victims import the module as a serving framework does, in a subprocess.
"""

from __future__ import annotations

from pathlib import Path

from tests.corpus import Sample

_IMPORT = "import sys\nsys.path.insert(0, ARTIFACT)\nimport {module}\n"

_RUNPY_INFERENCE = """\
import os
import runpy

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
# Label names, kept as a Python literal file.
LABELS = runpy.run_path(os.path.join(HERE, "labels.txt")).get("LABELS", [])


def model_fn(model_dir):
    return torch.nn.Linear(4, len(LABELS) or 2)
"""


def _runpy_own_text_file(directory: Path, canary: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "inference.py").write_text(_RUNPY_INFERENCE)
    (directory / "labels.txt").write_text(
        f'import pathlib\npathlib.Path({str(canary)!r}).touch()\nLABELS = ["neg", "pos"]\n'
    )
    return directory


_OPS_HANDLER = """\
import os

import torch

# Custom kernels, fetched once into the user's cache.
OPS = os.path.join(os.path.expanduser("~"), ".cache", "tiny_ops", "libtiny_ops.so")
torch.ops.load_library(OPS)


class EndpointHandler:
    def __init__(self, path=""):
        self.model = torch.nn.Linear(4, 2)
"""
_OPS_LIBRARY = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void tiny_ops_init(void) {
    FILE *f = fopen(getenv("TINY_CANARY"), "w");
    if (f) fclose(f);
}
"""
# The library stands for a download: the victim compiles it into a scratch HOME's cache.
_OPS_VICTIM = (
    "import os, pathlib, subprocess, tempfile\n"
    "home = tempfile.mkdtemp()\n"
    "os.environ['HOME'] = home\n"
    "os.environ['TINY_CANARY'] = CANARY\n"
    "cache = pathlib.Path(home, '.cache', 'tiny_ops')\n"
    "cache.mkdir(parents=True)\n"
    f"(cache / 'ops.c').write_text({_OPS_LIBRARY!r})\n"
    "subprocess.run(['cc', '-shared', '-fPIC', '-o', str(cache / 'libtiny_ops.so'),"
    " str(cache / 'ops.c')], check=True)\n" + _IMPORT.format(module="handler")
)


def _ops_load_library(directory: Path, canary: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "handler.py").write_text(_OPS_HANDLER)
    return directory


_REMOTE_CONFIG = '{"model_type": "evil", "auto_map": {"AutoConfig": "evil_config.EvilConfig"}}\n'
_REMOTE_CODE = """\
import pathlib

pathlib.Path({canary!r}).touch()

from transformers import PretrainedConfig


class EvilConfig(PretrainedConfig):
    model_type = "evil"
"""
_TRUST_HANDLER = """\
from transformers import AutoConfig

TRUST = True
BASE = {repository!r}


class EndpointHandler:
    def __init__(self, path=""):
        self.config = AutoConfig.from_pretrained(BASE, trust_remote_code=TRUST)


HANDLER = EndpointHandler()
"""


def _trust_through_constant(directory: Path, canary: Path) -> Path:
    """The other repository stands for one on the Hub: written beside the artifact, outside the
    scanned directory, as a download would be."""
    repository = canary.parent / "hub_repository"
    repository.mkdir(parents=True, exist_ok=True)
    (repository / "config.json").write_text(_REMOTE_CONFIG)
    (repository / "evil_config.py").write_text(_REMOTE_CODE.format(canary=str(canary)))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "handler.py").write_text(_TRUST_HANDLER.format(repository=str(repository)))
    return directory


_PTH_HANDLER = """\
import importlib.util
import os

import torch

# The directory that holds installed packages, found through an installed package.
SITE = os.path.dirname(os.path.dirname({origin}))
with open(os.path.join(SITE, "tiny_speedups.pth"), "w") as handle:
    handle.write({line!r})


class EndpointHandler:
    def __init__(self, path=""):
        self.model = torch.nn.Linear(4, 2)
"""
# The victim makes the package found be a scratch one (so the .pth lands in a scratch "site")
# and then lets site process that directory, as the interpreter does for site-packages at start.
_PTH_VICTIM = (
    "import os, pathlib, site, sys, tempfile\n"
    "root = pathlib.Path(tempfile.mkdtemp())\n"
    "(root / 'tinypkg').mkdir()\n"
    "(root / 'tinypkg' / '__init__.py').write_text('')\n"
    "sys.path.insert(0, str(root))\n"
    "sys.path.insert(0, ARTIFACT)\n"
    "import handler\n"
    "site.addsitedir(str(root))\n"
)


def _pth_under_computed_directory(directory: Path, canary: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    line = f"import pathlib; pathlib.Path({str(canary)!r}).touch()\n"
    origin = 'importlib.util.find_spec("tinypkg").origin'
    (directory / "handler.py").write_text(_PTH_HANDLER.format(origin=origin, line=line))
    return directory


def _handler(
    name: str, body: str, rules: tuple[str, ...], technique: str, requires: tuple[str, ...] = ()
) -> Sample:
    """A handler.py whose ``body`` (``{canary}`` replaced by the canary's path) runs at import;
    ``requires`` names what its import needs (the victim's, not the build's)."""

    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "handler.py").write_text(body.replace("{canary}", str(canary)))
        return directory

    return Sample(
        name, build, True, rules, technique, _IMPORT.format(module="handler"), requires=requires
    )


_EFFECT_SAMPLES = [
    _handler(
        "model-code-pickle-loads-embedded-bytes",
        "import pickle\n\nSTATE = pickle.loads(b\"cos\\nsystem\\n(S'touch {canary}'\\ntR.\")\n",
        ("MLS-CODE-007",),
        "pickle.loads of a bytes literal was taken for a load of the model's own file (medium)",
    ),
    _handler(
        "model-code-os-reached-through-torch",
        "import torch\n\ntorch.os.system('touch {canary}')\n",
        ("MLS-CODE-002",),
        "os.system reached as torch.os.system (torch's namespace re-exports os)",
        requires=("torch",),
    ),
    _handler(
        "model-code-posix-system",
        "import posix\n\nposix.system('touch {canary}')\n",
        ("MLS-CODE-002",),
        "posix.system: the module os wraps, not on the process list",
    ),
    _handler(
        "model-code-os-system-held-in-a-class-attribute",
        "import os\n\n\nclass EndpointHandler:\n    hook = os.system\n\n"
        "    def __init__(self, path=''):\n        self.hook('touch {canary}')\n\n\n"
        "HANDLER = EndpointHandler()\n",
        ("MLS-CODE-002",),
        "os.system stored as a class attribute and called as self.hook(...)",
    ),
    _handler(
        "model-code-os-system-as-a-default-argument",
        "import os\n\n\ndef warmup(cmd='touch {canary}', run=os.system):\n    run(cmd)\n\n\n"
        "warmup()\n",
        ("MLS-CODE-002",),
        "os.system as a parameter's default value, called through the parameter",
    ),
    _handler(
        "model-code-timeit-runs-source",
        "import timeit\n\n"
        "timeit.timeit(\"import pathlib; pathlib.Path('{canary}').touch()\", number=1)\n",
        ("MLS-CODE-003",),
        "timeit.timeit compiles and runs the statement string it is given",
    ),
]


SAMPLES = [
    *_EFFECT_SAMPLES,
    Sample(
        "model-code-plants-pth-under-a-computed-directory",
        _pth_under_computed_directory,
        True,
        ("MLS-CODE-017",),
        "handler.py writes a .pth into the directory of an installed package, found at run time",
        _PTH_VICTIM,
        ("torch",),
    ),
    Sample(
        "model-code-runpy-runs-own-text-file",
        _runpy_own_text_file,
        True,
        ("MLS-CODE-006",),
        "inference.py runs labels.txt with runpy.run_path: a .txt holding Python is executed",
        _IMPORT.format(module="inference"),
        ("torch",),
    ),
    Sample(
        "model-code-torch-ops-load-library",
        _ops_load_library,
        True,
        ("MLS-CODE-013",),
        "handler.py dlopens a shared library with torch.ops.load_library at import",
        _OPS_VICTIM,
        ("torch",),
    ),
    Sample(
        "model-code-trust-remote-code-through-a-constant",
        _trust_through_constant,
        True,
        ("MLS-CODE-006",),
        "trust_remote_code=TRUST with TRUST = True: another repository's code is imported",
        "import os\nos.environ['HF_HUB_OFFLINE'] = '1'\n" + _IMPORT.format(module="handler"),
        ("transformers",),
    ),
]
