"""A symbolic pickle machine: CPython's unpickler, opcode by opcode, without running anything.

It keeps the loader's stack, MARK metastack, memo and protocol exactly as ``_pickle`` and
``pickle._Unpickler`` do, but every import becomes a ``Global`` symbol and every call a
``Call`` symbol, recorded with its byte offset. Nothing named in the stream is imported.

Where the two CPython loaders disagree (frames, INT literals, a last line without its
newline: see :mod:`.decoder`), the machine follows the one that keeps going, so a payload that
runs under either loader is seen, and it records where the other one stopped
(:attr:`Trace.loader_stops`). When the data stops being a valid pickle for both, the machine
stops where they would, keeping everything seen before: the loader has already run it by then.

It also notes what would exhaust the loader's resources (:attr:`Trace.exhaustion`): lengths far
beyond the data (allocated before they are found missing), memo indexes that make the C
unpickler grow its memo array to twice their value, and object graphs whose shared references
expand, once walked, far beyond the size of the file (billion-laughs shapes).
"""

from __future__ import annotations

import _compat_pickle
import bisect
import copyreg
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..budget import ENTRY_BYTES, BudgetExceeded, checkpoint
from ..numpy_dtype import scalar
from .decoder import (
    C_FILE_LOADER,
    C_LOADER,
    HUGE_LENGTH,
    LOADER_NAMES,
    OPCODE_NAMES,
    OPCODE_PROTOCOLS,
    PY_LOADER,
    CBuffer,
    DecodeError,
    Op,
    PyFrames,
    read_op,
)
from .gadgets import WATCHED, planted_setstate
from .nested import Embedded, embedded_pickles, looks_like_pickle
from .policy import getattr_resolves, is_getattr
from .values import (
    Call,
    CallRef,
    DynamicGlobal,
    Global,
    ImportRef,
    Opaque,
    Persistent,
    SymDict,
    SymList,
    SymSet,
    describe,
)

__all__ = [
    "BOTH_LOADERS",
    "MAKERS",
    "OBJECT_ARRAY",
    "DynamicImport",
    "Exhaustion",
    "ExtensionImport",
    "FileLoad",
    "GetattrUse",
    "GlobalMutation",
    "LoaderStop",
    "MachineError",
    "NestedCandidate",
    "PersistentRef",
    "Trace",
    "TrailingData",
    "expanded_size",
    "run_machine",
]


@dataclass(frozen=True)
class GlobalMutation:
    """BUILD / APPEND(S) / SETITEM(S) / ADDITEMS applied to an imported object itself.

    On a module, class or function that sets attributes or calls its methods: never seen in a
    legitimate pickle, and a way to rewire code that runs later.
    """

    target: ImportRef
    offset: int
    opcode: str
    detail: str


@dataclass(frozen=True)
class GetattrUse:
    """A REDUCE of ``builtins.getattr`` on an imported global and a constant name that the
    policy resolves to an allowed global (``getattr(zoneinfo.ZoneInfo, '_unpickle')``): how
    Python pickles a bound or class method. The machine pushes ``resolved`` as its result."""

    call: CallRef
    getattr: ImportRef
    """The ``builtins.getattr`` import called."""
    base: ImportRef
    resolved: ImportRef


@dataclass(frozen=True)
class DynamicImport:
    """A STACK_GLOBAL whose module or name is not a string constant in the stream."""

    offset: int
    module: str | None
    name: str | None
    detail: str
    computed: bool
    """The module or name is made by running code (a call's result, an imported object)."""
    operands: tuple[Any, Any] = field(default=(None, None), compare=False, repr=False)
    """The symbolic module and name."""


@dataclass(frozen=True)
class ExtensionImport:
    """An EXT1/EXT2/EXT4 opcode: an import named by a copyreg extension code."""

    code: int
    offset: int
    opcode: str
    resolved: ImportRef | None


@dataclass(frozen=True)
class PersistentRef:
    """A PERSID/BINPERSID id handed to the loader's ``persistent_load`` (torch storages)."""

    offset: int
    opcode: str
    pid: str
    value: Any = field(default=None, compare=False, repr=False)
    """The symbolic id itself (a legacy torch storage's record names its storage class)."""


@dataclass(frozen=True)
class NestedCandidate:
    """A constant that looks like an embedded pickle; ``data_offset`` is where its bytes start."""

    offset: int
    data_offset: int | None
    embedded: Embedded


@dataclass(frozen=True)
class MachineError:
    """Where and why the loader would stop with an exception."""

    offset: int
    message: str
    pickle_index: int
    truncated: bool = False


@dataclass(frozen=True)
class FileLoad:
    """A file the loader reads because the pickle names it (joblib's old array wrappers)."""

    offset: int
    target: str
    """The global whose state names the file."""
    filename: str


@dataclass(frozen=True)
class LoaderStop:
    """Where one of CPython's two unpicklers stops while the other reads on.

    For :data:`~.decoder.C_FILE_LOADER`, where the C unpickler reading a file object without
    ``peek()`` goes on from another byte than it does from memory (it does not stop).
    """

    loader: str
    """:data:`~.decoder.C_LOADER`, :data:`~.decoder.PY_LOADER` or :data:`~.decoder.C_FILE_LOADER`."""
    offset: int
    reason: str
    at_end: bool = False
    """The opcode where it stops is the last one in the data (nothing can follow it)."""

    @property
    def loader_name(self) -> str:
        return LOADER_NAMES[self.loader]


@dataclass(frozen=True)
class Exhaustion:
    """Something in the stream that would exhaust the loader's memory or time.

    ``kind`` is ``length`` (a length far past the data), ``memo`` (a memo index far past the
    memo), ``allocation`` (an allowed callable asked for a huge size) or ``expansion`` (an
    object graph that expands far beyond the stream).
    """

    offset: int
    opcode: str
    detail: str
    kind: str = "length"


@dataclass(frozen=True)
class TrailingData:
    """Bytes after the last complete pickle that do not form another one."""

    offset: int
    length: int
    partial_pickle: bool


@dataclass
class Trace:
    """Everything the machine saw, in stream order; offsets are absolute (``base_offset`` added)."""

    imports: list[ImportRef] = field(default_factory=list)
    calls: list[CallRef] = field(default_factory=list)
    mutations: list[GlobalMutation] = field(default_factory=list)
    dynamic_imports: list[DynamicImport] = field(default_factory=list)
    extensions: list[ExtensionImport] = field(default_factory=list)
    persistent_ids: list[PersistentRef] = field(default_factory=list)
    nested: list[NestedCandidate] = field(default_factory=list)
    stops: list[int] = field(default_factory=list)
    error: MachineError | None = None
    trailing: TrailingData | None = None
    opcodes_seen: int = 0
    loader_stops: list[LoaderStop] = field(default_factory=list)
    exhaustion: list[Exhaustion] = field(default_factory=list)
    file_loads: list[FileLoad] = field(default_factory=list)
    protocol: int = 0
    """The highest protocol of any opcode seen (or a PROTO's argument, if higher)."""
    first_result: Any = None
    """What the first pickle loads to (its value at STOP): a legacy torch file's magic number."""
    exhausted: bool = False
    """The machine stopped early on purpose: end of a head it was given, or its opcode cap."""
    budget_stop: bool = False
    """The scan's time or memory budget stopped the run (the scanner reports it)."""
    joblib_arrays: list[tuple[int, int]] = field(default_factory=list)
    """Where the raw bytes of joblib's numeric arrays that were stepped over start and end."""
    joblib_object_arrays: list[tuple[int, int]] = field(default_factory=list)
    """Where the pickles of joblib's object arrays start and end."""
    watched: list[Call] = field(default_factory=list)
    """What the gadget constructors and nested loaders (:mod:`.gadgets`) built, in order."""
    planted_setstate: list[tuple[int, Any]] = field(default_factory=list)
    """(offset, value) of every BUILD state or item of a non-container that stores a value
    under ``__setstate__``: the next BUILD on that object calls it."""
    sinks: list[tuple[Any, Any, int]] = field(default_factory=list)
    """Once something is watched: (owner, value, offset) for every BUILD state, item
    mutation of a non-container and persistent id, where a loader hands ``value`` to
    ``owner``'s code (``None``: the unpickler's ``persistent_load``)."""
    region_memo_write: int | None = None
    """For a reading given joblib's array regions: the first memo write inside one."""
    unfollowable: MachineError | None = None
    """Where joblib's unpickler goes on in a way no joblib writer produces and the machine
    cannot follow (a wrapper made by calling its class, an attribute computed at load time)."""
    desync_at: int | None = None
    """For a reading given joblib's array regions: the first opcode that runs across a region's
    start or end, from where this reading parses the stream out of step with joblib's."""
    getattrs: list[GetattrUse] = field(default_factory=list)
    """The getattr calls resolved to an allowed global, in order."""
    saw_getattr: bool = False
    """A ``builtins.getattr`` was imported: from then on :attr:`sinks` are recorded, to tell
    whether it is handed to any code."""

    @property
    def tracks_sinks(self) -> bool:
        return bool(self.watched) or self.saw_getattr

    def reached_by(self, offset: int) -> list[str]:
        """The unpicklers that read as far as ``offset`` (both, unless one stopped before)."""
        stopped = {stop.loader for stop in self.loader_stops if stop.offset <= offset}
        return [loader for loader in (C_LOADER, PY_LOADER) if loader not in stopped]

    @property
    def c_file_divergence(self) -> LoaderStop | None:
        """Where the C unpickler reading a file object first reads otherwise than from memory."""
        return next((s for s in self.loader_stops if s.loader == C_FILE_LOADER), None)

    @property
    def pickles_seen(self) -> int:
        return len(self.stops)


