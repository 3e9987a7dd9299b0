"""cyclonedx-python-lib builds the whole ML-BOM: the reference the plugin's own writer is held to.

:mod:`pytest_mlsupply.reports.bom` writes the CycloneDX document itself (importing the library
costs every gate ~70 ms, its model a millisecond per component). This is how the package built
the BOM before, moved here: every component, the metadata, the dependency graph and the
vulnerabilities as the library's model objects (its ``LicenseFactory`` for licences, its
``XsUri`` for links, its rating and vector rules), serialised by its own JSON and XML writers;
the model cards and data the library has no model for are added to what it wrote, as the
package used to add them. ``tests/reports/test_bom_build.py`` holds the plugin's JSON equal to
:func:`library_built_json` and its XML equal, byte for byte, to :func:`library_built_xml`.

Only what decides what goes in the BOM (which properties, the model card's contents, the
lineage chain, the advisories read back from the facts) is shared with the package: what is
compared is how the document is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType, Pedigree
from cyclonedx.model.dependency import Dependency as CdxDependency
from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus
from cyclonedx.model.tool import ToolRepository
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.output.xml import XmlV1Dot6
from lxml import etree
from packageurl import PackageURL

from pytest_mlsupply import __version__
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.unchecked import declared_not_checked
from pytest_mlsupply.manifest.model import HubRef
from pytest_mlsupply.printable import printable
from pytest_mlsupply.reports.bom import (
    _ATTESTATION_PROPERTIES,
    _SHA256,
    CYCLONEDX_NS,
    PROPERTY_PREFIX,
    TOOL_NAME,
    BomError,
    _cached_sha256,
    _card_facts,
    _card_license,
    _claim_fact,
    _dataset_data,
    _format_fact,
    _hub_url,
    _lineage_chain,
    _model_card,
    _sha256_fact,
    _shorten,
    _source_text,
    _used_source,
    _xml_text,
    dataset_file_ref,
    dataset_ref,
    file_ref,
    hub_purl,
    library_ref,
    model_hash,
    model_ref,
    project_ref,
    pypi_purl,
)
from pytest_mlsupply.reports.bom_release import (
    build_links,
    build_properties,
    card_for_bom,
    finding_properties,
    installed_library,
    installed_names,
)
from pytest_mlsupply.reports.bom_vulnerabilities import (
    _ID_SOURCES,
    OSV_URL,
    VulnerabilityFactsError,
    _id_url,
    _recommendation,
    _when,
    advisories_by_subject,
)
from pytest_mlsupply.reports.matrix import cell_verdicts, index_results
from pytest_mlsupply.results import CheckResult, RowKind, Severity
from pytest_mlsupply.vulns.model import Advisory, Rating

if TYPE_CHECKING:
    from cyclonedx.model.license import License

    from pytest_mlsupply.build_context import BuildContext
    from pytest_mlsupply.manifest.model import DatasetDecl, ModelDecl
    from pytest_mlsupply.plan import PlannedItem
    from pytest_mlsupply.sources.inventory import (
        ArtifactFile,
        Dependency,
        Inventory,
    )

__all__ = ["library_built_json", "library_built_xml"]


def library_built_json(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    *,
    serial_number: UUID | None = None,
    timestamp: datetime | None = None,
    build: BuildContext | None = None,
) -> dict[str, Any]:
    """The JSON ML-BOM as cyclonedx-python-lib writes it, model cards and data added."""
    bom, model_cards, data = _assemble(
        inventory, items, results, threshold, serial_number, timestamp, build
    )
    document: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    components = {c["bom-ref"]: c for c in document.get("components", []) if "bom-ref" in c}
    for ref, card in model_cards.items():
        components[ref]["modelCard"] = card
    for ref, entries in data.items():
        components[ref]["data"] = entries
    _sort_json_components(document)
    return document


def library_built_xml(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    *,
    serial_number: UUID | None = None,
    timestamp: datetime | None = None,
    build: BuildContext | None = None,
) -> str:
    """The XML ML-BOM as cyclonedx-python-lib writes it, model cards and data added where the
    XSD's sequence puts them, indented by lxml."""
    bom, model_cards, data = _assemble(
        inventory, items, results, threshold, serial_number, timestamp, build
    )
    text = XmlV1Dot6(bom).output_as_string()
    # What XML cannot hold (a file named with an escape character) becomes U+FFFD.
    root = etree.fromstring(_xml_text(text).encode("utf-8"), parser=_xml_parser())
    elements = {
        element.get("bom-ref"): element
        for element in root.iter(_q("component"))
        if element.get("bom-ref") is not None
    }
    for ref, card in model_cards.items():
        _insert_component_children(elements[ref], "modelCard", _xml_elements("modelCard", card))
    for ref, entries in data.items():
        found = [element for entry in entries for element in _xml_elements("data", entry)]
        _insert_component_children(elements[ref], "data", found)
    _sort_xml_components(root)
    etree.indent(root, space="  ")
    body: str = etree.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


