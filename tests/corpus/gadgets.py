"""Corpus: gadget constructors judged by what they wrap, nested loaders by what they load.

Malicious: a partial around ``os.system`` that the pickle calls, a harmless partial whose
``__setstate__`` swaps in ``os.system`` before the call, an attrgetter/methodcaller chain that
reaches ``os.system`` from a module, a tensor storage blob (``torch.storage._load_from_bytes``)
whose object pickle is a payload, ``pickle.loads`` of nested payload bytes, and
``numpy.load(io.BytesIO(...), None, True)`` of an object ``.npy`` whose pickle is a payload, of a
bare payload pickle and of an ``.npz`` whose object member is one, and ``joblib.load`` of a
gzip-compressed payload pickle. Benign, made by the real libraries: scikit-learn holding a
partial, torch tensors pickled and joblib-dumped, and objects that reduce to ``numpy.load`` of
what ``numpy.save`` / ``numpy.savez`` wrote or to ``joblib.load`` of what ``joblib.dump`` wrote.
"""

from __future__ import annotations

import functools
import gzip
import io
import pickle
import struct
import zipfile
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


def _npy_object(data_pickle: bytes) -> bytes:
    """An ``.npy`` of one object (dtype ``|O``): its data is ``data_pickle``."""
    header = repr({"descr": "|O", "fortran_order": False, "shape": (1,)}).encode("latin-1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data_pickle


def _numpy_load(data: bytes) -> bytes:
    """numpy.load(_io.BytesIO(data), None, True): mmap_mode None, allow_pickle True."""
    return b"\x80\x02cnumpy\nload\n(c_io\nBytesIO\n" + _binbytes(data) + b"\x85RN\x88tR"


def _numpy_load_object_array_payload(canary: Path) -> bytes:
    return _numpy_load(_npy_object(system_call(canary))) + b"."


def _numpy_load_bare_pickle_payload(canary: Path) -> bytes:
    # Not the .npy magic nor a zip's: numpy.load(allow_pickle=True) unpickles the bytes.
    return _numpy_load(system_call(canary)) + b"."


def _numpy_load_npz_member_payload(canary: Path) -> bytes:
    # numpy.load of an .npz is lazy: builtins.dict(...) indexes every member, which loads it.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("weights.npy", _npy_object(pickle.dumps([0.5, 1.5], protocol=2)))
        archive.writestr("bias.npy", _npy_object(system_call(canary)))
    return b"\x80\x02cbuiltins\ndict\n" + _numpy_load(buffer.getvalue())[2:] + b"\x85R."


def _joblib_load_gzip_payload(canary: Path) -> bytes:
    # joblib.load(_io.BytesIO(<gzip of a payload pickle>)): joblib decompresses, then unpickles.
    blob = gzip.compress(system_call(canary))
    return b"\x80\x02cjoblib.numpy_pickle\nload\nc_io\nBytesIO\n" + _binbytes(blob) + b"\x85R\x85R."


class _Dumped:
    """An object pickled as joblib.dump bytes: joblib.load of them."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple[object, ...]:
        import joblib

        return (joblib.load, (io.BytesIO(self.data),))


def _joblib_load_of_dumped_arrays() -> bytes:
    import joblib
    import numpy as np

    buffer = io.BytesIO()
    joblib.dump({"w": np.arange(8.0), "classes": ["a", "b"]}, buffer, compress=("gzip", 3))
    return pickle.dumps(_Dumped(buffer.getvalue()))


class _SavedArray:
    """What a library that pickles an array as numpy.save bytes writes: numpy.load of them."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple[object, ...]:
        import numpy as np

        return (np.load, (io.BytesIO(self.data),))


def _numpy_load_of_saved_floats() -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.linspace(0.0, 1.0, 12).reshape(3, 4))
    return pickle.dumps({"weights": _SavedArray(buffer.getvalue())})


def _numpy_load_of_savez_floats() -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, w=np.ones((2, 2), dtype=np.float32), b=np.arange(3))
    return pickle.dumps(_SavedArray(buffer.getvalue()), protocol=2)


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
    file_sample(
        "pickle-numpy-load-object-array-payload",
        _numpy_load_object_array_payload,
        "numpy.load(BytesIO(b), None, True) of an object .npy whose pickle runs os.system",
        _VICTIM_PICKLE,
        rules=_LOADER_RULES,
        requires=("numpy",),
    ),
    file_sample(
        "pickle-numpy-load-bare-pickle-payload",
        _numpy_load_bare_pickle_payload,
        "numpy.load(BytesIO(b), None, True) of a bare payload pickle (numpy unpickles it)",
        _VICTIM_PICKLE,
        rules=_LOADER_RULES,
        requires=("numpy",),
    ),
    file_sample(
        "pickle-numpy-load-npz-member-payload",
        _numpy_load_npz_member_payload,
        "dict(numpy.load(BytesIO(npz), None, True)): an object member's pickle runs os.system",
        _VICTIM_PICKLE,
        rules=_LOADER_RULES,
        requires=("numpy",),
    ),
    file_sample(
        "pickle-joblib-load-gzip-payload",
        _joblib_load_gzip_payload,
        "joblib.load(BytesIO(b)) of a gzip-compressed payload pickle (joblib decompresses it)",
        _VICTIM_PICKLE,
        rules=_LOADER_RULES,
        requires=("joblib",),
    ),
    _benign(
        "pickle-joblib-load-of-dumped-arrays",
        _joblib_load_of_dumped_arrays,
        "an object reducing to joblib.load(io.BytesIO(<joblib.dump, gzip, of arrays>))",
        "joblib",
        "numpy",
    ),
    _benign(
        "pickle-numpy-load-of-saved-floats",
        _numpy_load_of_saved_floats,
        "an object reducing to numpy.load(io.BytesIO(<numpy.save of a float array>))",
        "numpy",
    ),
    _benign(
        "pickle-numpy-load-of-savez-floats",
        _numpy_load_of_savez_floats,
        "an object reducing to numpy.load(io.BytesIO(<numpy.savez_compressed of two arrays>))",
        "numpy",
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
