"""Configuration that loaders execute: YAML python tags, Hydra targets, MLflow, NeMo archives.

Every python-tag spelling YAML allows (the ``!!`` shorthand, a verbatim ``!<...>`` tag, a
``%TAG`` handle, ``%xx`` escapes, a tag on a key, in a flow collection, in a later document,
behind an alias) runs ``touch <canary>`` under ``yaml.unsafe_load`` / ``yaml.load`` with the
unsafe loader: the victims prove it. A Hydra ``_target_`` runs under
``hydra.utils.instantiate(OmegaConf.load(path))``; an MLflow ``loader_module`` and a
models-from-code file run under ``mlflow.pyfunc.load_model``. NeMo is not installed here, so the
NeMo archives (a tar holding ``model_config.yaml``) carry no victim.

Everything is written as text or with :mod:`tarfile`; no optional library is imported to build.
"""

from __future__ import annotations

import io
import tarfile
import textwrap
from pathlib import Path

from tests.corpus import Sample

PYTAG = ("MLS-YAML-001",)
TARGET = ("MLS-YAML-010",)

_UNSAFE_LOAD = "import yaml\nyaml.unsafe_load(open(ARTIFACT).read())\n"
_UNSAFE_LOAD_ALL = "import yaml\nlist(yaml.load_all(open(ARTIFACT), Loader=yaml.UnsafeLoader))\n"
_INSTANTIATE = (
    "from hydra.utils import instantiate\nfrom omegaconf import OmegaConf\n"
    "instantiate(OmegaConf.load(ARTIFACT))\n"
)
_PYFUNC = "import mlflow.pyfunc\nmlflow.pyfunc.load_model(ARTIFACT)\n"


def _yaml_sample(
    name: str,
    body: str,
    technique: str,
    *,
    victim: str | None = _UNSAFE_LOAD,
    filename: str = "hparams.yaml",
    rules: tuple[str, ...] = PYTAG,
    requires: tuple[str, ...] = ("yaml",),
    encoding: str = "utf-8",
) -> Sample:
    """``body`` with ``{cmd}`` replaced by ``touch <canary>`` and ``{canary}`` by its path."""

    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / filename
        text = textwrap.dedent(body).replace("{cmd}", f"touch {canary}")
        path.write_bytes(text.replace("{canary}", str(canary)).encode(encoding))
        return path

    return Sample(name, build, True, rules, technique, victim, requires)


