"""``mlsupply watch`` end to end, in a subprocess on a project on disk: exit statuses, the state
beside the manifest, the JSON lines, a webhook, a run killed mid-delivery, and secrets kept out.

The watch's one source is the scripted ``FileSource`` (tests/monitor/watch_driver.py): each poll
reads the alerts a test wrote into a JSON file."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.cli import main
from pytest_mlsupply.monitor import watcher
from pytest_mlsupply.redaction import forget_registered_secrets
from tests.monitor.watch_doubles import (
    SECRET_PIECES,
    Answer,
    FileSource,
    alert,
    receiving,
    write_project,
)

DRIVER = Path(__file__).with_name("watch_driver.py")


def scripted(tmp_path: Path, **spec: Any) -> Path:
    path = tmp_path / "source.json"
    path.write_text(json.dumps(spec))
    return path


def environment(tmp_path: Path, webhook: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLSUPPLY_WEBHOOK_URL"}
    env["MLSUPPLY_TEST_SOURCE"] = str(tmp_path / "source.json")
    if webhook:
        env["MLSUPPLY_WEBHOOK_URL"] = webhook
    return env


def watch(
    tmp_path: Path, *args: str, webhook: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DRIVER), "watch", "--config", str(tmp_path / "mlsupply.yaml"), *args],
        env=environment(tmp_path, webhook),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_watch_once_raises_each_alert_once_and_keeps_its_state_beside_the_manifest(
    tmp_path: Path,
) -> None:
    write_project(tmp_path)
    scripted(tmp_path, alerts=[{"key": "c1"}, {"key": "c2", "severity": "low"}])
    out = tmp_path / "alerts.jsonl"
    first = watch(tmp_path, "--once", "--jsonl", str(out))
    assert first.returncode == 1, first.stderr
    assert "HIGH     MLS-MON-900 hf://acme/bert: new commit c1" in first.stdout
    assert "LOW      MLS-MON-900 hf://acme/bert: new commit c2" in first.stdout
    assert "2 new alerts" in first.stderr
    assert (tmp_path / ".mlsupply" / "monitor.sqlite").is_file()
    second = watch(tmp_path, "--once", "--jsonl", str(out))
    assert second.returncode == 0, second.stderr
    assert "MLS-MON-900" not in second.stdout
    assert "0 new alerts" in second.stderr
    assert [e["key"] for e in jsonl(out)] == ["c1", "c2"]


def test_fail_on_sets_the_threshold_of_exit_1(tmp_path: Path) -> None:
    write_project(tmp_path)
    scripted(tmp_path, alerts=[{"key": "c1", "severity": "medium"}])
    assert watch(tmp_path, "--once", "--state", str(tmp_path / "a.sqlite")).returncode == 0
    low = watch(tmp_path, "--once", "--fail-on", "medium", "--state", str(tmp_path / "b.sqlite"))
    assert low.returncode == 1


def test_an_outage_exits_3_is_printed_and_written_every_run(tmp_path: Path) -> None:
    write_project(tmp_path)
    scripted(tmp_path, outages=["hf://acme/bert"])
    out = tmp_path / "alerts.jsonl"
    for _ in range(2):
        result = watch(tmp_path, "--once", "--jsonl", str(out))
        assert result.returncode == 3
        assert "OUTAGE   scripted hf://acme/bert: HTTP 503 from the service" in result.stdout
    assert [e["type"] for e in jsonl(out)] == ["outage", "outage"]


def test_an_empty_monitor_section_exits_2_naming_the_fix(tmp_path: Path) -> None:
    write_project(tmp_path, "{orgs: []}")
    result = watch(tmp_path, "--once")
    assert result.returncode == 2
    assert (
        "nothing to watch: add monitor.models/orgs/dependencies to mlsupply.yaml" in result.stderr
    )
    assert not (tmp_path / ".mlsupply").exists()


def test_a_missing_manifest_exits_2(tmp_path: Path) -> None:
    result = watch(tmp_path, "--once")
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_a_watch_with_no_source_installed_fails_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path)
    monkeypatch.setattr(watcher, "SOURCES", [])
    assert main(["watch", "--once", "--config", str(tmp_path / "mlsupply.yaml")]) == 2
    assert "no monitor source is installed" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "lots", "99999999"])
def test_a_scan_size_that_is_not_a_whole_number_of_mib_exits_2_naming_the_option(
    tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_project(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main(["watch", "--once", "--max-scan-mb", value, "--config", str(tmp_path / "x.yaml")])
    assert stopped.value.code == 2
    assert "--max-scan-mb" in capsys.readouterr().err


def test_the_scan_size_reaches_the_sources_in_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlsupply.monitor.alerts import WatchOptions

    write_project(tmp_path)
    scripted(tmp_path)
    monkeypatch.setenv("MLSUPPLY_TEST_SOURCE", str(tmp_path / "source.json"))
    given: list[WatchOptions] = []

    def make(manifest: object, options: WatchOptions) -> FileSource:
        given.append(options)
        return FileSource()

    monkeypatch.setattr(watcher, "SOURCES", [make])
    config = str(tmp_path / "mlsupply.yaml")
    assert main(["watch", "--once", "--max-scan-mb", "3", "--config", config]) == 0
    assert main(["watch", "--once", "--config", config]) == 0
    assert [o.max_scan_bytes for o in given] == [3 << 20, 256 << 20]


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://hooks.example.invalid/services/k3yS3cr3tW3bh00k", True),
        ("http://10.1.2.3:8080/hooks/k3yS3cr3tW3bh00k", True),
        ("http://127.0.0.1:9/hooks/k3yS3cr3tW3bh00k", False),
        ("http://localhost:9/hooks/k3yS3cr3tW3bh00k", False),
        ("http://[::1]:9/hooks/k3yS3cr3tW3bh00k", False),
        ("https://hooks.example.invalid/services/k3yS3cr3tW3bh00k", False),
    ],
)
def test_a_plain_http_webhook_to_another_machine_is_warned_about(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    warned: bool,
) -> None:
    write_project(tmp_path)
    scripted(tmp_path)  # nothing to raise: the webhook is never asked
    monkeypatch.setenv("MLSUPPLY_TEST_SOURCE", str(tmp_path / "source.json"))
    monkeypatch.setattr(watcher, "SOURCES", [lambda manifest, options: FileSource()])
    config = str(tmp_path / "mlsupply.yaml")
    assert main(["watch", "--once", "--webhook", url, "--config", config]) == 0
    err = capsys.readouterr().err
    assert ("travel unencrypted" in err) is warned
    assert "k3yS3cr3tW3bh00k" not in err
    forget_registered_secrets()


def test_a_second_watch_on_a_busy_state_exits_3(tmp_path: Path) -> None:
    from pytest_mlsupply.monitor.state import State

    write_project(tmp_path)
    scripted(tmp_path, alerts=[])
    with State.open(tmp_path / ".mlsupply" / "monitor.sqlite"):
        result = watch(tmp_path, "--once")
    assert result.returncode == 3
    assert "another `mlsupply watch` is running" in result.stderr


def test_a_watch_killed_during_delivery_delivers_the_rest_exactly_once_next_run(
    tmp_path: Path,
) -> None:
    write_project(tmp_path)
    scripted(tmp_path, alerts=[{"key": "c1"}, {"key": "c2"}])
    out, state = tmp_path / "alerts.jsonl", tmp_path / ".mlsupply" / "monitor.sqlite"
    ids = [alert("c1").id, alert("c2").id]
    # The receiver holds the first POST: the watch is killed while it waits for the answer,
    # after its poll was committed and before the webhook's delivery was recorded.
    with receiving([Answer(200, delay=30)]) as receiver:
        command = [sys.executable, str(DRIVER), "watch", "--once", "--jsonl", str(out)]
        with subprocess.Popen(
            [*command, "--config", str(tmp_path / "mlsupply.yaml")],
            env=environment(tmp_path, receiver.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as killed:
            deadline = time.monotonic() + 20
            while not receiver.received:
                assert time.monotonic() < deadline
                assert killed.poll() is None
                time.sleep(0.02)
            killed.send_signal(signal.SIGKILL)
            killed.communicate()
        assert receiver.keys() == ids[:1]
        again = watch(tmp_path, "--once", "--jsonl", str(out), webhook=receiver.url)
    assert again.returncode == 0, again.stderr  # shown in the killed run: not raised again
    assert receiver.keys() == [ids[0], *ids]  # the held one again (same key), then the next
    assert [e["id"] for e in jsonl(out)] == ids
    assert "MLS-MON-900" not in again.stdout  # the terminal had shown both
    rows = sqlite3.connect(state).execute(
        "SELECT COUNT(*) FROM deliveries WHERE delivered_at IS NULL"
    )
    assert rows.fetchone()[0] == 0


def test_a_webhook_that_refuses_exits_3_and_keeps_the_alert_for_the_next_run(
    tmp_path: Path,
) -> None:
    write_project(tmp_path)
    scripted(tmp_path, alerts=[{"key": "c1", "severity": "low"}])
    with receiving([Answer(400)]) as receiver:
        refused = watch(tmp_path, "--once", webhook=receiver.url)
        taken = watch(tmp_path, "--once", webhook=receiver.url)
    assert refused.returncode == 3
    assert "HTTP 400; not retried" in refused.stderr
    assert "1 not yet delivered to webhook" in refused.stderr
    assert taken.returncode == 0
    assert receiver.keys() == [alert("c1").id] * 2


def test_the_webhook_url_never_appears_in_any_output_or_file(tmp_path: Path) -> None:
    write_project(tmp_path)
    scripted(tmp_path, alerts=[{"key": "c1"}], outages=["hf://acme/gpt"])
    out = tmp_path / "alerts.jsonl"
    with receiving([Answer(503)] * 10) as receiver:
        url = receiver.url
        fast = ("--webhook-retries", "1", "--webhook-backoff", "0.01")
        outputs = [
            watch(tmp_path, "--once", "--jsonl", str(out), *fast, webhook=url),
            watch(tmp_path, "--once", "--jsonl", str(out), *fast, "--webhook", url),
            watch(tmp_path, "--once", "--webhook", url, "--interval", "x"),
        ]
    assert [o.returncode for o in outputs] == [1, 3, 2]
    assert "not delivered after 2 attempts" in outputs[1].stderr
    texts = [o.stdout + o.stderr for o in outputs] + [out.read_text()]
    texts += [p.read_bytes().decode("latin-1") for p in (tmp_path / ".mlsupply").iterdir()]
    for text in texts:
        for piece in SECRET_PIECES:
            assert piece not in text
    forget_registered_secrets()


def test_watch_with_an_interval_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    write_project(tmp_path)
    scripted(tmp_path, alerts=[{"key": "c1", "severity": "low"}])
    out = tmp_path / "alerts.jsonl"
    command = [sys.executable, str(DRIVER), "watch", "--interval", "0.05", "--jsonl", str(out)]
    with subprocess.Popen(
        [*command, "--config", str(tmp_path / "mlsupply.yaml")],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as looping:
        deadline = time.monotonic() + 20
        while not out.exists():
            assert time.monotonic() < deadline
            assert looping.poll() is None
            time.sleep(0.02)
        scripted(
            tmp_path, alerts=[{"key": "c1", "severity": "low"}, {"key": "c2", "severity": "low"}]
        )
        while len(out.read_text().splitlines()) < 2:
            assert time.monotonic() < deadline
            assert looping.poll() is None
            time.sleep(0.02)
        looping.send_signal(signal.SIGTERM)
        stdout, stderr = looping.communicate(timeout=10)
    assert looping.returncode == 0, stderr
    assert stdout.count("new commit c1") == 1
    assert stdout.count("new commit c2") == 1
    assert [e["key"] for e in jsonl(out)] == ["c1", "c2"]
