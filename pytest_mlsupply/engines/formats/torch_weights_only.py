"""What ``torch.load(weights_only=True)`` accepts: whether its default would block a payload.

Since torch 2.6, ``torch.load`` reads pickles with a restricted unpickler by default
(``weights_only=True``): it stops at the first opcode it does not implement and at the first
GLOBAL outside an allowlist (plus whatever the program added with
``torch.serialization.add_safe_globals``). A payload in a checkpoint therefore runs only with
``weights_only=False``, on torch before 2.6, or through a global the program allowed; findings
on torch checkpoints say which applies (:func:`weights_only_stop`).

The lists below are torch 2.13's (``torch/_weights_only_unpickler.py``); the tests compare them
with the installed torch. To refresh them::

    python -c "import torch._weights_only_unpickler as w; print(sorted(w._get_allowed_globals()))"
"""

from __future__ import annotations

import _compat_pickle
import dataclasses
import mmap

from pytest_mlsupply.engines.pickle.decoder import DecodeError, read_op
from pytest_mlsupply.results import Finding

__all__ = [
    "ALLOWED_GLOBALS",
    "SUPPORTED_OPCODES",
    "TORCH_SUFFIXES",
    "TORCH_VERSION",
    "weights_only_stop",
    "with_legacy_tar_note",
    "with_weights_only_notes",
]

#: Names ``torch.load`` is pointed at: a plain pickle so named is a legacy checkpoint to it.
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")

TORCH_VERSION = "2.13"

#: Opcodes the weights-only unpickler implements; any other one stops it.
SUPPORTED_OPCODES = frozenset(
    {
        "GLOBAL", "NEWOBJ", "REDUCE", "BUILD", "APPEND", "APPENDS", "SETITEM", "SETITEMS",
        "MARK", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "NONE", "NEWFALSE", "NEWTRUE",
        "EMPTY_TUPLE", "EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET", "BININT", "BININT1",
        "BININT2", "BINFLOAT", "BINUNICODE", "SHORT_BINSTRING", "BINPERSID", "BINGET",
        "LONG_BINGET", "BINPUT", "LONG_BINPUT", "LONG1", "PROTO", "STOP",
    }
)  # fmt: skip

#: Modules whose globals it refuses even when allowed by the program.
BLOCKED_MODULES = frozenset({"nt", "os", "posix", "sys"})

#: Globals it accepts by default.
ALLOWED_GLOBALS = frozenset(
    {
        "_codecs.encode",
        "builtins.bytearray",
        "builtins.complex",
        "builtins.set",
        "collections.Counter",
        "collections.OrderedDict",
        "torch.BFloat16Storage",
        "torch.BFloat16Tensor",
        "torch.BoolStorage",
        "torch.BoolTensor",
        "torch.ByteStorage",
        "torch.ByteTensor",
        "torch.CharStorage",
        "torch.CharTensor",
        "torch.ComplexDoubleStorage",
        "torch.ComplexFloatStorage",
        "torch.DoubleStorage",
        "torch.DoubleTensor",
        "torch.FloatStorage",
        "torch.FloatTensor",
        "torch.HalfStorage",
        "torch.HalfTensor",
        "torch.IntStorage",
        "torch.IntTensor",
        "torch.LongStorage",
        "torch.LongTensor",
        "torch.QInt32Storage",
        "torch.QInt8Storage",
        "torch.QUInt2x4Storage",
        "torch.QUInt4x2Storage",
        "torch.QUInt8Storage",
        "torch.ShortStorage",
        "torch.ShortTensor",
        "torch.Size",
        "torch.Tensor",
        "torch._tensor._rebuild_from_type_v2",
        "torch._utils._rebuild_device_tensor_from_cpu_tensor",
        "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._utils._rebuild_meta_tensor_no_storage",
        "torch._utils._rebuild_nested_tensor",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_qtensor",
        "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_wrapper_subclass",
        "torch.bfloat16",
        "torch.bits16",
        "torch.bits1x8",
        "torch.bits2x4",
        "torch.bits4x2",
        "torch.bits8",
        "torch.bool",
        "torch.complex128",
        "torch.complex32",
        "torch.complex64",
        "torch.cuda.BFloat16Storage",
        "torch.cuda.BFloat16Tensor",
        "torch.cuda.BoolStorage",
        "torch.cuda.BoolTensor",
        "torch.cuda.ByteStorage",
        "torch.cuda.ByteTensor",
        "torch.cuda.CharStorage",
        "torch.cuda.CharTensor",
        "torch.cuda.ComplexDoubleStorage",
        "torch.cuda.ComplexFloatStorage",
        "torch.cuda.DoubleStorage",
        "torch.cuda.DoubleTensor",
        "torch.cuda.FloatStorage",
        "torch.cuda.FloatTensor",
        "torch.cuda.HalfStorage",
        "torch.cuda.HalfTensor",
        "torch.cuda.IntStorage",
        "torch.cuda.IntTensor",
        "torch.cuda.LongStorage",
        "torch.cuda.LongTensor",
        "torch.cuda.ShortStorage",
        "torch.cuda.ShortTensor",
        "torch.cuda.sparse.BFloat16Tensor",
        "torch.cuda.sparse.ByteTensor",
        "torch.cuda.sparse.CharTensor",
        "torch.cuda.sparse.DoubleTensor",
        "torch.cuda.sparse.FloatTensor",
        "torch.cuda.sparse.HalfTensor",
        "torch.cuda.sparse.IntTensor",
        "torch.cuda.sparse.LongTensor",
        "torch.cuda.sparse.ShortTensor",
        "torch.device",
        "torch.float16",
        "torch.float32",
        "torch.float4_e2m1fn_x2",
        "torch.float64",
        "torch.float8_e4m3fn",
        "torch.float8_e4m3fnuz",
        "torch.float8_e5m2",
        "torch.float8_e5m2fnuz",
        "torch.float8_e8m0fnu",
        "torch.int1",
        "torch.int16",
        "torch.int2",
        "torch.int3",
        "torch.int32",
        "torch.int4",
        "torch.int5",
        "torch.int6",
        "torch.int64",
        "torch.int7",
        "torch.int8",
        "torch.nn.parameter.Parameter",
        "torch.per_channel_affine",
        "torch.per_channel_affine_float_qparams",
        "torch.per_channel_symmetric",
        "torch.per_tensor_affine",
        "torch.per_tensor_symmetric",
        "torch.qint32",
        "torch.qint8",
        "torch.quint2x4",
        "torch.quint4x2",
        "torch.quint8",
        "torch.serialization._get_layout",
        "torch.sparse.BFloat16Tensor",
        "torch.sparse.ByteTensor",
        "torch.sparse.CharTensor",
        "torch.sparse.DoubleTensor",
        "torch.sparse.FloatTensor",
        "torch.sparse.HalfTensor",
        "torch.sparse.IntTensor",
        "torch.sparse.LongTensor",
        "torch.sparse.ShortTensor",
        "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage",
        "torch.uint1",
        "torch.uint16",
        "torch.uint2",
        "torch.uint3",
        "torch.uint32",
        "torch.uint4",
        "torch.uint5",
        "torch.uint6",
        "torch.uint64",
        "torch.uint7",
        "torch.uint8",
    }
)