# --- assembly ------------------------------------------------------------------------------------


def _assemble(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    serial_number: UUID | None,
    timestamp: datetime | None,
    build: BuildContext | None = None,
) -> tuple[Bom, dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The library's Bom of the run, and the model cards and data it has no model for (the
    package's own, by bom-ref)."""
    manifest = inventory.manifest
    contents = ContentCache()
    indexed = index_results(results, threshold)
    by_subject: dict[tuple[RowKind, str], list[CheckResult]] = {}
    for (kind, subject, _check), result in sorted(indexed.items(), key=lambda pair: pair[0][2]):
        by_subject.setdefault((kind, subject), []).append(result)

    # Where each row of the matrix lives in the BOM; rows with no component of their own (a
    # requirement file that could not be read, say) are reported on the project component.
    subject_refs: dict[tuple[RowKind, str], str] = {}
    for resolved in inventory.models:
        subject_refs[(RowKind.PROVENANCE, resolved.name)] = model_ref(resolved.name)
        for artifact in resolved.files:
            subject_refs[(RowKind.ARTIFACT, artifact.subject)] = file_ref(artifact.subject)
    for dataset in inventory.datasets:
        # Its `dataset` claim's row (the loader keeps dataset and model names apart).
        subject_refs[(RowKind.PROVENANCE, dataset.name)] = dataset_ref(dataset.name)
    for dependency in inventory.dependencies:
        subject_refs[(RowKind.DEPENDENCY, dependency.subject)] = library_ref(dependency.subject)

    root_ref = project_ref(manifest.project_name)
    properties: dict[str, list[Property]] = {}
    for (kind, subject, check), verdict in cell_verdicts(items, results, threshold).items():
        ref = subject_refs.get((kind, subject))
        label = check if ref is not None else f"{kind.value}[{subject}]::{check}"
        bucket = properties.setdefault(ref or root_ref, [])
        # A provenance claim's verdict is what a reader of the model asks about ("was its
        # signature verified?"): named as the claim it is, apart from the file-level checks.
        prefix = "provenance" if kind is RowKind.PROVENANCE and ref is not None else "check"
        bucket.append(_property(f"{prefix}:{label}", verdict.value))
        cell = indexed.get((kind, subject, check))
        if cell is not None and cell.findings:
            bucket.append(_property(f"findings:{label}", str(len(cell.findings))))
            bucket += [
                _property(*pair) for pair in finding_properties(label, cell.findings, threshold)
            ]
        if cell is not None and isinstance(cell.facts.get("hash_pins"), str):
            # Whether the --hash pins were checked against the installed archive: "undecided"
            # says they were not (an index install records no archive hash), and why.
            reason = cell.facts.get("hash_pins_reason")
            value = cell.facts["hash_pins"] + (f": {reason}" if isinstance(reason, str) else "")
            bucket.append(_property("hash-pins", value))

    datasets = {dataset.name: dataset for dataset in inventory.datasets}
    model_cards: dict[str, dict[str, Any]] = {}
    models: list[Component] = []
    used_datasets: set[str] = set()
    model_datasets: dict[str, list[str]] = {}
    for resolved in inventory.models:
        decl = resolved.decl
        card, omitted = card_for_bom(
            _card_facts(by_subject.get((RowKind.PROVENANCE, decl.name), [])),
            by_subject.get((RowKind.PROVENANCE, decl.name), []),
        )
        names = [name for name in decl.datasets if name in datasets]
        used_datasets.update(names)
        model_datasets[model_ref(decl.name)] = [dataset_ref(name) for name in names]
        files = [
            _file_component(
                artifact,
                by_subject.get((RowKind.ARTIFACT, artifact.subject), []),
                properties.get(file_ref(artifact.subject), []),
                contents,
            )
            for artifact in resolved.files
        ]
        # A branch or tag allowed by policy is recorded as the commit actually used; the
        # declared revision stays as a property, so the BOM never names a moving target.
        source = _used_source(resolved)
        purl = hub_purl(source.repo_id, source.revision, resolved.endpoint) if source else None
        extra = [_property("source", _source_text(source, decl.path, manifest.root))]
        if decl.source is not None and source is not None and source != decl.source:
            extra.append(_property("declared-revision", decl.source.revision))
        if resolved.error is not None:
            extra.append(_property("error", resolved.error))
        extra += _attestation_properties(by_subject.get((RowKind.PROVENANCE, decl.name), []))
        licence = _claim_fact(by_subject.get((RowKind.PROVENANCE, decl.name), []), "license")
        extra += [
            _property("license:restriction", str(r))
            for r in sorted(licence.get("restrictions") or {})
        ]
        # The card's `license: other` names its licence in `license_name`: the `license`
        # claim's reading of it, when that claim ran.
        card_licence = None if "license" in omitted else licence.get("card")
        license_text = decl.license or card_licence or _card_license(card)
        aggregate, aggregate_note = model_hash(
            {str(f.name): h.content for f in files for h in f.hashes}, len(resolved.files)
        )
        extra += [
            _property(name.removeprefix(PROPERTY_PREFIX), value) for name, value in aggregate_note
        ]
        models.append(
            Component(
                type=ComponentType.MACHINE_LEARNING_MODEL,
                bom_ref=model_ref(decl.name),
                name=decl.name,
                version=source.revision if source is not None else None,
                description=decl.description,
                purl=purl,
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=c) for _, c in aggregate]
                or None,
                licenses=[_license(license_text)] if license_text else None,
                external_references=[
                    *_hub_references(source, resolved.endpoint),
                    *_signature_references(by_subject.get((RowKind.PROVENANCE, decl.name), [])),
                    *_attestation_references(by_subject.get((RowKind.PROVENANCE, decl.name), [])),
                ],
                pedigree=_lineage(decl, by_subject.get((RowKind.PROVENANCE, decl.name), [])),
                components=files,
                properties=[*extra, *properties.get(model_ref(decl.name), [])],
            )
        )
        model_cards[model_ref(decl.name)] = _model_card(decl, card, names, datasets, omitted)

    data_entries: dict[str, list[dict[str, Any]]] = {}
    data_components: list[Component] = []
    for dataset in inventory.datasets:
        ref = dataset_ref(dataset.name)
        claim = _claim_fact(by_subject.get((RowKind.PROVENANCE, dataset.name), []), "dataset")
        data_components.append(
            _dataset_component(
                dataset,
                manifest.root,
                inventory.hub_endpoint,
                claim,
                properties.get(ref, []),
                _dataset_files(dataset, claim),
            )
        )
        commit = claim.get("commit")
        data_entries[ref] = [
            _dataset_data(
                dataset, inventory.hub_endpoint, commit if isinstance(commit, str) else None
            )
        ]

    components = _libraries(inventory.dependencies, properties)

    # Declared in the manifest, read by no check yet: the BOM does not let them look verified.
    unchecked = [_property("declared-not-checked", d.key) for d in declared_not_checked(manifest)]
    project = Component(
        type=ComponentType.APPLICATION,
        bom_ref=root_ref,
        name=manifest.project_name,
        version=manifest.project_version,
        external_references=[
            ExternalReference(type=ExternalReferenceType(kind), url=XsUri(url), comment=comment)
            for kind, url, comment in build_links(build)
        ],
        properties=[
            *properties.get(root_ref, []),
            *unchecked,
            *(_property(*pair) for pair in build_properties(build)),
        ],
    )
    tool = Component(
        type=ComponentType.APPLICATION,
        name=TOOL_NAME,
        version=__version__,
        purl=PackageURL(type="pypi", name=TOOL_NAME, version=__version__),
    )
    when = timestamp or datetime.now(UTC).replace(microsecond=0)
    bom = Bom(
        metadata=BomMetaData(
            tools=ToolRepository(components=[tool]), component=project, timestamp=when
        ),
        components=[*models, *data_components, *components],
    )
    if serial_number is not None:
        bom.serial_number = serial_number

    # The dependency graph: the project uses its models and libraries (and any dataset no model
    # claims); each model depends on the datasets it was trained or evaluated on.
    claimed = {dataset_ref(name) for name in used_datasets}
    direct = [str(c.bom_ref) for c in [*models, *components]]
    direct += [str(c.bom_ref) for c in data_components if str(c.bom_ref) not in claimed]
    graph: dict[str, list[str]] = {str(project.bom_ref): direct}
    graph.update({ref: list(refs) for ref, refs in model_datasets.items()})
    bom.dependencies = _dependency_graph(bom, graph)

    # Each advisory the `vulnerabilities` check found, affecting the library components above.
    try:
        found = advisories_by_subject(indexed.values())
        library_refs = {
            subject: ref
            for (kind, subject), ref in subject_refs.items()
            if kind is RowKind.DEPENDENCY
        }
        bom.vulnerabilities.update(vulnerabilities(found, library_refs, root_ref))
    except VulnerabilityFactsError as exc:
        raise BomError(f"cannot put the vulnerabilities in the ML-BOM: {exc}") from exc
    return bom, model_cards, data_entries


