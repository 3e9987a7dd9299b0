"""The registry of checks: adding a check is one module plus one line here.

A line names the check, its row kind and where it lives (``"module:attribute"``); the module is
imported the first time the check is asked for. Planning and running a project therefore load
only the checks its subjects need: a gate over local weights imports the artifact checks and the
claims its models make, never the dependency audit, the dataset checks or the lineage, promotion
and licence engines. The order of the lines is the order of the plan's items and the matrix's
columns.

A provenance claim is asked about every model, so its line also says when it applies and which
policy requires it, answered from the manifest without loading the claim (its check object
carries neither). An artifact or dependency check is loaded, and asks its own ``applies``, only
when there is a file or a dependency to plan it for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from pytest_mlsupply.manifest.model import DatasetDecl, LicensePolicy, Policy
from pytest_mlsupply.results import RowKind
from pytest_mlsupply.sources.inventory import (
    ArtifactFile,
    Dependency,
    ResolvedModel,
    adapter_configs,
)

if TYPE_CHECKING:
    from pytest_mlsupply.checks.base import Check
    from pytest_mlsupply.sources.code import CodeFile

S = TypeVar("S")


def _never(_policy: Policy) -> bool:
    return False


@dataclass(frozen=True)
class Registered(Generic[S]):
    """One line of the registry: a check known by name before its module is imported."""

    name: str
    kind: RowKind
    target: str
    """``"package.module:attribute"``: the :class:`~pytest_mlsupply.checks.base.Check` object."""
    when: Callable[[S], bool] | None = None
    """Whether the check applies to a subject, without importing it; None: ask the check."""
    required_by: Callable[[Policy], bool] = _never
    """A policy under which the check runs on every subject, ``applies`` or not (a model with
    no signature under ``policy.require_signature`` fails its claim instead of skipping it)."""

    def load(self) -> Check[S]:
        """The check object (its module imported on first use; Python caches modules)."""
        from pytest_mlsupply.checks.base import Check

        module, _, attribute = self.target.partition(":")
        check: Any = getattr(importlib.import_module(module), attribute)
        if not isinstance(check, Check) or (check.name, check.kind) != (self.name, self.kind):
            # A registry bug, never a user's: the line and the object it names disagree.
            raise TypeError(
                f"registry line {self.name!r} ({self.kind.value}) names {self.target}, which "
                f"is {check!r}: point the line at the check object of that name and kind"
            )
        return cast("Check[S]", check)

    def applies(self, subject: S) -> bool:
        """Has the check something to say about ``subject``? (the plan's question)"""
        if self.when is not None:
            return self.when(subject)
        return self.load().applies(subject)


def _has_card(model: ResolvedModel) -> bool:
    # Without a card there is nothing to compare: the model-card claim reports its absence.
    return model.card_path is not None and model.card_path.is_file()


def _pinned_to_commit(model: ResolvedModel) -> bool:
    # Only a pin names what the Hub must still publish: a branch moves by design.
    source = model.decl.source
    return source is not None and source.pinned


def _licences_restricted(policy: Policy) -> bool:
    return policy.licenses != LicensePolicy()


_CHECKS = "pytest_mlsupply.checks."

ARTIFACT_CHECKS: tuple[Registered[ArtifactFile], ...] = (
    Registered("sha256", RowKind.ARTIFACT, _CHECKS + "artifact_sha256:CHECK"),
    Registered("format", RowKind.ARTIFACT, _CHECKS + "artifact_format:CHECK"),
    Registered("scan", RowKind.ARTIFACT, _CHECKS + "artifact_scan:CHECK"),
    Registered("hub", RowKind.ARTIFACT, _CHECKS + "artifact_hub:CHECK"),
)

DEPENDENCY_CHECKS: tuple[Registered[Dependency], ...] = (
    Registered("pinned", RowKind.DEPENDENCY, _CHECKS + "dependency_pinned:CHECK"),
    Registered("confusion", RowKind.DEPENDENCY, _CHECKS + "dependency_confusion:CHECK"),
    Registered("typosquat", RowKind.DEPENDENCY, _CHECKS + "dependency_typosquat:CHECK"),
    Registered("integrity", RowKind.DEPENDENCY, _CHECKS + "dependency_integrity:CHECK"),
    Registered("vulnerabilities", RowKind.DEPENDENCY, _CHECKS + "dependency_vulnerabilities:CHECK"),
)

PROVENANCE_CHECKS: tuple[Registered[ResolvedModel], ...] = (
    Registered(
        "model-card",
        RowKind.PROVENANCE,
        _CHECKS + "provenance_model_card:CHECK",
        # Made where the manifest asks for a card (its `card:` key) or the policy requires
        # cards: a model that declares neither is not failed for a README nobody asked for.
        when=lambda model: model.decl.card.declared,
        required_by=lambda policy: policy.require_card,
    ),
    Registered(
        "signature",
        RowKind.PROVENANCE,
        _CHECKS + "provenance_signature:CHECK",
        when=lambda model: model.decl.signature is not None,
        required_by=lambda policy: policy.require_signature,
    ),
    Registered(
        "attestation",
        RowKind.PROVENANCE,
        _CHECKS + "provenance_attestation:CHECK",
        when=lambda model: model.decl.attestation is not None,
        required_by=lambda policy: policy.require_attestation,
    ),
    Registered(
        "lineage",
        RowKind.PROVENANCE,
        _CHECKS + "provenance_lineage:CHECK",
        when=lambda model: model.decl.lineage is not None or bool(adapter_configs(model)),
    ),
    Registered(
        "promotion",
        RowKind.PROVENANCE,
        _CHECKS + "provenance_promotion:CHECK",
        when=lambda model: model.decl.promotion is not None,
    ),
    Registered(
        "license",
        RowKind.PROVENANCE,
        _CHECKS + "provenance_license:CHECK",
        when=lambda model: bool(model.decl.license),
        required_by=_licences_restricted,
    ),
    Registered(
        "model-card-accuracy",
        RowKind.PROVENANCE,
        _CHECKS + "provenance_card_accuracy:CHECK",
        when=_has_card,
    ),
)

DATASET_CHECKS: tuple[Registered[DatasetDecl], ...] = (
    Registered(
        "dataset", RowKind.PROVENANCE, _CHECKS + "provenance_dataset:CHECK", when=lambda _: True
    ),
)


CODE_CHECKS: tuple[Registered[CodeFile], ...] = (
    Registered("code", RowKind.CODE, _CHECKS + "code_loading:CHECK", when=lambda _: True),
)


#: Planned only under ``--mlsupply-online`` (``build_plan(..., online=True)``): they ask the Hub.
DRIFT_CHECKS: tuple[Registered[ResolvedModel], ...] = (
    Registered("drift", RowKind.DRIFT, _CHECKS + "drift:CHECK", when=_pinned_to_commit),
)


def claim(name: str) -> Registered[ResolvedModel]:
    """The provenance claim registered as ``name`` (its line, not loaded)."""
    for line in PROVENANCE_CHECKS:
        if line.name == name:
            return line
    raise KeyError(name)
