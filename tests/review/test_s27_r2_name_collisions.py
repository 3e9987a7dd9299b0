"""R2 review: two different files must never share one printed name. The Markdown matrix
collapsed runs of spaces (and dropped leading and trailing ones) in a subject, so ``dup  x.pkl``
(two spaces) and ``dup x.pkl`` printed alike: a failing file hidden behind a passing one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

WORKTREE = Path(__file__).resolve().parents[2]
NAMES = ("dup  x.pkl", "dup x.pkl", "tail.pkl ", "tail.pkl")


def _reduce_pickle(argument: str) -> bytes:
    data = argument.encode()
    return b"\x80\x02cos\nsystem\nX" + len(data).to_bytes(4, "little") + data + b"\x85R."


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("spaces")
    models = root / "models" / "m"
    models.mkdir(parents=True)
    for name in NAMES:
        (models / name).write_bytes(_reduce_pickle("echo pwned"))
    (root / "mlsupply.yaml").write_text(
        textwrap.dedent(
            """\
            version: 1
            project: {name: spaces, version: 1.0.0}
            models:
              - {name: m, path: models/m}
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PYTEST_"))}
    env["PYTHONPATH"] = str(WORKTREE)
    subprocess.run(
        [sys.executable, "-m", "pytest", "--mlsupply", "-p", "no:cacheprovider"],
        cwd=root,
        env=env,
        capture_output=True,
        check=False,
    )
    return (root / "build" / "mlsupply-matrix.md").read_text(encoding="utf-8")


def test_the_matrix_names_two_files_that_differ_in_their_spaces_apart(matrix: str) -> None:
    rows = [line for line in matrix.splitlines() if line.startswith("| `m/")]
    subjects = [row.split("|")[1].strip() for row in rows]
    assert len(subjects) == len(NAMES), rows
    assert len(set(subjects)) == len(NAMES), subjects
