"""Jupyter notebooks (nbformat 4) as code cells for the project-code rules.

Read with :mod:`~pytest_mlsupply.engines.strict_json`, the one reader of JSON whose content
decides a verdict.

A notebook is JSON; its code cells are Python with IPython's additions. Line magics (``%pip``),
shell escapes (``!ls``, ``files = !ls``) and help lines (``obj?``) are blanked, not deleted, so
every line keeps its number; a cell magic that makes the cell another language (``%%bash``) skips
the cell, one that still runs Python (``%%time``) is blanked on its first line only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pytest_mlsupply.engines import strict_json

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
            f"{error}; fix: save the notebook again from Jupyter, or exclude it under code.exclude"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("cells"), list):
        raise NotebookError(
            "not an nbformat 4 notebook (no 'cells' list); fix: convert it with "
            "'jupyter nbconvert --to notebook', or exclude it under code.exclude"
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
    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].lstrip()[2:].split(maxsplit=1)
        if not magic or magic[0] not in _PYTHON_CELL_MAGICS:
            return None  # %%bash, %%html, %%writefile: not Python the kernel runs
        lines[first] = ""
    for i, line in enumerate(lines):
        stripped = line.strip()
        if (
            stripped.startswith(("%", "!", "?"))
            or (stripped.endswith("?") and _HELP.match(line))
            or _SHELL_ASSIGNMENT.match(line)
        ):
            # Blank, keeping the indentation and a statement: an ``if`` whose only body was a
            # magic still parses, and every line keeps its number.
            indent = line[: len(line) - len(line.lstrip())]
            lines[i] = f"{indent}pass"
    return "\n".join(lines)
