"""The CycloneDX 1.6 ML-BOM: models with their files, datasets, libraries and every check's verdict.

cyclonedx-python-lib 11 builds and serialises the BOM, but its ``Component`` has no ``modelCard``
or ``data`` field yet. So the BOM is built with the library, serialised, and those two fields are
added to the serialised form (a JSON dict, or an XML tree in the CycloneDX namespace) before the
result is validated against the 1.6 schema shipped inside the library (by
:mod:`pytest_mlsupply.reports.bom_schema`). A BOM that fails validation is never returned: it
raises :class:`BomError`.

The components that grow with the project (libraries, a model's files, a dataset's files: one
per distribution or per file, thousands of them) are the exception: each is a small
:class:`_Leaf` record, written straight into both serialised forms by the plugin, because the
library's model costs about a millisecond per component (sorted sets compared and hashed by
every field, a graph scan per component). The BOM is assembled once (:func:`assemble_bom`) and
written in either form (:func:`bom_json`, :func:`bom_xml`). ``_library_built_json`` and
``_library_built_xml`` build the same BOM entirely with the library; the tests hold both forms
equal to them.

Component identities (``bom-ref``) are derived from manifest names, so two runs over the same
inputs produce the same document except for ``serialNumber`` and ``metadata.timestamp``.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field, replace
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

# The library's own XML serialiser (cyclonedx-python-lib's dependency): the rule it applies to
# normalizedString fields, applied the same way to the components the plugin writes.
from py_serializable.xml import xs_normalizedString

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
    from lxml import etree

    from pytest_mlsupply.checks.content import ContentCache
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


@dataclass(frozen=True)
class AssembledBom:
    """One run's ML-BOM, assembled once: :func:`bom_json` and :func:`bom_xml` write its two forms,
    with the same serial number and timestamp, without assembling it again.

    The components that grow with the project (libraries, model files, dataset files) are
    :class:`_Leaf` records, written into both forms by the plugin; cyclonedx-python-lib's ``bom``
    holds everything else. The reference (``_library_built_json`` / ``_library_built_xml``) has
    every component in ``bom`` instead, and ``libraries`` and ``parts`` empty.
    """

    bom: Bom
    project: str
    """bom-ref of the project (the root component)."""
    libraries: list[_Leaf]
    """Top-level components left out of ``bom`` (and the graph's edges to them), else empty."""
    parts: dict[str, list[_Leaf]]
    """bom-ref of a model or dataset -> its nested file components left out of ``bom``."""
    model_cards: dict[str, dict[str, Any]]
    """bom-ref of a model component -> its ``modelCard`` (JSON form)."""
    data: dict[str, list[dict[str, Any]]]
    """bom-ref of a data component -> its ``data`` entries (JSON form)."""


def assemble_bom(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    *,
    serial_number: UUID | None = None,
    timestamp: datetime | None = None,
    contents: ContentCache | None = None,
) -> AssembledBom:
    """The run's ML-BOM, for :func:`bom_json` and :func:`bom_xml`; raises :class:`BomError`.

    ``contents`` is the session's content cache: a file no check reported a digest for (its
    items were deselected, say) takes its digest from there, so a file already hashed in this
    process, or in an earlier run (the content store), is not read again. Without it, such a
    file is read once, here.
    """
    return _assemble(
        inventory, items, results, threshold, serial_number, timestamp, contents=contents
    )


def build_bom(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    *,
    serial_number: UUID | None = None,
    timestamp: datetime | None = None,
    contents: ContentCache | None = None,
) -> dict[str, Any]:
    """The ML-BOM as a CycloneDX 1.6 JSON document (a dict), validated; raises :class:`BomError`.

    :func:`assemble_bom` then :func:`bom_json`; a caller that also wants the XML form assembles
    once and writes both.
    """
    assembled = assemble_bom(
        inventory,
        items,
        results,
        threshold,
        serial_number=serial_number,
        timestamp=timestamp,
        contents=contents,
    )
    return bom_json(assembled)


def render_bom_xml(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    *,
    serial_number: UUID | None = None,
    timestamp: datetime | None = None,
    contents: ContentCache | None = None,
) -> str:
    """The same ML-BOM as CycloneDX 1.6 XML, validated against the XSD; raises :class:`BomError`.

    :func:`assemble_bom` then :func:`bom_xml`.
    """
    assembled = assemble_bom(
        inventory,
        items,
        results,
        threshold,
        serial_number=serial_number,
        timestamp=timestamp,
        contents=contents,
    )
    return bom_xml(assembled)


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
    return bom_json(
        _assemble(
            inventory, items, results, threshold, serial_number, timestamp, leaves_in_bom=True
        )
    )


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
    return bom_xml(
        _assemble(
            inventory, items, results, threshold, serial_number, timestamp, leaves_in_bom=True
        )
    )


def bom_json(assembled: AssembledBom) -> dict[str, Any]:
    """The JSON form of an assembled BOM (a dict), validated; raises :class:`BomError`.

    cyclonedx-python-lib serialises what its ``bom`` holds; the leaves, model cards and data the
    library has no part in are added to that document, which is then sorted and validated.
    """
    try:
        document: dict[str, Any] = json.loads(JsonV1Dot6(assembled.bom).output_as_string())
    except CycloneDxException as exc:
        raise BomError(f"cyclonedx-python-lib refused the BOM: {exc}") from exc
    components = {c["bom-ref"]: c for c in document.get("components", []) if "bom-ref" in c}
    for ref, parts in assembled.parts.items():
        components[ref]["components"] = [part.json() for part in parts]
    if assembled.libraries:
        # The library wrote the graph of the components it holds; the libraries' entries (no
        # edges of their own) and the project's edges to them complete it, in its order.
        document.setdefault("components", []).extend(lib.json() for lib in assembled.libraries)
        refs = [library.ref for library in assembled.libraries]
        graph = document.setdefault("dependencies", [])
        graph.extend({"ref": ref} for ref in refs)
        for entry in graph:
            if entry["ref"] == assembled.project:
                entry["dependsOn"] = sorted({*entry.get("dependsOn", ()), *refs})
        graph.sort(key=lambda entry: entry["ref"])
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


def bom_xml(assembled: AssembledBom) -> str:
    """The XML form of an assembled BOM, validated against the 1.6 XSD; raises :class:`BomError`.

    As in :func:`bom_json`: the library's XML of its ``bom``, completed with the leaves (each
    written by :meth:`_Leaf.xml` from its JSON form), model cards and data, where the XSD's
    sequences put them.
    """
    from lxml import etree  # XML only: lxml costs an import in every gate

    try:
        from cyclonedx.output.xml import XmlV1Dot6  # only when an XML BOM is asked for

        text = XmlV1Dot6(assembled.bom).output_as_string()
    except CycloneDxException as exc:
        raise BomError(f"cyclonedx-python-lib refused the BOM: {exc}") from exc

    # Our own output, but it carries names from untrusted files (a file named with a control
    # character): what XML cannot hold becomes U+FFFD before the text is parsed, as it does in
    # every text the plugin adds (_xml_text).
    root = etree.fromstring(_xml_text(text).encode("utf-8"), parser=_xml_parser())
    if assembled.libraries:
        _add_xml_libraries(root, assembled.libraries, assembled.project)
    components = {
        element.get("bom-ref"): element
        for element in root.iter(_q("component"))
        if element.get("bom-ref") is not None
    }
    for ref, parts in assembled.parts.items():
        _insert_component_children(components[ref], "components", [_xml_components(parts)])
    for ref, card in assembled.model_cards.items():
        _insert_component_children(components[ref], "modelCard", _xml_elements("modelCard", card))
    for ref, data in assembled.data.items():
        elements = [element for entry in data for element in _xml_elements("data", entry)]
        _insert_component_children(components[ref], "data", elements)
    _sort_xml_components(root)
    etree.indent(root, space="  ")
    body: str = etree.tostring(root, encoding="unicode")

    try:
        bom_schema.validate_xml(body)
    except bom_schema.SchemaViolation as exc:
        raise BomError(
            f"the ML-BOM is not valid CycloneDX 1.6 XML: {_shorten(str(exc))}\n"
            "(this is a bug in pytest-mlsupply's XML conversion; the JSON form is unaffected)"
        ) from exc
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


# --- assembly ------------------------------------------------------------------------------------


def _assemble(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    serial_number: UUID | None,
    timestamp: datetime | None,
    *,
    leaves_in_bom: bool = False,
    contents: ContentCache | None = None,
) -> AssembledBom:
    """The library's Bom of the run, with the fields it has no model for alongside.

    The leaves (libraries, model files, dataset files) are kept out of the Bom, and the graph's
    edges to the libraries with them, for :func:`bom_json` and :func:`bom_xml` to write;
    ``leaves_in_bom=True`` puts them in the Bom instead (the reference).
    """
    manifest = inventory.manifest
    if contents is None:
        from pytest_mlsupply.checks.content import ContentCache

        contents = ContentCache()
    parts: dict[str, list[_Leaf]] = {}
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
            _file_leaf(
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
                components=_nested(model_ref(decl.name), files, parts, leaves_in_bom),
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
                dataset,
                manifest.root,
                inventory.hub_endpoint,
                claim,
                properties.get(ref, []),
                _nested(ref, _dataset_files(dataset, claim), parts, leaves_in_bom),
            )
        )
        commit = claim.get("commit")
        data_entries[ref] = [
            _dataset_data(
                dataset, inventory.hub_endpoint, commit if isinstance(commit, str) else None
            )
        ]

    libraries = _libraries(inventory.dependencies, properties)
    components = [library.component() for library in libraries] if leaves_in_bom else []

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
    return AssembledBom(
        bom=bom,
        project=root_ref,
        libraries=[] if leaves_in_bom else libraries,
        parts=parts,
        model_cards=model_cards,
        data=data_entries,
    )


