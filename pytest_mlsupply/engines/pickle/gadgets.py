"""Gadgets judged by what they wrap, nested loaders by what they load.

``functools.partial``, ``operator.methodcaller`` / ``attrgetter`` / ``itemgetter`` build a
callable out of other objects; on their own, they run nothing. A pickle that builds one around
an allowed callable (``partial(collections.OrderedDict)``, what scikit-learn users store in a
``FunctionTransformer``) and never has the loader call it is harmless; the same constructor
wrapping ``os.system``, or a wrapper the loader then calls (REDUCE on it, a ``__setstate__``
that swaps its function, a callable the allowlist knows to call its argument, code outside
the allowlist it is handed to), is a payload. :func:`assess` tells the two apart from what the
machine recorded (:attr:`~.vm.Trace.watched`, :attr:`~.vm.Trace.calls`, :attr:`~.vm.Trace.sinks`).

``torch.storage._load_from_bytes`` and ``pickle.loads`` load bytes: when the bytes are a
constant in the stream, the scan reads them with this engine (:mod:`.scan`), and the call is
judged by what they hold (a pickled torch tensor carries its storage that way). ``numpy.load``
of ``io.BytesIO(<constant bytes>)`` likewise, its bytes read as numpy reads them (an ``.npy``,
an ``.npz`` or a bare pickle, :func:`pytest_mlsupply.engines.formats.numpy.read_numpy_load`),
and ``joblib.load`` of one as joblib reads them (decompressed by their first bytes,
:func:`pytest_mlsupply.engines.formats.compressed.joblib_unpickles`, then a joblib pickle).
Anything the scan cannot read in full keeps the call critical.

Everything unsure fails closed: an argument that is not plain data, a walk cut short by its
budget, a state of another shape than the constructor's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .values import Call, CallRef, Global, ImportRef, SymDict, SymList, SymSet, describe

if TYPE_CHECKING:  # pragma: no cover
    from .vm import Trace

__all__ = [
    "BUFFERS",
    "CONSTRUCTORS",
    "LOADERS",
    "WATCHED",
    "Assessment",
    "GadgetUse",
    "LoaderOutcome",
    "assess",
    "buffer_bytes",
    "load_key",
    "loader_bytes",
    "planted_setstate",
]

#: Gadget constructors, by the global that makes them, and the kind of wrapper each makes.
CONSTRUCTORS: dict[str, str] = {
    "functools.partial": "partial",
    "_functools.partial": "partial",
    "functools.partialmethod": "partialmethod",
    "operator.methodcaller": "methodcaller",
    "_operator.methodcaller": "methodcaller",
    "operator.attrgetter": "attrgetter",
    "_operator.attrgetter": "attrgetter",
    "operator.itemgetter": "itemgetter",
    "_operator.itemgetter": "itemgetter",
}

#: Nested loaders whose constant argument the scan can read: what format it holds. The
#: ``numpy`` and ``joblib`` ones take a file, ``io.BytesIO(<constant bytes>)``
#: (:func:`loader_bytes`).
LOADERS: dict[str, str] = {
    "torch.storage._load_from_bytes": "torch",
    "pickle.loads": "pickle",
    "_pickle.loads": "pickle",
    # numpy 2 pickles its load as numpy.load; the implementation's own module names, and
    # numpy 1's, are the same function.
    "numpy.load": "numpy",
    "numpy.lib.npyio.load": "numpy",
    "numpy.lib._npyio_impl.load": "numpy",
    "joblib.load": "joblib",
    "joblib.numpy_pickle.load": "joblib",
}

# Loaders handed a file (an io.BytesIO of the constant bytes), not the bytes themselves.
_FILE_LOADERS = frozenset({"numpy", "joblib"})

#: The in-memory file a ``numpy`` or ``joblib`` loader may read constant bytes from. Watched so that every
#: one made is seen: it is let through only as the file of one nested load that reads clean.
BUFFERS = frozenset({"io.BytesIO", "_io.BytesIO"})

WATCHED = frozenset(CONSTRUCTORS) | frozenset(LOADERS) | BUFFERS

# numpy.load(file, mmap_mode, allow_pickle, fix_imports, encoding) and joblib.load(file,
# mmap_mode, ensure_native_byte_order): what the arguments after the file may be. Memory
# mapping refuses a BytesIO; the verdict does not depend on allow_pickle (an embedded pickle
# is judged whether or not numpy would unpickle it).
_NUMPY_ENCODINGS = frozenset({"ASCII", "latin1", "bytes"})

# Allowed callables that call their first argument with the others (and make an instance of
# their second): what they hand the rest to must itself be an allowed global. (Keep in step
# with the allowlist: an allowed callable that calls what it is given belongs here.)
_CALLERS = frozenset(
    {
        "torch._tensor._rebuild_from_type_v2",
        "torch._utils._rebuild_from_type_v2",
    }
)
# Allowed callables known to only store what they are given when called (containers, and
# defaultdict, which calls its factory only on a lookup the loader never makes). Any other
# callable may call a wrapper it is handed: a constructor that probes a function argument
# (``scipy.sparse.linalg.LinearOperator(shape, matvec)`` calls ``matvec``, and scikit-learn
# re-exports it), a reduction that calls a method of its argument (``numpy.mean(obj)`` calls
# ``obj.mean``), a ``dict(obj)`` that calls ``obj.keys``. So a wrapper anywhere in the
# arguments of another call is exposed, unless that callable is one of these.
_HOLDERS = frozenset(
    {
        "builtins.list",
        "builtins.tuple",
        "builtins.set",
        "builtins.frozenset",
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.deque",
    }
)
# copyreg's helpers make an instance of their first argument (and _reconstructor runs its
# second's __init__): the classes named there decide what runs.
_MAKERS = frozenset({"copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__"})

# Method and attribute names a methodcaller / attrgetter may not reach even when it is never
# called during the load: what reaching them does is run code, load data or touch files.
_RISKY_NAMES = frozenset(
    {
        "system", "popen", "spawn", "spawnl", "spawnv", "execl", "execv", "execve", "execvp",
        "fork", "kill", "call", "check_call", "check_output", "getoutput", "run", "eval",
        "exec", "execfile", "compile", "load", "loads", "load_module", "import_module",
        "open", "read", "read_text", "read_bytes", "write", "write_text", "write_bytes",
        "remove", "unlink", "rmtree", "rmdir", "rename", "replace", "chmod", "chown",
        "mkdir", "touch", "symlink_to", "urlopen", "urlretrieve", "get", "post", "setattr",
        "getattr", "delattr", "globals", "locals", "vars", "modules", "builtins",
        "format", "format_map", "mro", "apply", "invoke", "start", "send",
        # Methods that write a file at a path they are given: ndarray.tofile / dump, pandas'
        # writers, pathlib's links, model savers.
        "tofile", "dump", "dumps", "save", "savez", "savetxt", "savefig", "save_model",
        "save_pretrained", "to_pickle", "to_csv", "to_json", "to_parquet", "to_hdf",
        "to_excel", "to_feather", "to_orc", "to_stata", "to_sql", "to_html", "to_latex",
        "to_markdown", "to_xml", "to_string", "hardlink_to", "link_to", "lchmod", "writelines",
        "truncate", "export", "spawnve", "spawnvp", "execvpe",
        # pandas' query and eval evaluate an expression whose "@name" reaches any global of the
        # calling frame (DataFrame.query(df, '@torch.os.system(...)')); the callable-taking
        # methods call what they are given.
        "query", "evaluate", "pipe", "agg", "aggregate", "transform", "map", "applymap",
        "to_clipboard", "plot",
    }
)  # fmt: skip

#: How many values the walks of one trace may visit before they stop and fail closed.
WALK_BUDGET = 2_000_000


@dataclass(frozen=True)
class LoaderOutcome:
    """What scanning a nested loader's constant bytes gave: ``clean`` when they were read to
    their end and nothing in them is reported above low."""

    clean: bool
    summary: str
    """For the evidence: the format read and what was found (rule ids, or an error)."""
    key_path: str
    """Where the nested findings are reported."""


@dataclass(frozen=True)
class GadgetUse:
    """One wrapper or nested load the pickle builds, and the verdict on it."""

    call: CallRef
    dotted: str
    kind: str
    """A :data:`CONSTRUCTORS` kind, or ``load-`` and a :data:`LOADERS` format."""
    harmless: bool
    reason: str
    wrapped: str


@dataclass
class Assessment:
    """The verdicts on every gadget of one trace."""

    uses: list[GadgetUse]
    exempt_imports: set[int]
    """``id()`` of the imports whose every use is harmless: not reported as dangerous."""
    exempt_calls: set[int]
    """``id()`` of the harmless construction calls: not reported as dangerous calls."""

    @staticmethod
    def empty() -> Assessment:
        return Assessment([], set(), set())


def load_key(call: Call) -> tuple[str, bytes] | None:
    """(format, bytes) of a nested load of constant bytes; None for anything else."""
    data = loader_bytes(call)
    if data is None:
        return None
    assert isinstance(call.func, Global)
    return LOADERS[call.func.ref.dotted], data


def loader_bytes(call: Call) -> bytes | None:
    """The constant bytes a nested loader is called with, when that is all it is given (for
    ``numpy.load``: an ``io.BytesIO`` of them, and constant options that change nothing)."""
    args = call.args
    if not (
        isinstance(call.func, Global)
        and call.func.ref.dotted in LOADERS
        and call.kwargs is None
        and isinstance(args, tuple)
        and args
    ):
        return None
    kind = LOADERS[call.func.ref.dotted]
    if kind not in _FILE_LOADERS:
        if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
            return bytes(args[0])
        return None
    if not _file_options(kind, args[1:]):
        return None
    return buffer_bytes(args[0])


def _file_options(kind: str, options: tuple[Any, ...]) -> bool:
    """Whether the options after a file loader's file are constants that leave what it reads
    and how as the scan reads it (no memory map, no keywords)."""
    if options and options[0] is not None:
        return False  # mmap_mode: a path's memory map, which a BytesIO is not
    if kind == "joblib":
        # ensure_native_byte_order: True, False or "auto".
        return len(options) <= 2 and (len(options) < 2 or options[1] in (True, False, "auto"))
    if len(options) > 4:
        return False
    kinds: tuple[type, ...] = (type(None), int, int, str)
    if not all(isinstance(value, kind) for value, kind in zip(options, kinds, strict=False)):
        return False
    return len(options) < 4 or options[3] in _NUMPY_ENCODINGS


def buffer_bytes(value: Any) -> bytes | None:
    """The bytes an ``io.BytesIO`` holds when it is made of one constant and read from its
    start: ``BytesIO(b)``, or what pickling one writes (no arguments, then the state
    ``(b, 0, None)``)."""
    if not (
        isinstance(value, Call)
        and isinstance(value.func, Global)
        and value.func.ref.dotted in BUFFERS
        and value.kwargs is None
        and isinstance(value.args, tuple)
    ):
        return None
    if len(value.args) == 1 and not value.states and isinstance(value.args[0], (bytes, bytearray)):
        return bytes(value.args[0])
    if not value.args and len(value.states) == 1:
        state = value.states[0]
        if (
            isinstance(state, tuple)
            and len(state) == 3
            and isinstance(state[0], (bytes, bytearray))
            and state[1] == 0
            and not isinstance(state[1], bool)
            and state[2] is None
        ):
            return bytes(state[0])
    return None


class _Budget:
    def __init__(self, visits: int) -> None:
        self.left = visits

    def spend(self, count: int = 1) -> bool:
        self.left -= count
        return self.left >= 0


def assess(
    trace: Trace,
    is_safe: Callable[[ImportRef], bool],
    loaded: Mapping[tuple[str, bytes], LoaderOutcome] | None = None,
) -> Assessment:
    """Judge every watched construction in ``trace``.

    ``is_safe`` is the policy's verdict on an import (user allow entries included);
    ``loaded`` maps a nested load's :func:`load_key` (what it loads: the same bytes give the
    same verdict in every reading of the stream) to what scanning them gave; without it every
    nested load stays critical.
    """
    if not trace.watched:
        return Assessment.empty()
    loaded = loaded or {}
    budget = _Budget(WALK_BUDGET + 8 * trace.opcodes_seen)
    judge = _Judge(is_safe, budget)
    exposed, handed_globals, holders = _exposure(trace, judge)
    called: dict[int, CallRef] = {}
    for ref in trace.calls:
        if isinstance(ref.func, Call) and id(ref.func) not in called:
            called[id(ref.func)] = ref

    uses: list[GadgetUse] = []
    verdicts: dict[int, list[bool]] = {}  # id(ImportRef) -> harmless per use
    buffers_read: set[int] = set()  # id(CallRef) of the BytesIO read by a harmless load
    for made in trace.watched:
        assert isinstance(made.func, Global)
        dotted = made.func.ref.dotted
        if dotted in BUFFERS:
            continue  # judged below, by the load that reads it
        reads: int | None = None  # id(CallRef) of the BytesIO a numpy load reads
        if dotted in LOADERS:
            kind = f"load-{LOADERS[dotted]}"
            key = load_key(made)
            harmless, reason, wrapped = _judge_load(made, loaded.get(key) if key else None)
            if harmless and LOADERS[dotted] in _FILE_LOADERS:
                # The BytesIO must be this load's alone: another reader of the same object
                # moves its position, or reads what this load is judged not to.
                file = made.args[0]
                assert isinstance(file, Call)
                if holders.get(id(file.ref)) != [id(made.ref)] or id(file) in called:
                    harmless, reason = False, "its BytesIO is also handed to other code"
                else:
                    reads = id(file.ref)
        else:
            kind = CONSTRUCTORS[dotted]
            harmless, reason, wrapped = judge.construction(kind, made)
        if harmless and id(made) in called:
            by = called[id(made)]
            harmless, reason = False, f"the loader calls it ({by.opcode} at byte {by.offset})"
        if harmless and id(made.ref) in exposed and dotted in CONSTRUCTORS:
            # (What a clean nested load returns is whatever its bytes build, all of it
            # allowed: handing that on is no different from handing on any allowed object.)
            harmless, reason = False, exposed[id(made.ref)]
        if harmless and budget.left < 0:
            harmless, reason = False, "the pickle is too large to follow where it goes"
        if harmless and reads is not None:
            buffers_read.add(reads)
        uses.append(GadgetUse(made.ref, dotted, kind, harmless, reason, wrapped))
        verdicts.setdefault(id(made.func.ref), []).append(harmless)
    # A BytesIO is no gadget: one read only by a harmless load is exempt (its import too, when
    # that is its only use); any other is left to the import and call rules, as before.
    exempt_buffers: set[int] = set()
    for made in trace.watched:
        assert isinstance(made.func, Global)
        if made.func.ref.dotted in BUFFERS:
            harmless = id(made.ref) in buffers_read and budget.left >= 0
            verdicts.setdefault(id(made.func.ref), []).append(harmless)
            if harmless:
                exempt_buffers.add(id(made.ref))

    exempt_imports = {
        key for key, seen in verdicts.items() if all(seen) and key not in handed_globals
    }
    exempt_calls = {id(use.call) for use in uses if use.harmless} | exempt_buffers
    return Assessment(uses, exempt_imports, exempt_calls)


def _judge_load(made: Call, outcome: LoaderOutcome | None) -> tuple[bool, str, str]:
    data = loader_bytes(made)
    if data is None:
        assert isinstance(made.func, Global)
        if LOADERS[made.func.ref.dotted] in _FILE_LOADERS:
            # A path names a file the scan never sees; mmap_mode, keywords or anything built at
            # load time leave what numpy reads unknown.
            what = "io.BytesIO of constant bytes, with constant options and no mmap_mode"
        else:
            what = "constant bytes the scan can read"
        return False, f"its argument is not {what} ({describe(made.args)})", describe(made.args)
    wrapped = f"{len(data)} constant bytes"
    if made.states:
        return False, "its result is rebuilt by a BUILD state", wrapped
    if outcome is None:
        return False, "its bytes were not read (nesting too deep or too large)", wrapped
    if not outcome.clean:
        return False, f"its bytes carry findings of their own: {outcome.summary}", wrapped
    return True, f"its bytes scan clean: {outcome.summary}", wrapped


class _Judge:
    """Plain-data and construction verdicts, under one walk budget."""

    def __init__(self, is_safe: Callable[[ImportRef], bool], budget: _Budget) -> None:
        self.is_safe = is_safe
        self.budget = budget

    def safe_global(self, value: Any) -> bool:
        return (
            isinstance(value, Global)
            and value.ref.dotted not in WATCHED
            and value.ref.dotted not in _CALLERS
            and self.is_safe(value.ref)
        )

    def safe_owner(self, func: Any, args: Any) -> bool:
        """Whether the code a value is handed to is allowed and calls nothing it is given but
        allowed globals: a callable, and for copyreg's helpers and torch's
        ``_rebuild_from_type_v2(func, new_type, args, state)`` the classes they instantiate and
        the function they call with the rest."""
        if not (
            isinstance(func, Global) and func.ref.dotted not in WATCHED and self.is_safe(func.ref)
        ):
            return False
        dotted = func.ref.dotted
        given = args if isinstance(args, tuple) else ()
        if dotted in _MAKERS:
            called = given[:2] if dotted == "copyreg._reconstructor" else given[:1]
        elif dotted in _CALLERS:
            called = given[:2] if len(given) >= 2 else (None,)
        else:
            return True
        return bool(called) and all(self.safe_global(item) for item in called)

    def plain(self, value: Any) -> bool:
        """Data a loader builds without running anything outside the allowlist: constants,
        containers of them, allowed globals and what allowed callables make of plain data."""
        seen: set[int] = set()
        work = [value]
        while work:
            item = work.pop()
            if not self.budget.spend():
                return False
            if item is None or isinstance(item, (str, bytes, bytearray, int, float)):
                continue
            if isinstance(item, Global):
                if not self.safe_global(item):
                    return False
                continue
            if id(item) in seen:
                continue
            seen.add(id(item))
            if isinstance(item, tuple):
                work.extend(item)
            elif isinstance(item, (SymList, SymSet)):
                work.extend(item.items)
            elif isinstance(item, SymDict):
                work.extend(part for pair in item.items for part in pair)
            elif isinstance(item, Call):
                if not self.safe_owner(item.func, item.args):
                    return False
                work.extend((item.args, item.kwargs, *item.states))
            else:
                return False  # a persistent id, a dynamic import, an opaque value
        return True

    def construction(self, kind: str, made: Call) -> tuple[bool, str, str]:
        """(harmless, why, what it wraps) for one constructor call."""
        args = made.args
        if not isinstance(args, tuple):
            return False, f"its arguments are {describe(args)}, built at load time", "?"
        if kind in ("partial", "partialmethod"):
            return self._partial(made, args)
        if made.states:
            return False, f"a BUILD or item opcode changes it ({describe(made.states)})", "?"
        if made.kwargs is not None and not self.plain(made.kwargs):
            return False, f"its keyword arguments are not plain data ({describe(made.kwargs)})", "?"
        if kind == "methodcaller":
            if not args or not isinstance(args[0], str):
                return False, "its method name is not a string constant", describe(args)
            name = args[0]
            if not _harmless_name(name):
                return False, f"it calls the method {name!r}", name
            if not self.plain(args[1:]):
                return False, f"its arguments are not plain data ({describe(args[1:])})", name
            return True, f"it calls the method {name!r} on what it is given", name
        if kind == "attrgetter":
            if not args or not all(isinstance(a, str) for a in args):
                return False, "its attribute names are not string constants", describe(args)
            for path in args:
                bad = [s for s in path.split(".") if not _harmless_name(s)]
                if bad:
                    return False, f"it reaches the attribute {bad[0]!r} ({path!r})", path
            return True, "it reads plain attributes", ", ".join(args)
        # itemgetter
        if not args or not self.plain(args):
            return False, f"its keys are not plain data ({describe(args)})", describe(args)
        return True, "it indexes with plain keys", describe(args)

    def _partial(self, made: Call, args: tuple[Any, ...]) -> tuple[bool, str, str]:
        func = args[0] if args else None
        wrapped = describe(func, 0)
        if not args or not self.safe_global(func):
            return False, f"it wraps {wrapped}, which is not an allowed callable", wrapped
        if not self.plain(args[1:]) or (made.kwargs is not None and not self.plain(made.kwargs)):
            return False, "its arguments are not plain data", wrapped
        for state in made.states:
            # partial.__setstate__ takes (func, args, keywords, dict): the function can be
            # swapped here, after the constructor's arguments were judged.
            if isinstance(state, tuple) and len(state) == 4:
                new_func, new_args, keywords, attrs = state
                if not self.safe_global(new_func):
                    return (
                        False,
                        f"its state swaps the function for {describe(new_func, 0)}",
                        describe(new_func, 0),
                    )
                if not (
                    isinstance(new_args, tuple)
                    and self.plain(new_args)
                    and (keywords is None or isinstance(keywords, SymDict))
                    and self.plain(keywords)
                    and (attrs is None or isinstance(attrs, SymDict))
                    and self.plain(attrs)
                ):
                    return False, f"its state is not plain data ({describe(state)})", wrapped
            elif not (isinstance(state, SymDict) and self.plain(state)):
                return False, f"a BUILD or item opcode changes it ({describe(state)})", wrapped
        return True, f"it wraps the allowed callable {wrapped}", wrapped


def _harmless_name(name: str) -> bool:
    return (
        bool(name)
        and name.isidentifier()
        and not name.startswith("_")
        and (name not in _RISKY_NAMES)
    )


def _exposure(trace: Trace, judge: _Judge) -> tuple[dict[int, str], set[int], dict[int, list[int]]]:
    """Which watched objects reach code that may call them, which watched globals are
    handed to any code at all (keys: ``id()`` of their CallRef / ImportRef), and what holds
    each object made by a call (``id()`` of the holder's CallRef, 0 for one that is no call;
    empty when the walk was cut short).

    A value handed to an allowed callable (or in the state of an allowed class) stays there:
    only when that object in turn reaches code that may call what it holds is the wrapper
    exposed. So the walk notes who holds what between calls, and spreads exposure from the
    code outside the allowlist along it.
    """
    holds: dict[int, list[Call]] = {}  # id(CallRef) -> Calls in its arguments and states
    holders: dict[int, list[int]] = {}  # id(CallRef) -> id(CallRef) of each holder (0: none)
    handed: set[int] = set()
    exposed: dict[int, str] = {}
    open_: list[tuple[Call, str]] = []  # Calls handed to code that may call them

    def note(
        holder: CallRef | None, func: Any, args: Any, value: Any, where: str, called: bool
    ) -> bool:
        inside = _direct_calls(value, handed, judge.budget)
        if inside is None:
            return False
        if holder is not None:
            holds.setdefault(id(holder), []).extend(inside)
        for call in inside:
            holders.setdefault(id(call.ref), []).append(id(holder) if holder is not None else 0)
        if isinstance(func, Global) and func.ref.dotted in WATCHED:
            why = f"it is wrapped by {func.ref.dotted} ({where})"
            open_.extend((call, why) for call in inside)
        elif called and isinstance(func, Global) and func.ref.dotted not in _HOLDERS | _MAKERS:
            # The callable runs with these arguments now, and may call what it is given.
            why = f"it is handed to {func.ref.dotted}, which may call it ({where})"
            open_.extend((call, why) for call in inside)
        elif not judge.safe_owner(func, args):
            target = describe(func, 0) if func is not None else "persistent_load"
            open_.extend((call, f"it is handed to {target} ({where})") for call in inside)
        return True

    complete = True
    # A BUILD calls getattr(obj, "__setstate__"): an instance attribute of that name (a method
    # on the class is no data descriptor, so the instance's __dict__ wins), or an item of a
    # dict whose __getattr__ reads its items (Lightning's AttributeDict), is called with the
    # next BUILD's state. No pickler writes such a key.
    for offset, planted in trace.planted_setstate:
        inside = _direct_calls(planted, handed, judge.budget)
        if inside is None:
            complete = False
            break
        why = f"it is stored under __setstate__ (byte {offset}): a BUILD on it calls it"
        open_.extend((call, why) for call in inside)
        for call in inside:
            holders.setdefault(id(call.ref), []).append(0)
    for ref in trace.calls:
        where = f"{ref.opcode} at byte {ref.offset}"
        value = (ref.args, ref.kwargs)
        complete = complete and note(ref, ref.func, ref.args, value, where, called=True)
    for owner, value, offset in trace.sinks:
        where = f"a BUILD, item or persistent-id opcode at byte {offset}"
        if isinstance(owner, Call):
            complete = complete and note(
                owner.ref, owner.func, owner.args, value, where, called=False
            )
        else:
            complete = complete and note(None, owner, None, value, where, called=False)
    if not complete:
        for made in trace.watched:
            exposed[id(made.ref)] = "the pickle is too large to follow where it goes"
        return exposed, handed, {}
    # What an exposed object holds is exposed too.
    while open_:
        call, why = open_.pop()
        if id(call.ref) in exposed:
            continue
        exposed[id(call.ref)] = why
        open_.extend((inner, why) for inner in holds.get(id(call.ref), ()))
    return exposed, handed, holders


def planted_setstate(
    value: Any, *, items: bool = False, names: tuple[str, ...] = ("__setstate__",)
) -> list[Any]:
    """The values a BUILD state (a dict, or a (dict, slots) pair) or, with ``items``, the flat
    key/value items of a SETITEM(S) store under one of ``names`` (the attributes a loader
    looks up and calls: ``__setstate__`` for BUILD, ``extend`` / ``append`` for APPEND(S) and
    ``add`` for ADDITEMS on an object that is not a list or set)."""
    if items:
        pairs = range(0, len(value) - 1, 2) if isinstance(value, tuple) else range(0)
        return [value[i + 1] for i in pairs if value[i] in names]
    parts = value if isinstance(value, tuple) else (value,)
    return [v for part in parts if isinstance(part, SymDict) for k, v in part.items if k in names]


def _direct_calls(value: Any, handed: set[int], budget: _Budget) -> list[Call] | None:
    """The Calls inside ``value`` through containers only (not through other Calls), noting
    in ``handed`` every watched global found; None when the budget runs out."""
    found: list[Call] = []
    seen: set[int] = set()
    work = [value]
    while work:
        item = work.pop()
        if not budget.spend():
            return None
        if isinstance(item, Global):
            if item.ref.dotted in WATCHED:
                handed.add(id(item.ref))
            continue
        if isinstance(item, Call):
            found.append(item)
            continue
        if id(item) in seen:
            continue
        if isinstance(item, tuple):
            seen.add(id(item))
            work.extend(item)
        elif isinstance(item, (SymList, SymSet)):
            seen.add(id(item))
            work.extend(item.items)
        elif isinstance(item, SymDict):
            seen.add(id(item))
            work.extend(part for pair in item.items for part in pair)
    return found
