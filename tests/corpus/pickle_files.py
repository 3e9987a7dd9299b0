"""Corpus: pickle files on disk, bare or wrapped in gzip, bz2, xz, lzma, zlib, lz4 and zstd.

The hostile pickles come from the pickle engine's own corpus builders
(``tests/engines/pickle/pickle_corpus.py``); here they are written as files and loaded the way
users load files: ``pickle.load(open(...))``, ``gzip.open``, and so on.
"""

from __future__ import annotations

import bz2
import gzip
import importlib.util
import lzma
import pickle
import random
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import lz4.frame
import numpy as np
import zstandard

from tests.corpus import Sample
from tests.corpus.archives import touch_pickle

__all__ = ["SAMPLES", "asm", "lz4_frame", "pickle_corpus"]

_PICKLE_TESTS = Path(__file__).resolve().parents[1] / "engines" / "pickle"


def _load(name: str) -> ModuleType:
    """The pickle tests' helper modules, importable under the names their own tests use."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _PICKLE_TESTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


asm: Any = _load("pickle_asm")
pickle_corpus: Any = _load("pickle_corpus")


def lz4_frame(data: bytes) -> bytes:
    """An LZ4 frame holding ``data``, as joblib's ``.lz4`` dumps are written."""
    return bytes(lz4.frame.compress(data))


def _file(name: str, content: Callable[[Path], bytes]) -> Callable[[Path, Path], Path]:
    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        path.write_bytes(content(canary))
        return path

    return build


_LOAD = "import pickle\nwith open(ARTIFACT, 'rb') as f:\n    pickle.load(f)\n"
_LOAD_ALL = """
import pickle
with open(ARTIFACT, 'rb') as f:
    while True:
        try:
            pickle.load(f)
        except EOFError:
            break
"""

# Hostile techniques from the pickle engine's corpus, written to disk as they are.
_TECHNIQUES = {
    "reduce_os_system_protocol_0": _LOAD,
    "reduce_os_system_protocol_4": _LOAD,
    "stack_global_operands_from_memo": _LOAD,
    "inst_opcode_os_system": _LOAD,
    "global_builtins_open": _LOAD,
    "second_of_concatenated_pickles": _LOAD_ALL,
    "payload_followed_by_garbage": _LOAD,
    "eval_of_compile": _LOAD,
}


def _technique_samples() -> list[Sample]:
    by_name = {s.name: s for s in pickle_corpus.MALICIOUS}
    samples = []
    for name, victim in _TECHNIQUES.items():
        source = by_name[name]
        samples.append(
            Sample(
                f"pickle-file-{name.replace('_', '-')}",
                _file(f"{name}.pkl", lambda c, b=source.build: b(str(c))),
                malicious=True,
                rules=tuple(sorted(source.rules)),
                technique=f"pickle engine technique '{name}' as a .pkl file",
                victim=victim,
            )
        )
    return samples


_WRAPPED: list[tuple[str, str, Callable[[bytes], bytes], str | None]] = [
    (
        "gzip",
        "model.pkl.gz",
        gzip.compress,
        "import gzip, pickle\npickle.load(gzip.open(ARTIFACT))",
    ),
    ("bz2", "model.pkl.bz2", bz2.compress, "import bz2, pickle\npickle.load(bz2.open(ARTIFACT))"),
    ("xz", "model.pkl.xz", lzma.compress, "import lzma, pickle\npickle.load(lzma.open(ARTIFACT))"),
    (
        "lzma-alone",
        "model.pkl.lzma",
        lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
        "import lzma, pickle\npickle.load(lzma.open(ARTIFACT, format=lzma.FORMAT_ALONE))",
    ),
    (
        "zlib",
        "model.pkl.z",
        zlib.compress,
        "import pickle, zlib\npickle.loads(zlib.decompress(open(ARTIFACT, 'rb').read()))",
    ),
    (
        "lz4",
        "model.pkl.lz4",
        lz4_frame,
        "import lz4.frame, pickle\npickle.load(lz4.frame.open(ARTIFACT))",
    ),
    (
        "zstd",
        "model.pkl.zst",
        lambda d: zstandard.ZstdCompressor().compress(d),
        "import pickle, zstandard\n"
        "pickle.loads(zstandard.ZstdDecompressor().decompress(open(ARTIFACT, 'rb').read()))",
    ),
    (
        "gzip-second-member",
        "model.pkl.gz",
        lambda d: gzip.compress(b"") + gzip.compress(d),
        "import gzip, pickle\npickle.load(gzip.open(ARTIFACT))",
    ),
]


def _wrapped_samples() -> list[Sample]:
    return [
        Sample(
            f"pickle-file-{kind}-wrapped",
            _file(name, lambda c, w=wrap: w(touch_pickle(c))),
            malicious=True,
            rules=("MLS-PKL-001", "MLS-PKL-002"),
            technique=f"a malicious pickle compressed with {kind}",
            victim=victim,
        )
        for kind, name, wrap, victim in _WRAPPED
    ]


def _rng_state(canary: Path) -> bytes:
    # What accelerate saves next to a checkpoint (random_states_0.pkl): Python's, numpy's and
    # torch's generator states; torch's is a uint8 tensor, stood in for by bytes here.
    rng = random.Random(1234)
    state = {
        "step": 10,
        "random_state": rng.getstate(),
        "numpy_random_seed": np.random.RandomState(1234).get_state(),
        "torch_manual_seed": bytes(range(256)) * 2,
    }
    return pickle.dumps(state, protocol=2)


SAMPLES: list[Sample] = [
    *_technique_samples(),
    *_wrapped_samples(),
    Sample(
        "pickle-file-benign-accelerate-rng-state",
        _file("random_states_0.pkl", _rng_state),
        malicious=False,
    ),
    Sample(
        "pickle-file-benign-gzip-config",
        _file(
            "config.pkl.gz",
            lambda c: gzip.compress(pickle.dumps({"lr": 1e-3, "layers": [64, 64], "name": "m"})),
        ),
        malicious=False,
    ),
    Sample(
        "pickle-file-benign-bz2-vocabulary",
        _file(
            "vocab.pkl.bz2",
            lambda c: bz2.compress(pickle.dumps({f"tok{i}": i for i in range(500)}, protocol=4)),
        ),
        malicious=False,
    ),
    Sample(
        "pickle-file-benign-lz4-numbers",
        _file("numbers.pkl.lz4", lambda c: lz4_frame(pickle.dumps(list(range(100))))),
        malicious=False,
    ),
]
