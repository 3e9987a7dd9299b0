"""Corpus: what the second and third adversarial reviews of Scanner II got past it.

Each one hid in a reading of the stream the machine did not follow: the C unpickler reading
joblib's array bytes as opcodes (``pickle.load`` of a joblib file), or reading a frame from a
file object that drops the frame's rest (``torch.load`` of a zip checkpoint reads ``data.pkl``
from ``io.BytesIO``); where pickle.py imports before it fails (INST without MARK, a GLOBAL with
an empty name); where a literal, an identifier or a tar member was taken for something else.
Each victim proof runs the real loader; each sample must be flagged at high or above.

The third review (``review4-*``) went after those readings themselves: a frame straddle inside
joblib's array bytes, array bytes that end mid-opcode and shift pickle.load into the outer
stream, pickle.py's own unpickler reading the arrays, numpy's dtype state rules (a six-field
state, an object flag), a STOP inside the frame of joblib's object-array pickle, and an unknown
callable handed to an allowed one that calls it.

The fourth review (``review5-*``) imported names computed from the outer stream's allowed
callables inside array bytes, used numpy's rule that an old dtype state with any flag holds
objects, and made joblib's wrapper take an alignment the machine did not see (built by calling
its class, or with a computed state key): such wrappers are now MLS-PKL-012.

Imports alone run code: the victims of the import-only samples put a module named
``canarymod`` on ``sys.path`` whose import touches the canary.
"""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.corpus import Sample, file_sample
from tests.corpus.torch import legacy_tar

_PICKLE_LOAD = "import pickle\nwith open(ARTIFACT, 'rb') as f:\n    pickle.load(f)\n"
_PICKLE_LOAD_BYTESIO = "import io, pickle\npickle.load(io.BytesIO(open(ARTIFACT, 'rb').read()))\n"
_TORCH_LOAD = "import torch\ntorch.load(ARTIFACT, weights_only=False)\n"
_CANARY_MODULE = """
import pathlib, sys
modules = pathlib.Path(CANARY).parent / "modules"
modules.mkdir(exist_ok=True)
(modules / "canarymod.py").write_text(
    f"open({CANARY!r}, 'w').close()\\nclass Thing:\\n    pass\\n"
)
sys.path.insert(0, str(modules))
"""
_PY_UNPICKLER = "import pickle\nwith open(ARTIFACT, 'rb') as f:\n    pickle._Unpickler(f).load()\n"


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _frame(size: int) -> bytes:
    return b"\x95" + struct.pack("<Q", size)


def _call(canary: Path) -> bytes:
    return b"cos\nsystem\n(S'touch " + str(canary).encode() + b"'\ntR."


