"""Adversarial review of the monitor's package-index source (session 29).

Each test drives :class:`~pytest_mlsupply.monitor.index_watch.IndexSource` against the loopback
PyPI (JSON API and newest-packages feed) and OSV servers, poll after poll, with the index
changing in between as a hostile or careless publisher, a mirror, or the user's own pins would
change it. The promise under test: every change the docs list is raised once, and a fault is an
outage, never a crash of the whole source.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pytest_mlsupply.cli import main
from pytest_mlsupply.monitor.alerts import TrackedDependency, WatchList
from pytest_mlsupply.monitor.index_watch import IndexSource
from pytest_mlsupply.results import Severity
from tests.monitor.index_env import TORCH_WEIGHTS_ONLY, WATCH, facts, index_env, torch_index
from tests.monitor.pypi_server import release_file
from tests.typosquat.index_server import closed_port_url, serve
from tests.vulns.servers import AdvisoryServer, advisory_server

LINUX_251 = "torch-2.5.1-cp311-none-linux_x86_64.whl"
MAC_251 = "torch-2.5.1-cp311-none-macosx_11_0_arm64.whl"


# -- releases ------------------------------------------------------------------------------------


def test_a_whole_release_deleted_from_the_index_is_raised_for_each_of_its_files() -> None:
    # PyPI lets a maintainer (or whoever took over the account) delete a release outright; the
    # pinned release's files vanishing is at least as bad as one file of it vanishing.
    with index_env() as env:
        env.alerts()
        had = dict(env.cursors["pypi:torch"]["releases"]["2.5.1"])
        del env.pypi.projects["torch"]["2.5.1"]
        env.pypi.serial += 1
        alerts = env.alerts()
        assert sorted(facts(a) for a in alerts) == sorted(
            ("MLS-MON-206", "high", "pypi:torch", f"{filename}@removed-{digest}")
            for filename, digest in had.items()
        )
        assert env.alerts() == []


def test_a_project_deleted_and_registered_again_between_two_polls_is_not_a_mere_new_release() -> (
    None
):
    # The 404 is never seen when the name is taken again before the next poll: what the poll
    # sees is every release it knew gone and a new one in their place.
    with index_env() as env:
        env.alerts()
        env.pypi.projects["torch"] = {}
        env.pypi.publish("torch", "2.7.0", release_file("torch-2.7.0.tar.gz", b"not torch"))
        alerts = env.alerts()
        removed = {a.key.split("@")[0] for a in alerts if a.rule == "MLS-MON-206"}
        assert {LINUX_251, MAC_251} <= removed
        assert any(a.severity >= Severity.HIGH for a in alerts)


def test_a_version_already_yanked_is_raised_when_a_requirements_file_starts_pinning_it() -> None:
    # The first poll raises a pinned version that is already yanked; a pin moved to a yanked
    # version after the first poll is the same risk and must not go unsaid.
    with index_env() as env:
        assert env.alerts() == []  # 2.4.0 is yanked, nobody pins it yet
        pinned_now = WatchList(dependencies=(TrackedDependency("torch", ("2.4.0",)),))
        alerts = env.alerts(pinned_now)
        assert [(a.rule, a.severity) for a in alerts] == [("MLS-MON-203", Severity.HIGH)]
        assert env.alerts(pinned_now) == []


# -- the newest-packages feed ------------------------------------------------------------------


def test_a_look_alike_still_in_the_feed_is_raised_when_the_dependency_it_imitates_is_tracked() -> (
    None
):
    # The docs promise a dependency's first poll raises the look-alikes the feed shows; the
    # feed's memory of names seen must not hide one seen while nobody tracked what it imitates.
    requests_only = WatchList(dependencies=(TrackedDependency("requests", ()),))
    with index_env() as env:
        env.pypi.register("t0rch")
        assert env.alerts(requests_only) == []
        (alert,) = env.alerts(WATCH)
        assert facts(alert) == ("MLS-MON-201", "high", "pypi:torch", "t0rch")
        assert env.alerts(WATCH) == []


def test_more_registrations_between_two_polls_than_the_feed_shows_is_reported_not_passed() -> None:
    # The feed shows the last 40 registrations: when none of them was seen before and all are
    # newer than the newest seen, registrations in between were never shown to the monitor.
    with index_env() as env:
        env.pypi.register("left-pad-but-python")
        assert env.alerts() == []
        env.pypi.newest = []
        for minute in range(1, 41):
            env.pypi.register(f"unrelated-project-{minute}", minutes=minute)
        result = env.poll()
        assert result.alerts == []
        assert [o.subject for o in result.outages] == ["pypi-rss:packages#gap"]
        assert "missed" in result.outages[0].reason
        assert "pypi-rss:packages" in result.cursors  # the feed's own cursor moves on
        env.pypi.register("unrelated-project-41", minutes=41)
        assert env.poll().outages == []  # the window overlaps again: no gap


def test_a_feed_whose_window_overlaps_the_last_poll_reports_no_gap() -> None:
    with index_env() as env:
        env.pypi.register("left-pad-but-python")
        env.alerts()
        for minute in range(1, 40):
            env.pypi.register(f"unrelated-project-{minute}", minutes=minute)
        assert env.poll().outages == []


# -- hostile answers ----------------------------------------------------------------------------


def test_a_project_answer_nested_too_deep_for_the_parser_is_an_outage_of_that_project() -> None:
    nested = b'{"info": {}, "releases": {"1.0": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
    with index_env() as env:
        env.pypi.faults["/pypi/torch/json"] = ("body", nested)
        result = env.poll()
        assert [o.subject for o in result.outages] == ["pypi:torch"]
        assert "pypi:requests" in result.cursors  # the other dependency is polled all the same


def test_a_digest_that_is_not_a_sha256_is_an_outage_not_an_alert_that_quotes_it() -> None:
    # A mirror's sha256 is free text: an escape sequence in it would reach every sink raw.
    with index_env() as env:
        env.alerts()
        entry = env.pypi.projects["torch"]["2.5.1"][0]
        entry["digests"]["sha256"] = "\x1b[2J\x1b[31mall clear\x1b[0m"
        result = env.poll()
        assert [o.subject for o in result.outages] == ["pypi:torch"]
        assert all("\x1b" not in a.evidence and "\x1b" not in a.key for a in result.alerts)


@contextmanager
def osv_answering(body: bytes) -> Iterator[str]:
    """An OSV ``/v1/query`` on loopback that answers ``body`` to every query, with HTTP 200."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_an_advisory_answer_nested_too_deep_is_an_outage_not_a_crash_of_the_index_poll() -> None:
    nested = b'{"vulns": [' + b"[" * 200_000 + b"]" * 200_000 + b"]}"
    with serve(torch_index()) as index, osv_answering(nested) as osv:
        source = IndexSource(
            pypi_url=index.url, vulnerabilities={"service": "osv", "url": osv}, timeout=5.0
        )
        result = source.poll(WATCH, {})
        assert [o.subject for o in result.outages] == ["pypi-osv:torch"]
        assert "pypi:torch" in result.cursors  # the index's part of the poll stands
        assert "pypi:requests" in result.cursors  # unpinned: no advisories asked, polled
        assert "pypi-rss:packages" in result.cursors


