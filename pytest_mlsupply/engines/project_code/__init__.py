"""Code checks: unsafe model loading in the project's own Python code and notebooks.

The project's code decides how a model is loaded: ``torch.load`` without ``weights_only=True``
runs whatever a checkpoint's pickle says, ``from_pretrained`` without a pinned ``revision``
takes whatever ``main`` points at today, ``trust_remote_code=True`` imports a repository's code.
This engine reads ``.py`` files and notebooks' code cells with :mod:`ast` (never imports or runs
them), resolves every call the way Python would (aliases, ``from x import y as z``,
``functools.partial``, ``getattr`` with a constant name, module constants, ``**kwargs`` built
from literals) and judges it against :data:`RULES`.

A finding may be suppressed where it stands with ``# mlsupply: ignore[RULE] -- reason``: the
finding stays in every report, marked accepted with the reason (an inline
:class:`~pytest_mlsupply.results.Acceptance`); a suppression without a reason suppresses nothing
and is a finding of its own.

(:mod:`pytest_mlsupply.engines.python_ast` is the other Python reader: it judges a *model
repository's* code, which is hostile by assumption; this one judges the project's own code,
which is trusted but may load untrusted things carelessly.)
"""

from __future__ import annotations

import ast
import hashlib
import heapq
import os
import stat
import tokenize
from dataclasses import dataclass, field, replace
from pathlib import Path

from pytest_mlsupply.engines.lines import source_lines
from pytest_mlsupply.results import Acceptance, Finding, Location, Severity

from .names import Names
from .notebooks import NotebookError, code_cells
from .rules import (
    CATEGORY,
    EXCLUDE_HINT,
    JUDGED,
    RULES,
    STAR_NAMES,
    CodeRule,
    Verdict,
    judge_assignment,
    judge_call,
    judge_value,
)
from .suppressions import Suppression, read_suppressions

__all__ = [
    "CATEGORY",
    "EXCLUDE_HINT",
    "RULES",
    "CodeAnalysis",
    "CodeRule",
    "analyse_file",
    "analyse_source",
]

#: Larger files are refused, not read: a generated 100 MiB module is not the project's code.
MAX_SOURCE_BYTES = 10 * 1024 * 1024
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
#: How much of the flagged line the evidence quotes.
QUOTE_CHARS = 160
#: How much of a long expression's text the digest in its evidence covers.
MAX_HASHED_CHARS = 1 << 20

_KNOWN_RULES = frozenset(RULES)
_FIX_SYNTAX = f"fix: make it valid Python, or exclude the file {EXCLUDE_HINT}"


@dataclass
class CodeAnalysis:
    """What one file's analysis found, or why there is no analysis (fail closed)."""

    findings: list[Finding] = field(default_factory=list)
    """Every finding, suppressed ones included (their ``accepted`` is set)."""
    error: str | None = None
    """The file could not be read or parsed: its item errors, it never passes."""
    sha256: str | None = None
    """The SHA-256 of the bytes judged (:func:`analyse_file`), so a report names exactly the
    code that was read, not a second read of a file that may have changed in between."""


def analyse_source(source: str, *, file: str, cell: int | None = None) -> CodeAnalysis:
    """Judge one module's (or one notebook cell's) source; ``file`` names it in locations."""
    # A byte-order mark read as text (``read_text(encoding="utf-8")``) is no code.
    return _guarded(file, [(cell, source.removeprefix("\ufeff"))])


def analyse_file(path: Path, *, display: str) -> CodeAnalysis:
    """Read and judge a ``.py`` file (PEP 263 encoding) or an ``.ipynb`` notebook cell by cell."""
    notebook = path.suffix == ".ipynb"
    limit = MAX_NOTEBOOK_BYTES if notebook else MAX_SOURCE_BYTES
    try:
        # Non-blocking open, then only a regular file is read: a FIFO would block the open, and a
        # link to /dev/zero or /dev/stdin is no source file (the size limit alone bounds the read,
        # not what the bytes are).
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return CodeAnalysis(
                    error=f"{display}: not a regular file (a device, pipe or socket), not "
                    f"analysed; fix: point at source files, or exclude it {EXCLUDE_HINT}"
                )
            data = handle.read(limit + 1)
    except OSError as error:
        return CodeAnalysis(
            error=f"{display}: cannot be read ({error.strerror or error}); fix: make it "
            f"readable, or exclude it {EXCLUDE_HINT}"
        )
    if len(data) > limit:
        return CodeAnalysis(
            error=f"{display}: larger than {limit // (1024 * 1024)} MiB, not analysed; fix: "
            f"exclude generated files {EXCLUDE_HINT}"
        )
    analysis = _judge_bytes(data, display=display, notebook=notebook)
    analysis.sha256 = hashlib.sha256(data).hexdigest()
    return analysis


