"""The CycloneDX 1.6 ML-BOM: models with their files, datasets, libraries and every check's verdict.

cyclonedx-python-lib 11 builds and serialises the BOM, but its ``Component`` has no ``modelCard``
or ``data`` field yet. So the BOM is built with the library, serialised, and those two fields are
added to the serialised form (a JSON dict, or an XML tree in the CycloneDX namespace) before the
result is validated against the 1.6 schema shipped inside the library (by
:mod:`pytest_mlsupply.reports.bom_schema`). A BOM that fails validation is never returned: it
raises :class:`BomError`.

The library components (one per distribution, the part that grows to thousands) are the
exception: their few fields are written straight into the serialised form by :class:`_Library`,
because the library's model costs about a millisecond per component (sorted sets compared and
hashed by every field, a graph scan per component). ``_library_built_json`` and
``_library_built_xml`` build the same BOM entirely with the library; the tests hold both forms
equal to them.

Component identities (``bom-ref``) are derived from manifest names, so two runs over the same
inputs produce the same document except for ``serialNumber`` and ``metadata.timestamp``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cyclonedx.exception import CycloneDxException
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
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from pytest_mlsupply import __version__
from pytest_mlsupply.checks.unchecked import declared_not_checked
from pytest_mlsupply.engines.model_card import heading_means, meaningful
from pytest_mlsupply.manifest.model import HubRef
from pytest_mlsupply.reports import bom_schema
from pytest_mlsupply.reports.bom_vulnerabilities import (
    VulnerabilityFactsError,
    advisories_by_subject,
    vulnerabilities,
)
from pytest_mlsupply.reports.matrix import cell_verdicts, index_results
from pytest_mlsupply.results import CheckResult, RowKind, Severity

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from uuid import UUID

    from cyclonedx.model.license import License

    from pytest_mlsupply.manifest.model import DatasetDecl, ModelDecl
    from pytest_mlsupply.plan import PlannedItem
    from pytest_mlsupply.sources.inventory import (
        ArtifactFile,
        Dependency,
        Inventory,
        ResolvedModel,
    )

CYCLONEDX_NS = "http://cyclonedx.org/schema/bom/1.6"
PROPERTY_PREFIX = "mlsupply:"
HUB_URL = "https://huggingface.co"
#: Spellings of the default Python package index (no ``repository_url`` qualifier for these).
PYPI_URLS = ("https://pypi.org", "https://pypi.python.org", "https://upload.pypi.org")
TOOL_NAME = "pytest-mlsupply"

_CHUNK = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HUB_URI = re.compile(r"^(?P<scheme>hf|hf-datasets)://(?P<repo>[^@\s]+?)(?:@(?P<rev>[^@\s]+))?$")


class BomError(Exception):
    """The BOM could not be built or does not validate against the CycloneDX 1.6 schema."""


# --- bom-refs: stable, derived from manifest names ------------------------------------------


def project_ref(name: str) -> str:
    return f"project:{name}"


def model_ref(name: str) -> str:
    return f"model:{name}"


def file_ref(subject: str) -> str:
    """``subject`` is ``ArtifactFile.subject``, i.e. ``<model>/<relpath>``."""
    return f"file:{subject}"


def dataset_ref(name: str) -> str:
    """A declared dataset's ``data`` component: what a model's ``modelCard`` references."""
    return f"dataset:{name}"


def dataset_file_ref(dataset: str, relpath: str) -> str:
    return f"dataset-file:{dataset}/{relpath}"


def library_ref(subject: str) -> str:
    """``subject`` is ``Dependency.subject`` (``name==version`` or the requirement)."""
    return f"library:{subject}"


# --- public API ----------------------------------------------------------------------------------


def build_bom(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    *,
    serial_number: UUID | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """The ML-BOM as a CycloneDX 1.6 JSON document (a dict), validated; raises :class:`BomError`.

    The library components (one per pinned distribution: the part of the BOM that grows to
    thousands) are written as JSON by :meth:`_Library.json`, not by cyclonedx-python-lib, whose
    model would sort, hash and scan them for seconds (see ``docs/bom.md``); the library still
    serialises everything else. The tests keep :func:`_library_built_json` (every component
    through the library) as the reference both must equal.
    """
    assembled = _assemble(
        inventory, items, results, threshold, serial_number, timestamp, libraries_in_bom=False
    )
    document = _serialise_json(assembled)
    # The library wrote the graph of the components it holds; the libraries' entries (no edges
    # of their own) and the project's edges to them complete it, in the library's order.
    library_refs = [library.ref for library in assembled.libraries]
    if library_refs:
        document.setdefault("components", []).extend(lib.json() for lib in assembled.libraries)
    graph = document.setdefault("dependencies", [])
    graph.extend({"ref": ref} for ref in library_refs)
    for entry in graph:
        if entry["ref"] == assembled.project and library_refs:
            entry["dependsOn"] = sorted({*entry.get("dependsOn", ()), *library_refs})
    graph.sort(key=lambda entry: entry["ref"])
    return _finish_json(document, assembled)


def _library_built_json(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    *,
    serial_number: UUID | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """:func:`build_bom` with every component built and serialised by cyclonedx-python-lib.

    The reference :func:`build_bom` must equal (tests compare both on rich BOMs) and the
    baseline ``benchmarks/bom_speed.py`` measures it against; the plugin never calls it.
    """
    assembled = _assemble(inventory, items, results, threshold, serial_number, timestamp)
    return _finish_json(_serialise_json(assembled), assembled)


def _serialise_json(assembled: _Assembled) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(JsonV1Dot6(assembled.bom).output_as_string())
    except CycloneDxException as exc:
        raise BomError(f"cyclonedx-python-lib refused the BOM: {exc}") from exc
    return document


def _finish_json(document: dict[str, Any], assembled: _Assembled) -> dict[str, Any]:
    """Add the fields the library has no model for, sort, validate."""
    components = {c["bom-ref"]: c for c in document.get("components", []) if "bom-ref" in c}
    for ref, card in assembled.model_cards.items():
        components[ref]["modelCard"] = card
    for ref, data in assembled.data.items():
        components[ref]["data"] = data
    _sort_json_components(document)

    validate_bom_json(document)
    return document


def validate_bom_json(document: Mapping[str, Any]) -> None:
    """Raise :class:`BomError` naming the first schema violation and its JSON path."""
    try:
        bom_schema.validate_json(document)
    except bom_schema.SchemaViolation as exc:
        raise BomError(
            f"the ML-BOM is not valid CycloneDX 1.6 JSON: at {exc.path}: {_shorten(exc.message)}"
        ) from exc


def render_bom_json(bom: Mapping[str, Any]) -> str:
    """Stable text for a BOM dict: sorted keys, two-space indent, trailing newline."""
    return json.dumps(bom, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def render_bom_xml(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    *,
    serial_number: UUID | None = None,
    timestamp: datetime | None = None,
) -> str:
    """The same ML-BOM as CycloneDX 1.6 XML, validated against the XSD; raises :class:`BomError`.

    As in :func:`build_bom`, the library components are written by :meth:`_Library.xml`, and
    :func:`_library_built_xml` is the reference the tests hold this equal to.
    """
    assembled = _assemble(
        inventory, items, results, threshold, serial_number, timestamp, libraries_in_bom=False
    )
    return _render_xml(assembled)


def _library_built_xml(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    *,
    serial_number: UUID | None = None,
    timestamp: datetime | None = None,
) -> str:
    """:func:`render_bom_xml` with every component built and serialised by the library (the
    tests' reference; the plugin never calls it)."""
    assembled = _assemble(inventory, items, results, threshold, serial_number, timestamp)
    return _render_xml(assembled)


def _render_xml(assembled: _Assembled) -> str:
    try:
        from cyclonedx.output.xml import XmlV1Dot6  # only when an XML BOM is asked for

        text = XmlV1Dot6(assembled.bom).output_as_string()
    except CycloneDxException as exc:
        raise BomError(f"cyclonedx-python-lib refused the BOM: {exc}") from exc

    # Our own output, but it carries names from untrusted files (a file named with a control
    # character): what XML cannot hold becomes U+FFFD before the text is parsed.
    root = ET.fromstring(_NOT_XML_RE.sub("\ufffd", text))
    if assembled.libraries:
        _add_xml_libraries(root, assembled.libraries, assembled.project)
    components = {
        element.get("bom-ref"): element
        for element in root.iter(_q("component"))
        if element.get("bom-ref") is not None
    }
    for ref, card in assembled.model_cards.items():
        _insert_component_extension(components[ref], _xml_elements("modelCard", card))
    for ref, data in assembled.data.items():
        elements = [element for entry in data for element in _xml_elements("data", entry)]
        _insert_component_extension(components[ref], elements)
    _sort_xml_components(root)
    _unqualify(root)
    _xml_safe(root)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")

    try:
        bom_schema.validate_xml(body)
    except bom_schema.SchemaViolation as exc:
        raise BomError(
            f"the ML-BOM is not valid CycloneDX 1.6 XML: {_shorten(str(exc))}\n"
            "(this is a bug in pytest-mlsupply's XML conversion; the JSON form is unaffected)"
        ) from exc
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


# --- assembly ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Assembled:
    bom: Bom
    project: str
    """bom-ref of the project (the root component)."""
    libraries: list[_Library]
    """The library components left out of ``bom`` (``libraries_in_bom=False``), else empty."""
    model_cards: dict[str, dict[str, Any]]
    """bom-ref of a model component -> its ``modelCard`` (JSON form)."""
    data: dict[str, list[dict[str, Any]]]
    """bom-ref of a data component -> its ``data`` entries (JSON form)."""


def _assemble(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    serial_number: UUID | None,
    timestamp: datetime | None,
    *,
    libraries_in_bom: bool = True,
) -> _Assembled:
    """The library's Bom of the run, with the fields it has no model for alongside.

    ``libraries_in_bom=False`` leaves the library components (and the graph's edges to them)
    out of the Bom, for the caller to write: see :func:`build_bom`.
    """
    manifest = inventory.manifest
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
        card = _card_facts(by_subject.get((RowKind.PROVENANCE, decl.name), []))
        names = [name for name in decl.datasets if name in datasets]
        used_datasets.update(names)
        model_datasets[model_ref(decl.name)] = [dataset_ref(name) for name in names]
        files = [
            _file_component(
                artifact,
                by_subject.get((RowKind.ARTIFACT, artifact.subject), []),
                properties.get(file_ref(artifact.subject), []),
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
        license_text = decl.license or licence.get("card") or _card_license(card)
        models.append(
            Component(
                type=ComponentType.MACHINE_LEARNING_MODEL,
                bom_ref=model_ref(decl.name),
                name=decl.name,
                version=source.revision if source is not None else None,
                description=decl.description,
                purl=purl,
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
        model_cards[model_ref(decl.name)] = _model_card(decl, card, names, datasets)

    data_entries: dict[str, list[dict[str, Any]]] = {}
    data_components: list[Component] = []
    for dataset in inventory.datasets:
        ref = dataset_ref(dataset.name)
        claim = _claim_fact(by_subject.get((RowKind.PROVENANCE, dataset.name), []), "dataset")
        data_components.append(
            _dataset_component(
                dataset, manifest.root, inventory.hub_endpoint, claim, properties.get(ref, [])
            )
        )
        commit = claim.get("commit")
        data_entries[ref] = [
            _dataset_data(
                dataset, inventory.hub_endpoint, commit if isinstance(commit, str) else None
            )
        ]

    libraries = _libraries(inventory.dependencies, properties)
    components = [library.component() for library in libraries] if libraries_in_bom else []

    # Declared in the manifest, read by no check yet: the BOM does not let them look verified.
    unchecked = [_property("declared-not-checked", d.key) for d in declared_not_checked(manifest)]
    project = Component(
        type=ComponentType.APPLICATION,
        bom_ref=root_ref,
        name=manifest.project_name,
        version=manifest.project_version,
        properties=[*properties.get(root_ref, []), *unchecked],
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
    return _Assembled(
        bom=bom,
        project=root_ref,
        libraries=[] if libraries_in_bom else libraries,
        model_cards=model_cards,
        data=data_entries,
    )


def _property(name: str, value: str) -> Property:
    return Property(name=PROPERTY_PREFIX + name, value=value)


def _license(text: str) -> License:
    # An SPDX id (normalised: "apache-2.0" -> "Apache-2.0") or expression if it is one, else a
    # named license, so a custom license string never makes the BOM invalid. Imported here: the
    # factory builds license-expression's SPDX table on import (tens of milliseconds), which a
    # BOM with no licence never needs.
    from cyclonedx.contrib.license.factories import LicenseFactory

    return LicenseFactory().make_from_string(text)


def hub_purl(repo_id: str, revision: str | None, endpoint: str | None = None) -> PackageURL:
    """The purl of a Hub repository at a revision: ``pkg:huggingface/<namespace>/<name>@<rev>``.

    The package-url spec's huggingface type; datasets have no purl type of their own and share
    it. A Hub other than the default one (``HF_ENDPOINT``: a mirror, an enterprise Hub) is the
    ``repository_url`` qualifier, as the spec prescribes; the default adds none. The only place
    Hub purls are built, so every component (models, datasets, base models) spells them alike.
    """
    namespace, _, name = repo_id.lower().rpartition("/")
    qualifiers = None
    if endpoint is not None and endpoint.rstrip("/") != HUB_URL:
        qualifiers = {"repository_url": endpoint.rstrip("/")}
    return PackageURL(
        type="huggingface",
        namespace=namespace or None,
        name=name,
        version=revision.lower() if revision else None,
        qualifiers=qualifiers,
    )


def _used_source(resolved: ResolvedModel) -> HubRef | None:
    """The model's hub reference at the commit its files came from (when it resolved)."""
    source = resolved.decl.source
    if source is None or resolved.commit is None:
        return source
    return replace(source, revision=resolved.commit)


def _hub_url(ref: HubRef, endpoint: str | None = None) -> str:
    prefix = "" if ref.repo_type == "model" else "datasets/"
    base = (endpoint or HUB_URL).rstrip("/")
    return f"{base}/{prefix}{ref.repo_id}/tree/{ref.revision}"


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


def _claim_fact(results: Sequence[CheckResult], claim: str) -> dict[str, Any]:
    """The fact a provenance claim records under its own name (``license``: the licence read
    and the restrictions in force; ``attestation``: the envelopes and verified statements)."""
    for result in results:
        fact = result.facts.get(claim) if result.check == claim else None
        if isinstance(fact, dict):
            return fact
    return {}


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
#: has no ``formulation`` (its Bom leaves it as a TODO), so the build facts go where it can write.
_ATTESTATION_PROPERTIES = (
    ("predicate-type", "predicate_type"),
    ("builder", "builder"),
    ("build-type", "build_type"),
    ("source-repository", "source_repository"),
    ("source-commit", "source_commit"),
    ("build-parameters", "build_parameters"),
)


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


def _source_text(ref: HubRef | None, path: Path | None, root: Path) -> str:
    if ref is not None:
        return ref.uri
    if path is None:
        return "(none)"
    # Relative to the manifest, so the BOM does not change with the checkout directory.
    try:
        return (root / path).relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


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


def _lineage_chain(decl: ModelDecl, results: Sequence[CheckResult]) -> list[dict[str, Any]]:
    for result in results:
        fact = result.facts.get("lineage")
        if result.check == "lineage" and isinstance(fact, dict):
            ancestors = fact.get("ancestors")
            if isinstance(ancestors, list) and all(isinstance(a, dict) for a in ancestors):
                return ancestors
    if decl.lineage is not None:
        return [
            {
                "ref": hop.ref,
                "repo": hop.repo,
                "revision": hop.revision,
                "sha256": hop.sha256.removeprefix("sha256:") if hop.sha256 else None,
                "files": {k: v.removeprefix("sha256:") for k, v in hop.files.items()},
            }
            for hop in decl.lineage.hops
        ]
    if not decl.base_model:
        return []
    match = _HUB_URI.match(decl.base_model.strip())
    if match is None:
        return [{"ref": decl.base_model}]
    return [{"ref": decl.base_model, "repo": match["repo"], "revision": match["rev"]}]


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
    artifact: ArtifactFile, results: Sequence[CheckResult], properties: Sequence[Property]
) -> Component:
    sha256 = _sha256_fact(results) or _stream_sha256(artifact.path)
    file_format = _format_fact(results)
    extra = [_property("size", str(artifact.size))]
    if file_format is not None:
        extra.append(_property("format", file_format))
    return Component(
        type=ComponentType.FILE,
        bom_ref=file_ref(artifact.subject),
        name=artifact.relpath,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)] if sha256 else None,
        properties=[*extra, *properties],
    )


def _sha256_fact(results: Sequence[CheckResult]) -> str | None:
    """The first well-formed digest a check reported (results come sorted by check name)."""
    for result in results:
        value = result.facts.get("sha256")
        if isinstance(value, str) and _SHA256.match(value.lower()):
            return value.lower()
    return None


def _format_fact(results: Sequence[CheckResult]) -> str | None:
    for result in results:
        value = result.facts.get("format")
        if isinstance(value, str) and value:
            return value
    return None


def _stream_sha256(path: Path) -> str | None:
    """Fallback when no check reported the digest; None when the file cannot be read."""
    digest = hashlib.sha256()
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None  # a FIFO or device would block; it gets no hash, and its check errored
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _dataset_component(
    dataset: DatasetDecl,
    root: Path,
    endpoint: str | None,
    claim: Mapping[str, Any],
    properties: Sequence[Property],
) -> Component:
    """The dataset's ``data`` component; its files, with the digests its ``dataset`` claim
    computed, are nested ``file`` components (a dataset of many files has no one hash)."""
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
    digests = claim.get("files")
    files = [
        Component(
            type=ComponentType.FILE,
            bom_ref=dataset_file_ref(dataset.name, rel),
            name=rel,
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest.lower())],
        )
        for rel, digest in sorted(digests.items() if isinstance(digests, dict) else [])
        if isinstance(digest, str) and _SHA256.match(digest.lower())
    ]
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


#: ``pii`` levels that mean the data identifies people: CycloneDX ``sensitiveData`` entries.
_SENSITIVE = {
    "personal": "personal data (about identifiable people)",
    "sensitive": "special-category personal data (health, biometrics, beliefs, ...)",
}


def _dataset_data(
    dataset: DatasetDecl, endpoint: str | None, commit: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "dataset", "name": dataset.name}
    if dataset.source is not None:
        source = replace(dataset.source, revision=commit) if commit else dataset.source
        data["contents"] = {"url": _hub_url(source, endpoint)}
    if dataset.pii is not None:
        data["classification"] = f"pii:{dataset.pii}"
        if dataset.pii in _SENSITIVE:
            data["sensitiveData"] = [_SENSITIVE[dataset.pii]]
    if dataset.description:
        data["description"] = dataset.description
    governance = {
        role: [{"organization": {"name": name}} for name in names]
        for role, names in dataset.governance.items()
        if names
    }
    if governance:
        data["governance"] = governance
    return data


@dataclass(frozen=True)
class _Library:
    """One library component's fields: built once, then either a cyclonedx-python-lib
    :class:`Component` (the XML form, and the reference) or its JSON form directly."""

    ref: str
    name: str
    version: str | None
    purl: PackageURL | None
    hashes: list[HashType]
    properties: list[Property]

    def component(self) -> Component:
        return Component(
            type=ComponentType.LIBRARY,
            bom_ref=self.ref,
            name=self.name,
            version=self.version,
            purl=self.purl,
            hashes=self.hashes or None,
            properties=self.properties,
        )

    def xml(self) -> ET.Element:
        """What the library writes for :meth:`component` in XML: the XSD's order of children."""
        element = ET.Element(_q("component"), {"type": ComponentType.LIBRARY.value})
        element.set("bom-ref", self.ref)
        fields = self.json()
        ET.SubElement(element, _q("name")).text = self.name
        if "version" in fields:
            ET.SubElement(element, _q("version")).text = fields["version"]
        if "hashes" in fields:
            hashes = ET.SubElement(element, _q("hashes"))
            for entry in fields["hashes"]:
                ET.SubElement(hashes, _q("hash"), alg=entry["alg"]).text = entry["content"]
        if "purl" in fields:
            ET.SubElement(element, _q("purl")).text = fields["purl"]
        if "properties" in fields:
            _xml_properties(element, fields["properties"])
        return element

    def json(self) -> dict[str, Any]:
        """What cyclonedx-python-lib writes for :meth:`component` (a test holds both equal on
        rich BOMs): its sets are sorted by their fields and drop duplicates, and empty or
        ``None`` fields are left out."""
        out: dict[str, Any] = {"type": ComponentType.LIBRARY.value, "bom-ref": self.ref}
        out["name"] = self.name
        if self.version is not None:
            out["version"] = self.version
        if self.purl is not None:
            out["purl"] = self.purl.to_string()
        hashes = sorted({(h.alg.value, h.content) for h in self.hashes})
        if hashes:
            out["hashes"] = [{"alg": alg, "content": content} for alg, content in hashes]
        properties = sorted({(p.name, p.value) for p in self.properties})
        if properties:
            out["properties"] = [{"name": name, "value": value} for name, value in properties]
        return out


def _libraries(
    dependencies: Sequence[Dependency], properties: Mapping[str, Sequence[Property]]
) -> list[_Library]:
    # The same distribution may be declared twice (a requirements file and the environment):
    # one component, with every origin recorded.
    grouped: dict[str, list[Dependency]] = {}
    for dependency in dependencies:
        grouped.setdefault(dependency.subject, []).append(dependency)
    libraries = []
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
        libraries.append(
            _Library(
                ref=library_ref(subject),
                name=first.name,
                version=first.version,
                purl=None if link is not None else pypi_purl(first.name, first.version, index),
                hashes=_pinned_hashes(group),
                properties=[*extra, *properties.get(library_ref(subject), [])],
            )
        )
    return libraries


def pypi_purl(name: str, version: str | None, index: str | None = None) -> PackageURL:
    """``pkg:pypi/<name>@<version>``; an index other than PyPI is the ``repository_url``
    qualifier (the package-url spec's pypi type: the default repository adds none)."""
    qualifiers = None
    if index is not None and not _is_default_index(index):
        qualifiers = {"repository_url": index.rstrip("/")}
    return PackageURL(type="pypi", name=name, version=version, qualifiers=qualifiers)


def _is_default_index(url: str) -> bool:
    trimmed = url.strip().rstrip("/").lower()
    return trimmed in {f"{base}{path}" for base in PYPI_URLS for path in ("", "/simple", "/pypi")}


#: ``--hash=<algorithm>:<hex>`` algorithms pip accepts, as CycloneDX names them.
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


# --- model card ----------------------------------------------------------------------------------


def _card_facts(results: Sequence[CheckResult]) -> dict[str, Any] | None:
    """The parsed card a provenance check reported (``model-card`` preferred), if any."""
    ordered = sorted(results, key=lambda result: result.check != "model-card")
    for result in ordered:
        card = result.facts.get("card")
        if isinstance(card, dict):
            return card
    return None


def _card_metadata(card: Mapping[str, Any] | None) -> dict[str, Any]:
    metadata = card.get("metadata") if card else None
    return metadata if isinstance(metadata, dict) else {}


def _card_license(card: Mapping[str, Any] | None) -> str | None:
    value = _card_metadata(card).get("license")
    return value if isinstance(value, str) and value.strip() else None


def _model_card(
    decl: ModelDecl,
    card: Mapping[str, Any] | None,
    dataset_names: Sequence[str],
    declared: Mapping[str, DatasetDecl] | None = None,
) -> dict[str, Any]:
    """The CycloneDX ``modelCard`` from the card's front matter and sections, plus the manifest.

    ``dataset_names`` are the datasets the manifest says the model uses; ``declared`` all the
    manifest's datasets, against which the card's own ``datasets:`` list is matched (a match is a
    reference to that ``data`` component, anything else an inline dataset named by the card)."""
    metadata = _card_metadata(card)
    raw_sections = card.get("sections") if card else None
    sections = raw_sections if isinstance(raw_sections, dict) else {}
    raw_config = card.get("config") if card else None
    config = raw_config if isinstance(raw_config, dict) else {}

    parameters: dict[str, Any] = {}
    task = metadata.get("pipeline_tag")
    if not isinstance(task, str):
        task = _model_index_task(metadata.get("model-index"))
    if isinstance(task, str) and task:
        parameters["task"] = task
    family = config.get("model_type", metadata.get("model_type"))
    if isinstance(family, str) and family:
        parameters["architectureFamily"] = family
    architectures = config.get("architectures", metadata.get("architectures"))
    if isinstance(architectures, str):
        parameters["modelArchitecture"] = architectures
    elif isinstance(architectures, list) and architectures:
        parameters["modelArchitecture"] = ", ".join(str(a) for a in architectures)
    elif isinstance(config.get("peft_type"), str):
        base = config.get("base_model")
        parameters["modelArchitecture"] = f"{config['peft_type']} adapter" + (
            f" of {base}" if isinstance(base, str) else ""
        )
    datasets = _card_datasets(dataset_names, metadata.get("datasets"), declared or {})
    if datasets:
        parameters["datasets"] = datasets
    formats = _TASK_FORMATS.get(task) if isinstance(task, str) else None
    if formats is not None:
        parameters["inputs"] = [{"format": f} for f in formats[0]]
        parameters["outputs"] = [{"format": f} for f in formats[1]]

    model_card: dict[str, Any] = {}
    if parameters:
        model_card["modelParameters"] = parameters
    metrics = _performance_metrics(metadata.get("model-index"))
    if metrics:
        model_card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    considerations = _considerations(sections)
    if considerations:
        model_card["considerations"] = considerations
    source = f"card:{decl.card.path}" if card is not None else "manifest"
    model_card["properties"] = [{"name": PROPERTY_PREFIX + "card-source", "value": source}]
    return model_card


#: The Hub's ``pipeline_tag`` → the model's input and output formats (CycloneDX's examples of a
#: format: "string, image, time-series"). Tasks not listed get no inputs / outputs.
_TASK_FORMATS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "text-classification": (("string",), ("label",)),
    "token-classification": (("string",), ("label per token",)),
    "zero-shot-classification": (("string", "candidate labels"), ("label",)),
    "fill-mask": (("string",), ("string",)),
    "question-answering": (("string", "context string"), ("string span",)),
    "table-question-answering": (("table", "string"), ("string",)),
    "text-generation": (("string",), ("string",)),
    "text2text-generation": (("string",), ("string",)),
    "summarization": (("string",), ("string",)),
    "translation": (("string",), ("string",)),
    "feature-extraction": (("string",), ("embedding",)),
    "sentence-similarity": (("string", "string"), ("similarity score",)),
    "image-classification": (("image",), ("label",)),
    "object-detection": (("image",), ("bounding boxes", "label")),
    "image-segmentation": (("image",), ("segmentation mask",)),
    "image-to-text": (("image",), ("string",)),
    "image-text-to-text": (("image", "string"), ("string",)),
    "text-to-image": (("string",), ("image",)),
    "automatic-speech-recognition": (("audio",), ("string",)),
    "audio-classification": (("audio",), ("label",)),
    "text-to-speech": (("string",), ("audio",)),
    "time-series-forecasting": (("time-series",), ("time-series",)),
}


