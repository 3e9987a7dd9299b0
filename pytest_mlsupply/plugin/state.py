"""Session state: the loaded manifest and plan, the results gathered, and the reports written.

One instance per pytest process. Workers use it to run items; the controller (or a serial run)
also gathers results from test reports and writes the ML-BOM and matrix at session end.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
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
    from pytest_mlsupply.baseline import Baseline, BaselineOutcome
    from pytest_mlsupply.build_context import BuildContext
    from pytest_mlsupply.plugin.verification import Verification
    from pytest_mlsupply.reports.attestation import AttestSigner
    from pytest_mlsupply.reports.matrix import Matrix

#: The modules :meth:`MlsupplyState.write_reports` imports (:meth:`~MlsupplyState.prepare_reports`
#: imports them ahead of it).
_REPORT_MODULES = (
    "pytest_mlsupply.checks.unchecked",
    "pytest_mlsupply.reports.atomic",
    "pytest_mlsupply.reports.bom",
    "pytest_mlsupply.reports.lock",
    "pytest_mlsupply.reports.matrix",
    "pytest_mlsupply.reports.outputs",
    "pytest_mlsupply.reports.partial",
)

#: Exit status when the ML-BOM or matrix cannot be built, validated or written (pytest's own
#: statuses are 0-5; this one is distinct so CI can tell a broken report from failing items).
REPORT_ERROR_EXIT_STATUS = 6


def _load_baseline(manifest: Manifest) -> tuple[Baseline | None, date | None]:
    """The project's baseline file, read and validated, and the day it is judged on (read once
    per process: an item and the reports written after it never straddle midnight UTC); (None,
    None) when the project has none."""
    from pytest_mlsupply.baseline import baseline_path, load_baseline, today_utc

    path = baseline_path(manifest)
    if path is None:
        return None, None
    today = today_utc()
    return load_baseline(path, today, root=manifest.path.parent), today


def _project_path(path: Path | None, name: Callable[[Path], str]) -> Path | None:
    return None if path is None else Path(name(path))


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
    baseline: Baseline | None = None
    """The accepted findings (``mlsupply-baseline.yaml``), when the project has a baseline."""


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
    baseline: BaselineOutcome | None = None


class _Reported:
    """The items with an outcome: results, a failure without results, or a marked model's."""

    def __init__(self, *outcomes: Mapping[str, object]) -> None:
        self._outcomes = outcomes

    def __contains__(self, name: object) -> bool:
        return any(name in outcome for outcome in self._outcomes)


@dataclass
class Written:
    paths: list[Path] = field(default_factory=list)
    error: str | None = None