def _judge_bytes(data: bytes, *, display: str, notebook: bool) -> CodeAnalysis:
    if notebook:
        try:
            text = data.decode("utf-8")
            cells = code_cells(text)
        except UnicodeDecodeError as error:
            return CodeAnalysis(
                error=f"{display}: byte {error.start}: not UTF-8; fix: save the notebook as UTF-8"
            )
        except NotebookError as error:
            return CodeAnalysis(error=f"{display}: {error}")
        return _guarded(display, [(c.number, c.source) for c in cells])
    try:
        source = _decode(data)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return CodeAnalysis(
            error=f"{display}: line {line}: not valid {error.encoding}; fix: save it as UTF-8, "
            "or declare its encoding in a PEP 263 coding comment"
        )
    except (SyntaxError, LookupError) as error:
        return CodeAnalysis(
            error=f"{display}: line 1: cannot be decoded ({error}); fix: save it as UTF-8, or "
            "declare its encoding in a PEP 263 coding comment"
        )
    return _guarded(display, [(None, source)])


def _guarded(file: str, units: list[tuple[int | None, str]]) -> CodeAnalysis:
    """:func:`_analyse`, failing closed: a bug of a judge errors the file, it never passes."""
    try:
        return _analyse(file, units)
    except Exception as error:  # fail closed, with the cause in the message
        return CodeAnalysis(
            error=f"{file}: the code checks failed ({type(error).__name__}: {error}); fix: "
            f"report this as a pytest-mlsupply bug, and exclude the file {EXCLUDE_HINT} meanwhile"
        )


def _decode(data: bytes) -> str:
    """The source text as Python reads it: a BOM or PEP 263 comment, else UTF-8, strictly."""
    lines = iter(data.splitlines(keepends=True))
    encoding, _ = tokenize.detect_encoding(lambda: next(lines, b""))
    return data.decode(encoding)


def _analyse(file: str, units: list[tuple[int | None, str]]) -> CodeAnalysis:
    """Parse every unit (a module, or a notebook's cells), then judge them with one name table.

    A notebook's cells share their names (``import torch as t`` in cell 1, ``t.load`` in cell
    3) as its kernel does.
    """
    names = Names(STAR_NAMES, JUDGED)
    parsed: list[_Unit] = []
    for cell, source in units:
        where = f"{file}: cell {cell}" if cell is not None else file
        try:
            tree = ast.parse(source, filename=file)
        except SyntaxError as error:
            line = error.lineno
            if line is None and "\0" in source:
                # ast.parse names no line for a NUL byte: the first one's line is the place.
                line = source.count("\n", 0, source.index("\0")) + 1
            at = f"line {line}: " if line is not None else ""
            return CodeAnalysis(error=f"{where}: {at}{error.msg}; {_FIX_SYNTAX}")
        except (ValueError, RecursionError, MemoryError) as error:
            return CodeAnalysis(error=f"{where}: cannot be parsed ({error}); {_FIX_SYNTAX}")
        unit = _Unit(file, cell, source)
        try:
            recorded = Names.RECORDED
            for node in ast.walk(tree):
                kind = type(node)  # ast.parse makes no subclasses: one set lookup per node
                if kind in recorded:
                    names.record(node)
                if kind in _CONSUMERS:
                    _consume(node, unit)
                if isinstance(node, ast.Call):
                    unit.calls.append(node)
                    unit.values.append(node)
                elif isinstance(node, ast.Assign):
                    unit.assignments.append(node)
                elif isinstance(node, ast.Name | ast.Attribute) and type(node.ctx) is ast.Load:
                    unit.values.append(node)
        except RecursionError:
            return CodeAnalysis(error=f"{where}: nested too deeply to analyse; {_FIX_SYNTAX}")
        try:
            unit.suppressions, malformed = read_suppressions(source, _KNOWN_RULES)
            for number, entries in unit.suppressions.items():
                unit.comment_starts[number] = min(e.column for e in entries)
        except (tokenize.TokenError, SyntaxError) as error:
            return CodeAnalysis(error=f"{where}: comments cannot be read ({error}); {_FIX_SYNTAX}")
        for comment in malformed:
            unit.comment_starts[comment.line] = comment.column
            unit.add_comment(comment.line, comment.column, comment.problem, comment.text)
        parsed.append(unit)
    findings: list[Finding] = []
    try:
        for unit in parsed:
            for call in unit.calls:
                name, verdicts = judge_call(call, names)
                for verdict in verdicts:
                    unit.add(verdict, call, name, _via(call))
            for value in unit.values:
                if id(value) in unit.consumed:
                    continue
                maker = unit.first_args.get(id(value))
                if maker is not None and _makes_callable(maker, names):
                    continue  # partial(torch.load, ...)/getattr(...): judged as the call
                if isinstance(value, ast.Call) and not _makes_callable(value, names):
                    continue
                name, verdicts = judge_value(value, names)
                for verdict in verdicts:
                    unit.add(verdict, value, name, ast.unparse(value))
            for assign in unit.assignments:
                for target in assign.targets:
                    assigned = judge_assignment(target, assign.value, names)
                    if assigned is not None:
                        unit.add(assigned, assign, "", "")
            unit.settle()
            findings.extend(unit.findings)
        findings.sort(
            key=lambda f: (
                f.location.cell or 0,
                f.location.line or 0,
                f.location.column or 0,
                f.rule,
            )
        )
    except RecursionError:
        return CodeAnalysis(error=f"{file}: nested too deeply to analyse; {_FIX_SYNTAX}")
    return CodeAnalysis(findings=findings)


