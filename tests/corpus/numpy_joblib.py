"""Corpus: numpy ``.npy`` / ``.npz`` and joblib dumps (raw and compressed) with and without payloads.

joblib writes each numpy array's bytes straight into the pickle stream after its wrapper, and
compresses the whole stream with zlib, gzip, bz2, lzma or xz on request: every variant is here.
The sklearn-like benign dump pickles classes under ``sklearn.*`` names that exist only while
the sample is written (scikit-learn itself is not needed).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import joblib
import numpy as np

from tests.corpus import Sample
from tests.corpus.archives import Touch

__all__ = ["SAMPLES"]


def _numpy_save(name: str, array: Callable[[Path], np.ndarray]) -> Callable[[Path, Path], Path]:
    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        np.save(path, array(canary), allow_pickle=True)
        return path

    return build


def _numpy_savez(
    name: str, arrays: Callable[[Path], dict[str, np.ndarray]], *, compressed: bool = False
) -> Callable[[Path, Path], Path]:
    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        save = np.savez_compressed if compressed else np.savez
        save(path, **arrays(canary))  # type: ignore[arg-type]
        return path

    return build


def _joblib_dump(
    name: str, value: Callable[[Path], object], compress: object = 0
) -> Callable[[Path, Path], Path]:
    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        with _sklearn_like_classes():
            joblib.dump(value(canary), path, compress=compress)  # type: ignore[arg-type]
        return path

    return build


def _payload_array(canary: Path) -> np.ndarray:
    return np.array([Touch(canary), "label"], dtype=object)


def _interleaved(canary: Path) -> dict[str, object]:
    # numpy buffers written raw between pickle opcodes, with the payload after them.
    return {
        "weights": np.arange(4096, dtype=np.float32),
        "bias": np.ones(64, dtype=np.float64),
        "hook": Touch(canary),
        "embedding": np.zeros((16, 16), dtype=np.int16),
    }


# --- sklearn-like objects without scikit-learn ---------------------------------------------


class LinearRegression:
    def __init__(self) -> None:
        self.coef_ = np.array([0.5, -1.25, 2.0])
        self.intercept_ = 0.125
        self.n_features_in_ = 3
        self.fit_intercept = True


class StandardScaler:
    def __init__(self) -> None:
        self.mean_ = np.zeros(3)
        self.scale_ = np.ones(3)
        self.with_mean = True


@contextmanager
def _sklearn_like_classes() -> Iterator[None]:
    """Give the classes the module names scikit-learn uses, only while pickling them."""
    names = {
        "sklearn": None,
        "sklearn.linear_model": None,
        "sklearn.linear_model._base": LinearRegression,
        "sklearn.preprocessing": None,
        "sklearn.preprocessing._data": StandardScaler,
    }
    added = [n for n in names if n not in sys.modules]
    # Where the real scikit-learn is already imported, its classes are put back afterwards:
    # another test in the same process pickles the real ones.
    missing = object()
    replaced: list[tuple[types.ModuleType, str, object]] = []
    for module_name, cls in names.items():
        if module_name in added:
            sys.modules[module_name] = types.ModuleType(module_name)
        if cls is not None:
            cls.__module__ = module_name
            module = sys.modules[module_name]
            replaced.append((module, cls.__name__, getattr(module, cls.__name__, missing)))
            setattr(module, cls.__name__, cls)
    try:
        yield
    finally:
        for module, attribute, original in replaced:
            if original is missing:
                delattr(module, attribute)
            else:
                setattr(module, attribute, original)
        for module_name in added:
            del sys.modules[module_name]
        LinearRegression.__module__ = StandardScaler.__module__ = __name__


def _pipeline(canary: Path) -> object:
    return {"scaler": StandardScaler(), "model": LinearRegression(), "classes": ["neg", "pos"]}


_JOBLIB_LOAD = "import joblib\njoblib.load(ARTIFACT)\n"
_NUMPY_LOAD = "import numpy\nnumpy.load(ARTIFACT, allow_pickle=True)\n"
_NPZ_LOAD = "import numpy\nnumpy.load(ARTIFACT, allow_pickle=True)['b']\n"

_JOBLIB_COMPRESSIONS = [("zlib", 3), ("gzip", 3), ("bz2", 3), ("lzma", 3), ("xz", 3)]

SAMPLES: list[Sample] = [
    Sample(
        "numpy-npy-object-array-payload",
        _numpy_save("array.npy", _payload_array),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique=".npy of object dtype whose pickled data reduces os.system",
        victim=_NUMPY_LOAD,
    ),
    Sample(
        "numpy-npz-object-member-payload",
        _numpy_savez("arrays.npz", lambda c: {"a": np.arange(10), "b": _payload_array(c)}),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique=".npz with one object-dtype member carrying a payload",
        victim=_NPZ_LOAD,
    ),
    Sample(
        "numpy-npz-compressed-object-member-payload",
        _numpy_savez(
            "arrays.npz",
            lambda c: {"a": np.ones((8, 8)), "b": _payload_array(c)},
            compressed=True,
        ),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="deflated .npz member of object dtype carrying a payload",
        victim=_NPZ_LOAD,
    ),
    Sample(
        "joblib-raw-payload",
        _joblib_dump("model.joblib", lambda c: {"model": Touch(c)}),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="joblib dump of an object that reduces os.system",
        victim=_JOBLIB_LOAD,
    ),
    Sample(
        "joblib-interleaved-numpy-buffers-payload",
        _joblib_dump("model.joblib", _interleaved),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="joblib dump with the payload after raw numpy buffers in the stream",
        victim=_JOBLIB_LOAD,
    ),
    *[
        Sample(
            f"joblib-{method}-compressed-payload",
            _joblib_dump(f"model.joblib.{method}", _interleaved, compress=(method, level)),
            malicious=True,
            rules=("MLS-PKL-001", "MLS-PKL-002"),
            technique=f"{method}-compressed joblib dump carrying a payload",
            victim=_JOBLIB_LOAD,
        )
        for method, level in _JOBLIB_COMPRESSIONS
    ],
    # --- benign ---------------------------------------------------------------------------
    Sample(
        "numpy-benign-npy-float-matrix",
        _numpy_save("weights.npy", lambda c: np.arange(60, dtype=np.float32).reshape(6, 10)),
        malicious=False,
    ),
    Sample(
        "numpy-benign-npy-fixed-strings",
        _numpy_save("labels.npy", lambda c: np.array(["cat", "dog", "bird"])),
        malicious=False,
    ),
    Sample(
        "numpy-benign-npz-arrays",
        _numpy_savez(
            "arrays.npz",
            lambda c: {"w": np.ones((4, 4)), "b": np.zeros(4), "ids": np.arange(9)},
        ),
        malicious=False,
    ),
    Sample(
        "numpy-benign-npz-compressed-structured",
        _numpy_savez(
            "table.npz",
            lambda c: {"t": np.zeros(5, dtype=[("x", "<f4"), ("y", "<i8", (2,))])},
            compressed=True,
        ),
        malicious=False,
    ),
    Sample(
        "joblib-benign-numpy-arrays",
        _joblib_dump(
            "arrays.joblib",
            lambda c: {"w": np.arange(1000, dtype=np.float64), "m": np.eye(8, dtype=np.float32)},
        ),
        malicious=False,
    ),
    Sample(
        "joblib-benign-sklearn-like-pipeline",
        _joblib_dump("pipeline.joblib", _pipeline),
        malicious=False,
    ),
    Sample(
        "joblib-benign-zlib-compressed-arrays",
        _joblib_dump("arrays.joblib.z", lambda c: {"w": np.ones((32, 32))}, compress=3),
        malicious=False,
    ),
]
