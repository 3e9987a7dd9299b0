"""New projects that imitate a tracked dependency, from the newest-packages RSS feed on loopback."""

from __future__ import annotations

from pytest_mlsupply.results import Severity
from tests.monitor.index_env import facts, index_env

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>torchh added to PyPI</title><link>https://pypi.org/project/torchh/</link></item>
</channel></rss>
"""


def test_a_new_project_that_imitates_a_tracked_dependency_is_high_and_keyed_by_its_name() -> None:
    with index_env() as env:
        env.pypi.register("tourch")
        (alert,) = env.alerts()
        assert facts(alert) == ("MLS-MON-201", "high", "pypi:torch", "tourch")
        assert "inserted 'u'" in alert.evidence
        assert env.alerts() == []  # still in the feed: not raised again


def test_an_unrelated_new_project_raises_nothing_but_is_remembered() -> None:
    with index_env() as env:
        env.pypi.register("left-pad-but-python")
        assert env.alerts() == []
        assert "left-pad-but-python" in env.cursors["pypi-rss:packages"]["seen"]


def test_a_look_alike_registered_after_the_baseline_is_raised_on_the_next_poll() -> None:
    with index_env() as env:
        env.pypi.register("numpy-helpers")
        assert env.alerts() == []
        env.pypi.register("reqeusts", minutes=5)
        (alert,) = env.alerts()
        assert (alert.subject, alert.key) == ("pypi:requests", "reqeusts")
        assert env.cursors["pypi-rss:packages"]["latest"].startswith("2025-06-01T12:05")


def test_a_weaker_resemblance_is_medium() -> None:
    with index_env() as env:
        env.pypi.register("torch-utils")
        (alert,) = env.alerts()
        assert alert.severity == Severity.MEDIUM


def test_a_name_with_a_bidirectional_control_is_escaped_in_the_alert() -> None:
    with index_env() as env:
        env.pypi.register("torc\u202eh")  # RIGHT-TO-LEFT OVERRIDE: reorders what follows
        (alert,) = env.alerts()
        assert alert.key == "torc\u202eh"
        for text in (alert.title, alert.evidence, alert.remediation):
            assert "\u202e" not in text
        assert "'torc\\u202eh'" in alert.title


def test_a_feed_that_declares_entities_is_an_outage_and_keeps_the_feed_cursor() -> None:
    with index_env() as env:
        env.pypi.register("numpy-helpers")
        env.alerts()
        kept = env.cursors["pypi-rss:packages"]
        env.pypi.faults["/rss/packages.xml"] = ("body", BILLION_LAUGHS)
        result = env.poll()
        (outage,) = result.outages
        assert (outage.source, outage.subject) == ("index", "pypi-rss:packages")
        assert "EntitiesForbidden" in outage.reason
        assert "pypi-rss:packages" not in result.cursors
        assert env.cursors["pypi-rss:packages"] == kept
        assert "pypi:torch" in result.cursors  # the other subjects went on


def test_a_feed_that_lists_no_project_is_an_outage_not_a_quiet_day() -> None:
    with index_env() as env:
        env.alerts()
        kept = env.cursors["pypi-rss:packages"]
        env.pypi.newest.clear()  # a mirror that serves the path but keeps no feed
        result = env.poll()
        (outage,) = result.outages
        assert outage.subject == "pypi-rss:packages"
        assert "lists no project" in outage.reason
        assert "pypi-rss:packages" not in result.cursors
        assert env.cursors["pypi-rss:packages"] == kept


def test_an_answer_that_is_not_rss_is_an_outage() -> None:
    with index_env() as env:
        env.pypi.faults["/rss/packages.xml"] = ("body", b"<html><body>maintenance</body></html>")
        (outage,) = env.poll().outages
        assert "not RSS" in outage.reason
        env.pypi.faults["/rss/packages.xml"] = ("body", b"{not xml")
        (outage,) = env.poll().outages
        assert "not XML" in outage.reason
