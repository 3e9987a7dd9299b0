"""Review R3: the caches' signing secret survives a crash while it is made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_PRINT_KEY = "from pytest_mlsupply.user_secret import user_key; print(user_key().hex())"


def _key_in_a_new_process(cache_home: Path) -> str:
    env = dict(os.environ, XDG_CACHE_HOME=str(cache_home), PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-c", _PRINT_KEY], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_key_file_left_empty_by_a_killed_writer_is_made_again_and_shared_by_later_runs(
    tmp_path: Path,
) -> None:
    # The old way of making it (create, then write) killed in between: an empty private file.
    key_file = tmp_path / "pytest-mlsupply" / "cache-key"
    key_file.parent.mkdir(mode=0o700)
    key_file.touch(mode=0o600)
    os.chmod(key_file, 0o600)

    first, second = _key_in_a_new_process(tmp_path), _key_in_a_new_process(tmp_path)

    assert first == second  # one secret: a cache entry written by one run verifies in the next
    assert key_file.read_bytes().hex() == first
    assert [p.name for p in key_file.parent.iterdir()] == ["cache-key"]


def test_a_key_file_readable_by_others_is_never_replaced(tmp_path: Path) -> None:
    key_file = tmp_path / "pytest-mlsupply" / "cache-key"
    key_file.parent.mkdir(mode=0o700)
    key_file.write_bytes(b"x" * 32)
    os.chmod(key_file, 0o644)

    first, second = _key_in_a_new_process(tmp_path), _key_in_a_new_process(tmp_path)

    assert first != second  # not a secret: each process its own random one, as before
    assert key_file.read_bytes() == b"x" * 32
