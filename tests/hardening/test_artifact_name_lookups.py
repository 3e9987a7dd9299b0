"""A module name read from an artifact is looked up without running the environment's finders.

The pickle engine asks whether a global's top-level package exists here (``_real_module``).
``importlib.util.find_spec`` asked every finder on ``sys.meta_path``: code a ``.pth`` installed
(setuptools' distutils shim clears ``distutils`` from ``sys.modules`` when asked for ``pip``,
and on 3.12+ imports setuptools when asked for ``distutils``). The audit-hook proof records such
a call as an allowed ``import.lookup`` and cannot see what the finder did.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

import pytest

from pytest_mlsupply.engines.pickle.readings import _real_module


class _EnvironmentFinder:
    """A finder as a ``.pth`` installs one (setuptools' shim): it records what it is asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        self.asked.append(fullname)
        return None


@pytest.fixture
def environment_finder() -> Iterator[_EnvironmentFinder]:
    finder = _EnvironmentFinder()
    sys.meta_path.insert(0, finder)
    _real_module.cache_clear()
    try:
        yield finder
    finally:
        sys.meta_path.remove(finder)
        _real_module.cache_clear()


def test_an_artifact_chosen_module_name_runs_no_meta_path_finder(
    environment_finder: _EnvironmentFinder,
) -> None:
    names = ("pip._internal.cli", "distutils.core", "sensitive_tests.x", "gini.dtype")
    for name in names:
        _real_module(name)
    # (The metadata reader's own lazy imports, email.parser, are no name from the artifact.)
    asked = {name.partition(".")[0] for name in environment_finder.asked}
    assert asked & {name.partition(".")[0] for name in names} == set()


def test_the_lookup_still_tells_installed_and_standard_packages_from_made_up_names(
    environment_finder: _EnvironmentFinder,
) -> None:
    assert _real_module("os.system")
    assert _real_module("yaml.constructor")  # a dependency, found on the path
    assert _real_module("pytest_mlsupply.engines")  # this package (editable install)
    assert not _real_module("gini.dtype")
    assert not _real_module("no_such_top_level_package_here_123.x")
