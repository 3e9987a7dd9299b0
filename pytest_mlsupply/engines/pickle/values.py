"""Symbolic values the pickle machine pushes instead of the objects a real loader would build.

Constants (ints, floats, strings, bytes, None, booleans) are kept as the builtins they are;
everything a loader would have to import or call becomes a symbol that remembers where it came
from. Containers are identity-based so that hostile pickles (self-referencing lists, unhashable
dict keys) can be modelled without ever hashing or comparing attacker-chosen values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Call",
    "CallRef",
    "DynamicGlobal",
    "Global",
    "ImportRef",
    "Opaque",
    "Persistent",
    "SymDict",
    "SymList",
    "SymSet",
    "describe",
    "walk_globals",
]


@dataclass(frozen=True)
class ImportRef:
    """A global the loader would import: ``module`` and (possibly dotted) ``name``.

    ``spelled`` keeps the name as written when the loader's Python 2 compatibility mapping
    (``fix_imports``) turns it into another one; ``ext_code`` is set when the import came
    from an EXT1/EXT2/EXT4 opcode rather than from a name in the stream.
    """

    module: str
    name: str
    offset: int
    opcode: str
    spelled: str | None = None
    ext_code: int | None = None
    attribute_of: str | None = None
    """Set when the loader reaches this global by calling ``builtins.getattr`` on an imported
    one with a constant name (how Python pickles bound and class methods): the dotted name of
    that imported global. ``offset`` is then the getattr call's."""

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "module": self.module,
            "name": self.name,
            "offset": self.offset,
            "opcode": self.opcode,
        }
        if self.spelled is not None:
            data["spelled"] = self.spelled
        if self.ext_code is not None:
            data["ext_code"] = self.ext_code
        if self.attribute_of is not None:
            data["attribute_of"] = self.attribute_of
        return data


@dataclass(frozen=True)
class CallRef:
    """A call the loader would make: REDUCE, INST, OBJ, NEWOBJ, NEWOBJ_EX.

    ``callable`` is the import being called; it is ``None`` when the callable is not an import
    (the result of another call, an unresolved EXT code, a dynamic import), which ``target``
    then describes. ``computed`` says the callable was produced at load time.
    """

    callable: ImportRef | None
    offset: int
    opcode: str
    target: str = ""
    computed: bool = False
    args: Any = field(default=None, repr=False, compare=False)
    """The symbolic arguments, for evidence (what command a call to os.system runs)."""
    kwargs: Any = field(default=None, repr=False, compare=False)
    func: Any = field(default=None, repr=False, compare=False)
    """The symbolic callable (a dynamic import, another call's result)."""

    def handed(self) -> list[Global]:
        """The imported objects handed to this call, positionally or by keyword."""
        return walk_globals((self.args, self.kwargs), depth=4)

    def to_dict(self) -> dict[str, Any]:
        return {
            "callable": self.callable.to_dict() if self.callable else None,
            "offset": self.offset,
            "opcode": self.opcode,
            "target": self.target,
            "computed": self.computed,
        }


@dataclass(frozen=True, eq=False)
class Global:
    """The object a GLOBAL / STACK_GLOBAL / INST / EXT opcode imports."""

    ref: ImportRef


@dataclass(frozen=True, eq=False)
class DynamicGlobal:
    """A STACK_GLOBAL whose operands are not concrete strings: the import is unknowable."""

    offset: int
    module: str | None
    name: str | None


@dataclass(eq=False, slots=True)
class Call:
    """The result of calling ``func`` with ``args`` (and ``kwargs``); BUILD states pile up."""

    func: Any
    args: Any
    kwargs: Any
    ref: CallRef
    states: list[Any] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class SymList:
    items: list[Any] = field(default_factory=list)


@dataclass(eq=False, slots=True)
class SymDict:
    # Pairs, not a dict: keys may be unhashable or symbolic.
    items: list[tuple[Any, Any]] = field(default_factory=list)

    def get(self, key: str) -> Any:
        for k, v in reversed(self.items):
            if isinstance(k, str) and k == key:
                return v
        return None


