"""One worker per file: every item of an artifact file is in the file's ``xdist_group``, so
``--dist loadgroup`` reads each file on one worker, and execnet gateways still give one BOM."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from pytest_mlsupply.plugin.items import MlsupplyItem
from pytest_mlsupply.plugin.prefetch import artifact_group
from pytest_mlsupply.results import RowKind
from tests.conftest import Project, comparable_matrix
from tests.plugin.test_xdist import comparable_bom

pytestmark = pytest.mark.needs("xdist")

RECORDER = """
import os

def pytest_runtest_setup(item):
    # Which worker ran which item: one line per item, appended (O_APPEND) by every worker.
    with open("ran.txt", "a") as handle:
        handle.write(os.environ.get("PYTEST_XDIST_WORKER", "serial") + " " + item.nodeid + "\\n")
"""


def add_files(project: Project, count: int) -> list[str]:
    names = []
    for index in range(count):
        name = f"notes-{index}.txt"
        # Plain text: random bytes can start like a pickle, and this test is not about scans.
        (project.model_dir / name).write_text(f"release notes, part {index}\n" * 2000)
        names.append(f"tiny/{name}")
    return names


def test_every_item_of_an_artifact_file_carries_the_files_xdist_group(
    pytester: pytest.Pytester, project: Project
) -> None:
    items, _ = pytester.inline_genitems("--mlsupply")

    generated = [item for item in items if isinstance(item, MlsupplyItem)]
    artifacts = [item for item in generated if item.planned.kind is RowKind.ARTIFACT]
    assert {item.planned.subject for item in artifacts} == {
        "tiny/config.json",
        "tiny/README.md",
        "tiny/model.safetensors",
    }
    for item in artifacts:
        mark = item.get_closest_marker("xdist_group")
        assert mark is not None
        assert mark.kwargs == {"name": item.planned.subject}
    others = [item for item in generated if item.planned.kind is not RowKind.ARTIFACT]
    assert others
    assert all(item.get_closest_marker("xdist_group") is None for item in others)


def test_loadgroup_spreads_the_files_over_both_workers_one_worker_per_file(
    pytester: pytest.Pytester, project: Project
) -> None:
    shards = add_files(project, 4)
    pytester.makeconftest(RECORDER)

    result = pytester.runpytest_subprocess("--mlsupply", "-n", "2", "--dist", "loadgroup")

    assert result.ret == 0
    workers_by_file: dict[str, set[str]] = defaultdict(set)
    for line in (project.root / "ran.txt").read_text().splitlines():
        worker, nodeid = line.split(" ", 1)
        if "::artifact[" in nodeid:
            subject = nodeid.split("::artifact[", 1)[1].split("::", 1)[0]
            workers_by_file[subject].add(worker)
    assert set(shards) <= set(workers_by_file)
    assert all(len(workers) == 1 for workers in workers_by_file.values()), workers_by_file
    assert set().union(*workers_by_file.values()) == {"gw0", "gw1"}
    # Every cell reached the controller despite the "@group" suffix xdist adds to node ids.
    matrix = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    cells = {row["subject"]: row["cells"] for row in matrix["rows"]}
    assert all(cells[shard]["sha256"] == "pass" for shard in shards)


def test_two_popen_gateways_under_loadgroup_give_the_serial_runs_bom_and_matrix(
    pytester: pytest.Pytester, project: Project
) -> None:
    add_files(project, 2)
    serial = pytester.runpytest_subprocess("--mlsupply", "-n", "0")
    assert serial.ret == 0
    serial_bom = comparable_bom(project.root / "build" / "ml-bom.cdx.json")
    serial_matrix = comparable_matrix(project.root / "build" / "mlsupply-matrix.json")

    gateways = pytester.runpytest_subprocess(
        "--mlsupply", "-d", "--tx", "popen", "--tx", "popen", "--dist", "loadgroup"
    )

    assert gateways.ret == 0
    gateways.stdout.fnmatch_lines(["created: 2/2 workers", "*wrote build/ml-bom.cdx.json*"])
    assert comparable_bom(project.root / "build" / "ml-bom.cdx.json") == serial_bom
    assert comparable_matrix(project.root / "build" / "mlsupply-matrix.json") == serial_matrix


@pytest.mark.parametrize(
    ("nodeid", "group"),
    [
        ("mlsupply.yaml::artifact[tiny/model.safetensors::scan]", "tiny/model.safetensors"),
        # pytest before 9.2 keeps the suffix xdist writes: the same group either way.
        ("mlsupply.yaml::artifact[tiny/a@b.bin::sha256]@tiny/a@b.bin", "tiny/a@b.bin"),
        ("mlsupply.yaml::artifact[tiny::resolve]", "tiny"),
        ("mlsupply.yaml::provenance[tiny::license]", None),
        ("tests/test_user.py::TestX::artifact[x::y]", None),
    ],
)
def test_the_scheduler_groups_a_generated_artifact_item_by_its_file(
    nodeid: str, group: str | None
) -> None:
    assert artifact_group(nodeid) == group
