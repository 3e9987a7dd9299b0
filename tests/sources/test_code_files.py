"""The walk of `code.paths`: what it leaves out, what it follows, and `exclude` as .gitignore."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.sources.code import excluded, find_code_files
from tests.sources.test_code_inventory import inventory_of, touch


def subjects(root: Path, *exclude: str) -> list[str]:
    return [f.subject for f in find_code_files([root / "src"], exclude, root=root).files]


def test_a_stray_or_empty_pyvenv_cfg_does_not_hide_a_package(tmp_path: Path) -> None:
    touch(tmp_path, "src/app/load.py", "src/pkg/__init__.py", "src/pkg/m.py")
    (tmp_path / "src/app/pyvenv.cfg").write_text("")
    (tmp_path / "src/pkg/pyvenv.cfg").write_text("home = /usr/bin\n")
    assert subjects(tmp_path) == [
        "src/app/load.py",
        "src/pkg/__init__.py",
        "src/pkg/m.py",
    ]


def test_a_real_virtual_environment_is_left_out(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "src/main.py",
        "src/env/bin/activate_this.py",
        "src/env/lib/python3.11/site-packages/torch/serialization.py",
    )
    (tmp_path / "src/env/pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.2\n")
    assert subjects(tmp_path) == ["src/main.py"]


def test_a_directory_link_inside_the_project_is_followed_and_named_by_the_link(
    tmp_path: Path,
) -> None:
    touch(tmp_path, "shared/models/m.py", "src/main.py")
    (tmp_path / "src/models").symlink_to(tmp_path / "shared/models")
    listing = find_code_files([tmp_path / "src"], root=tmp_path)
    assert [f.subject for f in listing.files] == ["src/main.py", "src/models/m.py"]
    assert listing.unfollowed == []


def test_a_link_loop_is_walked_once(tmp_path: Path) -> None:
    touch(tmp_path, "src/a/m.py")
    (tmp_path / "src/a/again").symlink_to(tmp_path / "src")
    assert subjects(tmp_path) == ["src/a/m.py"]


def test_a_directory_link_out_of_the_project_is_named_not_followed(tmp_path: Path) -> None:
    project, outside = tmp_path / "project", tmp_path / "outside"
    touch(outside, "lib/m.py")
    touch(project, "src/main.py")
    (project / "src/lib").symlink_to(outside / "lib")
    (project / "src/root").symlink_to("/")
    listing = find_code_files([project / "src"], root=project)
    assert [f.subject for f in listing.files] == ["src/main.py"]
    assert listing.unfollowed == [("src/lib/", str(outside / "lib")), ("src/root/", "/")]
    # ... unless the user leaves it out on purpose.
    excluded_links = find_code_files([project / "src"], ["src/root/", "lib"], root=project)
    assert excluded_links.unfollowed == []


def test_a_link_out_of_the_project_is_an_error_item_in_the_gate(tmp_path: Path) -> None:
    project, outside = tmp_path / "project", tmp_path / "outside"
    touch(outside, "lib/m.py")
    touch(project, "src/main.py")
    (project / "src/lib").symlink_to(outside / "lib")
    inventory = inventory_of(project, "{paths: [src/]}")
    (error,) = inventory.code_errors
    assert error.subject == "src/lib/"
    assert error.message.startswith(f"a directory symlink to {outside / 'lib'}, outside the")
    assert error.message.endswith("leave the link out with code.exclude in mlsupply.yaml")


def test_a_link_out_of_the_project_makes_mlsupply_code_exit_2(tmp_path: Path) -> None:
    project, outside = tmp_path / "project", tmp_path / "outside"
    touch(outside, "lib/m.py")
    touch(project, "src/main.py")
    (project / "src/lib").symlink_to(outside / "lib")
    run = subprocess.run(
        [sys.executable, "-m", "pytest_mlsupply.cli", "code", "src"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "src/lib/" in run.stdout + run.stderr


@pytest.mark.parametrize(
    ("pattern", "subject"),
    [
        ("src/legacy/*", "src/legacy/old.py"),
        ("src/legacy/*", "src/legacy/deep/old.py"),
        ("*_test.py", "load_test.py"),
        ("*_test.py", "src/app/load_test.py"),
        ("build/", "build/gen.py"),
        ("build/", "src/build/gen.py"),
        ("**/conftest.py", "conftest.py"),
        ("**/conftest.py", "tests/unit/conftest.py"),
        ("./scripts/*", "scripts/run.py"),
        ("/scripts/*", "scripts/run.py"),
        ("src/**/gen_*.py", "src/a/b/gen_x.py"),
        ("src/**/gen_*.py", "src/gen_x.py"),
        ("src/[ab].py", "src/a.py"),
        ("tests", "tests/unit/test_x.py"),
        ("/setup.py", "setup.py"),
        ("/tests/", "tests/unit/test_x.py"),
        ("[!z-a].py", "src/b.py"),
    ],
)
def test_an_exclude_pattern_leaves_out_what_gitignore_would(pattern: str, subject: str) -> None:
    assert excluded(subject, [pattern])


@pytest.mark.parametrize(
    ("pattern", "subject"),
    [
        ("**/test_*.py", "src/test_helpers/loader.py"),
        ("test_*.py", "src/test_helpers/loader.py"),
        ("src/legacy/*", "src/legacy.py"),
        ("src/*.py", "src/app/load.py"),
        ("build/", "build.py"),
        ("load.py/", "src/load.py"),
        ("src/[!ab].py", "src/a.py"),
        ("scripts/*", "src/scripts/run.py"),
        # A leading / (or ./) anchors at the root, as in .gitignore: review R3.
        ("/setup.py", "src/pkg/setup.py"),
        ("./setup.py", "src/pkg/setup.py"),
        ("/tests/", "src/pkg/tests/test_load.py"),
        ("[z-a].py", "src/b.py"),
    ],
)
def test_an_exclude_pattern_keeps_what_gitignore_would(pattern: str, subject: str) -> None:
    assert not excluded(subject, [pattern])


def test_an_invalid_character_range_excludes_nothing_and_crashes_nothing(tmp_path: Path) -> None:
    # review R3: `[z-a]` raised re.error out of the walk (a crash of the gate's collection).
    touch(tmp_path, "src/a.py", "src/z.py")
    assert subjects(tmp_path, "[z-a].py") == ["src/a.py", "src/z.py"]


def test_a_directory_that_cannot_be_listed_is_an_error_not_a_silent_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Review R3: os.walk drops a directory it cannot list (EACCES, ENAMETOOLONG) in silence,
    # and its code had no item and no error.
    touch(tmp_path, "src/main.py", "src/secret/load.py")
    scandir = os.scandir

    def refuse(path: Any = ".") -> Any:
        if Path(path).name == "secret":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    listing = find_code_files([tmp_path / "src"], root=tmp_path)
    assert [f.subject for f in listing.files] == ["src/main.py"]
    assert listing.unreadable == [("src/secret/", "Permission denied")]
    assert find_code_files([tmp_path / "src"], ["secret/"], root=tmp_path).unreadable == []
    inventory = inventory_of(tmp_path, "{paths: [src/]}")
    (error,) = inventory.code_errors
    assert error.subject == "src/secret/"
    assert error.message.startswith("a directory that cannot be listed (Permission denied)")


def test_a_pyvenv_cfg_planted_in_a_namespace_package_hides_nothing(tmp_path: Path) -> None:
    touch(tmp_path, "src/app/models/load.py", "src/main.py")
    (tmp_path / "src/app/pyvenv.cfg").write_text("home = /usr/bin\n")
    assert subjects(tmp_path) == ["src/app/models/load.py", "src/main.py"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_a_fifo_named_pyvenv_cfg_neither_hangs_the_walk_nor_hides_the_directory(
    tmp_path: Path,
) -> None:
    # Review R3: the virtual-environment check opened pyvenv.cfg blocking: a FIFO held the walk
    # (and the gate) forever.
    touch(tmp_path, "src/app/load.py")
    os.mkfifo(tmp_path / "src/app/pyvenv.cfg")
    assert subjects(tmp_path) == ["src/app/load.py"]


def test_a_file_whose_name_is_not_utf8_is_named_with_escapes_distinct_from_a_backslash_name(
    tmp_path: Path,
) -> None:
    touch(tmp_path, "src/a.py")
    (tmp_path / os.fsdecode(b"src/\xff.py")).write_text("x = 1\n")
    (tmp_path / "src" / "\\xff.py").write_text("x = 1\n")
    listing = find_code_files([tmp_path / "src"], root=tmp_path)
    assert sorted(f.subject for f in listing.files) == [
        "src/\\\\xff.py",
        "src/\\xff.py",
        "src/a.py",
    ]
    assert all(f.path.exists() for f in listing.files)


@pytest.mark.parametrize(
    ("raw", "subject"),
    [
        ("a\nb.py", "src/a\\nb.py"),
        ("a\x1b[31mb.py", "src/a\\x1b[31mb.py"),
        ("a\u200bb.py", "src/a\\u200bb.py"),
        ("mod\u00e8le.py", "src/mod\u00e8le.py"),
    ],
)
def test_a_file_name_with_characters_that_are_not_printable_is_named_with_escapes(
    tmp_path: Path, raw: str, subject: str
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / raw).write_text("x = 1\n")
    (file,) = find_code_files([tmp_path / "src"], root=tmp_path).files
    assert file.subject == subject
    assert file.path.name == raw
