"""The result cache: shared by processes, never trusting what it cannot verify."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from pytest_mlsupply.vulns.cache import Answer, ResultCache, cache_root
from pytest_mlsupply.vulns.model import Advisory, Rating

TORCH = Advisory(
    id="GHSA-53q9-r3pm-6pq6",
    package="torch",
    version="2.5.1",
    aliases=("CVE-2025-32434",),
    fixed=("2.6.0",),
    rating=Rating(
        "critical",
        "CVSSv4",
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "9.3",
        "cvss",
    ),
)
ANSWER = Answer((TORCH,), "2.6.0")


def slow_compute_once(root: str, log: str) -> None:
    """A worker process: asks the cache, computing slowly (and logging it) on a miss."""

    def compute() -> Answer:
        with open(log, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        time.sleep(0.5)
        return ANSWER

    answer = ResultCache(Path(root)).get_or_compute("torch", "2.5.1", "offline:abc", compute)
    assert answer == ANSWER


def test_two_processes_missing_the_same_answer_compute_it_once(tmp_path: Path) -> None:
    log = tmp_path / "computed.log"
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=slow_compute_once, args=(str(tmp_path / "cache"), str(log)))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0

    assert len(log.read_text().splitlines()) == 1


def test_an_answer_round_trips_and_is_reused(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    calls: list[int] = []

    def compute() -> Answer:
        calls.append(1)
        return ANSWER

    assert cache.get_or_compute("torch", "2.5.1", "offline:abc", compute) == ANSWER
    assert ResultCache(tmp_path).get_or_compute("torch", "2.5.1", "offline:abc", compute) == ANSWER
    assert len(calls) == 1
    # Another state (a new snapshot, another day of a service) is another question.
    ResultCache(tmp_path).get_or_compute("torch", "2.5.1", "offline:def", compute)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "garbage",
    [b"", b"{trunc", b"[]", b'{"key": "x"}', b"\xff\xfe"],
    ids=["empty", "truncated", "a list", "a key of the wrong shape", "not utf-8"],
)
def test_a_corrupted_entry_is_recomputed_and_rewritten(tmp_path: Path, garbage: bytes) -> None:
    cache = ResultCache(tmp_path)
    cache.get_or_compute("torch", "2.5.1", "offline:abc", lambda: ANSWER)
    (entry,) = tmp_path.rglob("torch==2.5.1.json")
    entry.write_bytes(garbage)

    again = ResultCache(tmp_path).get_or_compute(
        "torch", "2.5.1", "offline:abc", lambda: Answer((), None)
    )

    assert again == Answer((), None)  # recomputed, not read from the garbage
    assert json.loads(entry.read_text())["answer"] == {"advisories": [], "upgrade": None}


def test_an_unwritable_cache_still_answers(tmp_path: Path) -> None:
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")

    answer = ResultCache(blocked).get_or_compute("torch", "2.5.1", "s", lambda: ANSWER)

    assert answer == ANSWER


def test_a_database_that_cannot_be_reached_is_asked_once_and_its_error_raised(
    tmp_path: Path,
) -> None:
    calls: list[int] = []

    def compute() -> Answer:
        calls.append(1)
        raise ConnectionRefusedError("the advisory service refused the connection")

    with pytest.raises(ConnectionRefusedError):
        ResultCache(tmp_path / "cache").get_or_compute("torch", "2.5.1", "s", compute)
    assert len(calls) == 1


def test_state_folders_untouched_for_a_week_are_pruned(tmp_path: Path) -> None:
    ResultCache(tmp_path).get_or_compute("torch", "2.5.1", "offline:old", lambda: ANSWER)
    (old,) = (tmp_path / "vulnerabilities").iterdir()
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(old, (week_ago, week_ago))

    ResultCache(tmp_path).get_or_compute("torch", "2.5.1", "offline:new", lambda: ANSWER)

    folders = list((tmp_path / "vulnerabilities").iterdir())
    assert len(folders) == 1
    assert folders[0] != old


def test_the_cache_root_is_beside_the_manifest_unless_the_environment_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLSUPPLY_CACHE_DIR", raising=False)
    assert cache_root(tmp_path) == tmp_path / ".mlsupply-cache"
    monkeypatch.setenv("MLSUPPLY_CACHE_DIR", str(tmp_path / "ci-cache"))
    assert cache_root(tmp_path) == tmp_path / "ci-cache"
    monkeypatch.setenv("MLSUPPLY_CACHE_DIR", "OFF")
    assert cache_root(tmp_path) is None


def test_an_entry_written_under_another_secret_is_ignored_and_rewritten(tmp_path: Path) -> None:
    ResultCache(tmp_path, secret=b"a" * 32).get_or_compute(
        "torch", "2.5.1", "offline:abc", lambda: Answer(())
    )
    mine = ResultCache(tmp_path, secret=b"b" * 32)

    first = mine.get_or_compute("torch", "2.5.1", "offline:abc", lambda: ANSWER)
    again = mine.get_or_compute("torch", "2.5.1", "offline:abc", lambda: Answer(()))

    assert first == ANSWER
    assert again == ANSWER


def test_an_entry_with_its_answer_edited_after_signing_is_ignored(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path, secret=b"s" * 32)
    cache.get_or_compute("torch", "2.5.1", "offline:abc", lambda: ANSWER)
    (entry,) = (tmp_path / "vulnerabilities").rglob("torch==2.5.1.json")
    data = json.loads(entry.read_text())
    data["answer"] = {"advisories": [], "upgrade": None}
    entry.write_text(json.dumps(data))

    assert cache.get_or_compute("torch", "2.5.1", "offline:abc", lambda: ANSWER) == ANSWER


def test_the_signing_secret_is_made_once_outside_the_project_readable_by_its_user_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlsupply import user_secret as cache_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    monkeypatch.setattr(cache_module, "_KEYS", {})

    key = cache_module.user_key()
    monkeypatch.setattr(cache_module, "_KEYS", {})

    path = tmp_path / "home-cache" / "pytest-mlsupply" / "cache-key"
    assert path.read_bytes() == key == cache_module.user_key()
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_signing_secret_others_can_read_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlsupply import user_secret as cache_module

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(cache_module, "_KEYS", {})
    path = tmp_path / "pytest-mlsupply" / "cache-key"
    path.parent.mkdir()
    path.write_bytes(b"k" * 32)
    path.chmod(0o644)

    assert cache_module.user_key() != b"k" * 32