def _model_index_task(model_index: Any) -> str | None:
    for entry in model_index if isinstance(model_index, list) else []:
        for result in (entry.get("results") if isinstance(entry, dict) else None) or []:
            task = result.get("task") if isinstance(result, dict) else None
            if isinstance(task, dict) and isinstance(task.get("type"), str):
                return str(task["type"])
    return None


def _card_datasets(
    dataset_names: Sequence[str], named: Any, declared: Mapping[str, DatasetDecl]
) -> list[dict[str, Any]]:
    """References to the declared ``data`` components the model uses, then each dataset the
    card's ``datasets:`` names: a reference when it is a declared one (by name or Hub repo; a
    local copy also by the repo's last part), else inline data named by the card."""
    refs = [dataset_ref(name) for name in dataset_names]
    out: list[dict[str, Any]] = [{"ref": ref} for ref in refs]
    entries = [named] if isinstance(named, str) else named if isinstance(named, list) else []
    for entry in entries:
        if not isinstance(entry, str) or not entry.strip():
            continue
        match = _declared_dataset(entry.strip(), declared)
        if match is not None:
            if dataset_ref(match) not in refs:
                refs.append(dataset_ref(match))
                out.append({"ref": dataset_ref(match)})
            continue
        inline = {
            "type": "dataset",
            "name": entry.strip(),
            "description": "named by the model card's datasets: list; not declared in the "
            "manifest, so not checked",
        }
        if inline not in out:
            out.append(inline)
    return out


