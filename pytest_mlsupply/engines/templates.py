"""Chat-template analyser: find jinja2 sandbox escapes on the template's AST, never rendering it.

Chat templates ship inside ``tokenizer_config.json``, ``chat_template.jinja`` and GGUF metadata,
and loaders render them with a jinja2 sandbox (transformers uses
``ImmutableSandboxedEnvironment``). A template that reaches for Python internals
(``__class__``, ``__globals__``, ``__subclasses__``...) has no business in a chat format: it is
an attempt to escape that sandbox (server-side template injection, CWE-1336), and every new
sandbox bypass (CVE-2024-56326, CVE-2025-27516) has started from exactly these shapes.

The template is parsed with jinja2's own parser (parsing does not render), with the extensions
the loaders enable (``{% generation %}``, loop controls, ``{% do %}``), then the AST is walked:

* attribute and item access whose name starts with ``_`` (dunders, name-mangled privates);
* names built at render time (``~``, ``+``, ``%``, ``|join``, ``|format``, ``|replace``,
  ``.format()``, ``{% set %}`` variables) are constant-folded, so ``'_'*2 ~ 'class' ~ '_'*2``
  and ``"\\x5f\\x5f"`` are seen as ``__class__``;
* ``|attr()`` and attribute-taking filters (``map(attribute=...)``, ``selectattr``...);
* the gadget globals ``cycler``, ``joiner``, ``lipsum``, ``namespace`` reached into, and
  ``self`` / ``config`` / ``request`` / ``os`` / Python builtins referenced;
* ``str.format`` replacement fields that walk attributes (``"{0.__class__}".format(x)``);
* ``{% import %}``, ``{% include %}``, ``{% extends %}``: a hub template must be self-contained.

Results are plain :class:`TemplateIssue` values; :func:`issue_to_finding` places them.

A template longer than :data:`MAX_TEMPLATE_CHARS` (256 Ki characters; real chat templates are
a few KB) is not parsed: it is a high issue (MLS-TPL-010), never a pass, and a critical one
(MLS-TPL-001) when its text spells out a Python internal (``__globals__``...). jinja2's lexer and
parser cost a few microseconds a token and cannot be interrupted, so the cap is what bounds
them; the walk below is linear in the tree and checks the scan's budgets
(:func:`~pytest_mlsupply.engines.budget.checkpoint`) as it goes.
"""

from __future__ import annotations

import itertools
import re
import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import jinja2.ext
from jinja2 import TemplateSyntaxError, nodes
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from pytest_mlsupply.engines.budget import checkpoint
from pytest_mlsupply.engines.lines import source_lines
from pytest_mlsupply.results import Finding, Location, Severity

__all__ = [
    "MAX_TEMPLATE_CHARS",
    "TemplateIssue",
    "analyse_template",
    "issue_to_finding",
    "template_findings",
]

CATEGORY = "template-injection"
CWE_SSTI = "CWE-1336"

