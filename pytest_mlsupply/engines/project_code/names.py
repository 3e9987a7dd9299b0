"""Name and value resolution for the project-code rules, as Python would resolve them.

One walk over a module (or over every code cell of a notebook) records what each name is bound
to: imports (``import torch as t``, ``from torch import load as L``, ``from torch import *``) and
every other binding (assignments, parameters, loop targets, ``def``/``class``). The rules then ask
two questions of an expression: *which callable is this* (:meth:`Names.callee`, through aliases,
attribute chains, ``getattr(mod, "name")``, ``functools.partial`` and names bound to any of
these) and *which constant is this* (:meth:`Names.value`, through names bound once).

The pass is flow-insensitive on purpose: it cannot tell which of two bindings reaches a use, so
a name bound in several places to different things is *unknown*, never guessed. A rule then
reports what it cannot prove safe (a parameter for ``weights_only`` is not ``True``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

__all__ = ["UNKNOWN", "Arguments", "Callee", "Names"]


class _Unknown:
    """A value the pass cannot prove (a parameter, a name bound to different values)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()

#: How deep a chain of names bound to names may go before the pass calls it unknown (a cycle,
#: ``a = b; b = a``, must end).
_MAX_DEPTH = 24

#: How many dotted names one expression may resolve to before the rest are dropped.
_MAX_CANDIDATES = 64
#: How many resolution steps one name's resolution may take: past it the file errors (fail
#: closed) rather than passing with a call left unjudged.
_MAX_STEPS = 200_000

_PARTIAL = frozenset({"functools.partial"})
#: Methods that change a dict or list in place: a ``**kw``/``*args`` built from a literal and
#: then mutated no longer holds the literal's values.
_MUTATORS = frozenset(
    {"update", "pop", "popitem", "setdefault", "clear", "append", "extend", "insert", "remove"}
    | {"__setitem__", "__delitem__", "__ior__"}
)
_GETATTR = frozenset({"getattr", "builtins.getattr"})
_IMPORTERS = frozenset({"importlib.import_module", "__import__", "builtins.__import__"})


@dataclass
class Callee:
    """A call's target: its dotted name and what a ``functools.partial`` already bound."""

    name: str | None
    """``torch.load``; ``None`` when the target cannot be named."""
    attr: str | None = None
    """The last attribute of the call (``from_pretrained`` in ``self.cls.from_pretrained``),
    known even when the object is not."""
    positional: list[ast.expr] = field(default_factory=list)
    keywords: dict[str, ast.expr] = field(default_factory=dict)
    via: str = ""
    """The source text the name was resolved from (``t.load``), for the evidence."""


@dataclass
class Arguments:
    """A call's arguments, the partial's bound ones merged, ``*``/``**`` literals expanded."""

    positional: list[ast.expr]
    keywords: dict[str, ast.expr]
    opaque_star: bool = False
    """A ``*args`` the pass cannot expand: a positional may hide in it."""
    opaque_kwargs: bool = False
    """A ``**kwargs`` the pass cannot expand: a keyword may hide in it."""

    def get(self, name: str, index: int | None = None) -> ast.expr | None:
        """The argument passed as keyword ``name`` or at position ``index``."""
        if name in self.keywords:
            return self.keywords[name]
        if index is not None and index < len(self.positional):
            return self.positional[index]
        return None

    def maybe(self, name: str, index: int | None = None) -> bool:
        """Whether ``name`` may be passed where the pass cannot see it (``**opaque``)."""
        if self.opaque_kwargs:
            return True
        return index is not None and self.opaque_star and index >= len(self.positional)


