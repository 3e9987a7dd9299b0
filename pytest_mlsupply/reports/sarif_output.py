"""The gate's SARIF log (``--mlsupply-sarif``, ini ``mlsupply_sarif``, ``output.sarif``).

The same renderer as ``mlsupply scan --format sarif`` (:func:`~.sarif.render_sarif`), over every
result of the session: artifacts, dependencies and provenance claims, below the threshold too
(each result says whether it blocks). Files are placed relative to the repository root, so
GitHub code scanning shows each alert on its file whatever directory the manifest is in.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pytest_mlsupply import __version__
from pytest_mlsupply.reports.outputs import ReportInputs
from pytest_mlsupply.reports.sarif import render_sarif, source_root

if TYPE_CHECKING:
    from pytest_mlsupply.manifest.model import Manifest
    from pytest_mlsupply.plugin.settings import Settings


def sarif_paths(settings: Settings, manifest: Manifest) -> list[Path]:
    """Where the log goes: the command line or ini option, else the manifest's ``output.sarif``
    (none when neither asks for one)."""
    path = settings.sarif or manifest.output.sarif
    return [] if path is None else [path]


def write_sarif(inputs: ReportInputs) -> list[tuple[Path, str]]:
    paths = sarif_paths(inputs.settings, inputs.manifest)
    if not paths:
        return []
    (path,) = paths
    root = source_root(inputs.inventory, inputs.build, inputs.manifest.root)
    text = render_sarif(inputs.results, inputs.threshold, tool_version=__version__, root=root)
    return [(path, text + "\n")]