def _nested(
    parent: str, leaves: list[_Leaf], parts: dict[str, list[_Leaf]], in_bom: bool
) -> list[Component]:
    """The components to nest in ``parent`` in the library's model: all of ``leaves`` for the
    reference (``in_bom``), else none, the leaves kept in ``parts`` for the serialised forms."""
    if in_bom:
        return [leaf.component() for leaf in leaves]
    if leaves:
        parts[parent] = leaves
    return []


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


def _file_leaf(
    artifact: ArtifactFile,
    results: Sequence[CheckResult],
    properties: Sequence[Property],
    contents: ContentCache,
) -> _Leaf:
    """A model file's component: its digest (a check's, else the content cache's), size,
    format and the verdict of each of its checks."""
    sha256 = _sha256_fact(results) or _cached_sha256(artifact.path, contents)
    file_format = _format_fact(results)
    extra = [_property("size", str(artifact.size))]
    if file_format is not None:
        extra.append(_property("format", file_format))
    return _Leaf(
        type=ComponentType.FILE,
        ref=file_ref(artifact.subject),
        name=artifact.relpath,
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)] if sha256 else [],
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


def _cached_sha256(path: Path, contents: ContentCache) -> str | None:
    """Fallback when no check reported the digest (its items were deselected, say): the
    content cache's, so a file hashed by this process or by an earlier run (the content store)
    is not read a second time. None when the file cannot be read (or is a FIFO or device, which
    the cache never opens): it gets no hash, and its check reported the error."""
    try:
        return contents.get(path).sha256
    except OSError:
        return None


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


