"""The baseline file: findings a team has accepted for now, each with a reason, an owner and an
expiry date (``mlsupply-baseline.yaml`` beside the manifest, or ``policy.baseline``).

An entry names exactly one finding: its rule id, the row (kind and subject), the check, the
finding's whole location (file, archive member, byte offset, key path, line) and the
fingerprint of what was found (:func:`fingerprint`: the finding's title and evidence). Nothing
is a pattern: an entry never accepts a different file, member, rule or check, a location that
moved is a new finding, and so is a different finding at the same place (a pickle swapped for
one that calls ``os.system`` at the same offset as the reviewed ``getattr``; a second start-up
hook beside the accepted one). Matching is equality on those fields, nothing else.

Applying the baseline (:func:`apply_baseline`) marks matched findings ``accepted``: they stay
listed everywhere (matrix, BOM, attestation) but no longer fail or warn their cell. An
acceptance past its date fails again: the finding counts, and an ``MLS-BASE-001`` finding beside
it names the owner and the date. An acceptance never turns a check that could not run (an
error) into a pass (:meth:`~pytest_mlsupply.results.CheckResult.verdict`). Application is pure
and idempotent (it first removes what an earlier application added), so an xdist worker (for its
item's outcome) and the controller (for the reports) compute the same thing from the same file.

The file is YAML read with the manifest loader's machinery: every problem names the file, line,
column, key and the fix, and all problems are reported together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pytest_mlsupply.manifest.errors import ManifestError, Problem, display_path
from pytest_mlsupply.manifest.loader import _Reader, compose_yaml
from pytest_mlsupply.results import (
    Acceptance,
    CheckResult,
    Finding,
    Location,
    RowKind,
    Severity,
    shown,
)

if TYPE_CHECKING:
    from pytest_mlsupply.manifest.model import Manifest
    from pytest_mlsupply.plan import PlannedItem

#: Looked for beside the manifest when ``policy.baseline`` does not name a file.
DEFAULT_BASELINE_NAME = "mlsupply-baseline.yaml"
BASELINE_VERSION = 1
#: What ``mlsupply baseline`` writes for a new entry's reason, owner and expiry: a baseline that
#: still holds it is refused, naming the entries, so nobody accepts a finding by accident.
PLACEHOLDER = "TODO"
#: How far ahead an acceptance may expire: a year (and a day for leap years). A longer one is
#: refused: an accepted risk is looked at again at least once a year.
MAX_DAYS_AHEAD = 366
#: The rule of the finding that says an acceptance expired (applied by this module only).
EXPIRED_RULE = "MLS-BASE-001"

_TOP_KEYS = ("version", "accepted")
_ENTRY_KEYS = (
    "rule",
    "kind",
    "subject",
    "check",
    "location",
    "fingerprint",
    "reason",
    "owner",
    "expires",
)
_REQUIRED = ("rule", "kind", "subject", "check", "fingerprint", "reason", "owner", "expires")
_FINGERPRINT_PREFIX = "sha256:"
_LOCATION_KEYS = ("file", "member", "offset", "key_path", "line", "column", "cell")
#: Location keys that hold whole numbers (the rest are text).
_NUMBER_KEYS = ("offset", "line", "column", "cell")
_EXAMPLE_ENTRY = (
    "{rule: MLS-PKL-001, kind: artifact, subject: tiny/model.pt, check: scan, "
    "location: {file: tiny/model.pt}, fingerprint: 'sha256:...', reason: ..., owner: ..., "
    "expires: 2027-01-31}"
)

MatchKey = tuple[str, RowKind, str, str, Location, str]
"""(rule, kind, subject, check, location, fingerprint): what one entry accepts."""


def fingerprint(title: str, evidence: str) -> str:
    """What a finding found, as the baseline binds an acceptance to it: ``sha256:`` and the hex
    SHA-256 of its title, a NUL and its evidence (UTF-8). The evidence names what the check saw
    (the globals a pickle imports, the files a distribution changed, the digest a file has), so
    a different finding at the same place never matches an old acceptance."""
    digest = hashlib.sha256(f"{title}\0{evidence}".encode("utf-8", "surrogatepass")).hexdigest()
    return _FINGERPRINT_PREFIX + digest


def finding_key(finding: Finding, kind: RowKind, subject: str, check: str) -> MatchKey:
    """The key an entry must have to accept ``finding`` (its acceptance mark aside)."""
    return (
        finding.rule,
        kind,
        subject,
        check,
        finding.location,
        fingerprint(finding.title, finding.evidence),
    )


@dataclass(frozen=True)
class Entry:
    rule: str
    kind: RowKind
    subject: str
    check: str
    location: Location
    fingerprint: str
    """:func:`fingerprint` of the accepted finding."""
    reason: str
    owner: str
    expires: date
    line: int
    """The entry's line in the baseline file."""

    def key(self) -> MatchKey:
        return (self.rule, self.kind, self.subject, self.check, self.location, self.fingerprint)

    def describe(self) -> str:
        return (
            f"{self.rule} on {shown(self.subject)}, {self.kind.value} check {self.check!r}, "
            f"{self.location.describe()}"
        )


