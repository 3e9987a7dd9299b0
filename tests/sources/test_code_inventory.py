"""The inventory's code files: `code.paths` listed once each, in sorted order, the same on every
process; a path that yields no file is named with the fix, never dropped."""

from __future__ import annotations

import textwrap
from pathlib import Path

from pytest_mlsupply.manifest.loader import parse_manifest
from pytest_mlsupply.plan import build_plan
from pytest_mlsupply.results import RowKind
from pytest_mlsupply.sources.inventory import Inventory
from pytest_mlsupply.sources.resolve import build_inventory


def inventory_of(root: Path, code: str) -> Inventory:
    manifest = parse_manifest(
        textwrap.dedent(f"version: 1\ncode: {code}\n"), root / "mlsupply.yaml"
    )
    return build_inventory(manifest)


def touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x = 1\n")


def test_overlapping_paths_list_each_file_once_sorted_by_subject(tmp_path: Path) -> None:
    touch(tmp_path, "src/b.py", "src/a/z.py", "src/nb.ipynb", "src/notes.txt", "tools/t.py")

    inventory = inventory_of(tmp_path, "{paths: [tools/t.py, src/, src/b.py]}")

    assert [f.subject for f in inventory.code_files] == [
        "src/a/z.py",
        "src/b.py",
        "src/nb.ipynb",
        "tools/t.py",
    ]
    assert inventory.code_errors == ()
    names = [item.name for item in build_plan(inventory) if item.kind is RowKind.CODE]
    assert names == [
        "code[src/a/z.py]",
        "code[src/b.py]",
        "code[src/nb.ipynb]",
        "code[tools/t.py]",
    ]


def test_a_directory_whose_files_are_all_excluded_is_an_error_item_named_by_the_directory(
    tmp_path: Path,
) -> None:
    touch(tmp_path, "src/app.py", "legacy/old.py")

    inventory = inventory_of(tmp_path, '{paths: [src, legacy], exclude: ["legacy/*"]}')

    assert [f.subject for f in inventory.code_files] == ["src/app.py"]
    (error,) = inventory.code_errors
    assert error.subject == "legacy/"
    assert error.message == (
        "no .py or .ipynb file under legacy (after exclude); fix: point code.paths at the "
        "directory that holds the project's Python code, or narrow code.exclude (legacy/*) in "
        "mlsupply.yaml"
    )
    planned = [item for item in build_plan(inventory) if item.kind is RowKind.CODE]
    assert [(item.name, item.checks) for item in planned] == [
        ("code[legacy/]", ("code",)),
        ("code[src/app.py]", ("code",)),
    ]


def test_a_named_file_that_is_excluded_is_an_error_not_a_silent_gap(tmp_path: Path) -> None:
    touch(tmp_path, "run_test.py")

    inventory = inventory_of(tmp_path, '{paths: [run_test.py], exclude: ["*_test.py"]}')

    (error,) = inventory.code_errors
    assert error.subject == "run_test.py"
    assert error.message.startswith("run_test.py is excluded by code.exclude; fix: remove it")


def test_no_code_section_means_no_code_items(tmp_path: Path) -> None:
    manifest = parse_manifest("version: 1\n", tmp_path / "mlsupply.yaml")

    inventory = build_inventory(manifest)

    assert (inventory.code_files, inventory.code_errors) == ((), ())