def test_an_advisory_id_with_an_escape_sequence_is_quoted_escaped() -> None:
    record = copy.deepcopy(TORCH_WEIGHTS_ONLY)
    record["id"], record["aliases"] = "GHSA-\x1b[2J\x1b[32mok", []
    record["modified"] = "2025-04-21T18:45:00Z\x1b]0;pwned\x07"
    with index_env(records=[record]) as env:
        (alert,) = env.alerts()
        for text in (alert.key, alert.title, alert.evidence, alert.remediation):
            assert "\x1b" not in text
            assert "\x07" not in text


def test_an_advisory_already_raised_is_raised_again_for_a_version_pinned_since() -> None:
    # A second requirements file (or a downgrade) pins another affected version: the advisory
    # was raised for the first pin only, and nothing says the new pin is affected too.
    both = WatchList(dependencies=(TrackedDependency("torch", ("2.3.1", "2.5.1")),))
    with index_env(records=[TORCH_WEIGHTS_ONLY]) as env:
        (first,) = env.alerts()
        assert "2.3.1" not in first.title
        (again,) = env.alerts(both)
        assert again.rule == "MLS-MON-208"
        assert again.id != first.id
        assert "2.3.1" in again.title
        assert env.alerts(both) == []


def test_a_filename_served_again_with_other_bytes_after_its_release_was_deleted_is_critical() -> (
    None
):
    # PyPI never lets a filename be uploaded twice, deleted or not: the same name with another
    # digest after a deletion is the index (or a mirror) serving other bytes, not a new release.
    with index_env() as env:
        env.alerts()
        files = env.pypi.projects["torch"].pop("2.5.1")
        env.pypi.serial += 1
        assert {a.rule for a in env.alerts()} == {"MLS-MON-206"}
        env.pypi.publish("torch", "2.5.1", release_file(LINUX_251, b"other bytes"), files[1])
        alerts = env.alerts()
        replaced = [a for a in alerts if a.rule == "MLS-MON-204"]
        assert [(a.severity, a.key.split("@")[0]) for a in replaced] == [
            (Severity.CRITICAL, LINUX_251)
        ]
        assert env.alerts() == []


