"""The pass/fail matrix: subjects (files, dependencies, models) by checks, as Markdown or JSON.

Cells come from the check results; a planned cell with no result is "not run" (a crashed xdist
worker or a deselected item), never a pass. A check that does not apply to a row leaves it blank.
A passing cell whose check left a note (``facts["note"]``: a file without a sha256 pin reads
"not pinned") shows the note instead of "pass", so it never looks like a verified pin.

Both forms open with what the matrix is about (:class:`MatrixMetadata`: the project, its version,
the VCS commit, the time and the BOM's serial number) and say when the run was partial (planned
items deselected or never run): such a matrix is not the release's matrix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.printable import one_line
from pytest_mlsupply.results import CheckResult, Finding, RowKind, Severity, Verdict

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from pytest_mlsupply.baseline import BaselineOutcome
    from pytest_mlsupply.checks.unchecked import DeclaredKey
    from pytest_mlsupply.plan import PlannedItem

MATRIX_SCHEMA = "mlsupply-matrix/1"

#: Kinds in the order the matrix shows them (the order of ``PlannedItem.sort_key``).
KIND_ORDER: tuple[RowKind, ...] = (
    RowKind.ARTIFACT,
    RowKind.DEPENDENCY,
    RowKind.PROVENANCE,
    RowKind.CODE,
    RowKind.DRIFT,
)

#: Verdicts worst first: when two results claim one cell, the worse one wins, so the outcome
#: does not depend on the order results arrived in.
VERDICT_ORDER: tuple[Verdict, ...] = (
    Verdict.FAIL,
    Verdict.ERROR,
    Verdict.WARN,
    Verdict.ACCEPTED,
    Verdict.PASS,
    Verdict.SKIPPED,
    Verdict.NOT_RUN,
)

#: How many findings the Markdown lists under each failing cell.
TOP_FINDINGS = 3

_KIND_TITLES = {
    RowKind.ARTIFACT: "Artifacts",
    RowKind.DEPENDENCY: "Dependencies",
    RowKind.PROVENANCE: "Provenance",
    RowKind.CODE: "Code",
    RowKind.DRIFT: "Hub drift",
}
_ROW_HEADERS = {
    RowKind.ARTIFACT: "model file",
    RowKind.DEPENDENCY: "dependency",
    RowKind.PROVENANCE: "model",
    RowKind.CODE: "code file",
    RowKind.DRIFT: "model",
}
#: Datasets are provenance rows (their claim is ``dataset``) shown in a section of their own.
DATASETS_TITLE = "Datasets"
_DATASET_HEADER = "dataset"
#: What a passing cell with a note shows: a pass that proves less than a verified one.
NOTE_MARK = "🔓"
_VERDICT_MARKS = {
    Verdict.PASS: "✅ pass",
    Verdict.FAIL: "❌ fail",
    Verdict.WARN: "⚠️ warn",
    Verdict.ERROR: "💥 error",
    Verdict.NOT_RUN: "⏸️ not run",
    Verdict.SKIPPED: "⏭️ skipped",
    Verdict.ACCEPTED: "🔕 accepted",
}
_LEGEND = {
    Verdict.PASS: "the check ran and found nothing beyond informational notes",
    Verdict.FAIL: "the check found at least one problem at or above the threshold",
    Verdict.WARN: "the check found problems below the threshold",
    Verdict.ERROR: (
        "the check could not run to completion (unreadable file, network, crash); "
        "this is not a pass"
    ),
    Verdict.NOT_RUN: "the check was planned but no result arrived (deselected, or its worker died)",
    Verdict.SKIPPED: (
        "the dependency does not apply to this interpreter (its environment marker is false); "
        "nothing was checked"
    ),
    Verdict.ACCEPTED: (
        "the check found problems that the baseline file accepts until a date, with a reason "
        "and an owner, or that a comment in the code suppresses with a reason (listed under "
        "Accepted findings); they do not fail the cell"
    ),
}

CellKey = tuple[RowKind, str, str]
"""(kind, subject, check): one cell of the matrix."""


@dataclass(frozen=True)
class MatrixRow:
    """One subject; ``cells`` holds only the checks that apply to it (others render blank)."""

    kind: RowKind
    subject: str
    cells: dict[str, Verdict]
    notes: dict[str, str] = field(default_factory=dict)
    """Check → the note a passing cell shows instead of "pass" (``"not pinned"``)."""
    dataset: bool = False
    """A declared dataset's row (provenance kind): shown under "Datasets"."""