_WHY_ESCAPE = (
    "chat templates are rendered by every loader that formats a prompt; a template that reaches "
    "Python internals is trying to escape the jinja2 sandbox and run code on the machine that "
    "renders it (server-side template injection)"
)
_FIX_ESCAPE = (
    "do not use this model's chat template; replace it with the template published by the "
    "original model authors, and report the repository"
)
#: Globals a loader provides whose public members are harmless; anything else is reaching in.
_GADGETS: dict[str, frozenset[str]] = {
    "cycler": frozenset({"next", "reset", "current", "items"}),
    "joiner": frozenset(),
    "lipsum": frozenset(),
    "namespace": frozenset(),
    "range": frozenset(),
    "dict": frozenset(),
}
#: Names a chat template has no reason to reference: Flask/Django SSTI targets, Python builtins.
_FOREIGN_NAMES = frozenset(
    {
        "self",
        "config",
        "request",
        "session",
        "g",
        "url_for",
        "get_flashed_messages",
        "os",
        "sys",
        "subprocess",
        "builtins",
        "importlib",
        "getattr",
        "setattr",
        "delattr",
        "eval",
        "exec",
        "compile",
        "open",
        "globals",
        "locals",
        "vars",
        "type",
        "object",
        "__import__",
        "__builtins__",
    }
)
#: Attribute names that are Python internals without being dunders.
_INTERNAL_ATTRIBUTES = frozenset(
    {
        "mro",
        "func_globals",
        "func_code",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_back",
        "f_code",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "tb_frame",
        "tb_next",
        "co_code",
        "co_consts",
        "im_func",
        "im_class",
        "format_map",
    }
)
#: Filters whose arguments name an attribute to read (``map(attribute='x')``, ``selectattr('x')``).
_ATTRIBUTE_FILTERS = frozenset(
    {"map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min", "max"}
)
#: Filters and str methods that build strings, the raw material of a hidden attribute name.
_STRING_FILTERS = frozenset(
    {"join", "format", "replace", "string", "reverse", "list", "lower", "upper", "first", "last"}
)
_STRING_METHODS = frozenset({"format", "join", "replace", "lower", "upper", "decode", "encode"})
_FOLD_LIMIT = 32  # distinct candidate strings kept per expression
_TEXT_LIMIT = 4096  # longest folded string kept
_FIELD_SHOWN = 80  # characters of a str.format field quoted in evidence
#: Longest template analysed, in characters: past it the template is an issue, not parsed.
MAX_TEMPLATE_CHARS = 256 * 1024


@dataclass(frozen=True)
class TemplateIssue:
    """One problem in a template: plain data, placed in a file by the caller."""

    rule: str
    severity: Severity
    title: str
    evidence: str
    line: int | None = None
    why: str = _WHY_ESCAPE
    remediation: str = _FIX_ESCAPE


class _GenerationTag(jinja2.ext.Extension):
    """transformers' ``{% generation %}...{% endgeneration %}`` block, parsed as its body."""

    tags = {"generation"}

    def parse(self, parser: Parser) -> list[nodes.Node]:
        next(parser.stream)
        body: list[nodes.Node] = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return body


def _environment() -> SandboxedEnvironment:
    # The same syntax the loaders accept; the environment is only used to parse.
    return SandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_GenerationTag, jinja2.ext.loopcontrols, jinja2.ext.do],
    )


def analyse_template(source: str) -> list[TemplateIssue]:
    """Every sandbox-escape shape in ``source``; parse failures are issues too (MLS-TPL-009),
    and so is a template too large to analyse (MLS-TPL-010)."""
    if len(source) > MAX_TEMPLATE_CHARS:
        return [_too_large(len(source)), *_internals_named(source)]
    try:
        tree = _environment().parse(source)
    except TemplateSyntaxError as exc:
        return [_unparsable(f"{exc.message} (line {exc.lineno})", exc.lineno)]
    except ValueError as exc:
        # jinja2's lexer converts integer literals with int(): one of more than 4,300 digits
        # raises Python's ValueError (the int_max_str_digits limit) under every loader too.
        return [_unparsable(f"{exc} (jinja2's lexer)", None)]
    except RecursionError:
        return [_too_deep()]
    try:
        return _Walker(source, tree).run()
    except RecursionError:
        return [_too_deep()]


def _unparsable(evidence: str, line: int | None) -> TemplateIssue:
    # A template jinja2 cannot parse cannot run under any jinja2-based loader, so it is not an
    # escape; but it is not a working chat template either, and other engines (llama.cpp's
    # minja) may read it differently than we can analyse it: flag it, do not fail the scan.
    return TemplateIssue(
        rule="MLS-TPL-009",
        severity=Severity.MEDIUM,
        title="chat template does not parse as jinja2",
        evidence=evidence,
        line=line,
        why="no jinja2-based loader can render it, and what other template engines make "
        "of it cannot be analysed",
        remediation="use the template published by the model authors",
    )


