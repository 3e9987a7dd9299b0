"""The lineage claim: the manifest, the model card and adapter_config.json name the same pinned
base, and an adapter binds its base's digest and its own."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from safetensors.numpy import save_file

from pytest_mlsupply.checks.provenance_lineage import identify
from pytest_mlsupply.manifest.errors import ManifestError
from pytest_mlsupply.manifest.loader import parse_manifest
from pytest_mlsupply.results import CheckResult, Severity, Verdict
from tests.conftest import Project, build_hub_cache, write_model

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline

BASE = "86b5e0934494bd15c9632b12f734a8a67f723594"
FINE_TUNE = "0123456789abcdef0123456789abcdef01234567"
OTHER = "fedcba9876543210fedcba9876543210fedcba98"
CLAIM = "provenance[tiny::lineage]"
ADAPTER_CLAIM = "provenance[adapter::lineage]"


def rules(result: CheckResult) -> list[str]:
    return sorted(f.rule for f in result.findings)


def declare(pipeline: Pipeline, lineage: str, top: str = "") -> None:
    pipeline.project.default_manifest(extra_model_keys=f"    lineage: {lineage}", top=top)


def set_card_base(pipeline: Pipeline, base: str) -> None:
    card = pipeline.model_dir / "README.md"
    card.write_text(
        card.read_text().replace("base_model: google-bert/bert-base-uncased", f"base_model: {base}")
    )


# --- the manifest and the card --------------------------------------------------------------


def test_a_model_without_lineage_or_adapter_config_makes_no_lineage_claim(
    pipeline: Pipeline,
) -> None:
    assert CLAIM not in pipeline.names()


def test_an_agreeing_chain_passes_and_records_every_ancestor(pipeline: Pipeline) -> None:
    declare(
        pipeline,
        f"{{chain: [hf://google-bert/bert-base-uncased@{BASE}, hf://acme/bert-reviews@{FINE_TUNE}]}}",
    )

    result = pipeline.result(CLAIM)

    assert result.findings == []
    assert result.error is None
    assert result.verdict(Severity.LOW) is Verdict.PASS
    ancestors = result.facts["lineage"]["ancestors"]
    assert [(a["repo"], a["revision"]) for a in ancestors] == [
        ("google-bert/bert-base-uncased", BASE),
        ("acme/bert-reviews", FINE_TUNE),
    ]


def test_a_card_naming_a_different_base_fails_saying_which_source_says_what(
    pipeline: Pipeline,
) -> None:
    declare(pipeline, f'{{base_model: "hf://FacebookAI/roberta-base@{BASE}"}}')

    result = pipeline.result(CLAIM)

    (finding,) = result.findings
    assert finding.rule == "MLS-LIN-001"
    assert finding.severity is Severity.HIGH
    assert finding.location.file == "tiny/README.md"
    assert "the model card (README.md base_model) says the base is " in finding.evidence
    assert "'google-bert/bert-base-uncased'" in finding.evidence
    assert f"'hf://FacebookAI/roberta-base@{BASE}' (the manifest (lineage.base_model))" in (
        finding.evidence
    )
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_an_unpinned_base_fails_under_require_pins(pipeline: Pipeline) -> None:
    declare(pipeline, '{base_model: "hf://google-bert/bert-base-uncased"}')

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-LIN-002"
    assert "lineage.base_model is 'hf://google-bert/bert-base-uncased'" in finding.evidence
    assert "hf://google-bert/bert-base-uncased@<commit sha>" in finding.remediation


def test_a_branch_is_not_a_pin_either_and_require_pins_false_accepts_both(
    pipeline: Pipeline,
) -> None:
    declare(pipeline, '{chain: ["hf://google-bert/bert-base-uncased@main", internal-base]}')
    # The card names the first hop: only the pins are wrong, one finding per hop.
    assert rules(pipeline.result(CLAIM)) == ["MLS-LIN-002", "MLS-LIN-002"]

    declare(
        pipeline,
        '{chain: ["hf://google-bert/bert-base-uncased@main", internal-base]}',
        top="policy: {require_pins: false}",
    )
    assert pipeline.result(CLAIM).findings == []


def test_a_hop_pinned_by_sha256_is_pinned_without_a_hub_commit(pipeline: Pipeline) -> None:
    pin = "sha256:" + "ab" * 32
    declare(
        pipeline,
        f'{{chain: ["hf://google-bert/bert-base-uncased@{BASE}", {{ref: s3://acme/ft, sha256: "{pin}"}}]}}',
    )

    result = pipeline.result(CLAIM)

    assert result.findings == []
    assert result.facts["lineage"]["ancestors"][1]["sha256"] == "ab" * 32


def test_a_card_base_given_as_a_list_must_be_all_in_the_chain(pipeline: Pipeline) -> None:
    set_card_base(pipeline, "[google-bert/bert-base-uncased, acme/bert-reviews]")
    declare(
        pipeline,
        f"{{chain: [hf://google-bert/bert-base-uncased@{BASE}, hf://acme/bert-reviews@{FINE_TUNE}]}}",
    )
    assert pipeline.result(CLAIM).findings == []

    set_card_base(pipeline, "[google-bert/bert-base-uncased, acme/bert-reviews-v2]")
    # (the replacement above only matched the original line: write the list afresh)
    card = pipeline.model_dir / "README.md"
    card.write_text(
        card.read_text().replace(
            "base_model: [google-bert/bert-base-uncased, acme/bert-reviews]",
            "base_model: [google-bert/bert-base-uncased, acme/bert-reviews-v2]",
        )
    )
    (finding,) = pipeline.result(CLAIM).findings
    assert finding.rule == "MLS-LIN-001"
    assert "'acme/bert-reviews-v2'" in finding.evidence


@pytest.mark.parametrize(
    "spelling",
    [
        "Google-BERT/BERT-Base-Uncased",
        "hf://google-bert/bert-base-uncased",
        "https://huggingface.co/google-bert/bert-base-uncased",
        f"https://huggingface.co/google-bert/bert-base-uncased/tree/{BASE}",
        "https://hf.co/google-bert/bert-base-uncased/",
    ],
)
def test_spellings_of_the_same_repository_agree(pipeline: Pipeline, spelling: str) -> None:
    set_card_base(pipeline, f'"{spelling}"')
    declare(pipeline, f'{{base_model: "hf://google-bert/bert-base-uncased@{BASE}"}}')

    assert pipeline.result(CLAIM).findings == []


@pytest.mark.parametrize(
    ("lookalike", "shown"),
    [
        ("google-bert/bert-base-uncased-v2", "'google-bert/bert-base-uncased-v2'"),
        ("google-bert/bert-base-uncase", "'google-bert/bert-base-uncase'"),
        ("google/bert-base-uncased", "'google/bert-base-uncased'"),
        # CYRILLIC SMALL LETTER A for the first "a": escaped, so the reader sees it.
        ("google-bert/bert-b\u0430se-uncased", "'google-bert/bert-b\\u0430se-uncased'"),
        (f"https://huggingface.co/google-bert/bert-base-uncased/tree/{OTHER}", OTHER),
    ],
)
def test_look_alike_repositories_and_other_revisions_disagree(
    pipeline: Pipeline, lookalike: str, shown: str
) -> None:
    set_card_base(pipeline, f'"{lookalike}"')
    declare(pipeline, f'{{base_model: "hf://google-bert/bert-base-uncased@{BASE}"}}')

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-LIN-001"
    assert shown in finding.evidence


def test_two_different_revisions_in_one_source_never_match_either() -> None:
    both = identify(f"https://huggingface.co/org/name/tree/{BASE}", revision=OTHER)
    assert both.revision_conflict(identify(f"hf://org/name@{BASE}"))
    assert both.revision_conflict(identify(f"hf://org/name@{OTHER}"))
    assert not both.pinned


def test_identity_ignores_case_and_spelling_but_never_maps_non_ascii_letters() -> None:
    same = identify("https://huggingface.co/Org/Name")
    assert same.repo == identify("hf://org/name@main").repo == identify("ORG/NAME").repo
    assert identify("org/n\u0430me").repo is None  # not a Hub id at all: compared as text
    assert not identify("org/n\u0430me").same_repository(identify("org/name"))


def test_an_unreadable_card_makes_the_claim_error_not_pass(pipeline: Pipeline) -> None:
    (pipeline.model_dir / "README.md").write_text("---\nbase_model: [unclosed\n---\n")
    declare(pipeline, f'{{base_model: "hf://google-bert/bert-base-uncased@{BASE}"}}')

    result = pipeline.result(CLAIM)

    assert result.error is not None
    assert "cannot read the model card README.md" in result.error
    assert result.verdict(Severity.HIGH) is Verdict.ERROR


def test_an_unreadable_card_does_not_hide_what_the_other_sources_show(
    pipeline: Pipeline,
) -> None:
    (pipeline.model_dir / "README.md").write_text("---\nbase_model: [unclosed\n---\n")
    declare(pipeline, '{base_model: "hf://google-bert/bert-base-uncased"}')

    result = pipeline.result(CLAIM)

    assert rules(result) == ["MLS-LIN-002"]
    assert result.error is not None
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


# --- adapters ---------------------------------------------------------------------------------


def sha256_pin(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def base_snapshot(empty_hub_cache: Path, tmp_path: Path) -> Path:
    """google-bert/bert-base-uncased@BASE in the Hub cache: the adapter's base."""
    release = write_model(tmp_path / "bert-release", seed=7)
    files = {p.name: p.read_bytes() for p in sorted(release.iterdir())}
    return build_hub_cache(empty_hub_cache, "google-bert/bert-base-uncased", BASE, files)