#: The node types :func:`_consume` reads.
_CONSUMERS: frozenset[type[ast.AST]] = frozenset(
    {ast.Call, ast.ClassDef, ast.Attribute, ast.Assign, ast.AnnAssign, ast.NamedExpr}
)


def _consume(node: ast.AST, unit: _Unit) -> None:
    """Mark the children of ``node`` whose value the name pass follows (not passed along).

    A call's target, an attribute chain's base, a partial's or getattr's first argument and a
    value bound to plain names are resolved where they are used; any other use of a loader (an
    argument, a default, a dict value, an attribute store) hands it to code the check cannot see.
    """
    consumed = unit.consumed
    followed: list[ast.AST] = []
    if isinstance(node, ast.Call):
        followed.append(node.func)
        if node.args:
            unit.first_args[id(node.args[0])] = node  # a partial's target: judged as the call
    elif isinstance(node, ast.ClassDef):
        # ``class C: loader = torch.load`` is reached as ``self.loader``: not followed.
        unit.class_level.update(id(statement) for statement in node.body)
    elif isinstance(node, ast.Attribute):
        followed.append(node.value)
    elif isinstance(node, ast.Assign):
        if id(node) not in unit.class_level and all(
            _plain_target(t) and _unpacked(t, node.value) for t in node.targets
        ):
            _bound_values(node.targets[0], node.value, consumed, followed)
    elif (
        isinstance(node, ast.AnnAssign | ast.NamedExpr)
        and node.value is not None
        and id(node) not in unit.class_level
        and _plain_target(node.target)
        and _unpacked(node.target, node.value)
    ):
        _bound_values(node.target, node.value, consumed, followed)
    while followed:
        child = followed.pop()
        consumed.add(id(child))
        if isinstance(child, ast.IfExp):
            followed.extend((child.body, child.orelse))
        elif isinstance(child, ast.BoolOp):
            followed.extend(child.values)
        elif isinstance(child, ast.NamedExpr):
            followed.append(child.value)


def _plain_target(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, ast.Tuple | ast.List):
        return all(_plain_target(e) for e in target.elts)
    return isinstance(target, ast.Starred) and _plain_target(target.value)


def _unpacked(target: ast.expr, value: ast.expr) -> bool:
    """Whether the name pass binds each name of ``target`` to its own part of ``value``.

    ``f, g = torch.load, x`` binds ``f`` to ``torch.load``; ``loaders = [torch.load]`` binds
    ``loaders`` to a list no call resolves through (``loaders[0](p)``), and ``f, *rest =
    torch.load, a, b`` binds ``f`` to nothing: the loaders in those are handed along, judged as
    values.
    """
    if isinstance(target, ast.Name):
        return not isinstance(value, ast.Tuple | ast.List)
    if not isinstance(target, ast.Tuple | ast.List) or not isinstance(value, ast.Tuple | ast.List):
        return False
    if len(value.elts) != len(target.elts) or any(isinstance(v, ast.Starred) for v in value.elts):
        return False
    return all(
        _unpacked(t.value if isinstance(t, ast.Starred) else t, v)
        for t, v in zip(target.elts, value.elts, strict=True)
    )


