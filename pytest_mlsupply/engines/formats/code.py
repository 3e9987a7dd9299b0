"""Shebang scripts in a model directory: always a finding, and their content analysed.

A model artifact is data; an executable script shipped beside the weights is one
``./setup.sh`` away from running with the user's privileges, so its presence is reported
(MLS-CODE-010). Python scripts are then analysed with :mod:`pytest_mlsupply.engines.python_ast`;
shell scripts are searched for the shapes of download-and-run, reverse shells, encoded payloads
and persistence.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.formats import yaml_config
from pytest_mlsupply.engines.formats.text import read_text
from pytest_mlsupply.engines.identification import Family, Format, Identification
from pytest_mlsupply.engines.python_ast import code_findings
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = ["identify_shebang", "scan_script"]

_SHELLS = ("sh", "bash", "zsh", "dash", "ksh", "ash", "busybox")
#: (pattern, severity, what it is): shell shapes that have no place in a model repository.
_SHELL_PATTERNS: list[tuple[re.Pattern[str], Severity, str]] = [
    (
        re.compile(r"\b(?:curl|wget|fetch)\b[^\n|;]*\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b"),
        Severity.CRITICAL,
        "downloads a script and pipes it into a shell",
    ),
    (
        re.compile(r"/dev/(?:tcp|udp)/|\bnc(?:at)?\b[^\n]*\s-[a-z]*e\b|\bbash\s+-i\b|\bsocat\b"),
        Severity.CRITICAL,
        "opens a reverse shell",
    ),
    (
        re.compile(r"\bbase64\s+(?:-d|--decode)\b[^\n]*\|\s*(?:ba|z|da)?sh\b|\beval\s+\"?\$\("),
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
        re.compile(r"\bcrontab\b|authorized_keys|>>?\s*~?/?[^\s]*\.(?:bashrc|profile|zshrc)\b"),
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
    interpreter = _interpreter(first)
    findings = [
        Finding(
            rule="MLS-CODE-010",
            severity=Severity.HIGH,
            category="code-execution",
            title="executable script shipped with the model",
            location=blob.location(line=1),
            evidence=f"interpreter line {first[:120]!r}",
            why="model artifacts are data; a script beside the weights is one command away "
            "from running with the user's privileges, and nothing about a model requires it",
            remediation="remove the script from the model artifacts, or review it and ship it "
            "as source in a separate, reviewed repository",
            cwe="CWE-506",
        )
    ]
    if interpreter.startswith("python"):
        findings += code_findings(text, blob.location())
    elif interpreter in _SHELLS:
        findings += _shell_findings(blob, text)
    # "#!" opens a YAML comment: a config behind an interpreter line is still a config.
    findings += yaml_config.scan_yaml_text(blob, text)
    return findings


def _interpreter(first_line: str) -> str:
    """``#!/usr/bin/env -S python3 -u`` → ``python3``."""
    words = first_line[2:].strip().split()
    while words and (words[0].endswith("/env") or words[0].startswith("-")):
        words = words[1:]
    return words[0].rsplit("/", 1)[-1] if words else ""


def _shell_findings(blob: Blob, text: str) -> list[Finding]:
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = line.split("#", 1)[0] if not line.lstrip().startswith("#!") else ""
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
