"""Adversarial review of the YAML / Hydra engine: configs the first version judged too leniently.

* Hydra targets inside "well-known ML libraries" that run commands: MLflow's
  ``mlflow.utils.process._exec_cmd`` and scikit-learn's test helper
  ``sklearn.utils._testing.assert_run_python_script_without_output`` (it runs the Python source
  it is given in a new interpreter). Both are private or testing helpers no config instantiates.
* A YAML python tag in a file named ``*.json`` that is not JSON: the JSON engine reported only
  that it does not parse, but ``yaml.unsafe_load`` reads it (JSON is YAML) and runs the tag.
* A Hydra ``_target_`` in a JSON file: ``OmegaConf.load`` reads any name, and the JSON engine
  never looked at ``_target_``.
* ``trust_remote_code: "false"`` beside a ``from_pretrained`` target: a quoted string, so a
  truthy ``str`` once loaded, but the check read its text as a false value.
* An MLmodel whose ``model_code_path`` comes from a ``<<`` merge key: MLflow's
  ``yaml.safe_load`` merges it, the flavor check read explicit keys only.
* ``pytorch_lightning.LightningModule.load_from_checkpoint`` as a target, with
  ``weights_only: false``: torch.load unpickles a checkpoint the config names; inside a
  well-known library, so the target was not reported.
* A renamed YAML stream above the text engine's 64 MiB read cap (a payload document first): only
  config positions were reported as too large, other text was passed unread.
* A tab after ``key:`` (refused by PyYAML's Python parser, accepted by libyaml) before a python
  tag: the event reader stopped at the error, so the tag ``yaml.load(..., Loader=yaml.CLoader)``
  constructs was never seen (a medium parse failure in a config, nothing in other text).
* A protocol 0 pickle (``(dp0`` ``.``: printable text) followed by ``---`` and a python-tagged
  document: identified as a pickle, so the YAML engine never read it. The same with a Git LFS
  pointer as the first document: identified as a pointer (content never downloaded), not read.
* ``keras.src.utils.python_utils.func_load`` (marshal bytecode to a function) handed to
  ``torch.nn.Module.apply`` (which calls it): two targets inside well-known libraries, so
  nothing was reported, and the bytecode runs at instantiate.
* ``pandas.DataFrame.to_csv`` aimed at a ``.pth`` with a column named like an import line: a
  file writer of a well-known library is only medium, yet it plants code for the next start.

Victims: ``hydra.utils.instantiate(OmegaConf.load(path))`` (Hydra 1.3) and
``yaml.unsafe_load``.
"""

from __future__ import annotations

import base64
import json
import marshal
import textwrap
import types
from pathlib import Path

from tests.corpus import Sample, system_call

_INSTANTIATE = (
    "from hydra.utils import instantiate\nfrom omegaconf import OmegaConf\n"
    "instantiate(OmegaConf.load(ARTIFACT))\n"
)
_HYDRA = ("hydra", "omegaconf")


def _text(
    name: str,
    filename: str,
    body: str,
    rules: tuple[str, ...],
    technique: str,
    victim: str,
    requires: tuple[str, ...],
) -> Sample:
    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / filename
        path.write_text(textwrap.dedent(body).replace("{canary}", str(canary)))
        return path

    return Sample(name, build, True, rules, technique, victim, requires)


