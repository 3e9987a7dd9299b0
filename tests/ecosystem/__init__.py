"""A benign corpus made by the real libraries: what projects pickle every day.

Each :class:`Artifact` writes one file the way its library (or a user of it) does: ``joblib.dump``
with each compression, ``DataFrame.to_pickle``, ``torch.save`` of whole modules and training
checkpoints, ``Trainer``'s ``training_args.bin``, a Lightning checkpoint written by a real
``Trainer.fit``. Nothing here is loaded back; the scanner must find every file clean.

The libraries are imported inside the build functions, so importing this module (to collect the
tests, or from ``scripts/survey_allowlist.py``) needs none of them. Every estimator of
``sklearn.utils.all_estimators()`` is built by :func:`sklearn_estimators`, whose list needs
scikit-learn, so it is a function rather than a static table.
"""

from __future__ import annotations

import datetime
import pickle
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Artifact:
    name: str
    """Unique, readable, and the file name: ``pandas-dataframe-to-pickle-xz.pkl``."""
    build: Callable[[Path], None]
    """``build(path)`` writes the artifact at ``path``."""
    needs: tuple[str, ...]
    """Modules the build imports (the test is skipped, or fails in CI, without them)."""
    waiting: str | None = None
    """Why the artifact is expected to fail today (work owned elsewhere), or None."""
    tags: tuple[str, ...] = field(default=())


def _pickle_to(
    obj: Callable[[], Any], protocol: int = pickle.HIGHEST_PROTOCOL
) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_bytes(pickle.dumps(obj(), protocol=protocol))

    return build


def _joblib_to(obj: Callable[[], Any], compress: Any = 0) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        import joblib

        joblib.dump(obj(), path, compress=compress)

    return build


def _torch_to(obj: Callable[[], Any]) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        import torch

        torch.save(obj(), path)

    return build


#: joblib's compressors as ``compress=`` spells them; lz4 needs the lz4 package.
JOBLIB_COMPRESSIONS = ("zlib", "gzip", "bz2", "lzma", "xz", "lz4")
#: What ``DataFrame.to_pickle`` can compress with (zstd needs the zstandard package).
PANDAS_COMPRESSIONS = ("gzip", "bz2", "zip", "xz", "tar", "zstd")


# -- numpy -------------------------------------------------------------------------------------


def _numpy_objects() -> dict[str, Callable[[], Any]]:
    def arrays() -> Any:
        import numpy as np

        dtypes = [
            "bool",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "float16",
            "float32",
            "float64",
            "longdouble",
            "complex64",
            "complex128",
            "datetime64[ns]",
            "timedelta64[s]",
            "U5",
            "S5",
        ]
        return {d: np.arange(6).astype(d) for d in dtypes}

    def structured() -> Any:
        import numpy as np

        dt = np.dtype([("a", "<i4"), ("b", "<f8", (2,)), ("c", "U3")])
        return np.zeros(3, dtype=dt)

    def objects_and_scalars() -> Any:
        import numpy as np

        return {
            "obj": np.array([1, "a", None], dtype=object),
            "scalars": [np.float32(1.5), np.int64(3), np.bool_(True), np.datetime64("2024-01-01")],
            "masked": np.ma.masked_array([1, 2, 3], mask=[0, 1, 0]),
            "matrix": np.asmatrix(np.eye(2)),
            "rec": np.rec.fromrecords([(1, "a")], names="x,y"),
            "fortran": np.asfortranarray(np.ones((2, 3))),
            "dtypes": [np.dtype("f4"), np.dtype(">i8"), np.dtype([("x", "f4")])],
            "stringdtype": np.array(["a", "bc"], dtype=np.dtypes.StringDType()),
        }

    def random_state() -> Any:
        import numpy as np

        seq = np.random.SeedSequence(42)
        return {
            "generator": np.random.default_rng(0),
            "randomstate": np.random.RandomState(0),
            "seedsequence": seq,
            "bitgens": [
                np.random.MT19937(1),
                np.random.PCG64(1),
                np.random.PCG64DXSM(1),
                np.random.Philox(1),
                np.random.SFC64(1),
            ],
            "state": np.random.get_state(),
        }

    return {
        "arrays": arrays,
        "structured": structured,
        "objects-scalars": objects_and_scalars,
        "random": random_state,
    }


