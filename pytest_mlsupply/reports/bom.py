"""The CycloneDX 1.6 ML-BOM: models with their files, datasets, libraries and every check's verdict.

The plugin writes the BOM itself: :func:`assemble_bom` builds the whole CycloneDX 1.6 JSON
document (plain dicts and lists), :func:`bom_json` validates it against the 1.6 schema and
:func:`bom_xml` writes the same document as XML through one table-driven converter
(:data:`_XML_TYPES`) and validates it against the XSD (both by
:mod:`pytest_mlsupply.reports.bom_schema`). A BOM that fails validation is never returned: it
raises :class:`BomError`.

Why not cyclonedx-python-lib, whose schemas validate the BOM: importing it costs every gate
session ~70 ms, and its model about a millisecond per component (sorted sets compared and hashed
by every field). It has no ``modelCard`` or ``data`` either. It stays the reference: the tests
(``tests/reports/library_reference.py``) build the same BOM with the library and hold the JSON
documents equal and the XML texts equal byte for byte, so this module writes what the library
writes: its sets sorted as its ``SortedSet`` sorts them (:mod:`~pytest_mlsupply.reports.bom_forms`) and without
duplicates, empty fields left out, URIs, timestamps, licences, scores and vectors in its forms,
and in XML its ``normalizedString`` and ``token`` fields whitespace-normalised.

Component identities (``bom-ref``) are derived from manifest names, so two runs over the same
inputs produce the same document except for ``serialNumber`` and ``metadata.timestamp``.
"""

from __future__ import annotations

import functools
import html
import json
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packageurl import PackageURL

from pytest_mlsupply import __version__
from pytest_mlsupply.checks.unchecked import declared_not_checked
from pytest_mlsupply.engines.model_card import heading_means, meaningful
from pytest_mlsupply.manifest.model import HubRef
from pytest_mlsupply.printable import printable
from pytest_mlsupply.reports import bom_forms, bom_schema
from pytest_mlsupply.reports.bom_release import (
    MODEL_DIGEST_RECIPE,
    build_links,
    build_properties,
    card_for_bom,
    finding_properties,
    installed_library,
    installed_names,
    model_digest,
)
from pytest_mlsupply.reports.bom_vulnerabilities import (
    VulnerabilityFactsError,
    advisories_by_subject,
    vulnerabilities,
)
from pytest_mlsupply.reports.matrix import cell_verdicts, index_results
from pytest_mlsupply.results import CheckResult, RowKind, Severity

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from uuid import UUID

    from pytest_mlsupply.build_context import BuildContext
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
    return f"dataset-file:{dataset}/{printable(relpath)}"


def code_ref(subject: str) -> str:
    """``subject`` is ``CodeFile.subject``: the file's path relative to the manifest."""
    return f"code:{subject}"


def library_ref(subject: str) -> str:
    """``subject`` is ``Dependency.subject`` (``name==version`` or the requirement)."""
    return f"library:{subject}"


# --- public API ----------------------------------------------------------------------------------


class AssembledBom:
    """One run's ML-BOM, assembled once: :func:`bom_json` and :func:`bom_xml` write its two forms,
    with the same serial number and timestamp, without assembling it again. ``document`` is the
    CycloneDX 1.6 JSON document, not yet validated (:func:`bom_json` validates it)."""

    # A plain class: a dataclass costs its module's import ~0.5 ms, in every gate session.
    __slots__ = ("document",)

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document


def assemble_bom(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    *,
    serial_number: UUID | None = None,
    timestamp: datetime | None = None,
    contents: ContentCache | None = None,
    build: BuildContext | None = None,
) -> AssembledBom:
    """The run's ML-BOM, for :func:`bom_json` and :func:`bom_xml`; raises :class:`BomError`.

    ``contents`` is the session's content cache: a file no check reported a digest for (its
    items were deselected, say) takes its digest from there, so a file already hashed in this
    process, or in an earlier run (the content store), is not read again. Without it, such a
    file is read once, here.

    ``build`` is where the run was made (:func:`pytest_mlsupply.build_context.detect`): the
    project component names the VCS repository and commit and the CI run, when known.
    """
    return AssembledBom(
        _assemble(inventory, items, results, threshold, serial_number, timestamp, contents, build)
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
    build: BuildContext | None = None,
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
        build=build,
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
    build: BuildContext | None = None,
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
        build=build,
    )
    return bom_xml(assembled)


