"""The persistent content cache: a re-run with nothing changed reads no artifact's bytes, and a
cached entry never turns a finding into a pass.

Reads are counted with an audit hook on ``open`` (every way Python opens a file raises it), not
with timings: a warm run that opens no model file cannot have hashed or scanned one.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.content_store import (
    FOLDER_NAME,
    ContentStore,
    FileIdentity,
    cli_store_folder,
)
from pytest_mlsupply.engines.blob import ScanPolicy
from tests.conftest import (
    Project,
    build_hub_cache,
    comparable_matrix,
    write_pickle_payload,
)

# PROTO 2, GLOBAL 'mypkg.models Net', EMPTY_TUPLE, NEWOBJ, STOP: an unknown class, nothing else.
UNKNOWN_CLASS_PICKLE = b"\x80\x02cmypkg.models\nNet\n)\x81."

_WATCHED: list[tuple[Path, list[str]]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _WATCHED or not isinstance(args[0], (str, bytes, os.PathLike)):
        return
    path = os.path.abspath(os.fsdecode(args[0]))
    for folder, seen in _WATCHED:
        if path.startswith(str(folder) + os.sep):
            seen.append(os.path.relpath(path, folder))


# Audit hooks cannot be removed: one for the whole test process, recording only inside `reads`.
if not getattr(sys, "_mlsupply_test_read_hook", False):
    sys.addaudithook(_audit)
    sys._mlsupply_test_read_hook = True  # type: ignore[attr-defined]


@contextmanager
def reads(folder: Path) -> Iterator[list[str]]:
    """The files under ``folder`` opened (by this process) inside the block."""
    seen: list[str] = []
    _WATCHED.append((folder.resolve(), seen))
    try:
        yield seen
    finally:
        _WATCHED.pop()


def settle() -> None:
    """Let the files just written age past the store's "racy" window (see RACY_NS): a file
    changed within a timestamp tick of its read is, rightly, not cached."""
    time.sleep(0.15)


@pytest.fixture(autouse=True)
def own_secret(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test signs with a secret of its own, outside the project (as a user's is)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))


def entries(root: Path) -> list[Path]:
    folder = root / ".pytest_cache" / "d" / FOLDER_NAME
    return sorted(folder.glob("*/*.json"))


def entry_for(root: Path, name: str) -> tuple[Path, dict[str, Any]]:
    for path in entries(root):
        data = json.loads(path.read_text())
        if data["key"]["file"]["path"].endswith(os.sep + name):
            return path, data
    raise AssertionError(f"no entry for {name}")


#: Parsed by provenance checks (the card's claims, the config's architecture), which are not
#: whole-file content work and not cached; every other file is served from the store.
PROVENANCE_READS = {"README.md", "config.json"}

#: Only the model's artifact items: the dependency audit is not what these tests are about.
ARTIFACTS = ["-k", "artifact"]


def test_a_warm_run_reads_no_artifact_and_a_tampered_pin_still_fails(
    pytester: pytest.Pytester, project: Project
) -> None:
    weights = project.model_dir / "model.safetensors"
    settle()
    with reads(project.model_dir) as cold:
        first = pytester.runpytest("--mlsupply", "-q", *ARTIFACTS)
    assert first.ret == 0, first.stdout.str()
    assert {"model.safetensors", "config.json"} <= set(cold)
    matrix = comparable_matrix(project.root / "build" / "mlsupply-matrix.json")

    with reads(project.model_dir) as warm:
        second = pytester.runpytest("--mlsupply", "-q", *ARTIFACTS)
    assert second.ret == 0, second.stdout.str()
    assert set(warm) <= PROVENANCE_READS
    assert comparable_matrix(project.root / "build" / "mlsupply-matrix.json") == matrix

    # Same size, a different last weight, and the old mtime put back: only ctime tells.
    before = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (weights.stat().st_size, weights.stat().st_mtime_ns) == (
        before.st_size,
        before.st_mtime_ns,
    )
    settle()
    with reads(project.model_dir) as after:
        third = pytester.runpytest("--mlsupply", "-q", *ARTIFACTS)
    assert third.ret == pytest.ExitCode.TESTS_FAILED
    third.stdout.fnmatch_lines(["*MLS-PIN-001*does not match its sha256 pin*"])
    assert "model.safetensors" in after


def test_cached_findings_still_fail_and_a_doctored_entry_or_a_failed_scan_is_not_trusted(
    pytester: pytest.Pytester, project: Project
) -> None:
    write_pickle_payload(project.model_dir / "model.pkl")
    # A truncated pickle: the scan reports what it saw and an error (it could not finish).
    truncated = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00tr"
    (project.model_dir / "truncated.pkl").write_bytes(truncated)
    project.default_manifest(top="policy: {pickle_formats: scan}")
    # With its digest: the BOM hashes a file itself when no sha256 item ran (-k).
    select = ["-k", "pkl and (scan or sha256)"]
    settle()
    first = pytester.runpytest("--mlsupply", *select)
    assert first.ret == pytest.ExitCode.TESTS_FAILED

    with reads(project.model_dir) as warm:
        second = pytester.runpytest("--mlsupply", *select)
    assert second.ret == pytest.ExitCode.TESTS_FAILED
    second.stdout.fnmatch_lines(
        ["*[[]CRITICAL[]] MLS-PKL-001*os.system*", "*not a valid pickle*"], consecutive=False
    )
    assert "model.pkl" not in warm  # its findings came from the store, and still fail it
    assert "truncated.pkl" in warm  # an error is never stored: scanned again
    assert not any(
        "scans" in json.loads(path.read_text())["value"]
        for path in entries(project.root)
        if "truncated.pkl" in path.read_text()
    )

    # Someone with write access to the project "cleans" the cached report.
    path, data = entry_for(project.root, "model.pkl")
    for report in data["value"]["scans"].values():
        report["findings"] = []
    path.write_text(json.dumps(data))
    with reads(project.model_dir) as doctored:
        third = pytester.runpytest("--mlsupply", *select)
    assert third.ret == pytest.ExitCode.TESTS_FAILED
    third.stdout.fnmatch_lines(["*MLS-PKL-001*os.system*"])
    assert "model.pkl" in doctored
    # Rewritten under the user's secret, with the finding.
    assert entry_for(project.root, "model.pkl")[1]["value"]["scans"] != data["value"]["scans"]


def test_another_policy_or_new_bytes_are_scanned_again(
    pytester: pytest.Pytester, project: Project
) -> None:
    pickle = project.model_dir / "model.pkl"
    pickle.write_bytes(UNKNOWN_CLASS_PICKLE)
    project.default_manifest(
        top="policy: {pickle_formats: scan, allow_globals: [mypkg.models.Net]}"
    )
    select = ["-k", "model.pkl and (scan or sha256)"]
    settle()
    assert pytester.runpytest("--mlsupply", *select).ret == 0

    # The same bytes judged without the allowance: the cached clean report must not answer.
    project.default_manifest(top="policy: {pickle_formats: scan}")
    with reads(project.model_dir) as seen:
        denied = pytester.runpytest("--mlsupply", *select)
    assert denied.ret == pytest.ExitCode.TESTS_FAILED
    denied.stdout.fnmatch_lines(["*MLS-PKL-003*mypkg.models.Net*"])
    assert "model.pkl" in seen

    write_pickle_payload(pickle)
    settle()
    replaced = pytester.runpytest("--mlsupply", *select)
    assert replaced.ret == pytest.ExitCode.TESTS_FAILED
    replaced.stdout.fnmatch_lines(["*MLS-PKL-001*os.system*"])


def test_clearing_or_disabling_pytests_cache_gives_a_cold_run(
    pytester: pytest.Pytester, project: Project
) -> None:
    settle()
    assert pytester.runpytest("--mlsupply", "-q", *ARTIFACTS).ret == 0
    assert entries(project.root)
    for flag in (["--cache-clear"], ["-p", "no:cacheprovider"]):
        with reads(project.model_dir) as seen:
            result = pytester.runpytest("--mlsupply", "-q", *ARTIFACTS, *flag)
        assert result.ret == 0
        assert "model.safetensors" in seen, flag


def test_a_marked_test_verifies_its_model_from_the_cache_and_a_tampered_pin_still_fails(
    pytester: pytest.Pytester, project: Project
) -> None:
    pytester.makepyfile(
        test_marked="""
        import pytest

        @pytest.mark.model_artifact(path="models/tiny")
        def test_uses_the_model(model_artifact):
            assert model_artifact.is_dir()
        """
    )
    settle()
    pytester.runpytest("test_marked.py").assert_outcomes(passed=1)
    with reads(project.model_dir) as warm:
        pytester.runpytest("test_marked.py").assert_outcomes(passed=1)
    assert "model.safetensors" not in warm

    weights = project.model_dir / "model.safetensors"
    before = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    result = pytester.runpytest("test_marked.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*MLS-PIN-001*"])


def test_an_entry_signed_under_another_secret_is_ignored(tmp_path: Path) -> None:
    target = tmp_path / "weights.bin"
    target.write_bytes(b"weights" * 100)
    os.utime(target, ns=(0, 10**18))  # an old mtime; the ctime is what makes it settled
    settle()
    identity = FileIdentity.of(target, target.stat())
    forger = ContentStore(tmp_path / "store", secret=b"f" * 32, fingerprint="x" * 64)
    forger.save(identity, {"sha256": "0" * 64})
    user = ContentStore(tmp_path / "store", secret=b"u" * 32, fingerprint="x" * 64)
    assert user.load(identity) is None
    assert ContentCache(user).get(target).sha256 == hashlib.sha256(target.read_bytes()).hexdigest()


def test_an_entry_of_another_scanner_version_is_not_read(tmp_path: Path) -> None:
    target = tmp_path / "weights.bin"
    target.write_bytes(b"weights")
    settle()
    identity = FileIdentity.of(target, target.stat())
    ContentStore(tmp_path / "store", secret=b"k" * 32, fingerprint="a" * 64).save(
        identity, {"sha256": "0" * 64}
    )
    newer = ContentStore(tmp_path / "store", secret=b"k" * 32, fingerprint="b" * 64)
    assert newer.load(identity) is None
    # Even moved into the new scanner's folder under the right name, its key says otherwise.
    (old,) = (tmp_path / "store" / ("a" * 32)).glob("*.json")
    data = json.loads(old.read_text())
    expected = newer._entry(newer._key(identity))
    expected.parent.mkdir(parents=True, exist_ok=True)
    expected.write_text(json.dumps(data))
    assert newer.load(identity) is None


def test_a_file_written_just_before_its_read_is_not_cached(tmp_path: Path) -> None:
    target = tmp_path / "weights.bin"
    store = ContentStore(tmp_path / "store", secret=b"k" * 32, fingerprint="c" * 64)
    target.write_bytes(b"fresh")
    assert ContentCache(store).get(target).sha256  # read within the racy window
    assert store.writes == 0
    settle()
    assert ContentCache(store).get(target).sha256
    assert store.writes == 1


def test_a_hub_blob_is_keyed_by_the_hubs_sha256_too(tmp_path: Path) -> None:
    data = b"weights" * 10
    snapshot = build_hub_cache(tmp_path / "hub", "acme/tiny", "a" * 40, {"model.bin": data})
    link = snapshot / "model.bin"
    identity = FileIdentity.of(link, link.stat())
    assert identity.hub_sha256 == hashlib.sha256(data).hexdigest()
    plain = tmp_path / "model.bin"
    plain.write_bytes(data)
    assert FileIdentity.of(plain, plain.stat()).hub_sha256 is None


def test_one_entry_serves_the_digest_the_format_and_the_scan(tmp_path: Path) -> None:
    target = write_pickle_payload(tmp_path / "model.pkl")
    store = ContentStore(tmp_path / "store", secret=b"k" * 32, fingerprint="d" * 64)
    settle()
    cold = ContentCache(store).get(target)
    facts = (cold.sha256, cold.identification, cold.scan_report("m/model.pkl", ScanPolicy()))
    with reads(tmp_path) as seen:
        warm = ContentCache(store).get(target)
        again = (warm.sha256, warm.identification, warm.scan_report("m/model.pkl", ScanPolicy()))
    assert again == facts
    assert [name for name in seen if not name.startswith("store")] == []
    assert len(list((tmp_path / "store").glob("*/*.json"))) == 1


@pytest.mark.needs("xdist")
def test_two_workers_share_the_store(pytester: pytest.Pytester, project: Project) -> None:
    # Workers are other processes: a conftest logs the model files each of them opens.
    log = project.root / "reads.log"
    pytester.makeconftest(
        textwrap.dedent(
            f"""
            import os, sys

            MODELS = {str(project.model_dir.resolve())!r} + os.sep

            def _audit(event, args):
                if event != "open" or not isinstance(args[0], (str, os.PathLike)):
                    return
                path = os.path.abspath(os.fspath(args[0]))
                if path.startswith(MODELS):
                    with open({str(log)!r}, "a") as handle:
                        handle.write(os.path.basename(path) + "\\n")

            sys.addaudithook(_audit)
            """
        )
    )
    settle()
    first = pytester.runpytest_subprocess("--mlsupply", "-n", "2", *ARTIFACTS)
    assert first.ret == 0, first.stdout.str()
    assert "model.safetensors" in log.read_text().split()
    log.unlink()
    second = pytester.runpytest_subprocess("--mlsupply", "-n", "2", *ARTIFACTS)
    assert second.ret == 0, second.stdout.str()
    opened = log.read_text().split() if log.exists() else []
    assert set(opened) <= PROVENANCE_READS


def test_mlsupply_scan_hits_the_cache_on_a_second_run_and_no_cache_bypasses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_mlsupply.cli import main

    project = tmp_path / "project"
    models = project / "models"
    models.mkdir(parents=True)
    write_pickle_payload(models / "model.pkl")
    (project / ".pytest_cache").mkdir()
    monkeypatch.chdir(models)  # the store is found up the tree, where pytest keeps its own
    settle()

    assert main(["scan", "."]) == 1
    assert cli_store_folder(models) == project / ".pytest_cache" / "d" / FOLDER_NAME
    assert entries(project)
    with reads(models) as warm:
        assert main(["scan", "."]) == 1
    assert warm == []
    with reads(models) as bypass:
        assert main(["scan", "--no-cache", "."]) == 1
    assert "model.pkl" in bypass
    assert "MLS-PKL-001" in capsys.readouterr().out


def test_mlsupply_scan_makes_a_pytest_cache_that_git_ignores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlsupply.cli import main

    (tmp_path / "weights.txt").write_text("notes\n")
    monkeypatch.chdir(tmp_path)
    settle()
    main(["scan", "."])
    assert (tmp_path / ".pytest_cache" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert entries(tmp_path)


def test_mlsupply_scan_uses_the_cache_dir_the_projects_pytest_config_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlsupply.cli import main

    project = tmp_path / "project"
    models = project / "models"
    models.mkdir(parents=True)
    write_pickle_payload(models / "model.pkl")
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\ncache_dir = "build/pytest-cache"\n'
    )
    monkeypatch.chdir(models)
    settle()

    assert main(["scan", "."]) == 1

    assert cli_store_folder(models) == project / "build" / "pytest-cache" / "d" / FOLDER_NAME
    assert sorted((project / "build" / "pytest-cache" / "d" / FOLDER_NAME).glob("*/*.json"))
    assert not (models / ".pytest_cache").exists()
    assert not (project / ".pytest_cache").exists()
    with reads(models) as warm:
        assert main(["scan", "."]) == 1
    assert warm == []


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pytest.ini", "[pytest]\ncache_dir = ci/cache\n"),
        ("pyproject.toml", '[tool.pytest.ini_options]\ncache_dir = "ci/cache"\n'),
        ("tox.ini", "[pytest]\ncache_dir = ci/cache\n"),
        ("setup.cfg", "[tool:pytest]\ncache_dir = ci/cache\n"),
        ("pytest.ini", "[pytest]\n"),
    ],
    ids=["pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg", "default"],
)
def test_mlsupply_scans_cache_folder_is_the_one_pytest_resolves_from_its_config(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, text: str
) -> None:
    monkeypatch.delenv("TOX_ENV_DIR", raising=False)
    (pytester.path / name).write_text(text)
    sub = pytester.mkdir("models")
    config = pytester.parseconfigure(sub)
    assert config.cache is not None

    monkeypatch.chdir(sub)
    assert cli_store_folder(sub) == config.cache.mkdir(FOLDER_NAME)


def test_mlsupply_scan_cache_dir_beats_the_config_and_is_used_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlsupply.cli import main

    (tmp_path / "pytest.ini").write_text("[pytest]\ncache_dir = from-ini\n")
    write_pickle_payload(tmp_path / "model.pkl")
    elsewhere = tmp_path / "ci-cache"
    monkeypatch.chdir(tmp_path)
    settle()

    assert main(["scan", "--cache-dir", str(elsewhere), "."]) == 1

    assert sorted((elsewhere / "d" / FOLDER_NAME).glob("*/*.json"))
    assert (elsewhere / "CACHEDIR.TAG").is_file()  # tagged and git-ignored as pytest's is
    assert not (tmp_path / "from-ini").exists()
    with reads(tmp_path) as warm:
        assert main(["scan", "--cache-dir", str(elsewhere), "."]) == 1
    assert "model.pkl" not in warm