def numpy_artifacts() -> list[Artifact]:
    out: list[Artifact] = []
    for key, make in _numpy_objects().items():
        for protocol in (2, 5):
            out.append(
                Artifact(f"numpy-{key}-p{protocol}.pkl", _pickle_to(make, protocol), ("numpy",))
            )
        out.append(Artifact(f"numpy-{key}-joblib.joblib", _joblib_to(make), ("numpy", "joblib")))
    for compress in JOBLIB_COMPRESSIONS:
        needs = ("numpy", "joblib") + (("lz4",) if compress == "lz4" else ())
        out.append(
            Artifact(
                f"numpy-arrays-joblib-{compress}.joblib",
                _joblib_to(_numpy_objects()["arrays"], (compress, 3)),
                needs,
            )
        )
    return out


# -- pandas ------------------------------------------------------------------------------------


def _FIXED_TZ() -> datetime.tzinfo:
    return datetime.timezone(datetime.timedelta(hours=1), "CET")


def _zoneinfo_frame() -> Any:
    import pandas as pd

    return pd.DataFrame({"when": pd.date_range("2024-01-01", periods=3, tz="Europe/Paris")})


def _frame() -> Any:
    import numpy as np
    import pandas as pd

    return pd.DataFrame(
        {
            "int": [1, 2, 3],
            "float": [0.5, np.nan, 2.0],
            "str": ["a", "b", "c"],
            "cat": pd.Categorical(["x", "y", "x"]),
            "tz": pd.date_range("2024-01-01", periods=3, tz=_FIXED_TZ()),
            "naive": pd.date_range("2024-01-01", periods=3),
            "delta": pd.to_timedelta([1, 2, 3], unit="s"),
            "period": pd.period_range("2024-01", periods=3, freq="M"),
            "interval": pd.interval_range(0, 3),
            "sparse": pd.arrays.SparseArray([0, 0, 1]),
            "Int64": pd.array([1, None, 3], dtype="Int64"),
            "Float64": pd.array([1.0, None, 3.0], dtype="Float64"),
            "string": pd.array(["a", None, "c"], dtype="string"),
            "boolean": pd.array([True, None, False], dtype="boolean"),
            "object": [{"a": 1}, [1], None],
        }
    )


def _pandas_objects() -> dict[str, Callable[[], Any]]:
    def series() -> Any:
        import pandas as pd

        return {
            "plain": pd.Series([1.0, 2.0], name="s"),
            "cat": pd.Series(pd.Categorical(["a", "b"], ordered=True)),
            "tz": pd.Series(pd.date_range("2024", periods=2, tz=datetime.UTC)),
        }

    def indexes() -> Any:
        import pandas as pd

        return [
            pd.RangeIndex(5),
            pd.Index([1, 2, 3]),
            pd.Index(["a", "b"]),
            pd.Index([1.5, 2.5]),
            pd.DatetimeIndex(["2024-01-01"], tz=_FIXED_TZ()),
            pd.TimedeltaIndex(["1 day"]),
            pd.PeriodIndex(["2024-01"], freq="M"),
            pd.IntervalIndex.from_breaks([0, 1, 2]),
            pd.CategoricalIndex(["a", "b", "a"]),
            pd.MultiIndex.from_product([["a", "b"], [1, 2]], names=["k", "n"]),
        ]

    def multiindex_frame() -> Any:
        import numpy as np
        import pandas as pd

        index = pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)])
        frame = pd.DataFrame(np.arange(6).reshape(3, 2), index=index, columns=["x", "y"])
        return frame.groupby(level=0).sum()

    def offsets_timestamps() -> Any:
        import pandas as pd

        return {
            "ts": pd.Timestamp("2024-01-01", tz=datetime.UTC),
            "td": pd.Timedelta("1h"),
            "period": pd.Period("2024-01", freq="M"),
            "interval": pd.Interval(0, 1),
            "offsets": [pd.offsets.Day(2), pd.offsets.MonthEnd(), pd.offsets.BusinessDay()],
            "nat": pd.NaT,
            "na": pd.NA,
            "dtypes": [pd.CategoricalDtype(["a"]), pd.DatetimeTZDtype(tz="UTC"), pd.Int64Dtype()],
        }

    return {
        "dataframe": _frame,
        "series": series,
        "indexes": indexes,
        "multiindex-frame": multiindex_frame,
        "scalars-offsets": offsets_timestamps,
        # A tz-aware column: the time zone pickles as getattr(zoneinfo.ZoneInfo, '_unpickle').
        "dataframe-zoneinfo-tz": _zoneinfo_frame,
    }