def _property(name: str, value: str) -> Property:
    return Property(name=PROPERTY_PREFIX + name, value=value)


def _license(text: str) -> License:
    # An SPDX id (normalised: "apache-2.0" -> "Apache-2.0") or expression if it is one, else a
    # named license, so a custom license string never makes the BOM invalid. Imported here: the
    # factory builds license-expression's SPDX table on import (tens of milliseconds), which a
    # BOM with no licence never needs.
    return LicenseFactory().make_from_string(text)


def _hub_references(ref: HubRef | None, endpoint: str | None = None) -> list[ExternalReference]:
    if ref is None:
        return []
    url = XsUri(_hub_url(ref, endpoint))
    return [ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=url)]


def _signature_references(results: Sequence[CheckResult]) -> list[ExternalReference]:
    """The model-signing bundle the ``signature`` claim read (its verdict is the model's
    ``mlsupply:provenance:signature`` property)."""
    for result in results:
        fact = result.facts.get("signature")
        if result.check != "signature" or not isinstance(fact, dict):
            continue
        bundle, sha256 = fact.get("bundle"), fact.get("sha256")
        if isinstance(bundle, str):
            return [
                ExternalReference(
                    type=ExternalReferenceType.DIGITAL_SIGNATURE,
                    url=XsUri(bundle),
                    comment=f"OpenSSF model-signing bundle ({fact.get('mode')})",
                    hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)]
                    if isinstance(sha256, str)
                    else None,
                )
            ]
    return []