def _declared_dataset(entry: str, declared: Mapping[str, DatasetDecl]) -> str | None:
    wanted = entry.lower()
    for name, dataset in sorted(declared.items()):
        if name.lower() == wanted:
            return name
        if dataset.source is not None and dataset.source.repo_id.lower() == wanted:
            return name
        if dataset.source is None and wanted.rpartition("/")[2] == name.lower():
            return name
    return None


def _dataset_label(dataset: Any) -> str | None:
    """``name (type, config), split`` of a model-index dataset: the slice a metric was measured on."""
    if not isinstance(dataset, dict):
        return None
    name, kind = dataset.get("name"), dataset.get("type")
    label = str(name or kind or "")
    if not label:
        return None
    extra = [str(v) for v in (kind if name else None, dataset.get("config")) if v]
    if extra and extra != [label]:
        label += f" ({', '.join(extra)})"
    if dataset.get("split"):
        label += f", split {dataset['split']}"
    return label


def _performance_metrics(model_index: Any) -> list[dict[str, str]]:
    """``model-index[*].results[*].metrics[*]`` as CycloneDX metrics: the value as text, the
    slice naming the dataset (with its config and split) the metric was measured on."""
    metrics: list[dict[str, str]] = []
    for entry in model_index if isinstance(model_index, list) else []:
        evaluations = entry.get("results") if isinstance(entry, dict) else None
        for evaluation in evaluations if isinstance(evaluations, list) else []:
            if not isinstance(evaluation, dict):
                continue
            slice_name = _dataset_label(evaluation.get("dataset"))
            found = evaluation.get("metrics")
            for metric in found if isinstance(found, list) else []:
                if not isinstance(metric, dict) or metric.get("type") is None:
                    continue
                item = {"type": str(metric["type"])}
                if metric.get("value") is not None:
                    item["value"] = str(metric["value"])
                if slice_name is not None:
                    item["slice"] = slice_name
                metrics.append(item)
    return metrics


