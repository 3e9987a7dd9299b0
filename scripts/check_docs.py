"""Check that the documentation matches the code: manifest keys, relative links and rule ids.

Run from the repository root: ``python scripts/check_docs.py``. Exits 1 with a list of problems.
Needs only the standard library (tox's ``docs`` environment does not install the package).

The rules:

- **Keys.** Every property path the JSON Schema declares (``policy.fail_on``,
  ``models[].card.require``) is written out in full, in backticks, in a heading or in the first
  cell of a table row of ``docs/configuration.md``; and every such path-shaped token there whose
  first part is a top-level key is one the schema declares (no stale keys).
- **Links.** Every relative Markdown link in ``README.md``, ``docs/*.md`` and
  ``example_project/README.md`` points at an existing file or directory (``#anchor`` stripped;
  ``http(s)``, ``mailto`` and anchor-only links ignored; code blocks and code spans skipped).
- **Rules.** Every rule id the plugin can emit (``rule="MLS-…"`` in a module that the plugin's
  entry points import, directly or through other modules) has a row in a table of
  ``docs/checks.md`` (or ``docs/checks-*.md``, ``docs/code-checks.md``) whose ``severity`` cell names each severity the code gives it and whose
  ``CWE`` cell (when the table has one) names exactly its CWEs; and every rule id in those tables
  is one the plugin emits. An engine that no check uses yet (its rules cannot reach a user) is
  not required in the catalogue; once a check imports it, its rules are.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path.cwd()
SCHEMA = Path("pytest_mlsupply/manifest/mlsupply.schema.json")
CONFIGURATION = Path("docs/configuration.md")
CHECKS = Path("docs/checks.md")
#: The project-code rules (MLS-LOAD-*): their own page, part of the catalogue.
CODE_CHECKS = Path("docs/code-checks.md")
PACKAGE = Path("pytest_mlsupply")
#: What a user runs: the pytest11 entry point and the console script.
ENTRY_POINTS = ("pytest_mlsupply.plugin.hooks", "pytest_mlsupply.cli")

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"`([^`]+)`")
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*(<[^>]*>|\S+)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_KEY_PATH = re.compile(r"^[a-z_]+(?:\[\])?(?:\.[a-z_]+(?:\[\])?)*$")
_RULE_ID = re.compile(r"\bMLS-[A-Z]+-\d{3}\b")
_CWE = re.compile(r"\bCWE-\d+\b")


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)

    def add(self, where: Path | str, message: str) -> None:
        self.problems.append(f"{where}: {message}")


# -- Markdown ---------------------------------------------------------------------------------


def prose_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The file's lines outside fenced code blocks, with 1-based line numbers."""
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def table_cells(line: str) -> list[str] | None:
    """The cells of a Markdown table row, or None if the line is not one (or is a rule line)."""
    stripped = line.strip()
    if not stripped.startswith("|"):
        return None
    # An escaped pipe (`a \| b`) belongs to its cell.
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", stripped.strip("|"))]
    if all(re.fullmatch(r":?-+:?", c) for c in cells if c):
        return None
    return cells