def _attestation_references(results: Sequence[CheckResult]) -> list[ExternalReference]:
    """The in-toto envelopes the ``attestation`` claim read (its verdict is the model's
    ``mlsupply:provenance:attestation`` property)."""
    fact = _claim_fact(results, "attestation")
    verified = "verified" if fact.get("verified") else "not verified"
    out = []
    for envelope in fact.get("envelopes", []):
        path = envelope.get("path") if isinstance(envelope, dict) else None
        sha256 = envelope.get("sha256") if isinstance(envelope, dict) else None
        if isinstance(path, str):
            out.append(
                ExternalReference(
                    type=ExternalReferenceType.ATTESTATION,
                    url=XsUri(path),
                    comment=f"in-toto attestation (DSSE envelope), {verified}",
                    hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)]
                    if isinstance(sha256, str)
                    else None,
                )
            )
    return out


#: Statement facts recorded as ``mlsupply:attestation:<name>`` properties. cyclonedx-python-lib 11
def _attestation_properties(results: Sequence[CheckResult]) -> list[Property]:
    """Each verified statement's builder, source and parameters (only signed facts: a statement
    that did not verify is not in the facts)."""
    out = []
    for statement in _claim_fact(results, "attestation").get("statements", []):
        for name, key in _ATTESTATION_PROPERTIES:
            value = statement.get(key) if isinstance(statement, dict) else None
            if value is None:
                continue
            if not isinstance(value, str):
                value = json.dumps(value, sort_keys=True, separators=(",", ":"))
            # Signed, but written by the builder: no control characters into the XML form.
            value = "".join(c if c.isprintable() else " " for c in value)
            out.append(_property(f"attestation:{name}", _shorten(value, 2000)))
    return out


def _lineage(decl: ModelDecl, results: Sequence[CheckResult] = ()) -> Pedigree | None:
    """The model's ancestry as nested pedigree: its parent is its ancestor, the parent's parent
    the parent's ancestor, and so on (the base model deepest). Taken from the ``lineage``
    claim's facts when it ran (they include an adapter's base), else from the manifest."""
    chain = _lineage_chain(decl, results)
    ancestor: Component | None = None
    for entry in chain:  # oldest first: each wraps the one before
        older = ancestor
        ancestor = _ancestor(entry)
        if older is not None:
            ancestor.pedigree = Pedigree(ancestors=[older])
    return None if ancestor is None else Pedigree(ancestors=[ancestor])


