"""Shebang scripts in a model directory: always a finding, and their content analysed.

A model artifact is data; an executable script shipped beside the weights is one
``./setup.sh`` away from running with the user's privileges, so its presence is reported
(MLS-CODE-010). Python scripts are then analysed with :mod:`pytest_mlsupply.engines.python_ast`
and judged by what they do when they run: a serving script (``#!/usr/bin/env python3`` atop an
``inference.py``) whose effects are at most low is a low finding, one with medium effects medium,
and anything worse high. Shell scripts, and Python run with interpreter arguments that replace
the file (``python -c ...``), stay high; shell scripts are searched for the shapes of
download-and-run, reverse shells, encoded payloads and persistence.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.budget import CHECK_EVERY, checkpoint
from pytest_mlsupply.engines.formats import yaml_config
from pytest_mlsupply.engines.formats.text import read_text
from pytest_mlsupply.engines.identification import Family, Format, Identification
from pytest_mlsupply.engines.python_ast import code_findings
from pytest_mlsupply.engines.shell_shapes import (
    AnyOf,
    HeadThenTail,
    PipedInto,
    ProfileWrite,
    Search,
)
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = ["identify_shebang", "scan_script"]

_SHELLS = ("sh", "bash", "zsh", "dash", "ksh", "ash", "busybox")
#: Interpreter options that change how the file runs, not what runs.
_PLAIN_PYTHON_OPTIONS = frozenset({"-u", "-O", "-OO", "-B", "-E", "-s", "-S", "-I", "-P"})
#: (pattern, severity, what it is): shell shapes that have no place in a model repository.
#: Those whose regular expression backtracks quadratically on a long line are searched in one
#: pass (:mod:`~pytest_mlsupply.engines.shell_shapes`), each beside the expression it replaces.
_SHELL_PATTERNS: list[tuple[re.Pattern[str] | Search, Severity, str]] = [
    (
        # \b(?:curl|wget|fetch)\b[^\n|;]*\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b, in one pass
        PipedInto(r"\b(?:curl|wget|fetch)\b", r"\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b", "|;\n"),
        Severity.CRITICAL,
        "downloads a script and pipes it into a shell",
    ),
    (
        AnyOf(
            re.compile(r"/dev/(?:tcp|udp)/|\bbash\s+-i\b|\bsocat\b"),
            HeadThenTail(r"\bnc(?:at)?\b", r"\s-[a-z]*e\b"),  # \bnc(?:at)?\b[^\n]*\s-[a-z]*e\b
        ),
        Severity.CRITICAL,
        "opens a reverse shell",
    ),
    (
        AnyOf(
            # \bbase64\s+(?:-d|--decode)\b[^\n]*\|\s*(?:ba|z|da)?sh\b
            HeadThenTail(r"\bbase64\s+(?:-d|--decode)\b", r"\|\s*(?:ba|z|da)?sh\b"),
            re.compile(r"\beval\s+\"?\$\("),
        ),
        Severity.CRITICAL,
        "decodes and runs a hidden payload",
    ),
    (
        re.compile(r"\bpython[0-9.]*\s+-c\s"),
        Severity.HIGH,
        "runs inline Python",
    ),
    (
        re.compile(r"\brm\s+-[a-z]*r[a-z]*f?\s+(?:/|~|\$HOME)(?:\s|$)"),
        Severity.HIGH,
        "deletes the home or root directory",
    ),
    (
        AnyOf(
            re.compile(r"\bcrontab\b|authorized_keys"),
            ProfileWrite(r"\.(?:bashrc|profile|zshrc)\b"),  # >>?\s*~?/?[^\s]*\.(?:bashrc|...)\b
        ),
        Severity.HIGH,
        "installs persistence (cron, SSH keys, shell profile)",
    ),
    (
        re.compile(r"\b(?:curl|wget)\b"),
        Severity.MEDIUM,
        "downloads from the network",
    ),
]


def identify_shebang(view: View) -> Identification | None:
    if view.head[:2] != b"#!":
        return None
    line = view.head[:200].split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    return Identification(
        Format.SHEBANG_SCRIPT,
        Family.SCRIPT,
        True,
        f"script run by {line[2:].strip()!r}",
        f"first line {line!r}",
    )


def scan_script(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    text = read_text(blob)
    if text is None:
        raise ScanError(f"script of {blob.size} bytes is too large to analyse")
    first = text.split("\n", 1)[0]
    interpreter, arguments, assignments = _shebang(first)
    effects: list[Finding] = []
    severity = Severity.HIGH
    judged = ""
    if interpreter.startswith("python"):
        effects = code_findings(text, blob.location())
        if not assignments and set(arguments) <= _PLAIN_PYTHON_OPTIONS:
            # The file itself is what runs, as it is: judge it by its effects.
            worst = max((f.severity for f in effects), default=Severity.INFO)
            severity = min(max(worst, Severity.LOW), Severity.HIGH)
            judged = f"; judged by what its Python does (worst effect: {worst.label})"
    elif interpreter in _SHELLS:
        effects = _shell_findings(blob, text)
    findings = [
        Finding(
            rule="MLS-CODE-010",
            severity=severity,
            category="code-execution",
            title="executable script shipped with the model",
            location=blob.location(line=1),
            evidence=f"interpreter line {first[:120]!r}{judged}",
            why="model artifacts are data; a script beside the weights is one command away "
            "from running with the user's privileges, and nothing about a model requires it",
            remediation="remove the script from the model artifacts, or review it and ship it "
            "as source in a separate, reviewed repository",
            cwe="CWE-506",
        )
    ]
    # "#!" opens a YAML comment: a config behind an interpreter line is still a config.
    return findings + effects + yaml_config.scan_yaml_text(blob, text)


def _shebang(first_line: str) -> tuple[str, list[str], list[str]]:
    """``#!/usr/bin/env -S PYTHONPATH=/x python3 -u`` → ``("python3", ["-u"],
    ["PYTHONPATH=/x"])``: the interpreter, its arguments, and env's variable assignments."""
    words = first_line[2:].strip().split()
    assignments: list[str] = []
    while words and (words[0].endswith("/env") or words[0].startswith("-") or "=" in words[0]):
        if "=" in words[0] and not words[0].startswith("-"):
            assignments.append(words[0])
        words = words[1:]
    if not words:
        return "", [], assignments
    return words[0].rsplit("/", 1)[-1], words[1:], assignments


_SHELL_COMMENT = re.compile(r"(?:^|(?<=[ \t;&|()]))#.*")


def _shell_findings(blob: Blob, text: str) -> list[Finding]:
    findings: list[Finding] = []
    # A shell breaks lines at \n only: str.splitlines would also cut `curl ... $(x\f) | sh` at
    # the form feed and hide the pipe from the patterns.
    for number, line in enumerate(text.split("\n"), start=1):
        if not number % CHECK_EVERY:
            checkpoint()  # a script of 10^6 lines: the scan's budgets
        # A shell comment starts at a word's first character: `i.sh#frag | bash` is no comment.
        code = _SHELL_COMMENT.sub("", line) if not line.lstrip().startswith("#!") else ""
        for pattern, severity, what in _SHELL_PATTERNS:
            if pattern.search(code):
                findings.append(
                    Finding(
                        rule="MLS-CODE-002",
                        severity=severity,
                        category="code-execution",
                        title=f"shell script {what}",
                        location=blob.location(line=number),
                        evidence=line.strip()[:200],
                        why="this is what malware droppers do; a model has no use for it",
                        remediation="do not run the script; remove it from the model artifacts",
                        cwe="CWE-78",
                    )
                )
                break  # the most severe shape on a line is enough
    return findings