def bom_json(assembled: AssembledBom) -> dict[str, Any]:
    """The JSON form of an assembled BOM (its document, not a copy), validated; raises
    :class:`BomError`."""
    validate_bom_json(assembled.document)
    return assembled.document


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

    Written from the JSON document by :func:`_xml_document` as text, parsed once by lxml (a
    thousand components parse in milliseconds; built element by element they cost tens), then
    indented and validated.
    """
    from lxml import etree  # XML only: lxml costs an import in every gate

    text = _xml_document(assembled.document)
    root = etree.fromstring(text.encode("utf-8"), parser=bom_schema.xml_parser())
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

#: The document's fixed head, as cyclonedx-python-lib's JSON serialiser for 1.6 writes it.
_SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.6.schema.json"


def _assemble(
    inventory: Inventory,
    items: Sequence[PlannedItem],
    results: Sequence[CheckResult],
    threshold: Severity,
    serial_number: UUID | None,
    timestamp: datetime | None,
    contents: ContentCache | None,
    build: BuildContext | None = None,
) -> dict[str, Any]:
    """The run's BOM as the CycloneDX 1.6 JSON document (not yet validated)."""
    manifest = inventory.manifest
    if contents is None:
        from pytest_mlsupply.checks.content import ContentCache

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
        # Its drift from the Hub (--mlsupply-online) is a fact about the model, like a claim.
        subject_refs[(RowKind.DRIFT, resolved.name)] = model_ref(resolved.name)
        for artifact in resolved.files:
            subject_refs[(RowKind.ARTIFACT, artifact.subject)] = file_ref(artifact.subject)
    for dataset in inventory.datasets:
        # Its `dataset` claim's row (the loader keeps dataset and model names apart).
        subject_refs[(RowKind.PROVENANCE, dataset.name)] = dataset_ref(dataset.name)
    for dependency in inventory.dependencies:
        subject_refs[(RowKind.DEPENDENCY, dependency.subject)] = library_ref(dependency.subject)
    for code in inventory.code_files:
        subject_refs[(RowKind.CODE, code.subject)] = code_ref(code.subject)

    root_ref = project_ref(manifest.project_name)
    properties: dict[str, list[tuple[str, str]]] = {}
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
            # Each accepted finding by name: who accepted it, until when, and why (the verdict
            # property above says "accepted"; this says what a reviewer is trusting).
            bucket += [
                _property(
                    f"accepted:{label}",
                    f"{f.rule} at {f.location.describe()}; {f.accepted.describe()}",
                )
                for f in cell.findings
                if f.accepted is not None
            ]
            # Each finding itself (below the threshold too): rule, severity, location.
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
    models: list[dict[str, Any]] = []
    used_datasets: set[str] = set()
    model_datasets: dict[str, list[str]] = {}
    for resolved in inventory.models:
        decl = resolved.decl
        claims = by_subject.get((RowKind.PROVENANCE, decl.name), [])
        # A front-matter statement a card check found false is not repeated as if true.
        card, omitted = card_for_bom(_card_facts(claims), claims)
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
        extra += _attestation_properties(claims)
        licence = _claim_fact(claims, "license")
        extra += [
            _property("license:restriction", str(r))
            for r in sorted(licence.get("restrictions") or {})
        ]
        # The card's `license: other` names its licence in `license_name`: the `license`
        # claim's reading of it, when that claim ran.
        card_licence = None if "license" in omitted else licence.get("card")
        license_text = decl.license or card_licence or _card_license(card)
        aggregate, aggregate_note = model_hash(
            {f["name"]: h["content"] for f in files for h in f.get("hashes", ())},
            len(resolved.files),
        )
        extra += aggregate_note
        model = _component(
            "machine-learning-model",
            decl.name,
            ref=model_ref(decl.name),
            version=source.revision if source is not None else None,
            description=decl.description,
            hashes=aggregate,
            licenses=[_license(license_text)] if license_text else (),
            purl=purl,
            pedigree=_lineage(decl, claims),
            references=[
                *_hub_references(source, resolved.endpoint),
                *_signature_references(claims),
                *_attestation_references(claims),
            ],
            properties=[*extra, *properties.get(model_ref(decl.name), [])],
            components=files,
        )
        model["modelCard"] = _model_card(decl, card, names, datasets, omitted)
        models.append(model)

    data_components: list[dict[str, Any]] = []
    for dataset in inventory.datasets:
        ref = dataset_ref(dataset.name)
        claim = _claim_fact(by_subject.get((RowKind.PROVENANCE, dataset.name), []), "dataset")
        component = _dataset_component(
            dataset,
            manifest.root,
            inventory.hub_endpoint,
            claim,
            properties.get(ref, []),
            _dataset_files(dataset, claim),
        )
        commit = claim.get("commit")
        component["data"] = [
            _dataset_data(
                dataset, inventory.hub_endpoint, commit if isinstance(commit, str) else None
            )
        ]
        data_components.append(component)

    libraries = _libraries(inventory.dependencies, properties)
    # The project's own code that loads the models: which files were judged (by digest), their
    # verdicts and every finding, suppressed ones with their reason.
    code_files = [
        _code_component(
            code.subject,
            by_subject.get((RowKind.CODE, code.subject), []),
            properties.get(code_ref(code.subject), []),
        )
        for code in inventory.code_files
    ]

    # Declared in the manifest, read by no check yet: the BOM does not let them look verified.
    unchecked = [_property("declared-not-checked", d.key) for d in declared_not_checked(manifest)]
    # Where the run was made: the repository and commit, and the CI run when there is one.
    project = _component(
        "application",
        manifest.project_name,
        ref=root_ref,
        version=manifest.project_version,
        references=[_external_reference(*link) for link in build_links(build)],
        properties=[
            *properties.get(root_ref, []),
            *unchecked,
            *(_property(*pair) for pair in build_properties(build)),
        ],
    )
    tool = _component(
        "application",
        TOOL_NAME,
        version=__version__,
        purl=PackageURL(type="pypi", name=TOOL_NAME, version=__version__),
    )
    when = timestamp or datetime.now(UTC).replace(microsecond=0)
    components = _by_ref([*models, *data_components, *libraries, *code_files])

    # The dependency graph: the project uses its models and libraries (and any dataset no model
    # claims); each model depends on the datasets it was trained or evaluated on. Every
    # top-level component has its entry, with or without edges, as the library writes it.
    claimed = {dataset_ref(name) for name in used_datasets}
    direct = [c["bom-ref"] for c in [*models, *libraries, *code_files]]
    direct += [c["bom-ref"] for c in data_components if c["bom-ref"] not in claimed]
    graph: dict[str, list[str]] = {c["bom-ref"]: [] for c in components}
    graph.update(model_datasets)
    graph[root_ref] = direct

    document: dict[str, Any] = {
        "$schema": _SCHEMA_URI,
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{serial_number or uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": bom_forms.timestamp(when),
            "tools": {"components": [tool]},
            "component": project,
        },
    }
    if components:
        document["components"] = components
    document["dependencies"] = [
        {"ref": ref, "dependsOn": sorted(set(graph[ref]))} if graph[ref] else {"ref": ref}
        for ref in sorted(graph)
    ]

    # Each advisory the `vulnerabilities` check found, affecting the library components above.
    try:
        found = advisories_by_subject(indexed.values())
        library_refs = {
            subject: ref
            for (kind, subject), ref in subject_refs.items()
            if kind is RowKind.DEPENDENCY
        }
        found_vulnerabilities = vulnerabilities(found, library_refs, root_ref)
    except VulnerabilityFactsError as exc:
        raise BomError(f"cannot put the vulnerabilities in the ML-BOM: {exc}") from exc
    if found_vulnerabilities:
        document["vulnerabilities"] = found_vulnerabilities
    return document