@dataclass(frozen=True)
class MatrixMetadata:
    """What the matrix is about and when it was made: its heading, and ``"metadata"`` in JSON."""

    project: str
    version: str | None = None
    commit: str | None = None
    dirty: bool | None = None
    repository: str | None = None
    ci_run_url: str | None = None
    timestamp: str | None = None
    """When the reports were made, ISO 8601 UTC (the BOM's ``metadata.timestamp``)."""
    bom_serial_number: str | None = None
    """The BOM written beside the matrix (``urn:uuid:...``)."""
    not_run: tuple[str, ...] = ()
    """Planned items that did not run (deselected, not selected, stopped early): the run is
    partial and the matrix says so."""

    @property
    def partial(self) -> bool:
        return bool(self.not_run)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"project": self.project}
        for key in (
            "version",
            "commit",
            "dirty",
            "repository",
            "ci_run_url",
            "timestamp",
            "bom_serial_number",
        ):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass(frozen=True)
class FailingCell:
    """A failed or errored cell with what a reader needs to act on it."""

    kind: RowKind
    subject: str
    check: str
    verdict: Verdict
    findings: tuple[Finding, ...] = ()
    """All findings of the cell, worst first."""
    error: str | None = None


@dataclass(frozen=True)
class AcceptedFinding:
    """A finding the baseline file accepts, with the cell it belongs to."""

    kind: RowKind
    subject: str
    check: str
    finding: Finding


@dataclass(frozen=True)
class Matrix:
    threshold: Severity
    columns: dict[RowKind, tuple[str, ...]]
    """The check names per kind, sorted; only kinds that have rows appear."""
    rows: dict[RowKind, tuple[MatrixRow, ...]]
    """Rows per kind, sorted by subject; keys in ``KIND_ORDER``."""
    counts: dict[Verdict, int]
    """Cells per verdict, every verdict present (zero included)."""
    failures: tuple[FailingCell, ...] = field(default=())
    declared_not_checked: tuple[DeclaredKey, ...] = field(default=())
    """Manifest keys declared that no check reads yet: shown, so they never pass in silence."""
    accepted: tuple[AcceptedFinding, ...] = field(default=())
    """Every finding the baseline accepts (in a failing cell too), in cell order."""
    baseline: BaselineOutcome | None = None
    """What the baseline file did in this run (None: the project has none)."""
    metadata: MatrixMetadata | None = None
    """The heading: project, version, commit, time, BOM serial number, partial run."""

    @property
    def failed(self) -> bool:
        return bool(self.counts[Verdict.FAIL] or self.counts[Verdict.ERROR])

    @property
    def note_counts(self) -> dict[str, int]:
        """Passing cells by the note they show instead of "pass" (``{"not pinned": 3}``)."""
        counts: dict[str, int] = {}
        for rows in self.rows.values():
            for row in rows:
                for note in row.notes.values():
                    counts[note] = counts.get(note, 0) + 1
        return dict(sorted(counts.items()))


def index_results(
    results: Iterable[CheckResult], threshold: Severity
) -> dict[CellKey, CheckResult]:
    """Results keyed by cell; of two results for one cell the worse verdict is kept."""
    rank = {verdict: position for position, verdict in enumerate(VERDICT_ORDER)}
    chosen: dict[CellKey, CheckResult] = {}
    for result in results:
        key = (result.kind, result.subject, result.check)
        held = chosen.get(key)
        if held is None:
            chosen[key] = result
            continue
        # Tie-break on the serialised form, so equal verdicts still pick the same result
        # whatever order they came in.
        new = (rank[result.verdict(threshold)], _canonical(result))
        old = (rank[held.verdict(threshold)], _canonical(held))
        if new < old:
            chosen[key] = result
    return chosen


