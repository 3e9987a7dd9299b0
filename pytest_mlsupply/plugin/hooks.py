"""pytest entry point: short hook functions that delegate to the session plugin object.

The module is registered through the ``pytest11`` entry point as ``mlsupply``; it only adds
options, ini keys and the marker until ``--mlsupply`` (or ini ``mlsupply = true``) turns the
plugin on, at which point a :class:`MlsupplyPlugin` is registered for the session.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.plugin.items import ManifestFile, MlsupplyItem
from pytest_mlsupply.plugin.options import add_options, is_enabled, read_settings
from pytest_mlsupply.plugin.state import REPORT_ERROR_EXIT_STATUS, MlsupplyState
from pytest_mlsupply.results import CheckResult, Verdict

PLUGIN_NAME = "mlsupply-session"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "model_artifact(ref, allow_patterns=None, checks=None): run the test against a verified, "
        "pinned local snapshot of the model (arrives with hub sources; fails until then)",
    )
    if is_enabled(config):
        config.pluginmanager.register(MlsupplyPlugin(config), PLUGIN_NAME)


class MlsupplyPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.state = MlsupplyState(read_settings(config))
        self.is_worker = hasattr(config, "workerinput")

    # -- collection ---------------------------------------------------------------------------

    def _manifest_node(self, parent: pytest.Collector) -> ManifestFile:
        node = ManifestFile.from_parent(parent, path=self.state.settings.manifest_path)
        node.state = self.state
        return node

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> ManifestFile | None:
        # Collected through the directory tree only when the user named the manifest on the
        # command line; otherwise the session-level injection below adds it exactly once.
        if file_path == self.state.settings.manifest_path and parent.session.isinitpath(file_path):
            return self._manifest_node(parent)
        return None

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report = yield
        # `pytest tests/` never walks into the rootdir's mlsupply.yaml: add it to the session.
        if isinstance(collector, pytest.Session) and not collector.isinitpath(
            self.state.settings.manifest_path
        ):
            report.result.append(self._manifest_node(collector))
        return report

    # -- running ------------------------------------------------------------------------------

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if item.get_closest_marker("model_artifact") is not None:
            # Fail closed: a test that asks for a verified model must not run unverified.
            pytest.fail(
                "@pytest.mark.model_artifact is not supported by this release of pytest-mlsupply "
                "yet; declare the model in mlsupply.yaml instead",
                pytrace=False,
            )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if isinstance(item, MlsupplyItem) and report.when == "call" and item.results is not None:
            # Builtins only: this attribute travels to the xdist controller with the report.
            report.mlsupply = [r.to_dict() for r in item.results]  # type: ignore[attr-defined]
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = self._item_name(report.nodeid)
        if name is None:
            return
        data: Any = getattr(report, "mlsupply", None)
        if data is not None:
            self.state.record(name, [CheckResult.from_dict(d) for d in data], None)
        elif report.failed:
            text = str(report.longrepr) if report.longrepr else "the item failed"
            first = text.strip().splitlines()[-1] if text.strip() else "the item failed"
            where = "setup" if report.when == "setup" else report.when
            self.state.record(name, None, f"{first} (during {where})")

    def _item_name(self, nodeid: str) -> str | None:
        head, sep, tail = nodeid.partition("::")
        if not sep or "[" not in tail:
            return None
        if (self.config.rootpath / head).resolve() != self.state.settings.manifest_path:
            return None
        return tail

    # -- reporting ----------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.is_worker or self.config.option.collectonly:
            return
        from pytest_mlsupply.manifest.errors import ManifestError

        try:
            self.state.load()
        except ManifestError:
            return  # already reported as a collection error; no BOM for an invalid manifest
        self.state.write_reports()
        if self.state.written.error is not None:
            session.exitstatus = REPORT_ERROR_EXIT_STATUS

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker or not (self.state.written.paths or self.state.written.error):
            return
        tr = terminalreporter
        tr.write_sep("=", "mlsupply")
        counts = self.state.verdict_counts
        loaded = self.state.load()
        threshold = self.state.threshold(loaded.manifest)
        parts = [f"{counts.get(v.value, 0)} {v.value}" for v in Verdict]
        tr.write_line(f"checks: {', '.join(parts)} (fail at {threshold.label} and above)")
        for path in self.state.written.paths:
            tr.write_line(f"wrote {_display(path, self.config.invocation_params.dir)}")
        if self.state.written.error is not None:
            tr.write_line(
                f"ERROR: {self.state.written.error} (exit status {REPORT_ERROR_EXIT_STATUS})",
                red=True,
                bold=True,
            )


def _display(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