def _too_deep() -> TemplateIssue:
    return TemplateIssue(
        rule="MLS-TPL-010",
        severity=Severity.HIGH,
        title="chat template is nested too deeply to analyse",
        evidence="jinja2's parser or the analyser exceeded Python's recursion limit",
        why="a template that cannot be analysed cannot be trusted; real chat templates are shallow",
        remediation="use the template published by the model authors",
    )


def _too_large(length: int) -> TemplateIssue:
    return TemplateIssue(
        rule="MLS-TPL-010",
        severity=Severity.HIGH,
        title="chat template is too large to analyse",
        evidence=f"{length} characters (cap {MAX_TEMPLATE_CHARS})",
        why="a template that cannot be analysed cannot be trusted; real chat templates are a "
        "few kilobytes, and every loader renders whatever the template holds",
        remediation="use the template published by the model authors",
    )


#: Python internals an escape walks through, found in the text of a template too large to parse.
_INTERNALS_TEXT = re.compile(
    r"__(?:class|mro|base|bases|subclasses|globals|builtins|import|init|dict|getattribute|code"
    r"|func|reduce|reduce_ex|self|module|loader|spec)__"
)


def _internals_named(source: str) -> list[TemplateIssue]:
    """An unparsed template that spells a Python internal out: the escape a loader renders
    (one linear search of the text; names built from pieces need the parse, and are missed)."""
    found = _INTERNALS_TEXT.search(source)
    if found is None:
        return []
    line = source.count("\n", 0, found.start()) + 1
    return [
        TemplateIssue(
            rule="MLS-TPL-001",
            severity=Severity.CRITICAL,
            title="chat template reaches Python internals (sandbox escape)",
            evidence=f"the template, too large to parse, names {found.group()!r} (line {line})",
            line=line,
        )
    ]


def issue_to_finding(issue: TemplateIssue, location: Location) -> Finding:
    """The finding for ``issue`` in the template at ``location`` (the issue's line is added)."""
    where = Location(
        file=location.file,
        member=location.member,
        offset=location.offset,
        key_path=location.key_path,
        line=issue.line if issue.line is not None else location.line,
    )
    return Finding(
        rule=issue.rule,
        severity=issue.severity,
        category=CATEGORY,
        title=issue.title,
        location=where,
        evidence=issue.evidence,
        why=issue.why,
        remediation=issue.remediation,
        cwe=CWE_SSTI,
    )


def template_findings(source: str, location: Location) -> list[Finding]:
    return [issue_to_finding(issue, location) for issue in analyse_template(source)]


# --- the walk -------------------------------------------------------------------------------


def _is_private(name: str) -> bool:
    return name.startswith("_")


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _is_mangled(name: str) -> bool:
    # ``_TemplateReference__context``: Python's name mangling for a private attribute.
    return name.startswith("_") and not name.startswith("__") and "__" in name[1:]


