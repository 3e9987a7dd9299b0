"""The fuzzers' seeds: every file the test corpus builds, grouped by the format it is.

The corpus (``tests/corpus``) already builds real malicious and benign artifacts of every
format in code; the fuzzers reuse it rather than keep a second set. It is built once per process
into a temporary folder, and each file is grouped by what identification says it is, so a
target's seeds are exactly the files its parser is handed. A few payloads the corpus does not
carry in every wrapper are added here: ``builtins.open(<canary>, "w")`` and
``subprocess.call(["touch", <canary>])`` as a plain pickle, in a torch zip, a joblib dump and a
numpy object array.

Every payload only creates a file in :data:`CANARY_DIR`; a fuzz case passes only while that
folder stays empty (see :func:`assert_nothing_ran`).
"""

from __future__ import annotations

import atexit
import builtins
import functools
import io
import os
import pickle
import shutil
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from pytest_mlsupply.engines.sniff import identify
from tests.fuzz.mutate import Case

__all__ = ["CANARY", "CANARY_DIR", "assert_nothing_ran", "seeds_by_format"]

#: Seeds above this size are left out: mutating a megabyte costs time and finds nothing more.
MAX_SEED_BYTES = 1 << 20

_ROOT = Path(tempfile.mkdtemp(prefix="mlsupply-fuzz-"))
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
#: The folder every payload writes into: it must stay empty.
CANARY_DIR = _ROOT / "canary"
CANARY_DIR.mkdir()
CANARY = CANARY_DIR / "CANARY"


#: What the corpus builders themselves leave beside the canary (a sample's hub cache): only
#: these may be there.
_BUILT_BESIDE: set[str] = set()


def assert_nothing_ran() -> None:
    """Fail when a payload ran: anything new appeared in :data:`CANARY_DIR` (a mutated payload
    may have changed the canary's name, not its folder)."""
    appeared = sorted(set(os.listdir(CANARY_DIR)) - _BUILT_BESIDE)
    assert not appeared, f"a payload ran during the scan: {appeared} appeared in {CANARY_DIR}"


class _Open:
    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (builtins.open, (str(CANARY), "w"))


class _Call:
    def __reduce__(self) -> tuple[object, tuple[list[str]]]:
        return (subprocess.call, (["touch", str(CANARY)],))


def _extra_payloads() -> list[Case]:
    """The payloads of the brief in each wrapper a user loads them from."""
    import joblib
    import numpy as np

    from tests.corpus.torch import torch_zip

    cases: list[Case] = []
    for label, payload in (("open", _Open()), ("subprocess", _Call())):
        for protocol in (0, 2, 4):
            cases.append((f"{label}-p{protocol}.pkl", pickle.dumps(payload, protocol=protocol)))
        cases.append((f"{label}.pt", torch_zip(pickle.dumps({"w": payload}, protocol=2))))
        out = io.BytesIO()
        joblib.dump({"model": payload}, out)
        cases.append((f"{label}.joblib", out.getvalue()))
        out = io.BytesIO()
        np.save(out, np.array([payload, "label"], dtype=object), allow_pickle=True)
        cases.append((f"{label}.npy", out.getvalue()))
    return cases


@functools.cache
def seeds_by_format() -> dict[str, list[Case]]:
    """Format value (``pickle``, ``safetensors``...) → the seeds identified as it."""
    from tests.corpus import all_samples

    groups: dict[str, list[Case]] = defaultdict(list)
    build_root = _ROOT / "corpus"
    for index, sample in enumerate(all_samples()):
        built = sample.build(build_root / str(index), CANARY)
        files = [built] if built.is_file() else sorted(built.rglob("*"))
        for path in files:
            if path.is_symlink() or not path.is_file():
                continue
            if path.stat().st_size > MAX_SEED_BYTES:
                continue
            groups[identify(path).format.value].append((path.name, path.read_bytes()))
    extra = _ROOT / "extra"
    extra.mkdir(exist_ok=True)
    for name, data in _extra_payloads():
        path = extra / name
        path.write_bytes(data)
        groups[identify(path).format.value].append((name, data))
    assert not CANARY.exists(), "building the seeds ran a payload"
    _BUILT_BESIDE.update(os.listdir(CANARY_DIR))
    return dict(groups)