def _ancestor(entry: dict[str, Any]) -> Component:
    repo, revision = entry.get("repo"), entry.get("revision")
    sha256, files = entry.get("sha256"), entry.get("files") or {}
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=sha256)] if sha256 else None
    parts = [
        Component(
            type=ComponentType.FILE,
            name=rel,
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest)],
        )
        for rel, digest in sorted(files.items())
    ]
    if not isinstance(repo, str):
        return Component(
            type=ComponentType.MACHINE_LEARNING_MODEL,
            name=str(entry.get("ref")),
            hashes=hashes,
            components=parts,
        )
    # An unpinned ancestor still names its repository, but has no version to report.
    rev = revision if isinstance(revision, str) else None
    return Component(
        type=ComponentType.MACHINE_LEARNING_MODEL,
        name=repo,
        version=rev,
        purl=hub_purl(repo, rev),
        external_references=_hub_references(HubRef("model", repo, rev)) if rev else [],
        hashes=hashes,
        components=parts,
    )


def _file_component(
    artifact: ArtifactFile,
    results: Sequence[CheckResult],
    properties: Sequence[Property],
    contents: ContentCache,
) -> Component:
    """A model file's component: its digest (a check's, else the content cache's), size,
    format and the verdict of each of its checks."""
    sha256 = _sha256_fact(results) or _cached_sha256(artifact.path, contents)
    file_format = _format_fact(results)
    extra = [_property("size", str(artifact.size))]
    if file_format is not None:
        extra.append(_property("format", file_format))
    return Component(
        type=ComponentType.FILE,
        bom_ref=file_ref(artifact.subject),
        name=printable(artifact.relpath),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)] if sha256 else None,
        properties=[*extra, *properties],
    )


def _dataset_component(
    dataset: DatasetDecl,
    root: Path,
    endpoint: str | None,
    claim: Mapping[str, Any],
    properties: Sequence[Property],
    files: Sequence[Component],
) -> Component:
    """The dataset's ``data`` component; ``files`` (see :func:`_dataset_files`) are nested in it
    when the library builds them."""
    source = dataset.source
    commit = claim.get("commit")
    extra = []
    if source is not None and isinstance(commit, str) and commit != source.revision:
        # A branch or tag allowed by policy: the BOM names the commit the claim checked.
        extra.append(_property("declared-revision", source.revision))
        source = replace(source, revision=commit)
    purl = hub_purl(source.repo_id, source.revision, endpoint) if source else None
    extra.insert(0, _property("source", _source_text(source, dataset.path, root)))
    if dataset.pii is not None:
        extra.append(_property("pii", dataset.pii))
    rows = claim.get("rows")
    if isinstance(rows, int):
        extra.append(_property("rows", str(rows)))
    return Component(
        type=ComponentType.DATA,
        bom_ref=dataset_ref(dataset.name),
        name=dataset.name,
        version=source.revision if source is not None else None,
        description=dataset.description,
        purl=purl,
        licenses=[_license(dataset.license)] if dataset.license else None,
        external_references=_hub_references(source, endpoint),
        components=files,
        properties=[*extra, *properties],
    )


def _dataset_files(dataset: DatasetDecl, claim: Mapping[str, Any]) -> list[Component]:
    """The dataset's files, with the digests its ``dataset`` claim computed, as nested ``file``
    components (a dataset of many files has no one hash)."""
    digests = claim.get("files")
    return [
        Component(
            type=ComponentType.FILE,
            bom_ref=dataset_file_ref(dataset.name, rel),
            name=printable(rel),  # a publisher's file name, escaped as every report names it
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest.lower())],
        )
        for rel, digest in sorted(digests.items() if isinstance(digests, dict) else [])
        if isinstance(digest, str) and _SHA256.match(digest.lower())
    ]