def tables(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Every body row of every table in ``path``, as {lower-cased header: cell}."""
    header: list[str] | None = None
    previous_was_row = False
    for number, line in prose_lines(path):
        is_row = line.strip().startswith("|")
        cells = table_cells(line)
        if not is_row:
            header, previous_was_row = None, False
            continue
        if cells is None:  # the |---| line under the header
            previous_was_row = True
            continue
        if header is None or not previous_was_row:
            header = [c.lower() for c in cells]
        else:
            yield number, dict(zip(header, cells, strict=False))
        previous_was_row = True


# -- keys -------------------------------------------------------------------------------------


def schema_paths(schema: dict[str, object]) -> list[str]:
    """Every property path the schema declares, e.g. ``models[].card.require``."""
    defs = schema.get("$defs", {})
    assert isinstance(defs, dict)

    def resolve(node: object) -> dict[str, object]:
        assert isinstance(node, dict)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return {**resolve(defs[ref.removeprefix("#/$defs/")]), **node}
        return node

    def walk(node: dict[str, object], prefix: str) -> Iterator[str]:
        properties = node.get("properties", {})
        assert isinstance(properties, dict)
        for key, sub in properties.items():
            path = f"{prefix}{key}"
            yield path
            resolved = resolve(sub)
            yield from walk(resolved, f"{path}.")
            if "items" in resolved:
                yield from walk(resolve(resolved["items"]), f"{path}[].")

    return list(walk(schema, ""))


def documented_key_tokens(path: Path) -> dict[str, int]:
    """Backticked tokens in headings and first table cells, with the line they are on."""
    found: dict[str, int] = {}
    for number, line in prose_lines(path):
        if line.startswith("#"):
            spans = _CODE_SPAN.findall(line)
        else:
            cells = table_cells(line)
            spans = _CODE_SPAN.findall(cells[0]) if cells else []
        for span in spans:
            found.setdefault(span.strip(), number)
    return found


def check_keys(report: Report) -> int:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    paths = schema_paths(schema)
    tokens = documented_key_tokens(CONFIGURATION)
    for key_path in paths:
        if key_path not in tokens:
            report.add(
                CONFIGURATION,
                f"manifest key `{key_path}` is not documented (write it, in backticks, in a "
                "heading or in the first column of a table)",
            )
    top = set(schema.get("properties", {}))
    known = set(paths)
    for token, number in tokens.items():
        looks_like_a_key = _KEY_PATH.match(token) and token.split(".")[0].removesuffix("[]") in top
        if looks_like_a_key and token not in known:
            report.add(
                f"{CONFIGURATION}:{number}",
                f"`{token}` is documented but the schema does not declare it",
            )
    return len(paths)


# -- links ------------------------------------------------------------------------------------


def link_targets(path: Path) -> Iterator[tuple[int, str]]:
    for number, line in prose_lines(path):
        text = _CODE_SPAN.sub("", line)
        targets = [m.group(1) for m in _INLINE_LINK.finditer(text)]
        reference = _REFERENCE_LINK.match(text)
        if reference:
            targets.append(reference.group(1))
        for target in targets:
            yield number, target.strip("<>")


def check_links(report: Report) -> int:
    pages = [
        Path("README.md"),
        *sorted(Path("docs").glob("*.md")),
        Path("example_project/README.md"),
    ]
    count = 0
    for page in pages:
        if not page.is_file():
            report.add(page, "missing (its links cannot be checked)")
            continue
        for number, target in link_targets(page):
            if _SCHEME.match(target) or target.startswith("#"):
                continue
            count += 1
            relative = target.split("#", 1)[0].split("?", 1)[0]
            if not (page.parent / relative).exists():
                report.add(f"{page}:{number}", f"link target {target!r} does not exist")
    return count


# -- rules ------------------------------------------------------------------------------------


@dataclass
class RuleFacts:
    severities: set[str] = field(default_factory=set)
    cwes: set[str] = field(default_factory=set)
    where: str = ""
    literal: bool = False
    cwe_unknown: bool = False
    """A ``cwe=`` given through a name or expression: the CWE cell is not compared."""
    """Seen in a ``Finding(rule="…")`` call, so its severities and CWEs are known exactly.
    Engines that build findings through a helper (``_finding("MLS-X-001", …)``) only show
    that the rule exists; their severity and CWE cells are not compared."""


def _severities_in(node: ast.AST) -> set[str]:
    return {
        n.attr.lower()
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Name)
        and n.value.id == "Severity"
    }


def module_file(module: str) -> Path | None:
    base = Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def reachable_modules(entry_points: tuple[str, ...]) -> dict[Path, ast.Module]:
    """Package modules the entry points import, transitively (imports inside functions too)."""
    visited: set[str] = set()
    found: dict[Path, ast.Module] = {}
    pending = list(entry_points)
    # Format engines are imported by name from engines/registry.py ("module:function"
    # strings), which an import walk cannot follow: every one of them is reachable.
    pending += [
        f"{PACKAGE.name}.engines.formats.{path.stem}"
        for path in sorted((PACKAGE / "engines" / "formats").glob("*.py"))
    ]
    # So are the checks, named by checks/registry.py ("module:attribute" strings, imported
    # on first use): every module a line names.
    pending += [
        f"{PACKAGE.name}.checks.{stem}"
        for stem in re.findall(
            r'"(\w+):CHECK"', (PACKAGE / "checks" / "registry.py").read_text(encoding="utf-8")
        )
    ]
    while pending:
        module = pending.pop()
        if module in visited:
            continue
        visited.add(module)
        source = module_file(module) if module.split(".")[0] == PACKAGE.name else None
        if source is None:
            continue
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
        found[source] = tree
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    # `from .policy import x` inside a package: resolve against this module.
                    package = module.split(".")
                    if source.name != "__init__.py":
                        package = package[:-1]
                    package = package[: len(package) - (node.level - 1)]
                    base = ".".join([*package, base] if base else package)
                # `from pkg import mod` may import a module or a name: try both.
                names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for name in names:
                parts = name.split(".")
                # Importing a.b.c runs a/__init__ and a/b/__init__ too.
                pending.extend(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return dict(sorted(found.items()))


def _assigned_severities(tree: ast.Module, call: ast.Call, name: str) -> set[str]:
    """For ``severity=name``: the severities assigned to ``name`` in the enclosing function."""
    severities: set[str] = set()
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef) and (
            function.lineno <= call.lineno <= (function.end_lineno or 0)
        ):
            for assign in ast.walk(function):
                if isinstance(assign, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == name for t in assign.targets
                ):
                    severities |= _severities_in(assign.value)
    return severities


def code_rules() -> dict[str, RuleFacts]:
    """Rule id → the severities and CWEs the plugin's ``Finding(rule=…)`` calls give it."""
    rules: dict[str, RuleFacts] = {}
    for source, tree in reachable_modules(ENTRY_POINTS).items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _RULE_ID.fullmatch(node.value)
            ):
                rules.setdefault(node.value, RuleFacts(where=f"{source}:{node.lineno}"))
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call) or not call.keywords:
                continue
            if not (isinstance(call.func, ast.Name) and call.func.id == "Finding"):
                continue  # other records (TemplateIssue, …) become findings elsewhere
            kwargs = {k.arg: k.value for k in call.keywords if k.arg}
            rule = kwargs.get("rule")
            if not (isinstance(rule, ast.Constant) and isinstance(rule.value, str)):
                continue
            facts = rules.setdefault(rule.value, RuleFacts(where=f"{source}:{call.lineno}"))
            facts.literal = True
            severity = kwargs.get("severity")
            if isinstance(severity, ast.Name):
                facts.severities |= _assigned_severities(tree, call, severity.id)
            elif severity is not None:
                facts.severities |= _severities_in(severity)
            cwe = kwargs.get("cwe")
            if isinstance(cwe, ast.Constant) and isinstance(cwe.value, str):
                facts.cwes.add(cwe.value)
            elif cwe is not None and not (isinstance(cwe, ast.Constant) and cwe.value is None):
                facts.cwe_unknown = True
    return rules


