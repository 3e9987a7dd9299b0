"""pytest entry point: the options, the marker line, the fixtures, and the few hooks every
session needs; everything else is imported only when it is used.

The module is registered through the ``pytest11`` entry point as ``mlsupply``, in every session
of every project where the plugin is installed, so it costs next to nothing unless used
(docs/performance.md, "inert means free"; ``tests/plugin/test_import_hygiene.py`` guards it):

- ``--mlsupply`` (or ini ``mlsupply = true``) registers the gate's session plugin
  (:mod:`.session`): generated items and the reports;
- a test carrying ``@pytest.mark.model_artifact`` is verified whether or not the gate is on:
  the hooks below look for the marker on every test (a marker check each) and hand marked ones
  to the marker plugin (:mod:`.model_artifact`), registered on first need; so do the fixtures
  and xdist's node setup.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.plugin.options import MARKER, MARKER_HELP, add_options, is_enabled

if TYPE_CHECKING:
    from pytest_mlsupply.plugin.model_artifact import ModelArtifactPlugin
    from pytest_mlsupply.plugin.results_fixture import SupplyChainResults


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


#: The names the plugin registers its parts under (:mod:`.session`, :mod:`.model_artifact`,
#: :class:`XdistHooks`, :mod:`.prefetch`; ``tests/plugin/test_blocked_parts.py`` holds them
#: equal). Written out, not imported: this module must stay light.
PART_NAMES = (
    "mlsupply-session",
    "mlsupply-marker",
    "mlsupply-marker-xdist",
    "mlsupply-prefetch",
    "mlsupply-redaction",
)


def pytest_configure(config: pytest.Config) -> None:
    # `-p no:<name>` (on the command line, in addopts or PYTEST_ADDOPTS) makes pluggy drop a
    # registration without a word: `--mlsupply -p no:mlsupply-session` would be a green run
    # that checked nothing, and a blocked marker plugin loses the marked models from the BOM,
    # the summary and the name-conflict check. The plugin is off as a whole or not at all.
    blocked = [name for name in PART_NAMES if config.pluginmanager.is_blocked(name)]
    if blocked:
        raise pytest.UsageError(
            f"pytest-mlsupply: {', '.join('-p no:' + name for name in blocked)} would disable "
            "part of the plugin silently; remove it, or disable the whole plugin with "
            "-p no:mlsupply"
        )
    config.addinivalue_line("markers", MARKER_HELP)
    if is_enabled(config):
        from pytest_mlsupply.plugin.session import PLUGIN_NAME, MlsupplyPlugin

        config.pluginmanager.register(MlsupplyPlugin(config), PLUGIN_NAME)
        # Secrets out of pytest's own writers (junitxml, terminal, log file): plugin/redaction.py.
        from pytest_mlsupply.plugin.redaction import PLUGIN_NAME as REDACTION
        from pytest_mlsupply.plugin.redaction import RedactingReports

        config.pluginmanager.register(RedactingReports(config), REDACTION)
    elif config.getoption("mlsupply_attest"):
        # Asked for on the command line, an attestation must not silently not happen.
        raise pytest.UsageError(
            "pytest-mlsupply: --mlsupply-attest attests the gate's BOM and verdicts; "
            "add --mlsupply (or ini mlsupply = true) to run the gate"
        )
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(), PART_NAMES[2])


def _marker_plugin(config: pytest.Config) -> ModelArtifactPlugin:
    from pytest_mlsupply.plugin.model_artifact import marker_plugin

    return marker_plugin(config)


def _marked(item: pytest.Item) -> bool:
    return item.get_closest_marker(MARKER) is not None


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(
    collector: pytest.Collector, name: str, obj: object
) -> Generator[None, Any, Any]:
    result = yield
    marked = [
        item
        for item in (result if isinstance(result, list) else [result])
        if isinstance(item, pytest.Function) and _marked(item)
    ]
    if marked:
        # A marker that cannot work fails the collection of its module.
        _marker_plugin(collector.config).check_collected(collector, marked)
    return result


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # trylast: after other plugins' and conftests' hooks, which may add markers.
    marked = [item for item in items if _marked(item)]
    if marked:
        _marker_plugin(config).find_conflicts(marked)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # Before any fixture: nothing the test depends on may load an unverified model. Looked up
    # here for every test, whatever collection saw: a marker added late is verified too.
    if _marked(item):
        _marker_plugin(item.config).setup_marked(item)


@pytest.fixture
def model_artifact(request: pytest.FixtureRequest) -> Path:
    """The local snapshot of the model named by the test's ``model_artifact`` marker, returned
    only after its artifact checks passed (the closest marker's model, if there are several)."""
    return _marker_plugin(request.config).fixture_path(request.node)


@pytest.fixture(scope="session")
def mlsupply_results(pytestconfig: pytest.Config) -> SupplyChainResults:
    """The session's supply-chain results: the manifest's checks (run once, on first use) and
    every marked model verified in this process. See docs/marker.md."""
    return _marker_plugin(pytestconfig).results()


class XdistHooks:
    """Hooks that exist only when pytest-xdist is installed (registered only then)."""

    def pytest_configure_node(self, node: Any) -> None:
        # The controller: registers the marker plugin (before any report of a marked test
        # arrives) and hands every worker the directory where each model is verified once.
        from pytest_mlsupply.plugin.shared import WORKERINPUT_KEY

        plugin = _marker_plugin(node.config)
        node.workerinput[WORKERINPUT_KEY] = str(plugin.shared_directory())