# --- components, as cyclonedx-python-lib writes them -----------------------------------------


def _component(
    kind: str,
    name: str,
    *,
    ref: str | None = None,
    version: str | None = None,
    description: str | None = None,
    hashes: Iterable[tuple[str, str]] = (),
    licenses: Sequence[dict[str, Any]] = (),
    purl: PackageURL | None = None,
    pedigree: dict[str, Any] | None = None,
    references: Iterable[dict[str, Any]] = (),
    properties: Iterable[tuple[str, str]] = (),
    components: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """One component in the library's JSON form: ``None`` and empty fields left out, its sets
    (hashes, references, properties) sorted as the library sorts them and without duplicates,
    nested components by bom-ref (see :func:`_by_ref`). ``hashes`` are (algorithm, content)
    pairs, ``properties`` (name, value) pairs (see :func:`_property`)."""
    out: dict[str, Any] = {"type": kind}
    if ref is not None:
        out["bom-ref"] = ref
    out["name"] = name
    if version is not None:
        out["version"] = version
    if description is not None:
        out["description"] = description
    listed = _hashes(hashes)
    if listed:
        out["hashes"] = listed
    if licenses:
        out["licenses"] = list(licenses)
    if purl is not None:
        out["purl"] = purl.to_string()
    if pedigree is not None:
        out["pedigree"] = pedigree
    external = bom_forms.library_order(references, _reference_key)
    if external:
        out["externalReferences"] = external
    named = sorted(set(properties))
    if named:
        out["properties"] = [{"name": key, "value": value} for key, value in named]
    if components:
        out["components"] = _by_ref(components)
    return out


def _hashes(hashes: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"alg": alg, "content": content} for alg, content in sorted(set(hashes))]