#: ``pii`` levels that mean the data identifies people: CycloneDX ``sensitiveData`` entries.
def _libraries(
    dependencies: Sequence[Dependency], properties: Mapping[str, Sequence[Property]]
) -> list[Component]:
    # The same distribution may be declared twice (a requirements file and the environment):
    # one component, with every origin recorded.
    grouped: dict[str, list[Dependency]] = {}
    for dependency in dependencies:
        grouped.setdefault(dependency.subject, []).append(dependency)
    libraries = []
    installed = installed_names() if grouped else None
    for subject, group in sorted(grouped.items()):
        first = group[0]
        extra = [_property("origin", origin) for origin in sorted({d.origin for d in group})]
        extra += [
            _property("requirement", requirement)
            for requirement in sorted({d.requirement for d in group})
            if requirement != subject
        ]
        # A path or URL requirement is not a PyPI package: no pkg:pypi purl for it (that would
        # claim an identity the index never vouched for); its source is recorded instead.
        link = first.link
        if link is not None:
            extra.append(_property("link", link))
        index = next((d.index for d in group if d.index), None)
        extra += [
            _property("extra-index", url)
            for url in sorted({url for d in group for url in d.extra_indexes})
        ]
        extra += [_property("marker", m) for m in sorted({d.marker for d in group if d.marker})]
        extra += [
            _property("skipped", why) for why in sorted({d.skipped for d in group if d.skipped})
        ]
        licence, licence_source, archive = installed_library(group, installed)
        if licence_source is not None:
            extra.append(_property("license-source", f"installed metadata ({licence_source})"))
        archive_hashes = [HashType(alg=HashAlgorithm(alg), content=value) for alg, value in archive]
        libraries.append(
            Component(
                type=ComponentType.LIBRARY,
                bom_ref=library_ref(subject),
                name=first.name,
                version=first.version,
                purl=None if link is not None else pypi_purl(first.name, first.version, index),
                hashes=[*_pinned_hashes(group), *archive_hashes] or None,
                licenses=[_license(licence)] if licence else None,
                properties=[*extra, *properties.get(library_ref(subject), [])],
            )
        )
    return libraries


_HASH_ALGORITHMS = {
    "sha256": HashAlgorithm.SHA_256,
    "sha384": HashAlgorithm.SHA_384,
    "sha512": HashAlgorithm.SHA_512,
}


def _pinned_hashes(group: Sequence[Dependency]) -> list[HashType]:
    """The requirement's ``--hash`` pins (the archives pip may install; one per wheel or sdist)."""
    hashes: set[tuple[HashAlgorithm, str]] = set()
    for dependency in group:
        for pin in dependency.hashes:
            algorithm, _, value = pin.partition(":")
            alg = _HASH_ALGORITHMS.get(algorithm.strip().lower())
            if alg is not None and re.fullmatch(r"[0-9a-fA-F]+", value):
                hashes.add((alg, value.lower()))
    return [HashType(alg=alg, content=value) for alg, value in sorted(hashes)]


def _sort_json_components(node: dict[str, Any]) -> None:
    components = node.get("components")
    if isinstance(components, list):
        components.sort(key=lambda component: component.get("bom-ref", ""))
        for component in components:
            _sort_json_components(component)


def _q(tag: str) -> str:
    return f"{{{CYCLONEDX_NS}}}{tag}"


#: XSD sequences are ordered: children of each element, in the order the 1.6 schema requires.
_XML_ORDER: dict[str, tuple[str, ...]] = {
    "modelCard": ("modelParameters", "quantitativeAnalysis", "considerations", "properties"),
    "modelParameters": (
        "approach",
        "task",
        "architectureFamily",
        "modelArchitecture",
        "datasets",
        "inputs",
        "outputs",
    ),
    "quantitativeAnalysis": ("performanceMetrics", "graphics"),
    "performanceMetric": ("type", "value", "slice", "confidenceInterval"),
    "considerations": (
        "users",
        "useCases",
        "technicalLimitations",
        "performanceTradeoffs",
        "ethicalConsiderations",
        "environmentalConsiderations",
        "fairnessAssessments",
    ),
    "ethicalConsideration": ("name", "mitigationStrategy"),
    "input": ("format",),
    "output": ("format",),
    "data": (
        "type",
        "name",
        "contents",
        "classification",
        "sensitiveData",
        "graphics",
        "description",
        "governance",
    ),
    "contents": ("attachment", "url", "properties"),
    "governance": ("custodians", "stewards", "owners"),
    "custodian": ("organization", "individual"),
    "steward": ("organization", "individual"),
    "owner": ("organization", "individual"),
    "organization": ("name",),
    # Where the serialised forms insert components, modelCard and data into the library's
    # <component> (foreign elements, the XSD's ##other, come after all of these).
    "component": (
        "supplier",
        "manufacturer",
        "authors",
        "author",
        "publisher",
        "group",
        "name",
        "version",
        "description",
        "scope",
        "hashes",
        "licenses",
        "copyright",
        "cpe",
        "purl",
        "omniborId",
        "swhid",
        "swid",
        "modified",
        "pedigree",
        "externalReferences",
        "properties",
        "components",
        "evidence",
        "releaseNotes",
        "modelCard",
        "data",
        "cryptoProperties",
        "tags",
    ),
}
#: JSON arrays that XML wraps in a plural element around singular items.
_XML_ITEMS = {
    "inputs": "input",
    "outputs": "output",
    "users": "user",
    "useCases": "useCase",
    "technicalLimitations": "technicalLimitation",
    "performanceTradeoffs": "performanceTradeoff",
    "ethicalConsiderations": "ethicalConsideration",
    "performanceMetrics": "performanceMetric",
    "custodians": "custodian",
    "stewards": "steward",
    "owners": "owner",
}
#: Children that are XML attributes, not elements.
_XML_ATTRIBUTES = {"bom-ref"}