def _to_pickle(make: Callable[[], Any], compression: str | None) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        make().to_pickle(path, compression=compression)

    return build


def pandas_artifacts() -> list[Artifact]:
    out: list[Artifact] = []
    for key, make in _pandas_objects().items():
        for protocol in (2, 4, 5):
            out.append(
                Artifact(f"pandas-{key}-p{protocol}.pkl", _pickle_to(make, protocol), ("pandas",))
            )
        out.append(Artifact(f"pandas-{key}-joblib.joblib", _joblib_to(make), ("pandas", "joblib")))
    out.append(Artifact("pandas-dataframe-to-pickle.pkl", _to_pickle(_frame, None), ("pandas",)))
    # pandas 3's time zones are zoneinfo.ZoneInfo, pickled as getattr(ZoneInfo, '_unpickle').
    out.append(
        Artifact("pandas-dataframe-zoneinfo-tz.pkl", _to_pickle(_zoneinfo_frame, None), ("pandas",))
    )
    for compression in PANDAS_COMPRESSIONS:
        out.append(
            Artifact(
                f"pandas-dataframe-to-pickle-{compression}.pkl",
                _to_pickle(_frame, compression),
                ("pandas", "zstandard") if compression == "zstd" else ("pandas",),
            )
        )
    return out


# -- scipy -------------------------------------------------------------------------------------


def _sparse() -> Any:
    import numpy as np
    from scipy import sparse

    dense = np.array([[0, 1.0, 0], [2.0, 0, 0], [0, 0, 3.0]])
    out: dict[str, Any] = {}
    for kind in ("csr", "csc", "coo", "bsr", "dia", "dok", "lil"):
        out[f"{kind}_matrix"] = getattr(sparse, f"{kind}_matrix")(dense)
        out[f"{kind}_array"] = getattr(sparse, f"{kind}_array")(dense)
    return out


def scipy_artifacts() -> list[Artifact]:
    return [
        Artifact("scipy-sparse-p2.pkl", _pickle_to(_sparse, 2), ("scipy",)),
        Artifact("scipy-sparse-p5.pkl", _pickle_to(_sparse, 5), ("scipy",)),
        Artifact("scipy-sparse-joblib.joblib", _joblib_to(_sparse), ("scipy", "joblib")),
        Artifact("scipy-sparse-joblib-zlib.joblib", _joblib_to(_sparse, 3), ("scipy", "joblib")),
    ]


# -- torch -------------------------------------------------------------------------------------


def _torch_models() -> dict[str, Callable[[], Any]]:
    def sequential() -> Any:
        import torch

        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Linear(4, 8),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.1),
            torch.nn.Linear(8, 2),
            torch.nn.Softmax(dim=-1),
        )

    def conv() -> Any:
        import torch

        return torch.nn.Sequential(
            torch.nn.Conv2d(1, 2, 3),
            torch.nn.BatchNorm2d(2),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Identity(),
            torch.nn.GELU(),
            torch.nn.LayerNorm(2),
        )

    def lstm() -> Any:
        import torch

        return torch.nn.ModuleDict(
            {
                "emb": torch.nn.Embedding(10, 4),
                "lstm": torch.nn.LSTM(4, 4, batch_first=True),
                "gru": torch.nn.GRU(4, 4),
                "head": torch.nn.Linear(4, 2),
            }
        )

    def transformer() -> Any:
        import torch

        layer = torch.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
        return torch.nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)

    return {"sequential": sequential, "conv": conv, "lstm": lstm, "transformer": transformer}


def _optimizers() -> dict[str, Any]:
    import torch

    out: dict[str, Any] = {}
    for name in (
        "SGD",
        "Adam",
        "AdamW",
        "RMSprop",
        "Adagrad",
        "Adadelta",
        "Adamax",
        "NAdam",
        "RAdam",
    ):
        model = torch.nn.Linear(3, 1)
        opt = getattr(torch.optim, name)(model.parameters(), lr=0.01)
        model(torch.ones(2, 3)).sum().backward()
        opt.step()
        out[name] = opt.state_dict()
    return out