def _json_target(directory: Path, canary: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model_config.json"
    config = {
        "encoder": {"_target_": "builtins.open", "file": str(canary), "mode": "w"},
        "sample_rate": 16000,
    }
    path.write_text(json.dumps(config, indent=2))
    return path


_REMOTE_CONFIG = """\
{"model_type": "evil", "auto_map": {"AutoConfig": "evil_config.EvilConfig"}}
"""
_REMOTE_CODE = """\
import pathlib

pathlib.Path({canary!r}).touch()

from transformers import PretrainedConfig


class EvilConfig(PretrainedConfig):
    model_type = "evil"
"""


def _quoted_false_remote_code(directory: Path, canary: Path) -> Path:
    """A config whose target loads a repository's own code with trust_remote_code: "false".

    The repository stands for one on the Hub: it is written beside the artifact, outside the
    scanned directory, as a download would be."""
    repository = canary.parent / "hub_repository"
    repository.mkdir(parents=True, exist_ok=True)
    (repository / "config.json").write_text(_REMOTE_CONFIG)
    (repository / "evil_config.py").write_text(_REMOTE_CODE.format(canary=str(canary)))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(
        "model:\n"
        "  _target_: transformers.AutoConfig.from_pretrained\n"
        f"  pretrained_model_name_or_path: {repository}\n"
        '  trust_remote_code: "false"\n'
    )
    return path


_MLMODEL_MERGED_FROM_CODE = """\
flavors:
  python_function:
    <<: {model_code_path: /home/someone/model_src.py}
    loader_module: mlflow.pyfunc.loaders.code_model
    python_version: 3.11.7
mlflow_version: 3.18.0
"""
_MODEL_CODE = """\
import pathlib

import mlflow
from mlflow.pyfunc import PythonModel

pathlib.Path({canary!r}).touch()


class Echo(PythonModel):
    def predict(self, context, model_input):
        return model_input


mlflow.models.set_model(Echo())
"""


def _mlflow_merged_from_code(directory: Path, canary: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "MLmodel").write_text(_MLMODEL_MERGED_FROM_CODE)
    (directory / "model_src.py").write_text(_MODEL_CODE.format(canary=str(canary)))
    return directory


def _lightning_checkpoint(directory: Path, canary: Path) -> Path:
    """A config that restores a Lightning checkpoint with weights_only off. The checkpoint
    stands for one the user downloaded elsewhere: written beside the artifact, not in it."""
    checkpoint = canary.parent / "downloads" / "last.ckpt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.write_bytes(system_call(canary))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(
        "model:\n"
        "  _target_: pytorch_lightning.LightningModule.load_from_checkpoint\n"
        f"  checkpoint_path: {checkpoint}\n"
        "  weights_only: false\n"
    )
    return path


def _huge_renamed_yaml(directory: Path, canary: Path) -> Path:
    """A payload document, then more than the text engine's 64 MiB read cap of comments."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "training_args.txt"
    line = b"# " + b"x" * 1022 + b"\n"
    with path.open("wb") as handle:
        handle.write(
            f'callback: !!python/object/apply:os.system ["touch {canary}"]\n---\n'.encode()
        )
        for _ in range(65 * 1024 + 1):
            handle.write(line)
    return path


def _keras_bytecode_through_module_apply(directory: Path, canary: Path) -> Path:
    """torch.nn.Module.apply calls a function keras's func_load rebuilt from marshal bytecode:
    every target inside a well-known library, none of them reported before."""
    source = f"lambda module: __import__('pathlib').Path({str(canary)!r}).touch()"
    code = compile(source, "<config>", "eval")
    function = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    encoded = base64.b64encode(marshal.dumps(function)).decode()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    path.write_text(
        "model:\n"
        "  _target_: torch.nn.Module.apply\n"
        "  _args_:\n"
        "    - _target_: torch.nn.Linear\n"
        "      in_features: 2\n"
        "      out_features: 2\n"
        "    - _target_: keras.src.utils.python_utils.func_load\n"
        f"      code: {encoded}\n"
    )
    return path


def _csv_writes_a_pth(directory: Path, canary: Path) -> Path:
    """pandas writes a one-column CSV whose header is a .pth import line, where site will read
    it. The victim's scratch "site" directory stands for site-packages."""
    site = canary.parent / "site"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.yaml"
    line = f"import pathlib; pathlib.Path({str(canary)!r}).touch()#"
    path.write_text(
        "report:\n"
        "  _target_: pandas.DataFrame.to_csv\n"
        "  _args_:\n"
        "    - _target_: pandas.DataFrame\n"
        "      data:\n"
        f'        "{line}": []\n'
        f"    - {site}/metrics_report.pth\n"
        "  index: false\n"
    )
    return path


