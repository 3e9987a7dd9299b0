"""Jupyter notebooks (nbformat 4) as code cells for the project-code rules.

Read with :mod:`~pytest_mlsupply.engines.strict_json`, the one reader of JSON whose content
decides a verdict.

A notebook is JSON; its code cells are Python with IPython's additions. Line magics (``%pip``),
shell escapes (``!ls``, ``files = !ls``) and help lines (``obj?``) are blanked, not deleted, so
every line keeps its number; a cell magic that makes the cell another language (``%%bash``) skips
the cell, one that still runs Python (``%%time``, ``%%python3``) is blanked on its first line
only. What a magic runs is kept as Python (``%time model = torch.load(p)``, ``%%timeit setup``),
and, as in IPython, only a line that starts a statement is a magic: one inside a multi-line
string is given back.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from typing import Any

from pytest_mlsupply.engines import strict_json

from .rules import EXCLUDE_HINT

__all__ = ["Cell", "NotebookError", "code_cells"]

# Cell magics whose body is still Python the kernel runs.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "memit"})
_SHELL_ASSIGNMENT = re.compile(r"\s*[A-Za-z_][\w.,\s]*=\s*[!%]")
# IPython help: ``obj?``, ``obj.attr??``, ``?obj`` (a line ending in ``?`` after code or in a
# comment is not one).
_HELP = re.compile(r"\s*\?{0,2}[A-Za-z_][\w.]*\?{0,2}\s*$")


class NotebookError(ValueError):
    """The notebook is not JSON of the nbformat 4 shape: the message says where and the fix."""


@dataclass(frozen=True)
class Cell:
    """One code cell: its 1-based number among all the notebook's cells, its Python source."""

    number: int
    source: str


def code_cells(text: str) -> list[Cell]:
    """The notebook's code cells, IPython syntax blanked, or :class:`NotebookError`."""
    try:
        # The strict reader: a duplicated "source" key must not show one cell to the gate and
        # another to Jupyter.
        document: Any = strict_json.loads(text)
    except strict_json.StrictJsonError as error:
        raise NotebookError(
            f"{error}; fix: save the notebook again from Jupyter, or exclude it {EXCLUDE_HINT}"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise NotebookError(
            "not an nbformat 4 notebook (no 'cells' list); fix: convert it with "
            f"'jupyter nbconvert --to notebook', or exclude it {EXCLUDE_HINT}"
        )
    if document.get("nbformat") != 4:
        raise NotebookError(
            f"nbformat {document.get('nbformat')!r} is not supported (only 4); fix: convert it "
            "with 'jupyter nbconvert --to notebook'"
        )
    cells: list[Cell] = []
    for index, cell in enumerate(document["cells"], start=1):
        if not isinstance(cell, dict):
            raise NotebookError(f"cell {index}: not an object; fix: repair the notebook's JSON")
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookError(
                f"cell {index}: 'source' is neither a string nor a list of strings; fix: "
                "repair the notebook's JSON"
            )
        python = _python(source)
        if python is not None:
            cells.append(Cell(index, python))
    return cells


def _python(source: str) -> str | None:
    original = source.split("\n")
    lines = list(original)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].lstrip()[2:].split(maxsplit=1)
        if magic and magic[0] in _PYTHON_CELL_MAGICS:
            # ``%%timeit setup``: the setup on the magic's line is Python the kernel runs too.
            lines[first] = _magic_statement(lines[first], "timeit") if magic[0] == "timeit" else ""
        elif magic and _runs_python(magic):
            lines[first] = ""  # %%python3, %%script python: the body runs in a Python process
        else:
            return None  # %%bash, %%html, %%writefile: not Python the kernel runs
    blanked: set[int] = set()
    for i, line in enumerate(lines):
        stripped = line.strip()
        python = _line_magic_statement(line)
        if python is not None and not python.lstrip().removeprefix("pass;").lstrip().startswith(
            ("!", "%", "?")
        ):
            # ``%time model = torch.load(p)``, ``m = %timeit -o load(p)``: the magic runs the
            # rest of the line as Python; it is judged, in its own columns (``%time !ls``
            # times a shell line: blanked below).
            lines[i] = python
            blanked.add(i)
        elif (
            stripped.startswith(("%", "!", "?"))
            or (stripped.endswith("?") and _HELP.match(line))
            or _SHELL_ASSIGNMENT.match(line)
        ):
            # Blank, keeping the indentation and a statement: an ``if`` whose only body was a
            # magic still parses, and every line keeps its number.
            indent = line[: len(line) - len(line.lstrip())]
            lines[i] = f"{indent}pass"
            blanked.add(i)
    return "\n".join(_restore_continuations(original, lines, blanked))


