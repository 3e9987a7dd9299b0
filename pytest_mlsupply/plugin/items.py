"""The manifest collector and the generated supply-chain items."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.checks.runner import run_item
from pytest_mlsupply.manifest.errors import ManifestError
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.printable import one_line, terminal_text
from pytest_mlsupply.results import CheckResult, Location, RowKind, Severity, Verdict

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr

    from pytest_mlsupply.plugin.state import MlsupplyState


class ChecksDidNotPass(Exception):
    """Raised by an item whose checks failed or could not run; rendered without a traceback."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class ManifestFile(pytest.File):
    """``mlsupply.yaml`` as a collector: one child item per planned check."""

    state: MlsupplyState

    def collect(self) -> Iterator[pytest.Item]:
        loaded = self.state.load()  # raises ManifestError: reported by repr_failure below
        grouped = self.config.pluginmanager.hasplugin("xdist")
        for planned in loaded.plan:
            # An explicit string node id: pytest parses "name[params]" into a structured id, and
            # --lf/--deselect compare against that parse, so the item must carry the same form.
            item = MlsupplyItem.from_parent(
                self, name=planned.name, nodeid=f"{self.nodeid}::{planned.name}", planned=planned
            )
            if grouped and planned.kind is RowKind.ARTIFACT:
                # Under --dist loadgroup every item of one file runs on one worker: the file is
                # read (and hashed ahead, plugin/prefetch.py) by that worker only.
                item.add_marker(pytest.mark.xdist_group(name=planned.subject))
            yield item

    def repr_failure(  # type: ignore[override]
        self, excinfo: ExceptionInfo[BaseException]
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, ManifestError):
            return excinfo.value.render()
        return super().repr_failure(excinfo)


class GeneratedItem(pytest.Item):
    """An item the manifest generates: its failure is the text it raised, never a traceback."""

    def repr_failure(
        self, excinfo: ExceptionInfo[BaseException], style: Any = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, ChecksDidNotPass):
            # Names and evidence in it come from artifacts and the Hub: no ESC, CR or NUL
            # reaches a terminal.
            return terminal_text(excinfo.value.text)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"mlsupply: {self.name}"


class MlsupplyItem(GeneratedItem):
    """One supply-chain check (or all dependency checks) on one subject."""

    def __init__(self, *, planned: PlannedItem, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.planned = planned
        self.results: list[CheckResult] | None = None

    @property
    def state(self) -> MlsupplyState:
        parent = self.parent
        assert isinstance(parent, ManifestFile)
        return parent.state

    def runtest(self) -> None:
        loaded = self.state.load()
        threshold = self.state.threshold(loaded.manifest)
        # The baseline applied before the verdict: an accepted finding passes its item, as its
        # matrix cell shows it; an expired acceptance fails it.
        self.results = self.state.accept(run_item(self.planned, loaded.context))
        verdicts = [r.verdict(threshold) for r in self.results]
        for result, verdict in zip(self.results, verdicts, strict=True):
            self.user_properties.append((f"mlsupply:{result.check}", verdict.value))
        self.user_properties.extend(item_properties(self.results, verdicts))
        if Verdict.FAIL in verdicts or Verdict.ERROR in verdicts:
            raise ChecksDidNotPass(render_results(self.planned, self.results, threshold))
        if verdicts and all(verdict is Verdict.SKIPPED for verdict in verdicts):
            pytest.skip(f"{self.planned.subject}: {self.results[0].skipped}")


def item_properties(results: list[CheckResult], verdicts: list[Verdict]) -> list[tuple[str, str]]:
    """The item's verdict (its worst check's), its worst finding's severity and its rule ids,
    as junitxml ``<property>`` elements (they travel with the report under xdist).

    Informational findings (a file's detected format) are left out of the severity and the
    rules: the properties say what a reader must act on (``none`` when nothing)."""
    from pytest_mlsupply.reports.matrix import VERDICT_ORDER

    worst = min(verdicts, key=VERDICT_ORDER.index, default=Verdict.NOT_RUN)
    findings = [f for r in results for f in r.findings if f.severity > Severity.INFO]
    severity = max((f.severity for f in findings), default=None)
    rules = sorted({f.rule for f in findings})
    return [
        ("mlsupply:verdict", worst.value),
        ("mlsupply:severity", severity.label if severity is not None else "none"),
        ("mlsupply:rules", ",".join(rules) or "none"),
    ]


def render_results(planned: PlannedItem, results: list[CheckResult], threshold: Severity) -> str:
    lines = []
    for result in results:
        verdict = result.verdict(threshold)
        lines.append(
            f"{planned.kind.value} check {result.check!r} on {result.subject}: "
            f"{verdict.value.upper()} (fails at {threshold.label} and above)"
        )
        if result.error is not None:
            lines.append(f"  could not complete: {one_line(result.error)}")
        shown = sorted(result.findings, key=lambda f: -f.severity)
        for finding in shown:
            if finding.severity < threshold and verdict is Verdict.FAIL and len(shown) > 5:
                continue  # long lists: keep the blocking ones
            text = finding.render()
            if planned.kind is RowKind.CODE:
                # Code is found by position: `file:line:column`, as editors and compilers say it.
                text = text.replace(
                    f"  where: {finding.location.describe()}",
                    f"  where: {source_position(finding.location)}",
                    1,
                )
            lines.append("  " + text.replace("\n", "\n  "))
    return "\n".join(lines)


def source_position(location: Location) -> str:
    """``src/app/load.py:12:5`` (``notebook.ipynb, cell 3:2:5`` in a notebook's cell)."""
    where = location.file or "(unknown file)"
    if location.cell is not None:
        where += f", cell {location.cell}"
    for part in (location.line, location.column):
        if part is None:
            break
        where += f":{part}"
    return where