class _Walker:
    def __init__(self, source: str, tree: nodes.Template) -> None:
        self.lines = source_lines(source)  # numbered as jinja2's lexer numbers them
        self.tree = tree
        self.issues: list[TemplateIssue] = []
        self._seen: set[tuple[str, str, int | None]] = set()
        self.assigned: dict[str, list[nodes.Node]] = {}
        # What each ``{% set %}`` value folds to, per set of names being expanded: a chain of
        # variables that each use the previous one twice folds in linear time, not 2^n.
        self._folded: dict[tuple[int, frozenset[str]], set[str] | None] = {}
        # What each name folds to (the union of all its values), per set of names being
        # expanded: a name set a thousand times and used a thousand times is one union, not a
        # thousand.
        self._names: dict[tuple[str, frozenset[str]], set[str] | None] = {}
        self.nodes = list(tree.find_all(nodes.Node))  # one traversal, shared by every pass
        self._snippets: dict[int, str] = {}  # a line is stripped once, however many issues
        self._collect_assignments()

    # -- bookkeeping

    def _collect_assignments(self) -> None:
        """``{% set x = ... %}`` and ``{% set x %}...{% endset %}``, flow-insensitively."""
        for node in self.nodes:
            if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
                self.assigned.setdefault(node.target.name, []).append(node.node)
            elif isinstance(node, nodes.AssignBlock) and isinstance(node.target, nodes.Name):
                self.assigned.setdefault(node.target.name, []).append(nodes.Output(node.body))

    def snippet(self, line: int | None) -> str:
        if line is None or not 0 < line <= len(self.lines):
            return ""
        if line not in self._snippets:
            text = self.lines[line - 1].strip()
            self._snippets[line] = text if len(text) <= 160 else text[:157] + "..."
        return self._snippets[line]

    def add(
        self,
        rule: str,
        severity: Severity,
        title: str,
        detail: str,
        node: nodes.Node,
        **extra: str,
    ) -> None:
        line = getattr(node, "lineno", None)
        key = (rule, detail, line)
        if key in self._seen:
            return
        self._seen.add(key)
        code = self.snippet(line)
        evidence = f"{detail}; template line {line}: {code}" if code else detail
        self.issues.append(TemplateIssue(rule, severity, title, evidence, line, **extra))

    # -- constant folding

    def fold(self, node: nodes.Node, visiting: frozenset[str] = frozenset()) -> set[str] | None:
        """The strings ``node`` can evaluate to, when they are knowable without rendering."""
        folded = self._fold(node, visiting)
        if folded is None:
            return None
        return {s for s in folded if len(s) <= _TEXT_LIMIT} or None

    def _fold(self, node: nodes.Node, visiting: frozenset[str]) -> set[str] | None:
        checkpoint()  # the scan's budgets (policy.limits), in every fold
        folded = self._fold_node(node, visiting)
        if folded is None:
            return None
        # Strings past the limit are dropped at every step, not only at the end: 'A'*64*64...
        # would otherwise build gigabytes from a hundred bytes of template.
        return {s for s in folded if len(s) <= _TEXT_LIMIT} or None

    def _fold_value(self, value: nodes.Node, visiting: frozenset[str]) -> set[str] | None:
        key = (id(value), visiting)
        if key not in self._folded:
            self._folded[key] = self._fold(value, visiting)
        return self._folded[key]

    def _fold_node(self, node: nodes.Node, visiting: frozenset[str]) -> set[str] | None:
        fold: Callable[[nodes.Node], set[str] | None] = lambda n: self._fold(n, visiting)  # noqa: E731
        if isinstance(node, nodes.Const):
            value = node.value
            if isinstance(value, str):
                return {value}
            if isinstance(value, int | float) and not isinstance(value, bool):
                return {str(value)}
            return None
        if isinstance(node, nodes.TemplateData):
            return {node.data}
        if isinstance(node, nodes.Output):
            return _product([fold(child) for child in node.nodes])
        if isinstance(node, nodes.Concat):
            return _product([fold(child) for child in node.nodes])
        if isinstance(node, nodes.Add):
            return _product([fold(node.left), fold(node.right)])
        if isinstance(node, nodes.Mul):
            return self._fold_repeat(node, visiting)
        if isinstance(node, nodes.Mod):
            return self._fold_percent(node, visiting)
        if isinstance(node, nodes.CondExpr):
            parts = [fold(node.expr1)] + ([fold(node.expr2)] if node.expr2 is not None else [])
            return _union(parts)
        if isinstance(node, nodes.Name):
            if node.name in visiting or node.name not in self.assigned:
                return None
            key = (node.name, visiting)
            if key not in self._names:
                inner = visiting | {node.name}
                values = self.assigned[node.name]
                self._names[key] = _union(self._fold_value(value, inner) for value in values)
            return self._names[key]
        if isinstance(node, nodes.Filter):
            return self._fold_filter(node, visiting)
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            return self._fold_method(node, visiting)
        return None

    def _fold_list(self, node: nodes.Node, visiting: frozenset[str]) -> list[set[str]] | None:
        if isinstance(node, nodes.List | nodes.Tuple):
            items = [self._fold(item, visiting) for item in node.items]
            if any(item is None for item in items):
                return None
            return [item for item in items if item is not None]
        if isinstance(node, nodes.Const) and isinstance(node.value, list | tuple):
            if all(isinstance(v, str) for v in node.value):
                return [{v} for v in node.value]
            return None
        if isinstance(node, nodes.Name):
            for value in self.assigned.get(node.name, []):
                if node.name not in visiting:
                    return self._fold_list(value, visiting | {node.name})
        single = self._fold(node, visiting)
        if single is not None and len(single) == 1:
            # A string is a sequence of characters: ``'_c_l'|list|join``, ``'ssalc'|reverse``.
            return [{c} for c in next(iter(single))]
        return None

    def _fold_repeat(self, node: nodes.Mul, visiting: frozenset[str]) -> set[str] | None:
        for text_node, count_node in ((node.left, node.right), (node.right, node.left)):
            if isinstance(count_node, nodes.Const) and isinstance(count_node.value, int):
                texts = self._fold(text_node, visiting)
                count = count_node.value
                if texts is not None and 0 <= count <= 64:
                    return {t * count for t in texts}
        return None

    def _fold_percent(self, node: nodes.Mod, visiting: frozenset[str]) -> set[str] | None:
        formats = self._fold(node.left, visiting)
        if formats is None:
            return None
        if isinstance(node.right, nodes.Tuple | nodes.List):
            args = [self._fold(item, visiting) for item in node.right.items]
        else:
            args = [self._fold(node.right, visiting)]
        if any(a is None for a in args):
            return None
        out: set[str] = set()
        for fmt in formats:
            for combo in _combinations([a for a in args if a is not None]):
                try:
                    out.add(fmt % tuple(combo))
                except (TypeError, ValueError):
                    return None
        return out or None

    def _fold_filter(self, node: nodes.Filter, visiting: frozenset[str]) -> set[str] | None:
        if node.node is None:
            return None
        name = node.name
        if name == "join":
            items = self._fold_list(node.node, visiting)
            sep = self._fold(node.args[0], visiting) if node.args else {""}
            if items is None or sep is None:
                return None
            return {s.join(combo) for s in sep for combo in _combinations(items)}
        if name in ("list", "reverse", "first", "last", "string"):
            items = self._fold_list(node.node, visiting)
            if items is None:
                return None
            joined = {"".join(combo) for combo in _combinations(items)}
            if name == "reverse":
                return {s[::-1] for s in joined}
            if name == "first":
                return {s[:1] for s in joined}
            if name == "last":
                return {s[-1:] for s in joined}
            return joined
        base = self._fold(node.node, visiting)
        if base is None:
            return None
        if name in ("lower", "upper", "trim", "capitalize", "title", "e", "escape", "safe"):
            method = {"trim": "strip", "e": "__str__", "escape": "__str__", "safe": "__str__"}
            return {getattr(s, method.get(name, name))() for s in base}
        if name == "replace" and len(node.args) >= 2:
            old, new = self._fold(node.args[0], visiting), self._fold(node.args[1], visiting)
            if old is None or new is None:
                return None
            return {s.replace(o, n) for s in base for o in old for n in new}
        if name == "format":
            args = [self._fold(a, visiting) for a in node.args]
            if any(a is None for a in args):
                return None
            try:
                return {s % tuple(combo) for s in base for combo in _combinations(_known(args))}
            except (TypeError, ValueError):
                return None
        return None

    def _fold_method(self, node: nodes.Call, visiting: frozenset[str]) -> set[str] | None:
        assert isinstance(node.node, nodes.Getattr)
        method = node.node.attr
        base = self._fold(node.node.node, visiting)
        if base is None:
            return None
        if method == "join" and node.args:
            items = self._fold_list(node.args[0], visiting)
            if items is None:
                return None
            return {s.join(combo) for s in base for combo in _combinations(items)}
        args = [self._fold(a, visiting) for a in node.args]
        if any(a is None for a in args) or node.kwargs:
            return None
        combos = list(_combinations(_known(args)))
        try:
            if method == "format":
                return {s.format(*combo) for s in base for combo in combos}
            if method == "replace" and len(args) >= 2:
                return {s.replace(c[0], c[1]) for s in base for c in combos}
            if method in ("lower", "upper", "strip", "lstrip", "rstrip", "title", "capitalize"):
                return {getattr(s, method)(*c) for s in base for c in combos}
        except (IndexError, KeyError, ValueError, TypeError, AttributeError):
            return None
        return None

    # -- checks

    def run(self) -> list[TemplateIssue]:
        for node in self.nodes:
            checkpoint()  # the scan's budgets (policy.limits), once a node
            if isinstance(node, nodes.Const) and isinstance(node.value, str):
                self.check_format_string(node.value, node)
            elif isinstance(node, nodes.Getattr):
                self.check_name(node.attr, node, base=node.node, how=f".{node.attr}")
            elif isinstance(node, nodes.Getitem):
                self.check_item(node)
            elif isinstance(node, nodes.Filter):
                self.check_filter(node)
            elif isinstance(node, nodes.Call):
                self.check_call(node)
            elif isinstance(node, nodes.Name):
                self.check_global(node)
            elif isinstance(node, nodes.Import | nodes.FromImport | nodes.Include | nodes.Extends):
                self.check_load(node)
        return self.issues

    def check_name(self, name: str, node: nodes.Node, *, base: nodes.Node | None, how: str) -> None:
        """An attribute (or item) called ``name`` read from ``base``."""
        gadget = _gadget_root(base)
        reach = f" on the {gadget!r} global" if gadget else ""
        if _is_dunder(name) or _is_mangled(name):
            self.add(
                "MLS-TPL-001",
                Severity.CRITICAL,
                "chat template reaches Python internals (sandbox escape)",
                f"access to {name!r} via {how}{reach}",
                node,
            )
        elif _is_private(name):
            self.add(
                "MLS-TPL-001",
                Severity.HIGH,
                "chat template reads a private attribute",
                f"access to {name!r} via {how}{reach}",
                node,
            )
        elif name in _INTERNAL_ATTRIBUTES:
            self.add(
                "MLS-TPL-001",
                Severity.HIGH,
                "chat template reads an interpreter-internal attribute",
                f"access to {name!r} via {how}{reach}",
                node,
            )
        elif gadget is not None and name not in _GADGETS[gadget] and _direct(base, gadget):
            self.add(
                "MLS-TPL-002",
                Severity.HIGH,
                f"chat template reaches into the {gadget!r} global",
                f"{gadget}.{name}: {gadget!r} is a known sandbox-escape gadget and {name!r} is "
                "not part of its template interface",
                node,
            )

    def check_item(self, node: nodes.Getitem) -> None:
        key = node.arg
        if isinstance(key, nodes.Const):
            if isinstance(key.value, str):
                self.check_name(key.value, node, base=node.node, how=f"[{key.value!r}]")
            return
        if self.fold(key) is None and not _is_constructed(key):
            return  # messages[loop.index0 + 1], message[key]: ordinary indexing
        self.check_computed(key, node, base=node.node, how="[...]")

    def check_computed(
        self,
        expr: nodes.Node,
        node: nodes.Node,
        *,
        base: nodes.Node | None,
        how: str,
        unknown: Severity = Severity.MEDIUM,
    ) -> None:
        values = self.fold(expr)
        if values is None:
            self.add(
                "MLS-TPL-003",
                unknown,
                "chat template reads an attribute whose name is computed at render time",
                f"attribute name built by an expression ({type(expr).__name__}) via {how}",
                node,
                why="building attribute names from pieces is how templates hide '__class__' "
                "and '__globals__' from scanners; real chat templates never do it",
                remediation="use the template published by the model authors",
            )
            return
        for value in sorted(values):
            self.check_name(value, node, base=base, how=f"{how} built from pieces")
            if value == "format":
                self.add_format_gadget(node, how)

    def add_format_gadget(self, node: nodes.Node, how: str) -> None:
        self.add(
            "MLS-TPL-004",
            Severity.HIGH,
            "chat template fetches a string's format method as a value",
            f"'format' obtained via {how} (the CVE-2025-27516 sandbox bypass shape)",
            node,
        )

    def check_filter(self, node: nodes.Filter) -> None:
        if node.name == "attr":
            if not node.args:
                return
            arg = node.args[0]
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                self.check_name(arg.value, node, base=node.node, how=f"|attr({arg.value!r})")
                if arg.value in ("format", "format_map"):
                    self.add_format_gadget(node, "|attr")
            else:
                # |attr exists to read attributes by name; a name unknown until render time
                # (a variable, a special token, message content) is a hidden escape, not a
                # chat format.
                self.check_computed(
                    arg, node, base=node.node, how="|attr(...)", unknown=Severity.HIGH
                )
            return
        if node.name in _ATTRIBUTE_FILTERS:
            named: list[nodes.Expr] = [a for a in node.args if isinstance(a, nodes.Const)]
            named += [kw.value for kw in node.kwargs if kw.key == "attribute"]
            for arg in named:
                if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                    for part in arg.value.split("."):
                        self.check_name(part, node, base=None, how=f"|{node.name}({part!r})")
                elif _is_constructed(arg):
                    self.check_computed(arg, node, base=None, how=f"|{node.name}(attribute=...)")

    def check_call(self, node: nodes.Call) -> None:
        callee = node.node
        if not isinstance(callee, nodes.Getattr) or callee.attr not in ("format", "format_map"):
            return
        formats = self.fold(callee.node)
        for fmt in sorted(formats or ()):
            for field in _format_fields(fmt):
                shown = _shown(field)
                for part in _field_attributes(field):
                    self.check_name(part, node, base=None, how=f"format field {{{shown}}}")
                if "." in field or "[" in field:
                    self.add(
                        "MLS-TPL-005",
                        Severity.MEDIUM,
                        "chat template uses str.format fields that walk attributes",
                        f"format string field {{{shown}}}",
                        node,
                        why="format fields such as '{0.__class__}' read attributes outside the "
                        "sandbox's attribute checks in older jinja2 releases",
                        remediation="use the template published by the model authors",
                    )

    def check_format_string(self, text: str, node: nodes.Node) -> None:
        """A literal like ``'{0.__class__}'``, whoever ends up formatting it."""
        if "{" not in text or ("." not in text and "[" not in text):
            return
        for field in _format_fields(text):
            shown = _shown(field)
            for part in _field_attributes(field):
                if _is_private(part):
                    self.check_name(part, node, base=None, how=f"format field {{{shown}}}")

    def check_global(self, node: nodes.Name) -> None:
        if node.ctx != "load":
            return
        name = node.name
        if name in self.assigned:
            return  # a variable the template set itself
        if _is_private(name):
            self.add(
                "MLS-TPL-002",
                Severity.HIGH,
                "chat template references a private global",
                f"name {name!r}",
                node,
            )
        elif name in _FOREIGN_NAMES:
            self.add(
                "MLS-TPL-006",
                Severity.MEDIUM,
                "chat template references a global no chat format needs",
                f"name {name!r} (template-injection target or Python builtin)",
                node,
                why=f"{name!r} is what server-side template injections reach for; a chat "
                "template only needs messages, tools and the loader's helpers",
                remediation="use the template published by the model authors",
            )

    def check_load(self, node: nodes.Node) -> None:
        kinds: dict[type[nodes.Node], str] = {
            nodes.Import: "import",
            nodes.FromImport: "from ... import",
            nodes.Include: "include",
            nodes.Extends: "extends",
        }
        kind = kinds[type(node)]
        target = getattr(node, "template", None)
        names = self.fold(target) if target is not None else None
        shown = ", ".join(sorted(names)) if names else "a computed name"
        self.add(
            "MLS-TPL-007",
            Severity.MEDIUM,
            "chat template loads another template",
            f"{{% {kind} %}} of {shown}",
            node,
            why="a chat template must be self-contained: what it pulls in is not the content "
            "that was reviewed or scanned, and a loader with a file-system loader resolves it "
            "from wherever the name points",
            remediation="inline what the template needs, or use the authors' template",
        )