MALICIOUS_YAML = [
    _yaml_sample(
        "yaml-python-apply-shorthand",
        """\
        lr: 0.001
        callback: !!python/object/apply:os.system ["{cmd}"]
        """,
        "!!python/object/apply shorthand in hparams.yaml",
    ),
    _yaml_sample(
        "yaml-python-apply-verbatim-tag",
        """\
        lr: 0.001
        callback: !<tag:yaml.org,2002:python/object/apply:os.system> ["{cmd}"]
        """,
        "verbatim tag URI",
    ),
    _yaml_sample(
        "yaml-python-apply-tag-directive",
        """\
        %TAG !py! tag:yaml.org,2002:python/
        ---
        lr: 0.001
        callback: !py!object/apply:os.system ["{cmd}"]
        """,
        "%TAG handle for the python namespace",
    ),
    _yaml_sample(
        "yaml-python-apply-percent-escapes",
        """\
        callback: !<tag:yaml.org,2002:python/object/apply:o%73%2Esystem> ["{cmd}"]
        """,
        "%xx escapes in a verbatim tag",
    ),
    _yaml_sample(
        "yaml-python-apply-escaped-suffix",
        """\
        callback: !!python/object/apply:%6Fs.system ["{cmd}"]
        """,
        "%xx escape in a shorthand tag's suffix",
    ),
    _yaml_sample(
        "yaml-python-apply-on-a-key",
        """\
        ? !!python/object/apply:os.system ["{cmd}"]
        : value
        """,
        "python tag on a mapping key",
    ),
    _yaml_sample(
        "yaml-python-apply-in-flow-collection",
        """\
        trainer: {devices: 1, hooks: [1, !!python/object/apply:os.system ["{cmd}"]]}
        """,
        "python tag inside nested flow collections",
    ),
    _yaml_sample(
        "yaml-python-apply-second-document",
        """\
        lr: 0.001
        ---
        callback: !!python/object/apply:os.system ["{cmd}"]
        """,
        "payload in the second document of a stream",
        victim=_UNSAFE_LOAD_ALL,
    ),
    _yaml_sample(
        "yaml-python-apply-behind-anchor",
        """\
        base: &payload !!python/object/apply:os.system ["{cmd}"]
        callback: *payload
        """,
        "payload anchored once and aliased",
    ),
    _yaml_sample(
        "yaml-python-new-mapping-form",
        """\
        callback: !!python/object/new:os.system {args: ["{cmd}"]}
        """,
        "python/object/new with the mapping form of arguments",
    ),
    _yaml_sample(
        "yaml-python-apply-in-renamed-text-file",
        """\
        callback: !!python/object/apply:os.system ["{cmd}"]
        """,
        "payload YAML saved under a name that does not say YAML",
        filename="training_args.txt",
    ),
    _yaml_sample(
        "yaml-python-apply-behind-shebang",
        """\
        #!/usr/bin/env false
        callback: !!python/object/apply:os.system ["{cmd}"]
        """,
        "a YAML comment that reads as an interpreter line",
        filename="config.yaml",
    ),
    _yaml_sample(
        "yaml-python-apply-utf16",
        """\
        callback: !!python/object/apply:os.system ["{cmd}"]
        """,
        "UTF-16 with a byte-order mark (PyYAML decodes it from a binary stream)",
        victim="import yaml\nyaml.unsafe_load(open(ARTIFACT, 'rb'))\n",
        encoding="utf-16",
    ),
    _yaml_sample(
        "yaml-python-apply-before-parse-error",
        """\
        lr: 0.001
        ---
        callback: !!python/object/apply:os.system ["{cmd}"]
        ---
        broken: [
        """,
        "payload in a document before a syntax error (load_all constructs it)",
        victim=_UNSAFE_LOAD_ALL,
    ),
    _yaml_sample(
        "hydra-target-os-system",
        """\
        _target_: os.system
        _args_: ["{cmd}"]
        """,
        "Hydra _target_ naming os.system (this Hydra release blocklists it; older ones run it)",
        victim=None,
        filename="config.yaml",
        rules=TARGET,
        requires=("hydra", "omegaconf"),
    ),
    _yaml_sample(
        "hydra-target-nested-subprocess",
        """\
        model:
          encoder:
            _target_: pathlib.Path.touch
            _args_:
              - _target_: pathlib.Path
                _args_: ["{canary}"]
        """,
        "Hydra _target_ deep in a model config (instantiate is recursive)",
        victim=_INSTANTIATE,
        filename="model_config.yaml",
        rules=TARGET,
        requires=("hydra", "omegaconf"),
    ),
    _yaml_sample(
        "hydra-target-through-interpolation",
        """\
        names:
          writer: builtins.open
        model:
          _target_: ${names.writer}
          file: "{canary}"
          mode: w
        """,
        "the _target_ is an OmegaConf interpolation of another key",
        victim=_INSTANTIATE,
        filename="config.yaml",
        rules=TARGET,
        requires=("hydra", "omegaconf"),
    ),
    _yaml_sample(
        "hydra-target-escaped-key",
        """\
        "\\x5ftarget_": "builtins.open"
        "file": "{canary}"
        "mode": "w"
        """,
        "the _target_ key spelled with a double-quoted escape",
        victim=_INSTANTIATE,
        filename="config.yaml",
        rules=TARGET,
        requires=("hydra", "omegaconf"),
    ),
]


# --- MLflow model directories -----------------------------------------------------------------

_MLMODEL_LOADER = """\
flavors:
  python_function:
    loader_module: my_loader
    code: code
    python_version: 3.11.7
mlflow_version: 3.18.0
"""
_LOADER_MODULE = """\
import pathlib


def _load_pyfunc(path):
    pathlib.Path({canary!r}).touch()
    return None
"""
_MLMODEL_FROM_CODE = """\
flavors:
  python_function:
    loader_module: mlflow.pyfunc.loaders.code_model
    model_code_path: /home/someone/model_src.py
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


def _mlflow_loader_module(directory: Path, canary: Path) -> Path:
    (directory / "code").mkdir(parents=True)
    (directory / "MLmodel").write_text(_MLMODEL_LOADER)
    (directory / "code" / "my_loader.py").write_text(_LOADER_MODULE.format(canary=str(canary)))
    return directory


def _mlflow_from_code(directory: Path, canary: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "MLmodel").write_text(_MLMODEL_FROM_CODE)
    (directory / "model_src.py").write_text(_MODEL_CODE.format(canary=str(canary)))
    return directory


MALICIOUS_MLFLOW = [
    Sample(
        "mlflow-custom-loader-module",
        _mlflow_loader_module,
        True,
        ("MLS-MLF-001",),
        "MLmodel loader_module resolved from the model's code directory",
        _PYFUNC,
        ("mlflow",),
    ),
    Sample(
        "mlflow-model-from-code",
        _mlflow_from_code,
        True,
        ("MLS-MLF-003",),
        "models-from-code: MLflow executes the model's Python file at load",
        _PYFUNC,
        ("mlflow",),
    ),
]


# --- NeMo archives --------------------------------------------------------------------------

_NEMO_CONFIG = """\
sample_rate: 16000
target: nemo.collections.asr.models.ctc_models.EncDecCTCModel
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
  sample_rate: 16000
