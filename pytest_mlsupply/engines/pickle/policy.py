"""Verdicts on pickle globals by name: allowlist first, then a denylist, then "unknown".

The verdict never imports anything: it is decided from the dotted name the loader would
resolve. Lookups walk the name from its most specific prefix to its least, so ``os.path.join``
is dangerous because ``os`` is, while a documented safe entry (``torch.serialization._get_layout``)
overrides a dangerous parent. Safe entries are exact: ``pathlib.Path`` being harmless would not
make ``pathlib.Path.write_text`` harmless.

Attribute paths after the module (``GLOBAL 'torch' 'os.system'`` with protocol 4 dotted
names) are checked too, because ``torch.os`` *is* the ``os`` module: a safe-looking package
re-exports every module it imports.
"""

from __future__ import annotations

import _compat_pickle
import enum
import fnmatch
from dataclasses import dataclass
from typing import Literal

__all__ = ["Decision", "PicklePolicy", "Verdict", "decide"]


class Verdict(enum.IntEnum):
    """Ordered so that ``max`` picks the worst."""

    SAFE = 0
    UNKNOWN = 1
    SUSPICIOUS = 2
    DANGEROUS = 3


@dataclass(frozen=True)
class PicklePolicy:
    """How to judge globals outside the allowlist.

    ``default-deny`` fails every global that is not known safe; ``denylist`` fails only the
    known-dangerous ones. ``allow`` names extra globals to trust, exactly (``mypkg.MyClass``)
    or by pattern (``mypkg.*``); it can never turn a dangerous global into a safe one.
    """

    mode: Literal["default-deny", "denylist"] = "default-deny"
    allow: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("default-deny", "denylist"):
            raise ValueError(
                f"unknown pickle policy {self.mode!r}; write 'default-deny' or 'denylist'"
            )

    def allows(self, dotted: str) -> bool:
        return any(
            dotted == pattern or fnmatch.fnmatchcase(dotted, pattern) for pattern in self.allow
        )


@dataclass(frozen=True)
class Decision:
    """A verdict and the entry (or reasoning) that produced it."""

    verdict: Verdict
    reason: str
    matched: str = ""


# -- the allowlist: what real checkpoints need ---------------------------------------------

