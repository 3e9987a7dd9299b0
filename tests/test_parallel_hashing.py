"""Parallel hashing: the pool's digests are hashlib's, a prefetched digest is used only for the
very file it was read from, and no hashing thread outlives the session."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from pytest_mlsupply.checks import content, hashing
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.runner import run_item
from pytest_mlsupply.plugin.prefetch import progress_line
from pytest_mlsupply.results import Severity, Verdict
from tests.checks.conftest import Pipeline
from tests.conftest import Project, build_project

WEIGHTS = "artifact[tiny/model.safetensors::sha256]"
CHUNK = hashing.CHUNK


def pool_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(hashing.THREAD_NAME_PREFIX)]


@pytest.fixture(autouse=True)
def no_pool_left_behind() -> object:
    yield
    hashing.shutdown()


@pytest.fixture
def prefetch_tiny_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test project's files are a few hundred bytes, which the prefetch leaves to the check
    (content.PREFETCH_MIN_BYTES); these tests are about what a prefetched digest may be used for."""
    monkeypatch.setattr(content, "PREFETCH_MIN_BYTES", 0)


@pytest.mark.parametrize(
    "size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 5], ids=lambda n: f"{n}B"
)
def test_the_pool_and_the_inline_hasher_give_hashlibs_digest_at_every_chunk_boundary(
    tmp_path: Path, size: int
) -> None:
    path = tmp_path / "weights.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()

    pooled = hashing.submit(path).result()
    inline = hashing.sha256_file(path)

    assert pooled.sha256 == inline.sha256 == expected
    assert pooled.identity == hashing.identity(os.stat(path))


def test_a_prefetched_digest_is_the_one_the_check_reads(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"weights" * 100_000)
    cache = ContentCache()

    cache.prefetch(path)
    entry = cache.get(path)
    pending = entry._pending

    assert pending is not None  # the check consumes the pool's future, not a second read
    assert entry.sha256 == hashlib.sha256(b"weights" * 100_000).hexdigest()
    assert pending.done()
    assert [(t.path, t.size) for t in cache.timings] == [(path, 700_000)]


@pytest.mark.usefixtures("prefetch_tiny_files")
def test_a_file_deleted_after_its_prefetch_is_an_error_result_never_a_pass(
    tmp_path: Path,
) -> None:
    pipeline = Pipeline(build_project(tmp_path / "project"))
    weights = pipeline.model_dir / "model.safetensors"
    plan, ctx = pipeline.planned()
    ctx.contents.prefetch(weights)
    pending = ctx.contents.get(weights)._pending
    assert pending is not None
    pending.result()  # a digest of the old bytes is waiting
    weights.unlink()
    by_name = {item.name: item for item in plan}

    (format_result,) = run_item(by_name["artifact[tiny/model.safetensors::format]"], ctx)
    (pin_result,) = run_item(by_name[WEIGHTS], ctx)

    assert format_result.error is not None
    assert "model.safetensors" in format_result.error
    assert format_result.verdict(Severity.CRITICAL) is Verdict.ERROR
    assert [f.rule for f in pin_result.findings] == ["MLS-PIN-002"]
    assert "sha256" not in pin_result.facts


@pytest.mark.usefixtures("prefetch_tiny_files")
def test_a_file_rewritten_after_its_prefetch_is_hashed_again_and_fails_its_pin(
    tmp_path: Path,
) -> None:
    pipeline = Pipeline(build_project(tmp_path / "project"))
    weights = pipeline.model_dir / "model.safetensors"
    pinned = hashlib.sha256(weights.read_bytes()).hexdigest()
    _, ctx = pipeline.planned()
    ctx.contents.prefetch(weights)
    pending = ctx.contents.get(weights)._pending
    assert pending is not None
    stale = pending.result()
    assert stale.sha256 == pinned
    # Same size, different bytes: only the identity (mtime, ctime) tells the files apart.
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))

    result = pipeline.result(WEIGHTS)

    assert result.facts["sha256"] == hashlib.sha256(bytes(data)).hexdigest() != pinned
    assert [f.rule for f in result.findings] == ["MLS-PIN-001"]
    assert result.verdict(Severity.CRITICAL) is Verdict.FAIL