def _xml_elements(tag: str, value: Any) -> list[etree._Element]:
    """The XML form of one JSON member of ``modelCard`` / ``data``, as a list of elements.

    Its texts are the model card's (the author's: ``pipeline_tag: "fill\x1bmask"`` is valid
    YAML): each goes through :func:`_xml_text`, as one escape character would otherwise make
    the whole XML form unwritable."""
    from lxml import etree  # XML only: lxml costs an import in every gate

    if tag == "properties":
        wrapper = etree.Element(_q("properties"))
        for prop in value:
            name = _xml_text(prop["name"])
            etree.SubElement(wrapper, _q("property"), name=name).text = _xml_text(prop["value"])
        return [wrapper]
    if tag == "datasets":
        # A choice of <ref> (a data component's bom-ref) and inline <dataset> (componentData).
        wrapper = etree.Element(_q("datasets"))
        for entry in value:
            if set(entry) == {"ref"}:
                etree.SubElement(wrapper, _q("ref")).text = _xml_text(entry["ref"])
            else:
                for element in _xml_elements("data", entry):  # the same componentDataType
                    element.tag = _q("dataset")
                    wrapper.append(element)
        return [wrapper]
    if tag == "sensitiveData":
        # maxOccurs="unbounded" on the element itself: no wrapper.
        elements = []
        for text in value:
            element = etree.Element(_q("sensitiveData"))
            element.text = _xml_text(text)
            elements.append(element)
        return elements
    element = etree.Element(_q(tag))
    if isinstance(value, dict):
        order = _XML_ORDER.get(tag)
        unknown = set(value) - set(order or ()) - _XML_ATTRIBUTES
        if order is None or unknown:
            # Better to fail loudly than to drop a field silently from the XML form.
            raise BomError(f"no XML mapping for {sorted(unknown) or tag!r} under <{tag}>")
        for attribute in sorted(_XML_ATTRIBUTES & set(value)):
            element.set(attribute, _xml_text(value[attribute]))
        for key in order:
            if key in value:
                element.extend(_xml_elements(key, value[key]))
    elif isinstance(value, list):
        if tag not in _XML_ITEMS:
            raise BomError(f"no XML mapping for the list <{tag}>")
        for entry in value:
            element.extend(_xml_elements(_XML_ITEMS[tag], entry))
    else:
        element.text = _xml_text(str(value))
    return [element]


#: What XML 1.0 cannot hold at all, even escaped (C0 controls but tab and line breaks, lone
#: surrogates, U+FFFE/U+FFFF).
def _xml_parser() -> etree.XMLParser:
    """For the library's own output: no entities, no DTD, no network; any size."""
    from lxml import etree  # XML only: lxml costs an import in every gate

    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=True)


def _insert_component_children(
    component: etree._Element, tag: str, elements: Sequence[etree._Element]
) -> None:
    """Insert ``elements`` (all ``<tag>``) where the component's XSD sequence expects them:
    before the first child the sequence puts after ``tag``."""
    order = _XML_ORDER["component"]
    rank = order.index(tag)
    position = len(component)
    for index, child in enumerate(component):
        namespace, _, local = child.tag[1:].partition("}")
        if namespace != CYCLONEDX_NS or local not in order or order.index(local) > rank:
            position = index
            break
    component[position:position] = list(elements)


def _sort_xml_components(root: etree._Element) -> None:
    for wrapper in list(root.iter(_q("components"))):
        ordered = sorted(wrapper, key=lambda child: child.get("bom-ref", ""))
        if ordered != list(wrapper):  # a model's files usually are: not moved again
            wrapper[:] = ordered


