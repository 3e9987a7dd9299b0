"""R2 review: a model card's text is kept in the BOM (facts keep their text). A card carrying
control characters (an ESC, a vertical tab, U+FFFE) must still give an XML BOM that parses and a
JSON BOM with no raw control character."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.conftest import Project

HOSTILE = "Intended use: demos \x1b[2J\x0b\ufffe only.\n"


def test_a_card_with_control_characters_still_gives_an_xml_bom_that_parses(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = project.model_dir / "README.md"
    text = card.read_text()
    card.write_text(text.replace("## Intended use", "## Intended use\n\n" + HOSTILE, 1))
    assert HOSTILE in card.read_text()
    project.default_manifest(top="output: {bom_xml: build/bom.xml}")
    monkeypatch.setenv("MLSUPPLY_CACHE_DIR", str(project.root / "mlsupply-cache"))
    pytester.runpytest_subprocess("--mlsupply", "-p", "no:randomly")
    data = (project.root / "build" / "bom.xml").read_bytes()
    assert b"demos" in data  # the card reached the BOM
    ET.fromstring(data)
