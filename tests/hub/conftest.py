"""Fixtures pointing the real huggingface_hub client at a loopback Hub and an empty cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import huggingface_hub.constants
import pytest

from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.manifest.model import Manifest, OutputDecl, Policy
from pytest_mlsupply.sources.inventory import Inventory, ResolvedModel
from tests.hub.server import FakeHub


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    # A page size of 2 makes every tree listing of three or more entries paginate.
    hub = FakeHub(page_size=2).start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache, online, with no token from the environment or the user's token file."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    # No saved token either, in this process or in a subprocess a test starts.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(
        huggingface_hub.constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-stored-tokens")
    )
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    return cache


@pytest.fixture
def hub_env(fake_hub: FakeHub, hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """The client pointed at the loopback Hub (``HF_ENDPOINT``, read by our code at call time)."""
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    return fake_hub


def go_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``HF_HUB_OFFLINE=1`` does in a fresh process, for this one."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def context_for(model: ResolvedModel, contents: ContentCache | None = None) -> CheckContext:
    """A check context whose inventory holds just ``model``."""
    root = Path("/nonexistent-project")
    manifest = Manifest(
        path=root / "mlsupply.yaml",
        version=1,
        policy=Policy(),
        output=OutputDecl(bom=root / "bom.json", matrix=root / "matrix"),
        project_name="hub-tests",
        models=(model.decl,),
    )
    inventory = Inventory(manifest=manifest, models=(model,), datasets=(), dependencies=())
    return CheckContext(Policy(), inventory, contents or ContentCache())