def _schedulers(whole: bool) -> Any:
    import torch

    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    lrs = torch.optim.lr_scheduler
    schedulers = [
        lrs.StepLR(opt, 2),
        lrs.MultiStepLR(opt, [1, 2]),
        lrs.ExponentialLR(opt, 0.9),
        lrs.CosineAnnealingLR(opt, 10),
        lrs.ReduceLROnPlateau(opt),
        lrs.CyclicLR(opt, 0.01, 0.1),
        lrs.OneCycleLR(opt, 0.1, total_steps=10),
        lrs.CosineAnnealingWarmRestarts(opt, 5),
        lrs.LinearLR(opt),
        lrs.ConstantLR(opt),
        lrs.PolynomialLR(opt),
    ]
    if whole:
        return {
            "optimizer": opt,
            "schedulers": [
                s for s in schedulers if not isinstance(s, (lrs.CyclicLR, lrs.LambdaLR))
            ],
        }
    return [s.state_dict() for s in schedulers]


def _checkpoint() -> Any:
    import random

    import numpy as np
    import torch

    model = _torch_models()["sequential"]()
    opt = torch.optim.AdamW(model.parameters())
    sched = torch.optim.lr_scheduler.StepLR(opt, 1)
    model(torch.ones(1, 4)).sum().backward()
    opt.step()
    sched.step()
    return {
        "epoch": 3,
        "global_step": 120,
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": opt.state_dict(),
        "scheduler_state_dict": sched.state_dict(),
        "rng_state": {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "cpu": torch.get_rng_state(),
            "generator": torch.Generator().manual_seed(1).get_state(),
        },
        "best_metric": np.float64(0.91),
        "loss": torch.tensor(0.25),
    }


def _torch_misc() -> Any:
    import torch

    return {
        "dtypes": [torch.float32, torch.bfloat16, torch.int8, torch.bool, torch.complex64],
        "devices": [torch.device("cpu"), torch.device("cuda", 0), torch.device("meta")],
        "size": torch.Size([2, 3]),
        "layouts": [torch.strided, torch.sparse_coo],
        "tensors": [
            torch.zeros(2, dtype=torch.float16),
            torch.arange(4).reshape(2, 2).t(),
            torch.nn.Parameter(torch.ones(2)),
            torch.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (3,)),
            torch.ones(2, 3).to_sparse_csr(),
        ],
        "finfo": torch.finfo(torch.float32).eps,
    }


def torch_artifacts() -> list[Artifact]:
    out: list[Artifact] = []
    for key, make in _torch_models().items():
        out.append(Artifact(f"torch-whole-module-{key}.pt", _torch_to(make), ("torch",)))
        out.append(
            Artifact(
                f"torch-state-dict-{key}.pt", _torch_to(lambda m=make: m().state_dict()), ("torch",)
            )
        )
    out += [
        Artifact("torch-optimizer-states.pt", _torch_to(_optimizers), ("torch",)),
        Artifact("torch-scheduler-states.pt", _torch_to(lambda: _schedulers(False)), ("torch",)),
        Artifact(
            "torch-whole-optimizer-schedulers.pt", _torch_to(lambda: _schedulers(True)), ("torch",)
        ),
        Artifact("torch-training-checkpoint.pt", _torch_to(_checkpoint), ("torch", "numpy")),
        Artifact("torch-dtypes-devices-sizes.pt", _torch_to(_torch_misc), ("torch",)),
        Artifact("torch-legacy-checkpoint.pt", _torch_legacy(_checkpoint), ("torch", "numpy")),
        Artifact(
            "torch-whole-module-pickled.pkl",
            _pickle_to(_torch_models()["lstm"], 4),
            ("torch",),
        ),
    ]
    return out


def _torch_legacy(make: Callable[[], Any]) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        import torch

        torch.save(make(), path, _use_new_zipfile_serialization=False)

    return build


def torch_outside_artifacts() -> list[Artifact]:
    """Tensors pickled outside torch.save: each storage reduces to
    ``torch.storage._load_from_bytes(<bytes of a legacy torch.save stream>)``, a nested loader
    the scan follows and judges by those bytes (MLS-PKL-018 when they are clean)."""

    def tensors() -> Any:
        import torch

        return {"w": torch.ones(2, 2), "model": torch.nn.Linear(2, 1)}

    return [
        Artifact(
            "torch-tensors-joblib.joblib",
            _joblib_to(tensors),
            ("torch", "joblib"),
        ),
        Artifact(
            "torch-tensors-pickle-p4.pkl",
            _pickle_to(tensors, 4),
            ("torch",),
        ),
    ]


