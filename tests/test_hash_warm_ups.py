"""Warm-ups: while the main thread waits for a digest it does the session's queued work (imports,
the BOM's validator); a digest that is ready runs none, and a warm-up's error changes nothing."""

from __future__ import annotations

import hashlib
import json
import textwrap
from concurrent.futures import Future
from pathlib import Path

import pytest

from pytest_mlsupply.checks import hashing
from pytest_mlsupply.checks.runner import run_item
from pytest_mlsupply.results import CheckResult, Severity, Verdict
from tests.checks.conftest import Pipeline
from tests.conftest import Project, build_project

WEIGHTS = "artifact[tiny/model.safetensors::sha256]"


@pytest.fixture(autouse=True)
def empty_queue() -> object:
    hashing.shutdown()  # a queue left by an earlier test in this process would run here
    yield
    hashing.shutdown()


def a_digest(path: Path) -> hashing.Digest:
    return hashing.sha256_file(path)


def test_a_pending_digest_runs_the_queued_warm_ups_in_order_until_it_is_ready(
    tmp_path: Path,
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"weights")
    digest = a_digest(path)
    pending: Future[hashing.Digest] = Future()
    ran: list[str] = []

    def first() -> None:
        ran.append("first")

    def second() -> None:
        ran.append("second")
        pending.set_result(digest)  # the hash thread finishes during this warm-up

    def third() -> None:
        ran.append("third")

    for task in (first, second, third):
        hashing.warm_up(task)

    assert hashing.result(pending) is digest
    # Once the digest is ready the main thread goes back to the item: the rest waits for the
    # next pending digest, and runs there, once.
    assert ran == ["first", "second"]
    later: Future[hashing.Digest] = Future()
    hashing.warm_up(lambda: later.set_result(digest))
    assert hashing.result(later) is digest
    assert ran == ["first", "second", "third"]


def test_a_digest_that_is_ready_runs_no_warm_up(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"weights")
    ready: Future[hashing.Digest] = Future()
    ready.set_result(a_digest(path))
    ran: list[str] = []
    hashing.warm_up(lambda: ran.append("warm-up"))

    assert hashing.result(ready).sha256 == hashlib.sha256(b"weights").hexdigest()
    assert ran == []


def test_a_shutdown_drops_the_warm_ups_no_wait_ran(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"weights")
    digest = a_digest(path)
    ran: list[str] = []
    hashing.warm_up(lambda: ran.append("from the ended session"))

    hashing.shutdown()
    pending: Future[hashing.Digest] = Future()
    hashing.warm_up(lambda: pending.set_result(digest))

    assert hashing.result(pending) is digest
    assert ran == []


def test_a_hash_error_is_raised_after_the_warm_ups_not_swallowed_with_them(
    tmp_path: Path,
) -> None:
    pending: Future[hashing.Digest] = Future()
    hashing.warm_up(lambda: pending.set_exception(OSError(f"{tmp_path}/weights.bin: EIO")))

    with pytest.raises(OSError, match="EIO"):
        hashing.result(pending)


def test_a_failing_warm_up_neither_fails_nor_changes_the_check_that_waited(
    tmp_path: Path,
) -> None:
    pipeline = Pipeline(build_project(tmp_path / "project"))
    weights = pipeline.model_dir / "model.safetensors"
    plan, ctx = pipeline.planned()
    (item,) = [planned for planned in plan if planned.name == WEIGHTS]
    expected = run_item(item, Pipeline(pipeline.project).planned()[1])
    # The check waits on a digest still being computed; the first warm-up raises, the
    # second one is where the hash thread finishes.
    pending: Future[hashing.Digest] = Future()
    ctx.contents.get(weights)._pending = pending
    ran: list[str] = []

    def broken() -> None:
        ran.append("broken")
        raise ImportError("a report module that does not import")

    def finishing() -> None:
        ran.append("finishing")
        pending.set_result(hashing.sha256_file(weights))

    hashing.warm_up(broken)
    hashing.warm_up(finishing)

    results = run_item(item, ctx)

    assert ran == ["broken", "finishing"]
    assert [comparable(r) for r in results] == [comparable(r) for r in expected]
    assert results[0].verdict(Severity.CRITICAL) is Verdict.PASS
    assert results[0].facts["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()


def comparable(result: CheckResult) -> tuple[object, ...]:
    return (result.check, result.error, [f.rule for f in result.findings], result.facts)


def test_a_gate_session_queues_the_engines_and_the_reports_for_its_first_wait(
    pytester: pytest.Pytester, project: Project
) -> None:
    # In a subprocess: its modules are its own, so "not imported yet" means what it says. The
    # conftest waits on a digest of its own right after collection, which runs (and empties)
    # the session's queue, then looks at what the queue did.
    pytester.makeconftest(
        textwrap.dedent(
            """
            import json, sys
            from concurrent.futures import Future
            import pytest
            from pytest_mlsupply.checks import hashing

            WATCHED = (
                "pytest_mlsupply.engines.scanner",
                "pytest_mlsupply.reports.bom",
                "pytest_mlsupply.reports.matrix",
            )
            seen = {}

            def pytest_collection_modifyitems(session, config, items):
                seen["before"] = [name for name in WATCHED if name in sys.modules]
                pending = Future()
                hashing.warm_up(lambda: pending.set_result(None))
                hashing.result(pending)
                seen["after"] = [name for name in WATCHED if name in sys.modules]
                from pytest_mlsupply.reports import bom_schema
                seen["validator"] = bom_schema.json_validator.cache_info().currsize

            @pytest.hookimpl(tryfirst=True)
            def pytest_sessionfinish(session):
                seen["reports"] = set(sys.modules)

            def pytest_unconfigure(config):
                written = sorted(set(sys.modules) - seen.get("reports", set(sys.modules)))
                seen["imported_by_the_reports"] = [
                    name for name in written if name.startswith("pytest_mlsupply.reports")
                ]
                seen.pop("reports", None)
                with open("seen.json", "w") as handle:
                    json.dump(seen, handle)
            """
        )
    )

    result = pytester.runpytest_subprocess("--mlsupply", "-p", "no:xdist")

    assert result.ret == 0
    recorded = json.loads((pytester.path / "seen.json").read_text())
    assert recorded["before"] == []  # nothing was imported ahead of the wait...
    assert recorded["after"] == [  # ...and the wait imported all of it
        "pytest_mlsupply.engines.scanner",
        "pytest_mlsupply.reports.bom",
        "pytest_mlsupply.reports.matrix",
    ]
    assert recorded["validator"] == 1  # the BOM's validator was built in the wait
    # The reports found every module they import already there.
    assert recorded["imported_by_the_reports"] == []
    assert (pytester.path / "build" / "ml-bom.cdx.json").is_file()