encoder:
  _target_: {encoder}
  feat_in: 64
"""


def nemo_archive(
    config: str, *, gzip: bool = False, extra: dict[str, bytes] | None = None
) -> bytes:
    """A ``.nemo`` file as NeMo writes one: a tar of ``./model_config.yaml`` and friends."""
    members = {"./model_config.yaml": config.encode(), **(extra or {})}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gzip else "w:") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _nemo_sample(name: str, encoder: str, rules: tuple[str, ...], *, gzip: bool) -> Sample:
    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "model.nemo"
        config = _NEMO_CONFIG.format(encoder=encoder.replace("{cmd}", f"touch {canary}"))
        path.write_bytes(nemo_archive(config, gzip=gzip))
        return path

    return Sample(name, build, True, rules, f"NeMo archive config: {encoder[:40]}", None)


MALICIOUS_NEMO = [
    _nemo_sample("nemo-config-target-os-system", "os.system", TARGET, gzip=False),
    _nemo_sample(
        "nemo-gzip-config-python-tag",
        '!!python/object/apply:os.system ["{cmd}"]',
        PYTAG,
        gzip=True,
    ),
]


# --- benign --------------------------------------------------------------------------------


def _text_sample(name: str, filename: str, body: str, technique: str) -> Sample:
    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / filename
        path.write_text(textwrap.dedent(body))
        return path

    return Sample(name, build, False, (), technique)


def _benign_nemo(directory: Path, canary: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "asr.nemo"
    config = _NEMO_CONFIG.format(encoder="nemo.collections.asr.modules.ConformerEncoder")
    path.write_bytes(nemo_archive(config, extra={"./tokenizer.vocab": b"a\nb\n!\n"}))
    return path


BENIGN = [
    _text_sample(
        "yaml-lightning-cli-config",
        "config.yaml",
        """\
        # lightning CLI config
        seed_everything: 42
        trainer:
          accelerator: auto
          max_epochs: 3
          callbacks:
            - class_path: lightning.pytorch.callbacks.ModelCheckpoint
              init_args: {monitor: val_loss}
        model:
          _target_: torch.nn.Linear
          in_features: 4
          out_features: 2
        optim:
          _target_: torch.optim.AdamW
          _partial_: true
          lr: 1.0e-3
        defaults: &defaults {dropout: 0.1}
        head:
          <<: *defaults
          hidden: [64, 64]
        """,
        "Hydra / Lightning config with targets inside torch",
    ),
    _text_sample(
        "yaml-hparams-with-tuple",
        "hparams.yaml",
        """\
        lr: 0.001
        betas: !!python/tuple
        - 0.9
        - 0.999
        """,
        "hparams.yaml as yaml.dump writes a tuple (a low finding only)",
    ),
    _text_sample(
        "mlflow-sklearn-mlmodel",
        "MLmodel",
        """\
        flavors:
          python_function:
            env:
              conda: conda.yaml
              virtualenv: python_env.yaml
            loader_module: mlflow.sklearn
            model_path: model.skops
            predict_fn: predict
            python_version: 3.11.7
          sklearn:
            code: null
            pickled_model: model.skops
            serialization_format: skops
            sklearn_version: 1.9.1
        mlflow_version: 3.18.0
        """,
        "MLmodel of mlflow.sklearn.save_model (skops)",
    ),
    Sample("nemo-archive-benign", _benign_nemo, False, (), "NeMo archive with stock targets"),
]

SAMPLES = MALICIOUS_YAML + MALICIOUS_MLFLOW + MALICIOUS_NEMO + BENIGN