@dataclass(eq=False, slots=True)
class SymSet:
    items: list[Any] = field(default_factory=list)
    frozen: bool = False


@dataclass(frozen=True, eq=False)
class Persistent:
    """What ``persistent_load`` returns for a PERSID/BINPERSID id (torch storages)."""

    pid: Any
    offset: int


@dataclass(frozen=True, eq=False)
class Opaque:
    """A value the machine cannot know statically (an out-of-band buffer, for one)."""

    reason: str


#: How many calls of a call's result :func:`describe` renders (``f(...)(...)``) before it
#: gives the chain's depth instead.
_CALL_CHAIN_SHOWN = 8


def describe(value: Any, depth: int = 2, width: int = 6) -> str:
    """A short, bounded rendering for evidence; never walks more than ``width**depth`` items."""
    if isinstance(value, Global):
        return value.ref.dotted
    if isinstance(value, DynamicGlobal):
        return f"<dynamic import at byte {value.offset}>"
    if isinstance(value, Call):
        # A call of a call's result (f()()...): a bounded walk down the chain, never a
        # recursion as deep as the chain (a crafted pickle makes it 10^5 calls deep).
        calls = 0
        while isinstance(value, Call) and calls < _CALL_CHAIN_SHOWN:
            value, calls = value.func, calls + 1
        if isinstance(value, Call):
            return f"<a call of a call {_CALL_CHAIN_SHOWN}+ deep>"
        return describe(value, 0) + "(...)" * calls
    if isinstance(value, Persistent):
        # BINPERSID of a persistent id of a persistent id...: bounded by depth like a container
        # (5,000 of them nested raised RecursionError; found by the long fuzz run).
        if depth <= 0:
            return "<persistent id ...>"
        return f"<persistent id {describe(value.pid, depth - 1, width)}>"
    if isinstance(value, Opaque):
        return f"<{value.reason}>"
    if isinstance(value, (str, bytes, bytearray)):
        text = repr(value if len(value) <= 60 else value[:60])
        return text if len(value) <= 60 else f"{text}...({len(value)} long)"
    if isinstance(value, tuple | SymList | SymSet):
        items = list(value) if isinstance(value, tuple) else value.items
        open_, close = ("(", ")") if isinstance(value, tuple) else ("[", "]")
        if depth <= 0:
            return f"{open_}...{close}"
        shown = ", ".join(describe(item, depth - 1, width) for item in items[:width])
        more = ", ..." if len(items) > width else ""
        return f"{open_}{shown}{more}{close}"
    if isinstance(value, SymDict):
        if depth <= 0:
            return "{...}"
        shown = ", ".join(
            f"{describe(k, depth - 1, width)}: {describe(v, depth - 1, width)}"
            for k, v in value.items[:width]
        )
        return "{" + shown + (", ..." if len(value.items) > width else "") + "}"
    if isinstance(value, int) and value.bit_length() > 128:
        # repr of a huge int is slow and, past 4300 digits, raises ValueError.
        return f"<int of {value.bit_length()} bits>"
    return repr(value)[:80]


def walk_globals(value: Any, depth: int = 3, width: int = 64) -> list[Global]:
    """The imported objects inside ``value`` (a call's arguments), a bounded walk deep."""
    found: list[Global] = []
    work: list[tuple[Any, int]] = [(value, depth)]
    while work:
        item, left = work.pop()
        if isinstance(item, Global):
            found.append(item)
            continue
        if left <= 0:
            continue
        if isinstance(item, tuple):
            children: list[Any] = list(item[:width])
        elif isinstance(item, (SymList, SymSet)):
            children = item.items[:width]
        elif isinstance(item, SymDict):
            children = [part for pair in item.items[:width] for part in pair]
        else:
            continue
        work.extend((child, left - 1) for child in children)
    return found