def _considerations(sections: Mapping[Any, Any]) -> dict[str, Any]:
    """Users, use cases, limitations and ethical considerations from the card's sections, each
    recognised by meaning (engines/model_card.py's heading table, shared with the card claim)."""
    users: list[str] = []
    use_cases: list[str] = []
    limitations: list[str] = []
    ethical: list[dict[str, str]] = []
    recommendations: list[str] = []
    for heading, body in sections.items():
        if not isinstance(heading, str) or not isinstance(body, str) or not meaningful(body):
            continue
        text = body.strip()
        means = heading_means(heading)
        # One heading may feed several lists: the usual "Bias, Risks, and Limitations" section
        # is both a technical limitation and an ethical consideration.
        if "users" in means:
            users.append(text)
        if "intended_use" in means:
            use_cases.append(text)
        if "technical_limitations" in means:
            limitations.append(text)
        if "out_of_scope_use" in means:
            limitations.append(f"Out of scope: {text}")
        if "bias_risks" in means:
            ethical.append({"name": text})
        if "recommendations" in means:
            recommendations.append(text)
    if ethical and recommendations:
        ethical[0]["mitigationStrategy"] = "\n\n".join(recommendations)
    considerations: dict[str, Any] = {}
    if users:
        considerations["users"] = users
    if use_cases:
        considerations["useCases"] = use_cases
    if limitations:
        considerations["technicalLimitations"] = limitations
    if ethical:
        considerations["ethicalConsiderations"] = ethical
    return considerations


