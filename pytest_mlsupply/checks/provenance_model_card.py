"""Provenance claim ``model-card``: the model ships a readable card with the required fields."""

from __future__ import annotations

from pytest_mlsupply.checks.base import CheckContext, Outcome, ProvenanceCheck
from pytest_mlsupply.engines.model_card import CardError, missing_fields, read_card
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import ResolvedModel


def run(model: ResolvedModel, ctx: CheckContext) -> Outcome:
    if model.error is not None or model.card_path is None:
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
                    location=Location(file=card_rel, line=1),
                    evidence=str(exc),
                    why="tools and reviewers read the card's front matter; a broken one hides the "
                    "declared license and lineage",
                    remediation="fix the YAML between the leading '---' lines",
                )
            ]
        )
    except OSError as exc:
        return Outcome(error=f"cannot read {card_rel}: {exc}")
    findings = [
        Finding(
            rule="MLS-CARD-002",
            severity=Severity.HIGH,
            category="documentation",
            title=f"model card lacks required field {name!r}",
            location=Location(file=card_rel, key_path=name),
            evidence=f"the manifest requires {name!r} (card.require); the card does not state it",
            why="the release policy requires this information before a model ships",
            remediation=f"add {name!r} to the card's front matter or as a section, or drop it "
            "from card.require",
        )
        for name in missing_fields(card, model.decl.card.require)
    ]
    return Outcome(findings=findings, facts={"card": card.to_dict()})


CHECK = ProvenanceCheck(
    name="model-card",
    kind=RowKind.PROVENANCE,
    summary="the model has a readable model card holding every field the manifest requires",
    run=run,
)
