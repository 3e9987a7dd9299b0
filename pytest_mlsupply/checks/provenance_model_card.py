"""Provenance claim ``model-card``: the model ships a readable card stating every required part.

The card is read by the one card reader (engines/model_card.py, over huggingface_hub's
``ModelCard``); each part ``card.require`` asks for and the card does not state is a finding that
names the part and shows what to write. The card and the model's ``config.json`` /
``adapter_config.json`` architecture facts go to the BOM's ``modelCard``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.checks.base import CheckContext, Outcome, ProvenanceCheck
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import ResolvedModel

if TYPE_CHECKING:
    from pytest_mlsupply.engines.model_card import ModelCard

#: config.json / adapter_config.json are small; a bigger one is not read for the BOM.
MAX_CONFIG_BYTES = 1 << 20


def run(model: ResolvedModel, ctx: CheckContext) -> Outcome:
    if model.error is not None or model.card_path is None or model.root is None:
        return Outcome(error=model.error or "the model could not be resolved")
    card_rel = f"{model.name}/{model.decl.card.path}"
    if not model.card_path.is_file():
        return Outcome(
            findings=[
                Finding(
                    rule="MLS-CARD-001",
                    severity=Severity.HIGH,
                    category="documentation",
                    title="model has no model card",
                    location=Location(file=card_rel),
                    evidence=f"{model.decl.card.path} not found in the model",
                    why="without a card nobody can tell what the model is for, what it was trained on, "
                    "or under which license it may be used",
                    remediation="add a README.md model card with YAML front matter (license, "
                    "base_model, datasets) and sections for intended use, limitations and evaluation",
                    cwe="CWE-1059",
                )
            ]
        )
    # The card engine is imported for a card there is to read: a model without one (its
    # finding above) costs no import.
    from pytest_mlsupply.engines.model_card import CardError, gaps, read_card

    try:
        card = read_card(model.card_path)
    except CardError as exc:
        return Outcome(
            findings=[
                Finding(
                    rule="MLS-CARD-003",
                    severity=Severity.HIGH,
                    category="documentation",
                    title="model card cannot be read",
                    location=Location(file=card_rel, line=exc.line),
                    evidence=str(exc),
                    why="tools and reviewers read the card's front matter; a broken one hides the "
                    "declared license and lineage",
                    remediation="fix the front matter as the evidence says: YAML between the "
                    "leading '---' lines, closed by a '---' line, one mapping with text keys, no "
                    "anchors; a card stays under 1 MiB",
                )
            ]
        )
    except OSError as exc:
        return Outcome(error=f"cannot read {card_rel}: {exc}")
    required = model.decl.card.require
    findings = [
        Finding(
            rule="MLS-CARD-005",
            severity=Severity.HIGH,
            category="documentation",
            title=f"model card states {duplicate.path!r} twice",
            location=Location(file=card_rel, line=duplicate.line, key_path=duplicate.path),
            evidence=f"{duplicate.path!r} on lines {duplicate.first_line} and {duplicate.line}; "
            "YAML and the Hub keep only the last value",
            why="a reviewer reads the first value, every tool the last: a card can show one "
            "licence or base model and declare another",
            remediation=f"keep one {duplicate.key!r} in the front matter",
            cwe="CWE-1059",
        )
        for duplicate in card.duplicates
    ]
    findings += _unreadable_model_index(card, card_rel, "evaluation" in required)
    findings += [
        Finding(
            rule="MLS-CARD-002",
            severity=Severity.HIGH,
            category="documentation",
            title=f"model card lacks required field {gap.field!r}",
            location=Location(file=card_rel, key_path=gap.field),
            evidence=f"the manifest requires {gap.field!r} (card.require); {gap.evidence}",
            why="the release policy requires this information before a model ships",
            remediation=f"add to {card_rel}:\n{gap.example}\n(or drop {gap.field!r} from "
            "card.require)",
            cwe="CWE-1059",
        )
        for gap in gaps(card, required)
        if not (card.metadata_errors and gap.field == "evaluation")  # MLS-CARD-004 said it
    ]
    facts: dict[str, Any] = {"card": card.to_dict()}
    architecture = _architecture(model.root)
    if architecture:
        facts["card"]["config"] = architecture
    return Outcome(findings=findings, facts=facts)


def _unreadable_model_index(card: ModelCard, card_rel: str, required: bool) -> list[Finding]:
    """A ``model-index`` huggingface_hub rejects: its results reach no report."""
    if not card.metadata_errors:
        return []
    return [
        Finding(
            rule="MLS-CARD-004",
            severity=Severity.HIGH if required else Severity.MEDIUM,
            category="documentation",
            title="model card's model-index cannot be read",
            location=Location(file=card_rel, key_path="model-index"),
            evidence=card.metadata_errors[0],
            why="the Hub, leaderboards and the ML-BOM read evaluation results from model-index; "
            "a malformed one publishes no results at all",
            remediation="give every result a task {type}, a dataset {name, type} and metrics "
            "[{type, value}], e.g.\nmodel-index:\n- name: my-model\n  results:\n"
            "  - task: {type: text-classification}\n    dataset: {name: GLUE SST-2, type: glue}\n"
            "    metrics:\n    - {type: accuracy, value: 0.93}",
            cwe="CWE-1059",
        )
    ]


def _architecture(root: Path) -> dict[str, Any]:
    """``model_type`` / ``architectures`` from config.json and the PEFT type and base of an
    adapter (adapter_config.json), for the BOM's modelParameters. Unreadable files add nothing:
    they are the format checks' business, and the card claim does not depend on them."""
    out: dict[str, Any] = {}
    config = _json_object(root / "config.json")
    if isinstance(config.get("model_type"), str):
        out["model_type"] = config["model_type"]
    architectures = config.get("architectures")
    if isinstance(architectures, list) and all(isinstance(a, str) for a in architectures):
        out["architectures"] = architectures
    adapter = _json_object(root / "adapter_config.json")
    if isinstance(adapter.get("peft_type"), str):
        out["peft_type"] = adapter["peft_type"]
        if isinstance(adapter.get("base_model_name_or_path"), str):
            out["base_model"] = adapter["base_model_name_or_path"]
    return out


def _json_object(path: Path) -> dict[str, Any]:
    try:
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            return {}
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


CHECK = ProvenanceCheck(
    name="model-card",
    kind=RowKind.PROVENANCE,
    summary="the model has a readable model card stating every part the manifest requires",
    run=run,
)