def test_a_tracked_name_absent_from_the_index_then_registered_by_someone_is_raised() -> None:
    # An internal package tracked by name, absent from the public index: someone registering
    # it there is dependency confusion. The first poll that sees it must not be a silent baseline.
    internal = WatchList(dependencies=(TrackedDependency("acme-internal-utils", ("1.0.0",)),))
    with index_env() as env:
        (absent,) = env.alerts(internal)
        assert absent.rule == "MLS-MON-207"
        env.pypi.publish(
            "acme-internal-utils",
            "99.0.0",
            release_file("acme_internal_utils-99.0.0-py3-none-any.whl", b"exfiltrate"),
        )
        alerts = env.alerts(internal)
        assert any(a.severity >= Severity.HIGH for a in alerts), [facts(a) for a in alerts]
        assert any("99.0.0" in a.title for a in alerts)
        assert env.alerts(internal) == []


def test_an_advisory_of_one_pin_is_raised_when_another_pin_of_the_project_cannot_be_asked() -> None:
    # A legacy pin (``===`` of a version PEP 440 cannot read) is an outage every poll: the
    # advisory found for the other pin must not wait for it, forever.
    pins = WatchList(dependencies=(TrackedDependency("torch", ("2.5.1", "2.5.1-acme.build")),))
    with index_env(records=[TORCH_WEIGHTS_ONLY]) as env:
        result = env.poll(pins)
        assert [o.subject for o in result.outages] == ["pypi-osv:torch"]
        assert [a.rule for a in result.alerts] == ["MLS-MON-208"]
        assert "pypi-osv:torch" not in result.cursors  # the failed pin is asked again next poll


def test_a_file_replaced_while_the_advisory_service_was_down_on_the_first_poll_is_raised() -> None:
    with index_env(records=[TORCH_WEIGHTS_ONLY]) as env:
        env.osv.mode = "500"
        result = env.poll()
        assert [o.subject for o in result.outages] == ["pypi-osv:torch"]
        entry = env.pypi.projects["torch"]["2.5.1"][0]
        entry["digests"]["sha256"] = "f" * 64  # the index now serves other bytes
        env.osv.mode = "ok"
        alerts = env.alerts()
        assert "MLS-MON-204" in {a.rule for a in alerts}


# -- the watch loop and the requirements files ----------------------------------------------------


