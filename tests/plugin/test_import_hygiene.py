"""Inert means free, and a warm gate imports only what it runs.

The entry point imports only what options, the marker line and the fixtures need; the engines,
the manifest loader, huggingface_hub and the BOM libraries wait for --mlsupply or a marked test.
With --mlsupply, a re-run whose artifacts are all served by the content cache loads none of the
engines that only a cold scan, a provenance claim or a dependency audit runs. Behavioural guards
(which modules are loaded), not timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests.conftest import sha256_of
from tests.corpus.torch import state_dict_pickle, torch_zip

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

#: The only modules of the package an inert session loads: the entry point and its options.
INERT = (
    "pytest_mlsupply",
    "pytest_mlsupply.plugin",
    "pytest_mlsupply.plugin.hooks",
    "pytest_mlsupply.plugin.options",
)


#: Prefixes of modules a warm gate (every artifact served from the content cache) must not load:
#: the Hub client, the signers, the network clients and template engine, and the scanner with
#: its formats and pickle VM (a cold run needs those; a warm one has their findings cached);
#: and, for a project of local weights only, the code of checks and sources it does not plan.
WARM_ABSENT = (
    "huggingface_hub",
    "securesystemslib",
    "cryptography.x509",
    "requests",
    "jinja2",
    "sigstore",
    "model_signing",
    "pip_audit",
    "pytest_mlsupply.engines.scanner",
    "pytest_mlsupply.engines.formats",
    "pytest_mlsupply.engines.dsse",
    "pytest_mlsupply.engines.pickle.scan",
    # Planning local weights imports the artifact checks and the claims the models make, not
    # the dependency audit or the other claims (their lines say when they apply), nor the Hub
    # module, the marker's verification machinery or the vulnerability databases.
    "pytest_mlsupply.checks.dependency_pinned",
    "pytest_mlsupply.checks.dependency_confusion",
    "pytest_mlsupply.checks.dependency_typosquat",
    "pytest_mlsupply.checks.dependency_integrity",
    "pytest_mlsupply.checks.dependency_vulnerabilities",
    "pytest_mlsupply.checks.provenance_signature",
    "pytest_mlsupply.checks.provenance_attestation",
    "pytest_mlsupply.checks.provenance_lineage",
    "pytest_mlsupply.checks.provenance_promotion",
    "pytest_mlsupply.checks.provenance_license",
    "pytest_mlsupply.checks.provenance_card_accuracy",
    "pytest_mlsupply.checks.provenance_dataset",
    "pytest_mlsupply.engines.promotion_records",
    "pytest_mlsupply.engines.model_signature",
    "pytest_mlsupply.engines.hf_config",
    "pytest_mlsupply.licenses",
    "pytest_mlsupply.sources.hub",
    "pytest_mlsupply.sources.datasets",
    "pytest_mlsupply.sources.pipconfig",
    "pytest_mlsupply.sources.requirements",
    "pytest_mlsupply.plugin.verification",
    "pytest_mlsupply.vulns.databases",
    "pytest_mlsupply.vulns.service",
    "pytest_mlsupply.vulns.offline",
    "pytest_mlsupply.vulns.cache",
    "pytest_mlsupply.typosquat",
)


def _loaded(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in prefixes))


def _heavy(modules: list[str]) -> list[str]:
    return _loaded(modules, HEAVY)


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
    assert [m for m in modules if m.startswith("pytest_mlsupply")] == sorted(INERT)


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
    # Not even the marker's machinery or the severities: no test here carries the marker.
    assert [m for m in on if m.startswith("pytest_mlsupply")] == sorted(INERT)


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


def test_a_warm_gate_loads_none_of_the_engines_it_does_not_run(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A model of a safetensors file and a torch checkpoint, both pinned: artifact items only.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))
    model = pytester.path / "m"
    model.mkdir()
    save_file({"w": np.zeros((4, 4), dtype=np.float32)}, str(model / "model.safetensors"))
    (model / "pytorch_model.bin").write_bytes(torch_zip(state_dict_pickle({"w": (4,)})))
    pins = "".join(f'      {f.name}: "sha256:{sha256_of(f)}"\n' for f in sorted(model.iterdir()))
    (pytester.path / "mlsupply.yaml").write_text(
        "version: 1\nproject: {name: warm}\npolicy: {fail_on: critical}\n"
        f"models:\n  - name: m\n    path: m\n    card: {{}}\n    files:\n{pins}"
    )
    pytester.makeini("[pytest]\n")
    pytester.makeconftest(
        """
        import json, sys

        def pytest_unconfigure(config):
            with open("modules.jsonl", "a") as fh:
                fh.write(json.dumps(sorted(sys.modules)) + "\\n")
        """
    )
    pytester.makepyfile(test_ok="def test_ok():\n    assert True\n")
    # Files written within a timestamp tick of their read are (rightly) not cached.
    time.sleep(0.15)
    for _ in range(2):
        pytester.runpytest_subprocess("--mlsupply", "-p", "no:randomly").assert_outcomes(passed=8)
    lines = (pytester.path / "modules.jsonl").read_text().splitlines()
    cold, warm = (json.loads(line) for line in lines)
    # The cold run scanned the checkpoint (so the guard looks at modules that do get loaded) ...
    assert "pytest_mlsupply.engines.scanner" in cold
    # ... without the template engine: no file here holds a chat template (jinja2 is ~60 ms
    # of CPU that a cold gate would take from the hashing threads).
    assert _loaded(cold, ("jinja2", "pytest_mlsupply.engines.templates")) == []
    # ... the warm one took every digest, format and scan from the cache, and wrote the reports.
    assert _loaded(warm, WARM_ABSENT) == []
    assert "pytest_mlsupply.checks.provenance_model_card" in warm  # planned: it ran
    assert "pytest_mlsupply.reports.bom" in warm
    assert (pytester.path / "build" / "ml-bom.cdx.json").is_file()
