"""Corpus: gadget constructors judged by what they wrap, nested loaders by what they load.

Malicious: a partial around ``os.system`` that the pickle calls, a harmless partial whose
``__setstate__`` swaps in ``os.system`` before the call, an attrgetter/methodcaller chain that
reaches ``os.system`` from a module, a tensor storage blob (``torch.storage._load_from_bytes``)
whose object pickle is a payload, and ``pickle.loads`` of nested payload bytes. Benign, made by
the real libraries: scikit-learn holding a partial, torch tensors pickled and joblib-dumped.
"""

from __future__ import annotations

import functools
import io
import pickle
import struct
from collections.abc import Callable
from pathlib import Path

from tests.corpus import Sample, file_sample, system_call

_VICTIM_PICKLE = "import pickle\npickle.load(open(ARTIFACT, 'rb'))\n"
_GADGET_RULES = ("MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-017")
_LOADER_RULES = ("MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-019")


def _text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _partial_os_system_called(canary: Path) -> bytes:
    # functools.partial(os.system, "touch canary")()
    return b"\x80\x02cfunctools\npartial\ncos\nsystem\n" + _text(f"touch {canary}") + b"\x86R)R."


def _partial_state_swap(canary: Path) -> bytes:
    # p = functools.partial(collections.OrderedDict); p.__setstate__((os.system, (cmd,), None,
    # None)); p(): the constructor wraps an allowed class, the state swaps the function.
    return (
        b"\x80\x02cfunctools\npartial\nccollections\nOrderedDict\n\x85R"
        + b"(cos\nsystem\n"
        + _text(f"touch {canary}")
        + b"\x85NNtb)R."
    )


def _attrgetter_methodcaller_chain(canary: Path) -> bytes:
    # operator.methodcaller("system", cmd)(operator.attrgetter("os")(os.path)): GLOBAL os path
    # is the posixpath module, whose attribute os is the os module.
    return (
        b"\x80\x02coperator\nmethodcaller\n"
        + _text("system")
        + _text(f"touch {canary}")
        + b"\x86R"
        + b"coperator\nattrgetter\n"
        + _text("os")
        + b"\x85Rcos\npath\n\x85R\x85R."
    )


def _legacy_blob(object_pickle: bytes) -> bytes:
    """A legacy torch.save stream whose object pickle is ``object_pickle`` (no storages)."""
    return (
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2)
        + object_pickle
        + pickle.dumps([], protocol=2)
    )


def _binbytes(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def _load_from_bytes_payload(canary: Path) -> bytes:
    # What a pickled tensor writes (torch.storage._load_from_bytes(<torch.save bytes>)), with a
    # payload as the blob's object pickle: torch.load(weights_only=False) of the blob runs it.
    blob = _legacy_blob(system_call(canary))
    return b"\x80\x02ctorch.storage\n_load_from_bytes\n" + _binbytes(blob) + b"\x85R."


def _pickle_loads_payload(canary: Path) -> bytes:
    return b"\x80\x02cpickle\nloads\n" + _binbytes(system_call(canary)) + b"\x85R."


def _benign(name: str, make: Callable[[], bytes], technique: str, *modules: str) -> Sample:
    def build(directory: Path, canary: Path) -> Path:
        from tests.conftest import require

        for module in modules:
            require(module)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "model.pkl"
        path.write_bytes(make())
        return path

    return Sample(name, build, malicious=False, technique=technique, requires=modules)


def _function_transformer_partial() -> bytes:
    import numpy as np
    from sklearn.preprocessing import FunctionTransformer

    return pickle.dumps(FunctionTransformer(func=functools.partial(np.sqrt)))


def _pickled_tensors() -> bytes:
    import torch

    return pickle.dumps({"w": torch.arange(6, dtype=torch.float32), "mask": torch.ones(2) > 0})


def _joblib_tensor() -> bytes:
    import joblib
    import numpy as np
    import torch

    buffer = io.BytesIO()
    joblib.dump({"t": torch.zeros(3), "a": np.arange(4.0)}, buffer)
    return buffer.getvalue()


SAMPLES: list[Sample] = [
    file_sample(
        "pickle-partial-os-system-called",
        _partial_os_system_called,
        "functools.partial(os.system, cmd) built and called by REDUCE",
        _VICTIM_PICKLE,
        rules=_GADGET_RULES,
    ),
    file_sample(
        "pickle-partial-setstate-swaps-in-os-system",
        _partial_state_swap,
        "a partial around an allowed class whose BUILD state swaps in os.system, then called",
        _VICTIM_PICKLE,
        rules=_GADGET_RULES,
    ),
    file_sample(
        "pickle-attrgetter-methodcaller-chain",
        _attrgetter_methodcaller_chain,
        "attrgetter('os')(os.path) reaches the os module; methodcaller('system', cmd) calls it",
        _VICTIM_PICKLE,
        rules=_GADGET_RULES,
    ),
    file_sample(
        "pickle-load-from-bytes-legacy-blob-payload",
        _load_from_bytes_payload,
        "torch.storage._load_from_bytes of a torch.save blob whose object pickle is a payload",
        _VICTIM_PICKLE,
        rules=_LOADER_RULES,
        requires=("torch",),
    ),
    file_sample(
        "pickle-loads-nested-payload",
        _pickle_loads_payload,
        "pickle.loads of constant bytes that are a payload pickle",
        _VICTIM_PICKLE,
        rules=_LOADER_RULES,
    ),
    _benign(
        "sklearn-function-transformer-partial",
        _function_transformer_partial,
        "FunctionTransformer(func=functools.partial(numpy.sqrt)), pickled",
        "sklearn",
    ),
    _benign(
        "pickle-torch-tensors",
        _pickled_tensors,
        "torch tensors pickled: each storage is a torch.save blob for _load_from_bytes",
        "torch",
    ),
    _benign(
        "joblib-torch-tensor-beside-an-array",
        _joblib_tensor,
        "joblib.dump of a dict holding a torch tensor and a numpy array",
        "torch",
        "joblib",
    ),
]
