"""Partial runs: which planned items did not run, and how the reports say so.

A run is partial when a planned item produced no result: pytest deselected it (``-k``, ``-m``,
``--deselect``, ``--lf``), the command line selected other nodes, or the run stopped early
(``-x``, ``--maxfail``). An item that ran and errored, or whose worker crashed, is not "not run":
its cells read "error" and the run is failing, not partial.

The documented behaviour (docs/configuration.md, "Partial runs"): the BOM and the matrix are
written to their usual paths, marked partial, never passed off as the release's: the matrix's
heading carries a PARTIAL RUN banner and its JSON ``"partial": true`` with the items that did not
run; the BOM's project component carries ``mlsupply:partial = true`` and the number of items that
did not run; the terminal summary says so. A release step that ships the BOM checks the mark.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.bom import PROPERTY_PREFIX

PARTIAL_PROPERTY = PROPERTY_PREFIX + "partial"
NOT_RUN_PROPERTY = PROPERTY_PREFIX + "not-run-items"


def not_run(plan: Iterable[PlannedItem], reported: Container[str]) -> tuple[str, ...]:
    """The names of the planned items with no outcome in ``reported`` (results or a failure)."""
    return tuple(planned.name for planned in plan if planned.name not in reported)


def mark_bom_partial(document: dict[str, Any], not_run_items: tuple[str, ...]) -> None:
    """Mark an assembled (not yet validated) BOM as made by a partial run, on its project
    component: a BOM consumer reads the mark where it reads the project's name and version."""
    if not not_run_items:
        return
    project = document["metadata"]["component"]
    properties: list[dict[str, str]] = project.setdefault("properties", [])
    properties.append({"name": NOT_RUN_PROPERTY, "value": str(len(not_run_items))})
    properties.append({"name": PARTIAL_PROPERTY, "value": "true"})
    # Sorted as every other property list of the BOM (the library's order: name, then value).
    properties.sort(key=lambda prop: (prop["name"], prop["value"]))
