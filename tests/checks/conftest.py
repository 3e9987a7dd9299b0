"""A project on disk driven through the real pipeline: manifest → inventory → plan → runner."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub.constants
import pytest

from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.runner import run_item
from pytest_mlsupply.manifest.loader import load_manifest
from pytest_mlsupply.plan import PlannedItem, build_plan
from pytest_mlsupply.results import CheckResult
from pytest_mlsupply.sources.resolve import build_inventory
from tests.conftest import Project, build_project


class Pipeline:
    """Re-reads the manifest and the disk on every call, as a fresh pytest session would."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.contents = ContentCache()

    @property
    def model_dir(self) -> Path:
        return self.project.model_dir

    def manifest(self, text: str) -> Path:
        return self.project.manifest(text)

    def planned(self) -> tuple[list[PlannedItem], CheckContext]:
        manifest = load_manifest(self.project.root / "mlsupply.yaml")
        inventory = build_inventory(manifest)
        return build_plan(inventory), CheckContext(manifest.policy, inventory, self.contents)

    def names(self) -> list[str]:
        return [item.name for item in self.planned()[0]]

    def run(self, name: str) -> list[CheckResult]:
        plan, ctx = self.planned()
        by_name = {item.name: item for item in plan}
        assert name in by_name, f"{name} is not planned; planned: {sorted(by_name)}"
        return run_item(by_name[name], ctx)

    def result(self, name: str, check: str | None = None) -> CheckResult:
        """The item's only result, or, for a dependency item (one per check), ``check``'s."""
        results = self.run(name)
        if check is not None:
            (result,) = [r for r in results if r.check == check]
            return result
        (result,) = results
        return result


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    return Pipeline(build_project(tmp_path / "project"))


@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache, so no test reads the real one."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache
