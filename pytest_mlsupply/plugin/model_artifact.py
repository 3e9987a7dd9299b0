"""The ``model_artifact`` marker's verification, the ``mlsupply_results`` fixture's data, and
their xdist glue.

A test that asks for a verified model must never run against an unverified one, with or without
``--mlsupply``. The entry point (:mod:`pytest_mlsupply.plugin.hooks`) always has the light hooks
that look for the marker; this module, and the :class:`ModelArtifactPlugin` it registers, are
loaded only when a session has a marked test, asks for a fixture, distributes tests with xdist,
or runs the gate (:func:`marker_plugin`). ``--mlsupply`` only adds the generated items and the
reports (which then include the marked models).
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# Light imports still: a session with one marked test must not pay for the engines,
# huggingface_hub or the manifest loader before a model is verified. The verification
# machinery is imported inside the methods that run only for a marked test.
from pytest_mlsupply.plugin.marker import MarkerUsageError, ModelRequest, requests_for
from pytest_mlsupply.plugin.settings import (
    Settings,
    content_cache_folder,
    fail_on_override,
    manifest_location,
    missing_manifest_message,
)
from pytest_mlsupply.plugin.shared import (
    WORKERINPUT_KEY,
    VerificationStore,
    make_shared_directory,
)

if TYPE_CHECKING:
    from pytest_mlsupply.checks.content_store import ContentStore
    from pytest_mlsupply.manifest.model import Manifest
    from pytest_mlsupply.plugin.results_fixture import ManifestResults, SupplyChainResults
    from pytest_mlsupply.plugin.state import Loaded
    from pytest_mlsupply.plugin.verification import Accept, Verification
    from pytest_mlsupply.results import Severity

MARKER_PLUGIN_NAME = "mlsupply-marker"
#: The session plugin (:mod:`pytest_mlsupply.plugin.session`), whose state is reused when
#: ``--mlsupply`` is on.
SESSION_PLUGIN_NAME = "mlsupply-session"

# Annotated rather than subscripted: the annotation is not evaluated at import time.
VERIFIED: pytest.StashKey[list[tuple[Verification, bool]]] = pytest.StashKey()
"""On a marked item: its verifications (closest marker first) and whether this process ran each."""
UNVERIFIED: pytest.StashKey[bool] = pytest.StashKey()
"""On a marked item whose models did not pass: its setup failure is reported as a failure."""


class Unavailable(Exception):
    """The policy to verify with cannot be determined (a broken or missing manifest)."""


@dataclass(frozen=True)
class _Context:
    manifest: Manifest
    loaded: Loaded | None
    threshold: Severity
    store: ContentStore | None = None
    """The persistent content cache, shared with the session's generated items."""
    accept: Accept | None = None
    """The project's baseline (``MlsupplyState.accept``); None without a manifest."""


class ModelArtifactPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        workerinput: dict[str, Any] = getattr(config, "workerinput", {})
        self.is_worker = bool(workerinput)
        self.worker_id = str(workerinput.get("workerid", "main"))
        shared = workerinput.get(WORKERINPUT_KEY)
        self.store = VerificationStore(Path(shared) if shared else None)
        self.shared_dir: Path | None = None
        """Created by the controller for its xdist workers (see :class:`XdistHooks`)."""
        self._context: _Context | str | None = None
        self.name_conflicts: dict[str, str] = {}
        self.verified_here: dict[str, Verification] = {}
        """Key → verification used by a test in this process."""
        self.reported: dict[str, Verification] = {}
        """Key → verification, from test reports (serial run or xdist controller)."""
        self.verification_counts: Counter[str] = Counter()
        self.test_counts: Counter[str] = Counter()
        self.failure_shown: dict[str, str] = {}
        """Key → the test whose failure showed the model's findings (once per process)."""

    # -- policy -------------------------------------------------------------------------------

    def context(self) -> _Context:
        """Manifest, policy and threshold, once per process; raises :class:`Unavailable`."""
        if self._context is None:
            from pytest_mlsupply.manifest.errors import ManifestError

            try:
                self._context = self._load_context()
            except ManifestError as exc:
                self._context = f"the manifest is invalid:\n{exc.render()}"
            except (Unavailable, pytest.UsageError, ValueError) as exc:
                self._context = str(exc)
        if isinstance(self._context, str):
            raise Unavailable(self._context)
        return self._context

    def _load_context(self) -> _Context:
        from pytest_mlsupply.checks.content_store import ContentStore
        from pytest_mlsupply.plugin.state import MlsupplyState
        from pytest_mlsupply.plugin.verification import default_manifest
        from pytest_mlsupply.results import DEFAULT_THRESHOLD

        override = fail_on_override(self.config)
        store: ContentStore | None = None
        session_plugin = self.config.pluginmanager.get_plugin(SESSION_PLUGIN_NAME)
        state: MlsupplyState | None = getattr(session_plugin, "state", None)
        if state is None:
            path, origin = manifest_location(self.config)
            folder = content_cache_folder(self.config)
            if path.is_file():
                state = MlsupplyState(
                    Settings(path, override, None, None, None, content_cache=folder)
                )
            elif origin != "the rootdir":
                raise Unavailable(missing_manifest_message(path, origin))
            elif folder is not None:
                store = ContentStore(folder)
        if state is None:
            return _Context(
                default_manifest(self.config.rootpath), None, override or DEFAULT_THRESHOLD, store
            )
        loaded = state.load()
        return _Context(
            loaded.manifest,
            loaded,
            state.threshold(loaded.manifest),
            state.content_store,
            state.accept,
        )

    # -- collection (called by the entry point's hooks for marked tests) ---------------------

    def check_collected(self, collector: pytest.Collector, items: list[pytest.Function]) -> None:
        """A marker that cannot work is a usage error of the test module: it fails collection
        (under xdist too), so nothing runs and the message names what to write instead."""
        for item in items:
            try:
                requests_for(item, self.config.rootpath)
            except MarkerUsageError as exc:
                raise collector.CollectError(f"{item.nodeid}: {exc}") from None

    def find_conflicts(self, marked: list[pytest.Item]) -> None:
        """One name for two different models would merge them in the BOM. Collection is
        identical on every xdist worker, so every process finds the same conflicts."""
        sources: dict[str, dict[str, str]] = {}
        for item in marked:
            try:
                requests = requests_for(item, self.config.rootpath)
            except MarkerUsageError:
                continue  # reported at setup
            for request in requests:
                sources.setdefault(request.name, {}).setdefault(request.source_text, item.nodeid)
        self.name_conflicts = {
            name: (
                f"the name {name!r} is used for different models: "
                + "; ".join(f"{src} ({nodeid})" for src, nodeid in sorted(by_source.items()))
                + "; pass name='...' to the marker to tell them apart"
            )
            for name, by_source in sources.items()
            if len(by_source) > 1
        }

    # -- running ------------------------------------------------------------------------------

    def setup_marked(self, item: pytest.Item) -> None:
        """Verify a marked test's models before any of its fixtures (the entry point's
        ``pytest_runtest_setup``, tryfirst, calls this for every test that has the marker)."""
        from pytest_mlsupply.plugin.verification import NameConflict

        try:
            requests = requests_for(item, self.config.rootpath)
        except MarkerUsageError as exc:
            self._refuse(item, str(exc))
        verified: list[tuple[Verification, bool]] = []
        problems: list[str] = []
        item.stash[VERIFIED] = verified
        for request in requests:
            try:
                verification, fresh = self.verification(request)
            except (Unavailable, NameConflict) as exc:
                problems.append(f"model_artifact {request.source_text}: {exc}")
                continue
            verified.append((verification, fresh))
            self.verified_here[verification.key] = verification
        threshold, accept = self._threshold(), self._accept()
        for v, _ in verified:
            if not (v.failing(threshold, accept) or v.root is None):
                continue
            shown_under = self.failure_shown.get(v.key)
            if shown_under is None:
                # The findings once, under the first test that needed the model: every other
                # test of the model fails with one line pointing there, not the same findings.
                self.failure_shown[v.key] = item.nodeid
                problems.append(render_failure(v, threshold, self.config.rootpath, accept))
            else:
                problems.append(render_failure_again(v, shown_under, self.config.rootpath))
        if problems:
            self._refuse(item, "\n\n".join(problems))

    def _refuse(self, item: pytest.Item, text: str) -> None:
        item.stash[UNVERIFIED] = True
        pytest.fail(text, pytrace=False)

    def _accept(self) -> Accept | None:
        try:
            return self.context().accept
        except Unavailable:
            return None

    def _threshold(self) -> Severity:
        from pytest_mlsupply.results import DEFAULT_THRESHOLD

        try:
            return self.context().threshold
        except Unavailable:
            return DEFAULT_THRESHOLD

    def verification(self, request: ModelRequest) -> tuple[Verification, bool]:
        """The model verified (once per session for its key) and whether this call ran it."""
        from pytest_mlsupply.plugin.verification import (
            NameConflict,
            Verification,
            declaration,
            verification_key,
            verify,
        )

        context = self.context()
        decl, from_manifest = declaration(request, context.manifest)
        if request.name in self.name_conflicts and not from_manifest:
            raise NameConflict(self.name_conflicts[request.name])
        key = verification_key(request, decl, context.manifest.policy)
        record, fresh = self.store.get_or_compute(
            key,
            lambda: verify(
                request,
                decl,
                from_manifest=from_manifest,
                manifest=context.manifest,
                key=key,
                verified_by=self.worker_id,
                store=context.store,
            ).to_dict(),
        )
        return Verification.from_dict(record), fresh

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if report.when == "setup":
            verified = item.stash.get(VERIFIED, None)
            if verified:
                # Builtins only: this attribute travels to the xdist controller with the report.
                report.mlsupply_models = [  # type: ignore[attr-defined]
                    {"fresh": fresh, "verification": v.to_dict()} for v, fresh in verified
                ]
            if item.stash.get(UNVERIFIED, False) and report.failed:
                report.mlsupply_unverified = True  # type: ignore[attr-defined]
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport | pytest.CollectReport
    ) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
        # The model is what the test is about: a model that fails verification fails the test
        # (counted and shown as FAILED), rather than looking like a broken fixture (ERROR).
        if getattr(report, "mlsupply_unverified", False) and report.failed:
            return "failed", "F", ("FAILED", {"red": True})
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entries: Any = getattr(report, "mlsupply_models", None)
        if not entries:
            return
        from pytest_mlsupply.plugin.verification import Verification

        for entry in entries:
            verification = Verification.from_dict(entry["verification"])
            self.reported.setdefault(verification.key, verification)
            self.test_counts[verification.key] += 1
            if entry["fresh"]:
                self.verification_counts[verification.key] += 1

    # -- fixtures (module-level below; they delegate here) -------------------------------------

    def fixture_path(self, item: pytest.Item) -> Path:
        verified = item.stash.get(VERIFIED, None)
        if not verified:
            pytest.fail(
                "the model_artifact fixture needs @pytest.mark.model_artifact(...) on the test "
                "(or its class or module) naming the model to verify; see docs/marker.md",
                pytrace=False,
            )
        root = verified[0][0].root
        assert root is not None  # setup refuses a model that did not resolve
        return Path(root)

    def results(self) -> SupplyChainResults:
        from pytest_mlsupply.plugin.results_fixture import SupplyChainResults

        return SupplyChainResults(
            self._manifest_results,
            lambda: [self.verified_here[k] for k in sorted(self.verified_here)],
            self._threshold,
        )

    def _manifest_results(self) -> ManifestResults:
        from pytest_mlsupply.checks.runner import run_item
        from pytest_mlsupply.plugin.results_fixture import ManifestResults

        try:
            context = self.context()
        except Unavailable as exc:
            pytest.fail(f"mlsupply_results: {exc}", pytrace=False)
        loaded = context.loaded
        if loaded is None:
            return ManifestResults(plan=[], results=[], models=[])
        results = [r for planned in loaded.plan for r in run_item(planned, loaded.context)]
        return ManifestResults(
            plan=list(loaded.plan), results=results, models=list(loaded.inventory.models)
        )

    # -- reporting ----------------------------------------------------------------------------

    def marked_models(self) -> list[Verification]:
        """Every verification reported by a test, in a stable order (for the reports)."""
        return [self.reported[k] for k in sorted(self.reported)]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not self.reported:
            return
        from pytest_mlsupply.results import RowKind

        tr = terminalreporter
        threshold = self._threshold()
        tr.write_sep("-", "mlsupply: models verified for model_artifact tests")
        # Ordered by what the line shows (the key hashes absolute paths: its order would vary
        # with the directory the project sits in).
        shown_order = sorted(
            self.reported.values(), key=lambda v: (v.name, v.selection, v.source, v.key)
        )
        for verification in shown_order:
            runs = self.verification_counts[verification.key]
            tests = self.test_counts[verification.key]
            times = {0: "reused", 1: "verified once"}.get(runs, f"verified {runs} times")
            failing = verification.failing(threshold, self._accept())
            total = len(verification.files)
            failed_files = {
                r.subject
                for r in failing
                if r.kind is RowKind.ARTIFACT and r.subject != verification.name
            }
            if not failing:
                counted = f"{total} file(s) passed"
            elif failed_files:
                # The files that failed, of those verified: not the whole model as FAILED.
                counted = f"{len(failed_files)} of {total} file(s) FAILED"
            else:
                counted = f"{total} file(s) verified, FAILED"
            by = f" on {verification.verified_by}" if runs == 1 and self.shared_dir else ""
            source = _display(verification.source, self.config.rootpath)
            narrowed = f" [{verification.selection}]" if verification.selection else ""
            tr.write_line(
                f"{verification.name} ({source}){narrowed}: {counted}; {times}{by} "
                f"for {tests} test(s)"
            )

    def pytest_unconfigure(self) -> None:
        if self.shared_dir is not None:
            shutil.rmtree(self.shared_dir, ignore_errors=True)
            self.shared_dir = None

    def shared_directory(self) -> Path:
        if self.shared_dir is None:
            self.shared_dir = make_shared_directory()
        return self.shared_dir