@dataclass(frozen=True)
class Baseline:
    path: Path
    entries: tuple[Entry, ...]
    name: str
    """The file as reports name it: relative to the manifest's directory (the project)."""
    sha256: str
    """Of the bytes read: the attestation records which baseline was in force."""

    def source(self, entry: Entry) -> str:
        return f"{self.name}:{entry.line}"


@dataclass(frozen=True)
class StaleEntry:
    """An entry that matched no finding although its check ran to completion (or whose cell the
    gate does not plan at all): the finding is gone, and the entry should go too."""

    source: str
    description: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "entry": self.description}

    def render(self) -> str:
        return f"{self.source}: {self.description} matched no finding; remove the entry"


@dataclass(frozen=True)
class BaselineOutcome:
    """What the baseline did in one run: shown in the matrix, the summary and the attestation."""

    name: str
    sha256: str
    accepted: int
    expired: int
    stale: tuple[StaleEntry, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "sha256": self.sha256,
            "accepted": self.accepted,
            "expired": self.expired,
            "stale": [s.to_dict() for s in self.stale],
        }

    def describe(self) -> str:
        return (
            f"baseline {self.name}: {self.accepted} accepted, {self.expired} expired, "
            f"{len(self.stale)} stale (matched nothing)"
        )


def today_utc() -> date:
    """The day acceptances are judged on: UTC, so a worker and the controller agree."""
    return datetime.now(UTC).date()


def baseline_path(manifest: Manifest) -> Path | None:
    """``policy.baseline`` when declared (the loader checked it exists), else the default file
    beside the manifest when there is one."""
    if manifest.policy.baseline is not None:
        return manifest.policy.baseline
    default = manifest.path.parent / DEFAULT_BASELINE_NAME
    return default if default.is_file() else None


def load_baseline(
    path: Path, today: date, *, root: Path | None = None, lenient: bool = False
) -> Baseline:
    """Read and validate the baseline at ``path`` or raise :class:`ManifestError`.

    ``root`` (the manifest's directory) is what the reports name the file relative to.
    ``lenient`` (for ``mlsupply baseline``, which rewrites the file) accepts placeholders and
    far expiry dates, so that the entries already written are kept as they are.
    """
    try:
        # Bytes, then decoded: no newline translation, so the digest is the file's own.
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text ({exc.reason})"
        raise ManifestError(
            [
                Problem(
                    path,
                    1,
                    1,
                    "",
                    f"cannot read the baseline file: {why or exc}",
                    "save it as UTF-8, or remove policy.baseline",
                )
            ]
        ) from None
    return parse_baseline(text, path, today, root=root, lenient=lenient)


