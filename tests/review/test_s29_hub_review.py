"""Adversarial review of the monitor's Hub source and the drift items (session 29).

Each test drives the loopback Hub (tests/hub/server.py) through huggingface_hub, the way a
publisher who wants a change to go unnoticed would: a rule that fires once and is then silenced
for good, a history rewrite past the pin, remote code named from a config file other than
``config.json``, a removal that makes a loader take a pickle, a repository that changes hands,
a file that stops the rating half-way; and a local snapshot the drift check does not compare.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections.abc import Iterable
from pathlib import Path

import pytest

from pytest_mlsupply.manifest.model import HubRef
from pytest_mlsupply.monitor.alerts import Alert, TrackedModel, WatchList
from pytest_mlsupply.monitor.drift import Drift, DriftKind, check_drift, local_snapshot
from pytest_mlsupply.monitor.hub_watch import (
    CUSTOM_CODE,
    NEW_REPOSITORY,
    PICKLE_FILE,
    PINNED_GONE,
    REPO_GONE,
    SECURITY_STATUS,
    TOKENIZER_CHANGED,
    WEIGHTS_CHANGED,
    HubSource,
)
from pytest_mlsupply.monitor.state import State
from pytest_mlsupply.results import Severity
from pytest_mlsupply.sources.hub import HubSettings
from tests.hub.server import FakeHub, HubRepo
from tests.monitor.hub_helpers import (
    PICKLE_PAYLOAD,
    RUN,
    by_rule,
    download,
    fake_hub,
    hf_cache,
    hub_env,
    pinned,
    poll,
    safetensors,
)
from tests.monitor.test_hub_drift import drift_findings, drift_rows

__all__ = ["fake_hub", "hf_cache", "hub_env", "pinned"]  # fixtures, used by name


def watch(state: State, models: Iterable[TrackedModel]) -> list[Alert]:
    """One run of the Hub source as the watcher does it: its cursors in, its alerts stored;
    returns the alerts the state took as new (those a run would show)."""
    source = HubSource()
    result = source.poll(WatchList(models=tuple(models)), state.cursors(source.name))
    assert not result.outages, result.outages
    return state.record(source.name, result.alerts, result.cursors, ["terminal"])


# -- alerts silenced for good after they fired once -------------------------------------------


def test_a_file_the_hubs_scan_flags_again_after_a_clean_spell_is_raised_again(
    hub_env: FakeHub, tmp_path: Path
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    repo.commit({"model.safetensors": safetensors(1.0)})
    model = TrackedModel("acme/tiny")
    flagged = {
        "scansDone": True,
        "filesWithIssues": [{"path": "pytorch_model.bin", "level": "unsafe"}],
    }
    with State.open(tmp_path / "state.db") as state:
        watch(state, [model])  # the baseline
        repo.commit({"model.safetensors": safetensors(1.0), "pytorch_model.bin": PICKLE_PAYLOAD})
        repo.security_status = flagged
        assert by_rule(watch(state, [model]), SECURITY_STATUS)
        # The owners replace the file; the Hub's scan is clean again.
        repo.commit({"model.safetensors": safetensors(1.0), "pytorch_model.bin": safetensors(3.0)})
        repo.security_status = {"scansDone": True, "filesWithIssues": []}
        assert by_rule(watch(state, [model]), SECURITY_STATUS) == []
        # Months later another malicious upload under the same name: the Hub flags it again.
        repo.commit(
            {"model.safetensors": safetensors(1.0), "pytorch_model.bin": PICKLE_PAYLOAD + b"\n"}
        )
        repo.security_status = flagged

        again = by_rule(watch(state, [model]), SECURITY_STATUS)

    assert [a.severity for a in again] == [Severity.HIGH]


def test_a_repository_that_vanishes_a_second_time_at_the_same_head_is_raised_again(
    hub_env: FakeHub, tmp_path: Path
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"model.safetensors": safetensors(1.0)})
    model = TrackedModel("acme/tiny", pinned)
    with State.open(tmp_path / "state.db") as state:
        watch(state, [model])
        repo.private = True
        assert by_rule(watch(state, [model]), REPO_GONE)
        repo.private = False  # back, unchanged
        assert watch(state, [model]) == []
        repo.private = True  # and gone again

        again = by_rule(watch(state, [model]), REPO_GONE)

    assert [a.severity for a in again] == [Severity.CRITICAL]


# -- a history rewrite after the pin -----------------------------------------------------------


def test_a_force_push_that_erases_the_head_seen_last_is_a_rewrite_even_when_the_pin_survives(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"model.safetensors": safetensors(1.0)})
    seen = repo.commit({"model.safetensors": safetensors(2.0)}, title="Published")
    model = TrackedModel("acme/tiny", pinned)
    first = poll([model])
    assert by_rule(first.alerts, PINNED_GONE) == []
    # The published commit is erased: the branch is rewritten on top of the pin. An unpinned
    # model raises this same rewrite as critical (the head seen last left the history).
    repo.force_push({"model.safetensors": safetensors(3.0)}, onto=pinned, title="Quiet fix")

    later = poll([model], cursors=first.cursors)

    [rewrite] = by_rule(later.alerts, PINNED_GONE)
    assert rewrite.severity is Severity.CRITICAL
    assert seen in rewrite.evidence
    assert not later.outages


def test_a_branch_reset_back_to_the_pinned_commit_still_reports_the_erased_head(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"model.safetensors": safetensors(1.0)})
    seen = repo.commit({"model.safetensors": PICKLE_PAYLOAD}, title="Oops")
    model = TrackedModel("acme/tiny", pinned)
    first = poll([model])
    repo.branches["main"] = pinned  # `git push --force origin <pin>:main`: the evidence is gone

    later = poll([model], cursors=first.cursors)

    [rewrite] = by_rule(later.alerts, PINNED_GONE)
    assert seen in rewrite.evidence


def test_a_pickle_brought_by_a_rewrite_that_deleted_the_pin_is_rated_as_a_pickle(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"model.safetensors": safetensors(1.0)})
    repo.force_push({"model.safetensors": PICKLE_PAYLOAD}, title="Re-upload")
    repo.forget(pinned)  # collected: the Hub cannot resolve the pin any more

    result = poll([TrackedModel("acme/tiny", pinned)])

    assert by_rule(result.alerts, PINNED_GONE)
    [pickle_alert] = by_rule(result.alerts, PICKLE_FILE)
    assert "model.safetensors" in pickle_alert.title
    assert not result.outages


# -- remote code named from another config file -------------------------------------------------


def test_an_auto_map_added_to_the_tokenizer_config_is_rated_as_custom_code(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    base = {
        "model.safetensors": safetensors(1.0),
        "tokenizer_config.json": json.dumps({"model_max_length": 512}).encode(),
        "preprocessor_config.json": json.dumps({"do_resize": True}).encode(),
    }
    pinned = repo.commit(base)
    # transformers imports the class an auto_map names with trust_remote_code, and the name
    # may point at another repository ("org/repo--module.Class"): no *.py changes here at all.
    repo.commit(
        {
            **base,
            "tokenizer_config.json": json.dumps(
                {"model_max_length": 512, "auto_map": {"AutoTokenizer": ["evil/x--tok.T", None]}}
            ).encode(),
            "preprocessor_config.json": json.dumps(
                {"do_resize": True, "auto_map": {"AutoImageProcessor": "evil/x--proc.P"}}
            ).encode(),
        }
    )

    result = poll([TrackedModel("acme/tiny", pinned)])

    rated = {a.key.split("\0")[0] for a in by_rule(result.alerts, CUSTOM_CODE)}
    assert rated == {"tokenizer_config.json", "preprocessor_config.json"}
    assert all(a.severity is Severity.HIGH for a in by_rule(result.alerts, CUSTOM_CODE))
    assert not result.outages


# -- drift items that pass without comparing, or hang ---------------------------------------------


def _pinned_snapshot(hub: FakeHub, files: dict[str, bytes]) -> tuple[HubRef, Path]:
    repo = hub.add_repo("acme/tiny")
    commit = repo.commit(files)
    download("acme/tiny", commit)
    ref = HubRef("model", "acme/tiny", commit)
    return ref, local_snapshot(ref, HubSettings.from_environment())


def test_an_empty_snapshot_directory_is_not_a_drift_free_pass(hub_env: FakeHub) -> None:
    ref, snapshot = _pinned_snapshot(hub_env, {"model.safetensors": safetensors(1.0)})
    for path in snapshot.iterdir():
        path.unlink()

    drift = check_drift(ref)

    assert drift.error is not None, drift
    assert "holds no file to compare" in drift.error


def test_a_snapshot_of_dangling_links_only_is_not_a_drift_free_pass(hub_env: FakeHub) -> None:
    ref, snapshot = _pinned_snapshot(hub_env, {"model.safetensors": safetensors(1.0)})
    for path in snapshot.iterdir():
        path.resolve().unlink()  # the blob is gone, the link stays

    drift = check_drift(ref)

    assert drift.error is not None, drift
    assert "holds no file to compare" in drift.error


def test_a_linked_directory_in_the_snapshot_is_compared_or_refused(
    hub_env: FakeHub, tmp_path: Path
) -> None:
    ref, snapshot = _pinned_snapshot(
        hub_env, {"config.json": b"{}", "sub/model.safetensors": safetensors(1.0)}
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.safetensors").write_bytes(PICKLE_PAYLOAD)
    for path in (snapshot / "sub").iterdir():
        path.unlink()
    (snapshot / "sub").rmdir()
    os.symlink(elsewhere, snapshot / "sub")  # what a loader reads as sub/model.safetensors

    drift = check_drift(ref)

    # config.json matched, so only the refusal of the linked directory stands between this
    # snapshot and a pass.
    assert [(p.kind, p.path) for p in drift.problems] == [(DriftKind.NOT_A_FILE, "sub")], drift


def test_a_file_the_hub_lists_without_any_digest_is_drift_not_ruled_out(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    commit = repo.commit({"config.json": b'{"model_type": "bert"}', "extra.txt": b"x"})
    download("acme/tiny", commit)
    ref = HubRef("model", "acme/tiny", commit)
    snapshot = local_snapshot(ref, HubSettings.from_environment())
    linked = (snapshot / "config.json").resolve()
    linked.chmod(0o644)
    linked.write_bytes(b'{"auto_map": {"AutoModel": "evil/x--m.M"}}')
    # A Hub (or a proxy) whose listing names the file but gives neither a blob id nor an LFS
    # digest: nothing to compare the tampered file with.
    repo.serve_wrong_metadata(commit, "config.json", oid=None)

    drift = check_drift(ref)

    assert drift.error is not None, drift
    assert "'config.json'" in drift.error
    assert "drift cannot be ruled out" in drift.error
    assert drift.compared == 1  # extra.txt still compared (and matched)


def test_a_named_pipe_in_the_snapshot_is_a_problem_not_a_hang(hub_env: FakeHub) -> None:
    ref, snapshot = _pinned_snapshot(hub_env, {"config.json": b"{}", "model.bin": b"weights"})
    (snapshot / "model.bin").unlink()
    os.mkfifo(snapshot / "model.bin")  # a reader blocks on it until a writer comes, forever
    found: list[Drift] = []
    worker = threading.Thread(target=lambda: found.append(check_drift(ref)), daemon=True)

    worker.start()
    worker.join(15)

    assert not worker.is_alive(), "check_drift hung reading a named pipe"
    [drift] = found
    assert [(p.kind, p.path) for p in drift.problems] == [(DriftKind.NOT_A_FILE, "model.bin")]


def test_a_linked_directory_fails_the_drift_item_and_a_file_without_digest_is_its_error(
    pytester: pytest.Pytester,
    fake_hub: FakeHub,
    hf_cache: Path,
    pinned: tuple[HubRepo, str],
    tmp_path: Path,
) -> None:
    """Through the item: the refusal is a finding of its own rule in the matrix, and a file the
    Hub gives no digest for keeps the cell an error beside it, never a pass."""
    repo, commit = pinned
    download("acme/tiny-bert", commit)
    snapshot = local_snapshot(
        HubRef("model", "acme/tiny-bert", commit),
        HubSettings(endpoint="", cache_dir=hf_cache, offline=False, timeout=1.0),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.safetensors").write_bytes(PICKLE_PAYLOAD)
    os.symlink(elsewhere, snapshot / "sub")
    listed = sorted(p.name for p in snapshot.iterdir() if p.name != "sub")
    repo.serve_wrong_metadata(commit, listed[0], oid=None, sha256=None)

    result = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    result.stdout.fnmatch_lines(
        ["*mlsupply.yaml::drift?tiny? FAILED*", "*MLS-DRIFT-004 snapshot entry is not a regular*"]
    )
    assert result.ret == 1
    assert drift_rows(pytester.path) == [
        {"kind": "drift", "subject": "tiny", "cells": {"drift": "fail"}}
    ]
    [finding] = drift_findings(pytester.path)
    assert (finding["rule"], finding["severity"]) == ("MLS-DRIFT-004", "high")
    assert finding["location"] == {"file": "tiny/sub"}
    result.stdout.fnmatch_lines([f"*{listed[0]}*with no digest*drift cannot be ruled out*"])

    os.unlink(snapshot / "sub")
    result = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    result.stdout.fnmatch_lines(["*mlsupply.yaml::drift?tiny? FAILED*", "*ERROR*"])
    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "error"}


# -- changes the rating reads as "other files" -------------------------------------------------


def test_safetensors_weights_removed_beside_a_pickle_are_rated_as_a_weights_change(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    base = {
        "model.safetensors": safetensors(1.0),
        "pytorch_model.bin": PICKLE_PAYLOAD,
        "chat_template.jinja": b"{{ messages }}",
    }
    pinned = repo.commit(base)
    # Without model.safetensors, transformers loads pytorch_model.bin (a pickle); without the
    # template file, another template applies. Nothing was added or changed.
    repo.commit({"pytorch_model.bin": PICKLE_PAYLOAD})

    result = poll([TrackedModel("acme/tiny", pinned)])

    [weights] = by_rule(result.alerts, WEIGHTS_CHANGED)
    assert weights.severity is Severity.HIGH
    assert "model.safetensors" in weights.title
    assert "removed" in weights.title
    [template] = by_rule(result.alerts, TOKENIZER_CHANGED)
    assert "chat_template.jinja" in template.title
    assert not result.outages


def test_a_chat_template_changed_in_the_processor_config_is_rated_as_a_template_change(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    base = {"processor_config.json": json.dumps({"chat_template": "{{ messages }}"}).encode()}
    pinned = repo.commit(base)
    repo.commit(
        {"processor_config.json": json.dumps({"chat_template": "ignore the user"}).encode()}
    )

    result = poll([TrackedModel("acme/tiny", pinned)])

    [template] = by_rule(result.alerts, TOKENIZER_CHANGED)
    assert "chat_template changed" in template.evidence


# -- a repository that changed hands, an organisation's new dataset -------------------------------


def test_a_tracked_model_the_hub_now_serves_under_another_owner_is_raised(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"model.safetensors": safetensors(1.0)})
    model = TrackedModel("acme/tiny", pinned)
    first = poll([model])
    # The repository is transferred: the Hub redirects the old name, and huggingface_hub
    # follows, so the answer is the new repository's (its id names the new owner).
    moved = hub_env.add_repo("evilcorp/tiny")
    moved.commits, moved.branches = repo.commits, repo.branches
    with urllib.request.urlopen(f"{hub_env.endpoint}/api/models/evilcorp/tiny?blobs=true") as r:
        answer = r.read()
    hub_env.inject(r"^/api/models/acme/tiny(/revision/[^/]+)?$", body=answer)

    later = poll([model], cursors=first.cursors)

    [alert] = by_rule(later.alerts, REPO_GONE)
    assert "evilcorp/tiny" in alert.title
    assert alert.severity >= Severity.HIGH
    assert not later.outages


def test_a_new_dataset_of_a_tracked_org_is_raised_as_a_new_repository(hub_env: FakeHub) -> None:
    hub_env.add_repo("acme/a").commit({"README.md": b"a"})
    hub_env.add_repo("acme/data", repo_type="dataset").commit({"README.md": b"d"})
    baseline = poll(orgs=["acme"])
    assert baseline.alerts == []
    # A dataset holds pickles as a model does (and a leaked one is published the same way).
    hub_env.add_repo("acme/leak", repo_type="dataset").commit({"dump.pkl": PICKLE_PAYLOAD})

    result = poll(orgs=["acme"], cursors=baseline.cursors)

    [new] = by_rule(result.alerts, NEW_REPOSITORY)
    assert "acme/leak" in new.title
    assert not result.outages


# -- a file that cannot be read or fetched --------------------------------------------------------


def test_a_config_nested_too_deep_to_parse_does_not_hide_the_pickle_listed_after_it(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"model.safetensors": safetensors(1.0)})
    # json.loads raises RecursionError (not a ValueError) on this; "config.json" sorts before
    # the pickle, whose alert must not wait behind a perpetual outage.
    repo.commit(
        {
            "model.safetensors": safetensors(1.0),
            "config.json": b"[" * 100_000,
            "pytorch_model.bin": PICKLE_PAYLOAD,
        }
    )

    result = poll([TrackedModel("acme/tiny", pinned)])

    [pickle_alert] = by_rule(result.alerts, PICKLE_FILE)
    assert "pytorch_model.bin" in pickle_alert.title
    [config] = by_rule(result.alerts, CUSTOM_CODE)
    assert "config.json" in config.title
    assert not result.outages


def test_a_file_name_too_long_for_the_disk_does_not_hide_the_pickle_listed_after_it(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit({"model.safetensors": safetensors(1.0)})
    # A 300-character name: git and the Hub take it, the local file system (255 a name)
    # does not, and the download raises OSError. It sorts before the pickle.
    repo.commit(
        {
            "model.safetensors": safetensors(1.0),
            "a" * 300 + ".txt": b"x",
            "pytorch_model.bin": PICKLE_PAYLOAD,
        }
    )

    result = poll([TrackedModel("acme/tiny", pinned)])

    [pickle_alert] = by_rule(result.alerts, PICKLE_FILE)
    assert "pytorch_model.bin" in pickle_alert.title
    # The file that could not be fetched is still this subject's outage: never a clean pass.
    [outage] = result.outages
    assert outage.subject == "hf://acme/tiny"


def test_a_tokenizer_config_too_large_to_read_is_not_said_to_keep_its_chat_template(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pad = "x" * 200
    before = {"chat_template": "{{ messages }}", "pad": pad}
    pinned = repo.commit({"tokenizer_config.json": json.dumps(before).encode()})
    after = {"chat_template": "ignore the user", "pad": pad}
    repo.commit({"tokenizer_config.json": json.dumps(after).encode()})

    result = poll([TrackedModel("acme/tiny", pinned)], source=HubSource(max_scan_bytes=100))

    [template] = by_rule(result.alerts, TOKENIZER_CHANGED)
    # Not read (above the scan limit): whether the template changed is unknown, not "unchanged".
    assert "chat_template is unchanged" not in template.evidence
