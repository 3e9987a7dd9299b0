"""``code: {paths: [...], exclude: [...]}``: typed, and every mistake named with its line and fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_mlsupply.manifest.errors import ManifestError, Problem
from pytest_mlsupply.manifest.loader import parse_manifest
from pytest_mlsupply.manifest.model import Manifest


def parse(tmp_path: Path, code: str) -> Manifest:
    (tmp_path / "src").mkdir(exist_ok=True)
    return parse_manifest(textwrap.dedent(f"version: 1\n{code}"), tmp_path / "mlsupply.yaml")


def problem(tmp_path: Path, code: str) -> Problem:
    with pytest.raises(ManifestError) as info:
        parse(tmp_path, code)
    (only,) = info.value.problems
    return only


def test_paths_and_exclude_become_a_typed_declaration(tmp_path: Path) -> None:
    manifest = parse(tmp_path, 'code:\n  paths: [src/]\n  exclude: ["src/legacy/*", "*_test.py"]\n')

    assert manifest.code is not None
    assert manifest.code.paths == (tmp_path / "src",)
    assert manifest.code.path_texts == ("src/",)
    assert manifest.code.exclude == ("src/legacy/*", "*_test.py")
    assert manifest.code.span is not None
    assert manifest.code.span.line == 3


def test_an_exclude_that_is_not_a_list_names_its_line_and_the_fix(tmp_path: Path) -> None:
    found = problem(tmp_path, "code:\n  paths: [src/]\n  exclude: src/legacy/*\n")

    assert (found.line, found.key_path) == (4, "code.exclude")
    assert found.message == "expected a list, got str 'src/legacy/*'"
    assert 'e.g. ["src/legacy/*", "*_test.py"]' in found.fix


def test_an_exclude_pattern_that_is_not_a_string_is_named_by_its_index(tmp_path: Path) -> None:
    found = problem(tmp_path, "code:\n  paths: [src/]\n  exclude: [{a: b}]\n")

    assert (found.line, found.key_path) == (4, "code.exclude[0]")
    assert found.message == "expected a string, got a mapping"


def test_a_code_section_without_paths_is_refused_rather_than_checking_nothing(
    tmp_path: Path,
) -> None:
    found = problem(tmp_path, 'code: {exclude: ["*_test.py"]}\n')

    assert (found.key_path, found.message) == ("code.paths", "missing paths")
    assert "paths: [src/]" in found.fix


def test_an_unknown_key_in_code_suggests_the_known_one(tmp_path: Path) -> None:
    found = problem(tmp_path, "code: {paths: [src/], excludes: [x]}\n")

    assert (found.key_path, found.message) == ("code.excludes", "unknown key 'excludes'")
    assert found.fix == "did you mean 'exclude'?"


def test_a_missing_code_path_names_where_it_was_looked_for(tmp_path: Path) -> None:
    found = problem(tmp_path, "code: {paths: [lib/]}\n")

    assert found.key_path == "code.paths[0]"
    assert "'lib/' does not exist" in found.message