# -- transformers, tokenizers, datasets, accelerate --------------------------------------------


def _training_args() -> Any:
    import tempfile

    from transformers import TrainingArguments

    with tempfile.TemporaryDirectory() as out:
        return TrainingArguments(
            output_dir=out, num_train_epochs=1, learning_rate=3e-5, report_to=[]
        )


def _configs() -> Any:
    from transformers import BertConfig, GPT2Config, LlamaConfig, PretrainedConfig, T5Config

    return [
        BertConfig(num_hidden_layers=1),
        GPT2Config(n_layer=1),
        LlamaConfig(num_hidden_layers=1),
        T5Config(num_layers=1),
        PretrainedConfig(),
    ]


def _generation_config() -> Any:
    from transformers import GenerationConfig

    return GenerationConfig(max_new_tokens=5, do_sample=True, temperature=0.7)


def _seq2seq_args() -> Any:
    import tempfile

    from transformers import Seq2SeqTrainingArguments

    with tempfile.TemporaryDirectory() as out:
        return Seq2SeqTrainingArguments(output_dir=out, predict_with_generate=True, report_to=[])


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(
        ["hello world", "hello there"], trainers.BpeTrainer(vocab_size=50, special_tokens=["[UNK]"])
    )
    return tok


def _dataset() -> Any:
    import datasets

    return datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})


def _accelerate_state() -> Any:
    from accelerate.utils import (
        DataLoaderConfiguration,
        DistributedType,
        GradientAccumulationPlugin,
        ProjectConfiguration,
    )

    return {
        "project": ProjectConfiguration(project_dir="out", automatic_checkpoint_naming=True),
        "dataloader": DataLoaderConfiguration(),
        "grad_accum": GradientAccumulationPlugin(num_steps=2),
        "distributed_type": DistributedType.NO,
        "step": 3,
    }


def _accelerate_checkpoint(path: Path) -> None:
    import torch
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model, opt = accelerator.prepare(model, opt)
    accelerator.save_state(str(path.with_suffix("")) + "_state", safe_serialization=False)
    # save_state writes a folder; the corpus keeps its RNG state, the pickle only it writes.
    folder = Path(str(path.with_suffix("")) + "_state")
    path.write_bytes(next(folder.glob("random_states_*.pkl")).read_bytes())


def hf_artifacts() -> list[Artifact]:
    return [
        Artifact(
            "transformers-training_args.bin", _torch_to(_training_args), ("transformers", "torch")
        ),
        Artifact(
            "transformers-seq2seq-training_args.bin",
            _torch_to(_seq2seq_args),
            ("transformers", "torch"),
        ),
        Artifact("transformers-configs.pkl", _pickle_to(_configs), ("transformers",)),
        Artifact("transformers-configs.pt", _torch_to(_configs), ("transformers", "torch")),
        Artifact(
            "transformers-generation-config.pkl", _pickle_to(_generation_config), ("transformers",)
        ),
        Artifact("tokenizers-tokenizer.pkl", _pickle_to(_tokenizer), ("tokenizers",)),
        Artifact("datasets-dataset.pkl", _pickle_to(_dataset), ("datasets",)),
        Artifact(
            "accelerate-dataclasses.pt", _torch_to(_accelerate_state), ("accelerate", "torch")
        ),
        Artifact(
            "accelerate-save-state-random_states.pkl",
            _accelerate_checkpoint,
            ("accelerate", "torch"),
        ),
    ]


# -- lightning, omegaconf, hydra ---------------------------------------------------------------


