"""``mlsupply bom diff``: what changed between two releases, read from the BOMs real gates wrote.

Release 1.2.3 of a small project pins ``requests==2.19.0``, which an OSV record (a fixture)
says is vulnerable; release 1.3.0 retrains the model (new weights), moves to
``requests==2.20.0`` (fixed) and adds ``filelock``. Both BOMs come from ``pytest --mlsupply`` run
in a subprocess, once per module.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.bom_diff import EXIT_BLOCKED, EXIT_OK, EXIT_UNREADABLE, KINDS
from pytest_mlsupply.cli import main
from tests.conftest import build_project, sha256_of, write_model
from tests.vulns.records import REQUESTS_PYSEC


@dataclass(frozen=True)
class Releases:
    old: Path
    new: Path
    old_weights: str
    new_weights: str


def gate(root: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "--mlsupply"],
        cwd=root,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        check=False,
    )
    # 1: release 1.2.3 fails on its vulnerable requests; never a report error (6).
    assert completed.returncode in (0, 1), completed.stdout + completed.stderr


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    root = tmp_path_factory.mktemp("releases")
    project = build_project(root)
    (root / "osv" / "PYSEC-2018-28.json").write_text(json.dumps(REQUESTS_PYSEC))
    (root / "requirements.txt").write_text("numpy==2.1.0\nsafetensors==0.4.5\nrequests==2.19.0\n")
    gate(root)
    old = root / "old.cdx.json"
    shutil.copy(root / "build" / "ml-bom.cdx.json", old)
    old_weights = sha256_of(project.model_dir / "model.safetensors")

    write_model(project.model_dir, seed=1)  # retrained
    project.default_manifest()  # pins the new weights
    manifest = root / "mlsupply.yaml"
    manifest.write_text(manifest.read_text().replace("version: 1.2.3", "version: 1.3.0"))
    (root / "requirements.txt").write_text(
        "numpy==2.1.0\nsafetensors==0.4.5\nrequests==2.20.0\nfilelock==3.16.1\n"
    )
    gate(root)
    new = root / "new.cdx.json"
    shutil.copy(root / "build" / "ml-bom.cdx.json", new)
    return Releases(old, new, old_weights, sha256_of(project.model_dir / "model.safetensors"))


def diff(*args: str | Path) -> int:
    return main(["bom", "diff", *(str(a) for a in args)])


def json_diff(
    releases: Releases, capsys: pytest.CaptureFixture[str], *extra: str
) -> dict[str, Any]:
    diff(releases.old, releases.new, "--format", "json", *extra)
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def changes_of(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in document["changes"] if c["kind"] == kind]


# --- what it finds -------------------------------------------------------------------------------


def test_the_json_diff_names_every_change_between_the_two_releases(
    releases: Releases, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json_diff(releases, capsys)

    assert document["old"]["version"] == "1.2.3"
    assert document["new"]["version"] == "1.3.0"
    digests = changes_of(document, "digest-change")
    weights = next(c for c in digests if c["name"] == "tiny/model.safetensors")
    assert (weights["old"], weights["new"]) == (releases.old_weights, releases.new_weights)
    # The model's own aggregate changed with it.
    assert any(c["what"] == "model" and c["field"] == "sha256" for c in digests)
    assert [c["name"] for c in changes_of(document, "dependency-added")] == ["filelock"]
    (version,) = changes_of(document, "version-change")
    assert (version["name"], version["old"], version["new"]) == ("requests", "2.19.0", "2.20.0")
    (fixed,) = changes_of(document, "fixed-vulnerability")
    assert (fixed["name"], fixed["field"], fixed["old"]) == ("PYSEC-2018-28", "requests", "2.19.0")
    assert changes_of(document, "new-vulnerability") == []
    flips = {
        (c["name"], c["field"]): (c["old"], c["new"]) for c in changes_of(document, "verdict-flip")
    }
    assert flips[("requests", "check:vulnerabilities")] == ("fail", "pass")
    assert document["blocked"] is False
    assert document["counts"]["dependency-added"] == 1


def test_the_text_diff_is_one_line_per_change_with_the_counts_first(
    releases: Releases, capsys: pytest.CaptureFixture[str]
) -> None:
    assert diff(releases.old, releases.new) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()

    assert lines[0].startswith("ML-BOM diff: 'tiny-service' '1.2.3' -> 'tiny-service' '1.3.0': ")
    assert "1 dependency-added" in lines[0]
    assert "  dependency-added    dependency 'filelock': (none) -> '3.16.1'" in lines
    assert (
        "  fixed-vulnerability vulnerability 'PYSEC-2018-28' 'requests': '2.19.0' -> (none)"
        in lines
    )
    assert (
        "  verdict-flip        dependency 'requests' check:vulnerabilities: 'fail' -> 'pass'"
        in lines
    )


def test_the_markdown_diff_is_a_table_with_the_verdict_of_the_gate_on_top(
    releases: Releases, capsys: pytest.CaptureFixture[str]
) -> None:
    code = diff(releases.old, releases.new, "--format", "markdown", "--fail-on", "dependency-added")
    text = capsys.readouterr().out

    assert code == EXIT_BLOCKED
    assert text.startswith("## ML-BOM diff\n\n`tiny-service` `1.2.3` → `tiny-service` `1.3.0`: **")
    assert "**BLOCKED: 1 change of a kind --fail-on dependency-added blocks**" in text
    assert "| **dependency-added** ⛔ | dependency `filelock` | — | — | `3.16.1` |" in text
    assert "| version-change | dependency `requests` | `version` | `2.19.0` | `2.20.0` |" in text


def test_identical_boms_have_no_changes_and_exit_zero_whatever_fail_on_says(
    releases: Releases, capsys: pytest.CaptureFixture[str]
) -> None:
    assert diff(releases.new, releases.new, "--fail-on", "any") == EXIT_OK
    assert capsys.readouterr().out.startswith(
        "ML-BOM diff: 'tiny-service' '1.3.0' -> 'tiny-service' '1.3.0': no changes\n"
    )


# --- --fail-on -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fail_on", "forward", "backward"),
    [
        ("new-vulnerability", EXIT_OK, EXIT_BLOCKED),  # going back reintroduces PYSEC-2018-28
        ("fixed-vulnerability", EXIT_BLOCKED, EXIT_OK),
        ("digest-change", EXIT_BLOCKED, EXIT_BLOCKED),
        ("new-failure", EXIT_OK, EXIT_BLOCKED),  # requests' vulnerabilities: pass -> fail
        ("lineage-change,model-removed", EXIT_OK, EXIT_OK),
        ("dependency-removed", EXIT_OK, EXIT_BLOCKED),
    ],
)
def test_fail_on_blocks_exactly_the_kinds_it_names(
    releases: Releases, fail_on: str, forward: int, backward: int
) -> None:
    assert diff(releases.old, releases.new, "--fail-on", fail_on) == forward
    assert diff(releases.new, releases.old, "--fail-on", fail_on) == backward


def test_an_unknown_kind_is_a_usage_error_that_lists_the_valid_ones(
    releases: Releases, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        diff(releases.old, releases.new, "--fail-on", "digest-change,new-vulns")

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unknown change kind 'new-vulns'; choose from: " in err
    assert all(kind in err for kind in KINDS)


# --- inputs it refuses ---------------------------------------------------------------------------


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp, bom: tmp / "missing.json", "cannot read {path}: No such file or directory"),
        (lambda tmp, bom: _text(tmp, "<bom/>"), "{path} is not JSON (line 1, column 1"),
        (
            lambda tmp, bom: write(tmp / "b.json", {"spdxVersion": "SPDX-2.3"}),
            "is not a CycloneDX BOM",
        ),
        (
            lambda tmp, bom: write(tmp / "b.json", bom | {"specVersion": "1.5"}),
            "{path} is a CycloneDX '1.5' BOM; bom diff compares CycloneDX 1.6 BOMs",
        ),
        (
            lambda tmp, bom: write(tmp / "b.json", bom | {"serialNumber": "not-a-urn"}),
            "{path}: the ML-BOM is not valid CycloneDX 1.6 JSON: at $.serialNumber",
        ),
    ],
    ids=["missing", "xml", "spdx", "cyclonedx-1.5", "schema-invalid"],
)
def test_a_bom_it_cannot_read_exits_2_naming_the_file_and_the_fix(
    releases: Releases,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Any,
    message: str,
) -> None:
    bad = make(tmp_path, json.loads(releases.new.read_text()))

    assert diff(releases.old, bad, "--fail-on", "any") == EXIT_UNREADABLE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message.format(path=bad) in captured.err


def _text(tmp: Path, text: str) -> Path:
    path = tmp / "bom.xml"
    path.write_text(text)
    return path


# --- untrusted text ------------------------------------------------------------------------------


def test_control_characters_in_a_boms_names_never_reach_the_terminal(
    releases: Releases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(releases.new.read_text())
    library = next(c for c in document["components"] if c["name"] == "filelock")
    library["name"] = "filelock\x1b[2K\rOK: nothing changed"
    evil = write(tmp_path / "evil.json", document)

    diff(releases.old, evil)
    text = capsys.readouterr().out
    diff(releases.old, evil, "--format", "markdown")
    markdown = capsys.readouterr().out

    assert "\x1b" not in text
    assert "\r" not in text
    assert "'filelock\\x1b[2K\\rOK: nothing changed'" in text
    assert "\x1b" not in markdown
    assert "`filelock\\x1b[2K\\rOK: nothing changed`" in markdown


def test_a_bom_without_the_model_aggregate_is_compared_by_the_same_recipe(
    releases: Releases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = copy.deepcopy(json.loads(releases.new.read_text()))
    model = next(c for c in document["components"] if c["type"] == "machine-learning-model")
    del model["hashes"]  # as a BOM written before models carried their own digest
    older = write(tmp_path / "older.json", document)

    assert diff(older, releases.new, "--fail-on", "digest-change") == EXIT_OK
    assert "no changes" in capsys.readouterr().out


# --- the kinds two real releases above do not exercise -------------------------------------------


def edited(releases: Releases, tmp_path: Path, edit: Any) -> Path:
    """NEW with one edit, written beside the test (still a valid CycloneDX 1.6 BOM)."""
    document = json.loads(releases.new.read_text())
    edit(document)
    tmp_path.mkdir(exist_ok=True)
    return write(tmp_path / "edited.json", document)


def the_model(document: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in document["components"] if c["type"] == "machine-learning-model")


def the_library(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in document["components"] if c.get("name") == name)


def test_a_new_base_model_is_a_lineage_change(
    releases: Releases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def rebase(document: dict[str, Any]) -> None:
        the_model(document)["pedigree"] = {
            "ancestors": [
                {"type": "machine-learning-model", "name": "acme/base", "version": "c" * 40}
            ]
        }

    rebased = edited(releases, tmp_path, rebase)

    assert diff(releases.new, rebased, "--fail-on", "lineage-change") == EXIT_BLOCKED
    assert f"lineage: (none) -> 'acme/base@{'c' * 40}'" in capsys.readouterr().out


def test_a_removed_model_and_a_changed_licence_are_named(
    releases: Releases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def mit(document: dict[str, Any]) -> None:
        the_library(document, "filelock")["licenses"] = [{"license": {"id": "MIT"}}]

    def change(document: dict[str, Any]) -> None:
        the_library(document, "filelock")["licenses"] = [{"license": {"id": "GPL-3.0-only"}}]
        document["components"].remove(the_model(document))

    before = edited(releases, tmp_path / "a", mit)
    after = edited(releases, tmp_path / "b", change)

    diff(before, after, "--format", "json")
    kinds = {c["kind"]: c for c in json.loads(capsys.readouterr().out)["changes"]}

    assert kinds["model-removed"]["name"] == "tiny"
    assert (kinds["license-change"]["old"], kinds["license-change"]["new"]) == (
        "MIT",
        "GPL-3.0-only",
    )


def _with_code(source: Path, target: Path, files: dict[str, str]) -> Path:
    """``source``'s BOM with the project code files ``files`` (path → sha256) as the gate
    writes them (a ``file`` component whose bom-ref is ``code:<path>``)."""
    document = json.loads(source.read_text())
    document["components"] += [
        {
            "type": "file",
            "bom-ref": f"code:{path}",
            "name": path,
            "hashes": [{"alg": "SHA-256", "content": digest}],
            "properties": [{"name": "mlsupply:check:code", "value": "pass"}],
        }
        for path, digest in files.items()
    ]
    target.write_text(json.dumps(document))
    return target


def test_a_code_file_dropped_added_or_changed_between_releases_is_a_change(
    releases: Releases, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _with_code(
        releases.new, tmp_path / "old.json", {"src/app.py": "a" * 64, "src/load.py": "b" * 64}
    )
    new = _with_code(
        releases.new, tmp_path / "new.json", {"src/app.py": "c" * 64, "src/util.py": "d" * 64}
    )
    code = diff(old, new, "--format", "json", "--fail-on", "code-removed")
    document = json.loads(capsys.readouterr().out)
    assert code == EXIT_BLOCKED  # the file dropped from the checks blocks
    found = {(c["kind"], c["what"], c["name"]) for c in document["changes"]}
    assert found == {
        ("code-removed", "code", "src/load.py"),
        ("code-added", "code", "src/util.py"),
        ("digest-change", "code", "src/app.py"),
    }
    (changed,) = changes_of(document, "digest-change")
    assert (changed["old"], changed["new"]) == ("a" * 64, "c" * 64)


@pytest.mark.parametrize("kind", ["machine-learning-model", "data"])
def test_a_model_or_dataset_named_twice_in_a_bom_is_refused_not_read_as_its_last_copy(
    releases: Releases, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    document = json.loads(releases.new.read_text())
    model = next(c for c in document["components"] if c["type"] == "machine-learning-model")
    for n in range(2):  # two components of one name, the second with other files
        twin = copy.deepcopy(model)
        twin["type"], twin["bom-ref"], twin["name"] = kind, f"twin-{n}", "twin"
        twin.pop("modelCard", None)
        if n:
            twin["components"] = []
        document["components"].append(twin)
    doubled = tmp_path / "doubled.json"
    doubled.write_text(json.dumps(document))
    assert diff(releases.new, doubled) == EXIT_UNREADABLE
    assert f"two {'model' if kind != 'data' else 'dataset'} components are named" in (
        capsys.readouterr().err
    )