_TORCH_STORAGES = [
    f"torch.{kind}Storage"
    for kind in [
        "Float",
        "Double",
        "Half",
        "BFloat16",
        "Long",
        "Int",
        "Short",
        "Char",
        "Byte",
        "Bool",
        "ComplexFloat",
        "ComplexDouble",
        "QUInt8",
        "QInt8",
        "QInt32",
        "QUInt4x2",
        "QUInt2x4",
        "Untyped",
        "Typed",
    ]
]
_TORCH_TENSORS = [
    f"torch.{kind}Tensor"
    for kind in [
        "Float",
        "Double",
        "Half",
        "BFloat16",
        "Long",
        "Int",
        "Short",
        "Char",
        "Byte",
        "Bool",
    ]
]
_TORCH_DTYPES = [
    f"torch.{name}"
    for name in [
        "float32",
        "float",
        "float64",
        "double",
        "float16",
        "half",
        "bfloat16",
        "complex32",
        "complex64",
        "complex128",
        "cfloat",
        "cdouble",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "int8",
        "int16",
        "short",
        "int32",
        "int",
        "int64",
        "long",
        "bool",
        "qint8",
        "quint8",
        "qint32",
        "quint4x2",
        "quint2x4",
        "float8_e4m3fn",
        "float8_e5m2",
        "float8_e4m3fnuz",
        "float8_e5m2fnuz",
        "strided",
        "sparse_coo",
        "sparse_csr",
        "sparse_csc",
        "sparse_bsr",
        "sparse_bsc",
        "_mkldnn",
        "contiguous_format",
        "channels_last",
        "channels_last_3d",
        "preserve_format",
        "per_tensor_affine",
        "per_channel_affine",
        "per_tensor_symmetric",
        "per_channel_symmetric",
        "per_channel_affine_float_qparams",
    ]
]
_TORCH_REBUILD = [
    f"torch._utils.{name}"
    for name in [
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_tensor_v3",
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
        "_rebuild_qtensor",
        "_rebuild_sparse_tensor",
        "_rebuild_sparse_csr_tensor",
        "_rebuild_meta_tensor_no_storage",
        "_rebuild_nested_tensor",
        "_rebuild_wrapper_subclass",
        "_rebuild_device_tensor_from_numpy",
        "_rebuild_device_tensor_from_cpu_tensor",
    ]
]
_NUMPY_UFUNCS = [
    f"numpy.{name}"
    for name in [
        "abs",
        "absolute",
        "acos",
        "acosh",
        "add",
        "arccos",
        "arccosh",
        "arcsin",
        "arcsinh",
        "arctan",
        "arctan2",
        "arctanh",
        "asin",
        "asinh",
        "atan",
        "atan2",
        "atanh",
        "bitwise_and",
        "bitwise_count",
        "bitwise_invert",
        "bitwise_left_shift",
        "bitwise_not",
        "bitwise_or",
        "bitwise_right_shift",
        "bitwise_xor",
        "cbrt",
        "ceil",
        "conj",
        "conjugate",
        "copysign",
        "cos",
        "cosh",
        "deg2rad",
        "degrees",
        "divide",
        "divmod",
        "equal",
        "exp",
        "exp2",
        "expm1",
        "fabs",
        "float_power",
        "floor",
        "floor_divide",
        "fmax",
        "fmin",
        "fmod",
        "frexp",
        "gcd",
        "greater",
        "greater_equal",
        "heaviside",
        "hypot",
        "invert",
        "isfinite",
        "isinf",
        "isnan",
        "isnat",
        "lcm",
        "ldexp",
        "left_shift",
        "less",
        "less_equal",
        "log",
        "log10",
        "log1p",
        "log2",
        "logaddexp",
        "logaddexp2",
        "logical_and",
        "logical_not",
        "logical_or",
        "logical_xor",
        "matmul",
        "matvec",
        "maximum",
        "minimum",
        "mod",
        "modf",
        "multiply",
        "negative",
        "nextafter",
        "not_equal",
        "positive",
        "pow",
        "power",
        "rad2deg",
        "radians",
        "reciprocal",
        "remainder",
        "right_shift",
        "rint",
        "sign",
        "signbit",
        "sin",
        "sinh",
        "spacing",
        "sqrt",
        "square",
        "subtract",
        "tan",
        "tanh",
        "true_divide",
        "trunc",
        "vecdot",
        "vecmat",
    ]
]
_NUMPY_DTYPE_CLASSES = [
    f"numpy.dtypes.{name}DType"
    for name in [
        "Bool",
        "Byte",
        "Bytes",
        "CLongDouble",
        "Complex128",
        "Complex64",
        "DateTime64",
        "Float16",
        "Float32",
        "Float64",
        "Int16",
        "Int32",
        "Int64",
        "Int8",
        "Int",
        "Long",
        "LongDouble",
        "LongLong",
        "Short",
        "Str",
        "String",
        "TimeDelta64",
        "UByte",
        "UInt16",
        "UInt32",
        "UInt64",
        "UInt8",
        "UInt",
        "ULong",
        "ULongLong",
        "UShort",
        "Void",
    ]
]
_NUMPY_SCALAR_TYPES = [
    f"numpy.{name}"
    for name in [
        "bool_",
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
        "clongdouble",
        "str_",
        "bytes_",
        "void",
        "datetime64",
        "timedelta64",
        "intc",
        "uintc",
        "intp",
        "uintp",
    ]
]

