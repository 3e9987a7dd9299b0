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

from .allowlist import GETATTR_PRIVATE, exact_entries, pattern_family

__all__ = ["Decision", "PicklePolicy", "Verdict", "decide", "getattr_resolves", "is_getattr"]


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


# -- the allowlist: the families of allowlist.py -----------------------------------------

#: Exact entries: checked before the denylist, so a documented one overrides a dangerous parent.
SAFE_GLOBALS: frozenset[str] = frozenset(exact_entries())


def _family_safe(module: str, name: str) -> str | None:
    """The family whose pattern trusts ``module.name`` (checked after the denylist)."""
    family = pattern_family(module, name)
    if family is None:
        return None
    # A module re-exports whatever it imported (`from subprocess import Popen`): a class-looking
    # name is only trusted when it is not one of the notorious callables.
    stem = name.removeprefix("__pyx_unpickle_").removeprefix("_")
    if {name.lower(), stem.lower()} & _NOTORIOUS_NAMES:
        return None
    return f"allowlist family {family}"


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
    # ML libraries' own command runners and script launchers.
    "mlflow.utils.process",
    "mlflow.projects",
    "sklearn.utils._testing",
    "torch.testing._internal",
    "transformers.testing_utils",
    "accelerate.test_utils",
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
    # Keras's function (de)serialisers: base64 marshal bytecode turned into a function.
    "keras.src.utils.python_utils.func_load",
    "keras.utils.python_utils.func_load",
    "keras.utils.generic_utils.func_load",
    "tensorflow.python.keras.utils.generic_utils.func_load",
    "tf_keras.src.utils.generic_utils.func_load",
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


#: How many dotted segments the longest key of each prefix table has (by the table's identity).
_TABLE_DEPTHS: dict[int, int] = {}


def _longest_prefix(
    segments: list[str], table: dict[str, str], start: int = 0
) -> tuple[str, str] | None:
    """The longest key of ``table`` that ``segments[start:]`` starts with. Only as many
    segments as the table's longest key are joined: a name of 100,000 dotted segments (a
    Hydra ``_target_`` an attacker wrote) made every lookup quadratic (found by fuzzing)."""
    depth = _TABLE_DEPTHS.get(id(table))
    if depth is None:
        depth = _TABLE_DEPTHS[id(table)] = max((key.count(".") + 1 for key in table), default=0)
    for end in range(min(len(segments), start + depth), start, -1):
        key = ".".join(segments[start:end])
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
        hit = _longest_prefix(name_segments, _DANGEROUS_PREFIXES, start)
        if hit is not None:  # at least two segments remain: start < len - 1
            tail = ".".join(name_segments[start:])
            return Decision(
                Verdict.DANGEROUS,
                f"reaches {tail} through the namespace of {module}: {hit[1]}",
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


#: Verdicts already reached, by (module, name): a verdict depends on the names alone (the
#: tables are fixed at import), and a pickle may import one name tens of thousands of times,
#: each judged once per reading (50,000 GLOBALs of one name took over 20 s; found by the long
#: fuzz run). Only short names are kept, and only so many, so the cache stays small.
_DECIDED: dict[tuple[str, str], Decision] = {}
_DECIDED_MAX = 1 << 16
_DECIDED_NAME_CHARS = 512


def decide(module: str, name: str) -> Decision:
    """The verdict on one global, by name only.

    The Python 2 spelling of a dangerous name (``__builtin__.eval``, ``commands.getoutput``)
    counts as dangerous whatever the protocol, because some loader may map it.
    """
    key = (module, name)
    decision = _DECIDED.get(key)
    if decision is None:
        decision = _decide(module, name)
        if len(module) + len(name) <= _DECIDED_NAME_CHARS and len(_DECIDED) < _DECIDED_MAX:
            _DECIDED[key] = decision
    return decision


def _decide(module: str, name: str) -> Decision:
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


def is_getattr(module: str, name: str) -> bool:
    """Whether ``module.name`` is ``builtins.getattr`` as the policy reads names: written
    ``builtins`` or Python 2's ``__builtin__`` (which ``fix_imports`` maps), at any protocol."""
    return (module, name) == ("builtins", "getattr") or _compat_names(module, name) == (
        "builtins",
        "getattr",
    )


def getattr_resolves(module: str, name: str, attribute: str) -> bool:
    """Whether ``builtins.getattr(<module.name>, attribute)`` may be judged as the global
    ``module.name.attribute``: only when that dotted name is an exact allowlist entry (never a
    family pattern, never a user ``allow_globals`` entry) that the policy finds safe, and the
    attribute is a plain identifier that is neither a dunder nor private, unless the allowlist
    reviewed that private attribute for getattr (:data:`~.allowlist.GETATTR_PRIVATE`)."""
    if not attribute.isidentifier():
        return False
    path = f"{name}.{attribute}"
    dotted = f"{module}.{path}"
    if any(s.startswith("__") and s.endswith("__") for s in path.split(".")):
        return False
    if attribute.startswith("_") and dotted not in GETATTR_PRIVATE:
        return False
    if dotted not in SAFE_GLOBALS:
        return False
    return decide(module, path).verdict is Verdict.SAFE
