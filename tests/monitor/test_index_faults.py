"""The index source fails closed: every fault of the index is an outage for its subject, whose
cursor is kept, and the change it hid is reported once the index answers again."""

from __future__ import annotations

import json
import time

import pytest

from pytest_mlsupply.monitor.index_watch import IndexSource
from tests.monitor.index_env import WATCH, index_env
from tests.monitor.pypi_server import release_file
from tests.typosquat.index_server import closed_port_url

SUBJECTS = {"pypi-rss:packages", "pypi:requests", "pypi:torch", "pypi-osv:torch"}


def test_an_index_that_is_down_is_an_outage_for_every_subject_and_no_cursor_is_returned() -> None:
    down = closed_port_url()
    source = IndexSource(
        pypi_url=down, vulnerabilities={"service": "osv", "url": down}, timeout=2.0
    )
    started = time.monotonic()
    result = source.poll(WATCH, {})
    assert time.monotonic() - started < 2.0
    assert {o.subject for o in result.outages} == SUBJECTS
    assert all("cannot be reached" in o.reason for o in result.outages)
    assert result.cursors == {}
    assert result.alerts == []


def test_a_slow_index_is_an_outage_after_one_timeout_not_one_per_subject() -> None:
    with index_env(timeout=0.3) as env:
        env.pypi.delay = 1.0
        started = time.monotonic()
        result = env.poll()
        assert time.monotonic() - started < 0.9
        assert {o.subject for o in result.outages} >= {"pypi-rss:packages", "pypi:torch"}
        assert any("did not answer within 0.3 s" in o.reason for o in result.outages)
        assert not {"pypi-rss:packages", "pypi:torch", "pypi:requests"} & result.cursors.keys()


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (("status", 500), "answered HTTP 500"),
        (("status", 503), "answered HTTP 503"),
        (("body", b"<html>not json"), "not JSON"),
        (("body", json.dumps({"info": {}, "releases": []}).encode()), "'releases'"),
        (
            ("body", json.dumps({"info": {}, "releases": {"1.0": [{"filename": "x"}]}}).encode()),
            "no filename or sha256",
        ),
    ],
)
def test_a_failing_project_answer_is_an_outage_for_that_project_only(
    fault: tuple[str, object], said: str
) -> None:
    with index_env() as env:
        env.alerts()
        kept = env.cursors["pypi:torch"]
        env.pypi.faults["/pypi/torch/json"] = fault
        result = env.poll()
        (outage,) = result.outages
        assert outage.subject == "pypi:torch"
        assert said in outage.reason
        assert "pypi:torch" not in result.cursors
        assert env.cursors["pypi:torch"] == kept
        assert {"pypi:requests", "pypi-rss:packages"} <= result.cursors.keys()


def test_a_release_published_during_an_outage_is_raised_once_the_index_answers() -> None:
    with index_env() as env:
        env.alerts()
        env.pypi.publish("torch", "2.7.0", release_file("torch-2.7.0.tar.gz", b"sdist"))
        env.pypi.faults["/pypi/torch/json"] = ("status", 500)
        assert env.poll().alerts == []
        del env.pypi.faults["/pypi/torch/json"]
        (alert,) = env.alerts()
        assert alert.key == "2.7.0"
        assert env.alerts() == []


def test_the_credentials_of_a_mirror_url_never_appear_in_an_outage_or_alert() -> None:
    with index_env() as env:
        port = env.pypi.url.rsplit(":", 1)[1]
        secret = "s3cr3t-mirror-token-0d9f"
        source = IndexSource(
            pypi_url=f"http://build:{secret}@127.0.0.1:{port}",
            vulnerabilities=env.source.vulnerabilities,
            timeout=2.0,
        )
        cursors = source.poll(WATCH, {}).cursors
        env.pypi.publish("torch", "2.7.0", release_file("torch-2.7.0.tar.gz", b"sdist"))
        env.pypi.faults["/pypi/requests/json"] = ("status", 500)
        result = source.poll(WATCH, cursors)
        assert result.alerts
        assert result.outages
        shown = json.dumps([a.to_json() for a in result.alerts]) + repr(result.outages)
        assert secret not in shown
        assert "127.0.0.1" in shown


def test_an_index_url_that_is_not_http_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLSUPPLY_PYPI_URL", "pypi.internal/simple")
    with pytest.raises(ValueError, match=r"MLSUPPLY_PYPI_URL='pypi.internal/simple' is not"):
        IndexSource()
