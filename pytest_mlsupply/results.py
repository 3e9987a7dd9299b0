"""Plain data that every layer shares: severities, findings, check results and verdicts.

Everything here serialises to builtins (``to_dict`` / ``from_dict``) because results cross
process boundaries under pytest-xdist and end up in JSON reports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from pytest_mlsupply.printable import one_line


class Severity(enum.IntEnum):
    """How bad a finding is; ordered so that ``>=`` compares against a threshold."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r}; choose one of: {choices}") from None


def shown(text: str) -> str:
    """An untrusted name (a file, a repository) as a message shows it: quoted, with control
    characters escaped, and escaped entirely when not ASCII so a look-alike letter is visible.
    Nothing a publisher puts in a name can then move the cursor, recolour or forge a line."""
    return repr(text) if text.isascii() else ascii(text)


#: Severities a user may choose as the failing threshold (``info`` would fail everything).
THRESHOLD_CHOICES = ("critical", "high", "medium", "low")
DEFAULT_THRESHOLD = Severity.HIGH


class Verdict(enum.StrEnum):
    """The outcome of one check on one subject, as shown in the matrix and the BOM."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    ERROR = "error"
    NOT_RUN = "not run"
    SKIPPED = "skipped"
    """The subject does not apply here (a dependency whose environment marker is false):
    nothing was checked, and the matrix says so rather than showing a pass."""
    ACCEPTED = "accepted"
    """Every finding that would fail or warn is accepted by the baseline file (with a reason,
    an owner and an expiry date): the cell does not fail, and its findings stay listed."""


@dataclass(frozen=True)
class Location:
    """Where a finding sits: a file, an archive member, a byte offset, a key path or a line."""

    file: str | None = None
    member: str | None = None
    offset: int | None = None
    key_path: str | None = None
    line: int | None = None
    column: int | None = None
    """1-based, as editors and SARIF count (``ast`` counts from 0): with ``line``, in source code."""
    cell: int | None = None
    """A notebook's cell number (1-based, counting every cell): ``line`` is then the cell's."""

    def describe(self) -> str:
        parts: list[str] = []
        if self.file:
            parts.append(self.file)
        if self.member:
            parts.append(f"member {self.member}")
        if self.offset is not None:
            parts.append(f"byte {self.offset}")
        if self.key_path:
            parts.append(f"key {self.key_path}")
        if self.cell is not None:
            parts.append(f"cell {self.cell}")
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        return ", ".join(parts) if parts else "(whole subject)"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Location:
        return cls(**data)


@dataclass(frozen=True)
class Acceptance:
    """Why a finding is accepted for now: one entry of the baseline file (``baseline.py``), or
    an inline suppression comment in the project's code (``# mlsupply: ignore[RULE] -- reason``),
    which has a reason and a place but neither owner nor expiry (the code's history has both)."""

    reason: str
    owner: str
    expires: str
    """ISO date (``2027-03-31``): the acceptance holds up to and including that day; empty
    for an inline suppression, which holds as long as the comment stays."""
    source: str = ""
    """Where the entry is written (``mlsupply-baseline.yaml:12``, ``src/load.py:7``), for a
    reader to find it."""

    @property
    def inline(self) -> bool:
        """Written beside the code it accepts (a suppression comment), not in the baseline."""
        return not self.expires

    def to_dict(self) -> dict[str, Any]:
        data = {"reason": self.reason, "owner": self.owner, "expires": self.expires}
        if self.source:
            data["source"] = self.source
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Acceptance:
        return cls(
            reason=data["reason"],
            owner=data["owner"],
            expires=data["expires"],
            source=data.get("source", ""),
        )

    def describe(self) -> str:
        if self.inline:
            return f"suppressed in the source ({self.source}): {self.reason}"
        return f"accepted by {self.owner} until {self.expires}: {self.reason}"


@dataclass(frozen=True)
class Finding:
    """One problem a check found, with what a person needs to act on it."""

    rule: str
    severity: Severity
    category: str
    title: str
    location: Location = field(default_factory=Location)
    evidence: str = ""
    why: str = ""
    remediation: str = ""
    cwe: str | None = None
    accepted: Acceptance | None = None
    """Set by the baseline file: the finding stands, but no longer fails or warns its cell."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "severity": self.severity.label,
            "category": self.category,
            "title": self.title,
            "location": self.location.to_dict(),
            "evidence": self.evidence,
            "why": self.why,
            "remediation": self.remediation,
        }
        if self.cwe:
            data["cwe"] = self.cwe
        if self.accepted is not None:
            data["accepted"] = self.accepted.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            rule=data["rule"],
            severity=Severity.parse(data["severity"]),
            category=data["category"],
            title=data["title"],
            location=Location.from_dict(data.get("location", {})),
            evidence=data.get("evidence", ""),
            why=data.get("why", ""),
            remediation=data.get("remediation", ""),
            cwe=data.get("cwe"),
            accepted=Acceptance.from_dict(data["accepted"]) if data.get("accepted") else None,
        )

    def render(self) -> str:
        """A multi-line, human-readable block (used in failing items and the CLI)."""
        head = f"[{self.severity.label.upper()}] {self.rule} {self.title}"
        lines = [head, f"  where: {self.location.describe()}"]
        if self.evidence:
            lines.append(f"  evidence: {self.evidence}")
        if self.why:
            lines.append(f"  why it matters: {self.why}")
        if self.remediation:
            lines.append(f"  fix: {self.remediation}")
        if self.cwe:
            lines.append(f"  {self.cwe}")
        if self.accepted is not None:
            lines.append(f"  {self.accepted.describe()}")
        # One line per field, whatever a name, a member or an artifact's string holds.
        return "\n".join(one_line(line) for line in lines)


class RowKind(enum.StrEnum):
    """The families of generated items; also the prefix of their node ids."""

    ARTIFACT = "artifact"
    DEPENDENCY = "dependency"
    PROVENANCE = "provenance"
    CODE = "code"
    """One file of the project's own code (``code: {paths: [...]}``), judged by the code checks."""
    DRIFT = "drift"
    """A model pinned to a Hub commit, compared with what the Hub publishes at that commit
    (planned only under ``--mlsupply-online``: it asks the Hub)."""


@dataclass
class CheckResult:
    """The result of running one check on one subject.

    ``facts`` carries what the check learned that reports need (a file's sha256, its detected
    format, a card's fields), so the controller never re-reads artifacts to build the BOM.
    ``error`` says the check could not run to completion; it never turns into a pass.
    """

    kind: RowKind
    subject: str
    check: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    """Why the check was not run on this subject (its dependency's marker is false here)."""

    def verdict(self, threshold: Severity) -> Verdict:
        # Findings outrank errors: a blocking finding is a failure even if the check also
        # stopped early; an error without blocking findings is never a pass. An accepted
        # finding neither fails nor warns, but it never hides an error: a check that could
        # not run is an error whatever the baseline accepts.
        if any(f.severity >= threshold and f.accepted is None for f in self.findings):
            return Verdict.FAIL
        if self.error is not None:
            return Verdict.ERROR
        if self.skipped is not None and not self.findings:
            return Verdict.SKIPPED
        if any(f.severity > Severity.INFO and f.accepted is None for f in self.findings):
            return Verdict.WARN
        if any(f.severity > Severity.INFO for f in self.findings):
            return Verdict.ACCEPTED
        return Verdict.PASS

    def blocking(self, threshold: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= threshold and f.accepted is None]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind.value,
            "subject": self.subject,
            "check": self.check,
            "findings": [f.to_dict() for f in self.findings],
            "error": self.error,
            "facts": self.facts,
        }
        if self.skipped is not None:
            data["skipped"] = self.skipped
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(
            kind=RowKind(data["kind"]),
            subject=data["subject"],
            check=data["check"],
            findings=[Finding.from_dict(f) for f in data.get("findings", [])],
            error=data.get("error"),
            facts=dict(data.get("facts", {})),
            skipped=data.get("skipped"),
        )