SAFE_GLOBALS: frozenset[str] = frozenset(
    [
        # TorchScript's .debug_pkl / constants use these identity builders (they return their
        # argument); exact entries, so the rest of torch.jit stays on the denylist.
        "torch.jit._pickle.build_intlist",
        "torch.jit._pickle.build_tensorlist",
        "torch.jit._pickle.build_doublelist",
        "torch.jit._pickle.build_boollist",
        "torch.jit._pickle.build_tensor_from_id",
        "torch.jit._pickle.restore_type_tag",
        # Python's own picklers emit these for builtin data.
        "builtins.set",
        "builtins.frozenset",
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.slice",
        "builtins.complex",
        "builtins.range",
        "builtins.object",
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "builtins.int",
        "builtins.float",
        "builtins.str",
        "builtins.bool",
        "builtins.Ellipsis",
        "builtins.NotImplemented",
        "copyreg._reconstructor",
        "copyreg.__newobj__",
        "copyreg.__newobj_ex__",
        # bytes in protocol 0-2 pickles (and accelerate's RNG state saved with them).
        "_codecs.encode",
        "collections.OrderedDict",
        "collections.Counter",
        "collections.defaultdict",
        "collections.deque",
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
        # numpy array and scalar reconstruction (numpy 1 and numpy 2 module paths).
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.ma.MaskedArray",
        "numpy.ma.core.MaskedArray",
        # ndarray subclasses numpy pickles by class: matrices and record arrays.
        "numpy.matrix",
        "numpy.matrixlib.defmatrix.matrix",
        "numpy.recarray",
        "numpy.rec.recarray",
        "numpy.core.records.recarray",
        "numpy._core.records.recarray",
        "numpy.record",
        "numpy.core.records.record",
        "numpy._core.records.record",
        "numpy.ma.core._mareconstruct",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random.mtrand.RandomState",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random._pcg64.PCG64DXSM",
        "numpy.random._philox.Philox",
        "numpy.random._sfc64.SFC64",
        "numpy.random.bit_generator.SeedSequence",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
        "numpy.random._generator.Generator",
        # torch's weights_only unpickler allowlist.
        "torch.nn.parameter.Parameter",
        "torch.nn.parameter.UninitializedParameter",
        "torch.nn.parameter.Buffer",
        "torch.serialization._get_layout",
        "torch.Size",
        "torch.Tensor",
        "torch.device",
        "torch.storage.UntypedStorage",
        "torch.storage.TypedStorage",
        "torch._tensor._rebuild_from_type_v2",
        *_TORCH_STORAGES,
        *_TORCH_TENSORS,
        *_TORCH_DTYPES,
        *_TORCH_REBUILD,
        # joblib's array wrappers (the array bytes follow them in the stream).
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "joblib.numpy_pickle_compat.ZNDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle_compat.NDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle_compat.ZNDArrayWrapper",
        # Cython extension types in scikit-learn models reduce through these factories.
        "sklearn.neighbors._kd_tree.newObj",
        "sklearn.neighbors._ball_tree.newObj",
        "sklearn.metrics._dist_metrics.newObj",  # a fitted KNeighborsClassifier's metric
        # numpy 2's StringDType pickles through this factory (and joblib as an object array).
        "numpy._core._internal._convert_to_stringdtype_kwargs",
        *_NUMPY_UFUNCS,
        *_NUMPY_DTYPE_CLASSES,
        *_NUMPY_SCALAR_TYPES,
    ]
)

# scikit-learn estimators are classes in private submodules that change between releases,
# so they are allowed as a family: a CamelCase class directly inside an sklearn module, but
# not in the testing helpers or the vendored third-party code.
_SKLEARN_EXCLUDED_SEGMENTS = frozenset({"_testing", "testing", "externals", "estimator_checks"})
_SCIPY_SPARSE_CLASSES = frozenset(
    f"{kind}_{shape}"
    for kind in ["csr", "csc", "coo", "bsr", "dia", "dok", "lil"]
    for shape in ("matrix", "array")
)


def _family_safe(module: str, name: str) -> str | None:
    segments = module.split(".")
    # A module re-exports whatever it imported (`from subprocess import Popen`): a class-looking
    # name is only trusted when it is not one of the notorious callables.
    # Private classes (_BinMapper) count, and Cython's generated unpickler of one class
    # (__pyx_unpickle_CyHalfMultinomialLoss), which makes only an instance of that class.
    stem = name.removeprefix("__pyx_unpickle_").removeprefix("_")
    if (
        segments[0] == "sklearn"
        and "." not in name
        and stem[:1].isupper()
        and not {name.lower(), stem.lower()} & _NOTORIOUS_NAMES
        and not _SKLEARN_EXCLUDED_SEGMENTS.intersection(segments)
    ):
        return "scikit-learn estimator class"
    in_sparse = module == "scipy.sparse" or module.startswith("scipy.sparse.")
    if in_sparse and name in _SCIPY_SPARSE_CLASSES:
        return "scipy sparse matrix class"
    return None