SAMPLES = [
    Sample(
        "hydra-target-to-csv-plants-a-pth",
        _csv_writes_a_pth,
        True,
        ("MLS-YAML-018",),
        "DataFrame.to_csv writes a .pth whose header line is an import (a medium file writer)",
        "import os, pathlib, site\n"
        "scratch = pathlib.Path(CANARY).parent / 'site'\n"
        "scratch.mkdir(exist_ok=True)\n" + _INSTANTIATE + "site.addsitedir(str(scratch))\n",
        (*_HYDRA, "pandas"),
    ),
    Sample(
        "hydra-target-keras-func-load-bytecode-via-module-apply",
        _keras_bytecode_through_module_apply,
        True,
        ("MLS-YAML-010", "MLS-YAML-016"),
        "keras func_load rebuilds a function from marshal bytecode; torch Module.apply calls it",
        "import os\nos.environ['KERAS_BACKEND'] = 'torch'\n" + _INSTANTIATE,
        (*_HYDRA, "keras", "torch"),
    ),
    _text(
        "yaml-python-apply-behind-an-lfs-pointer",
        "hparams.yaml",
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        "size 12345\n"
        "---\n"
        'callback: !!python/object/apply:os.system ["touch {canary}"]\n',
        ("MLS-YAML-001",),
        "a Git LFS pointer as the first YAML document: identified as a pointer, never read",
        "import yaml\nlist(yaml.unsafe_load_all(open(ARTIFACT)))\n",
        ("yaml",),
    ),
    _text(
        "yaml-python-apply-behind-a-protocol-0-pickle",
        "hparams.yaml",
        '(dp0\n.\n---\ncallback: !!python/object/apply:os.system ["touch {canary}"]\n',
        ("MLS-YAML-001",),
        "a text pickle (an empty dict) then a YAML document: identified as a pickle, never read "
        "as YAML",
        "import yaml\nlist(yaml.unsafe_load_all(open(ARTIFACT)))\n",
        ("yaml",),
    ),
    _text(
        "yaml-python-apply-after-a-tab-libyaml-accepts",
        "hparams.yaml",
        'lr:\t0.001\ncallback: !!python/object/apply:os.system ["touch {canary}"]\n',
        ("MLS-YAML-006",),
        "a tab after 'lr:' stops PyYAML's Python parser; libyaml (yaml.CLoader) reads on",
        "import yaml\nyaml.load(open(ARTIFACT), Loader=yaml.CLoader)\n",
        ("yaml",),
    ),
    Sample(
        "yaml-python-apply-in-text-above-the-read-cap",
        _huge_renamed_yaml,
        True,
        ("MLS-YAML-005", "MLS-YAML-001"),
        "a renamed YAML stream larger than the text read cap: load_all constructs document one",
        "import yaml\nnext(yaml.unsafe_load_all(open(ARTIFACT)))\n",
        ("yaml",),
    ),
    Sample(
        "hydra-target-lightning-load-from-checkpoint",
        _lightning_checkpoint,
        True,
        ("MLS-YAML-017",),
        "Hydra _target_ LightningModule.load_from_checkpoint with weights_only: false",
        _INSTANTIATE,
        (*_HYDRA, "pytorch_lightning"),
    ),
    Sample(
        "mlflow-model-from-code-behind-merge-key",
        _mlflow_merged_from_code,
        True,
        ("MLS-MLF-003",),
        "model_code_path brought into the flavor by a << merge key (yaml.safe_load merges it)",
        "import mlflow.pyfunc\nmlflow.pyfunc.load_model(ARTIFACT)\n",
        ("mlflow",),
    ),
    Sample(
        "hydra-target-quoted-false-trust-remote-code",
        _quoted_false_remote_code,
        True,
        ("MLS-YAML-014",),
        'trust_remote_code: "false" is a non-empty string, which transformers takes as consent',
        "import os\nos.environ['HF_HUB_OFFLINE'] = '1'\n" + _INSTANTIATE,
        (*_HYDRA, "transformers"),
    ),
    _text(
        "hydra-target-mlflow-exec-cmd",
        "config.yaml",
        """\
        model:
          _target_: mlflow.utils.process._exec_cmd
          cmd: [touch, "{canary}"]
        """,
        ("MLS-YAML-010",),
        "Hydra _target_ on MLflow's private command runner (inside a well-known library)",
        _INSTANTIATE,
        (*_HYDRA, "mlflow"),
    ),
    _text(
        "hydra-target-sklearn-run-python-script",
        "config.yaml",
        """\
        callbacks:
          - _target_: sklearn.utils._testing.assert_run_python_script_without_output
            source_code: "import pathlib; pathlib.Path('{canary}').touch()"
        """,
        ("MLS-YAML-010",),
        "Hydra _target_ on scikit-learn's test helper that runs Python source in a subprocess",
        _INSTANTIATE,
        (*_HYDRA, "sklearn"),
    ),
    _text(
        "yaml-python-apply-in-json-named-file",
        "config.json",
        """\
        {"architectures": ["BertModel"], "hook": !!python/object/apply:os.system ["touch {canary}"]}
        """,
        ("MLS-YAML-001",),
        "YAML python tag in a config.json that is not JSON (yaml.unsafe_load reads it)",
        "import yaml\nyaml.unsafe_load(open(ARTIFACT).read())\n",
        ("yaml",),
    ),
    Sample(
        "hydra-target-in-json-config",
        _json_target,
        True,
        ("MLS-YAML-010",),
        "Hydra _target_ builtins.open in a JSON model config (OmegaConf.load reads JSON)",
        _INSTANTIATE,
        _HYDRA,
    ),
]