def cell_verdicts(
    items: Sequence[PlannedItem], results: Sequence[CheckResult], threshold: Severity
) -> dict[CellKey, Verdict]:
    """Every cell's verdict: planned cells without a result are "not run".

    A result for a cell the plan does not know still gets its cell: dropping an outcome that
    was actually computed would hide it.
    """
    indexed = index_results(results, threshold)
    verdicts: dict[CellKey, Verdict] = {}
    for item in items:
        for check in item.checks:
            verdicts[(item.kind, item.subject, check)] = Verdict.NOT_RUN
    for key, result in indexed.items():
        verdicts[key] = result.verdict(threshold)
    return verdicts


def summary_counts(
    items: Sequence[PlannedItem], results: Sequence[CheckResult], threshold: Severity
) -> dict[Verdict, int]:
    """How many cells have each verdict (every verdict present, in ``Verdict`` order)."""
    return _count(cell_verdicts(items, results, threshold).values())


def describe_counts(counts: Mapping[Verdict, int]) -> str:
    """One line for humans, e.g. ``3 pass, 1 fail, 0 warn, 0 error, 1 not run``."""
    return ", ".join(f"{counts.get(verdict, 0)} {verdict.value}" for verdict in shown(counts))


def shown(counts: Mapping[Verdict, int]) -> list[Verdict]:
    """The verdicts a one-line summary names: all of them, "skipped" and "accepted" only when
    there are some (most projects have no dependency behind a false marker, and no baseline)."""
    optional = (Verdict.SKIPPED, Verdict.ACCEPTED)
    return [v for v in Verdict if v not in optional or counts.get(v, 0)]


def build_matrix(
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    declared_not_checked: Sequence[DeclaredKey] = (),
    *,
    baseline: BaselineOutcome | None = None,
    datasets: Iterable[str] = (),
    metadata: MatrixMetadata | None = None,
) -> Matrix:
    """The matrix of ``items``; ``datasets`` names the provenance rows that are datasets."""
    dataset_names = frozenset(datasets)
    indexed = index_results(results, threshold)
    verdicts = cell_verdicts(items, results, threshold)

    by_row: dict[tuple[RowKind, str], dict[str, Verdict]] = {}
    for (kind, subject, check), verdict in verdicts.items():
        by_row.setdefault((kind, subject), {})[check] = verdict

    rows: dict[RowKind, tuple[MatrixRow, ...]] = {}
    columns: dict[RowKind, tuple[str, ...]] = {}
    for kind in KIND_ORDER:
        subjects = sorted(subject for row_kind, subject in by_row if row_kind is kind)
        if not subjects:
            continue
        rows[kind] = tuple(
            MatrixRow(
                kind,
                subject,
                dict(sorted(by_row[(kind, subject)].items())),
                notes=_notes(kind, subject, by_row[(kind, subject)], indexed),
                dataset=kind is RowKind.PROVENANCE and subject in dataset_names,
            )
            for subject in subjects
        )
        columns[kind] = tuple(sorted({check for row in rows[kind] for check in row.cells}))

    failures: list[FailingCell] = []
    for kind in rows:
        for row in rows[kind]:
            for check, verdict in row.cells.items():
                if verdict not in (Verdict.FAIL, Verdict.ERROR):
                    continue
                result = indexed[(kind, row.subject, check)]
                failures.append(
                    FailingCell(
                        kind=kind,
                        subject=row.subject,
                        check=check,
                        verdict=verdict,
                        findings=tuple(sorted(result.findings, key=_finding_order)),
                        error=result.error,
                    )
                )

    accepted = tuple(
        AcceptedFinding(kind, subject, check, finding)
        for (kind, subject, check), result in sorted(
            indexed.items(), key=lambda pair: _cell_order(pair[0])
        )
        for finding in sorted(result.findings, key=_finding_order)
        if finding.accepted is not None
    )
    return Matrix(
        threshold=threshold,
        columns=columns,
        rows=rows,
        counts=_count(verdicts.values()),
        failures=tuple(failures),
        declared_not_checked=tuple(declared_not_checked),
        accepted=accepted,
        baseline=baseline,
        metadata=metadata,
    )