# --- helpers --------------------------------------------------------------------------------


def _known(items: list[set[str] | None]) -> list[set[str]]:
    return [item for item in items if item is not None]


def _combinations(parts: list[set[str]]) -> Iterator[tuple[str, ...]]:
    """Cartesian product of candidate strings (each part's in sorted order), its first
    :data:`_FOLD_LIMIT` combinations: linear in the number of parts (a ``|format`` of 100,000
    arguments), where growing every kept combination one part at a time was quadratic."""
    return itertools.islice(itertools.product(*(sorted(c) for c in parts)), _FOLD_LIMIT)


def _product(parts: list[set[str] | None]) -> set[str] | None:
    if any(p is None for p in parts):
        return None
    return {"".join(combo) for combo in _combinations(_known(parts))}


def _union(parts: Iterable[set[str] | None]) -> set[str] | None:
    out: set[str] = set()
    for part in parts:
        checkpoint()
        if part is None:
            return None
        out |= part
    return set(sorted(out)[:_FOLD_LIMIT]) or None


def _is_constructed(expr: nodes.Node) -> bool:
    """Whether ``expr`` builds a string at render time (as opposed to plain indexing)."""
    for node in [expr, *expr.find_all(nodes.Node)]:
        if isinstance(node, nodes.Concat):
            return True
        if isinstance(node, nodes.Const) and isinstance(node.value, str):
            return True
        if isinstance(node, nodes.Filter) and node.name in _STRING_FILTERS:
            return True
        if isinstance(node, nodes.Getattr) and node.attr in _STRING_METHODS:
            return True
    return False


