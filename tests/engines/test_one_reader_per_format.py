"""The scanner's shape: one reader per format, typed registries, no import cycles.

Identification and the engines parsing one format with two pieces of code is how routing holes
are born (a file one parser calls text, the other would have run). These tests keep the shape:
each format's parsing lives in one place, the orchestrator parses nothing itself, and the
engines' modules import each other in one direction only.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import pytest_mlsupply
from pytest_mlsupply.engines import registry, sniff
from pytest_mlsupply.engines.identification import Format

PACKAGE = Path(pytest_mlsupply.__file__).parent
ENGINES = PACKAGE / "engines"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every pytest_mlsupply module ``path`` imports, at any depth of the file (lazy imports
    inside functions included), type-checking-only imports excepted."""
    tree = ast.parse(path.read_text())
    checking_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            checking_only |= {id(child) for child in ast.walk(node)}
    package = (
        _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_name(path)
    )
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in checking_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in names if name.startswith("pytest_mlsupply.")}
    return found


def _engine_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ENGINES.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
    return graph


def test_the_engines_import_each_other_in_one_direction_only() -> None:
    graph = _engine_graph()
    # A package's __init__ re-exporting its submodules is not a cycle worth breaking.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        if node in done:
            return
        assert node not in visiting, " -> ".join([*visiting[visiting.index(node) :], node])
        visiting.append(node)
        for target in sorted(graph[node]):
            visit(target)
        visiting.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_the_pickle_and_torch_engines_share_helpers_through_a_module_below_them() -> None:
    graph = _engine_graph()
    pickles = "pytest_mlsupply.engines.formats.pickles"
    torch = "pytest_mlsupply.engines.formats.torch"
    assert torch not in graph[pickles]
    assert "pytest_mlsupply.engines.containers" in graph[pickles] & graph[torch]


@pytest.mark.parametrize(
    ("needle", "home"),
    [
        ("import zipfile", None),  # the one zip reader is ours: zipfile refuses what torch reads
        ("pickletools.genops", None),  # pickles are read by the machine's decoder only
        ("ast.literal_eval", "engines/formats/numpy.py"),  # the one .npy header parser
        ("zipfile.ZipFile(", None),
        ("decompressobj(", "engines/decompress.py"),  # the one decompression layer
        ("BZ2Decompressor(", "engines/decompress.py"),
        ("LZMADecompressor(", "engines/decompress.py"),
        ("LZ4FrameDecompressor(", "engines/decompress.py"),
        ("object_pairs_hook=_Pairs", "engines/formats/safetensors.py"),
    ],
)
def test_each_format_is_parsed_in_one_place(needle: str, home: str | None) -> None:
    holders = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if needle in path.read_text()
    )
    assert holders == ([home] if home else []), f"{needle!r} found in {holders}"


def test_the_orchestrator_parses_nothing_itself() -> None:
    source = inspect.getsource(sniff)
    for module in ("struct", "json", "zlib", "bz2", "lzma", "tarfile", "pickletools", "ast"):
        assert f"import {module}" not in source, module


def test_every_format_has_an_engine_or_is_identified_only() -> None:
    assert set(registry.SCANNERS) | registry.IDENTIFIED_ONLY == set(Format)
    assert not set(registry.SCANNERS) & registry.IDENTIFIED_ONLY
    assert all(callable(scan) for scan in registry.SCANNERS.values())
    assert all(callable(entry.detect) for entry in registry.DETECTORS)
