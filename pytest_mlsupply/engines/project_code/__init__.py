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

from dataclasses import dataclass, field
from pathlib import Path

from pytest_mlsupply.results import Finding, Severity

__all__ = ["RULES", "CodeAnalysis", "CodeRule", "analyse_file", "analyse_source"]

CATEGORY = "unsafe-loading"


@dataclass(frozen=True)
class CodeRule:
    """One rule of the catalogue: what every finding of it says, whatever the line."""

    id: str
    severity: Severity
    """The rule's usual severity; a finding may say less (an unconfirmable value) or more."""
    cwe: str
    title: str
    why: str
    fix: str


@dataclass
class CodeAnalysis:
    """What one file's analysis found, or why there is no analysis (fail closed)."""

    findings: list[Finding] = field(default_factory=list)
    """Every finding, suppressed ones included (their ``accepted`` is set)."""
    error: str | None = None
    """The file could not be read or parsed: its item errors, it never passes."""


RULES: dict[str, CodeRule] = {}
"""Every rule by id, in id order: the docs, the SARIF rule table and suppressions read it."""


def analyse_source(source: str, *, file: str, cell: int | None = None) -> CodeAnalysis:
    """Judge one module's (or one notebook cell's) source; ``file`` names it in locations."""
    raise NotImplementedError


def analyse_file(path: Path, *, display: str) -> CodeAnalysis:
    """Read and judge a ``.py`` file (PEP 263 encoding) or an ``.ipynb`` notebook cell by cell."""
    raise NotImplementedError