def _lightning_checkpoint(path: Path) -> None:
    import logging

    import pytorch_lightning as pl
    import torch
    from omegaconf import OmegaConf
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)

    class Tiny(pl.LightningModule):
        def __init__(self, cfg: Any, lr: float = 0.01, layers: tuple[int, ...] = (2, 1)) -> None:
            super().__init__()
            # The init arguments, a DictConfig among them: hparams is an AttributeDict.
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch: Any, _: int) -> Any:
            loss = self.layer(batch[0]).pow(2).mean()
            self.log("loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            opt = torch.optim.Adam(self.parameters(), lr=0.01)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 1)}

    cfg = OmegaConf.create({"model": {"hidden": 4, "lr": 0.01}, "data": {"batch": 2}, "seed": 0})
    data = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.ones(4, 2)), batch_size=2
    )
    root = path.parent / (path.name + ".run")
    trainer = pl.Trainer(
        max_epochs=1,
        default_root_dir=root,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[
            ModelCheckpoint(dirpath=root, filename="best", monitor="loss", save_last=True),
            EarlyStopping(monitor="loss", patience=2),
        ],
        accelerator="cpu",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(Tiny(cfg), data)
    path.write_bytes((root / "last.ckpt").read_bytes())


def _omegaconf_objects() -> Any:
    from omegaconf import DictConfig, ListConfig, OmegaConf

    cfg = OmegaConf.create({"a": 1, "b": {"c": [1, 2]}, "d": "${a}", "e": None})
    assert isinstance(cfg, DictConfig)
    return {
        "dict": cfg,
        "list": ListConfig([1, "x", 2.5]),
        "struct": OmegaConf.structured({"x": 1}),
    }


def _hydra_config() -> Any:
    import tempfile

    from hydra import compose, initialize_config_dir

    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "config.yaml").write_text("model:\n  lr: 0.1\n  layers: [2, 4]\nseed: 3\n")
        with initialize_config_dir(config_dir=folder, version_base=None):
            return compose(config_name="config", overrides=["seed=4"])


def _lightning_hparams() -> Any:
    from omegaconf import OmegaConf
    from pytorch_lightning.utilities.parsing import AttributeDict

    # What `model.hparams` is, as users save it beside their weights.
    return {"hparams": AttributeDict(lr=0.1, cfg=OmegaConf.create({"layers": [2, 4]}))}


def config_artifacts() -> list[Artifact]:
    return [
        Artifact(
            "lightning-hparams.pt", _torch_to(_lightning_hparams), ("pytorch_lightning", "torch")
        ),
        Artifact(
            "lightning-last.ckpt",
            _lightning_checkpoint,
            ("pytorch_lightning", "torch", "omegaconf"),
        ),
        Artifact("omegaconf-configs.pkl", _pickle_to(_omegaconf_objects), ("omegaconf",)),
        Artifact("omegaconf-configs.pt", _torch_to(_omegaconf_objects), ("omegaconf", "torch")),
        Artifact("hydra-composed-config.pkl", _pickle_to(_hydra_config), ("hydra", "omegaconf")),
    ]


# -- gradient boosting -------------------------------------------------------------------------


def _xy(classes: int = 2) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.RandomState(0)
    X = np.abs(rng.rand(30, 4)) + 0.1
    y = np.arange(30) % classes
    return X, y


def _xgboost() -> Any:
    import xgboost

    X, y = _xy()
    clf = xgboost.XGBClassifier(n_estimators=2, max_depth=2).fit(X, y)
    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(X, label=y), num_boost_round=2)
    return {
        "sklearn": clf,
        "booster": booster,
        "reg": xgboost.XGBRegressor(n_estimators=2).fit(X, y * 1.0),
    }


def _lightgbm() -> Any:
    import lightgbm

    X, y = _xy()
    clf = lightgbm.LGBMClassifier(n_estimators=2, min_child_samples=2, verbose=-1).fit(X, y)
    booster = lightgbm.train(
        {"verbose": -1, "min_data_in_leaf": 2}, lightgbm.Dataset(X, y), num_boost_round=2
    )
    return {"sklearn": clf, "booster": booster}


def _catboost() -> Any:
    import tempfile

    import catboost

    X, y = _xy()
    with tempfile.TemporaryDirectory() as folder:
        clf = catboost.CatBoostClassifier(
            iterations=2, verbose=False, train_dir=folder, allow_writing_files=False
        )
        clf.fit(X, y)
        reg = catboost.CatBoostRegressor(
            iterations=2, verbose=False, allow_writing_files=False
        ).fit(X, y * 1.0)
    return {"clf": clf, "reg": reg}


def gbm_artifacts() -> list[Artifact]:
    out: list[Artifact] = []
    for key, make in {"xgboost": _xgboost, "lightgbm": _lightgbm, "catboost": _catboost}.items():
        out.append(Artifact(f"{key}-models.pkl", _pickle_to(make), (key, "sklearn")))
        out.append(Artifact(f"{key}-models.joblib", _joblib_to(make), (key, "sklearn", "joblib")))
        out.append(
            Artifact(
                f"{key}-models-gzip.joblib", _joblib_to(make, "gzip"), (key, "sklearn", "joblib")
            )
        )
    return out