def test_a_file_under_the_prefetch_threshold_is_hashed_inline_by_the_check(
    tmp_path: Path,
) -> None:
    small = tmp_path / "config.json"
    small.write_bytes(b"{}" * ((content.PREFETCH_MIN_BYTES - 1) // 2))
    large = tmp_path / "weights.bin"
    large.write_bytes(b"w" * content.PREFETCH_MIN_BYTES)
    cache = ContentCache()

    cache.prefetch(small)
    cache.prefetch(large)

    # A pool round trip costs more than hashing a small file: nothing is queued for it, and
    # the check's inline digest is hashlib's all the same.
    assert cache.get(small)._pending is None
    assert cache.get(small).sha256 == hashlib.sha256(small.read_bytes()).hexdigest()
    assert cache.get(large)._pending is not None
    assert cache.get(large).sha256 == hashlib.sha256(large.read_bytes()).hexdigest()


def test_a_file_that_changes_while_it_is_read_gives_no_digest(tmp_path: Path) -> None:
    path = tmp_path / "growing.bin"
    path.write_bytes(b"\0" * (2 * CHUNK))
    stop = threading.Event()

    class Appending(threading.Event):
        """Appends to the file when the hasher checks for a stop after its first chunk."""

        calls = 0

        def is_set(self) -> bool:
            self.calls += 1
            if self.calls == 2:
                with path.open("ab") as handle:
                    handle.write(b"more")
            return stop.is_set()

    with pytest.raises(OSError, match="changed while it was being read"):
        hashing.sha256_file(path, Appending())


def test_a_shutdown_stops_a_hash_in_progress_at_its_next_chunk(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\0" * (3 * CHUNK))
    stop = threading.Event()
    stop.set()

    with pytest.raises(hashing.HashCancelled):
        hashing.sha256_file(path, stop)


@pytest.mark.usefixtures("prefetch_tiny_files")
def test_no_hashing_thread_outlives_a_gate_session_run_in_process(
    pytester: pytest.Pytester, project: Project
) -> None:
    seen = pytester.path / "threads.txt"
    pytester.makeconftest(
        f"""
        import threading

        def pytest_runtest_teardown(item):
            names = [t.name for t in threading.enumerate()]
            with open({str(seen)!r}, "a") as handle:
                handle.write(" ".join(names) + "\\n")
        """
    )

    result = pytester.runpytest_inprocess("--mlsupply", "-p", "no:xdist")

    assert result.ret == 0
    assert hashing.THREAD_NAME_PREFIX in seen.read_text()  # the session did hash on the pool
    assert pool_threads() == []


def test_verbose_runs_print_a_hash_line_for_a_file_over_the_threshold_and_quiet_runs_none(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = (project.model_dir / "model.safetensors").stat().st_size
    monkeypatch.setenv("MLSUPPLY_PROGRESS_MIN_BYTES", str(size))

    verbose = pytester.runpytest_inprocess("--mlsupply", "-p", "no:xdist", "-v")
    quiet = pytester.runpytest_inprocess("--mlsupply", "-p", "no:xdist")

    assert verbose.ret == quiet.ret == 0
    lines = [line for line in verbose.outlines if line.startswith("mlsupply: hashed ")]
    # The weights reach the threshold; config.json and README.md are smaller.
    assert len(lines) == 1
    assert "model.safetensors" in lines[0]
    assert "MiB in" in lines[0]
    assert "/s)" in lines[0]
    assert not [line for line in quiet.outlines if line.startswith("mlsupply: hashed ")]


def test_a_progress_threshold_that_is_not_a_byte_count_is_a_usage_error(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLSUPPLY_PROGRESS_MIN_BYTES", "64MiB")

    result = pytester.runpytest_inprocess("--mlsupply", "-p", "no:xdist")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "MLSUPPLY_PROGRESS_MIN_BYTES" in result.stderr.str()


@pytest.mark.usefixtures("prefetch_tiny_files")
def test_a_serial_run_starts_hashing_at_session_start_before_collection_ends(
    pytester: pytest.Pytester, project: Project
) -> None:
    seen = pytester.path / "threads.txt"
    # The session's own collectstart: before any file is collected, so also before the
    # manifest's items exist and collection ends.
    pytester.makeconftest(
        f"""
        import threading
        import pytest

        def pytest_collectstart(collector):
            if isinstance(collector, pytest.Session):
                names = [t.name for t in threading.enumerate()]
                with open({str(seen)!r}, "w") as handle:
                    handle.write(" ".join(names))
        """
    )

    result = pytester.runpytest_inprocess("--mlsupply", "-p", "no:xdist")

    assert result.ret == 0
    assert hashing.THREAD_NAME_PREFIX in seen.read_text()


@pytest.mark.usefixtures("prefetch_tiny_files")
def test_a_manifest_that_does_not_load_is_reported_by_collection_as_without_the_early_start(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.manifest("version: 1\nmodels: [{name: tiny, path: model, files: nope}]\n")

    result = pytester.runpytest_inprocess("--mlsupply", "-p", "no:xdist")

    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "ERROR collecting mlsupply.yaml" in result.stdout.str()
    assert "files" in result.stdout.str()
    assert pool_threads() == []


@pytest.mark.usefixtures("prefetch_tiny_files")
def test_hashing_has_started_when_the_users_first_test_runs_beside_it(
    pytester: pytest.Pytester, project: Project
) -> None:
    seen = pytester.path / "threads.txt"
    # `a_test.py` sorts before `mlsupply.yaml`: this test runs before any artifact item.
    pytester.makepyfile(
        a_test=f"""
        import threading

        def test_runs_first():
            names = [t.name for t in threading.enumerate()]
            with open({str(seen)!r}, "w") as handle:
                handle.write(" ".join(names))
        """
    )

    result = pytester.runpytest_inprocess("--mlsupply", "-p", "no:xdist", "-v")

    assert result.ret == 0
    order = [line for line in result.outlines if " PASSED" in line or " WARN" in line]
    assert "a_test.py::test_runs_first" in order[0]  # the premise: it ran before the manifest
    assert hashing.THREAD_NAME_PREFIX in seen.read_text()


@pytest.mark.usefixtures("prefetch_tiny_files")  # else the tiny files are never pooled anyway
def test_collect_only_hashes_nothing(pytester: pytest.Pytester, project: Project) -> None:
    seen = pytester.path / "threads.txt"
    pytester.makeconftest(
        f"""
        import threading
        import pytest

        def look():
            names = [t.name for t in threading.enumerate()]
            with open({str(seen)!r}, "a") as handle:
                handle.write(" ".join(names) + "\\n")

        # Right after session start, where a run starts hashing, and after the plugin's own
        # collection_finish, where it asks for the first files again: the pool is shut down at
        # sessionfinish, so a later look would see no thread either way.
        def pytest_collectstart(collector):
            if isinstance(collector, pytest.Session):
                look()

        @pytest.hookimpl(trylast=True)
        def pytest_collection_finish(session):
            look()
        """
    )

    result = pytester.runpytest_inprocess("--mlsupply", "-p", "no:xdist", "--collect-only")

    assert result.ret == 0
    assert "artifact[tiny/model.safetensors::sha256]" in result.stdout.str()
    assert len(seen.read_text().splitlines()) == 2
    assert hashing.THREAD_NAME_PREFIX not in seen.read_text()


def test_an_xdist_controller_hashes_nothing_its_workers_read_the_files(
    pytester: pytest.Pytester, project: Project
) -> None:
    seen = pytester.path / "threads.txt"
    # Large enough for the pool (the controller is another process, which a monkeypatched
    # threshold would not reach), and first in the plan's order: a run would hash it at once.
    save_file(
        {"w": np.zeros(content.PREFETCH_MIN_BYTES // 4 + 1, dtype=np.float32)},
        str(project.model_dir / "0-large.safetensors"),
    )
    pytester.makeconftest(
        f"""
        import threading
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtestloop(session):
            if not hasattr(session.config, "workerinput"):
                names = [t.name for t in threading.enumerate()]
                with open({str(seen)!r}, "w") as handle:
                    handle.write("controller: " + " ".join(names))
        """
    )

    result = pytester.runpytest_subprocess("--mlsupply", "-n", "2", "--dist", "loadgroup")

    assert result.ret == 0
    assert seen.read_text().startswith("controller: ")  # the look was taken
    assert hashing.THREAD_NAME_PREFIX not in seen.read_text()


def test_the_pool_shares_the_cores_among_the_processes_that_hash_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    try:
        assert hashing.thread_count() == 4
        hashing.share_cores(2)
        assert hashing.thread_count() == 2
        hashing.share_cores(8)
        assert hashing.thread_count() == 1  # never none
    finally:
        hashing.share_cores(1)


def test_xdist_workers_each_start_a_pool_of_their_share_of_the_cores(
    pytester: pytest.Pytester, project: Project
) -> None:
    seen = pytester.path / "threads.txt"
    # Large enough for the pool (smaller files are hashed inline); the workers are other
    # processes, which a monkeypatched threshold would not reach.
    save_file(
        {"w": np.zeros(content.PREFETCH_MIN_BYTES // 4 + 1, dtype=np.float32)},
        str(project.model_dir / "large.safetensors"),
    )
    pytester.makeconftest(
        f"""
        import os, threading

        def pytest_runtest_teardown(item):
            names = [t.name for t in threading.enumerate() if t.name.startswith("mlsupply-hash")]
            with open({str(seen)!r}, "a") as handle:
                handle.write(f"{{os.environ.get('PYTEST_XDIST_WORKER')}} {{len(names)}}\\n")
        """
    )

    result = pytester.runpytest_subprocess("--mlsupply", "-n", "2", "--dist", "loadgroup")

    assert result.ret == 0
    share = max(1, min(os.cpu_count() or 1, hashing.MAX_THREADS) // 2)
    counts = [int(line.split()[1]) for line in seen.read_text().splitlines()]
    assert max(counts) >= 1  # the workers did hash on their pools
    assert max(counts) <= share


@pytest.mark.parametrize(
    "name",
    ["clear\x1b[2J.bin", "over\rwrite.bin", "two\nlines.bin", "bidi\u202egnp.bin"],
    ids=["ESC", "CR", "newline", "RLO"],
)
def test_a_hash_line_escapes_a_file_name_that_would_drive_the_terminal(name: str) -> None:
    # A file name is whatever the model's publisher chose: ESC sequences clear the screen or
    # recolour it, a CR overwrites the line, a newline forges one, an RLO reverses the text.
    line = progress_line(f"/models/{name}", 128 << 20, 0.5)

    assert line.isprintable()
    assert line.startswith("hashed '/models/")
    assert "128.0 MiB in 0.50 s" in line


def test_a_hash_line_shows_a_plain_file_name_as_it_is() -> None:
    line = progress_line("/models/model-00001.safetensors", 128 << 20, 0.5)

    assert line == "hashed /models/model-00001.safetensors: 128.0 MiB in 0.50 s (256 MiB/s)"


def test_a_run_that_deselects_a_files_items_still_reads_the_file_once_for_the_bom(
    pytester: pytest.Pytester,
) -> None:
    # Hashing starts at session start; `-k` deselects every artifact item, so the session
    # ends while the digest is still being computed. The BOM needs that digest: stopping the
    # hash at sessionfinish would make the BOM read the whole file again.
    model = pytester.path / "m"
    model.mkdir()
    with (model / "weights.bin").open("wb") as handle:
        handle.truncate(1 << 30)  # sparse: a second of hashing, no disk
    pytester.makefile(
        ".yaml",
        mlsupply="version: 1\nproject: {name: once}\nmodels:\n  - name: m\n    path: m\n",
    )
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    opens = pytester.path / "opens.txt"
    pytester.makeconftest(
        f"""
        import os, sys

        WATCHED = {str(model / "weights.bin")!r}

        def _audit(event, args):
            path = args[0] if event == "open" and args else None
            if isinstance(path, (str, bytes, os.PathLike)) and os.fsdecode(path) == WATCHED:
                with open({str(opens)!r}, "a") as handle:
                    handle.write("open\\n")

        sys.addaudithook(_audit)
        """
    )

    result = pytester.runpytest_subprocess("--mlsupply", "-p", "no:xdist", "-k", "test_ok")

    result.assert_outcomes(passed=1)
    bom = (pytester.path / "build" / "ml-bom.cdx.json").read_text()
    assert hashlib.sha256(b"\0" * (1 << 30)).hexdigest() in bom  # the BOM has the digest
    assert opens.read_text().splitlines() == ["open"]  # read once: by the session-start hash