def _dependency_graph(bom: Bom, graph: Mapping[str, Sequence[str]]) -> list[CdxDependency]:
    """The graph ``Bom.register_dependency`` would record: one entry per component, with its edges.

    ``register_dependency`` finds its target by a linear scan of the graph, so registering 1,000
    libraries one by one costs O(n²), seconds. (The serialiser's own ``Bom.validate`` still scans
    once per component; that half of the cost is the library's.)
    """
    refs = {str(c.bom_ref): c.bom_ref for c in bom.components}
    if bom.metadata.component is not None:
        refs[str(bom.metadata.component.bom_ref)] = bom.metadata.component.bom_ref
    return [
        CdxDependency(
            ref=bom_ref, dependencies=[CdxDependency(ref=refs[d]) for d in graph.get(ref, ())]
        )
        for ref, bom_ref in refs.items()
    ]


def vulnerabilities(
    advisories: Mapping[str, list[Advisory]], refs: Mapping[str, str], fallback: str
) -> list[Vulnerability]:
    """One CycloneDX vulnerability per advisory id, affecting every component it was found in.

    ``refs`` maps a dependency subject to its library component's bom-ref. An advisory of a
    subject with no component of its own affects ``fallback`` (the project): a known
    vulnerability is never left out of the BOM.
    """
    by_id: dict[str, list[tuple[str, Advisory]]] = {}
    for subject, found in advisories.items():
        ref = refs.get(subject, fallback)
        for advisory in found:
            by_id.setdefault(advisory.id, []).append((ref, advisory))
    return [_vulnerability(vid, by_id[vid]) for vid in sorted(by_id)]


def _vulnerability(vid: str, affected: list[tuple[str, Advisory]]) -> Vulnerability:
    first = affected[0][1]
    aliases = sorted({alias for _, a in affected for alias in a.aliases} - {vid})
    ratings = {_rating(a.rating, a.source) for _, a in affected}
    targets: dict[str, set[str]] = {}
    for ref, advisory in affected:
        targets.setdefault(ref, set()).add(advisory.version)
    return Vulnerability(
        bom_ref=f"vulnerability:{vid}",
        id=vid,
        source=_source(vid, first),
        references=[
            VulnerabilityReference(id=alias, source=_id_source(alias)) for alias in aliases
        ],
        ratings=sorted(ratings, key=lambda r: (str(r.method), str(r.score), str(r.vector))),
        description=first.summary or None,
        detail=first.details or None,
        recommendation=_recommendation(a for _, a in affected),
        published=_when(first.published),
        updated=_when(first.modified),
        affects=[
            BomTarget(
                ref=ref,
                versions=[
                    BomTargetVersionRange(
                        version=version, status=ImpactAnalysisAffectedStatus.AFFECTED
                    )
                    for version in sorted(versions)
                ],
            )
            for ref, versions in sorted(targets.items())
        ],
    )


def _source(vid: str, advisory: Advisory) -> VulnerabilitySource:
    """The database that answered, and where the advisory is described."""
    url = advisory.url or _id_url(vid)
    return VulnerabilitySource(name=advisory.source, url=XsUri(url) if url else None)


def _id_source(vid: str) -> VulnerabilitySource:
    for prefix, name, base in _ID_SOURCES:
        if vid.startswith(prefix):
            return VulnerabilitySource(name=name, url=XsUri(base + vid))
    return VulnerabilitySource(name="OSV", url=XsUri(OSV_URL + vid))


_METHODS = {method.value: method for method in VulnerabilityScoreSource}


def _rating(rating: Rating, database: str) -> VulnerabilityRating:
    method = _METHODS.get(rating.method or "", VulnerabilityScoreSource.OTHER)
    score: Decimal | None = None
    if rating.score is not None:
        try:
            score = Decimal(rating.score)  # a float fails the 1.6 schema's strict validation
        except InvalidOperation as exc:
            raise VulnerabilityFactsError(f"score {rating.score!r} is not a number") from exc
    try:
        severity = VulnerabilitySeverity(rating.severity)
    except ValueError as exc:
        raise VulnerabilityFactsError(f"severity {rating.severity!r} is not a label") from exc
    # Where the severity came from: computed from the vector, the database's own label, or
    # our default when the record has neither.
    origin = {"cvss": None, "database": database, "default": "pytest-mlsupply default"}
    name = origin.get(rating.source or "", rating.source)
    return VulnerabilityRating(
        source=VulnerabilitySource(name=name) if name else None,
        score=score,
        severity=severity,
        method=method,
        vector=rating.vector,
    )
