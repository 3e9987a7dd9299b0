"""The pickle allowlist as data: which globals real ML libraries write, grouped by family, and why.

Every family says what it allows (exact dotted names, or a module prefix with a precise name
rule) and, in one line, why reconstructing those objects only rebuilds data. The table was
derived from a survey (``scripts/survey_allowlist.py``): the survey builds artifacts with the
real libraries and lists the globals our own pickle engine reads in them; each was then judged by
reading its reconstruction path (``__reduce__``, the constructor, ``__setstate__``).

Two kinds of trust:

- **callable** families may be called by the pickle (REDUCE): their constructors or functions
  only build values from their arguments (``numpy.dtype('f4')``, ``pandas.Index(...)``,
  ``IntervalStrategy('steps')``);
- **reconstruct-only** families are trusted as classes a pickle re-creates without running
  ``__init__`` (NEWOBJ, ``copyreg._reconstructor(cls, object, None)`` or ``OBJ`` with no
  arguments) and then fills with ``__setstate__`` / a ``__dict__`` update, which is how their
  pickles are written. Their constructors do more (``TrainingArguments`` reads a DeepSpeed
  config from a path and sets up devices): a pickle that *calls* one is reported
  (MLS-PKL-014, :func:`pytest_mlsupply.engines.pickle.rules`).

What stays unknown on purpose (the survey met them): pytz (its constructors read the time-zone
database from disk), ``datasets.table.MemoryMappedTable``
(memory-maps the file at a path stored in the pickle), pandas' I/O classes (``HDFStore``,
``ExcelFile``, ``ExcelWriter`` open files), and anything not listed. The denylist
(:mod:`.policy`) always wins over a family pattern; exact entries are checked first and may
override a dangerous parent only where the table says so (``overrides``).

Bump :data:`VERSION` (and its date) whenever an entry changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "FAMILIES",
    "GETATTR_PRIVATE",
    "REEXPORTED_DENIED",
    "VERSION",
    "Family",
    "exact_entries",
    "family_of",
    "pattern_family",
    "reconstruct_only",
    "render_markdown",
]

#: The table's version: the date it was last changed, and a counter for that day.
VERSION = "2026.12.03.3"


@dataclass(frozen=True)
class Family:
    """One family of trusted globals."""

    why: str
    """One line: why reconstructing these objects only rebuilds data."""
    exact: tuple[str, ...] = ()
    """Dotted names trusted exactly (``module.name``)."""
    modules: tuple[str, ...] = ()
    """Module prefixes under which names matching ``names`` are trusted."""
    names: str = ""
    """A regular expression the global's name must match in full, for ``modules``."""
    exclude: tuple[str, ...] = ()
    """Module segments under which the pattern never applies (``_testing``, ``io``)."""
    reconstruct_only: bool = False
    """Trusted only when re-created without ``__init__``; a direct call is MLS-PKL-014."""
    overrides: tuple[str, ...] = ()
    """Exact entries that deliberately override a denied parent module (``copyreg``)."""

    def pattern_matches(self, module: str, name: str) -> bool:
        if not self.names or "." in name:
            return False
        if not any(module == m or module.startswith(m + ".") for m in self.modules):
            return False
        if set(module.split(".")) & set(self.exclude):
            return False
        if name.removeprefix("_") in REEXPORTED_DENIED:
            return False
        return re.fullmatch(self.names, name) is not None


#: A class name: CamelCase, possibly private (``_BinMapper``), or Cython's generated unpickler
#: of one class (``__pyx_unpickle_CyHalfMultinomialLoss``), which makes only an instance of it.
#: It has two characters at least: ``F`` is torch.nn.functional as every layer module imports it.
CLASS = r"(?:__pyx_unpickle_)?_?[A-Z][A-Za-z0-9_]+"

