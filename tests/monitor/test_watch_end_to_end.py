"""``mlsupply watch`` end to end: the real Hub and package index sources, in a subprocess, against
the loopback Hub, PyPI and OSV; each alert raised once across runs, and an outage failing the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pytest_mlsupply.monitor.hub_watch import NEW_COMMITS
from pytest_mlsupply.monitor.index_watch import RULE_NEW_RELEASE
from tests.hub.server import FakeHub
from tests.monitor.hub_helpers import fake_hub, hf_cache, hub_env
from tests.monitor.index_env import torch_index
from tests.monitor.pypi_server import release_file
from tests.typosquat.index_server import serve
from tests.vulns.servers import AdvisoryServer, advisory_server

__all__ = ["fake_hub", "hf_cache", "hub_env"]  # fixtures, used by name


def watch(root: Path, env: dict[str, str]) -> tuple[int, list[dict[str, object]], str]:
    out = root / "alerts.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "pytest_mlsupply.cli", "watch", "--once", "--jsonl", str(out)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return done.returncode, lines, done.stdout + done.stderr


def test_a_watch_raises_hub_and_index_alerts_once_and_fails_closed_on_an_outage(
    hub_env: FakeHub, tmp_path: Path
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"README.md": b"v1"})
    index = torch_index()
    root = tmp_path / "project"
    root.mkdir()
    (root / "requirements.txt").write_text("torch==2.5.1\n")
    with serve(index) as pypi, advisory_server(AdvisoryServer(records=[])) as osv:
        (root / "mlsupply.yaml").write_text(
            textwrap.dedent(
                f"""\
                version: 1
                models:
                  - name: tiny
                    source: hf://acme/tiny@{pinned}
                requirements:
                  - {{file: requirements.txt}}
                vulnerabilities: {{service: osv, url: "{osv.url}"}}
                monitor: {{models: [acme/tiny], dependencies: [torch]}}
                """
            )
        )
        env = {**os.environ, "MLSUPPLY_PYPI_URL": pypi.url, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}

        status, first, output = watch(root, env)
        assert status == 0, output
        assert [line for line in first if line.get("type") == "outage"] == []

        head = repo.commit({"README.md": b"v2"}, title="Next")
        index.publish("torch", "2.7.0", release_file("torch-2.7.0-py3-none-any.whl", b"t27"))
        status, second, output = watch(root, env)
        rules = {line["rule"]: line for line in second if "rule" in line}
        assert rules[NEW_COMMITS]["key"] == head, output
        assert rules[RULE_NEW_RELEASE]["key"] == "2.7.0"
        assert status == 0  # medium and info: below the default threshold (high)

        status, third, output = watch(root, env)
        assert third == second, output  # nothing new: nothing raised again
        assert status == 0

    # The index and OSV are gone: an outage, never a quiet pass.
    status, fourth, output = watch(root, env)
    assert status == 3, output
    assert any(line.get("type") == "outage" for line in fourth[len(third) :])
