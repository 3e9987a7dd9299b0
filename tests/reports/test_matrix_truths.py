"""The matrix tells the truth at a glance: unpinned files, what it is about, datasets, partial runs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from pytest_mlsupply.checks.artifact_sha256 import run as run_sha256
from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.manifest.model import Manifest, OutputDecl, Policy
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.bom import validate_bom_json
from pytest_mlsupply.reports.matrix import (
    MatrixMetadata,
    build_matrix,
    render_json,
    render_markdown,
)
from pytest_mlsupply.reports.partial import mark_bom_partial, not_run
from pytest_mlsupply.results import CheckResult, RowKind, Severity, Verdict
from pytest_mlsupply.sources.inventory import ArtifactFile, Inventory

A, P = RowKind.ARTIFACT, RowKind.PROVENANCE
COMMIT = "0123456789abcdef0123456789abcdef01234567"
SERIAL = "urn:uuid:6f1c2a34-2b1e-4c55-9d1e-0a7b3c9d8e21"


def _sha256_result(tmp_path: Path, pinned: str | None) -> CheckResult:
    """The real sha256 check's result on a real file, pinned or not."""
    path = tmp_path / "m" / "f.bin"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"weights")
    file = ArtifactFile(model="m", relpath="f.bin", path=path, size=7, pinned_sha256=pinned)
    manifest = Manifest(
        path=tmp_path / "mlsupply.yaml",
        version=1,
        policy=Policy(),
        output=OutputDecl(bom=tmp_path / "bom.json", matrix=tmp_path / "matrix"),
        project_name="p",
    )
    context = CheckContext(
        policy=Policy(),
        inventory=Inventory(manifest=manifest, models=(), datasets=(), dependencies=()),
        contents=ContentCache(None),
    )
    outcome = run_sha256(file, context)
    return CheckResult(A, file.subject, "sha256", outcome.findings, outcome.error, outcome.facts)


def _metadata(not_run_items: tuple[str, ...] = ()) -> MatrixMetadata:
    return MatrixMetadata(
        project="review-service",
        version="1.4.0",
        commit=COMMIT,
        dirty=False,
        timestamp="2026-12-04T03:00:00+00:00",
        bom_serial_number=SERIAL,
        not_run=not_run_items,
    )


def test_an_unpinned_files_sha256_cell_reads_not_pinned_and_a_pinned_one_reads_pass(
    tmp_path: Path,
) -> None:
    unpinned = _sha256_result(tmp_path, None)
    pinned = _sha256_result(tmp_path, unpinned.facts["sha256"])
    pinned.subject = "m/g.bin"
    items = [PlannedItem(A, "m/f.bin", ("sha256",)), PlannedItem(A, "m/g.bin", ("sha256",))]

    matrix = build_matrix(items, [unpinned, pinned], Severity.HIGH)

    # Still a pass (the finding is informational), counted as one, but never shown as one.
    assert matrix.counts[Verdict.PASS] == 2
    assert matrix.note_counts == {"not pinned": 1}
    markdown = render_markdown(matrix)
    assert "| `m/f.bin` | 🔓 not pinned |" in markdown
    assert "| `m/g.bin` | ✅ pass |" in markdown
    assert "**2** pass (1 of them not pinned)" in markdown
    rows = {row["subject"]: row for row in json.loads(render_json(matrix, [unpinned]))["rows"]}
    assert rows["m/f.bin"]["cells"] == {"sha256": "pass"}
    assert rows["m/f.bin"]["notes"] == {"sha256": "not pinned"}
    assert "notes" not in rows["m/g.bin"]


def test_a_failing_cell_is_never_softened_into_a_note() -> None:
    result = CheckResult(A, "m/f.bin", "sha256", error="unreadable", facts={"note": "not pinned"})

    matrix = build_matrix([PlannedItem(A, "m/f.bin", ("sha256",))], [result], Severity.HIGH)

    assert matrix.rows[A][0].notes == {}
    assert "💥 error" in render_markdown(matrix)


