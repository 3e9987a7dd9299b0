"""The caches survive a crash mid-write: a process SIGKILLed in the middle of storing an entry
leaves nothing that is trusted or that crashes the next run, which computes the answer again.

The writer is a real process, held at the rename of its entry (its ``os.replace``) and killed
there; a torn entry (what a power cut can leave on a file system that wrote the rename before
the data) is planted by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from pytest_mlsupply.checks.content_store import ContentStore, FileIdentity
from pytest_mlsupply.vulns.cache import Answer, ResultCache

REPO = Path(__file__).resolve().parents[2]
SECRET = b"a user's secret, the same in both processes"
FINGERPRINT = "f" * 64
VALUE = {"sha256": "ab" * 32}

#: Put before the test's statement (which uses ``root``): ``os.replace`` held forever once it is
#: reached, after saying so in ``sys.argv[1]``/ready; the test then SIGKILLs the process.
WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    handshake, root = Path(sys.argv[1]), Path(sys.argv[2])

    def held_replace(src, dst, **kwargs):
        (handshake / "ready").write_text(str(src))
        time.sleep(600)

    os.replace = held_replace
    """
)


def _killed_mid_write(tmp_path: Path, statement: str, root: Path) -> Path:
    """Run ``statement`` in a process killed at its entry's rename; the temp file it left."""
    handshake = tmp_path / "handshake"
    handshake.mkdir()
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER + statement, str(handshake), str(root)], env=env
    )
    deadline = time.monotonic() + 120
    while not (handshake / "ready").exists():
        assert writer.poll() is None, f"the writer ended (status {writer.returncode}) first"
        assert time.monotonic() < deadline, "the writer never reached its rename"
        time.sleep(0.01)
    writer.kill()
    writer.wait(timeout=120)
    return Path((handshake / "ready").read_text())


def _identity(path: Path) -> FileIdentity:
    return FileIdentity.of(path, path.stat())


def _store(root: Path) -> ContentStore:
    return ContentStore(root, secret=SECRET, fingerprint=FINGERPRINT)


def test_a_content_store_killed_mid_write_is_a_miss_and_the_next_run_stores_again(
    tmp_path: Path,
) -> None:
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"weights")
    root = tmp_path / "store"
    statement = (
        "from pytest_mlsupply.checks.content_store import ContentStore, FileIdentity\n"
        f"store = ContentStore(root, secret={SECRET!r}, fingerprint={FINGERPRINT!r})\n"
        f"path = Path({str(model)!r})\n"
        f"store.save(FileIdentity.of(path, path.stat()), {VALUE!r})\n"
    )

    leftover = _killed_mid_write(tmp_path, statement, root)

    assert leftover.is_file()  # the temp of the killed write, whole or not: never an entry
    store = _store(root)
    assert store.load(_identity(model)) is None
    store.save(_identity(model), VALUE)  # the lock the killed writer held is free again
    assert store.writes == 1
    assert _store(root).load(_identity(model)) == VALUE


def test_a_torn_content_store_entry_is_a_miss_never_a_crash(tmp_path: Path) -> None:
    model = tmp_path / "model.safetensors"
    model.write_bytes(b"weights")
    root = tmp_path / "store"
    _store(root).save(_identity(model), VALUE)
    (entry,) = (p for p in _store(root).folder.iterdir() if not p.name.startswith("."))
    whole = entry.read_bytes()

    for torn in (whole[: len(whole) // 2], b"", b"\x00" * len(whole)):
        entry.write_bytes(torn)
        store = _store(root)
        assert store.load(_identity(model)) is None
        store.save(_identity(model), VALUE)
        assert _store(root).load(_identity(model)) == VALUE


def test_a_vulnerability_cache_killed_mid_write_asks_again_then_answers_from_the_cache(
    tmp_path: Path,
) -> None:
    root = tmp_path / "cache"
    statement = (
        "from pytest_mlsupply.vulns.cache import Answer, ResultCache\n"
        f"ResultCache(root, {SECRET!r}).get_or_compute("
        "'numpy', '2.1.0', 'offline', lambda: Answer((), '2.1.1'))\n"
    )

    leftover = _killed_mid_write(tmp_path, statement, root)

    assert leftover.is_file()
    asked: list[str] = []

    def compute() -> Answer:
        asked.append("numpy")
        return Answer((), "2.1.1")

    first = ResultCache(root, SECRET).get_or_compute("numpy", "2.1.0", "offline", compute)
    again = ResultCache(root, SECRET).get_or_compute("numpy", "2.1.0", "offline", compute)

    assert first == again == Answer((), "2.1.1")
    assert asked == ["numpy"]  # computed once after the crash, then read from the cache


def test_a_torn_vulnerability_cache_entry_is_asked_again(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    cache = ResultCache(root, SECRET)
    cache.get_or_compute("numpy", "2.1.0", "offline", lambda: Answer((), "2.1.1"))
    (entry,) = (p for p in root.rglob("*.json") if not p.name.startswith("."))
    entry.write_bytes(entry.read_bytes()[:-7])

    asked: list[str] = []

    def compute() -> Answer:
        asked.append("numpy")
        return Answer((), None)

    answer = ResultCache(root, SECRET).get_or_compute("numpy", "2.1.0", "offline", compute)

    assert answer == Answer((), None)
    assert asked == ["numpy"]