class Names:
    """What every name of one module is bound to, collected by :meth:`record` during the walk."""

    def __init__(
        self, known: frozenset[str] = frozenset(), judged: frozenset[str] = frozenset()
    ) -> None:
        self.known = known
        """The names ``from module import *`` may bring in that the rules care about."""
        self._wanted = frozenset(
            ".".join(parts[:depth])
            for name in known | judged
            for parts in [name.split(".")]
            for depth in range(1, len(parts) + 1)
        )
        """The names a rule judges and every module on their way (``torch``, ``torch.hub``):
        kept first when a name may be more things than :data:`_MAX_CANDIDATES`."""
        self.aliases: dict[str, str] = {}
        self.imports: dict[str, list[str]] = {}
        """Every module or name each import binds (a name imported twice has both)."""
        self.bindings: dict[str, list[ast.expr | None]] = {}
        self.star: list[str] = []
        self.mutated: dict[str, set[str | None]] = {}
        """Containers changed in place after their literal: the keys set (``None``: any)."""
        self._unique: dict[str, ast.expr | None] = {}
        self._mappings: dict[int, dict[str, ast.expr] | None] = {}
        self._distinct_values: dict[str, list[ast.expr]] = {}
        self._names: dict[str, frozenset[str]] = {}
        self._callees: dict[str, list[Callee]] = {}
        self._busy: set[str] = set()
        self._pruned = False
        self._steps = 0
        # Results cut short by a cycle, good only within one root query (their missing part is
        # an enclosing name's, which the root collects anyway).
        self._partial_names: dict[str, frozenset[str]] = {}
        self._partial_callees: dict[str, list[Callee]] = {}

    # -- collection (called for every node of the walk)

    #: The node types :meth:`record` reads: the walk skips the call for the others (most nodes
    #: are names, constants and contexts; the call per node was the engine's largest cost).
    RECORDED: frozenset[type[ast.AST]] = frozenset(
        {
            ast.Import,
            ast.ImportFrom,
            ast.Assign,
            ast.AnnAssign,
            ast.AugAssign,
            ast.For,
            ast.AsyncFor,
            ast.Delete,
            ast.MatchAs,
            ast.MatchStar,
            ast.MatchMapping,
            ast.Call,
            ast.NamedExpr,
            ast.withitem,
            ast.comprehension,
            ast.FunctionDef,
            ast.AsyncFunctionDef,
            ast.ClassDef,
            ast.arg,
            ast.ExceptHandler,
        }
    )

    def record(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self._import(alias.asname, alias.name)
                else:
                    top = alias.name.split(".")[0]
                    self._import(top, top)  # ``import torch.hub`` binds ``torch``
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module:
                for alias in node.names:  # a relative import: the project's own module
                    self._bind(alias.asname or alias.name, None)
                return
            for alias in node.names:
                if alias.name == "*":
                    self.star.append(node.module)
                else:
                    self._import(alias.asname or alias.name, f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind_target(target, node.value)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self._bind_target(node.target, node.value)
        elif isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor):
            self._bind_target(node.target, None)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self._bind_target(target, None)
        elif isinstance(node, ast.MatchAs | ast.MatchStar):
            if node.name:
                self._bind(node.name, None)
        elif isinstance(node, ast.MatchMapping):
            if node.rest:
                self._bind(node.rest, None)
        elif isinstance(node, ast.Call):
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in _MUTATORS
                and isinstance(func.value, ast.Name)
            ):
                self._mutate(func.value.id, None)  # ``kw.update(...)``: no longer the literal
        elif isinstance(node, ast.NamedExpr):
            self._bind_target(node.target, node.value)
        elif isinstance(node, ast.withitem):
            if node.optional_vars is not None:
                self._bind_target(node.optional_vars, None)
        elif isinstance(node, ast.comprehension):
            self._bind_target(node.target, None)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self._bind(node.name, None)
        elif isinstance(node, ast.arg):
            self._bind(node.arg, None)
        elif isinstance(node, ast.ExceptHandler):
            if node.name:
                self._bind(node.name, None)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            pass  # the names' bindings are recorded where they happen

    def _bind_target(self, target: ast.expr, value: ast.expr | None) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, value)
        elif isinstance(target, ast.Tuple | ast.List):
            values: list[ast.expr] | None = None
            if isinstance(value, ast.Tuple | ast.List) and len(value.elts) == len(target.elts):
                values = value.elts
            for index, element in enumerate(target.elts):
                self._bind_target(element, values[index] if values else None)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, None)
        elif isinstance(target, ast.Subscript | ast.Attribute):
            # ``kw["weights_only"] = False``: the container's literal no longer holds.
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                key = target.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    self._mutate(target.value.id, key.value)
                else:
                    self._mutate(target.value.id, None)
            else:
                base = target.value
                while isinstance(base, ast.Subscript | ast.Attribute):
                    base = base.value
                if isinstance(base, ast.Name) and isinstance(target, ast.Subscript):
                    self._mutate(base.id, None)  # ``kw["a"]["b"] = ...``

    def _mutate(self, name: str, key: str | None) -> None:
        """``name[key] = ...`` (``key`` ``None``: any key, ``.update()``, ``.pop()``, ``del``)."""
        self.mutated.setdefault(name, set()).add(key)

    def _import(self, name: str, target: str) -> None:
        self.aliases[name] = target
        self.imports.setdefault(name, []).append(target)
        self._bind(name, None)  # an imported name holds no constant the pass can read

    def _bind(self, name: str, value: ast.expr | None) -> None:
        self.bindings.setdefault(name, []).append(value)

    # -- queries (after the walk)

    def bound(self, name: str) -> ast.expr | None:
        """The one expression ``name`` is bound to, or ``None`` if unbound, unknown or several."""
        if name in self._unique:
            return self._unique[name]
        values = self.bindings.get(name)
        result: ast.expr | None = None
        if values and all(v is not None for v in values):
            first = values[0]
            assert first is not None
            if len(values) == 1 or len({ast.dump(v) for v in values if v is not None}) == 1:
                result = first
        self._unique[name] = result
        return result

    def resolve(self, node: ast.AST, depth: int = 0) -> str | None:
        """The one dotted name an expression refers to (``torch.load``), or ``None``."""
        found = self.resolve_all(node, depth)
        return next(iter(found)) if len(found) == 1 else None

    def resolve_all(self, node: ast.AST, depth: int = 0) -> frozenset[str]:
        """Every dotted name an expression may refer to, through every binding of its names.

        A name imported in one place and rebound in another (``for torch in ...``, a parameter
        ``torch=torch``, a second ``import x as torch`` in a function) may be any of them: a
        call through it is judged as each, never dropped as unknown.
        """
        if depth > _MAX_DEPTH:
            return frozenset()
        if depth == 0:
            self._enter()  # a query of its own: 20,000 calls of cached names shared one budget
        self._step()
        if isinstance(node, ast.Name):
            name = node.id
            if name in self.bindings or name in self.imports:
                return self._resolve_name(name, depth)
            for module in self.star:
                if f"{module}.{name}" in self.known:
                    return frozenset({f"{module}.{name}"})
            return frozenset({name})  # a builtin, or a module a notebook imported earlier
        if isinstance(node, ast.Attribute):
            bases = self.resolve_all(node.value, depth + 1)
            return frozenset(f"{base}.{node.attr}" for base in bases)
        if isinstance(node, ast.NamedExpr):
            return self.resolve_all(node.value, depth + 1)
        if isinstance(node, ast.Subscript) and self.resolve_all(node.value, depth + 1) & {
            "sys.modules"
        }:
            module = self.value(node.slice, depth + 1)  # ``sys.modules["torch"]``
            return frozenset({module}) if isinstance(module, str) and module else frozenset()
        if isinstance(node, ast.IfExp):
            return self._cap(
                self.resolve_all(node.body, depth + 1) | self.resolve_all(node.orelse, depth + 1)
            )
        if isinstance(node, ast.BoolOp):
            out: set[str] = set()
            for value in node.values:
                out |= self.resolve_all(value, depth + 1)
            return self._cap(out)
        if isinstance(node, ast.Call):
            result: set[str] = set()
            for callee in self.resolve_all(node.func, depth + 1):
                if callee in _GETATTR and len(node.args) >= 2:
                    attr = self.value(node.args[1], depth + 1)
                    if isinstance(attr, str):
                        bases = self.resolve_all(node.args[0], depth + 1)
                        result.update(f"{base}.{attr}" for base in bases)
                elif callee in _PARTIAL and node.args:
                    result |= self.resolve_all(node.args[0], depth + 1)
                elif callee in _IMPORTERS and node.args:
                    module = self.value(node.args[0], depth + 1)
                    if isinstance(module, str) and module:
                        # ``__import__("a.b")`` returns ``a``; ``import_module("a.b")``, ``a.b``
                        dunder = callee.endswith("__import__") and not node.args[1:]
                        result.add(module.split(".")[0] if dunder else module)
                    else:
                        result.add(f"{callee}()")
                else:
                    # ``jinja2.Environment().from_string``, ``requests.Session().get``: the
                    # result of a call is named after its maker.
                    result.add(f"{callee}()")
            return self._cap(result)
        return frozenset()

    def _resolve_name(self, name: str, depth: int) -> frozenset[str]:
        if name in self._names:
            return self._names[name]
        self._enter()
        if name in self._partial_names:
            return self._partial_names[name]
        if name in self._busy:
            self._pruned = True
            return frozenset()  # a cycle (``a = b; b = a``): what the other paths give
        outer, self._pruned = self._pruned, False
        self._busy.add(name)
        try:
            out: set[str] = set(self.imports.get(name, ()))
            for value in self._distinct(name):
                out |= self.resolve_all(value, depth + 1)
        finally:
            self._busy.discard(name)
        result = self._cap(out)
        if not self._pruned or not self._busy:  # a root's answer is whole, cycles or not
            self._names[name] = result
        else:  # cut short by a cycle: not the name's whole answer outside this query
            self._partial_names[name] = result
        self._pruned = outer or self._pruned
        return result

    def _enter(self) -> None:
        """A root query (no name being resolved) starts afresh: its own budget and partials."""
        if not self._busy:
            self._steps = 0
            self._partial_names.clear()
            self._partial_callees.clear()

    def _step(self) -> None:
        self._steps += 1
        if self._steps > _MAX_STEPS:
            # fail closed: the file errors rather than passing with calls left unresolved
            raise RecursionError("names bound through too many other names to resolve")

    def _judged(self, name: str | None) -> bool:
        """Whether a rule may judge ``name``, or a name it leads to (``torch``, ``jinja2.*``)."""
        if name is None:
            return False
        return name in self._wanted or name.startswith("jinja2.") or name.endswith("read_pickle")

    def _cap(self, names: set[str] | frozenset[str]) -> frozenset[str]:
        if len(names) <= _MAX_CANDIDATES:
            return frozenset(names)
        return frozenset(sorted(names, key=lambda n: (not self._judged(n), n))[:_MAX_CANDIDATES])

    def _distinct(self, name: str) -> list[ast.expr]:
        # Memoised: bindings are settled after the walk, and ast.dump of each value is the
        # engine's costliest step when a name is looked up at every one of its calls.
        if name in self._distinct_values:
            return self._distinct_values[name]
        seen: set[str] = set()
        values: list[ast.expr] = []
        for value in self.bindings.get(name, ()):
            if value is None:
                continue
            key = ast.dump(value)
            if key not in seen:
                seen.add(key)
                values.append(value)
        self._distinct_values[name] = values
        return values

    def callee(self, func: ast.expr, depth: int = 0) -> Callee:
        """What a call's ``func`` is, when it can be only one thing (else the first)."""
        return self.callees(func, depth)[0]

    def callees(self, func: ast.expr, depth: int = 0) -> list[Callee]:
        """Everything a call's ``func`` may be, each with what ``functools.partial`` bound."""
        attr = func.attr if isinstance(func, ast.Attribute) else None
        if depth > _MAX_DEPTH:
            return [Callee(None, attr)]
        if depth == 0:
            self._enter()
        self._step()
        if isinstance(func, ast.Name) and (func.id in self.bindings or func.id in self.imports):
            key = func.id
            if key in self._callees:
                return self._callees[key]
            self._enter()
            if key in self._partial_callees:
                return self._partial_callees[key]
            busy = f"callee:{key}"
            if busy in self._busy:
                self._pruned = True
                return [Callee(None, attr)]
            outer, self._pruned = self._pruned, False
            self._busy.add(busy)
            try:
                out = [Callee(t, t.rsplit(".", 1)[-1]) for t in self.imports.get(key, ())]
                for value in self._distinct(key):
                    out.extend(c for c in self.callees(value, depth + 1) if c.name or c.attr)
            finally:
                self._busy.discard(busy)
            # A name bound more ways than the cap keeps the ones a rule judges: 64 rebindings
            # before ``f = torch.load`` must not cut the loader off.
            out.sort(key=lambda c: not self._judged(c.name))
            result = out[:_MAX_CANDIDATES] or [Callee(None, attr)]
            if not self._pruned or not self._busy:
                self._callees[key] = result
            else:
                self._partial_callees[key] = result
            self._pruned = outer or self._pruned
            return result
        if isinstance(func, ast.NamedExpr):
            return self.callees(func.value, depth + 1)
        if isinstance(func, ast.IfExp):
            both = self.callees(func.body, depth + 1) + self.callees(func.orelse, depth + 1)
            both.sort(key=lambda c: not self._judged(c.name))
            return both[:_MAX_CANDIDATES]
        if isinstance(func, ast.Call) and self.resolve_all(func.func, depth + 1) & _PARTIAL:
            if not func.args:
                return [Callee(None, attr)]
            extra = list(func.args[1:])
            bound = {k.arg: k.value for k in func.keywords if k.arg is not None}
            return [
                Callee(c.name, c.attr, c.positional + extra, {**c.keywords, **bound}, c.via)
                for c in self.callees(func.args[0], depth + 1)
            ]
        names = sorted(self.resolve_all(func, depth + 1), key=lambda n: (not self._judged(n), n))
        if not names:
            return [Callee(None, attr)]
        return [Callee(n, attr or n.rsplit(".", 1)[-1]) for n in names[:_MAX_CANDIDATES]]

    def arguments(self, call: ast.Call, callee: Callee) -> Arguments:
        """The call's arguments after the partial's, with literal ``*``/``**`` expanded."""
        args = Arguments(list(callee.positional), dict(callee.keywords))
        for arg in call.args:
            if isinstance(arg, ast.Starred):
                elements = self._sequence(arg.value)
                if elements is None:
                    args.opaque_star = True
                else:
                    args.positional.extend(elements)
            elif not args.opaque_star:
                args.positional.append(arg)
        for keyword in call.keywords:
            if keyword.arg is not None:
                args.keywords[keyword.arg] = keyword.value
                continue
            mapping = self._mapping(keyword.value)
            if mapping is None:
                args.opaque_kwargs = True
            else:
                args.keywords.update(mapping)
        return args

    def _sequence(self, node: ast.expr, depth: int = 0) -> list[ast.expr] | None:
        if isinstance(node, ast.Tuple | ast.List):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                return None
            return list(node.elts)
        if isinstance(node, ast.Name) and depth < _MAX_DEPTH:
            if node.id in self.mutated:
                return None  # ``args[2] = True``, ``args.append(...)``: not the literal's
            value = self.bound(node.id)
            return self._sequence(value, depth + 1) if value is not None else None
        return None

    def _mapping(self, node: ast.expr, depth: int = 0) -> dict[str, ast.expr] | None:
        # Memoised per node: ``k1 = {**k0, **k0, **k0}``, ``k2 = {**k1, **k1, **k1}``... would
        # expand each dict 3**depth times (a 500-byte file held the gate for hours). A node met
        # again while being expanded (a cycle) or cut off by the depth limit is opaque (None).
        key = id(node)
        if key in self._mappings:
            return self._mappings[key]
        self._mappings[key] = None
        result = self._expand_mapping(node, depth)
        self._mappings[key] = result
        return result

    def _expand_mapping(self, node: ast.expr, depth: int) -> dict[str, ast.expr] | None:
        if isinstance(node, ast.Dict):
            result: dict[str, ast.expr] = {}
            for key, value in zip(node.keys, node.values, strict=True):
                if key is None:
                    inner = self._mapping(value, depth + 1)
                    if inner is None:
                        return None
                    result.update(inner)
                elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                    result[key.value] = value
                else:
                    return None
            return result
        if isinstance(node, ast.Call) and self.resolve(node.func) in ("dict", "builtins.dict"):
            if node.args:
                return None
            out: dict[str, ast.expr] = {}
            for keyword in node.keywords:
                if keyword.arg is None:
                    return None
                out[keyword.arg] = keyword.value
            return out
        if isinstance(node, ast.Name) and depth < _MAX_DEPTH:
            bound = self.bound(node.id)
            mapping = self._mapping(bound, depth + 1) if bound is not None else None
            changed = self.mutated.get(node.id)
            if mapping is None or not changed:
                return mapping
            if None in changed:
                return None  # ``kw.update(...)``, ``kw.pop(...)``: any key may differ
            # ``kw["weights_only"] = False`` after the literal: that key's value is unknown
            for item in changed:
                assert item is not None
                mapping[item] = ast.Name(id=f"{node.id}[{item!r}]", ctx=ast.Load())
            return mapping
        return None

    def value(self, node: ast.expr | None, depth: int = 0) -> Any:
        """The constant ``node`` evaluates to, through names bound once; else :data:`UNKNOWN`."""
        if node is None or depth > _MAX_DEPTH:
            return UNKNOWN
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.bindings:
                return self.value(self.bound(node.id), depth + 1)
            return UNKNOWN
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = self.value(node.left, depth + 1)
            right = self.value(node.right, depth + 1)
            if isinstance(left, str) and isinstance(right, str):
                return left + right  # ``getattr(torch, "lo" + "ad")``
            return UNKNOWN
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.value(node.operand, depth + 1)
            return UNKNOWN if inner is UNKNOWN else not inner
        if isinstance(node, ast.JoinedStr) and all(
            isinstance(v, ast.Constant) for v in node.values
        ):
            return "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
        return UNKNOWN

    def origin(self, node: ast.expr | None) -> str:
        """``" (from WEIGHTS_ONLY)"`` when a value came through a name, for the evidence."""
        if isinstance(node, ast.Name) and node.id in self.bindings:
            return f" (from {node.id})"
        return ""
