"""The scanner's test corpus: real-format malicious and benign artifacts, built by code.

Each family module (``tests/corpus/<family>.py``) defines ``SAMPLES: list[Sample]``. A malicious
sample's payload only touches a canary file; where its victim loader exists on this machine,
``victim`` is Python source that loads the artifact the way a user would, and the corpus tests
run it in a subprocess to prove the sample real (the canary appears). Scanning never creates it.
"""

from __future__ import annotations

import importlib
import pkgutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    name: str
    """Unique, readable: ``torch-zip-reduce-os-system``."""
    build: Callable[[Path, Path], Path]
    """``build(directory, canary)`` writes the artifact into ``directory`` and returns its path
    (a file, or a directory for repository-level samples). ``canary`` is the file a payload
    would create."""
    malicious: bool
    rules: tuple[str, ...] = ()
    """Rule ids the scanner must report at high or above (any one suffices) for a malicious
    sample; empty for benign samples, which must produce nothing at high or above."""
    technique: str = ""
    victim: str | None = None
    """Python source run as ``python -c`` with ``ARTIFACT`` and ``CANARY`` defined as str paths;
    loading the artifact must create the canary. None when no loader exists here."""
    requires: tuple[str, ...] = field(default=())
    """Importable modules the victim needs (the proof is skipped when one is missing)."""


#: What proves a payload runs: a dangerous import or call.
EXEC_RULES = ("MLS-PKL-001", "MLS-PKL-002")


def system_call(canary: Path) -> bytes:
    """A protocol 2 pickle that runs os.system('touch <canary>')."""
    command = f"touch {canary}".encode()
    return b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(command)) + command + b"\x85R."


def file_sample(
    name: str,
    build_bytes: Callable[[Path], bytes],
    technique: str,
    victim: str | None,
    *,
    filename: str = "model.pkl",
    rules: tuple[str, ...] = EXEC_RULES,
    requires: tuple[str, ...] = (),
    malicious: bool = True,
) -> Sample:
    """A sample that is one file, ``filename``, holding ``build_bytes(canary)``."""

    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / filename
        path.write_bytes(build_bytes(canary))
        return path

    return Sample(name, build, malicious, rules if malicious else (), technique, victim, requires)


def all_samples() -> list[Sample]:
    samples: list[Sample] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        samples.extend(getattr(module, "SAMPLES", []))
    names = [s.name for s in samples]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates, f"duplicate corpus sample names: {sorted(duplicates)}"
    return samples
