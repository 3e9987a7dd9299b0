"""Adversarial: the parallel hashing, the prefetch and the xdist grouping cannot turn a bad
model into a pass or drop a row from the reports."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

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
    from pytest_mlsupply.plugin.session import MlsupplyPlugin
    from pytest_mlsupply.results import RowKind

    subjects = ["tiny/a::scan]::b]@tiny/a", "tiny/a::scan]", "tiny/x@y"]
    plan = [PlannedItem(RowKind.ARTIFACT, s, (c,)) for s in subjects for c in ("scan", "sha256")]
    state = SimpleNamespace(load=lambda: SimpleNamespace(plan=plan))
    plugin = SimpleNamespace(_plan_names=None, state=state)
    for planned in plan:
        for tail in (planned.name, f"{planned.name}@{planned.subject}"):
            assert MlsupplyPlugin._strip_group(plugin, tail) == planned.name  # type: ignore[arg-type]


@pytest.mark.needs("xdist")
@pytest.mark.parametrize(
    "flags",
    [
        [],
        ["-p", "no:cacheprovider"],
        ["-n", "2"],
        ["-n", "2", "--dist", "loadgroup"],
        ["--mlsupply", "-n", "2", "--dist", "loadgroup"],
    ],
)
def test_a_marked_test_on_a_payload_fails_cold_and_warm_whatever_the_flags(
    pytester: pytest.Pytester, project: Project, flags: list[str]
) -> None:
    write_pickle_payload(project.model_dir / "extra.bin")
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.model_artifact(path="models/tiny")
        @pytest.mark.parametrize("n", range(4))
        def test_uses_it(model_artifact, n):
            open(f"body-ran-{n}", "w").close()
        """
    )
    for _ in range(2):  # the second run finds the content cache warm
        result = pytester.runpytest_subprocess("test_marked.py", *flags)
        assert result.ret != 0
        assert result.stdout.str().count("FAILED test_marked.py::test_uses_it[") == 4
        assert not list(pytester.path.glob("body-ran-*"))


def test_a_prefetched_digest_of_a_file_written_just_before_is_not_trusted(
    tmp_path: Path,
) -> None:
    # On a file system with a coarse timestamp clock (a kernel tick; Linux before 6.13), a
    # second same-size write in the tick of the first keeps (inode, size, mtime, ctime): the
    # pool's digest of the first bytes then looks like a digest of the file as it is now.
    # The store never keeps a fact of such a file (FileIdentity.settled); nor may the prefetch.
    from concurrent.futures import Future

    from pytest_mlsupply.checks import hashing
    from pytest_mlsupply.checks.content import ContentCache

    path = tmp_path / "weights.bin"
    path.write_bytes(b"the bytes on disk now")
    cache = ContentCache()
    entry = cache.get(path)
    assert entry._identity is not None
    assert not entry._identity.settled(entry._seen_ns)
    stale: Future[hashing.Digest] = Future()  # what the pool read before the same-tick write
    stale.set_result(hashing.Digest("0" * 64, entry._identity.stat_identity, 0.0))
    entry._pending = stale

    assert entry.sha256 == hashlib.sha256(b"the bytes on disk now").hexdigest()
