"""The benign ecosystem corpus scans clean: what real libraries write is not a false alarm.

Each artifact of :mod:`tests.ecosystem` is built with its real library at test time (into one
folder per test session) and scanned with the artifact scanner at the default policy. "Clean" is
read strictly: no scan error and no finding at all, except the low and medium notes listed in
:data:`KNOWN_NOISE` with why; nothing at or above the default fail level (high) is ever
accepted. Artifacts that wait for another slice of issue 8 are strict xfails with the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.results import DEFAULT_THRESHOLD, Finding, Severity
from tests.conftest import require
from tests.ecosystem import (
    JOBLIB_COMPRESSIONS,
    Artifact,
    build_all,
    sklearn_artifacts,
    sklearn_estimators,
    static_artifacts,
)

#: Notes below the fail level that real files get today, by artifact and rule, with why.
KNOWN_NOISE: dict[str, dict[str, str]] = {
    "pandas-dataframe-to-pickle-zip.pkl": {
        # A zip of one pickle member is read as a torch checkpoint missing its layout.
        "MLS-TORCH-009": "pandas' zip compression holds one pickle member, not a torch layout",
    },
}

STATIC = static_artifacts()
#: The formats whose engines run the pickle machine.
PICKLED = {"pickle", "joblib", "pytorch-legacy"}


@pytest.fixture(scope="session")
def ecosystem_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ecosystem")


def _problems(artifact: Artifact, path: Path) -> list[str]:
    """Scan errors and findings beyond the artifact's known noise, as readable lines."""
    report = scan_file(path, artifact.name)
    noise = KNOWN_NOISE.get(artifact.name, {})
    lines = [f"error: {error}" for error in report.errors]
    # Clean must mean read: every artifact is a pickle at some depth (a torch zip's data.pkl,
    # a decompressed joblib stream), and the pickle engine must have been the one to read it.
    if not PICKLED & set(report.formats.values()):
        lines.append(f"never read as a pickle: formats {report.formats}")
    for finding in report.findings:
        if finding.severity is Severity.INFO:
            continue  # a note that needs nothing (MLS-PKL-018: a nested load read and clean)
        if finding.severity >= DEFAULT_THRESHOLD or finding.rule not in noise:
            lines.append(_line(finding))
    return lines


def _line(finding: Finding) -> str:
    return f"{finding.severity.name} {finding.rule} {finding.title} ({finding.evidence[:120]})"


def _build(artifact: Artifact, folder: Path) -> Path:
    for module in artifact.needs:
        require(module)
    ((_, built),) = list(build_all(folder, [artifact]))
    assert isinstance(built, Path), f"could not build {artifact.name}: {built}"
    return built


def _params() -> list[object]:
    out: list[object] = []
    for artifact in STATIC:
        marks = []
        if artifact.waiting:
            marks.append(pytest.mark.xfail(strict=True, reason=artifact.waiting))
        out.append(pytest.param(artifact, id=artifact.name, marks=marks))
    return out


def test_the_artifact_names_are_unique() -> None:
    names = [a.name for a in STATIC]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("artifact", _params())
def test_an_artifact_made_by_its_library_scans_clean(
    artifact: Artifact, ecosystem_dir: Path
) -> None:
    path = _build(artifact, ecosystem_dir)

    assert _problems(artifact, path) == []


@pytest.mark.parametrize("name", sorted(KNOWN_NOISE))
def test_each_known_note_is_still_emitted_and_below_the_fail_level(
    name: str, ecosystem_dir: Path
) -> None:
    artifact = next(a for a in STATIC if a.name == name)
    path = _build(artifact, ecosystem_dir)
    findings = scan_file(path, name).findings

    assert {f.rule for f in findings} == set(KNOWN_NOISE[name])
    assert all(f.severity < Severity.HIGH for f in findings)


@pytest.mark.needs("sklearn", "joblib", "lz4")
def test_every_sklearn_estimator_fitted_and_dumped_scans_clean(ecosystem_dir: Path) -> None:
    from sklearn.utils import all_estimators

    fitted, skipped = sklearn_estimators()
    artifacts = sklearn_artifacts()
    dirty: dict[str, list[str]] = {}
    for artifact, built in build_all(ecosystem_dir / "sklearn", artifacts):
        problems = [f"not built: {built}"] if isinstance(built, str) else _problems(artifact, built)
        if problems:
            dirty[artifact.name] = problems

    assert dirty == {}
    # Every estimator is accounted for: fitted and dumped plain, or skipped with its reason.
    assert len(fitted) + len(skipped) == len(all_estimators())
    assert skipped == {}, "estimators that could not be fitted (give them inputs)"
    plain = [
        a for a in artifacts if a.name.removeprefix("sklearn-").removesuffix(".joblib") in fitted
    ]
    assert len(plain) == len(fitted)
    assert {f"sklearn-all-joblib-{c}.joblib" for c in JOBLIB_COMPRESSIONS} <= {
        a.name for a in artifacts
    }
    assert {f"sklearn-all-p{p}.pkl" for p in (2, 3, 4, 5)} <= {a.name for a in artifacts}


@pytest.mark.needs("sklearn")
def test_the_corpus_holds_at_least_150_artifacts() -> None:
    assert len(STATIC) + len(sklearn_artifacts()) >= 150