def check_rules(report: Report) -> int:
    rules = code_rules()
    rows: dict[str, tuple[str, dict[str, str]]] = {}
    # The catalogue: docs/checks.md plus one page per engine family (docs/checks-<family>.md),
    # the project-code rules' page and one page per monitor source (docs/monitor-<source>.md).
    pages = [
        CHECKS,
        *sorted(CHECKS.parent.glob("checks-*.md")),
        CODE_CHECKS,
        *sorted(CHECKS.parent.glob("monitor-*.md")),
    ]
    for page in [p for p in pages if p.is_file()]:
        for number, row in tables(page):
            ids = _RULE_ID.findall(row.get("rule", ""))
            for rule_id in ids:
                rows.setdefault(rule_id, (f"{page}:{number}", row))
    for rule_id, facts in sorted(rules.items()):
        if rule_id not in rows:
            report.add(
                CHECKS, f"rule {rule_id} ({facts.where}) has no row in a table with a `rule` column"
            )
            continue
        where, row = rows[rule_id]
        if not facts.literal:
            continue
        severity_cell = row.get("severity", "").lower()
        for severity in sorted(facts.severities):
            if not re.search(rf"\b{severity}\b", severity_cell):
                report.add(
                    where,
                    f"rule {rule_id}: the code gives severity {severity!r}, the row says "
                    f"{row.get('severity', '')!r}",
                )
        if "cwe" in row and not facts.cwe_unknown:
            documented = set(_CWE.findall(row["cwe"]))
            if documented != facts.cwes:
                report.add(
                    where,
                    f"rule {rule_id}: the code gives {sorted(facts.cwes) or 'no CWE'}, the row "
                    f"says {sorted(documented) or 'none'}",
                )
    for rule_id, (where, _) in sorted(rows.items()):
        if rule_id not in rules:
            report.add(where, f"rule {rule_id} is documented but no check emits it")
    return len(rules)


def main() -> int:
    if not SCHEMA.is_file():
        print(f"run from the repository root: {SCHEMA} not found under {ROOT}", file=sys.stderr)
        return 1
    report = Report()
    keys = check_keys(report)
    links = check_links(report)
    rules = check_rules(report)
    if report.problems:
        print(f"docs: {len(report.problems)} problem(s)", file=sys.stderr)
        for problem in report.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(f"docs: ok ({keys} keys, {links} links, {rules} rules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