# --- serialised-form helpers ---------------------------------------------------------------------


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
#: Component children that must come after modelCard / data (and foreign elements, always last).
_AFTER_EXTENSIONS = {"data", "cryptoProperties", "tags"}


def _xml_elements(tag: str, value: Any) -> list[ET.Element]:
    """The XML form of one JSON member of ``modelCard`` / ``data``, as a list of elements."""
    if tag == "properties":
        wrapper = ET.Element(_q("properties"))
        for prop in value:
            ET.SubElement(wrapper, _q("property"), name=prop["name"]).text = prop["value"]
        return [wrapper]
    if tag == "datasets":
        # A choice of <ref> (a data component's bom-ref) and inline <dataset> (componentData).
        wrapper = ET.Element(_q("datasets"))
        for entry in value:
            if set(entry) == {"ref"}:
                ET.SubElement(wrapper, _q("ref")).text = entry["ref"]
            else:
                for element in _xml_elements("data", entry):  # the same componentDataType
                    element.tag = _q("dataset")
                    wrapper.append(element)
        return [wrapper]
    if tag == "sensitiveData":
        # maxOccurs="unbounded" on the element itself: no wrapper.
        elements = []
        for text in value:
            element = ET.Element(_q("sensitiveData"))
            element.text = text
            elements.append(element)
        return elements
    element = ET.Element(_q(tag))
    if isinstance(value, dict):
        order = _XML_ORDER.get(tag)
        unknown = set(value) - set(order or ()) - _XML_ATTRIBUTES
        if order is None or unknown:
            # Better to fail loudly than to drop a field silently from the XML form.
            raise BomError(f"no XML mapping for {sorted(unknown) or tag!r} under <{tag}>")
        for attribute in sorted(_XML_ATTRIBUTES & set(value)):
            element.set(attribute, value[attribute])
        for key in order:
            if key in value:
                element.extend(_xml_elements(key, value[key]))
    elif isinstance(value, list):
        if tag not in _XML_ITEMS:
            raise BomError(f"no XML mapping for the list <{tag}>")
        for entry in value:
            element.extend(_xml_elements(_XML_ITEMS[tag], entry))
    else:
        element.text = str(value)
    return [element]