def marker_plugin(config: pytest.Config) -> ModelArtifactPlugin:
    """The session's :class:`ModelArtifactPlugin`, registered on first need.

    Registered by the first marked test, fixture, xdist node or gate session: from then on its
    hooks (reports of marked tests, the summary, the shared directory's removal) run for the
    rest of the session. The hooks that must look at every test live in the entry point.
    """
    plugin = config.pluginmanager.get_plugin(MARKER_PLUGIN_NAME)
    if plugin is None:
        plugin = ModelArtifactPlugin(config)
        config.pluginmanager.register(plugin, MARKER_PLUGIN_NAME)
    assert isinstance(plugin, ModelArtifactPlugin)
    return plugin


def render_failure(
    verification: Verification, threshold: Severity, rootdir: Path, accept: Accept | None = None
) -> str:
    """Why a marked model did not pass, in the generated items' words; no traceback."""
    from pytest_mlsupply.plugin.items import render_results
    from pytest_mlsupply.results import Verdict

    source = _display(verification.source, rootdir)
    head = (
        f"model_artifact {verification.name} ({source}) did not pass verification; "
        "the test did not run"
    )
    lines = [head]
    results = verification.judged(accept)
    for planned in verification.planned_items():
        own = [r for r in results if r.subject == planned.subject and r.check in planned.checks]
        if any(r.verdict(threshold) in (Verdict.FAIL, Verdict.ERROR) for r in own):
            lines.append(render_results(planned, own, threshold))
    if len(lines) == 1 and verification.error:
        lines.append(f"could not resolve: {verification.error}")
    return "\n".join(lines)


def render_failure_again(verification: Verification, first: str, rootdir: Path) -> str:
    """A marked model's failure already shown under ``first`` (a node id): one line."""
    source = _display(verification.source, rootdir)
    return (
        f"model_artifact {verification.name} ({source}) did not pass verification; "
        f"the test did not run (the findings are shown under {first})"
    )


def _display(source: str, rootdir: Path) -> str:
    try:
        return Path(source).relative_to(rootdir).as_posix()
    except ValueError:
        return source
