"""SARIF 2.1.0 output: findings as code-scanning alerts (GitHub, GitLab, IDE SARIF viewers).

One run, one rule per distinct rule id, one result per finding. Archive members and key paths
have no file of their own, so they travel as ``logicalLocations`` next to the physical location of
the artifact that holds them. A byte offset in the file itself is ``region.byteOffset``; an offset
inside an archive member counts from the start of the member's (extracted) bytes, not of the file,
so it is ``properties.memberByteOffset`` instead of a region that would point at the wrong bytes
of the container. Lines are ``region.startLine``, with ``region.startColumn`` where the finding
has a column (the project's code). A notebook's findings are placed on the notebook's file with
a logical location naming the cell and the cell's line in the message, but no region: the lines
of a notebook's JSON are not the cell's lines. Checks that could not
complete are tool execution notifications, and mark the invocation unsuccessful: a consumer must
never read an error as a clean scan.

The document is deterministic (same results in any order → same bytes), so it diffs cleanly and
``partialFingerprints`` let a code-scanning service track one alert across runs.

Locations resolve in the repository (:class:`SourceRoot`): a finding names its file the way the
plugin does (``<model>/<file>``, a path relative to the manifest, an absolute path), and a code
scanning service needs it relative to the repository root, whatever directory was scanned.
Every file inside the root is written relative to it with ``uriBaseId: %SRCROOT%`` (declared in
``originalUriBaseIds`` as the root's ``file:`` URI); a file outside it (a Hub snapshot in the
cache, an installed package's metadata) keeps its absolute ``file:`` URI, which no base can
shorten. The commit and repository go in ``versionControlProvenance`` when they are known.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pytest_mlsupply.printable import one_line, terminal_text
from pytest_mlsupply.results import CheckResult, Finding, RowKind, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.build_context import BuildContext
    from pytest_mlsupply.sources.inventory import Inventory

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "pytest-mlsupply"

#: SARIF has three levels for problems; ours has five severities.
LEVELS: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}

#: GitHub code scanning ranks security alerts by this 0-10 score (its own bands: >= 9.0
#: critical, >= 7.0 high, >= 4.0 medium, else low); a string, as GitHub requires.
SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}

#: The fingerprint's name carries a version, so a change of recipe cannot collide with old ones.
FINGERPRINT_KEY = "mlsupply/v1"

#: The base id relative URIs resolve against: the repository root (GitHub's and the SARIF
#: spec's conventional name for it).
SRCROOT = "%SRCROOT%"


@dataclass(frozen=True)
class SourceRoot:
    """Where the log's relative URIs start (the repository root), and how a finding's file
    name (as the checks write it) becomes a path there."""

    root: Path
    """Absolute: the repository root, or the manifest's (the scan's) directory outside git."""
    base: Path
    """Absolute: the directory plain relative names are relative to (the manifest's, or the
    directory ``mlsupply scan`` ran in)."""
    prefixes: Mapping[str, Path | None] = field(default_factory=dict)
    """A model's or dataset's name → the directory its files are in: ``<name>/<file>``; None
    for one with no local directory (a Hub dataset, a model that could not be resolved): its
    files have no place on disk the log could name, so they are logical locations only."""
    repository: str | None = None
    commit: str | None = None

    def path_of(self, file: str, *, prefixed: bool = True) -> Path | None:
        """The file a finding names, as an absolute path (None: it is on no local disk).

        ``prefixed=False`` for a name that is a plain path (the project's code files): its
        first directory is never a model's name, even when one is spelled the same."""
        name, _, rest = file.partition("/")
        if prefixed and name in self.prefixes:
            folder = self.prefixes[name]
            if folder is None:
                return None
            return folder / rest if rest else folder
        path = Path(file)
        return path if path.is_absolute() else self.base / path

    def location(self, file: str, *, prefixed: bool = True) -> dict[str, Any] | None:
        """The ``artifactLocation`` of ``file``: relative to %SRCROOT% when inside the root;
        None when the file is on no local disk."""
        path = self.path_of(file, prefixed=prefixed)
        if path is None:
            return None
        # Lexically normalised first: ``proj/../../x`` is not inside the root, and a relative
        # URI with ``..`` segments would point a code scanning service outside the repository.
        path = Path(os.path.normpath(path))
        try:
            relative = path.relative_to(self.root).as_posix()
        except ValueError:
            return {"uri": path.as_uri()}
        return {"uri": _uri(relative or "."), "uriBaseId": SRCROOT}

    def base_ids(self) -> dict[str, Any]:
        # The root's URI ends in '/': SARIF resolves relative references against it as a
        # directory (RFC 3986), so "models/x.pkl" lands inside it, not beside it.
        return {SRCROOT: {"uri": self.root.as_uri().rstrip("/") + "/"}}

    def provenance(self) -> list[dict[str, Any]]:
        if self.repository is None:
            return []
        entry: dict[str, Any] = {"repositoryUri": self.repository}
        if self.commit is not None:
            entry["revisionId"] = self.commit
        entry["mappedTo"] = {"uriBaseId": SRCROOT}
        return [entry]


def source_root(inventory: Inventory, build: BuildContext, base: Path) -> SourceRoot:
    """The :class:`SourceRoot` of a gate or scan over ``inventory``: the repository of
    ``build`` (else ``base``), with each local model's and dataset's directory as a prefix."""
    prefixes: dict[str, Path | None] = {}
    for dataset in inventory.datasets:
        prefixes[dataset.name] = None if dataset.path is None else dataset.path.resolve()
    for model in inventory.models:
        prefixes[model.decl.name] = None if model.root is None else model.root.resolve()
    base = base.resolve()
    return SourceRoot(
        root=(build.repo_root or base).resolve(),
        base=base,
        prefixes=prefixes,
        repository=build.repository,
        commit=build.commit,
    )


def render_sarif(
    results: Sequence[CheckResult],
    threshold: Severity,
    *,
    tool_version: str,
    unreadable: Sequence[str] = (),
    root: SourceRoot | None = None,
) -> str:
    """The SARIF 2.1.0 log for ``results`` as indented JSON.

    ``threshold`` is the failing severity: each result says whether it blocks
    (``properties.blocking``). ``unreadable`` names inputs that could not be opened at all
    (missing paths on the command line); they are reported like errored checks. ``root``
    places every file in the repository (without it, file names are written as the checks
    give them, relative to nothing in particular).
    """
    place = _Places(root)
    pairs = sorted(
        ((result, finding) for result in results for finding in result.findings),
        key=lambda pair: _finding_key(*pair),
    )
    rules, rule_help = _rules(finding for _, finding in pairs)
    rule_index = {rule["id"]: index for index, rule in enumerate(rules)}
    artifacts = _artifacts(results, place)
    artifact_index = {_key(a["location"]): index for index, a in enumerate(artifacts)}
    notifications = _notifications(results, unreadable, place)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": tool_version,
                "semanticVersion": tool_version,
                "rules": rules,
            }
        },
        "invocations": [
            {
                "executionSuccessful": not notifications,
                "toolExecutionNotifications": notifications,
            }
        ],
        "artifacts": artifacts,
        "results": [
            _result(result, finding, threshold, rule_index, rule_help, artifact_index, place)
            for result, finding in pairs
        ],
        "properties": {"failOn": threshold.label},
    }
    if root is not None:
        run["originalUriBaseIds"] = root.base_ids()
        provenance = root.provenance()
        if provenance:
            run["versionControlProvenance"] = provenance
    log = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
    return dumps_log(log)