def parse_baseline(
    text: str, path: Path, today: date, *, root: Path | None = None, lenient: bool = False
) -> Baseline:
    node = compose_yaml(text, path)
    reader = _BaselineReader(path, today, lenient)
    entries = reader.baseline(node)
    if reader.problems:
        raise ManifestError(sorted(reader.problems, key=lambda p: (p.line, p.column)))
    return Baseline(
        path,
        tuple(entries),
        name=_name(path, root),
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _name(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return display_path(path)


def _int(node: yaml.Node | None) -> int | None:
    """A YAML integer scalar's value (``0x10``, ``0o17`` and ``1_000`` too, as YAML reads
    them: ``int()`` of the text raised on those); None for anything else."""
    if not (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int"):
        return None
    try:
        value = yaml.constructor.SafeConstructor().construct_yaml_int(node)
    except (ValueError, yaml.YAMLError):
        return None
    return value if isinstance(value, int) else None


class _BaselineReader(_Reader):
    """The manifest reader's primitives (mapping, string, problem) over the baseline's keys."""

    def __init__(self, path: Path, today: date, lenient: bool) -> None:
        super().__init__(path)
        self.today = today
        self.lenient = lenient

    def baseline(self, node: yaml.Node | None) -> list[Entry]:
        if node is None:
            return []  # an empty file accepts nothing
        top = self.mapping(node, "", _TOP_KEYS, "`version: 1` and an `accepted:` list")
        if top is None:
            return []
        version = top.get("version")
        if _int(version) != BASELINE_VERSION:
            self.problem(
                version if version is not None else node,
                "version",
                "missing or unsupported baseline version",
                f"write `version: {BASELINE_VERSION}` at the top",
            )
        listed = top.get("accepted")
        items = [] if listed is None else self.sequence(listed, "accepted", f"[{_EXAMPLE_ENTRY}]")
        entries: list[Entry] = []
        seen: dict[MatchKey, Entry] = {}
        for index, item in enumerate(items or ()):
            entry = self.entry_of(item, f"accepted[{index}]")
            if entry is None:
                continue
            held = seen.get(entry.key())
            if held is not None:
                self.problem(
                    item,
                    f"accepted[{index}]",
                    f"a second entry for {entry.describe()} (the first is at line {held.line})",
                    "keep one entry per finding",
                )
                continue
            seen[entry.key()] = entry
            entries.append(entry)
        return entries

    def entry_of(self, node: yaml.Node, key_path: str) -> Entry | None:
        m = self.mapping(node, key_path, _ENTRY_KEYS, _EXAMPLE_ENTRY)
        if m is None:
            return None
        missing = [key for key in _REQUIRED if key not in m]
        if missing:
            self.problem(
                node,
                key_path,
                f"missing {', '.join(missing)}",
                "an entry names its finding (rule, kind, subject, check, location, fingerprint: "
                "`mlsupply baseline` writes them) and carries reason, owner and expires",
            )
            return None
        rule = self.string(m["rule"], f"{key_path}.rule", "MLS-PKL-001")
        kind = self.choice(m["kind"], f"{key_path}.kind", tuple(k.value for k in RowKind))
        subject = self.string(m["subject"], f"{key_path}.subject", "tiny/model.pt")
        check = self.string(m["check"], f"{key_path}.check", "scan")
        location = self.location(m.get("location"), f"{key_path}.location")
        found = self.fingerprint(m["fingerprint"], f"{key_path}.fingerprint")
        reason = self.string(m["reason"], f"{key_path}.reason", "why the risk is acceptable")
        owner = self.string(m["owner"], f"{key_path}.owner", "a person or team")
        expires = self.expires(m["expires"], f"{key_path}.expires")
        if (
            rule is None
            or kind is None
            or subject is None
            or check is None
            or location is None
            or found is None
            or reason is None
            or owner is None
            or expires is None
        ):
            return None  # each already reported
        line = node.start_mark.line + 1
        unfilled = [
            key
            for key, value in (("reason", reason), ("owner", owner), ("expires", expires))
            if value == PLACEHOLDER
        ]
        if unfilled:
            if not self.lenient:
                # One problem per entry, at its line: the user fills them in one pass.
                self.problem(
                    node,
                    key_path,
                    f"{rule} on {shown(subject)}: {', '.join(unfilled)} still "
                    f"{'holds' if len(unfilled) == 1 else 'hold'} the placeholder {PLACEHOLDER!r}",
                    "write why the finding is acceptable, who owns the decision and the day it "
                    "ends (YYYY-MM-DD, at most a year ahead); or delete the entry to let the "
                    "finding fail",
                )
                return None
            expires = date.max.isoformat()  # kept as written by the writer; never applied
        if rule == EXPIRED_RULE:
            self.problem(
                m["rule"],
                f"{key_path}.rule",
                f"{EXPIRED_RULE} says an acceptance expired; it cannot itself be accepted",
                "renew the expired entry it names instead",
            )
            return None
        day = date.fromisoformat(expires)
        if not self.lenient and (day - self.today).days > MAX_DAYS_AHEAD:
            self.problem(
                m["expires"],
                f"{key_path}.expires",
                f"expires {expires} is more than {MAX_DAYS_AHEAD} days ahead of today "
                f"({self.today.isoformat()})",
                f"accept a finding for a year at most: write a date up to "
                f"{(self.today + timedelta(days=MAX_DAYS_AHEAD)).isoformat()}",
            )
            return None
        return Entry(
            rule=rule,
            kind=RowKind(kind),
            subject=subject,
            check=check,
            location=location,
            fingerprint=found,
            reason=reason,
            owner=owner,
            expires=day,
            line=line,
        )

    def fingerprint(self, node: yaml.Node, key_path: str) -> str | None:
        value = self.string(node, key_path, "sha256:<64 hex digits>")
        if value is None:
            return None
        digest = value.removeprefix(_FINGERPRINT_PREFIX)
        if (
            not value.startswith(_FINGERPRINT_PREFIX)
            or len(digest) != 64
            or digest.strip("0123456789abcdef")
        ):
            self.problem(
                node,
                key_path,
                f"{value!r} is not a finding fingerprint",
                "copy the entry's fingerprint from `mlsupply baseline` (sha256: and 64 lower-case "
                "hex digits over the finding's title and evidence); it binds the acceptance to "
                "what was found",
            )
            return None
        return value

    def location(self, node: yaml.Node | None, key_path: str) -> Location | None:
        if node is None:
            return Location()  # the finding is about the whole subject
        m = self.mapping(node, key_path, _LOCATION_KEYS, "{file: tiny/model.pt, offset: 120}")
        if m is None:
            return None
        values: dict[str, Any] = {}
        for key, value_node in m.items():
            if key in _NUMBER_KEYS:
                number = _int(value_node)
                if number is None or number < 0:
                    self.problem(
                        value_node,
                        f"{key_path}.{key}",
                        "expected a whole number",
                        f"write the finding's {key} as the matrix JSON gives it",
                    )
                    return None
                values[key] = number
            else:
                text = self.string(value_node, f"{key_path}.{key}")
                if text is None:
                    return None
                values[key] = text
        return Location(**values)

    def expires(self, node: yaml.Node, key_path: str) -> str | None:
        """An ISO date, as YAML writes it plainly (a timestamp) or quoted; or the placeholder."""
        if isinstance(node, yaml.ScalarNode) and node.tag in (
            "tag:yaml.org,2002:timestamp",
            "tag:yaml.org,2002:str",
        ):
            value = str(node.value).strip()
            if value == PLACEHOLDER:
                return value
            try:
                return date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        self.problem(
            node,
            key_path,
            f"expected a date such as 2027-01-31, got {getattr(node, 'value', node)!r}",
            "write the day the acceptance ends as YYYY-MM-DD (at most a year ahead)",
        )
        return None


def apply_baseline(
    results: Iterable[CheckResult],
    baseline: Baseline | None,
    threshold: Severity,
    today: date,
) -> list[CheckResult]:
    """The results with the baseline applied: matched findings accepted, expired acceptances
    failing again with an ``MLS-BASE-001`` finding beside them.

    Idempotent: marks and expiry findings from an earlier application are removed first, so
    applying again (the controller over a worker's results) gives the same results.
    """
    index = {entry.key(): entry for entry in baseline.entries} if baseline is not None else {}
    out: list[CheckResult] = []
    for result in results:
        if not index and not any(
            f.accepted is not None or f.rule == EXPIRED_RULE for f in result.findings
        ):
            out.append(result)  # nothing to accept and nothing to undo: the result as it is
            continue
        findings: list[Finding] = []
        for finding in result.findings:
            if finding.rule == EXPIRED_RULE:
                continue  # added by an earlier application; added again below if still due
            if finding.accepted is not None and finding.accepted.inline:
                # Suppressed by a comment in the code (with its reason): the code's own record,
                # never undone here; a baseline entry for it too adds nothing (accepted once).
                findings.append(finding)
                continue
            if finding.accepted is not None:
                finding = replace(finding, accepted=None)
            entry = index.get(finding_key(finding, result.kind, result.subject, result.check))
            if entry is None or baseline is None:
                findings.append(finding)
            elif today <= entry.expires:
                acceptance = Acceptance(
                    reason=entry.reason,
                    owner=entry.owner,
                    expires=entry.expires.isoformat(),
                    source=baseline.source(entry),
                )
                findings.append(replace(finding, accepted=acceptance))
            else:
                findings += [finding, _expired(finding, entry, baseline, threshold)]
        out.append(replace(result, findings=findings))
    return out


def _expired(finding: Finding, entry: Entry, baseline: Baseline, threshold: Severity) -> Finding:
    # At least the threshold: an expired acceptance fails its cell, even one that accepted a
    # finding below it (a decision nobody renewed is itself a problem to act on).
    return Finding(
        rule="MLS-BASE-001",
        severity=max(finding.severity, threshold),
        category="baseline",
        title=f"the acceptance of {finding.rule} expired on {entry.expires.isoformat()}",
        location=finding.location,
        evidence=(
            f"{baseline.source(entry)}: accepted by {entry.owner} until "
            f"{entry.expires.isoformat()}: {entry.reason}"
        ),
        why="an acceptance is a decision with a date; after it, the finding counts again",
        remediation=(
            f"fix the {finding.rule} finding, or renew the entry at {baseline.source(entry)} "
            f"(owner {entry.owner}) with a current reason and a new date at most a year ahead"
        ),
    )


def outcome(
    baseline: Baseline, plan: Sequence[PlannedItem], results: Sequence[CheckResult]
) -> BaselineOutcome:
    """Counts of accepted and expired findings in ``results`` (already applied), and the entries
    that matched nothing.

    An entry whose cell did not run to completion (deselected, not run, an error) is not called
    stale: its finding may just not have been looked for. One whose cell ran cleanly, or that
    names a cell the gate does not plan at all, is.
    """
    index = {entry.key(): entry for entry in baseline.entries}
    planned = {(item.kind, item.subject, check) for item in plan for check in item.checks}
    completed: set[tuple[RowKind, str, str]] = set()
    matched: set[MatchKey] = set()
    accepted = expired = 0
    for result in results:
        if result.error is None:
            completed.add((result.kind, result.subject, result.check))
        for finding in result.findings:
            if finding.rule == EXPIRED_RULE:
                expired += 1
                continue
            # The baseline's count: a finding suppressed by a comment in the code is not its doing.
            accepted += finding.accepted is not None and not finding.accepted.inline
            key = finding_key(finding, result.kind, result.subject, result.check)
            if key in index:
                matched.add(key)
    stale = tuple(
        StaleEntry(baseline.source(entry), entry.describe())
        for entry in baseline.entries
        if entry.key() not in matched
        and (
            (entry.kind, entry.subject, entry.check) in completed
            or (entry.kind, entry.subject, entry.check) not in planned
        )
    )
    return BaselineOutcome(
        name=baseline.name,
        sha256=baseline.sha256,
        accepted=accepted,
        expired=expired,
        stale=stale,
    )
