"""One package index and one OSV service on loopback, and the index source polling them.

:meth:`IndexEnv.poll` stores the cursors a poll returns, as the watcher does, so a test reads as
a sequence of polls against an index that changes between them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from pytest_mlsupply.monitor.alerts import Alert, SourceResult, TrackedDependency, WatchList
from pytest_mlsupply.monitor.index_watch import IndexSource
from tests.monitor.pypi_server import FakePyPI, release_file
from tests.typosquat.index_server import serve
from tests.vulns.records import TORCH_WEIGHTS_ONLY
from tests.vulns.servers import AdvisoryServer, advisory_server

TORCH = "torch"
WATCH = WatchList(
    dependencies=(TrackedDependency("torch", ("2.5.1",)), TrackedDependency("requests", ()))
)


def torch_index() -> FakePyPI:
    """torch 2.4.0 (yanked), 2.5.1 (the pin) and 2.6.0; requests 2.32.3."""
    index = FakePyPI()
    index.publish(
        "torch",
        "2.4.0",
        release_file("torch-2.4.0-cp311-none-linux_x86_64.whl", b"torch 2.4.0", yanked=True),
    )
    index.publish(
        "torch",
        "2.5.1",
        release_file("torch-2.5.1-cp311-none-linux_x86_64.whl", b"torch 2.5.1 linux"),
        release_file("torch-2.5.1-cp311-none-macosx_11_0_arm64.whl", b"torch 2.5.1 mac"),
    )
    index.publish(
        "torch", "2.6.0", release_file("torch-2.6.0-cp311-none-linux_x86_64.whl", b"torch 2.6")
    )
    index.publish("requests", "2.32.3", release_file("requests-2.32.3-py3-none-any.whl", b"rq"))
    return index


@dataclass
class IndexEnv:
    pypi: FakePyPI
    osv: AdvisoryServer
    source: IndexSource
    cursors: dict[str, Any] = field(default_factory=dict)

    def poll(self, watch: WatchList = WATCH) -> SourceResult:
        result = self.source.poll(watch, copy.deepcopy(self.cursors))
        self.cursors.update(result.cursors)
        return result

    def alerts(self, watch: WatchList = WATCH) -> list[Alert]:
        result = self.poll(watch)
        assert result.outages == []
        return result.alerts


def facts(alert: Alert) -> tuple[str, str, str, str]:
    """What identifies an alert: its rule, severity, subject and key."""
    return (alert.rule, alert.severity.label, alert.subject, alert.key)


@contextmanager
def index_env(
    pypi: FakePyPI | None = None,
    records: list[dict[str, Any]] | None = None,
    timeout: float = 5.0,
) -> Iterator[IndexEnv]:
    with ExitStack() as stack:
        index = stack.enter_context(serve(pypi or torch_index()))
        osv = stack.enter_context(
            advisory_server(AdvisoryServer(records=copy.deepcopy(records or [])))
        )
        source = IndexSource(
            pypi_url=index.url,
            vulnerabilities={"service": "osv", "url": osv.url},
            timeout=timeout,
        )
        yield IndexEnv(index, osv, source)


__all__ = ["TORCH", "TORCH_WEIGHTS_ONLY", "WATCH", "IndexEnv", "facts", "index_env", "torch_index"]