# -- the denylist: prefixes whose every attribute is dangerous ----------------------------

_DANGEROUS_PREFIXES: dict[str, str] = {}


def _deny(reason: str, *names: str) -> None:
    for name in names:
        _DANGEROUS_PREFIXES[name] = reason


_deny(
    "runs shell commands or replaces the process",
    "os",
    "posix",
    "nt",
    "subprocess",
    "_posixsubprocess",
    "_winapi",
    "msvcrt",
    "pty",
    "commands",
    "popen2",
    "platform.popen",
    "uuid._get_command_stdout",
    "torch.utils.collect_env",
    # Build helpers that shell out with an argument the caller gives.
    "_osx_support",
    "_aix_support",
    "distutils",
    "setuptools._distutils",
)
_deny(
    "evaluates or compiles code",
    "builtins.eval",
    "builtins.exec",
    "builtins.execfile",
    "builtins.compile",
    "builtins.breakpoint",
    "builtins.input",
    "builtins.help",
    "code",
    "codeop",
    # Subinterpreters run source code given as a string.
    "_xxsubinterpreters",
    "_interpreters",
    "_xxinterpchannels",
    "_interpchannels",
    "_xxinterpqueues",
    "_interpqueues",
    "runpy",
    "timeit",
    "cProfile",
    "profile",
    "pdb",
    "bdb",
    "trace",
    "marshal",
    "types.CodeType",
    "types.FunctionType",
    "types.LambdaType",
    "types.MethodType",
    "types.ModuleType",
    "types.new_class",
    "numpy.testing",
    "numpy.f2py",
    "numpy.distutils",
    "numexpr",
    "sympy.sympify",
    "sympy.parsing",
    "pandas.eval",
    "pandas.core.computation",
    "logging.config",
    "idlelib",
    "antigravity",
)
_deny(
    "reaches arbitrary attributes or modules by name",
    "builtins.getattr",
    "builtins.setattr",
    "builtins.delattr",
    "builtins.__import__",
    "builtins.globals",
    "builtins.locals",
    "builtins.vars",
    "builtins.reload",
    "importlib",
    "imp",
    "zipimport",
    "pkgutil",
    "inspect",
    "operator.attrgetter",
    "operator.methodcaller",
    "operator.setitem",
    "operator.delitem",
    "operator.call",
    "_operator.attrgetter",
    "_operator.methodcaller",
    "_operator.setitem",
    "_operator.delitem",
    "_operator.call",
    "sys",
    "gc",
    "site",
    "copyreg",
    "ctypes",
    "_ctypes",
    "cffi",
    "transformers.dynamic_module_utils",
    # numpy's ufunc unpickling helper is __import__ + getattr on names the pickle chooses.
    "numpy.core._ufunc_reconstruct",
    "numpy._core._ufunc_reconstruct",
    "_imp",
    "_frozen_importlib",
    "_frozen_importlib_external",
    "unittest.mock",
    "pydoc",
    "doctest",
    "test",
    "builtins.__build_class__",
    "builtins.__loader__",
    "winreg",
    "_winreg",
)
_deny(
    "calls another callable chosen by the pickle",
    "functools.partial",
    "functools.partialmethod",
    "functools.reduce",
    "_functools",
    "builtins.apply",
    "itertools.starmap",
    "threading",
    "_thread",
    "multiprocessing",
    "concurrent",
    "asyncio",
    "signal",
    "atexit",
)
_deny(
    "opens network connections",
    "socket",
    "_socket",
    "ssl",
    "urllib",
    "urllib2",
    "urllib3",
    "http",
    "httplib",
    "requests",
    "httpx",
    "aiohttp",
    "webbrowser",
    "ftplib",
    "smtplib",
    "telnetlib",
    "poplib",
    "imaplib",
    "nntplib",
    "xmlrpc",
    "socketserver",
    "_ssl",
    "wsgiref",
    "smtpd",
    "asyncore",
    "asynchat",
    "torch.hub",
    "torch.distributed",
)
_deny(
    "reads, writes or deletes files",
    "builtins.open",
    "builtins.file",
    "io.open",
    "io.open_code",
    "io.FileIO",
    "_io.open",
    "_io.open_code",
    "_io.FileIO",
    "codecs.open",
    "shutil",
    "tempfile",
    "zipfile",
    "tarfile",
    "shelve",
    "dbm",
    "fileinput",
    "numpy.save",
    "numpy.savez",
    "numpy.savez_compressed",
    "numpy.savetxt",
    "numpy.tofile",
    "numpy.memmap",
    "numpy.lib.format.open_memmap",
    "pip",
    "ensurepip",
    "venv",
    "distutils",
    "setuptools",
    "pkg_resources",
)
_deny(
    "deserialises another payload (a nested pickle, torch or YAML file)",
    "pickle",
    "_pickle",
    "_multiprocessing",
    "cPickle",
    "dill",
    "cloudpickle",
    "joblib",
    "numpy.load",
    "numpy.lib.npyio",
    "numpy.lib._npyio_impl",
    "numpy.lib.format.read_array",
    "pandas.read_pickle",
    "pandas.io",
    "torch.load",
    "torch.serialization",
    "torch.storage._load_from_bytes",
    "torch.jit",
    "torch._inductor",
    "torch._dynamo",
    "torch.fx",
    "torch.package",
    "torch.utils.cpp_extension",
    "torch.ops",
    "torch.classes",
    "torch.multiprocessing",
    "yaml.load",
    "yaml.load_all",
    "yaml.unsafe_load",
    "yaml.unsafe_load_all",
    "yaml.full_load",
    "yaml.full_load_all",
    "yaml.UnsafeLoader",
    "yaml.Loader",
    "keras.models.load_model",
    "keras.saving",
    "tensorflow.keras.models.load_model",
    "tensorflow.io",
)

