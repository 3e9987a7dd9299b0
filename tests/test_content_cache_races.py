"""The attacker races the content cache: swaps a path between the moment a file's identity is
taken and the moment its bytes are read, swaps a FIFO in, or runs the cache on a file system
whose clock is not ours. None of it may leave a clean fact stored under a payload's identity,
or hang the session.

The races are made deterministic by acting at the point the code reaches (a wrapper that runs
the real function and then does the attacker's part), not by timing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_mlsupply.checks import hashing
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.content_store import ContentStore
from pytest_mlsupply.checks.provenance_attestation import _digest
from pytest_mlsupply.engines import scanner, sniff
from pytest_mlsupply.engines.blob import ScanPolicy
from pytest_mlsupply.sources.inventory import ArtifactFile
from tests.conftest import write_pickle_payload

# PROTO 2, EMPTY_DICT, STOP: a pickle that imports nothing.
CLEAN_PICKLE = b"\x80\x02}."


def settle() -> None:
    time.sleep(0.15)  # past the store's racy window (RACY_NS)


def store(tmp_path: Path) -> ContentStore:
    return ContentStore(tmp_path / "store", secret=b"k" * 32, fingerprint="f" * 64)


def point(link: Path, target: Path) -> None:
    """Repoint ``link`` at ``target`` atomically (what ``ln -sfn`` and a rename do)."""
    temporary = link.with_name(link.name + ".new")
    temporary.symlink_to(target)
    os.replace(temporary, link)


@pytest.fixture
def swap(tmp_path: Path) -> tuple[Path, Path, Path]:
    """``model.pkl`` → the payload, and a clean pickle beside it; all settled."""
    bad = write_pickle_payload(tmp_path / "payload.pkl")
    clean = tmp_path / "clean.pkl"
    clean.write_bytes(CLEAN_PICKLE)
    link = tmp_path / "model.pkl"
    link.symlink_to(bad)
    settle()
    return link, bad, clean


def swapped_back_after(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, link: Path, bad: Path
) -> None:
    """Wrap ``owner.name``: the real function runs (on whatever ``link`` leads to now), then
    the attacker points ``link`` back at the payload before anything looks at it again."""
    real: Callable[..., Any] = getattr(owner, name)

    def attacker(*args: Any, **kwargs: Any) -> Any:
        try:
            return real(*args, **kwargs)
        finally:
            point(link, bad)

    monkeypatch.setattr(owner, name, attacker)


def test_a_symlink_swapped_during_the_scan_never_stores_a_clean_report_for_the_payload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap: tuple[Path, Path, Path]
) -> None:
    link, bad, clean = swap
    entry = ContentCache(store(tmp_path)).get(link)  # the identity of the payload
    point(link, clean)  # the attacker swaps before the scan opens the file ...
    swapped_back_after(monkeypatch, scanner, "scan_blob", link, bad)  # ... and back after
    try:
        first: object = entry.scan_report("model.pkl", ScanPolicy())
    except OSError as exc:
        first = exc
    monkeypatch.undo()
    point(link, bad)  # where the attacker leaves it, whether or not the read got that far

    warm = ContentCache(store(tmp_path)).get(link).scan_report("model.pkl", ScanPolicy())

    assert "MLS-PKL-001" in {f.rule for f in warm.findings}
    # The run that was raced reports an error (fail closed), not the clean file's report.
    assert isinstance(first, OSError)
    assert "replaced" in str(first)


def test_a_symlink_swapped_once_the_scan_has_opened_the_file_does_not_change_what_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap: tuple[Path, Path, Path]
) -> None:
    # The scan identifies the file, then runs the engine for its format, then probes it: with
    # a reopen by path for each, a swap after the first read has the rest read the clean file.
    link, bad, clean = swap
    real = sniff._identify_file

    def attacker(*args: Any, **kwargs: Any) -> Any:
        try:
            return real(*args, **kwargs)
        finally:
            point(link, clean)

    monkeypatch.setattr(sniff, "_identify_file", attacker)
    raced = ContentCache(store(tmp_path)).get(link).scan_report("model.pkl", ScanPolicy())
    monkeypatch.undo()
    point(link, bad)

    warm = ContentCache(store(tmp_path)).get(link).scan_report("model.pkl", ScanPolicy())

    assert "MLS-PKL-001" in {f.rule for f in raced.findings}
    assert "MLS-PKL-001" in {f.rule for f in warm.findings}


def test_a_symlink_swapped_during_the_digest_never_stores_the_clean_files_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap: tuple[Path, Path, Path]
) -> None:
    link, bad, clean = swap
    entry = ContentCache(store(tmp_path)).get(link)
    point(link, clean)
    swapped_back_after(monkeypatch, hashing, "sha256_file", link, bad)
    try:
        first: object = entry.sha256
    except OSError as exc:
        first = exc
    monkeypatch.undo()
    point(link, bad)  # where the attacker leaves it, whether or not the read got that far

    warm = ContentCache(store(tmp_path)).get(link).sha256

    assert warm == hashlib.sha256(bad.read_bytes()).hexdigest()
    assert isinstance(first, OSError)


def test_a_symlink_swapped_during_identification_never_stores_the_clean_files_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap: tuple[Path, Path, Path]
) -> None:
    link, bad, clean = swap
    clean.write_bytes(b'{"looks": "like json"}')
    settle()
    entry = ContentCache(store(tmp_path)).get(link)
    point(link, clean)
    swapped_back_after(monkeypatch, sniff, "_identify_file", link, bad)
    with contextlib.suppress(OSError):
        entry.identification  # noqa: B018 - the property reads the file
    monkeypatch.undo()
    point(link, bad)  # where the attacker leaves it, whether or not the read got that far

    warm = ContentCache(store(tmp_path)).get(link).identification

    assert warm.family.value == "pickle"


def test_a_clean_report_is_still_stored_and_served_when_nothing_moves(
    tmp_path: Path, swap: tuple[Path, Path, Path]
) -> None:
    link, _bad, _clean = swap
    cold_store = store(tmp_path)
    cold = ContentCache(cold_store).get(link).scan_report("model.pkl", ScanPolicy())
    warm_store = store(tmp_path)
    warm = ContentCache(warm_store).get(link).scan_report("model.pkl", ScanPolicy())

    assert cold_store.writes == 1
    assert (warm_store.hits, warm_store.writes) == (1, 0)
    assert warm.findings == cold.findings
    assert "MLS-PKL-001" in {f.rule for f in warm.findings}


# -- a FIFO swapped in between the look and the open ----------------------------------------


@contextlib.contextmanager
def fifo_after_stat(monkeypatch: pytest.MonkeyPatch, path: Path) -> Iterator[None]:
    """The first ``os.stat`` of ``path`` sees its regular file; right after it, the attacker
    puts a FIFO at ``path`` (opening it for reading would wait for a writer forever)."""
    real_stat = os.stat
    swapped = threading.Event()

    def stat(target: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        result = real_stat(target, *args, **kwargs)
        if not swapped.is_set() and os.fspath(target) == os.fspath(path):
            swapped.set()
            path.unlink()
            os.mkfifo(path)
        return result

    monkeypatch.setattr(os, "stat", stat)
    try:
        yield
    finally:
        monkeypatch.undo()


def _without_hanging(path: Path, call: Callable[[], object]) -> object:
    """``call()``'s result or exception, failing the test if it blocks on the FIFO."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(5)
    if worker.is_alive():
        # Free the reader (a writer comes and goes) so no thread outlives the test.
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(5)
        pytest.fail(f"opening {path.name} blocked on the FIFO swapped in after its stat")
    return outcome[0]