def _notes(
    kind: RowKind,
    subject: str,
    cells: Mapping[str, Verdict],
    indexed: Mapping[CellKey, CheckResult],
) -> dict[str, str]:
    """The notes of a row's passing cells: a check's ``facts["note"]`` (a short text)."""
    notes: dict[str, str] = {}
    for check, verdict in sorted(cells.items()):
        result = indexed.get((kind, subject, check))
        note = None if result is None else result.facts.get("note")
        if verdict is Verdict.PASS and isinstance(note, str) and note:
            notes[check] = note
    return notes


def render_markdown(matrix: Matrix) -> str:
    """GitHub-flavoured Markdown, fit for ``$GITHUB_STEP_SUMMARY`` or a PR comment."""
    lines = ["## pytest-mlsupply: supply-chain matrix", ""]
    lines += _heading(matrix.metadata)
    noted = matrix.note_counts
    counted = []
    for verdict in shown(matrix.counts):
        text = f"**{matrix.counts[verdict]}** {verdict.value}"
        if verdict is Verdict.PASS and noted:
            # A pass with a note is still counted as a pass: say how many of them prove less.
            text += " (" + ", ".join(f"{n} of them {note}" for note, n in noted.items()) + ")"
        counted.append(text)
    counts = " · ".join(counted)
    lines += [
        f"Threshold: findings of severity **{matrix.threshold.label}** or above fail their cell.",
        "",
        counts,
        "",
    ]
    if not matrix.rows:
        lines += ["No supply-chain checks were planned.", ""]
    for kind, rows in matrix.rows.items():
        models = [row for row in rows if not row.dataset]
        datasets = [row for row in rows if row.dataset]
        if models:
            lines += _table(_KIND_TITLES[kind], _ROW_HEADERS[kind], models)
        if datasets:
            lines += _table(DATASETS_TITLE, _DATASET_HEADER, datasets)

    if matrix.failures:
        lines += ["### Failing cells", ""]
        for cell in matrix.failures:
            lines.append(
                f"- {_code(cell.subject)}, check {_code(cell.check)} ({cell.kind.value}): "
                f"**{cell.verdict.value}**"
            )
            if cell.verdict is Verdict.ERROR and cell.error:
                lines.append(f"  - error: {_inline(cell.error)}")
            for finding in cell.findings[:TOP_FINDINGS]:
                # An accepted finding in a failing cell is not why it fails: say so.
                accepted = " (accepted)" if finding.accepted is not None else ""
                lines.append(
                    f"  - [{finding.severity.label.upper()}] {_code(finding.rule)} "
                    f"{_inline(finding.title)} ({_inline(finding.location.describe())}){accepted}"
                )
            hidden = len(cell.findings) - TOP_FINDINGS
            if hidden > 0:
                lines.append(f"  - … and {hidden} more")
        lines.append("")

    lines += _baseline_markdown(matrix)

    if matrix.declared_not_checked:
        lines += [
            "### Declared, not checked",
            "",
            "The manifest declares these, but no check reads them yet: they are not verified.",
            "",
        ]
        for declared in matrix.declared_not_checked:
            at = f" ({_inline(declared.where)})" if declared.where else ""
            lines.append(f"- {_code(declared.key)}{at}: {_inline(declared.meaning)}")
        lines.append("")

    lines += ["<details><summary>Legend</summary>", ""]
    lines += [f"- {_VERDICT_MARKS[verdict]}: {_LEGEND[verdict]}" for verdict in Verdict]
    lines.append(
        f"- {NOTE_MARK} not pinned: the file passed its checks but has no sha256 pin in the "
        "manifest, so nothing proves it is the file that was reviewed (counted as a pass)"
    )
    lines += ["- blank: the check does not apply to this row", "", "</details>", ""]
    return "\n".join(lines)