#: What XML 1.0 cannot hold at all, even escaped (C0 controls but tab and line breaks, lone
#: surrogates, U+FFFE/U+FFFF).
_NOT_XML_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(root: ET.Element) -> None:
    """Replace what XML cannot hold with U+FFFD in every text and attribute: the model card's
    text and front matter (``pipeline_tag: "fill\\x1bmask"`` is valid YAML) are the author's,
    and one escape character would make the whole XML form unparseable."""
    for element in root.iter():
        if element.text:
            element.text = _NOT_XML_RE.sub("\ufffd", element.text)
        if element.tail:
            element.tail = _NOT_XML_RE.sub("\ufffd", element.tail)
        for name, value in element.attrib.items():
            element.set(name, _NOT_XML_RE.sub("\ufffd", value))


def _insert_component_extension(component: ET.Element, elements: Sequence[ET.Element]) -> None:
    """Insert modelCard/data where the component's XSD sequence expects them."""
    position = len(component)
    for index, child in enumerate(component):
        namespace, _, local = child.tag[1:].partition("}")
        if namespace != CYCLONEDX_NS or local in _AFTER_EXTENSIONS:
            position = index
            break
    component[position:position] = list(elements)


def _xml_properties(parent: ET.Element, properties: Sequence[Mapping[str, str]]) -> None:
    wrapper = ET.SubElement(parent, _q("properties"))
    for prop in properties:
        ET.SubElement(wrapper, _q("property"), name=prop["name"]).text = prop["value"]