# -- scikit-learn: every estimator -------------------------------------------------------------

#: Estimators whose inputs are not a numeric matrix, with the data they fit on.
_SKLEARN_SPECIAL_INPUT = {
    "CountVectorizer": "text",
    "TfidfVectorizer": "text",
    "HashingVectorizer": "text",
    "TfidfTransformer": "counts",
    "DictVectorizer": "dicts",
    "FeatureHasher": "dicts",
    "LabelEncoder": "labels",
    "LabelBinarizer": "labels",
    "MultiLabelBinarizer": "multilabels",
    "IsotonicRegression": "1d",
    "PatchExtractor": "images",
}


def _sklearn_fit(name: str, cls: Any) -> Any:
    import inspect

    import numpy as np
    from sklearn.base import ClassifierMixin, RegressorMixin, is_classifier
    from sklearn.linear_model import LogisticRegression, Ridge

    X, y = _xy(3)
    params = inspect.signature(cls).parameters
    kwargs: dict[str, Any] = {}
    for key in ("estimator", "base_estimator"):
        if key in params and params[key].default is inspect.Parameter.empty:
            kwargs[key] = LogisticRegression() if issubclass(cls, ClassifierMixin) else Ridge()
    if "estimators" in params and params["estimators"].default is inspect.Parameter.empty:
        if issubclass(cls, ClassifierMixin):
            kwargs["estimators"] = [("a", LogisticRegression()), ("b", LogisticRegression(C=2))]
        else:
            kwargs["estimators"] = [("a", Ridge()), ("b", Ridge(alpha=2))]
    if name in ("Pipeline",):
        kwargs["steps"] = [("s", _scaler()), ("m", LogisticRegression())]
    if name == "FeatureUnion":
        kwargs["transformer_list"] = [("a", _scaler()), ("b", _scaler())]
    if name == "ColumnTransformer":
        kwargs["transformers"] = [("a", _scaler(), [0, 1])]
    if name == "SparseCoder":
        kwargs["dictionary"] = np.eye(4)
    if "n_components" in params and name not in ("SparseCoder",):
        kwargs["n_components"] = 2
    if "n_clusters" in params:
        kwargs["n_clusters"] = 2
    # Small models fit fast; what they pickle is the same classes as big ones.
    if "n_estimators" in params:
        kwargs["n_estimators"] = 3
    if "max_iter" in params and name.startswith(("MLP", "HistGradientBoosting")):
        kwargs["max_iter"] = 5
    if name == "TSNE":
        kwargs["max_iter"] = 250  # the smallest it accepts
    if "Cs" in params:
        kwargs["Cs"] = 2
    if "cv" in params and params["cv"].default is not None:
        kwargs["cv"] = 2
    if name in ("GridSearchCV", "HalvingGridSearchCV"):
        kwargs["param_grid"] = {"C": [1.0]}
    if name in ("RandomizedSearchCV", "HalvingRandomSearchCV"):
        kwargs["param_distributions"] = {"C": [1.0]}
        if name == "RandomizedSearchCV":
            kwargs["n_iter"] = 1
    if name == "FunctionTransformer":
        kwargs["func"] = np.log1p  # a ufunc: the one kind of callable the allowlist knows
    if "n_neighbors" in params and params["n_neighbors"].default not in (
        None,
        inspect.Parameter.empty,
    ):
        kwargs["n_neighbors"] = 3
    if name in ("GridSearchCV", "RandomizedSearchCV", "SelfTrainingClassifier"):
        kwargs["estimator"] = LogisticRegression()
    if name == "FrozenEstimator":
        kwargs["estimator"] = LogisticRegression().fit(X, y)
    if name == "PLSSVD":
        kwargs["n_components"] = 1
    if name == "SpectralBiclustering":
        kwargs["n_best"] = 2
    if name == "TSNE":
        kwargs["perplexity"] = 5.0
    estimator = cls(**kwargs)
    kind = _SKLEARN_SPECIAL_INPUT.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "text":
            return estimator.fit(["the cat sat", "the dog ran", "a cat ran"])
        if kind == "counts":
            return estimator.fit(np.array([[1, 0, 2], [0, 1, 1]]))
        if kind == "dicts":
            return estimator.fit([{"a": 1, "b": 2.0}, {"a": 3, "c": 1.0}])
        if kind == "labels":
            return estimator.fit(["x", "y", "x", "z"])
        if kind == "multilabels":
            return estimator.fit([["x"], ["x", "y"]])
        if kind == "1d":
            return estimator.fit(X[:, 0], y.astype(float))
        if kind == "images":
            return estimator.fit(np.random.RandomState(0).rand(2, 6, 6))
        if name == "KernelCenterer":
            return estimator.fit(X @ X.T)
        if name in ("ClassifierChain", "MultiOutputClassifier"):
            return estimator.fit(X, np.column_stack([y % 2, (y + 1) % 2]))
        if name in ("FixedThresholdClassifier", "TunedThresholdClassifierCV"):
            return estimator.fit(X, y % 2)
        if is_classifier(estimator) or issubclass(cls, ClassifierMixin):
            return estimator.fit(X, y)
        if issubclass(cls, RegressorMixin):
            target = X[:, 0] + y
            if name.startswith(("MultiTask", "MultiOutput", "RegressorChain", "CCA", "PLS")):
                target = np.column_stack([target, X[:, 1]])
            return estimator.fit(X, target)
        try:
            return estimator.fit(X, y)
        except TypeError:
            return estimator.fit(X)