#: Classes a library module imports from elsewhere and so re-exports under its own name, whose
#: constructors connect, spawn, open files or bind methods; a pattern never admits them. Found
#: by ``scripts/survey_allowlist.py --audit``, which imports every module a pattern covers and
#: lists the class-like names defined outside the family's library
#: (``sklearn.callback._transport.Client`` is ``multiprocessing.connection.Client``,
#: ``sklearn.utils._available_if.MethodType`` is ``types.MethodType``,
#: ``pandas._libs.tslibs.timezones._ZoneInfo`` is ``zoneinfo.ZoneInfo``).
REEXPORTED_DENIED = frozenset(
    {
        "Client", "Listener", "Connection", "Thread", "Timer", "Process", "Pool", "Manager",
        "SyncManager", "BaseManager", "ThreadPoolExecutor", "ProcessPoolExecutor",
        "ThreadpoolController", "Parallel", "Memory", "MethodType", "FunctionType", "CodeType",
        "ModuleType", "ZoneInfo", "ZipFile", "TarFile", "FileIO", "TextIOWrapper",
        "BufferedReader", "BufferedWriter", "BufferedRandom", "TemporaryDirectory",
        "NamedTemporaryFile", "SpooledTemporaryFile", "TemporaryFile", "FileHandler",
        "RotatingFileHandler", "TimedRotatingFileHandler", "WatchedFileHandler",
        "SocketHandler", "DatagramHandler", "HTTPHandler", "SMTPHandler", "SysLogHandler",
        "Request", "OpenerDirector", "HTTPConnection", "HTTPSConnection", "Session",
        "Unpickler", "Pickler", "Loader", "UnsafeLoader", "FullLoader", "SourceFileLoader",
        "ExtensionFileLoader", "CDLL", "PyDLL", "LibraryLoader", "Popen", "SummaryWriter",
        # scipy's LinearOperator(shape, matvec) calls matvec to probe its dtype, and
        # sklearn.utils.sparsefuncs re-exports it: a constructor that calls its argument.
        "LinearOperator",
    }
)  # fmt: skip


#: Private attributes that ``builtins.getattr`` of an allowed global by a constant name may
#: reach (how Python pickles a bound or class method), each reviewed; every other private or
#: dunder attribute stays critical. ``ZoneInfo._unpickle(key, from_cache)`` returns
#: ``ZoneInfo(key)`` or ``ZoneInfo.no_cache(key)``: both call ``zoneinfo._tzpath.find_tzfile``
#: (the C type too), whose ``_validate_tzfile_path`` refuses absolute keys, keys that
#: normalisation changes (``a/../b``, ``a/``) and keys resolving outside the search path, and
#: then open a regular file under a TZPATH directory or a resource of the ``tzdata`` package,
#: which is parsed as TZif (anything else raises): no file outside the time-zone database is
#: read, and nothing is imported but ``tzdata.zoneinfo`` subpackages.
GETATTR_PRIVATE = frozenset({"zoneinfo.ZoneInfo._unpickle"})


def _names(module: str, *names: str) -> tuple[str, ...]:
    return tuple(f"{module}.{name}" for name in names)


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

