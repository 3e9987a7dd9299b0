"""Manifest problems: each names the file, line, column, key path and what to write instead."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def display_path(path: Path) -> str:
    """The path relative to the working directory when it is below it (what editors open)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass(frozen=True)
class Problem:
    file: Path
    line: int
    column: int
    key_path: str
    message: str
    fix: str = ""

    def render(self) -> str:
        where = f"{display_path(self.file)}:{self.line}:{self.column}"
        key = f" {self.key_path}:" if self.key_path else ""
        text = f"{where}:{key} {self.message}"
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text


class ManifestError(Exception):
    """One or more problems in a manifest, all reported together."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        name = display_path(self.problems[0].file) if self.problems else "mlsupply.yaml"
        head = f"{name} is invalid ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(p.render() for p in self.problems)])
