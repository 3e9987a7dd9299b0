"""Adversarial: the parallel hashing, the prefetch and the xdist grouping cannot turn a bad
model into a pass or drop a row from the reports."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Project, write_pickle_payload


def test_a_file_name_that_looks_like_an_xdist_group_suffix_keeps_its_scan_cell(
    pytester: pytest.Pytester, project: Project
) -> None:
    # The item name "artifact[tiny/a::scan]::b]@tiny/a::scan]" reads as "<name>]@<group>" with
    # group "tiny/a::scan]": stripping that "suffix" routed the scan's FAIL to a row that does
    # not exist, and the matrix and BOM showed the payload's scan as "not run".
    folder = project.model_dir / "a::scan]::b]@tiny"
    folder.mkdir()
    write_pickle_payload(folder / "a")

    result = pytester.runpytest_subprocess("--mlsupply", "-p", "no:randomly")

    assert result.ret != 0
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    cells = {row["subject"]: row["cells"] for row in matrix["rows"]}
    assert cells["tiny/a::scan]::b]@tiny/a"]["scan"] == "fail"


def test_a_crashed_items_node_id_is_mapped_to_its_planned_name_never_guessed() -> None:
    # A report made up by the xdist controller (a crashed worker) carries no item name: its
    # node id may end in "@<subject>" (pytest before 9.2) and a subject may contain "]@".
    from types import SimpleNamespace

    from pytest_mlsupply.plan import PlannedItem
    from pytest_mlsupply.plugin.hooks import MlsupplyPlugin
    from pytest_mlsupply.results import RowKind

    subjects = ["tiny/a::scan]::b]@tiny/a", "tiny/a::scan]", "tiny/x@y"]
    plan = [PlannedItem(RowKind.ARTIFACT, s, (c,)) for s in subjects for c in ("scan", "sha256")]
    state = SimpleNamespace(load=lambda: SimpleNamespace(plan=plan))
    plugin = SimpleNamespace(_plan_names=None, state=state)
    for planned in plan:
        for tail in (planned.name, f"{planned.name}@{planned.subject}"):
            assert MlsupplyPlugin._strip_group(plugin, tail) == planned.name  # type: ignore[arg-type]