def _dataset_files(dataset: DatasetDecl, claim: Mapping[str, Any]) -> list[_Leaf]:
    """The dataset's files, with the digests its ``dataset`` claim computed, as nested ``file``
    components (a dataset of many files has no one hash)."""
    digests = claim.get("files")
    return [
        _Leaf(
            type=ComponentType.FILE,
            ref=dataset_file_ref(dataset.name, rel),
            name=rel,
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest.lower())],
        )
        for rel, digest in sorted(digests.items() if isinstance(digests, dict) else [])
        if isinstance(digest, str) and _SHA256.match(digest.lower())
    ]


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
class _Leaf:
    """One component with no children but a few simple fields: a library, a model's file, a
    dataset's file (the components that grow to thousands). Built once, then either a
    cyclonedx-python-lib :class:`Component` (the reference) or written by the plugin into the
    JSON form (:meth:`json`) and, from it, the XML form (:meth:`xml`)."""

    type: ComponentType
    ref: str
    name: str
    version: str | None = None
    purl: PackageURL | None = None
    hashes: list[HashType] = field(default_factory=list)
    properties: list[Property] = field(default_factory=list)

    def component(self) -> Component:
        return Component(
            type=self.type,
            bom_ref=self.ref,
            name=self.name,
            version=self.version,
            purl=self.purl,
            hashes=self.hashes or None,
            properties=self.properties,
        )

    def xml(self) -> str:
        """What the library writes for :meth:`component` in XML (a test holds both equal, byte
        for byte once in the document): the XSD's order of children, and its
        ``normalizedString`` fields (name, version, a property's value) with tabs and line
        breaks as spaces, as a file may be named. Text, parsed with its siblings by
        :func:`_xml_components`: lxml builds a thousand components element by element in
        tens of milliseconds, and parses their text in a few."""
        fields = self.json()
        out = [
            f'<component type="{self.type.value}" bom-ref={_xml_attr(self.ref)}>',
            f"<name>{_xml_chars(xs_normalizedString(self.name))}</name>",
        ]
        if "version" in fields:
            out.append(f"<version>{_xml_chars(xs_normalizedString(fields['version']))}</version>")
        if "hashes" in fields:
            out.append("<hashes>")
            out += [
                f"<hash alg={_xml_attr(h['alg'])}>{_xml_chars(h['content'])}</hash>"
                for h in fields["hashes"]
            ]
            out.append("</hashes>")
        if "purl" in fields:
            out.append(f"<purl>{_xml_chars(fields['purl'])}</purl>")
        if "properties" in fields:
            out.append("<properties>")
            out += [
                f"<property name={_xml_attr(p['name'])}>"
                f"{_xml_chars(xs_normalizedString(p['value']))}</property>"
                for p in fields["properties"]
            ]
            out.append("</properties>")
        out.append("</component>")
        return "".join(out)

    def json(self) -> dict[str, Any]:
        """What cyclonedx-python-lib writes for :meth:`component` (a test holds both equal on
        rich BOMs): its sets are sorted by their fields and drop duplicates, and empty or
        ``None`` fields are left out."""
        out: dict[str, Any] = {"type": self.type.value, "bom-ref": self.ref}
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
) -> list[_Leaf]:
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
            _Leaf(
                type=ComponentType.LIBRARY,
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
_NOT_XML_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: str) -> str:
    """``value`` with what XML cannot hold replaced by U+FFFD: names and card texts come from
    untrusted files, and lxml refuses such a character rather than write a broken document."""
    return _NOT_XML_RE.sub("\ufffd", value)


