"""Session state: the loaded manifest and plan, the results gathered, and the reports written.

One instance per pytest process. Workers use it to run items; the controller (or a serial run)
also gathers results from test reports and writes the ML-BOM and matrix at session end.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.content_store import ContentStore
from pytest_mlsupply.manifest.loader import load_manifest
from pytest_mlsupply.manifest.model import Manifest, RevisionPointer
from pytest_mlsupply.plan import PlannedItem, build_plan
from pytest_mlsupply.plugin.settings import Settings
from pytest_mlsupply.results import CheckResult, Severity
from pytest_mlsupply.sources.inventory import Inventory
from pytest_mlsupply.sources.resolve import build_inventory

# The marker's verification machinery and the Hub module are imported when a run needs them (a
# marked model, a hub revision to explain): a gate over local weights loads neither.
if TYPE_CHECKING:
    from pytest_mlsupply.build_context import BuildContext
    from pytest_mlsupply.plugin.verification import Verification
    from pytest_mlsupply.reports.attestation import AttestSigner

#: The modules :meth:`MlsupplyState.write_reports` imports (:meth:`~MlsupplyState.prepare_reports`
#: imports them ahead of it).
_REPORT_MODULES = (
    "pytest_mlsupply.checks.unchecked",
    "pytest_mlsupply.reports.atomic",
    "pytest_mlsupply.reports.bom",
    "pytest_mlsupply.reports.matrix",
    "pytest_mlsupply.reports.outputs",
)

#: Exit status when the ML-BOM or matrix cannot be built, validated or written (pytest's own
#: statuses are 0-5; this one is distinct so CI can tell a broken report from failing items).
REPORT_ERROR_EXIT_STATUS = 6


def _revision_pointer(repo_type: str, repo_id: str, revision: str) -> RevisionPointer | None:
    """:func:`~pytest_mlsupply.sources.hub.revision_pointer`, its module imported on a call."""
    from pytest_mlsupply.sources.hub import revision_pointer

    return revision_pointer(repo_type, repo_id, revision)


@dataclass(frozen=True)
class Loaded:
    manifest: Manifest
    inventory: Inventory
    plan: list[PlannedItem]
    context: CheckContext


@dataclass(frozen=True)
class Reported:
    """What the reports were built from, and the BOM's bytes: the attestation's input."""

    plan: list[PlannedItem]
    results: list[CheckResult]
    threshold: Severity
    bom_path: Path
    bom_text: str
    extra: dict[Path, str]
    """Other attested reports (the XML BOM) → their text."""


@dataclass
class Written:
    paths: list[Path] = field(default_factory=list)
    error: str | None = None


class MlsupplyState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loaded: Loaded | None = None
        self.results: dict[str, list[CheckResult]] = {}
        """Item name → results, from reports (serial run or xdist controller)."""
        self.unreported: dict[str, str] = {}
        """Item name → why it failed without results (a crashed worker, a setup error)."""
        self.written = Written()
        self.verdict_counts: dict[str, int] = {}
        self.declared_not_checked: list[str] = []
        """Manifest keys declared that no check reads yet, described for the summary."""
        self.reported: Reported | None = None
        self.attest_signer: AttestSigner | None = None
        """Loaded at session start from ``--mlsupply-attest`` (controller or serial run)."""
        self._content_store: ContentStore | None = None
        self._build: BuildContext | None = None

    @property
    def content_store(self) -> ContentStore | None:
        """The persistent content cache in pytest's cache directory, when there is one."""
        folder = self.settings.content_cache
        if self._content_store is None and folder is not None:
            self._content_store = ContentStore(folder)
        return self._content_store

    def load(self) -> Loaded:
        """Parse the manifest and build inventory and plan once per process."""
        if self._loaded is None:
            # A mutable hub revision is an error either way; its message also names the commit
            # it points to today (one short request; none under HF_HUB_OFFLINE) or, when the
            # Hub cannot answer, in the local cache.
            manifest = load_manifest(
                self.settings.manifest_path, resolve_revision=_revision_pointer
            )
            inventory = build_inventory(manifest)
            plan = build_plan(inventory)
            context = CheckContext(
                policy=manifest.policy,
                inventory=inventory,
                contents=ContentCache(self.content_store),
            )
            self._loaded = Loaded(manifest, inventory, plan, context)
        return self._loaded

    def threshold(self, manifest: Manifest) -> Severity:
        return self.settings.fail_on_override or manifest.policy.fail_on

    def record(self, name: str, results: list[CheckResult] | None, failure: str | None) -> None:
        if results is not None:
            self.results[name] = results
            self.unreported.pop(name, None)
        elif failure is not None and name not in self.results:
            self.unreported[name] = failure

    def all_results(
        self,
        plan: list[PlannedItem],
        marked: Mapping[str, list[CheckResult]] | None = None,
    ) -> list[CheckResult]:
        """Results for every item that ran; items that failed without results become errors.

        ``marked`` holds the marked models' results by item name: they fill the cells that no
        generated item reported (a generated item's own outcome, even an error, wins).
        """
        out: list[CheckResult] = []
        for planned in plan:
            if planned.name in self.results:
                out.extend(self.results[planned.name])
            elif planned.name in self.unreported:
                # Never a pass: the item was attempted but its checks did not report back.
                reason = self.unreported[planned.name]
                out.extend(
                    CheckResult(
                        kind=planned.kind,
                        subject=planned.subject,
                        check=check,
                        error=f"no result reported: {reason}",
                    )
                    for check in planned.checks
                )
            elif marked is not None and planned.name in marked:
                out.extend(marked[planned.name])
        return out

    def build_context(self) -> BuildContext:
        """The repository, commit and CI run of this project (read once, on first use)."""
        if self._build is None:
            from pytest_mlsupply.build_context import detect

            self._build = detect(self.settings.manifest_path.parent)
        return self._build

    def prepare_reports(self) -> None:
        """Import the report writers and build the BOM's schema validators ahead of
        :meth:`write_reports`: a warm-up (``checks.hashing.warm_up``) done while the main thread
        waits for a digest. It builds only what write_reports builds first (the same modules,
        the same per-process cached validators); an error is raised again there."""
        import importlib

        from pytest_mlsupply.reports import bom_schema

        for name in _REPORT_MODULES:
            importlib.import_module(name)
        from pytest_mlsupply.reports.outputs import REPORTS

        for report in REPORTS:  # the registered writers' modules too: none waits for session end
            report.load()
        bom_schema.json_validator()
        if (self.settings.bom_xml or self.load().manifest.output.bom_xml) is not None:
            bom_schema.xml_validator()

    def write_reports(self, marked: Sequence[Verification] = ()) -> None:
        """Write the ML-BOM and matrix: the manifest's items plus the marked models."""
        from pytest_mlsupply.checks.unchecked import declared_not_checked
        from pytest_mlsupply.reports.atomic import write_atomic
        from pytest_mlsupply.reports.bom import (
            BomError,
            assemble_bom,
            bom_json,
            bom_xml,
            render_bom_json,
        )
        from pytest_mlsupply.reports.matrix import build_matrix, render_json, render_markdown
        from pytest_mlsupply.reports.outputs import REPORTS, ReportError, ReportInputs

        loaded = self.load()
        manifest = loaded.manifest
        threshold = self.threshold(manifest)
        inventory, plan = loaded.inventory, loaded.plan
        marked_results: dict[str, list[CheckResult]] | None = None
        if marked:
            # Only with marked models: merging them is the marker's machinery, which a gate
            # without markers does not import (without any, the merge is the manifest's own).
            from pytest_mlsupply.plugin.verification import NameConflict, merge

            try:
                merged = merge(inventory, plan, marked)
            except NameConflict as exc:
                # No report rather than one that leaves a verified model out (exit status 6).
                self.written.error = f"cannot put the marked models in the reports: {exc}"
                return
            inventory, plan, marked_results = merged.inventory, merged.plan, merged.results
        results = self.all_results(plan, marked_results)
        unchecked = declared_not_checked(manifest)
        self.declared_not_checked = [declared.describe() for declared in unchecked]
        matrix = build_matrix(plan, results, threshold, unchecked)
        self.verdict_counts = {v.value: n for v, n in matrix.counts.items()}
        matrix_stem = self.settings.matrix or manifest.output.matrix
        if matrix_stem.suffix in (".md", ".json"):
            matrix_stem = matrix_stem.with_suffix("")
        bom_path = self.settings.bom or manifest.output.bom
        bom_xml_path = self.settings.bom_xml or manifest.output.bom_xml
        try:
            # Build and validate everything before writing anything: a BOM that does not
            # validate leaves the previous release's files in place.
            # Assembled once: the JSON and XML forms are the same BOM (one serial number and
            # timestamp). A file no check reported a digest for takes it from this process's
            # content cache (or the content store), never from a second read.
            assembled = assemble_bom(
                inventory,
                plan,
                results,
                threshold,
                serial_number=uuid.uuid4(),
                timestamp=datetime.now(UTC).replace(microsecond=0),
                contents=loaded.context.contents,
            )
            bom_document = bom_json(assembled)
            matrix_text = render_json(matrix, results)
            outputs: list[tuple[Path, str]] = [
                (bom_path, render_bom_json(bom_document)),
                (matrix_stem.with_name(matrix_stem.name + ".md"), render_markdown(matrix)),
                (matrix_stem.with_name(matrix_stem.name + ".json"), matrix_text),
            ]
            if bom_xml_path is not None:
                outputs.append((bom_xml_path, bom_xml(assembled)))
            if REPORTS:
                inputs = ReportInputs(
                    settings=self.settings,
                    manifest=manifest,
                    inventory=inventory,
                    plan=plan,
                    results=results,
                    threshold=threshold,
                    matrix=matrix,
                    matrix_document=json.loads(matrix_text),
                    bom_document=bom_document,
                    build=self.build_context(),
                    invocation_dir=self.settings.invocation_dir,
                )
                for report in REPORTS:
                    outputs.extend(report.load()(inputs))
        except (BomError, ReportError) as exc:
            self.written.error = str(exc)
            return
        for path, text in outputs:
            try:
                write_atomic(path, text)
            except OSError as exc:
                self.written.error = f"cannot write {path}: {exc.strerror or exc}"
                return
            self.written.paths.append(path)
        extra = {bom_xml_path: outputs[3][1]} if bom_xml_path is not None else {}
        self.reported = Reported(plan, results, threshold, bom_path, outputs[0][1], extra)

    def write_attestation(self, exit_status: int) -> None:
        """Sign and write the gate's attestation of the reports just written (fail or pass)."""
        if self.settings.attest is None:
            return  # before the imports: a gate without --mlsupply-attest loads no signer
        import hashlib

        from pytest_mlsupply.checks.unchecked import declared_not_checked
        from pytest_mlsupply.reports.atomic import write_atomic
        from pytest_mlsupply.reports.attestation import (
            AttestationError,
            GateRecord,
            build_statement,
            default_output,
            sha256_file,
            sign,
        )

        attest, signer, reported = self.settings.attest, self.attest_signer, self.reported
        if attest is None:
            return
        if signer is None or reported is None:
            # Never a silent gap: an attestation was asked for and cannot be made.
            self.written.error = "no attestation written: the signing key was not loaded"
            return
        manifest_path = self.settings.manifest_path
        base = manifest_path.parent

        def name(path: Path) -> str:
            # Relative to the manifest's directory (the project), as a deploy step sees it.
            try:
                return path.relative_to(base).as_posix()
            except ValueError:
                return path.as_posix()

        def digest(text: str) -> str:
            # The bytes write_atomic wrote: text as UTF-8, newlines as given.
            return hashlib.sha256(text.encode("utf-8")).hexdigest()

        output = attest.output or default_output(reported.bom_path, signer.mode)
        try:
            record = GateRecord(
                bom_name=name(reported.bom_path),
                bom_sha256=digest(reported.bom_text),
                plan=reported.plan,
                results=reported.results,
                threshold=reported.threshold,
                # The policy in force: its threshold after --mlsupply-fail-on and the ini key.
                policy=replace(self.load().manifest.policy, fail_on=reported.threshold),
                manifest_name=name(manifest_path),
                manifest_sha256=sha256_file(manifest_path),
                exit_status=exit_status,
                extra_subjects={name(p): digest(t) for p, t in reported.extra.items()},
                manifest_threshold=self.load().manifest.policy.fail_on,
                declared_not_checked=[
                    d.to_dict() for d in declared_not_checked(self.load().manifest)
                ],
            )
            envelope = sign(build_statement(record), signer)
        except (AttestationError, OSError) as exc:
            self.written.error = f"no attestation written: {exc}"
            return
        try:
            write_atomic(output, envelope)
        except OSError as exc:
            self.written.error = f"cannot write the attestation {output}: {exc.strerror or exc}"
            return
        self.written.paths.append(output)