_PANDAS_TOP = (
    "DataFrame",
    "Series",
    "Index",
    "RangeIndex",
    "MultiIndex",
    "CategoricalIndex",
    "DatetimeIndex",
    "TimedeltaIndex",
    "PeriodIndex",
    "IntervalIndex",
    "Categorical",
    "Interval",
    "Period",
    "Timestamp",
    "Timedelta",
    "NA",
    "NaT",
    "DateOffset",
    "Flags",
    "ArrowDtype",
    "BooleanDtype",
    "CategoricalDtype",
    "DatetimeTZDtype",
    "IntervalDtype",
    "PeriodDtype",
    "SparseDtype",
    "StringDtype",
    "Float32Dtype",
    "Float64Dtype",
    "Int8Dtype",
    "Int16Dtype",
    "Int32Dtype",
    "Int64Dtype",
    "UInt8Dtype",
    "UInt16Dtype",
    "UInt32Dtype",
    "UInt64Dtype",
)
_PANDAS_ARRAYS = (
    "ArrowExtensionArray",
    "ArrowStringArray",
    "BooleanArray",
    "Categorical",
    "DatetimeArray",
    "FloatingArray",
    "IntegerArray",
    "IntervalArray",
    "NumpyExtensionArray",
    "PeriodArray",
    "SparseArray",
    "StringArray",
    "TimedeltaArray",
)
_TORCH_ACTIVATIONS = (
    "relu",
    "relu6",
    "gelu",
    "silu",
    "mish",
    "elu",
    "selu",
    "celu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "softplus",
    "hardswish",
    "hardsigmoid",
    "hardtanh",
    "glu",
    "logsigmoid",
    "tanhshrink",
    "softsign",
)
_ACCELERATE_ENUMS = (
    "BaseEnum",
    "ComputeEnvironment",
    "CustomDtype",
    "DDPCommunicationHookType",
    "DistributedType",
    "DynamoBackend",
    "FP8BackendType",
    "LoggerType",
    "PrecisionType",
    "RNGType",
    "SageMakerDistributedType",
)
_TRANSFORMERS_ENUMS = (
    *_names(
        "transformers.trainer_utils",
        "FSDPOption",
        "HPSearchBackend",
        "HubStrategy",
        "IntervalStrategy",
        "SaveStrategy",
        "SchedulerType",
        "EvaluationStrategy",
    ),
    *_names("transformers.training_args", "OptimizerNames", "ParallelMode"),
    "transformers.debug_utils.DebugOption",
    "transformers.utils.generic.PaddingStrategy",
    "transformers.utils.generic.TensorType",
)

