"""Adversarial review of the lineage claim: each test is a way a lineage item passed while its
sources disagreed or its base was not bound, and must now fail (or error)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_mlsupply.results import Severity, Verdict
from tests.checks.test_provenance_lineage import (
    ADAPTER_CLAIM,
    BASE,
    CLAIM,
    base_snapshot,
    declare,
    declare_adapter,
    rules,
    sha256_pin,
    write_adapter,
)
from tests.conftest import build_hub_cache, write_model

__all__ = ["base_snapshot"]  # the fixture, shared with the lineage tests

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline

AGREED = f'{{base_model: "hf://google-bert/bert-base-uncased@{BASE}"}}'


# --- the card is read as the Hub's own library reads it ---------------------------------------


@pytest.mark.parametrize(
    "card",
    [
        # huggingface_hub's ModelCard finds front matter after leading blank lines.
        "\n\n---\nbase_model: acme/evil-base\n---\n# tiny\n",
        # An indented '---' does not close the front matter for huggingface_hub: the
        # base_model after it is the one the Hub library reports (a duplicate key, last wins).
        "---\nbase_model: google-bert/bert-base-uncased\n  ---\nbase_model: acme/evil-base\n---\n",
        # A UTF-8 byte order mark before the front matter (an editor on Windows).
        "\ufeff---\nbase_model: acme/evil-base\n---\n# tiny\n",
    ],
)
def test_a_card_base_hidden_from_the_gate_by_front_matter_delimiters_still_disagrees(
    pipeline: Pipeline, card: str
) -> None:
    (pipeline.model_dir / "README.md").write_text(card, encoding="utf-8")
    declare(pipeline, AGREED)

    result = pipeline.result(CLAIM)

    assert result.verdict(Severity.HIGH) is not Verdict.PASS
    assert rules(result) == ["MLS-LIN-001"]
    assert "'acme/evil-base'" in result.findings[0].evidence


# --- an adapter's base binding must cover the base's weights ----------------------------------


def bind(files: dict[str, str]) -> str:
    pins = ", ".join(f'{name}: "{pin}"' for name, pin in files.items())
    return (
        f'{{base_model: {{ref: "hf://google-bert/bert-base-uncased@{BASE}", files: {{{pins}}}}}}}'
    )


def test_an_adapter_binding_only_its_bases_config_does_not_bind_the_base(
    pipeline: Pipeline, base_snapshot: Path
) -> None:
    # The base's weights can be swapped for anything: only config.json is bound.
    write_adapter(pipeline.project.root / "models" / "adapter")
    declare_adapter(pipeline, bind({"config.json": sha256_pin(base_snapshot / "config.json")}))

    result = pipeline.result(ADAPTER_CLAIM)

    assert rules(result) == ["MLS-LIN-004"]
    assert "model.safetensors" in result.findings[0].evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_an_adapter_binding_no_weights_file_of_a_base_not_on_this_machine_fails(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    write_adapter(pipeline.project.root / "models" / "adapter")
    declare_adapter(pipeline, bind({"config.json": "sha256:" + "cd" * 32}), base=False)

    assert rules(pipeline.result(ADAPTER_CLAIM)) == ["MLS-LIN-004"]


def test_a_lone_sha256_matching_the_bases_config_does_not_bind_its_weights(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    base = write_model(pipeline.project.root / "models" / "base", seed=5)
    write_adapter(
        pipeline.project.root / "models" / "adapter",
        json.dumps({"base_model_name_or_path": "models/base"}),
    )
    (pipeline.project.root / "models" / "adapter" / "README.md").write_text("# adapter\n")
    declare_adapter(
        pipeline,
        f'{{base_model: {{ref: models/base, sha256: "{sha256_pin(base / "config.json")}"}}}}',
        base=False,
    )

    result = pipeline.result(ADAPTER_CLAIM)

    assert rules(result) == ["MLS-LIN-004"]
    assert "model.safetensors" in result.findings[0].evidence


def test_an_adapter_binding_one_of_two_base_weights_files_leaves_the_other_unbound(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    base = write_model(pipeline.project.root / "models" / "base", seed=5)
    (base / "pytorch_model.bin").write_bytes(b"swapped weights nobody bound")
    write_adapter(
        pipeline.project.root / "models" / "adapter",
        json.dumps({"base_model_name_or_path": "models/base"}),
    )
    (pipeline.project.root / "models" / "adapter" / "README.md").write_text("# adapter\n")
    declare_adapter(
        pipeline,
        f'{{base_model: {{ref: models/base, files: {{model.safetensors: "{sha256_pin(base / "model.safetensors")}"}}}}}}',
        base=False,
    )

    result = pipeline.result(ADAPTER_CLAIM)

    assert rules(result) == ["MLS-LIN-004"]
    assert "pytorch_model.bin" in result.findings[0].evidence


# --- the licence claim inherits over the hops the lineage claim sees ---------------------------


def licence_manifest(pipeline: Pipeline, adapter_lineage: str) -> None:
    root = pipeline.project.root
    for name in ("base", "finetune", "adapter"):
        directory = root / "models" / name
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text("{}")
    (root / "mlsupply.yaml").write_text(
        "version: 1\nproject: {name: licences}\n"
        "policy:\n  licenses: {deny_restrictions: [non-commercial]}\n"
        "models:\n"
        "  - name: base\n    path: models/base\n    license: cc-by-nc-4.0\n"
        "  - name: finetune\n    path: models/finetune\n    license: apache-2.0\n"
        "  - name: adapter\n    path: models/adapter\n    license: mit\n" + adapter_lineage
    )


def test_an_adapter_inherits_the_licence_of_the_base_its_adapter_config_names(
    pipeline: Pipeline,
) -> None:
    # No `lineage:`: the lineage claim takes the base from adapter_config.json, so must the
    # licence claim.
    licence_manifest(pipeline, "")
    (pipeline.project.root / "models" / "adapter" / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "base_model_name_or_path": "base"})
    )

    result = pipeline.result("provenance[adapter::license]")

    assert [f.rule for f in result.findings] == ["MLS-LIC-006"]
    assert result.facts["license"]["restrictions"]["non-commercial"] == [
        "CC-BY-NC-4.0 of model base"
    ]


def test_a_restriction_is_inherited_from_every_hop_of_a_declared_chain(
    pipeline: Pipeline,
) -> None:
    # The chain says base → finetune → adapter; finetune itself declares no lineage.
    licence_manifest(pipeline, "    lineage: {chain: [base, finetune]}\n")

    result = pipeline.result("provenance[adapter::license]")

    assert [f.rule for f in result.findings] == ["MLS-LIC-006"]
    assert "non-commercial" in result.facts["license"]["restrictions"]


# --- false failures --------------------------------------------------------------------------


def test_a_hop_naming_a_declared_hub_model_agrees_with_the_card_and_adapter_config_naming_its_repo(
    pipeline: Pipeline, base_snapshot: Path
) -> None:
    # `base_model: bert` names the manifest's model bert (hf://google-bert/bert-base-uncased):
    # the adapter config and the card name that repository, as PEFT and the Hub write them.
    write_adapter(pipeline.project.root / "models" / "adapter")
    pins = ", ".join(
        f'{p.name}: "{sha256_pin(p)}"' for p in sorted(base_snapshot.iterdir()) if p.suffix
    )
    declare_adapter(pipeline, f"{{base_model: {{ref: bert, files: {{{pins}}}}}}}")

    result = pipeline.result(ADAPTER_CLAIM)

    assert result.findings == []
    assert result.facts["lineage"]["base_digest"] == "models[bert]"

    # ... and still disagrees with a card naming another repository.
    card = pipeline.project.root / "models" / "adapter" / "README.md"
    card.write_text("---\nbase_model: acme/evil-base\n---\n# adapter\n")
    assert rules(pipeline.result(ADAPTER_CLAIM)) == ["MLS-LIN-001"]


# --- an adapter in a subfolder is an adapter -------------------------------------------------


def test_an_adapter_config_in_a_subfolder_naming_another_base_disagrees(
    pipeline: Pipeline, base_snapshot: Path
) -> None:
    # PEFT loads it with PeftModel.from_pretrained(..., subfolder="lora"): the same adapter.
    adapter = write_adapter(pipeline.project.root / "models" / "adapter")
    (adapter / "lora").mkdir()
    (adapter / "lora" / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "base_model_name_or_path": "acme/evil-base"})
    )
    pins = ", ".join(
        f'{p.name}: "{sha256_pin(p)}"' for p in sorted(base_snapshot.iterdir()) if p.suffix
    )
    declare_adapter(
        pipeline,
        f'{{base_model: {{ref: "hf://google-bert/bert-base-uncased@{BASE}", files: {{{pins}}}}}}}',
    )

    result = pipeline.result(ADAPTER_CLAIM)

    assert rules(result) == ["MLS-LIN-001"]
    assert result.findings[0].location.file == "adapter/lora/adapter_config.json"
    assert "'acme/evil-base'" in result.findings[0].evidence


def test_a_model_whose_only_adapter_is_in_a_subfolder_makes_the_claim(
    pipeline: Pipeline, base_snapshot: Path
) -> None:
    adapter = write_adapter(pipeline.project.root / "models" / "adapter" / "lora")
    (adapter.parent / "README.md").write_text("# adapters\n")
    declare_adapter(pipeline, None, pin_adapter=False)

    result = pipeline.result(ADAPTER_CLAIM)

    # No lineage binds the base, and the adapter's weights are not pinned.
    assert rules(result) == ["MLS-LIN-002", "MLS-LIN-004", "MLS-LIN-005"]
    assert "lora/adapter_model.safetensors" in result.findings[2].evidence


def test_an_adapter_is_compared_with_the_declared_base_at_the_revision_it_names(
    pipeline: Pipeline, base_snapshot: Path
) -> None:
    # Two releases of the same repository in one manifest: the hop names the second.
    write_adapter(pipeline.project.root / "models" / "adapter")
    pins = ", ".join(
        f'{p.name}: "{sha256_pin(p)}"' for p in sorted(base_snapshot.iterdir()) if p.suffix
    )
    declare_adapter(
        pipeline,
        f'{{base_model: {{ref: "hf://google-bert/bert-base-uncased@{BASE}", files: {{{pins}}}}}}}',
    )
    older = write_model(pipeline.project.root.parent / "bert-old", seed=11)
    files = {p.name: p.read_bytes() for p in sorted(older.iterdir())}
    other = build_hub_cache(
        pipeline.project.root.parent / "other-cache",
        "google-bert/bert-base-uncased",
        "e" * 40,
        files,
    )
    shutil.copytree(other.parents[1], base_snapshot.parents[1], symlinks=True, dirs_exist_ok=True)
    manifest = pipeline.project.root / "mlsupply.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "models:\n",
            "models:\n  - name: bert-old\n"
            "    source: hf://google-bert/bert-base-uncased@" + "e" * 40 + "\n",
            1,
        )
    )

    assert pipeline.result(ADAPTER_CLAIM).findings == []


def test_the_licence_is_inherited_from_the_declared_release_at_the_hops_revision() -> None:
    from pytest_mlsupply.checks.provenance_license import base_of
    from pytest_mlsupply.manifest.model import (
        HubRef,
        LicensePolicy,
        Manifest,
        ModelDecl,
        OutputDecl,
        Policy,
        Span,
    )
    from pytest_mlsupply.sources.inventory import Inventory, ResolvedModel

    def declared(name: str, source: HubRef | None = None, base: str | None = None) -> ResolvedModel:
        decl = ModelDecl(name=name, span=Span(Path("m.yaml"), 1, 1), source=source, base_model=base)
        return ResolvedModel(decl=decl, root=None)

    old = declared("llama-old", HubRef("model", "meta-llama/Meta-Llama-3-8B", "a" * 40))
    new = declared("llama-new", HubRef("model", "meta-llama/Meta-Llama-3-8B", "b" * 40))
    tuned = declared("tuned", base="hf://meta-llama/Meta-Llama-3-8B@" + "b" * 40)
    inventory = Inventory(
        manifest=Manifest(
            path=Path("m.yaml"),
            version=1,
            policy=Policy(licenses=LicensePolicy()),
            output=OutputDecl(bom=Path("b"), matrix=Path("m")),
            project_name="p",
        ),
        models=(old, new, tuned),
        datasets=(),
        dependencies=(),
    )

    assert base_of(tuned, inventory) is new


# --- a fine-tune's hop digests are evidence only when compared ---------------------------------


def test_a_fine_tunes_hop_digests_that_contradict_the_base_on_this_machine_fail(
    pipeline: Pipeline,
) -> None:
    # Pinned "by sha256" under require_pins, but the digests are not the base's.
    base = write_model(pipeline.project.root / "models" / "base", seed=5)
    (pipeline.model_dir / "README.md").write_text("# tiny\n")
    wrong = "sha256:" + "cd" * 32
    declare(
        pipeline, f'{{base_model: {{ref: models/base, files: {{model.safetensors: "{wrong}"}}}}}}'
    )

    result = pipeline.result(CLAIM)

    assert rules(result) == ["MLS-LIN-003"]
    assert result.findings[0].evidence == (
        f"model.safetensors: bound {wrong}, the directory models/base has "
        f"{sha256_pin(base / 'model.safetensors')}"
    )

    right = sha256_pin(base / "model.safetensors")
    declare(
        pipeline, f'{{base_model: {{ref: models/base, files: {{model.safetensors: "{right}"}}}}}}'
    )
    assert pipeline.result(CLAIM).findings == []


def test_a_hop_naming_a_declared_model_pinned_to_a_commit_is_pinned(
    pipeline: Pipeline, base_snapshot: Path
) -> None:
    # The fine-tune of the manifest's model bert (hf://google-bert/bert-base-uncased@<commit>)
    # names it; its source's commit pins the hop under require_pins.
    manifest = pipeline.project.root / "mlsupply.yaml"
    manifest.write_text(
        "version: 1\nmodels:\n"
        f"  - name: bert\n    source: hf://google-bert/bert-base-uncased@{BASE}\n"
        "  - name: tiny\n    path: models/tiny\n    lineage: {base_model: bert}\n"
    )

    assert pipeline.result(CLAIM).findings == []

    manifest.write_text(
        "version: 1\nmodels:\n  - name: tiny\n    path: models/tiny\n"
        "    lineage: {base_model: bert}\n"
    )
    assert rules(pipeline.result(CLAIM)) == ["MLS-LIN-001", "MLS-LIN-002"]
