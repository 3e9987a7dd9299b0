"""The terminal and error examples in the docs are what a real run prints today."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "update_doc_examples.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_every_marked_example_in_the_docs_matches_a_real_run() -> None:
    done = _run("--check")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "doc examples: 6 checked in 4 file(s)" in done.stdout


def test_a_stale_example_is_shown_as_a_diff_and_rewritten_from_its_run(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Before.\n\n<!-- example: manifest-errors.yaml -->\n```yaml\nversion: 0\n```\n\nAfter.\n"
    )

    check = _run("--check", str(page))
    assert check.returncode == 1
    assert "-version: 0" in check.stdout
    assert "+  fail_on: hgih" in check.stdout
    assert page.read_text().count("version: 0") == 1  # --check changes nothing

    assert _run(str(page)).returncode == 0
    text = page.read_text()
    assert "version: 0" not in text
    assert "<!-- example: manifest-errors.yaml -->\n```yaml\nversion: 1\n" in text
    assert text.startswith("Before.\n")
    assert text.endswith("After.\n")
    assert _run("--check", str(page)).returncode == 0


def test_a_marker_naming_no_known_example_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- example: no-such-example -->\n```\nx\n```\n")

    done = _run("--check", str(page))

    assert done.returncode == 2
    assert "unknown example 'no-such-example'" in done.stderr
    assert "add it to EXAMPLES in scripts/update_doc_examples.py" in done.stderr