#: The families, in the order the catalogue lists them.
FAMILIES: dict[str, Family] = {
    "python-data": Family(
        why="builtin containers and values, rebuilt from their own contents; copyreg's "
        "reconstructors make an instance with object.__new__ and hand BUILD its state",
        exact=(
            *_names(
                "builtins",
                "set",
                "frozenset",
                "bytearray",
                "bytes",
                "slice",
                "complex",
                "range",
                "object",
                "list",
                "dict",
                "tuple",
                "int",
                "float",
                "str",
                "bool",
                "Ellipsis",
                "NotImplemented",
                "len",
                "abs",
                "round",
                "chr",
                "ord",
            ),
            *_names("copyreg", "_reconstructor", "__newobj__", "__newobj_ex__"),
            # bytes in protocol 0-2 pickles (and accelerate's RNG state saved with them).
            "_codecs.encode",
        ),
        overrides=_names("copyreg", "_reconstructor", "__newobj__", "__newobj_ex__"),
    ),
    "python-stdlib-values": Family(
        why="standard-library value and state classes whose constructor or __setstate__ only "
        "stores its arguments (dates, decimals, paths as names, namespaces, the Random state)",
        exact=(
            *_names("collections", "OrderedDict", "Counter", "defaultdict", "deque"),
            *_names("datetime", "datetime", "date", "time", "timedelta", "timezone"),
            "decimal.Decimal",
            "fractions.Fraction",
            "uuid.UUID",
            "argparse.Namespace",
            "types.SimpleNamespace",
            "random.Random",
            *_names(
                "pathlib",
                "Path",
                "PosixPath",
                "WindowsPath",
                "PurePath",
                "PurePosixPath",
                "PureWindowsPath",
            ),
            *_names(
                "__future__",
                "annotations",
                "division",
                "absolute_import",
                "print_function",
                "unicode_literals",
                "generator_stop",
            ),
            *_names(
                "typing",
                "Any",
                "Optional",
                "Union",
                "List",
                "Dict",
                "Tuple",
                "Set",
                "FrozenSet",
                "Sequence",
                "Mapping",
            ),
        ),
        modules=("collections.abc",),
        names=r"[A-Z][A-Za-z]*",
    ),
    "zoneinfo": Family(
        why="time zones (pandas 3's default for tz-aware data): ZoneInfo pickles as the class "
        "method getattr(ZoneInfo, '_unpickle')(key, from_cache), which calls ZoneInfo(key); the "
        "key is checked by zoneinfo._tzpath (no absolute path, no '..', normalised, under "
        "TZPATH) before any file is opened, and only TZif data is read and parsed",
        exact=("zoneinfo.ZoneInfo", "zoneinfo.ZoneInfo._unpickle"),
    ),
    "numpy": Family(
        why="arrays, scalars and dtypes rebuilt from bytes and a dtype description; ufuncs "
        "(sklearn's FunctionTransformer keeps one) and the random generators' state factories",
        exact=(
            "numpy.ndarray",
            "numpy.dtype",
            *_names("numpy.core.multiarray", "_reconstruct", "scalar"),
            *_names("numpy._core.multiarray", "_reconstruct", "scalar"),
            "numpy.core.numeric._frombuffer",
            "numpy._core.numeric._frombuffer",
            "numpy.ma.MaskedArray",
            "numpy.ma.core.MaskedArray",
            "numpy.ma.core._mareconstruct",
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
            # numpy 2's StringDType pickles through this factory (and joblib as an object array).
            "numpy._core._internal._convert_to_stringdtype_kwargs",
            *_NUMPY_UFUNCS,
            # Reductions estimators keep as parameters (FeatureAgglomeration's pooling_func).
            *_names(
                "numpy",
                "mean",
                "median",
                "sum",
                "prod",
                "max",
                "min",
                "amax",
                "amin",
                "std",
                "var",
                "average",
                "nanmean",
                "nanmedian",
                "nansum",
                "nanmax",
                "nanmin",
                "nanstd",
                "nanvar",
                "percentile",
                "quantile",
            ),
            *_NUMPY_DTYPE_CLASSES,
            *_NUMPY_SCALAR_TYPES,
        ),
    ),
    "numpy-random": Family(
        why="Generator, RandomState, SeedSequence and the bit generators: a factory makes the "
        "object by its bit generator's name from a fixed table, then __setstate__ sets the state",
        exact=(
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
        ),
    ),
    "joblib-wrappers": Family(
        why="joblib's array wrappers: records of an array's dtype, shape and order whose bytes "
        "follow in the stream (the machine checks each is made without __init__)",
        exact=(
            "joblib.numpy_pickle.NumpyArrayWrapper",
            "joblib.numpy_pickle_compat.NDArrayWrapper",
            "joblib.numpy_pickle_compat.ZNDArrayWrapper",
            "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
            "sklearn.externals.joblib.numpy_pickle_compat.NDArrayWrapper",
            "sklearn.externals.joblib.numpy_pickle_compat.ZNDArrayWrapper",
        ),
        overrides=(
            "joblib.numpy_pickle.NumpyArrayWrapper",
            "joblib.numpy_pickle_compat.NDArrayWrapper",
            "joblib.numpy_pickle_compat.ZNDArrayWrapper",
        ),
    ),
    "pandas": Family(
        why="frames, series, indexes, blocks, extension arrays, dtypes, offsets and scalars: "
        "their reducers (_new_Index, _unpickle_block, __pyx_unpickle_*) rebuild values from "
        "arrays and names; the I/O classes (HDFStore, ExcelFile, ExcelWriter) are not listed",
        exact=(
            *_names("pandas", *_PANDAS_TOP),
            *_names("pandas.arrays", *_PANDAS_ARRAYS),
            "pandas._libs.internals._unpickle_block",
            "pandas._libs.tslibs.nattype._nat_unpickle",
            "pandas._libs.tslibs.timedeltas._timedelta_unpickle",
            "pandas._libs.tslibs.timestamps._unpickle_timestamp",
            "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked",
            "pandas._libs.interval.__pyx_unpickle_IntervalMixin",
        ),
        modules=("pandas.core", "pandas._libs"),
        names=r"_?new_[A-Za-z]*Index|_?unpickle_[a-z_]+|[a-z_]+_unpickle|" + CLASS,
        exclude=(
            "io",
            "computation",
            "window",
            "testing",
            "_testing",
            "plotting",
            "util",
            "accessor",
            "apply",
            "groupby",
            "resample",
        ),
    ),
    "pyarrow-buffers": Family(
        why="pyarrow's reducers for tables, arrays, types and buffers (pandas' string arrays, "
        "in-memory datasets): they rebuild columns from bytes; a malformed buffer can crash "
        "the loader but names no code to run",
        exact=_names(
            "pyarrow.lib",
            "_reconstruct_table",
            "_restore_array",
            "py_buffer",
            "schema",
            "field",
            "type_for_alias",
            "chunked_array",
            "array",
            "_reconstruct_record_batch",
            "table",
            "RecordBatch",
            "Table",
            "ChunkedArray",
            "Schema",
            "Field",
            "DataType",
        ),
    ),
    "scipy-sparse": Family(
        why="sparse matrices and arrays of each format: __setstate__ is a __dict__ update "
        "with the index and data arrays",
        modules=("scipy.sparse",),
        names=r"(?:csr|csc|coo|bsr|dia|dok|lil)_(?:matrix|array)",
    ),
    "scipy-interpolate": Family(
        why="the B-spline a fitted SplineTransformer holds: knots and coefficients, and the "
        "array-conversion function it keeps",
        exact=(
            "scipy.interpolate._bsplines.BSpline",
            "scipy._lib.array_api_compat.numpy._aliases.asarray",
        ),
    ),
    "sklearn": Family(
        why="scikit-learn estimators and their helpers: BaseEstimator.__setstate__ is a "
        "__dict__ update; Cython trees, losses and metrics rebuild from arrays",
        exact=(
            # Cython extension types in scikit-learn models reduce through these factories.
            "sklearn.neighbors._kd_tree.newObj",
            "sklearn.neighbors._ball_tree.newObj",
            "sklearn.metrics._dist_metrics.newObj",  # a fitted KNeighborsClassifier's metric
            # Numeric functions estimators keep as parameters (score_func, the k-means step).
            *_names(
                "sklearn.feature_selection._univariate_selection",
                "f_classif",
                "f_regression",
                "r_regression",
                "chi2",
            ),
            *_names(
                "sklearn.feature_selection._mutual_info",
                "mutual_info_classif",
                "mutual_info_regression",
            ),
            *_names("sklearn.cluster._kmeans", "_kmeans_single_lloyd", "_kmeans_single_elkan"),
        ),
        modules=("sklearn",),
        names=CLASS,
        exclude=(
            "_testing",
            "testing",
            "_test_common",
            "externals",
            "estimator_checks",
            "datasets",
            "callback",
            "parallel",
        ),
    ),
    "sklearn-metrics": Family(
        why="metric functions estimators keep as parameters (TunedThresholdClassifierCV's "
        "scoring): pure computations on the arrays they are given",
        modules=(
            "sklearn.metrics._classification",
            "sklearn.metrics._regression",
            "sklearn.metrics._ranking",
        ),
        names=r"[a-z][a-z0-9_]*_(?:score|error|loss|deviance)|log_loss|hinge_loss",
    ),
    "torch-tensors": Family(
        why="torch's weights_only allowlist: tensors rebuilt from storages, parameters, "
        "sizes, devices, dtypes, layouts and memory formats",
        exact=(
            *_names("torch.nn.parameter", "Parameter", "UninitializedParameter", "Buffer"),
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
        ),
        overrides=("torch.serialization._get_layout",),
    ),
    "torchscript-builders": Family(
        why="TorchScript's .debug_pkl and constants use identity builders that return their "
        "argument; exact entries, so the rest of torch.jit stays on the denylist",
        exact=_names(
            "torch.jit._pickle",
            "build_intlist",
            "build_tensorlist",
            "build_doublelist",
            "build_boollist",
            "build_tensor_from_id",
            "restore_type_tag",
        ),
        overrides=_names(
            "torch.jit._pickle",
            "build_intlist",
            "build_tensorlist",
            "build_doublelist",
            "build_boollist",
            "build_tensor_from_id",
            "restore_type_tag",
        ),
    ),
    "torch-modules": Family(
        why="nn modules of a whole-module torch.save: re-created with __new__ and filled by "
        "Module.__setstate__ (a __dict__ update); the activation functions a layer keeps",
        exact=_names("torch.nn.functional", *_TORCH_ACTIVATIONS),
        modules=("torch.nn.modules",),
        names=CLASS,
        reconstruct_only=True,
    ),
    "torch-optim": Family(
        why="optimizers and LR schedulers saved whole: re-created with __new__ and filled by "
        "__setstate__ (a __dict__ update; the optimizer's defaults and param groups)",
        modules=("torch.optim",),
        names=CLASS,
        reconstruct_only=True,
    ),
    "transformers-configs": Family(
        why="PretrainedConfig and its model subclasses, generation and quantization configs: "
        "plain attribute bags re-created with __new__ and a __dict__ update",
        exact=(
            "transformers.configuration_utils.PretrainedConfig",
            "transformers.configuration_utils.PreTrainedConfig",
        ),
        modules=(
            "transformers.models",
            "transformers.generation.configuration_utils",
            "transformers.utils.quantization_config",
        ),
        names=r"[A-Z][A-Za-z0-9]*Config",
        reconstruct_only=True,
    ),
    "transformers-training-args": Family(
        why="training_args.bin as Trainer writes it: a dataclass re-created with __new__ and a "
        "__dict__ update; its constructor reads config files and sets up devices, so it is "
        "trusted only when not called",
        exact=(
            "transformers.training_args.TrainingArguments",
            "transformers.training_args_seq2seq.Seq2SeqTrainingArguments",
            "transformers.trainer_pt_utils.AcceleratorConfig",
        ),
        reconstruct_only=True,
    ),
    "transformers-enums": Family(
        why="string enums of the training arguments, rebuilt by looking a member up by value",
        exact=_TRANSFORMERS_ENUMS,
    ),
    "accelerate-state": Family(
        why="accelerate's configuration dataclasses and state singletons as training arguments "
        "and checkpoints hold them: re-created with __new__ and a __dict__ update (their "
        "constructors read environment and configuration files)",
        exact=_names("accelerate.state", "PartialState", "AcceleratorState", "GradientState"),
        modules=("accelerate.utils.dataclasses",),
        names=r"[A-Z][A-Za-z0-9]*",
        reconstruct_only=True,
    ),
    "accelerate-enums": Family(
        why="accelerate's string enums, rebuilt by looking a member up by value",
        exact=_names("accelerate.utils.dataclasses", *_ACCELERATE_ENUMS),
    ),
    "tokenizers": Family(
        why="a tokenizers.Tokenizer and its components pickle their JSON description, which "
        "__setstate__ parses in Rust; no path or callable is involved",
        modules=(
            "tokenizers",
            "tokenizers.models",
            "tokenizers.normalizers",
            "tokenizers.pre_tokenizers",
            "tokenizers.decoders",
            "tokenizers.processors",
        ),
        names=r"[A-Z][A-Za-z0-9]*",
        exclude=("tools", "implementations"),
        reconstruct_only=True,
    ),
    "datasets-in-memory": Family(
        why="an in-memory datasets.Dataset: its table is rebuilt from Arrow buffers (a "
        "memory-mapped table, which reopens a file by path, is not listed)",
        exact=(
            "datasets.arrow_dataset.Dataset",
            "datasets.table.InMemoryTable",
            "datasets.info.DatasetInfo",
            "datasets.splits.NamedSplit",
            "datasets.splits.SplitInfo",
            "datasets.splits.SplitDict",
        ),
        modules=("datasets.features.features",),
        names=r"[A-Z][A-Za-z0-9]*",
        reconstruct_only=True,
    ),
    "datasets-features": Family(
        why="a Features mapping reduces to Features(dict of feature types): a dict subclass "
        "built from its items",
        exact=("datasets.features.features.Features",),
    ),
    "omegaconf": Family(
        why="OmegaConf configs (Lightning hyper_parameters, hydra's composed config): "
        "containers and nodes re-created with __new__ and filled by __setstate__",
        modules=(
            "omegaconf.dictconfig",
            "omegaconf.listconfig",
            "omegaconf.nodes",
            "omegaconf.base",
        ),
        names=r"[A-Z][A-Za-z0-9]*",
        reconstruct_only=True,
    ),
    "lightning": Family(
        why="Lightning's attribute dictionary for hyper_parameters: a dict subclass rebuilt "
        "from its items",
        exact=(
            "lightning_fabric.utilities.data.AttributeDict",
            "pytorch_lightning.utilities.parsing.AttributeDict",
            "lightning.fabric.utilities.data.AttributeDict",
        ),
    ),
    "gradient-boosting": Family(
        why="xgboost, lightgbm and catboost models: the sklearn wrappers' __setstate__ is a "
        "__dict__ update and the boosters' parses the model bytes in native code (a malformed "
        "model can crash the loader; no callable is named)",
        exact=(
            "xgboost.core.Booster",
            "lightgbm.basic.Booster",
        ),
        modules=("xgboost.sklearn", "lightgbm.sklearn", "catboost.core"),
        names=r"(?:XGB|LGBM|CatBoost)[A-Za-z]*",
        reconstruct_only=True,
    ),
}


