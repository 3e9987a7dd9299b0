"""The gate's session plugin: generated items from the manifest, and the reports at the end.

Registered by the entry point (:mod:`pytest_mlsupply.plugin.hooks`) for a session with
``--mlsupply`` (or ini ``mlsupply = true``) only, so none of this is imported otherwise.
"""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.plugin.model_artifact import MARKER_PLUGIN_NAME, SESSION_PLUGIN_NAME
from pytest_mlsupply.plugin.settings import read_settings

if TYPE_CHECKING:
    from pytest_mlsupply.plugin.items import ManifestFile

PLUGIN_NAME = SESSION_PLUGIN_NAME


class MlsupplyPlugin:
    def __init__(self, config: pytest.Config) -> None:
        from pytest_mlsupply.plugin.state import MlsupplyState

        self.config = config
        self.state = MlsupplyState(read_settings(config))
        self.is_worker = hasattr(config, "workerinput")
        # `from <module> import <names>`, not `from pytest_mlsupply.plugin import prefetch`: the
        # latter returns the package's attribute, which outlives a sys.modules restore (pytester
        # in-process runs) and would pair this session with another session's classes.
        from pytest_mlsupply.plugin.prefetch import NAME as PREFETCH_NAME
        from pytest_mlsupply.plugin.prefetch import PrefetchPlugin

        config.pluginmanager.register(PrefetchPlugin(config, self.state), PREFETCH_NAME)
        self._is_manifest: dict[str, bool] = {}
        """Node id file part → whether it is the manifest (see :meth:`_item_name`)."""
        self._plan_names: dict[str, str] | None = None
        """Planned item name, and artifact name + ``@<subject>`` → name (:meth:`_strip_group`)."""
        self._manifest_error: str | None = None
        """The rendered manifest error found at session start under xdist (controller)."""
        self.ci_summary_problem: str | None = None
        """Why ``$GITHUB_STEP_SUMMARY`` could not be appended to (shown, never fatal)."""
        from pytest_mlsupply.plugin.interrupts import SignalWatch

        self._signals = SignalWatch()
        self.interrupted: str | None = None
        """The signal that interrupted the session before its reports (none were written)."""
        self.interrupted_while_writing: str | None = None
        """The signal held while the reports were written (the set was completed first)."""
        self.set_may_mix = False
        """A second signal stopped the writing: each file is whole, the set may not be."""
        attest = self.state.settings.attest
        if attest is not None and not self.is_worker:
            # Now, before anything runs: a key that cannot be read (or no Sigstore identity)
            # is a usage error, not an attestation lost after a long session.
            from pytest_mlsupply.reports.attestation import AttestationError, load_attest_signer

            try:
                self.state.attest_signer = load_attest_signer(
                    attest.value, attest.base, attest.origin
                )
            except AttestationError as exc:
                raise pytest.UsageError(f"pytest-mlsupply: {exc}") from None

    # -- collection ---------------------------------------------------------------------------

    def _manifest_node(self, parent: pytest.Collector, path: Path | None = None) -> ManifestFile:
        from pytest_mlsupply.plugin.items import ManifestFile

        node = ManifestFile.from_parent(parent, path=path or self.state.settings.manifest_path)
        node.state = self.state
        return node

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> ManifestFile | None:
        # Collected through the directory tree only when the user named the manifest on the
        # command line; otherwise the session-level injection below adds it exactly once.
        # Resolved: the manifest may be named through a symlink on the command line.
        # isinitpath first: pytest asks about every file under the rootdir (a model directory
        # of thousands of files among them), and a resolve() is a few syscalls each.
        if (
            parent.session.isinitpath(file_path)
            and file_path.resolve() == self.state.settings.manifest_path
        ):
            return self._manifest_node(parent, file_path)
        return None

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        # `pytest tests/` never walks into the rootdir's mlsupply.yaml: add it to the session.
        if isinstance(collector, pytest.Session) and not self._named_on_command_line(collector):
            report.result.append(self._manifest_node(collector))
        return report

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if not self.is_worker:
            # The process that writes the reports: SIGTERM unwinds as Ctrl-C does (interrupts.py).
            self._signals.install()
        # Under xdist the controller collects nothing, and a collection error on the workers
        # does not stop the others' tests: validate here, so that no item runs beside a broken
        # manifest (the serial run stops at the collection error itself). The error is
        # reported by pytest_runtestloop below, as the serial run reports it.
        if self.is_worker or not self.config.pluginmanager.hasplugin("dsession"):
            return
        from pytest_mlsupply.manifest.errors import ManifestError

        try:
            self.state.load()
        except ManifestError as exc:
            self._manifest_error = exc.render()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """A broken manifest under xdist: its collection error, once, and no test runs.

        Reported as the serial run reports it (``ERROR collecting mlsupply.yaml``, the rendered
        problems once, "Interrupted: 1 error during collection", exit status 2), rather than
        through ``pytest.exit``, which pytest prints twice wrapped in ``Exit:``. Before xdist's
        own loop: the workers it started are shut down at session end, never given a test.
        """
        if self._manifest_error is None:
            return None
        manifest = self.state.settings.manifest_path
        try:
            nodeid = manifest.relative_to(self.config.rootpath).as_posix()
        except ValueError:
            nodeid = manifest.as_posix()
        report = pytest.CollectReport(nodeid, "failed", self._manifest_error, [])
        self.config.hook.pytest_collectreport(report=report)
        raise session.Interrupted("1 error during collection")

    # -- running ------------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        from pytest_mlsupply.plugin.items import MlsupplyItem

        report = yield
        if isinstance(item, MlsupplyItem):
            # The item's own name, on every report: the controller never has to parse it back
            # out of a node id (which xdist may suffix, and whose subject is a file name).
            report.mlsupply_item = item.planned.name  # type: ignore[attr-defined]
            if report.when == "call" and item.results is not None:
                if self.is_worker:
                    # Builtins only: this attribute travels to the xdist controller with the
                    # report, which records it in pytest_runtest_logreport.
                    report.mlsupply = [r.to_dict() for r in item.results]  # type: ignore[attr-defined]
                else:
                    # This process writes the reports: record the results themselves, with no
                    # round trip through dicts (and no copy of them kept on every report).
                    self.state.record(item.planned.name, item.results, None)
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        tail = self._item_name(report.nodeid)
        if tail is None:
            return
        carried: Any = getattr(report, "mlsupply_item", None)
        name = carried if isinstance(carried, str) else self._strip_group(tail)
        data: Any = getattr(report, "mlsupply", None)
        if data is not None:
            from pytest_mlsupply.results import CheckResult

            self.state.record(name, [CheckResult.from_dict(d) for d in data], None)
        elif report.failed and name not in self.state.results:
            # (An item whose checks reported results failed on them: those results stand.)
            text = str(report.longrepr) if report.longrepr else "the item failed"
            first = text.strip().splitlines()[-1] if text.strip() else "the item failed"
            if report.when not in ("setup", "call", "teardown"):
                # xdist reports a crashed worker's item with when="???".
                self.state.record(name, None, f"the test process running it crashed: {first}")
            else:
                self.state.record(name, None, f"{first} (during {report.when})")

    def _own_tests(self, stats: dict[str, list[Any]]) -> str:
        """``12 passed, 1 failed``: the terminal's counts without the generated items."""
        parts = []
        for status in _OWN_STATUSES:
            count = sum(
                1
                for report in stats.get(status, ())
                if getattr(report, "mlsupply_item", None) is None
                and self._item_name(getattr(report, "nodeid", "")) is None
            )
            if count:
                parts.append(f"{count} {status}")
        return ", ".join(parts)

    def _named_on_command_line(self, session: pytest.Session) -> bool:
        """Whether an argument names the manifest (directly or through a symlink)."""
        manifest = self.state.settings.manifest_path
        if session.isinitpath(manifest):
            return True
        base = self.config.invocation_params.dir
        for arg in self.config.args:
            path = (base / str(arg).split("::", 1)[0]).resolve()
            if path == manifest:
                return True
        return False

    def _item_name(self, nodeid: str) -> str | None:
        head, sep, tail = nodeid.partition("::")
        if not sep or "[" not in tail:
            return None
        is_manifest = self._is_manifest.get(head)
        if is_manifest is None:
            # Resolved once per file, not once per report: a resolve() is a few syscalls, and
            # a gate of thousands of items sends three reports each.
            is_manifest = (
                self.config.rootpath / head
            ).resolve() == self.state.settings.manifest_path
            self._is_manifest[head] = is_manifest
        return tail if is_manifest else None

    def _strip_group(self, tail: str) -> str:
        """The plan's item name in ``tail``, without the ``@<group>`` xdist may append.

        Only for a report that does not carry its item's name (a crashed worker's item, made up
        by the controller). A subject is a file name and may itself contain ``]@``, so a name
        is looked up in the plan, never guessed from the text: a node id that is a planned
        name is that name; else a planned artifact name followed by ``@<its subject>``.
        """
        if self._plan_names is None:
            from pytest_mlsupply.manifest.errors import ManifestError
            from pytest_mlsupply.results import RowKind

            try:
                plan = self.state.load().plan
            except ManifestError:
                return tail
            self._plan_names = {planned.name: planned.name for planned in plan}
            for planned in plan:
                if planned.kind is RowKind.ARTIFACT:
                    self._plan_names.setdefault(f"{planned.name}@{planned.subject}", planned.name)
        return self._plan_names.get(tail, tail)

    # -- reporting ----------------------------------------------------------------------------

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.interrupted = self._signals.interruption(excinfo.value)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._signals.restore()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker or self.config.option.collectonly:
            return
        if self.interrupted is not None:
            # An interrupted gate is no verdict: no report is written, so the previous run's
            # files stay as they were rather than being replaced by a run cut short.
            self._append_ci_summary()
            return
        from pytest_mlsupply.manifest.errors import ManifestError
        from pytest_mlsupply.plugin.state import REPORT_ERROR_EXIT_STATUS

        try:
            self.state.load()
        except ManifestError:
            # Already reported as a collection error; no BOM for an invalid manifest, but the
            # job summary must not stay silent about a gate that did not run.
            self._append_ci_summary(manifest_invalid=True)
            return
        marker_plugin = self.config.pluginmanager.get_plugin(MARKER_PLUGIN_NAME)
        marked = marker_plugin.marked_models() if marker_plugin is not None else []
        from pytest_mlsupply.plugin.interrupts import Terminated, describe, signals_held
        from pytest_mlsupply.reports.lock import OutputsBusy, reports_locked

        try:
            # The whole set under the lock of every folder it goes to (one session's set, never
            # two mixed, whichever folders two gates share), with SIGINT
            # and SIGTERM held: a signal before the first write writes nothing, one after it
            # lets the set be completed (interrupts.py).
            with (
                collector_paused(),
                signals_held() as held,
                reports_locked(
                    *(path.parent for path in self.state.report_paths()), stop=held.__bool__
                ) as go,
            ):
                if go:
                    self.state.write_reports(marked)
                    if self.state.written.error is None:
                        # After the BOM, whatever the verdict: a failed gate is attested as failed.
                        self.state.write_attestation(int(session.exitstatus))
            if held:
                if go:
                    self.interrupted_while_writing = describe(held.received[0])
                else:
                    self.interrupted = describe(held.received[0])
        except KeyboardInterrupt as exc:
            # A second signal while the reports were written: stopped where it was.
            self.interrupted_while_writing = describe(
                signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
            )
            self.set_may_mix = True
        except OutputsBusy as exc:
            self.state.written.error = f"cannot write the reports: {exc}"
        except Exception as exc:
            # A bug while building the reports must not end in a traceback or a green run.
            self.state.written.error = (
                f"internal error while building the reports: {type(exc).__name__}: {exc}"
            )
        if self.state.written.error is not None:
            session.exitstatus = REPORT_ERROR_EXIT_STATUS
        elif self.interrupted is not None or self.interrupted_while_writing is not None:
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        self._append_ci_summary()

    def _append_ci_summary(self, *, manifest_invalid: bool = False) -> None:
        """The verdict and the matrix, appended to ``$GITHUB_STEP_SUMMARY`` when it is set
        (reports/ci_summary.py); a problem is shown in the terminal summary, not fatal."""
        if not os.environ.get("GITHUB_STEP_SUMMARY"):
            return  # before the import: a run outside GitHub Actions loads nothing for it
        from pytest_mlsupply.reports.ci_summary import (
            append_summary,
            interrupted_summary,
            invalid_manifest_summary,
            render_summary,
            summary_path,
        )

        path = summary_path()
        if path is None:
            return
        if self.interrupted is not None:
            self.ci_summary_problem = append_summary(path, interrupted_summary(self.interrupted))
            return
        if manifest_invalid:
            manifest = self.state.settings.manifest_path
            self.ci_summary_problem = append_summary(path, invalid_manifest_summary(manifest.name))
            return
        from pytest_mlsupply.reports.matrix import render_markdown

        matrix = self.state.matrix
        try:
            text = render_summary(
                self.state.verdict_counts,
                self.state.threshold(self.state.load().manifest),
                render_markdown(matrix) if matrix is not None else None,
                self.state.written.error,
                (len(self.state.not_run), self.state.planned_count),
            )
        except Exception as exc:  # a bug here must not turn a verdict into a traceback
            self.ci_summary_problem = f"cannot build the CI summary: {type(exc).__name__}: {exc}"
            return
        self.ci_summary_problem = append_summary(path, text)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        from pytest_mlsupply.plugin.redaction import redacting

        terminalreporter = redacting(terminalreporter)  # an error may quote a secret
        if self.interrupted is not None:
            terminalreporter.write_sep("=", "mlsupply")
            terminalreporter.write_line(
                f"INTERRUPTED by {self.interrupted}: no report written; the previous run's "
                "reports, if any, are unchanged (they are not this run's verdict)",
                red=True,
                bold=True,
            )
            return
        if not (
            self.state.written.paths or self.state.written.error or self.interrupted_while_writing
        ):
            if self.ci_summary_problem is not None:  # no reports (a manifest error): still said
                terminalreporter.write_line(
                    f"WARNING: {self.ci_summary_problem}", yellow=True, bold=True
                )
            return
        from pytest_mlsupply.plugin.state import REPORT_ERROR_EXIT_STATUS
        from pytest_mlsupply.reports.matrix import describe_counts
        from pytest_mlsupply.results import Verdict

        tr = terminalreporter
        tr.write_sep("=", "mlsupply")
        counts = {Verdict(value): n for value, n in self.state.verdict_counts.items()}
        loaded = self.state.load()
        threshold = self.state.threshold(loaded.manifest)
        own = self._own_tests(tr.stats)
        if own:
            # The user's own tests beside the generated items: a failing unit test is not
            # hidden behind a green supply-chain line.
            tr.write_line(f"tests: {own} (your own, beside the generated items)")
        # The matrix's own one-line form: the same verdicts named, in the same order.
        tr.write_line(f"checks: {describe_counts(counts)} (fail at {threshold.label} and above)")
        baseline = self.state.baseline_outcome
        if baseline is not None:
            tr.write_line(baseline.describe(), yellow=bool(baseline.expired or baseline.stale))
            for stale in baseline.stale:
                tr.write_line(f"stale baseline entry: {stale.render()}", yellow=True)
        for note, count in self.state.note_counts.items():
            tr.write_line(f"{note}: {count} passing cell(s) (counted as pass; see the matrix)")
        not_run = self.state.not_run
        if not_run:
            planned = self.state.planned_count
            tr.write_line(
                f"PARTIAL RUN: {len(not_run)} of {planned} planned item(s) did not run "
                "(deselected, not selected, or stopped early); the reports below are marked "
                "partial, not the release's",
                yellow=True,
                bold=True,
            )
        for described in self.state.declared_not_checked:
            tr.write_line(f"declared, not checked: {described}", yellow=True)
        for path in self.state.written.paths:
            tr.write_line(f"wrote {_display(path, self.config.invocation_params.dir)}")
        if self.interrupted_while_writing is not None:
            tr.write_line(
                f"INTERRUPTED by {self.interrupted_while_writing} while writing the reports: "
                + (
                    "stopped by a second signal; each file is whole, but the set may mix this "
                    "run's files with the previous run's (the matrix names its BOM's serial number)"
                    if self.set_may_mix
                    else "the set above was completed first; the run ends as interrupted"
                ),
                red=True,
                bold=True,
            )
        if self.state.written.error is not None:
            tr.write_line(
                f"ERROR: {self.state.written.error} (exit status {REPORT_ERROR_EXIT_STATUS})",
                red=True,
                bold=True,
            )
        if self.ci_summary_problem is not None:
            tr.write_line(f"WARNING: {self.ci_summary_problem}", yellow=True, bold=True)


#: Terminal statuses counted for the user's own tests, in the order the line names them.
_OWN_STATUSES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while the reports are built, then as it was.

    Building the BOM and the matrix of a large gate allocates hundreds of thousands of
    objects, almost none in reference cycles; each allocation burst triggers a full
    collection that walks every object of the session (its items, reports and results):
    on 5,000 items, three of them cost more than half a second. Only the plugin's own
    report building runs inside (no test code); memory is freed by reference counting as
    usual, and any cycles are collected at the next collection after it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