_SUSPICIOUS_PREFIXES: dict[str, str] = {
    "operator.itemgetter": "indexes into objects chosen by the pickle",
    "operator.getitem": "indexes into objects chosen by the pickle",
    "_operator.itemgetter": "indexes into objects chosen by the pickle",
    "_operator.getitem": "indexes into objects chosen by the pickle",
    "builtins.map": "calls another callable chosen by the pickle",
    "builtins.filter": "calls another callable chosen by the pickle",
    "builtins.type": "creates classes at load time",
    "builtins.super": "reaches base-class attributes",
    "builtins.exit": "ends the process",
    "builtins.quit": "ends the process",
    "builtins.print": "writes to the console",
    "builtins.memoryview": "exposes raw memory",
    "glob": "lists files",
    "platform": "probes the host",
    "pwd": "reads the account database",
    "grp": "reads the group database",
    "resource": "changes process limits",
    "mmap": "maps files into memory",
    "fcntl": "manipulates file descriptors",
    "codecs": "decodes obfuscated text",
    "posixpath": "re-exports os",
    "ntpath": "re-exports os",
    "genericpath": "re-exports os",
    "_sqlite3": "opens databases",
    "sqlite3": "opens databases",
    "torch._C": "native torch internals outside the weights-only set",
    "numpy.fromfile": "reads local files",
    "numpy.ctypeslib": "loads native libraries",
    "__main__": "a class defined in the script that saved it",
}

# Attribute names that only appear in payloads, when reached through a dotted qualname.
_NOTORIOUS_NAMES = frozenset(
    [
        "system",
        "popen",
        "popen2",
        "popen3",
        "popen4",
        "spawnl",
        "spawnle",
        "spawnlp",
        "spawnv",
        "spawnve",
        "spawnvp",
        "execl",
        "execle",
        "execlp",
        "execv",
        "execve",
        "execvp",
        "execvpe",
        "fork",
        "forkpty",
        "kill",
        "killpg",
        "_exit",
        "Popen",
        "call",
        "check_call",
        "check_output",
        "getoutput",
        "getstatusoutput",
        "run",
        "eval",
        "exec",
        "execfile",
        "compile",
        "__import__",
        "import_module",
        "load",
        "loads",
        "load_module",
        "rmtree",
        "remove",
        "unlink",
        "rmdir",
        "removedirs",
        "write_text",
        "write_bytes",
        "touch",
        "symlink_to",
        "hardlink_to",
        "mkdir",
        "chmod",
        "chown",
        "rename",
        "replace",
        "urlopen",
        "urlretrieve",
        "open",
    ]
)