def test_the_matrix_names_project_version_commit_time_and_bom_serial_in_both_forms() -> None:
    matrix = build_matrix([], [], Severity.HIGH, metadata=_metadata())

    markdown = render_markdown(matrix)
    assert "- Project: `review-service` `1.4.0`" in markdown
    assert f"- Commit: `{COMMIT[:12]}`" in markdown
    assert "- Made: 2026-12-04T03:00:00+00:00" in markdown
    assert f"- BOM serial number: `{SERIAL}`" in markdown
    assert "PARTIAL RUN" not in markdown
    document = json.loads(render_json(matrix, []))
    assert document["metadata"] == {
        "project": "review-service",
        "version": "1.4.0",
        "commit": COMMIT,
        "dirty": False,
        "timestamp": "2026-12-04T03:00:00+00:00",
        "bom_serial_number": SERIAL,
    }
    assert (document["partial"], document["not_run_items"]) == (False, [])


def test_a_project_outside_git_says_its_commit_is_unknown_rather_than_leaving_it_out() -> None:
    metadata = MatrixMetadata(project="p", timestamp="2026-12-04T03:00:00+00:00")

    markdown = render_markdown(build_matrix([], [], Severity.HIGH, metadata=metadata))

    assert "- Commit: unknown (not a git checkout)" in markdown


def test_datasets_get_their_own_section_and_their_json_rows_say_so() -> None:
    items = [
        PlannedItem(P, "sentiment", ("model-card",)),
        PlannedItem(P, "reviews", ("dataset",)),
    ]
    results = [CheckResult(P, "sentiment", "model-card"), CheckResult(P, "reviews", "dataset")]

    matrix = build_matrix(items, results, Severity.HIGH, datasets=["reviews"])

    markdown = render_markdown(matrix)
    provenance, datasets = markdown.split("### Provenance")[1].split("### Datasets")
    assert "| model | model-card |" in provenance
    assert "reviews" not in provenance
    assert "| dataset | dataset |" in datasets
    assert "| `reviews` | ✅ pass |" in datasets
    rows = {row["subject"]: row for row in json.loads(render_json(matrix, results))["rows"]}
    assert rows["reviews"]["dataset"] is True
    assert "dataset" not in rows["sentiment"]


def test_a_partial_matrix_carries_a_banner_and_lists_the_items_that_did_not_run() -> None:
    items = [PlannedItem(A, "m/f.bin", ("format",)), PlannedItem(A, "m/f.bin", ("scan",))]
    results = [CheckResult(A, "m/f.bin", "format")]
    missing = not_run(items, {"artifact[m/f.bin::format]"})

    matrix = build_matrix(items, results, Severity.HIGH, metadata=_metadata(missing))

    assert missing == ("artifact[m/f.bin::scan]",)
    assert "> **PARTIAL RUN**: 1 planned item did not run" in render_markdown(matrix)
    document = json.loads(render_json(matrix, results))
    assert document["partial"] is True
    assert document["not_run_items"] == ["artifact[m/f.bin::scan]"]
    assert document["rows"][0]["cells"]["scan"] == "not run"


def test_a_bom_marked_partial_still_validates_and_carries_the_mark_on_its_project() -> None:
    document = {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "component": {"type": "application", "name": "p", "bom-ref": "project:p"},
        },
    }

    mark_bom_partial(document, ("artifact[m/f.bin::scan]", "dependency[numpy==2.1.0]"))

    validate_bom_json(document)
    assert document["metadata"]["component"]["properties"] == [
        {"name": "mlsupply:not-run-items", "value": "2"},
        {"name": "mlsupply:partial", "value": "true"},
    ]


def test_a_full_run_leaves_the_bom_unmarked() -> None:
    document: dict[str, object] = {"metadata": {"component": {"name": "p"}}}

    mark_bom_partial(document, ())

    assert document == {"metadata": {"component": {"name": "p"}}}
