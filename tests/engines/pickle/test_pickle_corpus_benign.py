"""Legitimate checkpoint shapes scan clean: nothing at high or above, and no error."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable

import pytest
from pickle_corpus import BENIGN

from pytest_mlsupply.engines.pickle import PicklePolicy, scan_pickle_bytes
from pytest_mlsupply.results import Severity
from tests.conftest import require


def test_the_corpus_holds_at_least_thirty_benign_cases() -> None:
    assert len(BENIGN) >= 30


@pytest.mark.parametrize("mode", ["default-deny", "denylist"])
@pytest.mark.parametrize("build", BENIGN.values(), ids=list(BENIGN))
def test_a_benign_artifact_has_no_blocking_finding_and_no_error(
    build: Callable[[str], bytes], mode: str
) -> None:
    scan = scan_pickle_bytes(build("unused"), policy=PicklePolicy(mode=mode), origin="x.pkl")  # type: ignore[arg-type]

    assert scan.error is None
    assert scan.blocking(Severity.HIGH) == [], "\n\n".join(f.render() for f in scan.findings)
    assert scan.pickles_seen >= 1


def test_a_real_torch_state_dict_scans_clean() -> None:
    require("torch")
    import torch

    buffer = io.BytesIO()
    model = torch.nn.Linear(3, 2)
    torch.save({"model": model.state_dict(), "step": 3}, buffer)

    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        member = next(name for name in archive.namelist() if name.endswith("data.pkl"))
        data = archive.read(member)
    scan = scan_pickle_bytes(data, policy=PicklePolicy(), origin="model.pt", member=member)

    assert scan.error is None
    assert scan.findings == []
    assert any(ref.dotted == "torch._utils._rebuild_tensor_v2" for ref in scan.imports)
    assert scan.persistent_ids


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_real_joblib_dump_with_interleaved_arrays_scans_clean(protocol: int) -> None:
    require("joblib")
    import joblib
    import numpy as np

    buffer = io.BytesIO()
    arrays = {
        "ints": np.arange(7, dtype=np.int32),
        "objects": np.array([1, "x"], dtype=object),
        "floats": np.zeros((3, 2)),
        "text": np.array(["abc", "de"]),
        "empty": np.zeros((0, 4)),
    }
    joblib.dump(arrays, buffer, protocol=protocol)

    scan = scan_pickle_bytes(buffer.getvalue(), policy=PicklePolicy(), origin="m.joblib")

    assert scan.error is None
    assert scan.findings == []
