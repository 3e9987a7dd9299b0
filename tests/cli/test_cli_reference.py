"""docs/cli.md lists every ``mlsupply`` subcommand and option the parser has (and no other), and
``--help`` is plain text: the docstrings' reStructuredText never reaches a terminal.

Subcommands are read from the parser itself, so one added later (its own module, two lines in
cli.py) fails here until the reference page has its section and rows."""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pytest_mlsupply.cli import _parser

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "cli.md"
_SECTION = re.compile(r"^## `mlsupply ([^`]+)`\s*$")
#: reStructuredText in a help text: ``literal``, `interpreted`, :role:`target`.
_MARKUP = re.compile(r"`|:(?:func|mod|class|meth|attr|data|ref|option):")


def check_docs() -> ModuleType:
    """scripts/check_docs.py, for its Markdown table reader (one parser for the docs' tables)."""
    spec = importlib.util.spec_from_file_location("check_docs", ROOT / "scripts" / "check_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_docs", module)
    spec.loader.exec_module(module)
    return module


def subcommands(*, with_groups: bool = False) -> dict[str, argparse.ArgumentParser]:
    """Every command a user types, by its words after ``mlsupply``: a group of subcommands
    (``bom``) is not one itself, its members are (``bom diff``); ``with_groups`` adds the
    groups (and ``mlsupply`` itself, as ``""``), whose help is printed too."""
    parser, _ = _parser()
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(prefix: str, node: argparse.ArgumentParser) -> None:
        groups = [a for a in node._actions if isinstance(a, argparse._SubParsersAction)]
        if not groups or with_groups:
            found[prefix] = node
        if not groups:
            return
        for group in groups:
            for name, child in group.choices.items():
                walk(f"{prefix} {name}".strip(), child)

    walk("", parser)
    return found


def parser_names(parser: argparse.ArgumentParser) -> set[str]:
    """Every option string, and each positional's metavar, but the help every parser has."""
    names: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.option_strings:
            names.update(action.option_strings)
        else:
            names.add(str(action.metavar or action.dest))
    return names


def documented() -> dict[str, set[str]]:
    """Section (``""`` for the top of the page, else the subcommand) → the options named in
    the first column of its ``option`` tables."""
    sections: dict[int, str] = {}
    current = ""
    for number, line in enumerate(REFERENCE.read_text(encoding="utf-8").splitlines(), start=1):
        match = _SECTION.match(line)
        if match:
            current = match.group(1)
        sections[number] = current
    found: dict[str, set[str]] = {"": set()}
    for section in sections.values():
        found.setdefault(section, set())
    for number, row in check_docs().tables(REFERENCE):
        if "option" not in row:
            continue
        for span in re.findall(r"`([^`]+)`", row["option"]):
            found[sections[number]].add(span.split()[0])
    return found


def test_every_subcommand_has_a_section_and_every_section_a_subcommand() -> None:
    assert set(documented()) - {""} == set(subcommands())


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_a_subcommands_options_are_exactly_those_documented(name: str) -> None:
    assert documented()[name] == parser_names(subcommands()[name])


def test_the_top_level_options_are_documented() -> None:
    parser, _ = _parser()
    assert documented()[""] == parser_names(parser) | {"-h", "--help"}


def test_the_comparison_would_see_a_missing_row() -> None:
    # Guards the guard: the page's rows are really read (not an empty set equal to nothing).
    assert {"--format", "PATH", "--cache-dir"} <= documented()["scan"]


def test_help_texts_are_plain_text_without_markup() -> None:
    for name, sub in subcommands(with_groups=True).items():
        text = sub.format_help()
        assert not _MARKUP.search(text), (name, _MARKUP.search(text))


def test_the_top_level_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_mlsupply.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "The mlsupply command line" in out
    for name in subcommands():
        assert name.split()[0] in out