def _gadget_root(node: nodes.Node | None) -> str | None:
    """The gadget global at the root of an attribute/item/call chain, if any."""
    while node is not None:
        if isinstance(node, nodes.Name):
            return node.name if node.name in _GADGETS else None
        if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Filter | nodes.Call):
            node = node.node
        else:
            return None
    return None


def _direct(base: nodes.Node | None, gadget: str) -> bool:
    """``cycler.x`` reaches into the gadget itself; ``cycler(...).x`` uses what it returned."""
    return isinstance(base, nodes.Name) and base.name == gadget


def _format_fields(fmt: str) -> Iterator[str]:
    try:
        for _text, field, _spec, _conversion in string.Formatter().parse(fmt):
            checkpoint()
            if field:
                yield field
    except ValueError:
        return


def _field_attributes(field: str) -> Iterator[str]:
    """Attribute and key names in a format field: ``0.__class__`` → ``__class__``, each once
    (``{0.__.__.__...}`` names ``__`` a hundred thousand times: it is checked once)."""
    rest = field.split(".", 1)[1] if "." in field else ""
    parts = [chunk.split("]", 1)[0] for chunk in field.split("[")[1:]] if "[" in field else []
    parts += rest.replace("[", ".").replace("]", ".").split(".")
    for part in dict.fromkeys(parts):
        checkpoint()
        if part:
            yield part


def _shown(field: str) -> str:
    """A format field as quoted in evidence: bounded, for a field may be the whole template."""
    return field if len(field) <= _FIELD_SHOWN else field[: _FIELD_SHOWN - 3] + "..."