def _joblib_array_bytes_run_by_pickle_load(canary: Path) -> bytes:
    """A joblib pickle whose "array" of int8 is opcodes calling os.system from the memo.

    joblib.load steps over the array; pickle.load runs it as opcodes, with the stack and memo
    of the outer stream: the strings 'posix', 'system' and the command, memoised before the
    wrapper as harmless constants. The array spells no name and is no pickle on its own.
    """
    u = _unicode
    array = b"h\x02h\x03\x93h\x01\x85R."
    return (
        b"\x80\x02" + u(f"touch {canary}") + b"q\x010" + u("posix") + b"q\x020"
        + u("system") + b"q\x030"
        + b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}("
        + u("subclass") + b"cnumpy\nndarray\n"
        + u("shape") + b"K" + bytes([len(array)]) + b"\x85" + u("order") + u("C")
        + u("dtype") + b"cnumpy\ndtype\n(" + u("i1") + b"\x89\x88tR"
        + b"(K\x03" + u("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + u("allow_mmap") + b"\x89" + u("numpy_array_alignment_bytes") + b"Nub"
        + array + b"."
    )  # fmt: skip


def _frame_read_from_a_file_object(canary: Path) -> bytes:
    """From memory: the string 'abcde', then None. From a file object: 'cdeN.', then the call.

    The frame holds a SHORT_BINUNICODE of 5 bytes with only 2 of them; a file object without
    peek() drops those 2 and reads the 5 after the frame.
    """
    return b"\x80\x04" + _frame(4) + b"\x8c\x05ab" + b"cdeN." + b"0" + _call(canary)


def _torch_zip(data_pkl: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/version", b"3\n")
        archive.writestr("archive/byteorder", b"little")
    return buffer.getvalue()


def _short(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


_DEFAULT_STATE = b"(K\x03" + _short("|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"


def _wrapper(count: int, dtype: str = "u1", state: bytes = _DEFAULT_STATE) -> bytes:
    """PROTO 4, a dict, and the BUILD of a NumpyArrayWrapper of ``count`` items (protocol 4
    spelling, as joblib writes it); what follows is the array's bytes."""
    s = _short
    return (
        b"\x80\x04}" + s("a") + s("joblib.numpy_pickle") + s("NumpyArrayWrapper") + b"\x93)\x81}("
        + s("subclass") + s("numpy") + s("ndarray") + b"\x93"
        + s("shape") + b"J" + struct.pack("<i", count) + b"\x85" + s("order") + s("C")
        + s("dtype") + s("numpy") + s("dtype") + b"\x93" + s(dtype) + b"\x89\x88\x87R" + state
        + s("allow_mmap") + b"\x89ub"
    )  # fmt: skip


def _straddle_inside_array_bytes(canary: Path) -> bytes:
    """Array bytes holding a frame of 20 KB (bigger than a file's buffer) whose last string
    runs past it: from memory the string eats the payload, from a file it lands on it."""
    payload = _call(canary)
    body = b"B" + struct.pack("<I", 20000) + b"\x00" * 20000 + b"0" + b"\x8c\x28" + b"xxxx"
    after = b"y" * 36 + b"C\x7f" + b"zz" + payload.ljust(125, b".") + b"000"
    array = b"\x88" + _frame(len(body)) + body + after
    return _wrapper(len(array)) + array + b"s."


def _array_bytes_end_mid_opcode(module: str) -> Callable[[Path], bytes]:
    """Array bytes whose last opcode reads past them: pickle.load goes on out of step with
    joblib, inside what joblib reads as a BINBYTES constant, where the call is."""

    def build(canary: Path) -> bytes:
        payload = f"0c{module}\n(S'touch {canary}'\ntR0".encode()
        array = b"\x88C\x05"
        return (
            _wrapper(len(array)) + array + b"B" + struct.pack("<I", len(payload)) + payload
            + b"0s."
        )  # fmt: skip

    return build


def _pickle_py_reads_the_array(canary: Path) -> bytes:
    # FLOAT 1_0 stops the C unpickler before the array; pickle.py reads on, into it.
    array = b"\x88" + _call(canary)[:-1] + b"00"
    head = _wrapper(len(array))
    return head[:2] + b"F1_0\n0" + head[2:] + array + b"s."


def _six_field_dtype_state(canary: Path) -> bytes:
    # numpy reads (version, endian, subarray, fields, elsize, alignment): 'S1' of 100 bytes.
    state = b"(K\x01" + _short("|") + b"NNK\x64K\x01tb"
    payload = b"\x88" + _call(canary)[:-1] + b"00\x88"
    filler = b"y" * 94
    return (
        _wrapper(1, "S1", state) + b"x" + b"B" + struct.pack("<I", len(filler) + len(payload))
        + filler + payload + b"0s."
    )  # fmt: skip


def _object_array_stop_inside_its_frame(canary: Path) -> bytes:
    # joblib's object-array pickle stops inside its frame: the outer stream goes on from the
    # frame's end, where the payload is (not from the STOP, where a BINBYTES header hides it).
    payload = b"\x88" + _call(canary)[:-1] + b"0"
    scalar = (
        _short("numpy._core.multiarray") + _short("scalar") + b"\x93" + _short("numpy")
        + _short("dtype") + b"\x93" + _short("u1") + b"\x89\x88\x87R" + b"C\x01\x00\x86R"
    )  # fmt: skip
    body = scalar + b"." + b"B" + struct.pack("<I", len(payload))
    flags63 = _DEFAULT_STATE.replace(b"K\x00tb", b"K?tb")
    return _wrapper(1, "O8", flags63) + b"\x80\x04" + _frame(len(body)) + body + payload + b"0s."


def _unknown_callable_handed_to_an_allowed_one(canary: Path) -> bytes:
    # torch's _rebuild_from_type_v2(func, type, args, state) calls func(*args); the stream
    # breaks after it, so identification takes it for nothing, and the probe reads it.
    return b"ctorch._tensor\n_rebuild_from_type_v2\n(ccanarymod\nThing\nctorch\nTensor\n(tNtR\xff"


def _joblib_object_arrays(canary: Path) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(
        {
            "classes_": np.array(["cat", "dog"], dtype=object),
            "mixed": np.array([1, "a", None], dtype=object),
            "coef_": np.ones((2, 3)),
        },
        buffer,
    )
    return buffer.getvalue()


def _joblib_every_dtype(canary: Path) -> bytes:
    import joblib

    arrays = {
        str(dtype): np.zeros(7, dtype=dtype)
        for dtype in (
            "u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f2", "f4", "f8", "c8", "c16",
            "b1", "M8[ns]", "m8[s]", "S5", "U3", [("a", "i4"), ("b", "f8")], ("i4", (2,)),
        )
    }  # fmt: skip
    buffer = io.BytesIO()
    joblib.dump(arrays, buffer)
    return buffer.getvalue()


def _computed_import_in_array_bytes(canary: Path) -> bytes:
    """Array bytes that build 'posix' and 'system' with builtins.str (allowed, memoised by the
    outer stream), import the computed names and call the result: no name is spelled out."""
    s = _short
    array = b"h\x01" + s("posix") + b"\x85Rh\x01" + s("system") + b"\x85R\x93h\x02\x85R."
    outer = b"\x80\x04" + s("builtins") + s("str") + b"\x93q\x010" + s(f"touch {canary}")
    return outer + b"q\x020" + _wrapper(len(array))[2:] + array + b"s."


def _dtype_state_v2_with_flags(canary: Path) -> bytes:
    # Before version 3 numpy takes any flag for "holds objects": joblib unpickles these 'u1'
    # bytes (a pickle returning True, which passes joblib's byte-order check) and the outer
    # stream goes on right after its STOP, where the payload is.
    state = _DEFAULT_STATE.replace(b"K\x03", b"K\x02").replace(b"K\x00tb", b"K\x01tb")
    region = b"\x880" + s_global("numpy", "True_") + b"." + b"0" + _call(canary)
    return _wrapper(len(region), "u1", state) + region + b"."


def s_global(module: str, name: str) -> bytes:
    return _short(module) + _short(name) + b"\x93"


def _wrapper_with_padding_joblib_takes(wrapper: bytes, canary: Path) -> bytes:
    # joblib reads a padding byte (16) and skips 16 bytes before two bytes of array; a reading
    # without padding takes the padding for the array, and a BINBYTES hides what joblib runs.
    payload = _call(canary)
    tail = b"\x10" + b"x" + b"B" + struct.pack("<I", 12 + len(payload)) + b"f" * 10
    return wrapper + tail + b"\x00\x00" + payload + b"0s."


def _wrapper_made_by_calling_its_class(canary: Path) -> bytes:
    # REDUCE runs the wrapper's __init__, which sets numpy_array_alignment_bytes = 16; the
    # BUILD state leaves it out.
    s = _short
    dtype = s("numpy") + s("dtype") + b"\x93" + s("u1") + b"\x89\x88\x87R" + _DEFAULT_STATE
    wrapper = (
        b"\x80\x04}" + s("a") + s("joblib.numpy_pickle") + s("NumpyArrayWrapper") + b"\x93("
        + s("numpy") + s("ndarray") + b"\x93K\x02\x85" + s("C") + dtype + b"tR}("
        + s("shape") + b"K\x02\x85" + s("dtype") + dtype + b"ub"
    )  # fmt: skip
    return _wrapper_with_padding_joblib_takes(wrapper, canary)


def _wrapper_state_key_computed(canary: Path) -> bytes:
    # The alignment key is builtins.str('numpy_array_alignment_bytes'): a dict key no lookup
    # by constant finds, an attribute joblib's getattr does.
    s = _short
    key = s("builtins") + s("str") + b"\x93" + s("numpy_array_alignment_bytes") + b"\x85R"
    wrapper = _wrapper(2)[:-2] + key + b"K\x10ub"
    return _wrapper_with_padding_joblib_takes(wrapper, canary)


def _joblib_old_protocols(canary: Path) -> bytes:
    import joblib

    buffer = io.BytesIO()
    arrays = {"w": np.arange(7, dtype="<f4"), "labels": np.array(["a", 1], dtype=object)}
    joblib.dump([arrays, np.zeros((2, 3), order="F")], buffer, protocol=0)
    return buffer.getvalue()


def _joblib_matrices_and_record_arrays(canary: Path) -> bytes:
    import joblib

    buffer = io.BytesIO()
    records = np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # numpy's note on matrix
        matrix = np.matrix([[1, 2], [3, 4]])
    joblib.dump({"m": matrix, "r": records, "row": records[0]}, buffer)
    return buffer.getvalue()


SAMPLES: list[Sample] = [
    file_sample(
        "review3-joblib-array-bytes-run-by-pickle-load",
        _joblib_array_bytes_run_by_pickle_load,
        "a joblib array whose bytes pickle.load runs as opcodes, with the outer memo",
        _PICKLE_LOAD,
        requires=("joblib",),
    ),
    file_sample(
        "review3-frame-read-from-a-file-object",
        _frame_read_from_a_file_object,
        "a read past a frame with bytes left: pickle.load(io.BytesIO) reads on elsewhere",
        _PICKLE_LOAD_BYTESIO,
    ),
    file_sample(
        "review3-torch-zip-data-pkl-frame-read-from-bytesio",
        lambda c: _torch_zip(_frame_read_from_a_file_object(c)),
        "torch.load reads data.pkl from io.BytesIO: a frame straddle it reads differently",
        _TORCH_LOAD,
        filename="model.pt",
        requires=("torch",),
    ),
    file_sample(
        "review3-int-literal-starting-with-nul",
        lambda c: b"I\x00x\n0" + _call(c),
        "an INT literal whose first byte is NUL: the C unpickler reads False",
        _PICKLE_LOAD,
    ),
    file_sample(
        "review3-text-pickle-with-a-tflite-identifier",
        lambda c: b"S'xyTFL3'\n0ccanarymod\nThing\n.",
        "a protocol 0 pickle whose bytes 4-7 read TFL3, taken for TFLite and only probed",
        _CANARY_MODULE + _PICKLE_LOAD,
        rules=("MLS-PKL-003",),
    ),
    file_sample(
        "review3-inst-without-a-mark-imports-under-pickle-py",
        lambda c: b"icanarymod\nThing\n.",
        "INST with no MARK: pickle.py imports the class before it finds no MARK",
        _CANARY_MODULE + _PY_UNPICKLER,
        rules=("MLS-PKL-003",),
    ),
    file_sample(
        "review3-global-with-an-empty-name-imports-under-pickle-py",
        lambda c: b"ccanarymod\n\n.",
        "GLOBAL with an empty name: pickle.py imports the module, then fails",
        _CANARY_MODULE + _PY_UNPICKLER,
        rules=("MLS-PKL-003",),
    ),
    file_sample(
        "review3-torch-tar-pickle-member-that-looks-like-text",
        lambda c: legacy_tar(main=b"ccanarymod\nThing\n." + b" and then some plain text" * 4),
        "a legacy tar's 'pickle' member with text after its STOP, identified as text",
        _CANARY_MODULE + _TORCH_LOAD,
        filename="model.tar",
        rules=("MLS-PKL-003",),
        requires=("torch",),
    ),
    file_sample(
        "review3-deque-of-a-huge-range",
        lambda c: b"ccollections\ndeque\n(cbuiltins\nrange\n(I0\nI1099511627776\ntRtR.",
        "collections.deque (allowed) of range(2**40): the loader builds it in memory",
        None,
        rules=("MLS-PKL-011",),
    ),
    file_sample(
        "review4-frame-straddle-inside-joblib-array-bytes",
        _straddle_inside_array_bytes,
        "a frame straddle inside the bytes of a joblib array, read by pickle.load of a file",
        _PICKLE_LOAD_BYTESIO,
        requires=("joblib",),
    ),
    file_sample(
        "review4-joblib-array-ends-mid-opcode-osx-support",
        _array_bytes_end_mid_opcode("_osx_support\n_read_output"),
        "array bytes that end mid-opcode: pickle.load runs _osx_support._read_output",
        _PICKLE_LOAD,
        requires=("joblib",),
    ),
    file_sample(
        "review4-joblib-array-ends-mid-opcode-unknown-module",
        _array_bytes_end_mid_opcode("canarymod\nThing"),
        "array bytes that end mid-opcode: pickle.load imports and calls an unknown module",
        _CANARY_MODULE + _PICKLE_LOAD,
        rules=("MLS-PKL-003",),
        requires=("joblib",),
    ),
    file_sample(
        "review4-pickle-py-reads-joblib-array-bytes",
        _pickle_py_reads_the_array,
        "pickle._Unpickler (not joblib) runs the array's bytes; the C unpickler stops before",
        _PY_UNPICKLER,
        requires=("joblib",),
    ),
    file_sample(
        "review4-joblib-dtype-state-of-six-fields",
        _six_field_dtype_state,
        "an 'S1' dtype whose six-field state makes it 100 bytes an item",
        "import joblib\njoblib.load(ARTIFACT)\n",
        filename="model.joblib",
        requires=("joblib",),
    ),
    file_sample(
        "review4-joblib-object-array-stop-inside-its-frame",
        _object_array_stop_inside_its_frame,
        "joblib's object-array pickle stops inside its frame; joblib resumes at the frame's end",
        "import joblib\njoblib.load(ARTIFACT)\n",
        filename="model.joblib",
        requires=("joblib",),
    ),
    file_sample(
        "review4-unknown-callable-handed-to-an-allowed-one",
        _unknown_callable_handed_to_an_allowed_one,
        "an unknown class handed to torch's _rebuild_from_type_v2, which calls it; then a break",
        _CANARY_MODULE + _PICKLE_LOAD,
        filename="model",
        rules=("MLS-PKL-003",),
        requires=("torch",),
    ),
    file_sample(
        "review4-benign-joblib-object-arrays",
        _joblib_object_arrays,
        "joblib arrays of object dtype (string class labels), read by pickle.load as garbage",
        None,
        filename="model.joblib",
        malicious=False,
    ),
    file_sample(
        "review5-computed-import-in-joblib-array-bytes",
        _computed_import_in_array_bytes,
        "array bytes that import names built by builtins.str from the outer memo",
        _PICKLE_LOAD,
        requires=("joblib",),
    ),
    file_sample(
        "review5-torch-zip-computed-import-in-joblib-array-bytes",
        lambda c: _torch_zip(_computed_import_in_array_bytes(c)),
        "the same as a torch zip's data.pkl: torch.load runs the array bytes",
        _TORCH_LOAD,
        filename="model.pt",
        requires=("torch",),
    ),
    file_sample(
        "review5-joblib-dtype-state-of-version-2-with-flags",
        _dtype_state_v2_with_flags,
        "a 'u1' dtype whose version-2 state has a flag: numpy says it holds objects",
        "import joblib\njoblib.load(ARTIFACT)\n",
        filename="model.joblib",
        requires=("joblib",),
    ),
    file_sample(
        "review5-joblib-wrapper-made-by-calling-its-class",
        _wrapper_made_by_calling_its_class,
        "an array wrapper made by REDUCE: its __init__ sets the alignment the state leaves out",
        "import joblib\njoblib.load(ARTIFACT)\n",
        filename="model.joblib",
        rules=("MLS-PKL-012",),
        requires=("joblib",),
    ),
    file_sample(
        "review5-joblib-wrapper-state-key-computed",
        _wrapper_state_key_computed,
        "an array wrapper whose alignment key is computed by builtins.str",
        "import joblib\njoblib.load(ARTIFACT)\n",
        filename="model.joblib",
        rules=("MLS-PKL-012",),
        requires=("joblib",),
    ),
    file_sample(
        "review5-benign-joblib-protocol-0",
        _joblib_old_protocols,
        "joblib.dump(protocol=0): wrappers made by copyreg._reconstructor, not NEWOBJ",
        None,
        filename="model.joblib",
        malicious=False,
    ),
    file_sample(
        "review5-benign-joblib-matrices-and-record-arrays",
        _joblib_matrices_and_record_arrays,
        "numpy.matrix and numpy.rec.recarray (and a numpy.record) saved by joblib",
        None,
        filename="model.joblib",
        malicious=False,
    ),
    file_sample(
        "review3-benign-joblib-arrays-of-every-dtype",
        _joblib_every_dtype,
        "joblib arrays of every fixed-size numpy dtype (uint32 is '<u4', complex64 '<c8')",
        None,
        filename="arrays.joblib",
        malicious=False,
    ),
]
