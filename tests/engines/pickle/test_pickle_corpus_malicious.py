"""Every hostile technique in the corpus is flagged, and the provable ones are proven real."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from pickle_corpus import MALICIOUS, Sample

from pytest_mlsupply.engines.pickle import PicklePolicy, scan_pickle_bytes
from pytest_mlsupply.results import Severity
from tests.conftest import require

if TYPE_CHECKING:
    from pathlib import Path

PROVABLE = [sample for sample in MALICIOUS if sample.loader]

# Runs the victim's loader on the sample; errors after the payload are the point of some samples.
_LOADER_SCRIPT = """
import io, pickle, sys
data = open(sys.argv[1], "rb").read()
try:
    {loader}
except Exception:
    pass
"""


def test_the_corpus_holds_at_least_sixty_distinct_techniques() -> None:
    names = [sample.name for sample in MALICIOUS]
    assert len(names) == len(set(names))
    assert len(names) >= 60


@pytest.mark.parametrize("mode", ["default-deny", "denylist"])
@pytest.mark.parametrize("sample", MALICIOUS, ids=lambda s: s.name)
def test_the_scanner_flags_each_technique_with_its_rule(
    sample: Sample, mode: str, tmp_path: Path
) -> None:
    canary = tmp_path / "CANARY"
    data = sample.build(str(canary))

    scan = scan_pickle_bytes(data, policy=PicklePolicy(mode=mode), origin="sample.pkl")  # type: ignore[arg-type]

    rules = {f.rule for f in scan.blocking(Severity.HIGH)}
    assert sample.rules <= rules, "\n\n".join(f.render() for f in scan.findings)
    assert not canary.exists()


@pytest.mark.parametrize("sample", PROVABLE, ids=lambda s: s.name)
def test_each_provable_sample_runs_its_payload_under_the_victim_loader(
    sample: Sample, tmp_path: Path
) -> None:
    canary = tmp_path / "CANARY"
    path = tmp_path / "sample.pkl"
    path.write_bytes(sample.build(str(canary)))
    assert sample.loader is not None
    if sample.requires:
        require(sample.requires)

    subprocess.run(
        [sys.executable, "-c", _LOADER_SCRIPT.format(loader=sample.loader), str(path)],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert canary.exists(), f"{sample.name} did not run its payload, so it proves nothing"


def test_scanning_the_whole_corpus_neither_runs_nor_imports_anything(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    samples = [sample.build(str(canary)) for sample in MALICIOUS]
    modules_before = set(sys.modules)

    for data in samples:
        scan_pickle_bytes(data, policy=PicklePolicy(), origin="sample.pkl")

    assert not canary.exists()
    assert set(sys.modules) - modules_before == set()