def write_adapter(directory: Path, config: str | None = None) -> Path:
    """A PEFT LoRA adapter as PEFT saves it: adapter_config.json, adapter weights, a card."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    save_file(
        {
            "base_model.model.encoder.layer.0.attention.self.query.lora_A.weight": rng.standard_normal(
                (2, 4)
            ).astype(np.float32),
            "base_model.model.encoder.layer.0.attention.self.query.lora_B.weight": np.zeros(
                (4, 2), dtype=np.float32
            ),
        },
        str(directory / "adapter_model.safetensors"),
    )
    if config is None:
        config = json.dumps(
            {
                "peft_type": "LORA",
                "base_model_name_or_path": "google-bert/bert-base-uncased",
                "revision": None,
                "r": 2,
                "target_modules": ["query"],
            }
        )
    (directory / "adapter_config.json").write_text(config)
    (directory / "README.md").write_text(
        "---\nbase_model: google-bert/bert-base-uncased\nlibrary_name: peft\n---\n# adapter\n"
    )
    return directory


def declare_adapter(
    pipeline: Pipeline, lineage: str | None, *, pin_adapter: bool = True, base: bool = True
) -> None:
    adapter = pipeline.project.root / "models" / "adapter"
    files = (
        f'    files: {{adapter_model.safetensors: "{sha256_pin(adapter / "adapter_model.safetensors")}"}}\n'
        if pin_adapter
        else ""
    )
    base_model = f"  - name: bert\n    source: hf://google-bert/bert-base-uncased@{BASE}\n"
    text = (
        "version: 1\nmodels:\n"
        + (base_model if base else "")
        + "  - name: adapter\n    path: models/adapter\n"
        + files
        + (f"    lineage: {lineage}\n" if lineage is not None else "")
    )
    (pipeline.project.root / "mlsupply.yaml").write_text(text)


def bound(snapshot: Path) -> str:
    pins = ", ".join(
        f'{p.name}: "{sha256_pin(p)}"' for p in sorted(snapshot.iterdir()) if p.name != "README.md"
    )
    return (
        f'{{base_model: {{ref: "hf://google-bert/bert-base-uncased@{BASE}", files: {{{pins}}}}}}}'
    )


def test_an_adapter_bound_to_its_declared_bases_digests_passes(
    pipeline: Pipeline, base_snapshot: Path
) -> None:
    write_adapter(pipeline.project.root / "models" / "adapter")
    declare_adapter(pipeline, bound(base_snapshot))

    result = pipeline.result(ADAPTER_CLAIM)

    assert result.findings == []
    assert result.error is None
    (ancestor,) = result.facts["lineage"]["ancestors"]
    assert ancestor["files"]["model.safetensors"] == sha256_pin(
        base_snapshot / "model.safetensors"
    ).removeprefix("sha256:")


def test_an_adapter_whose_base_digest_differs_fails_naming_the_file(
    pipeline: Pipeline, base_snapshot: Path, tmp_path: Path
) -> None:
    write_adapter(pipeline.project.root / "models" / "adapter")
    # Bound to other weights than the base this project ships (a re-upload, a quantised copy).
    other = write_model(tmp_path / "other-weights", seed=99) / "model.safetensors"
    declare_adapter(
        pipeline,
        f'{{base_model: {{ref: "hf://google-bert/bert-base-uncased@{BASE}", '
        f'files: {{model.safetensors: "{sha256_pin(other)}"}}}}}}',
    )

    (finding,) = pipeline.result(ADAPTER_CLAIM).findings

    assert finding.rule == "MLS-LIN-003"
    assert finding.severity is Severity.CRITICAL
    assert finding.evidence == (
        f"model.safetensors: bound {sha256_pin(other)}, models[bert] has "
        f"{sha256_pin(base_snapshot / 'model.safetensors')}"
    )


def test_a_base_only_in_the_local_hub_cache_is_compared_there(
    pipeline: Pipeline, base_snapshot: Path, tmp_path: Path
) -> None:
    write_adapter(pipeline.project.root / "models" / "adapter")
    declare_adapter(pipeline, bound(base_snapshot), base=False)

    result = pipeline.result(ADAPTER_CLAIM)
    assert result.findings == []
    assert result.facts["lineage"]["base_digest"] == (
        f"the local Hub cache of google-bert/bert-base-uncased@{BASE}"
    )

    other = write_model(tmp_path / "other-weights", seed=99) / "model.safetensors"
    declare_adapter(
        pipeline,
        f'{{base_model: {{ref: "hf://google-bert/bert-base-uncased@{BASE}", '
        f'files: {{model.safetensors: "{sha256_pin(other)}", pytorch_model.bin: "{sha256_pin(other)}"}}}}}}',
        base=False,
    )
    (finding,) = pipeline.result(ADAPTER_CLAIM).findings
    assert finding.rule == "MLS-LIN-003"
    # A file the cache does not hold was not downloaded, not proven absent: only the
    # differing one is reported.
    assert finding.evidence == (
        f"model.safetensors: bound {sha256_pin(other)}, the local Hub cache of "
        f"google-bert/bert-base-uncased@{BASE} has {sha256_pin(base_snapshot / 'model.safetensors')}"
    )


def test_a_base_absent_from_this_machine_is_recorded_as_bound_but_not_compared(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    write_adapter(pipeline.project.root / "models" / "adapter")
    pin = "sha256:" + "cd" * 32
    declare_adapter(
        pipeline,
        f'{{base_model: {{ref: "hf://google-bert/bert-base-uncased@{BASE}", '
        f'files: {{model.safetensors: "{pin}"}}}}}}',
        base=False,
    )

    result = pipeline.result(ADAPTER_CLAIM)

    assert result.findings == []
    assert result.facts["lineage"]["base_digest"].startswith("declared, not compared")


def test_a_base_in_a_local_directory_is_compared_with_its_files(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    base = write_model(pipeline.project.root / "models" / "base", seed=5)
    write_adapter(
        pipeline.project.root / "models" / "adapter",
        json.dumps({"base_model_name_or_path": "./models/base"}),
    )
    (pipeline.project.root / "models" / "adapter" / "README.md").write_text("# adapter\n")
    weights = sha256_pin(base / "model.safetensors")
    declare_adapter(
        pipeline,
        f'{{base_model: {{ref: models/base, files: {{model.safetensors: "{weights}"}}}}}}',
        base=False,
    )
    result = pipeline.result(ADAPTER_CLAIM)
    assert result.findings == []
    assert result.facts["lineage"]["base_digest"] == "the directory models/base"

    (base / "model.safetensors").unlink()
    (finding,) = pipeline.result(ADAPTER_CLAIM).findings
    assert finding.rule == "MLS-LIN-003"
    assert finding.evidence == (
        f"model.safetensors: bound {weights}, not in the directory models/base"
    )


def test_a_lone_sha256_binding_must_match_one_of_the_bases_files(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    base = write_model(pipeline.project.root / "models" / "base", seed=5)
    write_adapter(
        pipeline.project.root / "models" / "adapter",
        json.dumps({"base_model_name_or_path": "models/base/"}),
    )
    (pipeline.project.root / "models" / "adapter" / "README.md").write_text("# adapter\n")
    weights = sha256_pin(base / "model.safetensors")
    declare_adapter(
        pipeline, f'{{base_model: {{ref: models/base, sha256: "{weights}"}}}}', base=False
    )
    assert pipeline.result(ADAPTER_CLAIM).findings == []

    wrong = "sha256:" + "cd" * 32
    declare_adapter(
        pipeline, f'{{base_model: {{ref: models/base, sha256: "{wrong}"}}}}', base=False
    )
    finding, unbound = pipeline.result(ADAPTER_CLAIM).findings
    assert finding.rule == "MLS-LIN-003"
    assert finding.evidence == f"sha256 {wrong} matches no file of the directory models/base"
    # Matching no file, it binds none of the base's weights either.
    assert unbound.rule == "MLS-LIN-004"
    assert unbound.evidence.endswith("left unbound: model.safetensors")


def test_an_adapter_bound_to_a_file_its_base_lacks_fails(
    pipeline: Pipeline, base_snapshot: Path
) -> None:
    write_adapter(pipeline.project.root / "models" / "adapter")
    pin = "sha256:" + "cd" * 32
    declare_adapter(
        pipeline,
        f'{{base_model: {{ref: "hf://google-bert/bert-base-uncased@{BASE}", '
        f'files: {{pytorch_model.bin: "{pin}"}}}}}}',
    )

    finding, unbound = pipeline.result(ADAPTER_CLAIM).findings

    assert finding.rule == "MLS-LIN-003"
    assert unbound.rule == "MLS-LIN-004"  # and the base's real weights are left unbound
    assert "pytorch_model.bin: bound" in finding.evidence
    assert "not in models[bert]" in finding.evidence


def test_an_adapter_without_a_bound_base_digest_fails(
    pipeline: Pipeline, base_snapshot: Path
) -> None:
    write_adapter(pipeline.project.root / "models" / "adapter")
    declare_adapter(pipeline, f'{{base_model: "hf://google-bert/bert-base-uncased@{BASE}"}}')

    assert rules(pipeline.result(ADAPTER_CLAIM)) == ["MLS-LIN-004"]


def test_an_adapter_without_lineage_is_claimed_and_fails_for_its_unbound_unpinned_base(
    pipeline: Pipeline, base_snapshot: Path
) -> None:
    write_adapter(pipeline.project.root / "models" / "adapter")
    declare_adapter(pipeline, None)

    result = pipeline.result(ADAPTER_CLAIM)

    assert rules(result) == ["MLS-LIN-002", "MLS-LIN-004"]
    assert result.facts["lineage"]["adapter_base"] == "google-bert/bert-base-uncased"


def test_an_adapter_whose_own_weights_are_not_pinned_fails(
    pipeline: Pipeline, base_snapshot: Path
) -> None:
    write_adapter(pipeline.project.root / "models" / "adapter")
    declare_adapter(pipeline, bound(base_snapshot), pin_adapter=False)

    (finding,) = pipeline.result(ADAPTER_CLAIM).findings

    assert finding.rule == "MLS-LIN-005"
    assert "adapter_model.safetensors" in finding.evidence


def test_an_adapter_config_naming_another_base_or_revision_disagrees(
    pipeline: Pipeline, base_snapshot: Path
) -> None:
    adapter = pipeline.project.root / "models" / "adapter"
    write_adapter(
        adapter,
        json.dumps({"base_model_name_or_path": "google-bert/bert-base-uncased", "revision": OTHER}),
    )
    declare_adapter(pipeline, bound(base_snapshot))

    (finding,) = pipeline.result(ADAPTER_CLAIM).findings

    assert finding.rule == "MLS-LIN-001"
    assert finding.location.file == "adapter/adapter_config.json"
    assert (
        f"adapter_config.json (base_model_name_or_path, revision) says "
        f"'google-bert/bert-base-uncased' at revision {OTHER}" in finding.evidence
    )


@pytest.mark.parametrize(
    ("config", "cause"),
    [
        (
            '{"base_model_name_or_path": "google-bert/bert-base-uncased", '
            '"base_model_name_or_path": "evil/bert-base-uncased"}',
            "duplicate key 'base_model_name_or_path'",
        ),
        ('{"base_model_name_or_path": "google-bert/bert-base-uncased",', "not valid JSON"),
        ('{"r": 8}', "base_model_name_or_path is missing"),
        ('["google-bert/bert-base-uncased"]', "not a JSON object"),
        ('{"base_model_name_or_path": "x/y", "lora_alpha": NaN}', "NaN is not JSON"),
    ],
)
def test_a_malformed_adapter_config_is_a_finding_naming_the_cause(
    pipeline: Pipeline, base_snapshot: Path, config: str, cause: str
) -> None:
    write_adapter(pipeline.project.root / "models" / "adapter", config)
    declare_adapter(pipeline, bound(base_snapshot))

    result = pipeline.result(ADAPTER_CLAIM)

    assert "MLS-LIN-006" in rules(result)
    (finding,) = [f for f in result.findings if f.rule == "MLS-LIN-006"]
    assert cause in finding.evidence


# --- the manifest's keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lineage", "key", "message"),
    [
        (
            f"{{base_model: hf://a/b@{BASE}, chain: [hf://a/b@{BASE}]}}",
            "models[0].lineage",
            "declare either `base_model:` or `chain:`, not both",
        ),
        ("{chain: []}", "models[0].lineage.chain", "the chain is empty"),
        ("{}", "models[0].lineage", "the lineage names no ancestor"),
        (
            f"{{base_model: hf-datasets://acme/reviews@{BASE}}}",
            "models[0].lineage.base_model",
            "is not a model reference on the Hub",
        ),
        (
            "{chain: [{ref: acme/base, sha256: abc}]}",
            "models[0].lineage.chain[0].sha256",
            "'abc' is not a sha256 pin",
        ),
        ("{chain: [{sha256: abc}]}", "models[0].lineage.chain[0].ref", "missing ref"),
        (
            "{base_model: {ref: x, size: 3}}",
            "models[0].lineage.base_model.size",
            "unknown key 'size'",
        ),
    ],
)
def test_bad_lineage_declarations_are_manifest_errors_naming_the_key(
    tmp_path: Path, lineage: str, key: str, message: str
) -> None:
    (tmp_path / "m").mkdir()
    text = f"version: 1\nmodels:\n  - name: m\n    path: m\n    lineage: {lineage}\n"

    with pytest.raises(ManifestError) as info:
        parse_manifest(text, tmp_path / "mlsupply.yaml")

    problems = [(p.key_path, p.message) for p in info.value.problems]
    assert any(k == key and message in m for k, m in problems), problems
    assert all(p.line == 5 for p in info.value.problems)


# --- end to end: pytest --mlsupply and the ML-BOM -------------------------------------------


def adapter_project(project: Project, card_base: str = "google-bert/bert-base-uncased") -> None:
    """An adapter for acme/bert-reviews (a fine-tune of google-bert/bert-base-uncased)."""
    adapter = write_adapter(
        project.root / "models" / "adapter",
        json.dumps({"peft_type": "LORA", "base_model_name_or_path": "acme/bert-reviews"}),
    )
    (adapter / "README.md").write_text(f"---\nbase_model: {card_base}\n---\n# adapter\n")
    fine_tune = sha256_pin(project.model_dir / "model.safetensors")
    project.manifest(
        f"""\
        version: 1
        project: {{name: tiny-service, version: 1.2.3}}
        models:
          - name: adapter
            path: models/adapter
            files: {{adapter_model.safetensors: "{sha256_pin(adapter / "adapter_model.safetensors")}"}}
            lineage:
              chain:
                - hf://google-bert/bert-base-uncased@{BASE}
                - ref: hf://acme/bert-reviews@{FINE_TUNE}
                  files: {{model.safetensors: "{fine_tune}"}}
        output: {{bom: build/ml-bom.cdx.json, bom_xml: build/ml-bom.cdx.xml}}
        """
    )


def test_end_to_end_an_agreeing_adapter_chain_passes_and_becomes_nested_pedigree(
    pytester: pytest.Pytester, project: Project, empty_hub_cache: Path
) -> None:
    adapter_project(project)

    result = pytester.runpytest("--mlsupply", "mlsupply.yaml", "-v")

    result.stdout.fnmatch_lines(["*mlsupply.yaml::provenance[[]adapter::lineage[]] PASSED*"])
    assert result.ret == 0
    # The XML form is validated against the CycloneDX 1.6 XSD as it is written.
    assert (project.root / "build" / "ml-bom.cdx.xml").is_file()
    text = (project.root / "build" / "ml-bom.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    (model,) = [c for c in json.loads(text)["components"] if c.get("bom-ref") == "model:adapter"]
    (parent,) = model["pedigree"]["ancestors"]
    assert parent["purl"] == f"pkg:huggingface/acme/bert-reviews@{FINE_TUNE}"
    assert parent["components"] == [
        {
            "type": "file",
            "name": "model.safetensors",
            "hashes": [
                {
                    "alg": "SHA-256",
                    "content": sha256_pin(project.model_dir / "model.safetensors").removeprefix(
                        "sha256:"
                    ),
                }
            ],
        }
    ]
    (base,) = parent["pedigree"]["ancestors"]
    assert base["purl"] == f"pkg:huggingface/google-bert/bert-base-uncased@{BASE}"
    assert "pedigree" not in base


def test_end_to_end_a_card_naming_another_base_fails_the_session(
    pytester: pytest.Pytester, project: Project, empty_hub_cache: Path
) -> None:
    adapter_project(project, card_base="meta-llama/Llama-3.1-8B")

    result = pytester.runpytest("--mlsupply", "mlsupply.yaml", "-v")

    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*mlsupply.yaml::provenance[[]adapter::lineage[]] FAILED*",
            "*MLS-LIN-001*sources disagree on the base model*",
        ]
    )