def test_a_pin_changed_in_requirements_during_a_long_running_watch_is_polled_on_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `mlsupply watch --interval` runs for days; a requirements file bumped meanwhile (a merged
    # upgrade) pins another version, and its advisories are the watch's business from then on.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("torch==2.6.0\n")
    out = tmp_path / "alerts.jsonl"
    pypi = torch_index()
    pypi.register("t0rch")  # the first run's alert: proof that it ended
    with serve(pypi) as index, advisory_server(AdvisoryServer(records=[TORCH_WEIGHTS_ONLY])) as osv:
        (tmp_path / "mlsupply.yaml").write_text(
            "version: 1\n"
            "requirements:\n  - {file: requirements.txt}\n"
            f"vulnerabilities: {{service: osv, url: '{osv.url}'}}\n"
            "monitor: {dependencies: [torch]}\n"
        )
        monkeypatch.setenv("MLSUPPLY_PYPI_URL", index.url)
        monkeypatch.setenv("HF_ENDPOINT", closed_port_url())
        monkeypatch.delenv("MLSUPPLY_WEBHOOK_URL", raising=False)

        def keys() -> list[str]:
            found = []
            for line in out.read_text().splitlines() if out.exists() else []:
                with suppress(ValueError):  # a line still being written
                    found.append(str(json.loads(line).get("key", "")))
            return found

        def drive() -> None:
            deadline = time.monotonic() + 20
            try:
                while not keys() and time.monotonic() < deadline:
                    time.sleep(0.05)
                requirements.write_text("torch==2.5.1\n")
                while time.monotonic() < deadline and not any(
                    k.startswith("CVE-2025-32434@") for k in keys()
                ):
                    time.sleep(0.05)
            finally:
                # The loop's handler ends it cleanly; never sent to a process without it.
                if not finished.is_set() and signal.getsignal(signal.SIGTERM) is not original:
                    os.kill(os.getpid(), signal.SIGTERM)

        original = signal.getsignal(signal.SIGTERM)
        finished = threading.Event()

        driver = threading.Thread(target=drive, daemon=True)
        driver.start()
        status = main(
            [
                "watch",
                "--config",
                str(tmp_path / "mlsupply.yaml"),
                "--interval",
                "0.2",
                "--jsonl",
                str(out),
            ]
        )
        finished.set()
        driver.join(30)
    assert status == 1  # high alerts were raised
    assert "t0rch" in keys()
    assert any(k.startswith("CVE-2025-32434@") for k in keys())


def test_the_record_of_deleted_releases_is_bounded_for_a_project_that_prunes_its_nightlies() -> (
    None
):
    with index_env() as env:
        for n in range(600):
            env.pypi.publish("torch", f"2.7.0.dev{n}", release_file(f"torch-dev{n}.tar.gz", b"n"))
        env.alerts()
        for n in range(600):
            del env.pypi.projects["torch"][f"2.7.0.dev{n}"]
        env.pypi.serial += 1
        env.alerts()
        deleted = env.cursors["pypi:torch"]["deleted"]
        assert len(deleted) <= 500
        assert "2.7.0.dev599" in deleted  # the most recent deletions are the ones kept


def test_a_feed_date_past_any_calendar_is_an_unknown_date_not_a_crash_of_the_index_poll() -> None:
    feed = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>t0rch added to PyPI</title><link>https://pypi.org/project/t0rch/</link>"
        b"<pubDate>Mon, 01 Jan 99999999999 00:00:00 GMT</pubDate></item></channel></rss>"
    )
    with index_env() as env:
        env.pypi.faults["/rss/packages.xml"] = ("body", feed)
        result = env.poll()
        assert result.outages == []
        assert [(a.rule, a.key) for a in result.alerts] == [("MLS-MON-201", "t0rch")]
        assert "pypi:torch" in result.cursors


def test_a_release_version_of_thousands_of_digits_is_not_a_crash_of_the_index_poll() -> None:
    # packaging raises ValueError, not InvalidVersion, past Python's int digit limit.
    huge = "9" * 5000
    with index_env() as env:
        env.alerts()
        env.pypi.publish("torch", huge, release_file("torch-huge.tar.gz", b"x"))
        result = env.poll()
        assert result.outages == []
        assert [a.rule for a in result.alerts] == ["MLS-MON-202"]
        assert "pypi:requests" in result.cursors


#: One poll against a feed naming projects thousands of characters long, run in a child process
#: whose address space is capped: a detector that spells out a long name's deletions (cubic in
#: its length) dies of MemoryError there instead of taking the machine with it.
_LONG_NAMES_POLL = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1536 * 1024 * 1024, 1536 * 1024 * 1024))
from tests.monitor.index_env import index_env
with index_env() as env:
    env.pypi.register("ab" * 1500)
    env.pypi.register("1" * 40000 + "x", minutes=1)
    env.pypi.register("t0rch", minutes=2)
    result = env.poll()
    assert result.outages == [], result.outages
    print(sorted(a.key for a in result.alerts))
"""


def test_a_feed_naming_a_project_thousands_of_characters_long_is_checked_in_bounded_time() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _LONG_NAMES_POLL],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['t0rch']"
    assert time.monotonic() - started < 30
