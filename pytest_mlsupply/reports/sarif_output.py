"""The gate's SARIF log (``--mlsupply-sarif``, ini ``mlsupply_sarif``, ``output.sarif``).

The same renderer as ``mlsupply scan --format sarif`` (:func:`~.sarif.render_sarif`), over every
result of the session: artifacts, dependencies and provenance claims, below the threshold too
(each result says whether it blocks). Files are placed relative to the repository root, so
GitHub code scanning shows each alert on its file whatever directory the manifest is in.
"""

from __future__ import annotations

from pathlib import Path

from pytest_mlsupply import __version__
from pytest_mlsupply.reports.outputs import ReportInputs
from pytest_mlsupply.reports.sarif import render_sarif, source_root


def sarif_path(inputs: ReportInputs) -> Path | None:
    """Where the log goes: the command line or ini option, else the manifest's ``output.sarif``."""
    return inputs.settings.sarif or inputs.manifest.output.sarif


def write_sarif(inputs: ReportInputs) -> list[tuple[Path, str]]:
    path = sarif_path(inputs)
    if path is None:
        return []
    root = source_root(inputs.inventory, inputs.build, inputs.manifest.root)
    text = render_sarif(inputs.results, inputs.threshold, tool_version=__version__, root=root)
    return [(path, text + "\n")]