def _scaler() -> Any:
    from sklearn.preprocessing import StandardScaler

    return StandardScaler()


_FITTED: dict[str, Any] = {}
_SKIPPED: dict[str, str] = {}


def sklearn_estimators() -> tuple[dict[str, Any], dict[str, str]]:
    """Every estimator ``all_estimators()`` returns, fitted on a tiny dataset, and the ones that
    could not be fitted with why (cached: fitting them all takes a few seconds)."""
    if _FITTED or _SKIPPED:
        return _FITTED, _SKIPPED
    import numpy as np
    from sklearn.utils import all_estimators

    # Estimators without a random_state draw from numpy's global generator: seeded here, so
    # that the pickled bytes (and any finding about them) are the same on every run.
    saved = np.random.get_state()
    np.random.seed(0)
    try:
        for name, cls in all_estimators():
            try:
                # Deprecated estimators warn when made; they are still what old projects pickle.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _FITTED[name] = _sklearn_fit(name, cls)
            except Exception as error:  # an estimator that needs inputs a tiny matrix cannot give
                _SKIPPED[name] = f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"
    finally:
        np.random.set_state(saved)
    return _FITTED, _SKIPPED


def sklearn_artifacts() -> list[Artifact]:
    """Each fitted estimator dumped plain with joblib; then every estimator together, once with
    each joblib compression and once with each pickle protocol from 2 to 5."""
    fitted, _ = sklearn_estimators()
    out: list[Artifact] = []
    for name, estimator in fitted.items():
        out.append(
            Artifact(
                f"sklearn-{name}.joblib", _joblib_to(lambda e=estimator: e), ("sklearn", "joblib")
            )
        )
    everything = lambda: dict(fitted)  # noqa: E731
    for compress in JOBLIB_COMPRESSIONS:
        needs = ("sklearn", "joblib") + (("lz4",) if compress == "lz4" else ())
        out.append(
            Artifact(
                f"sklearn-all-joblib-{compress}.joblib",
                _joblib_to(everything, (compress, 3)),
                needs,
            )
        )
    for protocol in (2, 3, 4, 5):
        out.append(
            Artifact(f"sklearn-all-p{protocol}.pkl", _pickle_to(everything, protocol), ("sklearn",))
        )
    return out


def static_artifacts() -> list[Artifact]:
    """Every artifact whose name is known without importing its library."""
    return (
        numpy_artifacts()
        + pandas_artifacts()
        + scipy_artifacts()
        + torch_artifacts()
        + torch_outside_artifacts()
        + hf_artifacts()
        + config_artifacts()
        + gbm_artifacts()
    )


def build_all(folder: Path, artifacts: list[Artifact]) -> Iterator[tuple[Artifact, Path | str]]:
    """Build each artifact into ``folder``: its path, or the build's error as text."""
    folder.mkdir(parents=True, exist_ok=True)
    for artifact in artifacts:
        path = folder / artifact.name
        try:
            if not path.exists():
                # Libraries warn about their own defaults (torch's sparse invariants, lightning's
                # workers); the corpus is about what they write, not what they say.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    artifact.build(path)
        except Exception as error:
            yield artifact, f"{type(error).__name__}: {error}"
            continue
        yield artifact, path