def exact_entries() -> dict[str, str]:
    """Every exactly listed dotted name and its family."""
    out: dict[str, str] = {}
    for family_name, family in FAMILIES.items():
        for dotted in family.exact:
            out.setdefault(dotted, family_name)
    return out


_EXACT = exact_entries()


def pattern_family(module: str, name: str) -> str | None:
    """The family whose pattern admits ``module.name``, or None."""
    for family_name, family in FAMILIES.items():
        if family.pattern_matches(module, name):
            return family_name
    return None


def family_of(module: str, name: str) -> str | None:
    """The family that trusts ``module.name`` (exactly or by pattern), or None."""
    return _EXACT.get(f"{module}.{name}") or pattern_family(module, name)


def reconstruct_only(module: str, name: str) -> bool:
    """Whether ``module.name`` is trusted only when re-created without ``__init__``."""
    family = family_of(module, name)
    return family is not None and FAMILIES[family].reconstruct_only


def _describe(family: Family) -> str:
    parts: list[str] = []
    if family.exact:
        shown = ", ".join(f"`{name}`" for name in family.exact[:4])
        more = f" and {len(family.exact) - 4} more" if len(family.exact) > 4 else ""
        parts.append(f"{len(family.exact)} exact names ({shown}{more})")
    if family.names:
        modules = ", ".join(f"`{m}`" for m in family.modules)
        rule = f"names matching `{family.names}` under {modules}"
        if family.exclude:
            rule += " except in segments " + ", ".join(f"`{e}`" for e in family.exclude)
        parts.append(rule)
    return "; ".join(parts)


def render_markdown() -> str:
    """The catalogue's table of families (docs/checks-pickle.md embeds it; a test compares)."""
    lines = [
        f"Allowlist version `{VERSION}`.",
        "",
        "| family | trust | what | why |",
        "|---|---|---|---|",
    ]
    for name, family in FAMILIES.items():
        trust = "reconstruct-only" if family.reconstruct_only else "callable"
        why = family.why.replace("|", "\\|")
        what = _describe(family).replace("|", "\\|")
        lines.append(f"| `{name}` | {trust} | {what} | {why} |")
    return "\n".join(lines) + "\n"
