"""The reports a gate writes beyond the ML-BOM and the matrix: one module and one line here each.

Every writer gets the same :class:`ReportInputs` (what the BOM and the matrix were built from,
and the BOM document itself) and returns the files it wants written as ``(path, text)`` pairs,
or none when the user did not ask for it. Its :data:`Where` names those paths before anything is
built, from the settings and the manifest alone: the session locks their folders
(:mod:`.lock`) before it builds the set, and refuses to write a path that was not named. The session builds and validates every output before
it writes the first one, and writes each atomically: a writer that raises
:class:`ReportError` leaves the previous release's files in place (exit status 6).

A writer's module is imported by a gate only (never by a session without ``--mlsupply``), ahead
of the session end, while the main thread waits for a digest
(:meth:`~pytest_mlsupply.plugin.state.MlsupplyState.prepare_reports`): each writer module
must therefore stay cheap to import (the standard library and this package), and import
anything heavy inside its writer, after it has decided the user asked for its report.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from pytest_mlsupply.build_context import BuildContext
    from pytest_mlsupply.manifest.model import Manifest
    from pytest_mlsupply.plan import PlannedItem
    from pytest_mlsupply.plugin.settings import Settings
    from pytest_mlsupply.reports.matrix import Matrix
    from pytest_mlsupply.results import CheckResult, Severity
    from pytest_mlsupply.sources.inventory import Inventory


class ReportError(Exception):
    """A report cannot be built (bad input, a template that cannot render): names the fix."""


@dataclass(frozen=True)
class ReportInputs:
    settings: Settings
    manifest: Manifest
    inventory: Inventory
    plan: Sequence[PlannedItem]
    results: Sequence[CheckResult]
    threshold: Severity
    matrix: Matrix
    matrix_document: dict[str, Any]
    """The matrix's JSON document, as written to ``<matrix>.json``."""
    bom_document: dict[str, Any]
    """The ML-BOM's JSON document, validated, as written."""
    build: BuildContext
    invocation_dir: Path
    """Where pytest was started (relative paths on the command line start here)."""


Writer = Callable[[ReportInputs], list[tuple[Path, str]]]
Where = Callable[["Settings", "Manifest"], list[Path]]


@dataclass(frozen=True)
class RegisteredReport:
    name: str
    target: str
    """``"package.module:function"``: a :data:`Writer`."""
    where: str
    """``"package.module:function"``: a :data:`Where`, the paths the writer will return."""

    def load(self) -> Writer:
        return cast(Writer, _attribute(self.target))

    def paths(self, settings: Settings, manifest: Manifest) -> list[Path]:
        return cast(Where, _attribute(self.where))(settings, manifest)


def _attribute(target: str) -> object:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


#: The registry: one line per report, in the order they are written.
REPORTS: tuple[RegisteredReport, ...] = (
    RegisteredReport(
        "sarif",
        "pytest_mlsupply.reports.sarif_output:write_sarif",
        "pytest_mlsupply.reports.sarif_output:sarif_paths",
    ),
    RegisteredReport(
        "html", "pytest_mlsupply.reports.html:write_html", "pytest_mlsupply.reports.html:html_paths"
    ),
)