# Line magics whose argument is a Python statement the kernel runs, alone or assigned (IPython's
# time, timeit, prun and debug; memory_profiler's memit; line_profiler's lprun).
_PYTHON_LINE_MAGIC = re.compile(
    r"(?P<indent>\s*)(?P<target>[A-Za-z_][\w.,\s]*=\s*)?"
    r"%(?P<magic>time|timeit|prun|debug|memit|lprun)(?=\s|$)"
)
# Their options before the statement (their getopt specs): these letters take a value.
_VALUED_OPTIONS = {
    "time": "",
    "timeit": "nrp",
    "prun": "DlsT",
    "debug": "b",
    "memit": "rt",
    "lprun": "fmDTu",
}
_OPTION = re.compile(r"\s+-(?P<letter>\w)(?P<attached>\S*)")
_WORD = re.compile(r"\s+\S+")
# Interpreters a ``%%script`` (or its ``%%python3`` shorthand) cell may run: Python.
_PYTHONS = ("python", "pypy")


def _line_magic_statement(line: str) -> str | None:
    """``line`` as the Python its line magics run, or None if it starts with none.

    ``%time`` hands its statement to IPython's transformer again: ``%time %time m =
    torch.load(p)`` runs the load, so nested magics are unwrapped too (each keeps its columns).
    """
    first = _PYTHON_LINE_MAGIC.match(line)
    if first is None:
        return None
    python = current = line
    for _ in range(len(line)):
        statement = _PYTHON_LINE_MAGIC.match(current)
        if statement is None:
            break
        python = _magic_statement(current, statement.group("magic"))
        # Unwrapped again with the ``pass;`` as blanks, then put back at the line's indent.
        inner = statement.group("indent")
        current = python
        if not statement.group("target") and python.startswith(inner + "pass;"):
            current = inner + "     " + python[len(inner) + 5 :]
    if first.group("target"):
        return python
    indent = first.group("indent")
    rest = python.lstrip().removeprefix("pass;").lstrip()
    return indent + "pass;".ljust(len(python) - len(rest) - len(indent)) + rest


def _magic_statement(line: str, magic: str) -> str:
    """``line`` (``%time stmt``, ``x = %timeit -n 3 expr``, ``%%timeit setup``) as the Python
    the magic runs, the statement kept in its columns."""
    head = re.compile(r"(?P<indent>\s*)(?P<target>[A-Za-z_][\w.,\s]*=\s*)?%%?" + magic)
    match = head.match(line)
    assert match is not None
    position = match.end()
    if magic != "time":
        while option := _OPTION.match(line, position):
            position = option.end()
            if option.group("letter") in _VALUED_OPTIONS[magic] and not option.group("attached"):
                value = _WORD.match(line, position)
                position = value.end() if value else position
    rest = line[position:]
    statement = rest.lstrip()
    width = len(line) - len(statement) - len(match.group("indent"))
    if match.group("target"):
        return match.group("indent") + match.group("target").ljust(width) + statement
    return match.group("indent") + "pass;".ljust(width) + statement


def _runs_python(magic: list[str]) -> bool:
    name = magic[0]
    if name == "script" and len(magic) > 1:
        name = magic[1].split(maxsplit=1)[0].rsplit("/", 1)[-1]
    return name.startswith(_PYTHONS)


#: How many blanked lines are given back before a cell is left as it is (ast.parse judges it).
_MAX_RESTORES = 200


def _restore_continuations(original: list[str], lines: list[str], blanked: set[int]) -> list[str]:
    """Give back every blanked line IPython would not read as a magic: one that starts inside
    a multi-line string or continues a statement (IPython escapes only a logical line's first
    token). ``s = \"\"\"`` / ``%\"\"\"; m = torch.load(p); t = \"\"\"`` / ``\"\"\"`` runs
    ``torch.load``; blanking its middle line hid it."""
    for _ in range(_MAX_RESTORES):
        wrong = _first_continuation(lines, blanked)
        if wrong is None:
            return lines
        lines[wrong] = original[wrong]
        blanked.discard(wrong)
    # Still wrong after the bound: the cell as written (ast.parse judges it), never one with
    # a line blanked that IPython runs (201 magic-looking lines in a string hid a torch.load).
    return original if _first_continuation(lines, blanked) is not None else lines


def _first_continuation(lines: list[str], blanked: set[int]) -> int | None:
    """The first blanked line (0-based) that does not start a logical line, or None."""
    if not blanked:
        return None
    text = "\n".join(lines) + "\n"
    starts: set[int] = set()
    reached: set[int] = set()
    inside: set[int] = set()
    previous: int | None = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            kind = token.type
            for row in range(token.start[0] + 1, token.end[0] + 1):
                inside.add(row - 1)  # a line a multi-line token (a string) runs through
            if kind in (tokenize.NL, tokenize.COMMENT):
                continue
            row = token.start[0] - 1
            if row not in reached:
                reached.add(row)
                if previous in (None, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                    starts.add(row)
            previous = kind
    except (tokenize.TokenError, SyntaxError):
        pass  # the lines read so far decide; ast.parse judges the rest
    wrong = sorted(i for i in blanked if i in inside or (i in reached and i not in starts))
    return wrong[0] if wrong else None