#: A constant this long is a checkpoint of its own (between two regular ones, 1024 opcodes of
#: BINBYTES8 could hold terabytes).
_LARGE_CONSTANT = 1 << 20

#: The pickle machine checks the scan's budgets every ``_CHECK_MASK + 1`` opcodes (a power of two).
_CHECK_MASK = 1023


class _Stop(Exception):
    """Raised by STOP to end one pickle."""


class _Exhausted(Exception):
    """The machine reached the end of what it was asked to read (a head, an opcode cap)."""


class _LoadError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Unfollowable(_LoadError):
    """joblib's unpickler reads on where the machine cannot tell how: only a crafted file does
    this (MLS-PKL-012), and the scan stops there."""


# Text encodings that ``_codecs.encode`` is called with for bytes in protocol 0-2 pickles.
_LATIN1_NAMES = frozenset({"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1", "l1"})


def _is_concrete(value: Any) -> bool:
    return isinstance(value, (str, bytes, bytearray, int, float)) or value is None


#: The machine's default reading: both unpicklers at once, the C one reading from memory, and
#: joblib's arrays stepped over as joblib.load does.
BOTH_LOADERS = "both"


class _Machine:
    """State of one run over one buffer. See ``run_machine``."""

    def __init__(
        self,
        data: memoryview,
        base_offset: int,
        find_nested: bool,
        partial: bool = False,
        max_ops: int | None = None,
        max_pickles: int | None = None,
        loader: str = BOTH_LOADERS,
        regions: list[tuple[int, int]] | None = None,
        fresh_memo: bool = False,
    ) -> None:
        self.data = data
        self.base = base_offset
        self.find_nested = find_nested
        self.partial = partial
        self.max_ops = max_ops
        self.max_pickles = max_pickles
        self.trace = Trace()
        # Only joblib's own unpickler (pickle.py's) steps over the arrays it writes.
        self.joblib = loader == BOTH_LOADERS
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        # The memo survives STOP (an Unpickler whose load() is called again keeps it) unless
        # each pickle is read by a fresh unpickler (fresh_memo).
        self.memo: dict[int, Any] = {}
        # Bytes of the string and bytes constants this pickle pushed: copies out of the data,
        # held while the stack or memo refers to them (counted until the pickle's STOP).
        self.constant_bytes = 0
        self.fresh_memo = fresh_memo
        self.proto = 0
        self.op: Op | None = None
        # Set by a handler that consumed raw bytes after its opcode (joblib array data), or
        # bytes read from the file while the frame before them is still being read.
        self.resume_at: int | None = None
        self.skip: tuple[int, int] | None = None
        # The unpicklers still reading, pickle.py's frame state while it is one of them, and
        # the C unpickler's read-ahead buffer while it is.
        self.alive = (
            {C_LOADER, PY_LOADER}
            if loader == BOTH_LOADERS
            else {PY_LOADER}
            if loader == PY_LOADER
            else {C_LOADER}
        )
        self.frames: PyFrames | None = PyFrames() if PY_LOADER in self.alive else None
        self.cbuf: CBuffer | None = (
            CBuffer(stream=loader == C_FILE_LOADER) if C_LOADER in self.alive else None
        )
        # joblib's array regions, as boundaries in order, for a reading that does not step
        # over them: an opcode across one means this reading is out of step with joblib's.
        self.bounds = sorted({b for region in regions for b in region}) if regions else None
        self.regions = sorted(regions) if regions else []
        self.region_starts = [start for start, _ in self.regions]
        # Whether a joblib wrapper class was imported, and what is left of the work that
        # looking for one inside calls' arguments may take (see mentions_wrapper): a stream's
        # values are each handed to a call about once, so a few times its length is generous.
        self.saw_wrapper = False
        self.wrapper_walk_budget = 1_000_000 + 8 * len(data)
        # Sizes object graphs at each STOP, each container once until something mutates it.
        # A legitimate stream walks each container about once: twice its length is generous.
        self.meter = ExpansionMeter(1_000_000 + 2 * len(data))
        # Whether any object was pushed a second time (GET, DUP). Until one is, every object
        # has at most one parent: the graph is a tree no larger than the opcodes that built it,
        # so there is no expansion to measure (and 200,000 nested lists need no walk).
        self.shared = False

    # -- stack primitives, with the loader's failure modes ---------------------------------

    def pop(self) -> Any:
        if not self.stack:
            raise _LoadError("unpickling stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise _LoadError("unpickling stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise _LoadError("could not find MARK")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    # -- running ---------------------------------------------------------------------------

    def run(self) -> Trace:
        pos = 0
        size = len(self.data)
        index = 0
        while pos < size:
            if index > 0:
                pos = self._next_load(pos)
                if pos >= size:
                    break
                if self.fresh_memo:
                    self.memo = {}
            start = pos
            if index > 0 and self.data[pos] not in OPCODE_NAMES:
                self.trace.trailing = TrailingData(self.base + pos, size - pos, False)
                break
            if self.max_pickles is not None and index >= self.max_pickles:
                break
            self.stack = []
            self.constant_bytes = 0
            self.metastack = []
            self.proto = 0
            if self.frames is not None:
                # Each load() starts outside a frame. (pickle.py reads a whole frame ahead, so
                # a second load after a STOP inside a frame starts at the frame's end there;
                # that corner is not modelled.)
                self.frames.end = None
            imports_before = len(self.trace.imports)
            try:
                pos = self._run_one(pos)
            except _Exhausted:
                self.trace.exhausted = True
                break
            except BudgetExceeded:
                # The scan's time or memory budget: what was traced so far makes findings;
                # the scanner reports the budget (a finding and an error: fail closed).
                self.trace.exhausted = self.trace.budget_stop = True
                break
            except DecodeError as exc:
                if exc.declared is not None:
                    self._huge_length(exc)
                if self.partial and exc.truncated:
                    self.trace.exhausted = True  # the head ends here, not the stream
                    break
                self._fail(exc.offset, exc.message, index, start, imports_before, exc.truncated)
                break
            except _LoadError as exc:
                assert self.op is not None
                if isinstance(exc, _Unfollowable):
                    self.trace.unfollowable = MachineError(self.at(self.op), exc.message, index)
                self._fail(self.op.offset, exc.message, index, start, imports_before)
                break
            self.trace.stops.append(self.base + pos - 1)
            index += 1
        return self.trace

    def _next_load(self, pos: int) -> int:
        """Where the next pickle.load starts, after a STOP at ``pos``."""
        cbuf = self.cbuf
        if cbuf is None or cbuf.end is None or cbuf.end <= pos:
            return pos
        if cbuf.stream:
            # A new load from a file object without peek() starts where the file is: after
            # the frame the last one read ahead, whatever the frame held after its STOP.
            pos, cbuf.end = cbuf.end, None
            return pos
        self._c_file(
            pos,
            f"a pickle follows a STOP at byte {self.base + pos - 1} inside a frame that ends "
            f"at byte {self.base + cbuf.end}: read from a file object, the next load starts "
            "at the frame's end",
            at_end=False,
        )
        return pos

    def _c_file(self, offset: int, reason: str, at_end: bool) -> None:
        if C_LOADER in self.alive and self.trace.c_file_divergence is None:
            self.trace.loader_stops.append(
                LoaderStop(C_FILE_LOADER, self.base + offset, reason, at_end)
            )

    def _fail(
        self,
        offset: int,
        message: str,
        index: int,
        start: int,
        imports_before: int,
        truncated: bool = False,
    ) -> None:
        if index > 0 and len(self.trace.imports) == imports_before:
            # After a complete pickle, bytes that break without importing anything are data
            # appended to the file (legacy torch storages, padding), not a failed load.
            self.trace.trailing = TrailingData(
                self.base + start, len(self.data) - start, partial_pickle=True
            )
            return
        self.trace.error = MachineError(self.base + offset, message, index, truncated)

    def _run_one(self, pos: int) -> int:
        # The hot loop (one pass per opcode): what stays the same for the whole run is held in
        # locals; what handlers change (skip, frames, cbuf, resume_at) is read from self.
        data = self.data
        trace = self.trace
        max_ops = self.max_ops
        bounds = self.bounds
        protocols = OPCODE_PROTOCOLS
        dispatch = _DISPATCH
        while True:
            seen = trace.opcodes_seen
            if max_ops is not None and seen >= max_ops:
                raise _Exhausted
            if self.skip is not None and pos >= self.skip[0]:
                pos, self.skip = max(pos, self.skip[1]), None
            op = read_op(data, pos, self.frames, self.cbuf)
            self.op = op
            seen += 1
            trace.opcodes_seen = seen
            if not seen & _CHECK_MASK:
                # The memo, the stack and the marks are what the machine holds.
                checkpoint(self.holding())
            if op.diverge is not None:
                self._diverge(op)
            if op.c_file is not None:
                self._c_file(op.offset, op.c_file, op.end >= len(data))
            if bounds is not None and trace.desync_at is None:
                start = self.base + op.offset
                i = bisect.bisect_right(bounds, start)
                if i < len(bounds) and bounds[i] < self.base + op.end:
                    trace.desync_at = start
            protocol = protocols.get(op.name, 0)
            if protocol > trace.protocol:
                trace.protocol = protocol
            pos = op.end
            try:
                handler = dispatch[op.name]
            except KeyError:  # pragma: no cover - every decoder opcode has a handler
                raise _LoadError(f"unhandled opcode {op.name}") from None
            try:
                handler(self, op)
            except _Stop:
                return pos
            if self.resume_at is not None:
                pos, self.resume_at = self.resume_at, None

    def _diverge(self, op: Op) -> None:
        """One unpickler fails on ``op``; go on as the other one, or stop if it was the last."""
        assert op.diverge is not None
        loader, reason = op.diverge
        if loader not in self.alive:
            return
        if len(self.alive) == 1:
            # The one still reading fails here too.
            raise DecodeError(
                op.offset, reason, truncated=self.partial and op.end >= len(self.data)
            )
        if self.partial and loader == C_LOADER and op.end >= len(self.data):
            # A line cut by the end of a head, not by the end of the stream.
            raise _Exhausted
        self.alive.discard(loader)
        if loader == PY_LOADER:
            self.frames = None
        else:
            self.cbuf = None
        at_end = op.end >= len(self.data)
        self.trace.loader_stops.append(LoaderStop(loader, self.at(op), reason, at_end))

    def _huge_length(self, exc: DecodeError) -> None:
        assert exc.declared is not None
        name = OPCODE_NAMES.get(self.data[exc.offset], "?") if exc.offset < len(self.data) else "?"
        self.trace.exhaustion.append(
            Exhaustion(
                self.base + exc.offset,
                name,
                f"{name} declares {exc.declared} bytes but only "
                f"{len(self.data) - exc.offset} remain: the loader allocates the declared size "
                "before it finds the data missing",
            )
        )

    # -- helpers used by handlers ------------------------------------------------------------

    def at(self, op: Op) -> int:
        return self.base + op.offset

    def holding(self) -> int:
        """What the machine holds, for the scan's memory budget: its memo, stack and marks
        (:data:`ENTRY_BYTES` each) and the constants it copied out of the data."""
        entries = len(self.memo) + len(self.stack) + len(self.metastack)
        return entries * ENTRY_BYTES + self.constant_bytes

    def push_constant(self, op: Op, value: Any, verbatim: bool) -> None:
        self.stack.append(value)
        if isinstance(value, (bytes, bytearray, str)):
            self.constant_bytes += len(value)
            if len(value) >= _LARGE_CONSTANT:
                checkpoint(self.holding())  # a few opcodes can hold gigabytes
        if self.find_nested and isinstance(value, (bytes, bytearray, str)):
            self._note_nested(op, value, verbatim)

    def _note_nested(self, op: Op, value: bytes | bytearray | str, verbatim: bool) -> None:
        for embedded in embedded_pickles(value, verbatim=verbatim):
            data_offset = self.base + op.data_offset if embedded.exact_offsets else None
            self.trace.nested.append(NestedCandidate(self.at(op), data_offset, embedded))

    def import_global(self, op: Op, module: str, name: str) -> Global:
        spelled = None
        if self.proto < 3:
            # The loader's fix_imports: Python 2 names are rewritten before importing.
            key = (module, name)
            if key in _compat_pickle.NAME_MAPPING:
                spelled = f"{module}.{name}"
                module, name = _compat_pickle.NAME_MAPPING[key]
            elif module in _compat_pickle.IMPORT_MAPPING:
                spelled = f"{module}.{name}"
                module = _compat_pickle.IMPORT_MAPPING[module]
        ref = ImportRef(module, name, self.at(op), op.name, spelled=spelled)
        self.trace.imports.append(ref)
        if ref.dotted in _JOBLIB_WRAPPERS:
            self.saw_wrapper = True
        if is_getattr(ref.module, ref.name):
            self.trace.saw_getattr = True
        return Global(ref)

    def in_region(self, offset: int) -> bool:
        """Whether ``offset`` (of the whole data) lies in one of joblib's array regions."""
        i = bisect.bisect_right(self.region_starts, offset) - 1
        return i >= 0 and offset < self.regions[i][1]

    def wrote_memo(self, op: Op) -> None:
        if self.regions and self.trace.region_memo_write is None and self.in_region(self.at(op)):
            self.trace.region_memo_write = self.at(op)

    def mentions_wrapper(self, value: Any) -> bool:
        """Whether a joblib wrapper class, or an object made from one, is inside ``value``:
        a walk breadth first (where callees look) through containers and calls. A walk the
        machine's budget cuts short counts as a yes: a payload can pad its arguments."""
        if not self.saw_wrapper:
            return False
        seen: set[int] = set()
        level: list[Any] = [value]
        while level:
            following: list[Any] = []
            for item in level:
                if isinstance(item, Global):
                    if item.ref.dotted in _JOBLIB_WRAPPERS:
                        return True
                    continue
                if isinstance(item, tuple):
                    children: Any = item
                elif isinstance(item, (SymList, SymSet)):
                    children = item.items
                elif isinstance(item, SymDict):
                    children = [part for pair in item.items for part in pair]
                elif isinstance(item, Call):
                    children = (item.func, item.args, item.kwargs)
                else:
                    continue
                if id(item) in seen:
                    continue
                seen.add(id(item))
                self.wrapper_walk_budget -= len(children) + 1
                if self.wrapper_walk_budget < 0:
                    return True
                following.extend(children)
            level = following
        return False

    def call(self, op: Op, func: Any, args: Any, kwargs: Any = None) -> Any:
        if self.joblib:
            _check_wrapper_use(self, op, func, args, kwargs)
        operands = {"args": args, "kwargs": kwargs, "func": func}
        if isinstance(func, Global):
            ref = CallRef(func.ref, self.at(op), op.name, target=func.ref.dotted, **operands)
        elif isinstance(func, Call):
            ref = CallRef(
                None,
                self.at(op),
                op.name,
                target=f"result of {describe(func)} called at byte {func.ref.offset}",
                computed=True,
                **operands,
            )
        elif isinstance(func, (DynamicGlobal, Persistent)) or func is OBJECT_ARRAY:
            # (A joblib object array is whatever its own pickle returned: a callable, maybe.)
            ref = CallRef(
                None, self.at(op), op.name, target=describe(func), computed=True, **operands
            )
        else:
            # Calling a constant raises TypeError in the loader; nothing runs.
            ref = CallRef(
                None, self.at(op), op.name, target=f"constant {describe(func, 0)}", **operands
            )
        self.trace.calls.append(ref)
        allocation = _allocation(func, args)
        if allocation is not None:
            self.trace.exhaustion.append(
                Exhaustion(
                    self.at(op),
                    op.name,
                    f"{describe(func, 0)} is asked for about {allocation} items: an allowed "
                    "callable, but the loader builds it in memory",
                    "allocation",
                )
            )
        folded = _fold_pure_call(func, args, kwargs)
        if folded is not None:
            if self.find_nested and isinstance(folded, (bytes, bytearray)):
                self._note_nested(op, folded, verbatim=False)
            return folded
        result = Call(func, args, kwargs, ref)
        if isinstance(func, Global) and func.ref.dotted in WATCHED:
            self.trace.watched.append(result)
        return result

    def mutate(
        self, op: Op, target: Any, items: list[Any], detail: str | Callable[[], str]
    ) -> None:
        """``detail`` (or a function making it: rendering the items costs, and only a
        mutation of an imported object keeps it) describes the mutation."""
        self.meter.invalidate()
        # The common cases first (a dict's items set, a list's appended): nothing below applies
        # to them but the extend, and 200,000 nested containers take 200,000 of these.
        kind = type(target)
        if kind is SymDict and op.name in _DICT_STORES:
            target.items.extend(zip(items[0::2], items[1::2], strict=False))
            return
        if kind is SymList and op.name in _LIST_STORES:
            target.items.extend(items)
            return
        if kind in _INERT:
            # Both loaders raise on any mutation of a constant (no __setitem__, append, extend
            # or add): nothing is stored, so nothing stored can be planted. What it is handed
            # still counts as handed (a sink), as for any other target.
            if self.trace.tracks_sinks:
                self.trace.sinks.append((target, tuple(items), self.at(op)))
            return
        if op.name in ("SETITEM", "SETITEMS") and not isinstance(target, SymDict):
            for value in planted_setstate(tuple(items), items=True):
                self.trace.planted_setstate.append((self.at(op), value))
        if op.name in ("APPEND", "APPENDS", "ADDITEMS") and isinstance(target, Call):
            # On an object that is not a list or set, the loader calls its extend / append /
            # add: an attribute or item of that name planted earlier is what runs.
            names = ("add",) if op.name == "ADDITEMS" else ("extend", "append")
            for state in target.states:
                if isinstance(state, tuple) and state[:1] in (("SETITEM",), ("SETITEMS",)):
                    found = planted_setstate(tuple(state[1]), items=True, names=names)
                else:
                    found = planted_setstate(state, names=names)
                self.trace.planted_setstate.extend((self.at(op), value) for value in found)
        if self.trace.tracks_sinks and not isinstance(target, (SymList, SymDict, SymSet)):
            self.trace.sinks.append((target, tuple(items), self.at(op)))
        if isinstance(target, Global):
            text = detail if isinstance(detail, str) else detail()
            self.trace.mutations.append(GlobalMutation(target.ref, self.at(op), op.name, text))
        elif isinstance(target, SymList) or (isinstance(target, SymSet) and not target.frozen):
            target.items.extend(items)
        elif isinstance(target, SymDict):
            target.items.extend(zip(items[0::2], items[1::2], strict=False))
        elif isinstance(target, Call):
            target.states.append((op.name, items))


#: The mutations :meth:`_Machine.mutate` applies at once to a dict, and to a list.
_DICT_STORES = frozenset({"SETITEM", "SETITEMS"})
_LIST_STORES = frozenset({"APPEND", "APPENDS"})
#: Constants the machine pushes as themselves: mutating one raises in the loader.
_INERT = frozenset({int, float, bool, str, bytes, type(None)})

#: An allowed callable asked for more items than this builds something no pickle needs.
HUGE_ALLOCATION = 1 << 26
# Allowed callables that allocate from a size: where the size is in their arguments.
_SIZED = {"builtins.bytearray": 0, "builtins.bytes": 0, "numpy.ndarray": 0}
_SHAPED = {
    "numpy.core.multiarray._reconstruct": 1,
    "numpy._core.multiarray._reconstruct": 1,
    "numpy.ma.core._mareconstruct": 2,
    "numpy.ndarray": 0,
    "numpy.recarray": 0,
    "numpy.rec.recarray": 0,
    "numpy.core.records.recarray": 0,
    "numpy._core.records.recarray": 0,
}


def _allocation(func: Any, args: Any) -> int | None:
    """How many items a callable would allocate from its arguments, when huge.

    A size or shape given to a constructor that allocates it, or a huge ``range`` handed to
    any callable: ``list``, ``tuple``, ``collections.deque``, ``torch.Size`` and the like
    iterate it into memory, and a pickler never writes a range that long.
    """
    if not isinstance(func, Global) or not isinstance(args, tuple):
        return None
    dotted = func.ref.dotted
    count = 0
    if dotted in _SIZED and len(args) > _SIZED[dotted]:
        count = max(count, _items(args[_SIZED[dotted]]))
    if dotted in _SHAPED and len(args) > _SHAPED[dotted]:
        count = max(count, _items(args[_SHAPED[dotted]]))
    if dotted != "builtins.range":
        for arg in args:
            if (
                isinstance(arg, Call)
                and isinstance(arg.func, Global)
                and arg.func.ref.dotted == "builtins.range"
            ):
                count = max(count, _range_length(arg.args))
    return count if count >= HUGE_ALLOCATION else None


def _items(value: Any) -> int:
    """An int, or a shape tuple's product (0 when neither)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return max(int(value), 0)
    if (
        isinstance(value, tuple)
        and value
        and all(isinstance(d, int) and not isinstance(d, bool) for d in value)
    ):
        product = 1
        for dim in value:
            product *= max(int(dim), 0)
            if product >= HUGE_ALLOCATION:
                return product
        return product
    return 0


def _range_length(args: Any) -> int:
    if not isinstance(args, tuple) or not all(
        isinstance(a, int) and not isinstance(a, bool) for a in args
    ):
        return 0
    try:
        return len(range(*args))
    except (TypeError, ValueError, OverflowError):
        return HUGE_ALLOCATION if args else 0  # a length past sys.maxsize


def _fold_pure_call(func: Any, args: Any, kwargs: Any) -> Any:
    """Evaluate the few side-effect-free calls whose results matter later, else None.

    Protocol 0-2 pickles spell bytes as ``_codecs.encode(text, "latin1")``; folding it keeps
    the bytes concrete, so an embedded pickle spelled that way is still found.
    """
    if not isinstance(func, Global) or kwargs is not None or not isinstance(args, tuple):
        return None
    dotted = func.ref.dotted
    if dotted == "_codecs.encode" and len(args) == 2:
        text, encoding = args
        if (
            isinstance(text, str)
            and isinstance(encoding, str)
            and encoding.lower() in _LATIN1_NAMES
        ):
            try:
                return text.encode("latin-1")
            except UnicodeEncodeError:
                return None
    if dotted == "builtins.bytes" and args == ():
        return b""
    return None


# -- opcode handlers --------------------------------------------------------------------------


def _constant(verbatim: bool) -> Any:
    def handler(m: _Machine, op: Op) -> None:
        m.push_constant(op, op.arg, verbatim)

    return handler


def _number(m: _Machine, op: Op) -> None:
    # A number is no string: push_constant would only push it (the hot path of nested shapes).
    m.stack.append(op.arg)


def _push(value_factory: Any) -> Any:
    def handler(m: _Machine, op: Op) -> None:
        m.stack.append(value_factory())

    return handler


def _mark(m: _Machine, op: Op) -> None:
    m.metastack.append(m.stack)
    m.stack = []


def _stop(m: _Machine, op: Op) -> None:
    value = m.pop()
    if not m.trace.stops:
        m.trace.first_result = value
    _check_expansion(m, op, value)
    raise _Stop


#: Above this many nodes (and 1000 per opcode), a loaded object graph is a billion-laughs shape.
EXPANSION_FLOOR = 10_000_000


def _check_expansion(m: _Machine, op: Op, value: Any) -> None:
    if m.meter.exhausted or not m.shared:
        return
    cap = max(EXPANSION_FLOOR, 1000 * m.trace.opcodes_seen)
    size = m.meter.size(value, cap)
    if size is None:
        detail = (
            f"the pickle's STOPs share one object graph ({len(m.trace.stops) + 1} so far), "
            "and measuring what they expand to exceeded the scanner's budget: a pickle writer "
            "never produces this"
        )
    elif size > cap:
        detail = (
            f"the loaded object's shared references expand to more than {cap} nodes from "
            f"{m.trace.opcodes_seen} opcodes: walking, copying or printing it exhausts "
            "memory and time"
        )
    else:
        return
    m.trace.exhaustion.append(Exhaustion(m.at(op), op.name, detail, "expansion"))


def _children(value: Any) -> list[Any] | tuple[Any, ...] | None:
    if isinstance(value, tuple):
        return value
    if isinstance(value, (SymList, SymSet)):
        return value.items
    if isinstance(value, SymDict):
        return [part for pair in value.items for part in pair]
    if isinstance(value, Call):
        return [value.args, value.kwargs, *value.states]
    return None


def expanded_size(root: Any, cap: int) -> int:
    """How many nodes ``root`` has once every shared reference is followed (stops past ``cap``).

    Shared containers are sized once (memoised by identity), so the walk is linear in the
    graph; references back to a container being sized (cycles) count as one node.
    """
    size = ExpansionMeter(budget=None).size(root, cap)
    assert size is not None
    return size


class ExpansionMeter:
    """Sizes the object graphs of one stream, never walking a container twice while nothing
    mutates it, within a total ``budget`` of visits (None: unbounded)."""

    def __init__(self, budget: int | None) -> None:
        self.budget = budget
        self.exhausted = False
        self._sizes: dict[int, int] = {}
        self._keep: list[Any] = []  # keeps sized objects alive, so their ids stay theirs

    def invalidate(self) -> None:
        """Something was mutated: sizes computed before may have grown."""
        if self._sizes:
            self._sizes.clear()
            self._keep.clear()

    def size(self, root: Any, cap: int) -> int | None:
        """The size of ``root`` (past ``cap`` it stops early); None when the budget ran out."""
        if _children(root) is None:
            return 1
        sizes = self._sizes
        open_: set[int] = set()
        work: list[tuple[Any, bool]] = [(root, False)]
        while work:
            node, finishing = work.pop()
            key = id(node)
            if not finishing and (key in sizes or key in open_):
                continue  # sized already (at this STOP or an earlier one), or being sized
            children = _children(node)
            assert children is not None
            if self.budget is not None:
                self.budget -= 1 + len(children)
                if self.budget < 0:
                    self.exhausted = True
                    return None
            if finishing:
                total = 1
                for child in children:
                    total += sizes.get(id(child), 1)
                    if total > cap:
                        return total
                sizes[key] = total
                self._keep.append(node)
                open_.discard(key)
                continue
            open_.add(key)
            work.append((node, True))
            for child in children:
                child_key = id(child)
                if (
                    _children(child) is not None
                    and child_key not in sizes
                    and child_key not in open_
                ):
                    work.append((child, False))
        return sizes.get(id(root), 1)


def _pop(m: _Machine, op: Op) -> None:
    # pickle.py and _pickle both drop the MARK when the current stack is empty.
    if m.stack:
        m.stack.pop()
    else:
        m.pop_mark()


def _pop_mark(m: _Machine, op: Op) -> None:
    m.pop_mark()


def _dup(m: _Machine, op: Op) -> None:
    m.shared = True
    m.stack.append(m.top())


def _persid(m: _Machine, op: Op) -> None:
    m.trace.persistent_ids.append(PersistentRef(m.at(op), op.name, describe(op.arg)))
    m.stack.append(Persistent(op.arg, m.at(op)))


def _binpersid(m: _Machine, op: Op) -> None:
    pid = m.pop()
    m.trace.persistent_ids.append(PersistentRef(m.at(op), op.name, describe(pid), pid))
    if m.trace.tracks_sinks:
        m.trace.sinks.append((None, pid, m.at(op)))
    m.stack.append(Persistent(pid, m.at(op)))


def _reduce(m: _Machine, op: Op) -> None:
    args = m.pop()
    func = m.top()
    result = m.call(op, func, args)
    m.stack[-1] = result
    resolved = _resolve_getattr(m, op, func, args)
    if resolved is not None and isinstance(result, Call):
        assert isinstance(func, Global)
        assert isinstance(args[0], Global)
        m.trace.imports.append(resolved)
        m.trace.getattrs.append(GetattrUse(result.ref, func.ref, args[0].ref, resolved))
        m.stack[-1] = Global(resolved)


def _resolve_getattr(m: _Machine, op: Op, func: Any, args: Any) -> ImportRef | None:
    """``getattr(<imported global>, '<name>')`` as the global ``<global>.<name>``, when the
    policy resolves it (an exact allowlist entry); None for every other call.

    The imported global must be one the stream names (not an EXT code, not itself a getattr
    result), the name a string constant, and nothing else given (the three-argument form
    returns its default when the attribute is missing)."""
    if not (
        isinstance(func, Global)
        and func.ref.ext_code is None
        and func.ref.attribute_of is None
        and is_getattr(func.ref.module, func.ref.name)
        and type(args) is tuple
        and len(args) == 2
    ):
        return None
    base, name = args
    if not (
        isinstance(base, Global)
        and base.ref.ext_code is None
        and base.ref.attribute_of is None
        and type(name) is str
        and getattr_resolves(base.ref.module, base.ref.name, name)
    ):
        return None
    return ImportRef(
        base.ref.module,
        f"{base.ref.name}.{name}",
        m.at(op),
        op.name,
        attribute_of=base.ref.dotted,
    )


def _build(m: _Machine, op: Op) -> None:
    state = m.pop()
    inst = m.top()
    for value in planted_setstate(state):
        m.trace.planted_setstate.append((m.at(op), value))
    if m.trace.tracks_sinks:
        m.trace.sinks.append((inst, state, m.at(op)))
    if isinstance(inst, Global):
        m.trace.mutations.append(
            GlobalMutation(inst.ref, m.at(op), op.name, f"state {describe(state)}")
        )
    elif isinstance(inst, Call):
        m.meter.invalidate()
        inst.states.append(state)
        if m.joblib and m.mentions_wrapper(state):
            # A slot state's __class__ turns any object into a wrapper, for one.
            raise _Unfollowable(f"a BUILD state that holds a joblib wrapper: {describe(state)}")
        wrapper = _joblib_wrapper_class(inst) if m.joblib else None
        if wrapper in _JOBLIB_ARRAY_WRAPPERS:
            m.stack[-1] = _read_joblib_array(m, op, _wrapper_attributes(inst))
        elif wrapper in _JOBLIB_FILE_WRAPPERS:
            filename = _wrapper_attributes(inst, strict=False).get("filename")
            m.trace.file_loads.append(
                FileLoad(
                    m.at(op),
                    wrapper,
                    filename if isinstance(filename, str) else describe(filename),
                )
            )


def _joblib_wrapper_class(inst: Call) -> str | None:
    """The joblib wrapper class ``inst`` is an instance of, made without its ``__init__``
    (as pickle makes it: NEWOBJ, copyreg's helpers); None when it is not a wrapper.

    joblib's unpickler reads an array after every BUILD whose object is a wrapper, however the
    object was made: :func:`_check_wrapper_use` refuses every other way of making one.
    """
    func, args = inst.func, inst.args
    if not isinstance(func, Global):
        return None
    if func.ref.dotted in _JOBLIB_WRAPPERS:
        return func.ref.dotted
    if func.ref.dotted in MAKERS and isinstance(args, tuple) and args:
        cls = args[0]
        if isinstance(cls, Global) and cls.ref.dotted in _JOBLIB_WRAPPERS:
            return cls.ref.dotted
    return None


def _check_wrapper_use(m: _Machine, op: Op, func: Any, args: Any, kwargs: Any) -> None:
    """Refuse a call that makes or touches a joblib wrapper otherwise than pickle makes one.

    Only an instance made without ``__init__`` (NEWOBJ, copyreg's helpers from ``object``) has
    just the attributes its BUILD states give it. A wrapper class or instance handed to any
    other call can come back as a wrapper the machine does not know for one (torch's
    ``_rebuild_from_type_v2`` calls the class), or with attributes set behind the states
    (``_rebuild_from_type_v2`` sets its state's items on what it returns): where joblib reads
    on after it cannot be followed. joblib itself never writes such a call.
    """
    dotted = func.ref.dotted if isinstance(func, Global) else None
    if dotted in _JOBLIB_WRAPPERS:
        if op.name not in ("NEWOBJ", "NEWOBJ_EX"):
            raise _Unfollowable(
                f"joblib wrapper {dotted} made by {op.name}, which runs its __init__ with the "
                "pickle's arguments: no joblib version writes it so"
            )
        return  # object.__new__ ignores the arguments
    if dotted in MAKERS and isinstance(args, tuple) and args and m.mentions_wrapper(args[0]):
        cls = args[0]
        if not (isinstance(cls, Global) and cls.ref.dotted in _JOBLIB_WRAPPERS):
            raise _Unfollowable(f"{dotted} of {describe(cls)}")
        base = args[1] if dotted == "copyreg._reconstructor" and len(args) == 3 else None
        if dotted == "copyreg._reconstructor" and not (
            isinstance(base, Global) and base.ref.dotted == "builtins.object"
        ):
            raise _Unfollowable(
                f"joblib wrapper {cls.ref.dotted} made by {dotted} from another base"
            )
        return  # made without __init__; the other arguments are not used
    if m.mentions_wrapper((func, args, kwargs)):
        raise _Unfollowable(f"a joblib wrapper handed to {describe(func, 0)}")


#: copyreg's helpers that make an instance of their first argument without calling __init__.
MAKERS = frozenset({"copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__"})


def _wrapper_attributes(inst: Call, strict: bool = True) -> SymDict:
    """The attributes a joblib wrapper has after its BUILDs so far, later ones winning.

    joblib reads the wrapper's attributes with getattr: every BUILD state counts, in order
    (a wrapper can be fetched from the memo and built again), dict and slot state alike.
    For an array wrapper (``strict``), what the machine cannot know exactly (a key computed at
    load time, an alignment that may or may not be None, an attribute joblib never writes, a
    state of another shape) is refused: a guess here decides where joblib goes on reading
    opcodes. An old file wrapper only names a file; nothing is read from the stream after it.
    """
    merged = SymDict()
    for state in inst.states:
        if isinstance(state, tuple) and len(state) == 2 and not isinstance(state[0], str):
            parts = [part for part in state if part is not None]
        else:
            parts = [state] if state is not None else []
        for part in parts:
            if not isinstance(part, SymDict):
                if not strict:
                    continue
                raise _Unfollowable(f"joblib wrapper with a state of {describe(part)}")
            for key, value in part.items:
                if strict and key not in _WRAPPER_ATTRIBUTES:
                    raise _Unfollowable(
                        f"joblib wrapper state sets {describe(key)}, an attribute joblib "
                        "never writes"
                    )
                if (
                    strict
                    and key == "numpy_array_alignment_bytes"
                    and isinstance(value, (Call, Global, DynamicGlobal, Persistent, Opaque))
                ):
                    # joblib reads a padding byte unless this is None.
                    raise _Unfollowable(
                        f"joblib wrapper alignment {describe(value)}, which may or may not be "
                        "None at load time"
                    )
                merged.items.append((key, value))
    return merged


# What joblib's array wrappers ever hold.
_WRAPPER_ATTRIBUTES = frozenset(
    {"subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes"}
)


# joblib writes each numpy array's bytes into the stream right after the BUILD of its wrapper,
# and its unpickler reads them from there: the machine must step over them as joblib does.
_JOBLIB_ARRAY_WRAPPERS = frozenset(
    {
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
    }
)


# joblib's old format keeps arrays in files beside the pickle: the wrapper's state names the
# file, which joblib.load opens relative to the pickle's folder and loads with
# numpy.load(allow_pickle=True) (ZNDArrayWrapper: a zlib file of the array's bytes).
_JOBLIB_FILE_WRAPPERS = frozenset(
    {
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "joblib.numpy_pickle_compat.ZNDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle_compat.NDArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle_compat.ZNDArrayWrapper",
    }
)
_JOBLIB_WRAPPERS = _JOBLIB_ARRAY_WRAPPERS | _JOBLIB_FILE_WRAPPERS


def _dtype_layout(dtype: Any) -> tuple[int, bool]:
    """(itemsize, has_object) of a pickled ``numpy.dtype(descr, align, copy)`` + BUILD state.

    Both follow numpy's own rules, because joblib reads exactly that many bytes per item, or
    unpickles the array when the dtype says it holds objects: the descr gives the size, except
    for the flexible kinds (S, U, V), whose size the state carries; a state of version 3 or
    later sets ``hasobject`` from bit 0 of its flags whatever the kind ('O8' with flags 0 is
    raw bytes to joblib, 'u1' with flag 1 a pickle), an older one from any flag at all, or an
    object kind. Reading 'float64' as 64 bytes, trusting a forged size on a fixed-size type,
    or guessing a size that differs by platform would desynchronise the machine from joblib
    and skip over a payload.
    """
    if (
        isinstance(dtype, Call)
        and isinstance(dtype.func, Global)
        and dtype.func.ref.dotted == _STRING_DTYPE
    ):
        return 8, True  # numpy 2's variable-width strings: hasobject, so pickled
    if not (
        isinstance(dtype, Call)
        and isinstance(dtype.func, Global)
        and dtype.func.ref.dotted == "numpy.dtype"
        and isinstance(dtype.args, tuple)
        and dtype.args
    ):
        raise _Unfollowable("joblib array wrapper whose dtype is not a numpy.dtype call")
    descr = dtype.args[0]
    if not isinstance(descr, str):
        raise _LoadError(f"joblib array wrapper with dtype {describe(descr)}")
    found = scalar(descr)
    if found is None:
        raise _LoadError(f"joblib array wrapper with a dtype numpy refuses ({descr!r})")
    has_object = found.kind == "O"
    size = found.itemsize
    if dtype.states:
        state = _dtype_state(dtype.states[-1])
        if state is None:
            raise _LoadError(f"a dtype state numpy refuses: {describe(dtype.states[-1])}")
        version, elsize, flags, fields = state
        if version >= 3:
            has_object = bool(flags & 1)
        elif fields is not None:
            # numpy works object-ness out from the fields themselves: not followed here.
            raise _LoadError("a structured dtype in a state older than version 3")
        else:
            has_object = flags != 0 or found.kind == "O"
        if found.flexible:
            if elsize <= 0:
                raise _LoadError(f"a {descr!r} dtype of {elsize} bytes, which joblib fails on")
            size = elsize
    if has_object:
        return 8, True  # pickled, not read by size
    if found.kind == "O":
        raise _Unfollowable(
            f"an object dtype ({descr!r}) whose state clears its object flag: joblib reads "
            "the items' bytes as object pointers, and crashes on them or worse"
        )
    if size is None:
        raise _LoadError(
            f"joblib array of dtype {descr!r}, whose size differs between platforms: where "
            "the loader's numpy reads it, and so what it reads next, depends on the machine"
        )
    return size, False


# What numpy 2's StringDType reduces to.
_STRING_DTYPE = "numpy._core._internal._convert_to_stringdtype_kwargs"


# Where numpy's dtype __setstate__ finds (version, elsize, alignment, flags, fields) in a
# state of each length; a 5-item state is version 0, and states without flags have none.
_STATE_LAYOUTS: dict[int, tuple[int | None, int, int, int | None, int]] = {
    9: (0, 5, 6, 7, 4),
    8: (0, 5, 6, 7, 4),
    7: (0, 5, 6, None, 4),
    6: (0, 4, 5, None, 3),
    5: (None, 3, 4, None, 2),
}
_INT64 = 1 << 63


def _dtype_state(state: Any) -> tuple[int, int, int, Any] | None:
    """(version, elsize, flags, fields) of a dtype's ``__setstate__`` tuple, read as numpy
    reads it; None where numpy raises."""
    if not isinstance(state, tuple) or len(state) not in _STATE_LAYOUTS:
        return None
    at_version, at_elsize, at_alignment, at_flags, at_fields = _STATE_LAYOUTS[len(state)]
    version = 0 if at_version is None else state[at_version]
    elsize, alignment = state[at_elsize], state[at_alignment]
    flags = 0 if at_flags is None else state[at_flags]
    if not all(isinstance(v, int) for v in (version, elsize, alignment, flags)):
        return None
    if not 0 <= version <= 4 or not all(-_INT64 <= v < _INT64 for v in (elsize, alignment)):
        return None
    # Flags are taken as an unsigned long without overflow checking (masked to 64 bits),
    # then read as signed: -128..-1 are the old signed-char flags, shifted up by 128.
    flags &= 2 * _INT64 - 1
    if flags >= _INT64:
        flags -= 2 * _INT64
    if -128 <= flags < 0:
        flags += 128
    return int(version), int(elsize), flags % (2 * _INT64), state[at_fields]


def _read_joblib_array(m: _Machine, op: Op, state: Any) -> Any:
    if not isinstance(state, SymDict):
        raise _LoadError("joblib array wrapper without a state dict")
    shape = state.get("shape")
    if not isinstance(shape, tuple) or not all(isinstance(d, int) for d in shape):
        raise _LoadError("joblib array wrapper with an unreadable shape")
    itemsize, has_object = _dtype_layout(state.get("dtype"))
    # From here on the C unpickler (pickle.load, torch.load) reads other bytes than joblib:
    # the array's bytes, as opcodes. That reading is a run of its own (see scan.py); this
    # one follows joblib alone.
    m.alive.discard(C_LOADER)
    m.cbuf = None
    # joblib reads the array from its file handle, which is past the whole current frame:
    # pickle.py read the frame into memory. The unpickler then goes on with the rest of the
    # frame, and reads the file again after the array. (In what joblib writes the frame ends
    # at this BUILD, and both are the same place.)
    pos = op.end
    frames = m.frames
    frame_end = frames.end if frames is not None else None
    in_frame = frame_end is not None and frame_end > op.end
    if frame_end is not None and in_frame:
        pos = frame_end
    if has_object:
        # joblib pickles an object array as a pickle of its own, which it loads with a fresh
        # pickle.py unpickler on the same file: that one reads a frame whole into memory, so
        # after a STOP inside a frame the outer stream goes on from the frame's end. It is a
        # plain unpickler: a wrapper built in there is an object like any other, no array.
        saved = (m.stack, m.metastack, m.memo, m.proto, m.frames, m.joblib)
        inner = PyFrames()
        m.stack, m.metastack, m.memo, m.proto, m.frames = [], [], {}, 0, inner
        m.joblib = False
        try:
            end = m._run_one(pos)
        finally:
            m.stack, m.metastack, m.memo, m.proto, m.frames, m.joblib = saved
        if inner.end is not None and inner.end > end:
            end = inner.end
        m.trace.joblib_object_arrays.append((m.base + pos, m.base + end))
        _continue_after(m, op, pos, end, in_frame)
        return OBJECT_ARRAY
    start = pos
    if state.get("numpy_array_alignment_bytes") is not None:
        if pos >= len(m.data):
            raise DecodeError(op.offset, "joblib array padding is truncated", truncated=True)
        pos += 1 + m.data[pos]
    count = 1
    for dim in shape:
        count *= dim
    end = pos + count * itemsize
    if count < 0 or end > len(m.data):
        raise DecodeError(
            op.offset, "joblib array data extends past the end of the file", truncated=True
        )
    if m.find_nested:
        # A pickle of its own in the array's bytes: whatever unpickles the array's bytes runs it.
        region = bytes(m.data[start:end])
        if looks_like_pickle(region):
            embedded = Embedded(region, "joblib array data", exact_offsets=True)
            m.trace.nested.append(NestedCandidate(m.at(op), m.base + start, embedded))
    m.trace.joblib_arrays.append((m.base + start, m.base + end))
    _continue_after(m, op, start, end, in_frame)
    return Opaque("joblib array")


#: What joblib returns for an object array: whatever the array's own pickle returns.
OBJECT_ARRAY = Opaque("joblib object array")


def _continue_after(m: _Machine, op: Op, start: int, end: int, in_frame: bool) -> None:
    """Go on as joblib's unpickler does after reading ``[start, end)`` from the file."""
    if in_frame:
        m.skip = (start, end)  # the rest of the frame first, then the file after the array
    else:
        m.resume_at = end


def _global(m: _Machine, op: Op) -> None:
    module, name = op.arg
    imported = m.import_global(op, module, name)
    if not name:
        raise _LoadError(f"pickle.py imports {module}, then finds no attribute named ''")
    m.stack.append(imported)


def _inst(m: _Machine, op: Op) -> None:
    module, name = op.arg
    if not m.metastack and PY_LOADER in m.alive:
        # The C unpickler looks for the MARK first and stops; pickle.py imports the class
        # first, and only then finds no MARK.
        if C_LOADER in m.alive:
            m.alive.discard(C_LOADER)
            m.cbuf = None
            m.trace.loader_stops.append(
                LoaderStop(C_LOADER, m.at(op), "INST without a MARK before it")
            )
        m.import_global(op, module, name)
        raise _LoadError("could not find MARK")
    args = m.pop_mark()
    cls = m.import_global(op, module, name)
    if not name:
        raise _LoadError(f"pickle.py imports {module}, then finds no attribute named ''")
    m.stack.append(m.call(op, cls, tuple(args)))


def _obj(m: _Machine, op: Op) -> None:
    args = m.pop_mark()
    if not args:
        raise _LoadError("OBJ with no class on the stack")
    m.stack.append(m.call(op, args[0], tuple(args[1:])))


def _newobj(m: _Machine, op: Op) -> None:
    args = m.pop()
    cls = m.pop()
    m.stack.append(m.call(op, cls, args))


def _newobj_ex(m: _Machine, op: Op) -> None:
    kwargs = m.pop()
    args = m.pop()
    cls = m.pop()
    m.stack.append(m.call(op, cls, args, kwargs))


def _stack_global(m: _Machine, op: Op) -> None:
    name = m.pop()
    module = m.pop()
    if isinstance(module, str) and isinstance(name, str):
        m.stack.append(m.import_global(op, module, name))
        return
    if _is_concrete(module) and _is_concrete(name):
        raise _LoadError("STACK_GLOBAL requires str")
    # A name that is a call's result, an imported object or what a joblib object array's
    # pickle returned is made by the loader running code: it can be any string (an imported
    # module's __name__ is its name).
    computed = any(
        isinstance(part, (Call, Global, DynamicGlobal)) or part is OBJECT_ARRAY
        for part in (module, name)
    )
    known_module = module if isinstance(module, str) else None
    known_name = name if isinstance(name, str) else None
    detail = f"module {describe(module)}, name {describe(name)}"
    m.trace.dynamic_imports.append(
        DynamicImport(m.at(op), known_module, known_name, detail, computed, (module, name))
    )
    m.stack.append(DynamicGlobal(m.at(op), known_module, known_name))


def _ext(m: _Machine, op: Op) -> None:
    code = int(op.arg)
    if code <= 0:
        raise _LoadError("EXT specifies code <= 0")
    key = copyreg._inverted_registry.get(code)  # type: ignore[attr-defined]
    if key is not None:
        module, name = key
        resolved: ImportRef | None = ImportRef(module, name, m.at(op), op.name, ext_code=code)
    else:
        resolved = None
    m.trace.extensions.append(ExtensionImport(code, m.at(op), op.name, resolved))
    ref = resolved or ImportRef("<copyreg extension>", str(code), m.at(op), op.name, ext_code=code)
    m.trace.imports.append(ref)
    m.stack.append(Global(ref))


def _get(m: _Machine, op: Op) -> None:
    index = int(op.arg)
    if index not in m.memo:
        raise _LoadError(f"memo value not found at index {index}")
    m.shared = True
    m.stack.append(m.memo[index])


#: A memo index this far beyond the memo makes the C unpickler allocate 16 bytes per index.
HUGE_MEMO_INDEX = 1 << 22


def _put(m: _Machine, op: Op) -> None:
    index = int(op.arg)
    if index < 0:
        raise _LoadError("negative PUT argument")
    value = m.top()
    if index >= HUGE_MEMO_INDEX and index > len(m.memo) + HUGE_MEMO_INDEX:
        # A pickler numbers memo entries 0, 1, 2...; _pickle grows its memo array to twice the
        # largest index it is given.
        m.trace.exhaustion.append(
            Exhaustion(
                m.at(op),
                op.name,
                f"{op.name} {index} with {len(m.memo)} memo entries: the C unpickler grows its "
                f"memo to {2 * index} slots ({16 * index} bytes) for it",
                "memo",
            )
        )
    m.memo[index] = value
    m.wrote_memo(op)


def _memoize(m: _Machine, op: Op) -> None:
    m.memo[len(m.memo)] = m.top()
    m.wrote_memo(op)


def _append(m: _Machine, op: Op) -> None:
    value = m.pop()
    m.mutate(op, m.top(), [value], lambda: f"append {describe(value)}")


def _appends(m: _Machine, op: Op) -> None:
    items = m.pop_mark()
    m.mutate(op, m.top(), items, f"extend with {len(items)} items")


def _setitem(m: _Machine, op: Op) -> None:
    value = m.pop()
    key = m.pop()
    m.mutate(op, m.top(), [key, value], lambda: f"[{describe(key)}] = {describe(value)}")


def _setitems(m: _Machine, op: Op) -> None:
    items = m.pop_mark()
    if len(items) % 2:
        if PY_LOADER in m.alive and len(items) > 1:
            # The C unpickler refuses at once; pickle.py sets the pairs before the odd item.
            m.mutate(op, m.top(), items[:-1], f"set {len(items) // 2} items")
        raise _LoadError("odd number of items for SETITEMS")
    m.mutate(op, m.top(), items, f"set {len(items) // 2} items")


def _additems(m: _Machine, op: Op) -> None:
    items = m.pop_mark()
    m.mutate(op, m.top(), items, f"add {len(items)} items")


def _list(m: _Machine, op: Op) -> None:
    items = m.pop_mark()  # switches m.stack: take the items before appending
    m.stack.append(SymList(items))


def _tuple(m: _Machine, op: Op) -> None:
    items = m.pop_mark()
    m.stack.append(tuple(items))


def _tuple_n(n: int) -> Any:
    def handler(m: _Machine, op: Op) -> None:
        items = [m.pop() for _ in range(n)]
        m.stack.append(tuple(reversed(items)))

    return handler


def _dict(m: _Machine, op: Op) -> None:
    items = m.pop_mark()
    if len(items) % 2:
        raise _LoadError("odd number of items for DICT")
    pairs = iter(items)  # one iterator zipped with itself: the pairs, with no slices copied
    m.stack.append(SymDict(list(zip(pairs, pairs, strict=True))))


def _frozenset(m: _Machine, op: Op) -> None:
    items = m.pop_mark()
    m.stack.append(SymSet(items, frozen=True))


def _proto(m: _Machine, op: Op) -> None:
    m.proto = int(op.arg)
    m.trace.protocol = max(m.trace.protocol, m.proto)


def _frame(m: _Machine, op: Op) -> None:
    # Frames only batch reads; opcodes may even straddle them in the C loader. A size far past
    # the data is read (allocated) in full by both loaders before they find it short.
    missing = int(op.arg) - (len(m.data) - op.end)
    if missing >= HUGE_LENGTH:
        m.trace.exhaustion.append(
            Exhaustion(
                m.at(op),
                op.name,
                f"FRAME declares {op.arg} bytes but only {len(m.data) - op.end} remain: the "
                "loader allocates the declared size before it finds the data missing",
            )
        )


def _next_buffer(m: _Machine, op: Op) -> None:
    m.stack.append(Opaque("out-of-band buffer"))


def _readonly_buffer(m: _Machine, op: Op) -> None:
    m.top()


_DISPATCH: dict[str, Any] = {
    "MARK": _mark,
    "STOP": _stop,
    "POP": _pop,
    "POP_MARK": _pop_mark,
    "DUP": _dup,
    "FLOAT": _number,
    "INT": _number,
    "BININT": _number,
    "BININT1": _number,
    "LONG": _number,
    "BININT2": _number,
    "LONG1": _number,
    "LONG4": _number,
    "BINFLOAT": _number,
    "NONE": _push(lambda: None),
    "NEWTRUE": _push(lambda: True),
    "NEWFALSE": _push(lambda: False),
    "STRING": _constant(False),
    "BINSTRING": _constant(True),
    "SHORT_BINSTRING": _constant(True),
    "UNICODE": _constant(False),
    "BINUNICODE": _constant(False),
    "SHORT_BINUNICODE": _constant(False),
    "BINUNICODE8": _constant(False),
    "BINBYTES": _constant(True),
    "SHORT_BINBYTES": _constant(True),
    "BINBYTES8": _constant(True),
    "BYTEARRAY8": _constant(True),
    "PERSID": _persid,
    "BINPERSID": _binpersid,
    "REDUCE": _reduce,
    "BUILD": _build,
    "GLOBAL": _global,
    "INST": _inst,
    "OBJ": _obj,
    "NEWOBJ": _newobj,
    "NEWOBJ_EX": _newobj_ex,
    "STACK_GLOBAL": _stack_global,
    "EXT1": _ext,
    "EXT2": _ext,
    "EXT4": _ext,
    "GET": _get,
    "BINGET": _get,
    "LONG_BINGET": _get,
    "PUT": _put,
    "BINPUT": _put,
    "LONG_BINPUT": _put,
    "MEMOIZE": _memoize,
    "APPEND": _append,
    "APPENDS": _appends,
    "SETITEM": _setitem,
    "SETITEMS": _setitems,
    "ADDITEMS": _additems,
    "LIST": _list,
    "EMPTY_LIST": _push(SymList),
    "TUPLE": _tuple,
    "EMPTY_TUPLE": _push(tuple),
    "TUPLE1": _tuple_n(1),
    "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3),
    "DICT": _dict,
    "EMPTY_DICT": _push(SymDict),
    "EMPTY_SET": _push(SymSet),
    "FROZENSET": _frozenset,
    "PROTO": _proto,
    "FRAME": _frame,
    "NEXT_BUFFER": _next_buffer,
    "READONLY_BUFFER": _readonly_buffer,
}

assert set(_DISPATCH) == set(OPCODE_NAMES.values()), "every opcode needs a handler"


def run_machine(
    data: bytes | memoryview,
    *,
    base_offset: int = 0,
    find_nested: bool = True,
    partial: bool = False,
    max_ops: int | None = None,
    max_pickles: int | None = None,
    loader: str = BOTH_LOADERS,
    regions: list[tuple[int, int]] | None = None,
    fresh_memo: bool = False,
) -> Trace:
    """Run the machine over every pickle in ``data`` (concatenated pickles included).

    Each pickle after the first reads the memo the ones before it left (an Unpickler whose
    ``load()`` is called again), or, with ``fresh_memo``, one of its own (``pickle.load``
    called again; torch's legacy files).

    ``partial`` says ``data`` is only the head of a longer stream: running off its end is not
    an error (:attr:`Trace.exhausted` is set). ``max_ops`` and ``max_pickles`` stop the run
    early, for identification, which needs only the first opcodes. ``loader`` is
    :data:`BOTH_LOADERS` (both unpicklers, joblib's arrays stepped over), or one reading of
    the C unpickler alone: :data:`~.decoder.C_LOADER` (from memory, arrays read as opcodes)
    or :data:`~.decoder.C_FILE_LOADER` (from a file object without ``peek()``), or pickle.py's
    alone, :data:`~.decoder.PY_LOADER`, arrays read as opcodes too. ``regions`` are the spans
    of joblib's numeric arrays as the default reading found them: :attr:`Trace.desync_at`
    says where this reading falls out of step with joblib's.
    """
    view = data if isinstance(data, memoryview) else memoryview(data)
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    machine = _Machine(
        view, base_offset, find_nested, partial, max_ops, max_pickles, loader, regions, fresh_memo
    )
    return machine.run()