def _by_ref(components: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Components in bom-ref order (the plugin's, unique by construction); the library's
    order, stable, among those without one (an ancestor's files, by name)."""
    return sorted(components, key=lambda component: component.get("bom-ref", ""))


def _reference_key(reference: dict[str, Any]) -> tuple[Any, ...]:
    # ExternalReference's fields in the library's order: type, url, comment, hashes, properties.
    hashes = tuple((h["alg"], h["content"]) for h in reference.get("hashes", ()))
    return (reference["type"], reference["url"], reference.get("comment"), hashes, ())


def _property(name: str, value: str) -> tuple[str, str]:
    return (PROPERTY_PREFIX + name, value)


def _external_reference(
    kind: str, url: str, comment: str | None = None, sha256: str | None = None
) -> dict[str, Any]:
    try:
        out: dict[str, Any] = {"type": kind, "url": bom_forms.uri(url)}
    except bom_forms.InvalidUri as exc:
        raise BomError(f"cannot put the link in the ML-BOM: {exc}") from exc
    if comment is not None:
        out["comment"] = comment
    if sha256 is not None:
        out["hashes"] = _hashes([("SHA-256", sha256)])
    return out


def _license(text: str) -> dict[str, Any]:
    """The library's ``LicenseFactory().make_from_string``: an SPDX id of the 1.6 schema
    (normalised: ``apache-2.0`` -> ``Apache-2.0``), else an SPDX expression if
    license-expression says it is one, else a named licence, so a custom licence string never
    makes the BOM invalid."""
    spdx = bom_schema.spdx_ids().get(text.lower())
    if spdx is not None:
        return {"license": {"id": spdx}}
    if _is_spdx_expression(text):
        return {"expression": text}
    return {"license": {"name": text}}


def _is_spdx_expression(text: str) -> bool:
    try:
        return not _spdx_licensing().validate(text).errors
    except Exception:  # the library's own rule: its parser crashes on odd input
        return False


@functools.cache
def _spdx_licensing() -> Any:
    # license-expression's SPDX table takes tens of milliseconds to build: only a BOM with a
    # licence that is not a bare SPDX id pays it, once per process.
    from license_expression import get_spdx_licensing  # type: ignore[import-untyped,unused-ignore]

    return get_spdx_licensing()


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


def _hub_references(ref: HubRef | None, endpoint: str | None = None) -> list[dict[str, Any]]:
    if ref is None:
        return []
    return [_external_reference("distribution", _hub_url(ref, endpoint))]


def _signature_references(results: Sequence[CheckResult]) -> list[dict[str, Any]]:
    """The model-signing bundle the ``signature`` claim read (its verdict is the model's
    ``mlsupply:provenance:signature`` property)."""
    for result in results:
        fact = result.facts.get("signature")
        if result.check != "signature" or not isinstance(fact, dict):
            continue
        bundle, sha256 = fact.get("bundle"), fact.get("sha256")
        if isinstance(bundle, str):
            return [
                _external_reference(
                    "digital-signature",
                    bundle,
                    f"OpenSSF model-signing bundle ({fact.get('mode')})",
                    sha256 if isinstance(sha256, str) else None,
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


def _attestation_references(results: Sequence[CheckResult]) -> list[dict[str, Any]]:
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
                _external_reference(
                    "attestation",
                    path,
                    f"in-toto attestation (DSSE envelope), {verified}",
                    sha256 if isinstance(sha256, str) else None,
                )
            )
    return out


#: Statement facts recorded as ``mlsupply:attestation:<name>`` properties (the build facts,
#: where every CycloneDX reader looks; ``formulation`` is not written).
_ATTESTATION_PROPERTIES = (
    ("predicate-type", "predicate_type"),
    ("builder", "builder"),
    ("build-type", "build_type"),
    ("source-repository", "source_repository"),
    ("source-commit", "source_commit"),
    ("build-parameters", "build_parameters"),
)


def _attestation_properties(results: Sequence[CheckResult]) -> list[tuple[str, str]]:
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


def _lineage(decl: ModelDecl, results: Sequence[CheckResult] = ()) -> dict[str, Any] | None:
    """The model's ancestry as nested pedigree: its parent is its ancestor, the parent's parent
    the parent's ancestor, and so on (the base model deepest). Taken from the ``lineage``
    claim's facts when it ran (they include an adapter's base), else from the manifest."""
    pedigree: dict[str, Any] | None = None
    for entry in _lineage_chain(decl, results):  # oldest first: each wraps the one before
        pedigree = {"ancestors": [_ancestor(entry, pedigree)]}
    return pedigree


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


def _ancestor(entry: dict[str, Any], pedigree: dict[str, Any] | None) -> dict[str, Any]:
    repo, revision = entry.get("repo"), entry.get("revision")
    sha256, files = entry.get("sha256"), entry.get("files") or {}
    hashes = [("SHA-256", sha256)] if sha256 else []
    parts = [
        _component("file", rel, hashes=[("SHA-256", digest)])
        for rel, digest in sorted(files.items())
    ]
    if not isinstance(repo, str):
        return _component(
            "machine-learning-model",
            str(entry.get("ref")),
            hashes=hashes,
            pedigree=pedigree,
            components=parts,
        )
    # An unpinned ancestor still names its repository, but has no version to report.
    rev = revision if isinstance(revision, str) else None
    return _component(
        "machine-learning-model",
        repo,
        version=rev,
        hashes=hashes,
        purl=hub_purl(repo, rev),
        pedigree=pedigree,
        references=_hub_references(HubRef("model", repo, rev)) if rev else [],
        components=parts,
    )


def model_hash(
    digests: Mapping[str, str], file_count: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The model component's own ``hashes`` (its aggregate digest, :func:`model_digest`) and
    the ``mlsupply:model-hash`` property saying how it was made, or why there is none: a
    model with a file that has no digest gets no aggregate (one over fewer files would pass
    for the model's)."""
    if file_count == 0:
        return [], []
    missing = file_count - len(digests)
    aggregate = model_digest(digests) if missing == 0 else None
    if aggregate is None:
        note = f"none: {missing} of its {file_count} files have no digest"
        return [], [_property("model-hash", note)]
    return [("SHA-256", aggregate)], [
        _property("model-hash", f"{MODEL_DIGEST_RECIPE} ({file_count} files)")
    ]


def _file_component(
    artifact: ArtifactFile,
    results: Sequence[CheckResult],
    properties: Sequence[tuple[str, str]],
    contents: ContentCache,
) -> dict[str, Any]:
    """A model file's component: its digest (a check's, else the content cache's), size,
    format and the verdict of each of its checks."""
    sha256 = _sha256_fact(results) or _cached_sha256(artifact.path, contents)
    file_format = _format_fact(results)
    extra = [_property("size", str(artifact.size))]
    if file_format is not None:
        extra.append(_property("format", file_format))
    return _component(
        "file",
        printable(artifact.relpath),  # as its subject names it (pytest_mlsupply.printable)
        ref=file_ref(artifact.subject),
        hashes=[("SHA-256", sha256)] if sha256 else [],
        properties=[*extra, *properties],
    )


def _code_component(
    subject: str, results: Sequence[CheckResult], properties: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """A file of the project's code: its path, the digest of the bytes the code check judged
    (none when it could not read them) and its verdict and findings."""
    sha256 = _sha256_fact(results)
    return _component(
        "file",
        subject,
        ref=code_ref(subject),
        hashes=[("SHA-256", sha256)] if sha256 else [],
        properties=properties,
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
    properties: Sequence[tuple[str, str]],
    files: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """The dataset's ``data`` component, its files (see :func:`_dataset_files`) nested in it."""
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
    return _component(
        "data",
        dataset.name,
        ref=dataset_ref(dataset.name),
        version=source.revision if source is not None else None,
        description=dataset.description,
        licenses=[_license(dataset.license)] if dataset.license else (),
        purl=purl,
        references=_hub_references(source, endpoint),
        properties=[*extra, *properties],
        components=files,
    )


def _dataset_files(dataset: DatasetDecl, claim: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The dataset's files, with the digests its ``dataset`` claim computed, as nested ``file``
    components (a dataset of many files has no one hash)."""
    digests = claim.get("files")
    return [
        _component(
            "file",
            printable(rel),
            ref=dataset_file_ref(dataset.name, rel),
            hashes=[("SHA-256", digest.lower())],
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


def _libraries(
    dependencies: Sequence[Dependency], properties: Mapping[str, Sequence[tuple[str, str]]]
) -> list[dict[str, Any]]:
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
        # The licence and archive hash the installed distribution records (when installed
        # here at this version): what the environment really holds, not what the index says.
        licence, licence_source, archive = installed_library(group, installed)
        if licence_source is not None:
            extra.append(_property("license-source", f"installed metadata ({licence_source})"))
        libraries.append(
            _component(
                "library",
                first.name,
                ref=library_ref(subject),
                version=first.version,
                hashes=[*_pinned_hashes(group), *archive],
                licenses=[_license(licence)] if licence else (),
                purl=None if link is not None else pypi_purl(first.name, first.version, index),
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
_HASH_ALGORITHMS = {"sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}


def _pinned_hashes(group: Sequence[Dependency]) -> list[tuple[str, str]]:
    """The requirement's ``--hash`` pins (the archives pip may install; one per wheel or sdist)."""
    hashes: set[tuple[str, str]] = set()
    for dependency in group:
        for pin in dependency.hashes:
            algorithm, _, value = pin.partition(":")
            alg = _HASH_ALGORITHMS.get(algorithm.strip().lower())
            if alg is not None and re.fullmatch(r"[0-9a-fA-F]+", value):
                hashes.add((alg, value.lower()))
    return sorted(hashes)


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
    omitted: Sequence[str] = (),
) -> dict[str, Any]:
    """The CycloneDX ``modelCard`` from the card's front matter and sections, plus the manifest.

    ``dataset_names`` are the datasets the manifest says the model uses; ``declared`` all the
    manifest's datasets, against which the card's own ``datasets:`` list is matched (a match is a
    reference to that ``data`` component, anything else an inline dataset named by the card).
    ``omitted`` are the front-matter keys left out because a card check flagged them
    (:func:`~pytest_mlsupply.reports.bom_release.card_for_bom`): each is named in a
    ``mlsupply:card-omitted`` property, so a reader knows the card said something there."""
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
    model_card["properties"] += [
        {"name": PROPERTY_PREFIX + "card-omitted", "value": f"{key}: a card check flagged it"}
        for key in omitted
    ]
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


# --- the XML form, written from the JSON document ------------------------------------------------


def _q(tag: str) -> str:
    return f"{{{CYCLONEDX_NS}}}{tag}"


#: How a value is written as XML text. The library's rules for the fields it writes: ``normal``
#: (an XSD ``normalizedString``: tabs and line breaks become spaces), ``token`` (also trimmed,
#: runs of spaces collapsed), ``text`` (an ``xs:string``: its line breaks as an XML parser reads
#: the library's text back, CR LF and CR as LF), ``score`` (one decimal). ``raw`` is the plugin's
#: own rule for the model card and data (fields the library has no model for): the text as is,
#: a carriage return kept as a character reference.
_XML_TEXT_RULES = frozenset({"normal", "token", "text", "score", "raw"})

#: Each element type of the XML form: its JSON members in the order the 1.6 XSD's sequence puts
#: them, each with how it is written. A rule is ``"@"`` (an attribute), ``"-"`` (JSON only), a
#: text rule (a child element holding the text; ``"=rule"``: the element's own text), or a
#: tuple: ``("one", type)`` a child element, ``("list", item, type)`` a wrapper named after the
#: member around one ``<item>`` per entry, ``("each", type)`` one element named after the member
#: per entry (no wrapper), ``("choice", {key: type})`` a wrapper around entries that are
#: one-member objects named by their member, ``("refs", tag)`` one empty ``<tag ref=""/>`` per
#: entry, ``("datasets",)`` the model card's choice of ``<ref>`` and inline ``<dataset>``.
#: A member with no rule here raises :class:`BomError` rather than vanish from the XML form.
_XML_TYPES: dict[str, tuple[tuple[str, Any], ...]] = {
    "bom": (
        ("$schema", "-"),
        ("bomFormat", "-"),
        ("specVersion", "-"),
        ("serialNumber", "@"),
        ("version", "@"),
        ("metadata", ("one", "metadata")),
        ("components", ("list", "component", "component")),
        ("dependencies", ("list", "dependency", "dependency")),
        ("vulnerabilities", ("list", "vulnerability", "vulnerability")),
    ),
    "metadata": (
        ("timestamp", "text"),
        ("tools", ("one", "tools")),
        ("component", ("one", "component")),
    ),
    "tools": (("components", ("list", "component", "component")),),
    "component": (
        ("type", "@"),
        ("bom-ref", "@"),
        ("name", "normal"),
        ("version", "normal"),
        ("description", "normal"),
        ("hashes", ("list", "hash", "hash")),
        ("licenses", ("choice", {"license": "license", "expression": "normal"})),
        ("purl", "text"),
        ("pedigree", ("one", "pedigree")),
        ("externalReferences", ("list", "reference", "externalReference")),
        ("properties", ("list", "property", "property")),
        ("components", ("list", "component", "component")),
        ("modelCard", ("one", "modelCard")),
        ("data", ("each", "componentData")),
    ),
    "hash": (("alg", "@"), ("content", "=token")),
    "license": (("id", "normal"), ("name", "normal")),
    "pedigree": (("ancestors", ("list", "component", "component")),),
    "externalReference": (
        ("type", "@"),
        ("url", "text"),
        ("comment", "text"),
        ("hashes", ("list", "hash", "hash")),
    ),
    "property": (("name", "@"), ("value", "=normal")),
    "dependency": (("ref", "@"), ("dependsOn", ("refs", "dependency"))),
    "vulnerability": (
        ("bom-ref", "@"),
        ("id", "normal"),
        ("source", ("one", "vulnerabilitySource")),
        ("references", ("list", "reference", "vulnerabilityReference")),
        ("ratings", ("list", "rating", "rating")),
        ("description", "text"),
        ("detail", "text"),
        ("recommendation", "text"),
        ("published", "text"),
        ("updated", "text"),
        ("affects", ("list", "target", "target")),
    ),
    "vulnerabilitySource": (("name", "normal"), ("url", "text")),
    "vulnerabilityReference": (("id", "normal"), ("source", ("one", "vulnerabilitySource"))),
    "rating": (
        ("source", ("one", "vulnerabilitySource")),
        ("score", "score"),
        ("severity", "text"),
        ("method", "text"),
        ("vector", "normal"),
    ),
    "target": (("ref", "text"), ("versions", ("list", "version", "versionRange"))),
    "versionRange": (("version", "normal"), ("status", "text")),
    # The model card and data: the plugin's own fields, written as the plugin always has.
    "modelCard": (
        ("modelParameters", ("one", "modelParameters")),
        ("quantitativeAnalysis", ("one", "quantitativeAnalysis")),
        ("considerations", ("one", "considerations")),
        ("properties", ("list", "property", "cardProperty")),
    ),
    "modelParameters": (
        ("task", "raw"),
        ("architectureFamily", "raw"),
        ("modelArchitecture", "raw"),
        ("datasets", ("datasets",)),
        ("inputs", ("list", "input", "inputOutput")),
        ("outputs", ("list", "output", "inputOutput")),
    ),
    "inputOutput": (("format", "raw"),),
    "quantitativeAnalysis": (
        ("performanceMetrics", ("list", "performanceMetric", "performanceMetric")),
    ),
    "performanceMetric": (("type", "raw"), ("value", "raw"), ("slice", "raw")),
    "considerations": (
        ("users", ("list", "user", "raw")),
        ("useCases", ("list", "useCase", "raw")),
        ("technicalLimitations", ("list", "technicalLimitation", "raw")),
        ("ethicalConsiderations", ("list", "ethicalConsideration", "ethicalConsideration")),
    ),
    "ethicalConsideration": (("name", "raw"), ("mitigationStrategy", "raw")),
    "componentData": (
        ("bom-ref", "@"),
        ("type", "raw"),
        ("name", "raw"),
        ("contents", ("one", "dataContents")),
        ("classification", "raw"),
        ("sensitiveData", ("each", "raw")),
        ("description", "raw"),
        ("governance", ("one", "governance")),
    ),
    "dataContents": (("url", "raw"),),
    "governance": (
        ("custodians", ("list", "custodian", "party")),
        ("stewards", ("list", "steward", "party")),
        ("owners", ("list", "owner", "party")),
    ),
    "party": (("organization", ("one", "organization")),),
    "organization": (("name", "raw"),),
    "cardProperty": (("name", "@"), ("value", "=raw")),
}


def _xml_document(document: Mapping[str, Any]) -> str:
    """The XML text of the JSON document (no whitespace between elements), by :data:`_XML_TYPES`."""
    out: list[str] = []
    _xml_element(out, "bom", "bom", document, f' xmlns="{CYCLONEDX_NS}"')
    return "".join(out)


def _xml_element(out: list[str], tag: str, kind: str, value: Any, namespace: str = "") -> None:
    spec = _XML_TYPES.get(kind)
    if spec is None or not isinstance(value, dict):
        raise BomError(f"no XML mapping for <{tag}> ({kind})")
    unknown = value.keys() - _xml_members(kind)
    if unknown:
        # Better to fail loudly than to drop a field silently from the XML form.
        raise BomError(f"no XML mapping for {sorted(unknown)!r} under <{tag}>")
    head = [f"<{tag}{namespace}"]
    body: list[str] = []
    for key, rule in spec:
        if key not in value or rule == "-":
            continue
        item = value[key]
        if rule == "@":
            head.append(f" {key}={_xml_attr(str(item))}")
        elif isinstance(rule, str):
            if rule.startswith("="):
                body.append(_xml_value(item, rule[1:]))
            else:
                body.append(f"<{key}>{_xml_value(item, rule)}</{key}>")
        elif rule[0] == "one":
            _xml_element(body, key, rule[1], item)
        elif rule[0] == "list":
            body.append(f"<{key}>")
            for entry in item:
                _xml_item(body, rule[1], rule[2], entry)
            body.append(f"</{key}>")
        elif rule[0] == "each":
            for entry in item:
                _xml_item(body, key, rule[1], entry)
        elif rule[0] == "refs":
            body += [f"<{rule[1]} ref={_xml_attr(ref)}/>" for ref in item]
        elif rule[0] == "choice":
            body.append(f"<{key}>")
            for entry in item:
                ((name, member),) = entry.items()
                _xml_item(body, name, rule[1][name], member)
            body.append(f"</{key}>")
        else:  # ("datasets",): a data component's bom-ref, or an inline dataset
            body.append(f"<{key}>")
            for entry in item:
                if set(entry) == {"ref"}:
                    body.append(f"<ref>{_xml_value(entry['ref'], 'raw')}</ref>")
                else:
                    _xml_element(body, "dataset", "componentData", entry)
            body.append(f"</{key}>")
    out.append("".join(head) + ">")
    out += body
    out.append(f"</{tag}>")


@functools.cache
def _xml_members(kind: str) -> frozenset[str]:
    return frozenset(key for key, _ in _XML_TYPES[kind])


def _xml_item(out: list[str], tag: str, kind: str, value: Any) -> None:
    if kind in _XML_TEXT_RULES:
        out.append(f"<{tag}>{_xml_value(value, kind)}</{tag}>")
    else:
        _xml_element(out, tag, kind, value)


_NORMALIZED_RE = re.compile(r"\r\n|\t|\n|\r")
_SPACES_RE = re.compile(r" {2,}")


def _xml_value(value: Any, rule: str) -> str:
    """``value`` as the character data of an element, by its text rule (:data:`_XML_TEXT_RULES`)."""
    if rule == "score":
        return f"{value:.1f}"
    text = value if isinstance(value, str) else str(value)
    if rule == "normal":
        text = _NORMALIZED_RE.sub(" ", text)
    elif rule == "token":
        text = _SPACES_RE.sub(" ", _NORMALIZED_RE.sub(" ", text).strip())
    elif rule == "text":
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _xml_chars(text)


@functools.cache
def _not_xml() -> re.Pattern[str]:
    """What XML 1.0 cannot hold at all, even escaped (C0 controls but tab and line breaks, lone
    surrogates, U+FFFE/U+FFFF). Compiled on first use: its ranges cost ~10 ms to compile, which
    a gate that writes no XML never pays."""
    return re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: str) -> str:
    """``value`` with what XML cannot hold replaced by U+FFFD: names and card texts come from
    untrusted files (a file named with an escape character, ``pipeline_tag: "fill\x1bmask"``
    is valid YAML), and one such character would make the whole XML form unwritable."""
    return _not_xml().sub("\ufffd", value)


@functools.cache
def _xml_special() -> re.Pattern[str]:
    """Any character :func:`_xml_attr` or :func:`_xml_chars` changes: markup, quotes, tabs and
    line breaks, and what XML cannot hold. Most values (digests, names, versions) have none and
    are written as they are."""
    return re.compile(
        "[^\x20\x21\x23-\x25\x28-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
    )


def _xml_attr(value: str) -> str:
    """``value`` as a quoted attribute value: escaped, and its tabs and line breaks kept as
    character references (a parser turns a literal one into a space)."""
    if not _xml_special().search(value):
        return f'"{value}"'
    escaped = html.escape(_xml_text(value), quote=True)
    return '"' + escaped.replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;") + '"'


def _xml_chars(value: str) -> str:
    """``value`` as character data: escaped, a carriage return kept as a character reference."""
    if not _xml_special().search(value):
        return value
    return html.escape(_xml_text(value), quote=False).replace("\r", "&#13;")


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