# Dunder attributes that walk from any object to code, globals or every loaded class.
_DANGEROUS_DUNDERS = frozenset(
    [
        "__builtins__",
        "__globals__",
        "__dict__",
        "__class__",
        "__subclasses__",
        "__bases__",
        "__base__",
        "__mro__",
        "__code__",
        "__closure__",
        "__defaults__",
        "__kwdefaults__",
        "__func__",
        "__self__",
        "__wrapped__",
        "__getattribute__",
        "__getattr__",
        "__setattr__",
        "__delattr__",
        "__import__",
        "__loader__",
        "__spec__",
        "__reduce__",
        "__reduce_ex__",
        "__init__",
        "__call__",
        "__init_subclass__",
        "__class_getitem__",
        "__set_name__",
        "__get__",
        "__set__",
        "__delete__",
        "__getitem__",
        "__setitem__",
        "__module__",
    ]
)


def _longest_prefix(segments: list[str], table: dict[str, str]) -> tuple[str, str] | None:
    for end in range(len(segments), 0, -1):
        key = ".".join(segments[:end])
        if key in table:
            return key, table[key]
    return None


def _decide_one(module: str, name: str) -> Decision:
    dotted = f"{module}.{name}"
    module_segments = module.split(".")
    name_segments = name.split(".")
    for segment in name_segments:
        if segment in _DANGEROUS_DUNDERS:
            return Decision(Verdict.DANGEROUS, f"walks the dunder attribute {segment}", dotted)
    if dotted in SAFE_GLOBALS:
        return Decision(Verdict.SAFE, "on the allowlist", dotted)
    hit = _longest_prefix(module_segments + name_segments, _DANGEROUS_PREFIXES)
    if hit is not None:
        return Decision(Verdict.DANGEROUS, hit[1], hit[0])
    # Attribute paths: GLOBAL 'torch' 'os.system' imports torch and then walks torch.os.system.
    for start in range(len(name_segments) - 1):
        tail = name_segments[start:]
        hit = _longest_prefix(tail, _DANGEROUS_PREFIXES)
        if hit is not None and len(tail) >= 2:
            return Decision(
                Verdict.DANGEROUS,
                f"reaches {'.'.join(tail)} through the namespace of {module}: {hit[1]}",
                hit[0],
            )
    if len(name_segments) >= 2 and name_segments[-1] in _NOTORIOUS_NAMES:
        return Decision(
            Verdict.DANGEROUS,
            f"reaches the attribute {name_segments[-1]} through a dotted path",
            dotted,
        )
    family = _family_safe(module, name)
    if family is not None:
        return Decision(Verdict.SAFE, family, dotted)
    hit = _longest_prefix(module_segments + name_segments, _SUSPICIOUS_PREFIXES)
    if hit is not None:
        return Decision(Verdict.SUSPICIOUS, hit[1], hit[0])
    if name_segments[-1] in _NOTORIOUS_NAMES:
        return Decision(Verdict.SUSPICIOUS, f"named like a payload function ({name})", dotted)
    if any(s.startswith("__") and s.endswith("__") for s in name_segments) and (
        dotted not in SAFE_GLOBALS
    ):
        return Decision(Verdict.SUSPICIOUS, "reaches a dunder attribute", dotted)
    return Decision(Verdict.UNKNOWN, "not on the allowlist", dotted)


def _compat_names(module: str, name: str) -> tuple[str, str]:
    """The Python 3 names a loader with ``fix_imports`` maps Python 2 names to."""
    mapped = _compat_pickle.NAME_MAPPING.get((module, name))
    if mapped is not None:
        return mapped[0], mapped[1]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def decide(module: str, name: str) -> Decision:
    """The verdict on one global, by name only.

    The Python 2 spelling of a dangerous name (``__builtin__.eval``, ``commands.getoutput``)
    counts as dangerous whatever the protocol, because some loader may map it.
    """
    decision = _decide_one(module, name)
    if decision.verdict is Verdict.DANGEROUS:
        return decision
    mapped = _compat_names(module, name)
    if mapped != (module, name):
        other = _decide_one(*mapped)
        if other.verdict is Verdict.DANGEROUS or (
            decision.verdict is not Verdict.SAFE and other.verdict is Verdict.SAFE
        ):
            return other
    return decision
