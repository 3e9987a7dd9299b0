"""What the Hub source's tests share: the loopback Hub fixtures, small artifacts, a poll, and
a project whose model is pinned on the loopback Hub (for the drift items)."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.manifest.model import HubRef
from pytest_mlsupply.monitor.alerts import Alert, SourceResult, TrackedModel, WatchList
from pytest_mlsupply.monitor.hub_watch import HubSource
from pytest_mlsupply.sources.hub import resolve_hub
from tests.conftest import Project
from tests.hub import conftest as hub_conftest
from tests.hub.server import FakeHub, HubRepo

# The loopback Hub's fixtures (tests/hub/conftest.py), for the modules that import them here.
fake_hub = hub_conftest.fake_hub
hf_cache = hub_conftest.hf_cache
hub_env = hub_conftest.hub_env


def safetensors(value: float = 1.0) -> bytes:
    """A valid one-tensor safetensors file whose single float32 is ``value``."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    return struct.pack("<Q", len(header)) + header + struct.pack("<f", value)


#: A pickle that imports and calls os.system when loaded; built by hand, never loaded.
PICKLE_PAYLOAD = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R."


def poll(
    models: Iterable[TrackedModel] = (),
    orgs: Iterable[str] = (),
    cursors: Mapping[str, Any] | None = None,
    source: HubSource | None = None,
) -> SourceResult:
    watch = WatchList(models=tuple(models), orgs=tuple(orgs))
    return (source or HubSource()).poll(watch, cursors or {})


def by_rule(alerts: Iterable[Alert], rule: str) -> list[Alert]:
    return [a for a in alerts if a.rule == rule]


RUN = ("--mlsupply", "-v", "-p", "no:cacheprovider", "-p", "no:randomly")


def download(repo_id: str, commit: str) -> None:
    """Put the commit's snapshot in the cache, as a first online run would (but in-process)."""
    resolve_hub(HubRef("model", repo_id, commit))


@pytest.fixture
def pinned(
    project: Project, fake_hub: FakeHub, hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[HubRepo, str]:
    """The project's model on the loopback Hub, pinned by the manifest: (its repo, the commit)."""
    files = {p.name: p.read_bytes() for p in project.model_dir.iterdir()}
    repo = fake_hub.add_repo("acme/tiny-bert")
    commit = repo.commit(files)
    # Set before the subprocess imports huggingface_hub, which reads them at import time.
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    project.manifest(
        f"""\
        version: 1
        models:
          - name: tiny
            source: hf://acme/tiny-bert@{commit}
        """
    )
    return repo, commit