#: The run's arrays written one element per line (see :func:`dumps_log`).
_LINE_ARRAYS = ("artifacts", "results")


def dumps_log(log: dict[str, Any]) -> str:
    """``log`` as JSON: indented down to each run's keys, every artifact and result on a line.

    The same document ``json.dumps(log, indent=2)`` writes, laid out otherwise: Python's
    indenting encoder is pure Python, and on a gate of 5,000 files it was most of the log's
    cost (benchmarks/sarif_speed.py), where one compact line per result goes through the C
    encoder. A line per result still diffs cleanly between two runs.
    """

    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    runs = []
    for run in log["runs"]:
        members = []
        for key, value in run.items():
            if key in _LINE_ARRAYS and value:
                items = ",\n".join(f"        {compact(item)}" for item in value)
                members.append(f"      {compact(key)}: [\n{items}\n      ]")
            else:
                members.append(f"      {compact(key)}: {compact(value)}")
        runs.append("    {\n" + ",\n".join(members) + "\n    }")
    head = ",\n".join(f"  {compact(k)}: {compact(v)}" for k, v in log.items() if k != "runs")
    return "{\n" + head + ',\n  "runs": [\n' + ",\n".join(runs) + "\n  ]\n}"


def _finding_key(result: CheckResult, finding: Finding) -> tuple[Any, ...]:
    where = finding.location
    return (
        result.subject,
        result.check,
        where.file or "",
        where.member or "",
        -1 if where.offset is None else where.offset,
        where.key_path or "",
        -1 if where.cell is None else where.cell,
        -1 if where.line is None else where.line,
        -1 if where.column is None else where.column,
        finding.rule,
        -finding.severity,
        finding.title,
        finding.evidence,
    )


