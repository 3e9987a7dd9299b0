"""MLS-SRC-002: a link that ends inside the model directory on this machine but does not stay
inside it as written (absolute, or out through another folder and back) is a finding too.

A copy of the folder (an image layer, an upload, another checkout path) keeps the links as
written: an absolute link then leads to the old path, other bytes or none.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.cli import main


def scan_results(capsys: pytest.CaptureFixture[str], directory: Path) -> dict[str, Any]:
    main(["scan", "--no-cache", "--format", "json", str(directory)])
    results = json.loads(capsys.readouterr().out)["results"]
    return {r["subject"]: r for r in results if r["check"] == "scan"}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    return tmp_path / "m"


def test_an_absolute_link_to_a_file_inside_the_model_directory_is_a_finding(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / "alias.json").symlink_to(model / "config.json")  # absolute, into the folder
    scanned = scan_results(capsys, model)["m/alias.json"]
    assert scanned["verdict"] == "fail"
    [finding] = scanned["findings"]
    assert finding["rule"] == "MLS-SRC-002"
    assert "(absolute)" in finding["evidence"]


def test_a_link_out_to_a_sibling_folder_and_back_in_is_a_finding(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model.parent / "out").mkdir()
    (model.parent / "out" / "hop.json").symlink_to(Path("..") / "m" / "config.json")
    (model / "via.json").symlink_to(Path("..") / "out" / "hop.json")
    (model / "dots.json").symlink_to(Path("..") / "m" / "config.json")
    results = scan_results(capsys, model)
    for name in ("m/via.json", "m/dots.json"):
        assert [f["rule"] for f in results[name]["findings"]] == ["MLS-SRC-002"], name


def test_relative_links_that_stay_inside_are_scanned_as_their_bytes(
    model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (model / "sub").mkdir()
    (model / "sub" / "up.json").symlink_to(Path("..") / "config.json")
    (model / "dir").symlink_to("sub", target_is_directory=True)
    os.link(model / "config.json", model / "hard.json")
    results = scan_results(capsys, model)
    assert {"m/sub/up.json", "m/dir/up.json", "m/hard.json"} <= set(results)
    for subject, result in results.items():
        assert result["verdict"] == "pass", (subject, result)