class MlsupplyState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loaded: Loaded | None = None
        self.baseline_day: date | None = None
        """The day acceptances are judged on in this process (read once, with the baseline)."""
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
        self.baseline_outcome: BaselineOutcome | None = None
        """What the baseline accepted, let expire and never matched (the summary shows it)."""
        self.not_run: tuple[str, ...] = ()
        """Planned items that did not run: the reports were written marked partial."""
        self.planned_count = 0
        self.note_counts: dict[str, int] = {}
        """Passing cells by the note they read instead of "pass" (``"not pinned"``)."""
        self.matrix: Matrix | None = None
        """The matrix the reports were built from (the CI summary renders it)."""

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
            # Raises ManifestError, named like the manifest's.
            baseline, self.baseline_day = _load_baseline(manifest)
            inventory = build_inventory(manifest)
            plan = build_plan(inventory, online=self.settings.online)
            context = CheckContext(
                policy=manifest.policy,
                inventory=inventory,
                contents=ContentCache(self.content_store),
            )
            self._loaded = Loaded(manifest, inventory, plan, context, baseline)
        return self._loaded

    def accept(self, results: list[CheckResult]) -> list[CheckResult]:
        """``results`` with the project's baseline applied (accepted findings marked, expired
        acceptances failing): the same function, file and day in an item and in the reports,
        so an item's outcome and its matrix cell agree, under xdist too."""
        loaded = self.load()
        if loaded.baseline is None:
            return results
        from pytest_mlsupply.baseline import apply_baseline, today_utc

        threshold = self.threshold(loaded.manifest)
        return apply_baseline(results, loaded.baseline, threshold, self.baseline_day or today_utc())

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

        for report in REPORTS:  # the registered writers' modules too (each one small)
            report.load()
        bom_schema.json_validator()
        if (self.settings.bom_xml or self.load().manifest.output.bom_xml) is not None:
            bom_schema.xml_validator()

    def bom_path(self) -> Path:
        """Where the JSON ML-BOM goes: ``--mlsupply-bom``, else the manifest's ``output.bom``."""
        return self.settings.bom or self.load().manifest.output.bom

    def report_paths(self) -> list[Path]:
        """Every file the set will be written to (BOM, XML BOM, matrix, each registered report,
        attestation), named from the settings and the manifest before anything is built: the
        session locks their folders (reports/lock.py) for the set's build and write."""
        from pytest_mlsupply.reports.outputs import REPORTS

        manifest = self.load().manifest
        bom_path = self.bom_path()
        stem = self._matrix_stem()
        paths = [bom_path, stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".json")]
        bom_xml_path = self.settings.bom_xml or manifest.output.bom_xml
        if bom_xml_path is not None:
            paths.append(bom_xml_path)
        for report in REPORTS:
            paths.extend(report.paths(self.settings, manifest))
        attest, signer = self.settings.attest, self.attest_signer
        if attest is not None and signer is not None:
            from pytest_mlsupply.reports.attestation import default_output

            paths.append(attest.output or default_output(bom_path, signer.mode))
        return paths

    def _matrix_stem(self) -> Path:
        stem = self.settings.matrix or self.load().manifest.output.matrix
        return stem.with_suffix("") if stem.suffix in (".md", ".json") else stem

    def write_reports(self, marked: Sequence[Verification] = ()) -> None:
        """Write the ML-BOM and matrix: the manifest's items plus the marked models."""
        from pytest_mlsupply.checks.unchecked import declared_not_checked
        from pytest_mlsupply.redaction import redact_text
        from pytest_mlsupply.reports.atomic import write_atomic
        from pytest_mlsupply.reports.bom import (
            BomError,
            assemble_bom,
            bom_json,
            bom_xml,
            render_bom_json,
        )
        from pytest_mlsupply.reports.bom_forms import timestamp as iso_timestamp
        from pytest_mlsupply.reports.matrix import (
            MatrixMetadata,
            build_matrix,
            render_json,
            render_markdown,
        )
        from pytest_mlsupply.reports.outputs import REPORTS, ReportError, ReportInputs
        from pytest_mlsupply.reports.partial import mark_bom_partial, not_run

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
        # Applied here again (idempotent): the marked models' results and a crashed worker's
        # errors never passed through an item, and this one process decides the reports.
        results = self.accept(self.all_results(plan, marked_results))
        if loaded.baseline is not None:
            from pytest_mlsupply.baseline import outcome

            self.baseline_outcome = outcome(loaded.baseline, plan, results)
        unchecked = declared_not_checked(manifest)
        self.declared_not_checked = [declared.describe() for declared in unchecked]
        # Items with no outcome at all (deselected, not selected, stopped early) make the run
        # partial; an item that errored or crashed has its outcome, an error.
        self.not_run = not_run(plan, _Reported(self.results, self.unreported, marked_results or {}))
        # One serial number and time for the BOM and the matrix that names it.
        serial_number = uuid.uuid4()
        made = datetime.now(UTC).replace(microsecond=0)
        build = self.build_context()
        metadata = MatrixMetadata(
            project=manifest.project_name,
            version=manifest.project_version,
            commit=build.commit,
            dirty=build.dirty,
            repository=build.repository,
            ci_run_url=build.ci_run_url,
            timestamp=iso_timestamp(made),
            bom_serial_number=f"urn:uuid:{serial_number}",
            not_run=self.not_run,
        )
        matrix = build_matrix(
            plan,
            results,
            threshold,
            unchecked,
            datasets=(dataset.name for dataset in manifest.datasets),
            metadata=metadata,
            baseline=self.baseline_outcome,
        )
        self.matrix = matrix
        self.verdict_counts = {v.value: n for v, n in matrix.counts.items()}
        self.note_counts = matrix.note_counts
        self.planned_count = len(plan)
        matrix_stem = self._matrix_stem()
        bom_path = self.bom_path()
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
                serial_number=serial_number,
                timestamp=made,
                contents=loaded.context.contents,
                build=build,
            )
            mark_bom_partial(assembled.document, self.not_run)
            bom_document = bom_json(assembled)
            matrix_text = render_json(matrix, results)
            outputs: list[tuple[Path, str]] = [
                (bom_path, render_bom_json(bom_document)),
                (matrix_stem.with_name(matrix_stem.name + ".md"), render_markdown(matrix)),
                (matrix_stem.with_name(matrix_stem.name + ".json"), matrix_text),
            ]
            if bom_xml_path is not None:
                outputs.append((bom_xml_path, bom_xml(assembled)))
            inputs = ReportInputs(
                settings=self.settings,
                manifest=manifest,
                inventory=inventory,
                plan=plan,
                results=results,
                threshold=threshold,
                matrix=matrix,
                # Parsed back from the text written, not the dict it was dumped from: the
                # writers see exactly the saved document (key order, lists), which is what
                # lets `mlsupply report` rebuild the HTML byte for byte (~7 ms per 5,000
                # items).
                matrix_document=json.loads(matrix_text),
                bom_document=bom_document,
                build=build,
                invocation_dir=self.settings.invocation_dir,
            )
            for report in REPORTS:
                outputs.extend(report.load()(inputs))
        except (BomError, ReportError) as exc:
            self.written.error = str(exc)
            return
        # Only files whose folder the session locked: a writer that names another path than its
        # Where (reports/outputs.py) would write outside the lock, beside another gate's set.
        unnamed = [str(path) for path, _ in outputs if path not in self.report_paths()]
        if unnamed:
            self.written.error = (
                f"internal error: {', '.join(unnamed)} not among the report paths locked"
            )
            return
        # Redacted before writing (write_atomic would redact too): the attestation digests the
        # text kept in self.reported, which must be the bytes on disk.
        outputs = [(path, redact_text(text)) for path, text in outputs]
        attest, signer = self.settings.attest, self.attest_signer
        if attest is not None and signer is not None:
            # The previous run's attestation goes before this run's first rename: one that
            # signs another BOM never stays beside this run's (a later write may fail, a
            # second signal or a kill may stop the set). Written again after the set.
            from pytest_mlsupply.reports.attestation import default_output

            previous = attest.output or default_output(bom_path, signer.mode)
            try:
                previous.unlink(missing_ok=True)
            except OSError as exc:
                self.written.error = (
                    f"cannot remove the previous attestation {previous}: {exc.strerror or exc}"
                )
                return
        for path, text in outputs:
            try:
                write_atomic(path, text)
            except OSError as exc:
                self.written.error = f"cannot write {path}: {exc.strerror or exc}"
                return
            self.written.paths.append(path)
        extra = {bom_xml_path: outputs[3][1]} if bom_xml_path is not None else {}
        self.reported = Reported(
            plan, results, threshold, bom_path, outputs[0][1], extra, self.baseline_outcome
        )

    def write_attestation(self, exit_status: int) -> None:
        """Sign and write the gate's attestation of the reports just written (fail or pass)."""
        if self.settings.attest is None:
            return  # before the imports: a gate without --mlsupply-attest loads no signer
        import hashlib

        from pytest_mlsupply.checks.unchecked import declared_not_checked
        from pytest_mlsupply.redaction import redact_json
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
                # The policy in force: its threshold after --mlsupply-fail-on and the ini key;
                # the baseline file named as the project names it, not by this machine's path.
                policy=replace(
                    self.load().manifest.policy,
                    fail_on=reported.threshold,
                    baseline=_project_path(self.load().manifest.policy.baseline, name),
                ),
                manifest_name=name(manifest_path),
                manifest_sha256=sha256_file(manifest_path),
                exit_status=exit_status,
                extra_subjects={name(p): digest(t) for p, t in reported.extra.items()},
                manifest_threshold=self.load().manifest.policy.fail_on,
                declared_not_checked=[
                    d.to_dict() for d in declared_not_checked(self.load().manifest)
                ],
                baseline=reported.baseline.to_dict() if reported.baseline is not None else None,
            )
            # Redacted before signing: the payload is base64, out of reach of the writer's
            # redaction, and a result's error may quote a secret.
            envelope = sign(redact_json(build_statement(record)), signer)
        except (AttestationError, OSError) as exc:
            self.written.error = f"no attestation written: {exc}"
            return
        try:
            write_atomic(output, envelope)
        except OSError as exc:
            self.written.error = f"cannot write the attestation {output}: {exc.strerror or exc}"
            return
        self.written.paths.append(output)
