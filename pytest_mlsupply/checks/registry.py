"""The registry of checks: adding a check is one module plus one line here."""

from __future__ import annotations

from pytest_mlsupply.checks import (
    artifact_format,
    artifact_hub,
    artifact_scan,
    artifact_sha256,
    dependency_confusion,
    dependency_integrity,
    dependency_pinned,
    dependency_typosquat,
    dependency_vulnerabilities,
    provenance_attestation,
    provenance_card_accuracy,
    provenance_dataset,
    provenance_license,
    provenance_lineage,
    provenance_model_card,
    provenance_promotion,
    provenance_signature,
)
from pytest_mlsupply.checks.base import (
    ArtifactCheck,
    DatasetCheck,
    DependencyCheck,
    ProvenanceCheck,
)

ARTIFACT_CHECKS: tuple[ArtifactCheck, ...] = (
    artifact_sha256.CHECK,
    artifact_format.CHECK,
    artifact_scan.CHECK,
    artifact_hub.CHECK,
)

DEPENDENCY_CHECKS: tuple[DependencyCheck, ...] = (
    dependency_pinned.CHECK,
    dependency_confusion.CHECK,
    dependency_typosquat.CHECK,
    dependency_integrity.CHECK,
    dependency_vulnerabilities.CHECK,
)

PROVENANCE_CHECKS: tuple[ProvenanceCheck, ...] = (
    provenance_model_card.CHECK,
    provenance_signature.CHECK,
    provenance_attestation.CHECK,
    provenance_lineage.CHECK,
    provenance_promotion.CHECK,
    provenance_license.CHECK,
    provenance_card_accuracy.CHECK,
)

DATASET_CHECKS: tuple[DatasetCheck, ...] = (provenance_dataset.CHECK,)