@pytest.mark.parametrize(
    "reader",
    [
        pytest.param(lambda p: hashing.sha256_file(p), id="hashing.sha256_file"),
        pytest.param(lambda p: scanner.scan_file(p, p.name), id="scanner.scan_file"),
        pytest.param(lambda p: sniff.identify(p), id="sniff.identify"),
        pytest.param(
            lambda p: _digest(
                ArtifactFile("m", p.name, p, 7),
                "sha512",
                128,
                SimpleNamespace(contents=ContentCache()),
            ),
            id="attestation.sha512",
        ),
    ],
)
def test_a_fifo_swapped_in_after_the_type_check_is_refused_not_waited_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: Callable[[Path], object]
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"weights")
    with fifo_after_stat(monkeypatch, path):
        outcome = _without_hanging(path, lambda: reader(path))

    # Fail closed: an error, or a report/identification that says it was not read.
    if isinstance(outcome, BaseException):
        assert isinstance(outcome, OSError)
        assert "not a regular file" in str(outcome)
    elif isinstance(outcome, scanner.ScanReport):
        assert outcome.errors
        assert not outcome.findings
    else:
        assert isinstance(outcome, sniff.Identification)
        assert outcome.detail == "not a regular file, so it was not read"


# -- clocks ---------------------------------------------------------------------------------


def _clock_off_by(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Our clock ``seconds`` ahead of the file system's (negative: behind), as with an NFS
    server whose clock is skewed: the files it stamps are that much older (newer) to us."""
    real = time.time_ns
    monkeypatch.setattr(time, "time_ns", lambda: real() + int(seconds * 1e9))


def test_a_file_just_written_where_the_file_systems_clock_lags_is_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"written just now")
    _clock_off_by(monkeypatch, 10.0)  # the server's stamps look ten seconds old
    cold = store(tmp_path)

    digest = ContentCache(cold).get(path).sha256

    assert digest == hashlib.sha256(b"written just now").hexdigest()
    assert cold.writes == 0


def test_a_settled_file_is_cached_whatever_the_file_systems_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"written a while ago")
    settle()
    _clock_off_by(monkeypatch, 10.0)
    cold = store(tmp_path)

    ContentCache(cold).get(path).sha256  # noqa: B018 - the property reads the file

    assert cold.writes == 1


def test_a_file_stamped_in_the_future_is_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server clock ahead of ours: its files are changed "in the future"; never settled.
    path = tmp_path / "weights.bin"
    path.write_bytes(b"written tomorrow")
    settle()
    _clock_off_by(monkeypatch, -10.0)
    cold = store(tmp_path)

    ContentCache(cold).get(path).sha256  # noqa: B018 - the property reads the file

    assert cold.writes == 0


def test_a_library_error_names_the_artifact_not_the_descriptor_it_was_handed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # safetensors' safe_open gets /proc/self/fd/N (the checked handle); a reopen that fails (a
    # file made unreadable after the open, as a non-root user) must still name the file.
    import json as json_module
    import struct

    from pytest_mlsupply.engines.blob import ScanPolicy
    from pytest_mlsupply.engines.formats import safetensors as engine
    from pytest_mlsupply.engines.regular_file import open_regular
    from pytest_mlsupply.engines.scanner import scan_open

    def refusing(path: str) -> None:
        raise FileNotFoundError(f"No such file or directory: {os.fspath(path)}")

    monkeypatch.setattr(engine, "_safe_open", refusing)
    header = json_module.dumps(
        {"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    ).encode()
    target = tmp_path / "model.safetensors"
    target.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    handle, _ = open_regular(target)
    with handle:
        report = scan_open(handle, target, "model.safetensors", ScanPolicy())

    assert report.errors  # fail closed
    assert not any("/proc/self/fd" in e or "/dev/fd/" in e for e in report.errors)
    assert any(str(target) in e for e in report.errors)