def _uri(path: str) -> str:
    # A SARIF uri is a URI reference: spaces, '#' and '%' in file names must be escaped, or
    # viewers resolve the wrong file. '/' stays as the path separator. A file name that is not
    # UTF-8 (its bytes kept as surrogates by os.fsdecode) is escaped byte for byte, not a crash.
    return quote(path, safe="/", errors="surrogateescape")


class _Places:
    """Each file name's ``artifactLocation``, computed once per name."""

    def __init__(self, root: SourceRoot | None) -> None:
        self.root = root
        self._seen: dict[tuple[str, bool], dict[str, Any] | None] = {}

    def __call__(self, file: str, *, code: bool = False) -> dict[str, Any] | None:
        """``code``: a code file's name is a path from the base, never ``<model>/<file>``."""
        key = (file, code)
        if key not in self._seen:
            self._seen[key] = (
                {"uri": _uri(file)}
                if self.root is None
                else self.root.location(file, prefixed=not code)
            )
        location = self._seen[key]
        return None if location is None else dict(location)


def _physical(location: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [] if location is None else [{"physicalLocation": {"artifactLocation": location}}]


def _key(location: Mapping[str, Any]) -> tuple[str, str]:
    return location["uri"], location.get("uriBaseId", "")


def _markdown(text: str) -> str:
    """``text`` as literal Markdown: a file name or a version in a remediation must not turn
    into a link, emphasis or HTML in a code-scanning page."""
    return re.sub(r"([\\`*_{}\[\]()<>#+!|~])", r"\\\1", text)


def _cwe_tags(cwe: str | None) -> list[str]:
    """``CWE-502`` as is, and as ``external/cwe/cwe-502``, the form GitHub lists by CWE."""
    if not cwe:
        return []
    number = cwe.upper().removeprefix("CWE-")
    return [cwe, f"external/cwe/cwe-{number}"] if number.isdigit() else [cwe]


def _rules(findings: Iterable[Finding]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """One reporting descriptor per rule id, from its most severe (then first-sorted) finding;
    and each rule's remediation as its help gives it (a finding with another keeps its own)."""
    chosen: dict[str, Finding] = {}
    worst: dict[str, Severity] = {}
    for finding in findings:
        rule = finding.rule
        if rule not in chosen or finding.severity > chosen[rule].severity:
            chosen[rule] = finding
        worst[rule] = max(worst.get(rule, finding.severity), finding.severity)
    descriptors = []
    for rule_id in sorted(chosen):
        finding = chosen[rule_id] = _catalogued(chosen[rule_id])
        tags = ["security", finding.category, *_cwe_tags(finding.cwe)]
        descriptor: dict[str, Any] = {
            "id": rule_id,
            "shortDescription": {"text": finding.title},
        }
        if finding.why:
            descriptor["fullDescription"] = {"text": finding.why}
        descriptor["help"] = _help(finding)
        descriptor["defaultConfiguration"] = {"level": LEVELS[worst[rule_id]]}
        descriptor["properties"] = {
            "tags": tags,
            "security-severity": SECURITY_SEVERITY[worst[rule_id]],
        }
        descriptors.append(descriptor)
    return descriptors, {rule_id: chosen[rule_id].remediation for rule_id in chosen}


def _catalogued(finding: Finding) -> Finding:
    """``finding`` with its rule's catalogue text when the rule has one (the code checks'
    :data:`~pytest_mlsupply.engines.project_code.RULES`): a rule's title, help and CWE are the
    rule's, whichever of its findings came first."""
    from pytest_mlsupply.engines.project_code import RULES

    rule = RULES.get(finding.rule)
    if rule is None:
        return finding
    return replace(finding, title=rule.title, why=rule.why, remediation=rule.fix, cwe=rule.cwe)


def _help(finding: Finding) -> dict[str, str]:
    """What a reader of the alert does about it: the fix, with why it matters and the CWE.

    Every rule has help (GitHub shows it beside each alert); a rule whose finding names no fix
    says so rather than leaving the panel empty."""
    fix = finding.remediation or "no automatic fix: review the finding's evidence"
    text = [fix]
    markdown = [f"**Fix:** {_markdown(fix)}"]
    if finding.why:
        text.append(f"Why it matters: {finding.why}")
        markdown.append(f"**Why it matters:** {_markdown(finding.why)}")
    if finding.cwe:
        text.append(finding.cwe)
        number = finding.cwe.upper().removeprefix("CWE-")
        if number.isdigit():
            markdown.append(
                f"[{finding.cwe}](https://cwe.mitre.org/data/definitions/{number}.html)"
            )
        else:
            markdown.append(_markdown(finding.cwe))
    return {"text": "\n\n".join(text), "markdown": "\n\n".join(markdown)}


def _artifacts(results: Sequence[CheckResult], place: _Places) -> list[dict[str, Any]]:
    """Every scanned artifact file, with its sha256 when a check computed one."""
    digests: dict[str, str | None] = {}
    for result in results:
        if result.kind is not RowKind.ARTIFACT:
            continue
        digest = result.facts.get("sha256")
        if isinstance(digest, str):
            digests[result.subject] = digest
        else:
            digests.setdefault(result.subject, None)
    artifacts = []
    for subject in sorted(digests):
        location = place(subject)
        if location is None:
            continue  # on no local disk: its results name it as a logical location
        artifact: dict[str, Any] = {"location": location}
        if digests[subject]:
            artifact["hashes"] = {"sha-256": digests[subject]}
        artifacts.append(artifact)
    return artifacts


def _result(
    result: CheckResult,
    finding: Finding,
    threshold: Severity,
    rule_index: dict[str, int],
    rule_help: dict[str, str],
    artifact_index: dict[tuple[str, str], int],
    place: _Places,
) -> dict[str, Any]:
    where = finding.location
    message = f"{finding.title}: {finding.evidence}" if finding.evidence else finding.title
    if where.cell is not None:
        message += f" ({_cell_place(finding)})"
    location: dict[str, Any] = {}
    file = where.file or (result.subject if result.kind in _FILE_KINDS else None)
    artifact_location = place(file, code=result.kind is RowKind.CODE) if file else None
    if artifact_location is not None:
        if _key(artifact_location) in artifact_index:
            artifact_location["index"] = artifact_index[_key(artifact_location)]
        physical: dict[str, Any] = {"artifactLocation": artifact_location}
        region: dict[str, Any] = {}
        if where.line is not None and where.cell is None:
            region["startLine"] = where.line
            if where.column is not None:
                region["startColumn"] = where.column
        if where.offset is not None and not where.member:
            region["byteOffset"] = where.offset
        if region:
            physical["region"] = region
        location["physicalLocation"] = physical
    logical = _logical_locations(result, finding)
    if file and artifact_location is None:
        # A file on no local disk (a Hub dataset's): named, never placed on a wrong path.
        name = file.rsplit("/", 1)[-1]
        logical.insert(0, {"name": name, "fullyQualifiedName": file, "kind": "resource"})
    if logical:
        location["logicalLocations"] = logical
    properties: dict[str, Any] = {
        "severity": finding.severity.label,
        "category": finding.category,
        "check": result.check,
        # An accepted finding (the baseline file) does not fail its item.
        "blocking": finding.severity >= threshold and finding.accepted is None,
    }
    if finding.cwe:
        properties["cwe"] = finding.cwe
    if where.offset is not None and where.member:
        properties["memberByteOffset"] = where.offset
    if where.cell is not None:
        # The place inside the cell, for a viewer that can open a notebook's cell.
        properties["cell"] = where.cell
        for key, value in (("cellLine", where.line), ("cellColumn", where.column)):
            if value is not None:
                properties[key] = value
    if finding.remediation and finding.remediation != rule_help[finding.rule]:
        # The rule's help comes from one finding; a fix naming this file must not be lost.
        properties["remediation"] = finding.remediation
    sarif_result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index[finding.rule],
        "level": LEVELS[finding.severity],
        "message": {"text": terminal_text(message)},  # shown as is by code-scanning UIs
        "locations": [location] if location else [],
        "partialFingerprints": {FINGERPRINT_KEY: _fingerprint(result, finding)},
        "properties": properties,
    }
    if finding.accepted is not None:
        # Still reported (a viewer shows it as suppressed, code scanning as dismissed), with
        # who accepted it, until when and why: never dropped, never shown as open.
        sarif_result["suppressions"] = [
            {
                # SARIF's own words: a comment in the code is "inSource", the baseline file
                # "external".
                "kind": "inSource" if finding.accepted.inline else "external",
                "status": "accepted",
                "justification": finding.accepted.describe(),
            }
        ]
    return sarif_result


#: Result kinds whose subject is a local file (the others name a package or a model).
_FILE_KINDS = (RowKind.ARTIFACT, RowKind.CODE)


def _cell_place(finding: Finding) -> str:
    where = finding.location
    parts = [f"cell {where.cell}"]
    if where.line is not None:
        parts.append(f"line {where.line}")
    if where.column is not None:
        parts.append(f"column {where.column}")
    return ", ".join(parts)


def _logical_locations(result: CheckResult, finding: Finding) -> list[dict[str, Any]]:
    where = finding.location
    logical: list[dict[str, Any]] = []
    if where.cell is not None:
        # A notebook cell has no region of the notebook's file: it is named instead.
        file = where.file or result.subject
        logical.append(
            {
                "name": f"cell {where.cell}",
                "fullyQualifiedName": f"{file}:cell {where.cell}",
                "kind": "module",
            }
        )
    if result.kind not in _FILE_KINDS:
        # A dependency or a model is not a file: name it, so the result is never unplaced.
        kind = "package" if result.kind is RowKind.DEPENDENCY else "module"
        logical.append({"name": result.subject, "kind": kind})
    if where.member:
        # The member chain inside the artifact (``outer.tar/inner.pkl``): SARIF has no
        # physical location for bytes inside an archive.
        logical.append(
            {
                "name": where.member.rsplit("/", 1)[-1],
                "fullyQualifiedName": where.member,
                "kind": "resource",
            }
        )
    if where.key_path:
        logical.append({"name": where.key_path, "kind": "property"})
    return logical


def _fingerprint(result: CheckResult, finding: Finding) -> str:
    """Stable across runs for the same rule at the same place; independent of message text."""
    where = finding.location
    parts: tuple[str, ...] = (
        finding.rule,
        where.file or result.subject,
        where.member or "",
        "" if where.offset is None else str(where.offset),
        where.key_path or "",
        "" if where.line is None else str(where.line),
    )
    # Only when present, so a finding without them keeps the fingerprint it always had; two
    # calls on one line, or the same line number in two cells, are two alerts.
    if where.column is not None:
        parts += (f"column {where.column}",)
    if where.cell is not None:
        parts += (f"cell {where.cell}",)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def _notifications(
    results: Sequence[CheckResult], unreadable: Sequence[str], place: _Places
) -> list[Any]:
    notes: list[tuple[str, str, dict[str, Any]]] = []
    for path in unreadable:
        notes.append(
            (
                path,
                "",
                {
                    "level": "error",
                    "message": {"text": f"{path}: no such file or directory"},
                    "locations": _physical(place(path)),  # a path given: always local
                },
            )
        )
    for result in results:
        if result.error is None:
            continue
        note: dict[str, Any] = {
            "level": "error",
            "message": {
                "text": one_line(
                    f"{result.subject} [{result.check}] could not complete: {result.error}"
                )
            },
        }
        locations = (
            _physical(place(result.subject, code=result.kind is RowKind.CODE))
            if result.kind in _FILE_KINDS
            else []
        )
        if locations:
            note["locations"] = locations
        note["properties"] = {"check": result.check, "subject": result.subject}
        notes.append((result.subject, result.check, note))
    return [note for *_, note in sorted(notes, key=lambda n: (n[0], n[1], n[2]["message"]["text"]))]
