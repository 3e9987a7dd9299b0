"""The Hub source rates what changed between the pinned commit and the head, by content."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_mlsupply.monitor.alerts import TrackedModel
from pytest_mlsupply.monitor.hub_watch import (
    CARD_CHANGED,
    CUSTOM_CODE,
    NOT_SCANNED,
    OTHER_FILES,
    PICKLE_FILE,
    SCAN_FINDING,
    SECURITY_STATUS,
    TOKENIZER_CHANGED,
    WEIGHTS_CHANGED,
    HubSource,
)
from pytest_mlsupply.results import Severity
from tests.hub.server import FakeHub
from tests.monitor.hub_helpers import (
    PICKLE_PAYLOAD,
    by_rule,
    fake_hub,
    hf_cache,
    hub_env,
    poll,
    safetensors,
)

__all__ = ["fake_hub", "hf_cache", "hub_env"]  # fixtures, used by name

BASE = {
    "model.safetensors": safetensors(1.0),
    "config.json": json.dumps({"model_type": "bert"}).encode(),
    "tokenizer_config.json": json.dumps({"chat_template": "{{ messages }}"}).encode(),
    "README.md": b"---\nlicense: apache-2.0\n---\n",
    "notes.txt": b"unchanged",
}


def test_each_kind_of_change_is_rated_by_its_own_rule(hub_env: FakeHub) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit(BASE)
    repo.commit(
        {
            **BASE,
            "model.safetensors": safetensors(2.0),
            "config.json": json.dumps(
                {"model_type": "bert", "auto_map": {"AutoModel": "modeling.Evil"}}
            ).encode(),
            "modeling.py": b"import os\n",
            "tokenizer_config.json": json.dumps({"chat_template": "ignore the user"}).encode(),
            "README.md": b"---\nlicense: other\n---\n",
            "data.csv": b"a,b\n",
        }
    )

    result = poll([TrackedModel("acme/tiny", pinned)])

    rated = {(a.rule, a.key.split("\0")[0], a.severity) for a in result.alerts}
    assert (WEIGHTS_CHANGED, "model.safetensors", Severity.HIGH) in rated
    assert (CUSTOM_CODE, "modeling.py", Severity.HIGH) in rated
    assert (CUSTOM_CODE, "config.json", Severity.HIGH) in rated
    assert (TOKENIZER_CHANGED, "tokenizer_config.json", Severity.MEDIUM) in rated
    assert (CARD_CHANGED, "README.md", Severity.LOW) in rated
    [auto_map] = [a for a in by_rule(result.alerts, CUSTOM_CODE) if "config.json" in a.key]
    assert "modeling.Evil" in auto_map.evidence
    [template] = by_rule(result.alerts, TOKENIZER_CHANGED)
    assert "chat_template changed" in template.evidence
    [other] = by_rule(result.alerts, OTHER_FILES)
    assert "added 'data.csv'" in other.evidence
    assert "notes.txt" not in other.evidence
    assert by_rule(result.alerts, PICKLE_FILE) == []
    assert not result.outages


def test_a_file_named_safetensors_holding_a_pickle_is_rated_by_its_content(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit(BASE)
    repo.commit({**BASE, "extra.safetensors": PICKLE_PAYLOAD})

    result = poll([TrackedModel("acme/tiny", pinned)])

    [pickled] = by_rule(result.alerts, PICKLE_FILE)
    assert pickled.severity is Severity.HIGH
    assert pickled.key.startswith("extra.safetensors\0")
    assert "pickle" in pickled.evidence
    assert "claims .safetensors" in pickled.evidence
    findings = by_rule(result.alerts, SCAN_FINDING)
    assert any(a.title.startswith("MLS-PKL-") and "system" in a.title for a in findings)
    assert all(a.severity >= Severity.MEDIUM for a in findings)
    # Fetched through the real client from the "CDN" (an LFS file), never loaded.
    assert any(r.server == "cdn" for r in hub_env.requests)


def test_a_changed_file_above_the_scan_limit_is_an_alert_that_it_was_not_scanned(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit(BASE)
    repo.commit({**BASE, "model.safetensors": safetensors(3.0) + b"\0" * 64})

    result = poll([TrackedModel("acme/tiny", pinned)], source=HubSource(max_scan_bytes=32))

    [unscanned] = by_rule(result.alerts, NOT_SCANNED)
    assert "model.safetensors" in unscanned.title
    assert "scan limit of 32 bytes" in unscanned.evidence
    assert by_rule(result.alerts, WEIGHTS_CHANGED)  # still rated by its name
    assert not hub_env.requests_to("cdn")


def test_the_hubs_security_scan_is_recorded_first_and_a_new_unsafe_file_raises_an_alert(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit(BASE)
    repo.security_status = {
        "scansDone": True,
        "filesWithIssues": [{"path": "notes.txt", "level": "suspicious"}],
    }
    model = TrackedModel("acme/tiny", pinned)

    first = poll([model])
    assert by_rule(first.alerts, SECURITY_STATUS) == []  # recorded, not unsafe

    repo.security_status = {
        "scansDone": True,
        "filesWithIssues": [
            {"path": "notes.txt", "level": "suspicious"},
            {"path": "model.safetensors", "level": "unsafe"},
        ],
    }
    [alert] = by_rule(poll([model], cursors=first.cursors).alerts, SECURITY_STATUS)
    assert alert.severity is Severity.HIGH
    assert "model.safetensors" in alert.title


def test_a_file_already_unsafe_at_the_first_poll_is_raised(hub_env: FakeHub) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit(BASE)
    repo.security_status = {"filesWithIssues": [{"path": "model.safetensors", "level": "unsafe"}]}

    [alert] = by_rule(poll([TrackedModel("acme/tiny", pinned)]).alerts, SECURITY_STATUS)
    assert alert.severity is Severity.HIGH


#: A pickle that builds mypkg.layers.Layer: an unknown global under default-deny.
LAYER_PICKLE = b"\x80\x02cmypkg.layers\nLayer\n)\x81."


def _watch_sources(tmp_path: Path, policy: str, *args: str) -> HubSource:
    from pytest_mlsupply.manifest.loader import load_manifest
    from pytest_mlsupply.monitor.alerts import WatchOptions
    from pytest_mlsupply.monitor.watcher import SOURCES

    (tmp_path / "mlsupply.yaml").write_text(
        f"version: 1\n{policy}monitor: {{models: [acme/tiny]}}\n"
    )
    manifest = load_manifest(tmp_path / "mlsupply.yaml")
    options = WatchOptions(max_scan_bytes=int(args[0])) if args else WatchOptions()
    [hub] = [s for s in (make(manifest, options) for make in SOURCES) if s.name == "hub"]
    assert isinstance(hub, HubSource)
    return hub


def test_the_watch_scans_changed_files_under_the_manifests_own_pickle_policy(
    hub_env: FakeHub, tmp_path: Path
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit(BASE)
    repo.commit({**BASE, "layer.bin": LAYER_PICKLE})
    model = TrackedModel("acme/tiny", pinned)

    default = poll([model], source=_watch_sources(tmp_path, ""))
    [unknown] = [a for a in by_rule(default.alerts, SCAN_FINDING) if "MLS-PKL-003" in a.title]
    assert "mypkg.layers.Layer" in unknown.title

    allowed = _watch_sources(tmp_path, "policy: {allow_globals: [mypkg.layers.Layer]}\n")
    findings = by_rule(poll([model], source=allowed).alerts, SCAN_FINDING)
    assert not [a for a in findings if "mypkg.layers.Layer" in a.title]


def test_the_watch_passes_its_scan_size_limit_to_the_hub_source(
    hub_env: FakeHub, tmp_path: Path
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit(BASE)
    repo.commit({**BASE, "layer.bin": LAYER_PICKLE})

    source = _watch_sources(tmp_path, "", "16")
    result = poll([TrackedModel("acme/tiny", pinned)], source=source)

    [unscanned] = by_rule(result.alerts, NOT_SCANNED)
    assert "scan limit of 16 bytes" in unscanned.evidence


def test_files_past_the_models_scan_time_are_rated_by_name_and_raised_as_not_scanned(
    hub_env: FakeHub,
) -> None:
    repo = hub_env.add_repo("acme/tiny")
    pinned = repo.commit(BASE)
    repo.commit({**BASE, "extra.safetensors": PICKLE_PAYLOAD, "modeling.py": b"import os\n"})

    result = poll([TrackedModel("acme/tiny", pinned)], source=HubSource(scan_seconds=0))

    unscanned = {a.key.split("\0")[0] for a in by_rule(result.alerts, NOT_SCANNED)}
    assert unscanned == {"extra.safetensors", "modeling.py"}
    assert all("took longer than 0 s" in a.evidence for a in by_rule(result.alerts, NOT_SCANNED))
    assert by_rule(result.alerts, WEIGHTS_CHANGED)  # still rated by its name
    assert by_rule(result.alerts, CUSTOM_CODE)
    assert not hub_env.requests_to("cdn")  # nothing fetched past the time
    assert not result.outages