def weights_only_stop(data: bytes | bytearray | memoryview | mmap.mmap) -> tuple[int, str] | None:
    """Where ``torch.load(weights_only=True)`` stops reading ``data`` (offset, reason).

    Every pickle of the stream is followed (a legacy checkpoint is several in a row). None
    when the restricted unpickler reads it all; the data's own errors stop both loaders alike
    and are not counted.
    """
    with memoryview(data) as view:
        return _walk(view)


def _walk(view: memoryview) -> tuple[int, str] | None:
    pos = 0
    try:
        while pos < len(view):
            op = read_op(view, pos)
            if op.name not in SUPPORTED_OPCODES:
                return op.offset, f"it does not implement the {op.name} opcode"
            if op.name == "GLOBAL":
                module, name = op.arg
                # The same Python 2 name mapping the unpickler applies before its check.
                if (module, name) in _compat_pickle.NAME_MAPPING:
                    module, name = _compat_pickle.NAME_MAPPING[(module, name)]
                elif module in _compat_pickle.IMPORT_MAPPING:
                    module = _compat_pickle.IMPORT_MAPPING[module]
                if module in BLOCKED_MODULES or f"{module}.{name}" not in ALLOWED_GLOBALS:
                    return op.offset, f"GLOBAL {module}.{name} is not on its allowlist"
            pos = op.end
    except DecodeError:
        return None
    return None


_PAYLOAD_RULES = frozenset(
    {"MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-003", "MLS-PKL-004", "MLS-PKL-005", "MLS-PKL-006",
     "MLS-PKL-007"}
)  # fmt: skip


def with_weights_only_notes(
    findings: list[Finding], data: bytes | bytearray | memoryview | mmap.mmap
) -> list[Finding]:
    """Say on each payload finding whether ``torch.load``'s default would block it.

    ``data`` is the pickle stream ``torch.load`` unpickles (``data.pkl``, or a legacy file).
    """
    stop = weights_only_stop(data)
    noted: list[Finding] = []
    for finding in findings:
        offset = finding.location.offset
        if finding.rule not in _PAYLOAD_RULES or offset is None:
            noted.append(finding)
            continue
        if stop is not None and stop[0] <= offset:
            note = (
                f"torch.load's default (weights_only=True, torch 2.6 and later) stops at byte "
                f"{stop[0]} first ({stop[1]}): this runs with weights_only=False or an older "
                "torch"
            )
        else:
            note = "torch.load(weights_only=True) does not stop this: it runs under the default"
        noted.append(dataclasses.replace(finding, evidence=f"{finding.evidence}; {note}"))
    return noted


_LEGACY_TAR_NOTE = (
    "torch.load's default (weights_only=True, torch 2.6 and later) refuses legacy tar "
    "checkpoints before unpickling anything: this runs with weights_only=False or an older torch"
)


def with_legacy_tar_note(findings: list[Finding]) -> list[Finding]:
    """Say on each payload finding in a legacy tar checkpoint's members that torch.load's
    default refuses the format outright."""
    return [
        dataclasses.replace(finding, evidence=f"{finding.evidence}; {_LEGACY_TAR_NOTE}")
        if finding.rule in _PAYLOAD_RULES
        else finding
        for finding in findings
    ]