def _bound_values(
    target: ast.expr, value: ast.expr, consumed: set[int], followed: list[ast.AST]
) -> None:
    """Queue what each name of an unpacked ``target`` is bound to (:func:`_unpacked`)."""
    if isinstance(target, ast.Starred):
        target = target.value
    if isinstance(target, ast.Tuple | ast.List) and isinstance(value, ast.Tuple | ast.List):
        consumed.add(id(value))
        for t, v in zip(target.elts, value.elts, strict=True):
            _bound_values(t, v, consumed, followed)
    else:
        followed.append(value)


def _makes_callable(call: ast.Call, names: Names) -> bool:
    """``functools.partial(...)`` or ``getattr(mod, "name")``: a call whose result is a loader."""
    makers = names.resolve_all(call.func)
    return bool(makers & {"functools.partial", "getattr", "builtins.getattr"})


def _via(call: ast.Call) -> str:
    return ast.unparse(call.func)


class _Unit:
    """One parsed module or cell: its calls and assignments to judge, and its findings."""

    def __init__(self, file: str, cell: int | None, source: str) -> None:
        self.file = file
        self.cell = cell
        self.lines = source_lines(source)  # numbered as ast numbers them
        self.calls: list[ast.Call] = []
        self.assignments: list[ast.Assign] = []
        self.values: list[ast.expr] = []
        """Names, attributes and partials that may be a loader handed along uncalled."""
        self.consumed: set[int] = set()
        """The ``id`` of every expression the name pass follows where it is used."""
        self.first_args: dict[int, ast.Call] = {}
        self.class_level: set[int] = set()
        self.suppressions: dict[int, list[Suppression]] = {}
        self.comment_starts: dict[int, int] = {}
        """Where a suppression comment starts on its line: quotes stop there."""
        self._stripped: list[str] | None = None
        self._stripped_comments = 0
        self._digests: dict[tuple[int, int], str] = {}
        """Digests of spans of lines (see :meth:`_digest`), made from the lines stripped once."""
        self.findings: list[Finding] = []
        self.spans: list[tuple[int, int, int, tuple[int, int, int, int]]] = []
        """Each finding's index, first and last line, and its expression's range (line,
        column, end line, end column): what a suppression comment may accept."""

    def add(self, verdict: Verdict, node: ast.stmt | ast.expr, name: str, via: str) -> None:
        rule = RULES[verdict.rule]
        line = node.lineno
        end = node.end_lineno or line
        detail = verdict.detail
        if name and via and via != name:
            detail = f"{name} resolved from {via!r}; {detail}"
        column = self._column(line, node.col_offset)
        evidence = f"{self._quote(line, end)}: {detail}"
        self._append(rule, verdict.severity, line, column, evidence)
        extent = (line, node.col_offset, end, node.end_col_offset or 0)
        self.spans.append((len(self.findings) - 1, line, end, extent))

    def add_comment(self, line: int, column: int, problem: str, text: str) -> None:
        rule = RULES["MLS-LOAD-013"]
        evidence = f"`{_clip(text)}`: the comment {problem}; it suppresses nothing"
        self._append(rule, rule.severity, line, column + 1, evidence)

    def _append(
        self, rule: CodeRule, severity: Severity, line: int, column: int, evidence: str
    ) -> None:
        self.findings.append(
            Finding(
                rule=rule.id,
                severity=severity,
                category=CATEGORY,
                title=rule.title,
                location=Location(file=self.file, line=line, column=column, cell=self.cell),
                evidence=evidence,
                why=rule.why,
                remediation=rule.fix,
                cwe=rule.cwe,
            )
        )

    def settle(self) -> None:
        """Mark the findings the suppression comments accept.

        A comment accepts, for each rule it names, the innermost flagged expression of that
        rule spanning its line: a comment written for ``torch.load(cache)`` nested inside a
        multi-line ``torch.load(...)`` does not accept the outer call too. A comment whose
        line holds two such expressions, neither inside the other (``a = torch.load(ours); b =
        torch.load(`` going on below), cannot say which one it vouches for: it accepts neither
        and is reported (MLS-LOAD-013). The spans are swept once in line order: a comment on
        each of 8,000 flagged lines no longer compares every comment with every finding.
        """
        if not self.suppressions or not self.spans:
            return
        order = sorted(range(len(self.spans)), key=lambda k: self.spans[k][1])
        active: list[tuple[int, int]] = []  # (last line, span): those begun by this line
        position = 0
        for number in sorted(self.suppressions):
            while position < len(order) and self.spans[order[position]][1] <= number:
                heapq.heappush(active, (self.spans[order[position]][2], order[position]))
                position += 1
            while active and active[0][0] < number:
                heapq.heappop(active)
            for suppression in self.suppressions[number]:
                for rule in suppression.rules:
                    self._settle(suppression, rule, [self.spans[k] for _, k in active])

    def _settle(
        self,
        suppression: Suppression,
        rule: str,
        spans: list[tuple[int, int, int, tuple[int, int, int, int]]],
    ) -> None:
        extents = sorted(
            {extent for index, _, _, extent in spans if self.findings[index].rule == rule},
            key=lambda e: (e[0], e[1], -e[2], -e[3]),
        )
        if not extents:
            return
        # Expressions nest or are disjoint: in this order one holds another iff it holds the
        # next; those that hold none are the innermost.
        innermost = [
            extent
            for extent, after in zip(extents, [*extents[1:], None], strict=True)
            if after is None or (after[2], after[3]) > (extent[2], extent[3])
        ]
        number = suppression.line
        if len(innermost) > 1:
            text = self.lines[number - 1][suppression.column :]
            self.add_comment(
                number,
                suppression.column,
                f"sits on {len(innermost)} expressions flagged {rule} and would accept "
                "them all; put each on its own line with its own comment",
                text,
            )
            return
        for index, _, _, extent in spans:
            finding = self.findings[index]
            if finding.rule == rule and extent == innermost[0] and finding.accepted is None:
                self.findings[index] = replace(finding, accepted=self._acceptance(suppression))

    def _acceptance(self, suppression: Suppression) -> Acceptance:
        number = suppression.line
        where = f"{self.file}:cell {self.cell}:{number}" if self.cell else f"{self.file}:{number}"
        return Acceptance(reason=suppression.reason, owner="", expires="", source=where)

    def _column(self, line: int, offset: int) -> int:
        # ``ast`` counts columns in UTF-8 bytes; editors and SARIF in characters.
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return len(text.encode("utf-8")[:offset].decode("utf-8", "replace")) + 1

    def _quote(self, line: int, end: int) -> str:
        """The flagged lines, in backticks, clipped; a clipped one with its digest."""
        parts = []
        length = 0
        last = min(end, len(self.lines))
        cut = False
        for number in range(line, last + 1):
            if length > QUOTE_CHARS:
                # The clip keeps no more: 150 nested calls over 400k lines took 23 s. Blank
                # lines count too, so the lines left unread are named by the digest below.
                cut = True
                break
            text = self.lines[number - 1]
            if number in self.comment_starts:
                text = text[: self.comment_starts[number]]
            parts.append(text.strip())
            length += len(parts[-1]) + 1
        quote = _clip(" ".join(p for p in parts if p))
        if cut and not quote.endswith("\u2026"):
            quote += " \u2026"
        if not quote.endswith("\u2026"):
            return f"`{quote}`"
        return f"`{quote}` (sha256 of the whole expression: {self._digest(line, last)})"

    def _digest(self, line: int, last: int) -> str:
        """The digest of lines ``line`` to ``last``: cut short, the quote no longer tells two
        long calls apart, and the baseline accepts a finding by its evidence; this does.

        Each line's comment is cut and its horizontal space at both ends dropped (so
        re-indenting keeps the digest; spacing inside a line, a string's included, counts), the
        lines joined by newlines, stripped, and the first :data:`MAX_HASHED_CHARS` hashed. The
        lines are stripped once per file and each span digested once: nested calls share their
        lines, and re-reading them per call took 12 s (and a regex over the joined text, before,
        70 s) for 150 nested calls around 1M blank lines.
        """
        digest = self._digests.get((line, last))
        if digest is None:
            if self._stripped is None or self._stripped_comments != len(self.comment_starts):
                stripped = [text.strip(" \t\f") for text in self.lines]
                for number, start in self.comment_starts.items():
                    if 0 < number <= len(stripped):
                        stripped[number - 1] = self.lines[number - 1][:start].strip(" \t\f")
                self._stripped, self._stripped_comments = stripped, len(self.comment_starts)
                self._digests.clear()
            text = "\n".join(self._stripped[line - 1 : last]).strip()[:MAX_HASHED_CHARS]
            digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            self._digests[(line, last)] = digest
        return digest


def _clip(text: str) -> str:
    """The text with control characters escaped, cut to :data:`QUOTE_CHARS` with an ellipsis."""
    # Escaping never shortens a character: the first QUOTE_CHARS + 1 decide the clip.
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: QUOTE_CHARS + 1])
    if len(escaped) > QUOTE_CHARS:
        escaped = escaped[: QUOTE_CHARS - 1] + "\u2026"
    return escaped