def _xml_attr(value: str) -> str:
    """``value`` as a quoted attribute value: escaped, and its tabs and line breaks kept as
    character references (a parser turns a literal one into a space)."""
    escaped = html.escape(_xml_text(value), quote=True)
    return '"' + escaped.replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;") + '"'


def _xml_chars(value: str) -> str:
    """``value`` as character data: escaped, a carriage return kept as a character reference."""
    return html.escape(_xml_text(value), quote=False).replace("\r", "&#13;")


def _xml_fragment(tag: str, content: str) -> etree._Element:
    """``<tag>`` holding ``content`` (escaped XML text), parsed, in the CycloneDX namespace
    (declared on it, and reconciled with the document's default one when it is inserted)."""
    from lxml import etree  # XML only: lxml costs an import in every gate

    text = f'<{tag} xmlns="{CYCLONEDX_NS}">{content}</{tag}>'
    return etree.fromstring(text.encode("utf-8"), parser=_xml_parser())


def _xml_components(leaves: Sequence[_Leaf]) -> etree._Element:
    """A ``<components>`` element holding ``leaves`` (see :meth:`_Leaf.xml`)."""
    return _xml_fragment("components", "".join(leaf.xml() for leaf in leaves))


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


def _add_xml_libraries(root: etree._Element, libraries: Sequence[_Leaf], project: str) -> None:
    """Add the library components and their graph entries to the library's XML, where (and in
    the order) the library would have written them."""
    fresh = _xml_components(libraries)
    components = root.find(_q("components"))
    if components is None:
        # The XSD's sequence: <components> right after <metadata>.
        metadata = root.find(_q("metadata"))
        root.insert(0 if metadata is None else list(root).index(metadata) + 1, fresh)
    else:
        # The library's few components (models, datasets) move in with the libraries rather
        # than the thousands the other way: a moved element's namespaces are reconciled.
        fresh.extend(list(components))
        components.addprevious(fresh)
        root.remove(components)
    graph = root.find(_q("dependencies"))
    if graph is None:  # never: the graph always has the project's entry
        raise BomError("cyclonedx-python-lib wrote no dependency graph")
    refs = [_xml_text(library.ref) for library in libraries]
    edges = {entry.get("ref") or "": [c.get("ref") or "" for c in entry] for entry in graph}
    edges.update({ref: [] for ref in refs})
    project_ref = _xml_text(project)
    edges[project_ref] = sorted({*edges.get(project_ref, ()), *refs})
    # Written as text and parsed whole, as the components are.
    entries = "".join(
        f"<dependency ref={_xml_attr(ref)}>"
        + "".join(f"<dependency ref={_xml_attr(target)}/>" for target in edges[ref])
        + "</dependency>"
        for ref in sorted(edges)
    )
    graph.addprevious(_xml_fragment("dependencies", entries))
    root.remove(graph)


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


def _shorten(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = [
    "AssembledBom",
    "BomError",
    "assemble_bom",
    "bom_json",
    "bom_xml",
    "build_bom",
    "dataset_ref",
    "hub_purl",
    "pypi_purl",
    "render_bom_json",
    "render_bom_xml",
    "validate_bom_json",
]