def _heading(metadata: MatrixMetadata | None) -> list[str]:
    """What the matrix is about, and a banner when the run was partial."""
    if metadata is None:
        return []
    project = _code(metadata.project)
    if metadata.version:
        project += f" {_code(metadata.version)}"
    if metadata.commit:
        commit = _code(metadata.commit[:12])
        if metadata.dirty:
            commit += " (with uncommitted changes)"
    else:
        commit = "unknown (not a git checkout)"
    lines = [
        f"- Project: {project}",
        f"- Commit: {commit}",
        f"- Made: {_inline(metadata.timestamp or 'unknown')}",
    ]
    if metadata.bom_serial_number:
        lines.append(f"- BOM serial number: {_code(metadata.bom_serial_number)}")
    if metadata.ci_run_url:
        lines.append(f"- CI run: {_inline(metadata.ci_run_url)}")
    lines.append("")
    if metadata.not_run:
        count = len(metadata.not_run)
        lines += [
            f"> **PARTIAL RUN**: {count} planned item{'s' if count != 1 else ''} did not run "
            "(deselected, not selected, or the run stopped early): their cells read "
            '"not run". This is not the release\'s matrix; run the whole gate for that.',
            "",
        ]
    return lines


def _table(title: str, header: str, rows: Sequence[MatrixRow]) -> list[str]:
    checks = sorted({check for row in rows for check in row.cells})
    lines = [f"### {title}", ""]
    lines.append("| " + " | ".join([header, *map(_inline, checks)]) + " |")
    lines.append("|" + "---|" * (len(checks) + 1))
    for row in rows:
        cells = [_code(row.subject)]
        for check in checks:
            verdict = row.cells.get(check)
            if verdict is None:
                cells.append("")
            elif check in row.notes:
                cells.append(f"{NOTE_MARK} {_inline(row.notes[check])}")
            else:
                cells.append(_VERDICT_MARKS[verdict])
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def render_json(matrix: Matrix, results: Sequence[CheckResult]) -> str:
    """The matrix for machines, with every finding; sorted keys, stable order, trailing newline."""
    rows = [_row_json(row) for kind_rows in matrix.rows.values() for row in kind_rows]
    findings: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for (kind, subject, check), result in sorted(
        index_results(results, matrix.threshold).items(), key=lambda pair: _cell_order(pair[0])
    ):
        where = {"kind": kind.value, "subject": subject, "check": check}
        for finding in sorted(result.findings, key=_finding_order):
            blocking = finding.severity >= matrix.threshold and finding.accepted is None
            findings.append({**where, **finding.to_dict(), "blocking": blocking})
        if result.error is not None:
            errors.append({**where, "error": result.error})
    document: dict[str, Any] = {
        "schema": MATRIX_SCHEMA,
        "threshold": matrix.threshold.label,
        "counts": {verdict.value: count for verdict, count in matrix.counts.items()},
        "columns": {kind.value: list(checks) for kind, checks in matrix.columns.items()},
        "rows": rows,
        "findings": findings,
        "errors": errors,
        "declared_not_checked": [d.to_dict() for d in matrix.declared_not_checked],
        "note_counts": matrix.note_counts,
    }
    if matrix.baseline is not None:
        document["baseline"] = matrix.baseline.to_dict()
    if matrix.metadata is not None:
        document["metadata"] = matrix.metadata.to_dict()
        document["partial"] = matrix.metadata.partial
        document["not_run_items"] = list(matrix.metadata.not_run)
    return json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _baseline_markdown(matrix: Matrix) -> list[str]:
    """The accepted findings (who accepted each, until when, why) and the baseline entries that
    matched nothing: an acceptance is never out of sight."""
    lines: list[str] = []
    if matrix.accepted:
        lines += [
            "### Accepted findings",
            "",
            "The baseline file accepts these until the date shown, or a comment in the code "
            "suppresses them with a reason; they do not fail their cell.",
            "",
        ]
        for accepted in matrix.accepted:
            finding, acceptance = accepted.finding, accepted.finding.accepted
            assert acceptance is not None
            lines.append(
                f"- {_code(accepted.subject)}, check {_code(accepted.check)} "
                f"({accepted.kind.value}): [{finding.severity.label.upper()}] "
                f"{_code(finding.rule)} {_inline(finding.title)} "
                f"({_inline(finding.location.describe())}): "
                + (
                    f"suppressed in the source ({_code(acceptance.source)}): "
                    if acceptance.inline
                    else f"accepted by {_inline(acceptance.owner)} until **{acceptance.expires}**: "
                )
                + _inline(acceptance.reason)
            )
        lines.append("")
    if matrix.baseline is not None and matrix.baseline.stale:
        lines += ["### Baseline entries that matched nothing", ""]
        lines += [
            f"- {_code(stale.source)}: {_inline(stale.description)}; remove the entry"
            for stale in matrix.baseline.stale
        ]
        lines.append("")
    return lines


