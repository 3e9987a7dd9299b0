"""Inert means free: the entry point imports only what options, the marker line and the fixtures
need; the engines, the manifest loader, huggingface_hub and the BOM libraries wait for --mlsupply
or a marked test. A behavioural guard (which modules are loaded), not a timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Prefixes of modules that must not be imported by an inert session.
HEAVY = (
    "huggingface_hub",
    "cyclonedx",
    "jsonschema",
    "lxml",
    "yaml",
    "httpx",
    "pytest_mlsupply.engines",
    "pytest_mlsupply.checks",
    "pytest_mlsupply.manifest.loader",
    "pytest_mlsupply.manifest.model",
    "pytest_mlsupply.plugin.state",
    "pytest_mlsupply.plugin.items",
    "pytest_mlsupply.plugin.verification",
    "pytest_mlsupply.reports",
    "pytest_mlsupply.sources",
)


def _heavy(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def _env() -> dict[str, str]:
    # This checkout's package, in the child too (the venv may hold another editable install).
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def test_importing_the_entry_point_loads_none_of_the_heavy_modules() -> None:
    code = (
        "import json, sys\n"
        "import pytest_mlsupply.plugin.hooks as hooks\n"
        "assert hooks.model_artifact is not None and hooks.mlsupply_results is not None\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True
    )
    modules = json.loads(out.stdout)
    assert "pytest_mlsupply.plugin.hooks" in modules
    assert _heavy(modules) == []


def test_a_session_with_the_plugin_off_loads_none_of_the_heavy_modules(
    pytester: pytest.Pytester,
) -> None:
    # The whole session (options, configure, collection, run, summary) and not only the import:
    # the marker plugin's collection hooks look at every test, and must stay light too.
    # Other installed plugins (hydra imports yaml) are not ours: compare with the same session
    # without this plugin, and require that it adds no heavy module.
    pytester.makeconftest(
        """
        import json, sys

        def pytest_unconfigure(config):
            name = "on.json" if config.pluginmanager.has_plugin("mlsupply") else "off.json"
            with open(name, "w") as fh:
                json.dump(sorted(sys.modules), fh)
        """
    )
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    pytester.runpytest_subprocess("-p", "no:randomly").assert_outcomes(passed=1)
    pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:mlsupply").assert_outcomes(
        passed=1
    )
    on = json.loads((pytester.path / "on.json").read_text())
    off = json.loads((pytester.path / "off.json").read_text())
    assert "pytest_mlsupply.plugin.hooks" in on  # installed and registered: only inert
    assert _heavy(sorted(set(on) - set(off))) == []


def test_a_marked_test_still_loads_the_verification_it_needs(pytester: pytest.Pytester) -> None:
    # The other side of the lazy imports: a marker on a missing directory is refused at setup
    # with the verifier's own message, so the machinery was imported when it was needed.
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.model_artifact(path="models/absent")
        def test_marked(model_artifact):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*model_artifact absent*did not pass verification*"])
