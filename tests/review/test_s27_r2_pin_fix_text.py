"""R2 review: MLS-PIN-003's fix text is a line to paste under ``files:``. Its file name is written
bare, so a name with YAML syntax in it (``#``, ``: ``) pastes as another key than the file's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.conftest import Project

#: A valid file name that YAML reads as the key "extra" followed by a comment.
NAME = "extra #1: v2.bin"


def _strings(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for value in document.values():
            yield from _strings(value)
    elif isinstance(document, list):
        for value in document:
            yield from _strings(value)
    elif isinstance(document, str):
        yield document


def test_the_pin_line_mls_pin_003_suggests_pins_the_file_it_names(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project.model_dir / NAME).write_bytes(b"\x00" * 16)
    project.default_manifest()
    monkeypatch.setenv("MLSUPPLY_CACHE_DIR", str(project.root / "mlsupply-cache"))
    pytester.runpytest_subprocess("--mlsupply", "-p", "no:randomly")
    prefix = "pin it under `files:` as "
    document = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    fixes = [t for t in _strings(document) if t.startswith(prefix) and "v2.bin" in t]
    assert fixes, "no MLS-PIN-003 fix text for the file"
    line = fixes[0].removeprefix(prefix)
    pinned = yaml.safe_load(line)
    assert isinstance(pinned, dict), line
    assert list(pinned) == [NAME], line
    assert pinned[NAME].startswith("sha256:"), line