def _canonical(result: CheckResult) -> str:
    return json.dumps(result.to_dict(), sort_keys=True, default=str)


def _count(verdicts: Iterable[Verdict]) -> dict[Verdict, int]:
    counts = dict.fromkeys(Verdict, 0)
    for verdict in verdicts:
        counts[verdict] += 1
    return counts


def _cells_json(cells: Mapping[str, Verdict]) -> dict[str, str]:
    return {check: verdict.value for check, verdict in cells.items()}


def _row_json(row: MatrixRow) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": row.kind.value,
        "subject": row.subject,
        "cells": _cells_json(row.cells),
    }
    if row.notes:
        data["notes"] = dict(row.notes)
    if row.dataset:
        data["dataset"] = True
    return data


def _cell_order(key: CellKey) -> tuple[int, str, str]:
    kind, subject, check = key
    return (KIND_ORDER.index(kind), subject, check)


def _finding_order(finding: Finding) -> tuple[int, str, str, str]:
    return (-finding.severity, finding.rule, finding.title, finding.location.describe())


#: Characters that start Markdown or HTML markup in a line: backslash-escaped by :func:`_inline`
#: (a backslash before ASCII punctuation is always a literal in CommonMark).
_MARKUP = frozenset("\\<>[]!`*_~&")


def _inline(text: str) -> str:
    """Text safe inside a table cell or list item: one line, pipes escaped, and the characters
    that would start a link, an image, an HTML tag, an entity or emphasis escaped (file names,
    archive members and a pickle's global names are attacker-controlled, and the matrix is
    rendered as Markdown in $GITHUB_STEP_SUMMARY and on code hosts)."""
    collapsed = one_line(" ".join(text.split()))
    return "".join(f"\\{c}" if c in _MARKUP or c == "|" else c for c in collapsed)


def _code(text: str) -> str:
    """A code span that survives backticks in the text (GFM: fence longer than any run inside).

    The text is kept as it is, spaces included (only what is not printable is escaped, and a
    pipe, which would end the table cell): a subject is the name every other report gives the
    file (:func:`~pytest_mlsupply.printable.printable`), and ``dup  x.pkl`` collapsed to
    ``dup x.pkl``, or ``tail.pkl `` stripped, would print as another file, a failing one
    hidden behind a passing one."""
    text = one_line(text).replace("|", "\\|")  # nothing inside a code span is markup
    longest = 0
    run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    # CommonMark takes one space off each end of a span that begins and ends with one: a pad
    # keeps a text's own (and a backtick at an end from joining the fence).
    spaced = text.startswith(" ") and text.endswith(" ") and text.strip(" ") != ""
    pad = " " if spaced or text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
