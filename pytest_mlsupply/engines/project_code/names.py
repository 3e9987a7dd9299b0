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

_PARTIAL = frozenset({"functools.partial"})
_GETATTR = frozenset({"getattr", "builtins.getattr"})


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

    def __init__(self, known: frozenset[str] = frozenset()) -> None:
        self.known = known
        """The names ``from module import *`` may bring in that the rules care about."""
        self.aliases: dict[str, str] = {}
        self.bindings: dict[str, list[ast.expr | None]] = {}
        self.star: list[str] = []
        self._unique: dict[str, ast.expr | None] = {}
        self._mappings: dict[int, dict[str, ast.expr] | None] = {}

    # -- collection (called for every node of the walk)

    def record(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.aliases[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    self.aliases[top] = top  # ``import torch.hub`` binds ``torch``
        elif isinstance(node, ast.ImportFrom):
            if node.level or not node.module:
                for alias in node.names:  # a relative import: the project's own module
                    self._bind(alias.asname or alias.name, None)
                return
            for alias in node.names:
                if alias.name == "*":
                    self.star.append(node.module)
                else:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind_target(target, node.value)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self._bind_target(node.target, node.value)
        elif isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor):
            self._bind_target(node.target, None)
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
        """The dotted name an expression refers to (``torch.load``), or ``None``."""
        if depth > _MAX_DEPTH:
            return None
        if isinstance(node, ast.Name):
            name = node.id
            if name in self.bindings:
                value = self.bound(name)
                if value is None:
                    return None
                return self.resolve(value, depth + 1)
            if name in self.aliases:
                return self.aliases[name]
            for module in self.star:
                if f"{module}.{name}" in self.known:
                    return f"{module}.{name}"
            return name  # a builtin, or a module a notebook imported in an earlier cell
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value, depth + 1)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.NamedExpr):
            return self.resolve(node.value, depth + 1)
        if isinstance(node, ast.Call):
            callee = self.resolve(node.func, depth + 1)
            if callee in _GETATTR and len(node.args) >= 2:
                base = self.resolve(node.args[0], depth + 1)
                attr = self.value(node.args[1], depth + 1)
                if base and isinstance(attr, str):
                    return f"{base}.{attr}"
                return None
            if callee in _PARTIAL and node.args:
                return self.resolve(node.args[0], depth + 1)
            # ``jinja2.Environment().from_string``, ``requests.Session().get``: the result of a
            # call is named after its maker.
            return f"{callee}()" if callee else None
        return None

    def callee(self, func: ast.expr, depth: int = 0) -> Callee:
        """What a call's ``func`` is, with the arguments ``functools.partial`` bound to it."""
        attr = func.attr if isinstance(func, ast.Attribute) else None
        if depth > _MAX_DEPTH:
            return Callee(None, attr)
        target: ast.expr | None = func
        if isinstance(func, ast.Name) and func.id in self.bindings:
            target = self.bound(func.id)
            if target is None:
                return Callee(None, attr)
        if isinstance(target, ast.Call) and self.resolve(target.func, depth + 1) in _PARTIAL:
            if not target.args:
                return Callee(None, attr)
            inner = self.callee(target.args[0], depth + 1)
            inner.positional = inner.positional + list(target.args[1:])
            inner.keywords = {
                **inner.keywords,
                **{k.arg: k.value for k in target.keywords if k.arg is not None},
            }
            return inner
        if target is not func and isinstance(target, ast.Name | ast.Attribute):
            inner = self.callee(target, depth + 1)
            return inner
        if isinstance(target, ast.Call) and self.resolve(target.func, depth + 1) in _GETATTR:
            name = self.resolve(target, depth + 1)
            return Callee(name, name.rsplit(".", 1)[-1] if name else None)
        name = self.resolve(target, depth + 1) if target is not None else None
        if name and attr is None:
            attr = name.rsplit(".", 1)[-1]
        return Callee(name, attr)

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
            return self._mapping(bound, depth + 1) if bound is not None else None
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