def _add_xml_libraries(root: ET.Element, libraries: Sequence[_Library], project: str) -> None:
    """Add the library components and their graph entries to the library's XML, where (and in
    the order) the library would have written them."""
    components = root.find(_q("components"))
    if components is None:
        # The XSD's sequence: <components> right after <metadata>.
        metadata = root.find(_q("metadata"))
        components = ET.Element(_q("components"))
        root.insert(0 if metadata is None else list(root).index(metadata) + 1, components)
    components.extend(library.xml() for library in libraries)
    graph = root.find(_q("dependencies"))
    if graph is None:  # never: the graph always has the project's entry
        raise BomError("cyclonedx-python-lib wrote no dependency graph")
    refs = [library.ref for library in libraries]
    graph.extend(ET.Element(_q("dependency"), ref=ref) for ref in refs)
    for entry in graph:
        if entry.get("ref") == project:
            edges = {child.get("ref") or "" for child in entry} | set(refs)
            entry[:] = [ET.Element(_q("dependency"), ref=ref) for ref in sorted(edges)]
    graph[:] = sorted(graph, key=lambda entry: entry.get("ref") or "")


def _sort_xml_components(root: ET.Element) -> None:
    for wrapper in root.iter(_q("components")):
        wrapper[:] = sorted(wrapper, key=lambda child: child.get("bom-ref", ""))


def _unqualify(root: ET.Element) -> None:
    """Make the CycloneDX namespace the default one again, as the library wrote it.

    ElementTree would otherwise invent an ``ns0:`` prefix, and its ``default_namespace`` option
    refuses the unqualified attributes every CycloneDX element has. Plain tags plus an explicit
    ``xmlns`` mean the same document, without touching ElementTree's global prefix registry.
    """
    prefix = f"{{{CYCLONEDX_NS}}}"
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith(prefix):
            element.tag = element.tag.removeprefix(prefix)
    # xmlns first, where readers (and the library) put it.
    attributes = dict(root.attrib)
    root.attrib.clear()
    root.attrib.update({"xmlns": CYCLONEDX_NS, **attributes})


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


def _shorten(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "BomError",
    "build_bom",
    "dataset_ref",
    "hub_purl",
    "pypi_purl",
    "render_bom_json",
    "render_bom_xml",
    "validate_bom_json",
]
