"""Hash the next artifact files while the current one is scanned, and report large ones in -v.

Registered by :class:`~pytest_mlsupply.plugin.session.MlsupplyPlugin` for a session with the
gate on. Before each generated artifact item runs, the files this process is about to read are
submitted to the hashing pool (:mod:`pytest_mlsupply.checks.hashing`), at most
:data:`IN_FLIGHT` files ahead, so the second core digests file 2 while file 1 is scanned:

- a serial run starts hashing the plan's first files at session start, as soon as the manifest
  is loaded, so that pytest's collection and the user's tests run beside it (the BOM needs every
  planned file's digest, whichever items are selected); from collection on it knows every item
  it will run (``session.items``): the window is the current item's file and the next distinct
  files after it;
- on an xdist worker only the current item and the next one are known; and a worker prefetches
  only under ``--dist loadgroup``, where every item of a file runs on the same worker (each
  carries ``xdist_group(name=<file>)``), so no two workers read the same file.

The first prefetch also queues the session's warm-ups (:func:`hashing.warm_up`): the format
engines' imports and, where the reports are written, the report writers and the BOM's
validators, done by the main thread when it would otherwise only wait for a digest.

The digest's time and rate travel on the report (``report.mlsupply_hashed``, builtins only, so
xdist carries them to the controller), and the controller prints one line per file of at least
:data:`PROGRESS_MIN_BYTES` under ``-v``. The pool is shut down when the session ends.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.checks import hashing
from pytest_mlsupply.checks.content import import_engines
from pytest_mlsupply.checks.content_store import settle_override_ns
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.plugin.items import MlsupplyItem
from pytest_mlsupply.plugin.state import MlsupplyState
from pytest_mlsupply.printable import printable
from pytest_mlsupply.results import RowKind, shown

#: Files hashed ahead at once, the current one included: two keeps both cores busy next to the
#: scan without two large reads per core fighting over the disk and the page cache.
IN_FLIGHT = 2
#: Under ``-v``, a file at least this large gets a line with its size, hash time and rate:
#: smaller files hash in well under a second and a line each would drown the output.
PROGRESS_MIN_BYTES = 64 << 20
#: Overrides :data:`PROGRESS_MIN_BYTES` (a byte count; documented in docs/scaling.md).
PROGRESS_ENV = "MLSUPPLY_PROGRESS_MIN_BYTES"

NAME = "mlsupply-prefetch"


class PrefetchPlugin:
    def __init__(self, config: pytest.Config, state: MlsupplyState) -> None:
        self.config = config
        self.state = state
        self.is_worker = hasattr(config, "workerinput")
        self._order: list[Path] = []
        """Serial run: the distinct artifact files in the order the items read them."""
        self._position: dict[str, int] = {}
        """Serial run: an item's node id → the index of its file in ``_order``."""
        self._file_index: dict[str, Path] | None = None
        self._last_window: list[Path] = []
        """The files last submitted: the next items of the same file ask for the same window,
        which is already in flight (a file has several items, and a stat each would add up)."""
        self._warm_ups_queued = False
        # Read now: a bad value is a usage error before anything runs, not a crash mid-run.
        self.progress_min_bytes = progress_min_bytes()
        try:
            settle_override_ns()
        except ValueError as exc:
            raise pytest.UsageError(f"pytest-mlsupply: {exc}") from None
        if self.is_worker:
            hashing.share_cores(int(config.workerinput.get("workercount", 1)))  # type: ignore[attr-defined]
        if not self.is_worker and config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(LoadGroupHooks(), NAME + "-loadgroup")

    # -- prefetch -----------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # A serial run starts hashing now, not when collection ends: pytest's collection (the
        # user's test modules, their imports) and the user's tests run while the first files
        # are read. An xdist controller reads nothing (its workers do); --collect-only reads
        # nothing at all.
        if (
            self.is_worker
            or self.config.option.collectonly
            or self.config.pluginmanager.hasplugin("dsession")
        ):
            return
        try:
            plan = self.state.load().plan
        except Exception:
            # A manifest that does not load is reported by the collection that loads it
            # again, as it is without this early start; nothing is hashed meanwhile.
            return
        order: list[Path] = []
        for planned in plan:
            path = self._planned_file(planned)
            if path is not None and path not in order:
                order.append(path)
                if len(order) == IN_FLIGHT:
                    break
        self._prefetch(order)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.is_worker:
            return  # a worker runs what the controller sends, not session.items in order
        for item in session.items:
            path = self._file(item)
            if path is None:
                continue
            if not self._order or self._order[-1] != path:
                self._order.append(path)
            self._position[item.nodeid] = len(self._order) - 1
        if not session.config.option.collectonly:
            # Now at the latest (the plan's first files are already in flight, unless the
            # selection or the order of the items changed them): the user's tests and the items
            # before the first artifact item run while the first files are read.
            self._prefetch(self._order[:IN_FLIGHT])

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        if not isinstance(item, MlsupplyItem):
            return
        if self.is_worker:
            # xdist rewrites a worker's `dist` to "no" and keeps `--dist loadgroup` as the
            # worker's `loadgroup` option (xdist/remote.py): `dist` is never "loadgroup" here.
            if not getattr(self.config.option, "loadgroup", False):
                return  # another worker may run this file's other items: read it inline
            window = [p for p in (self._file(item), self._file(nextitem)) if p is not None]
        else:
            index = self._position.get(item.nodeid)
            if index is None:
                return
            window = self._order[index : index + IN_FLIGHT]
        if window == self._last_window:
            return
        self._last_window = window
        self._prefetch(window)

    def _prefetch(self, paths: list[Path]) -> None:
        if not paths:
            return
        if not self._warm_ups_queued:
            self._warm_ups_queued = True
            self._queue_warm_ups()
        contents = self.state.load().context.contents
        for path in paths:
            contents.prefetch(path)

    def _queue_warm_ups(self) -> None:
        """What this process will do later anyway, for the main thread to do while it waits
        for a digest (never run if it never waits): in the order the run needs them."""
        hashing.warm_up(import_engines)
        if not self.is_worker:
            # This process writes the BOM and the matrix at the end of the session.
            hashing.warm_up(self.state.prepare_reports)
            # The commit the reports name: a few git processes, tens of milliseconds.
            hashing.warm_up(self.state.build_context)

    def _file(self, item: pytest.Item | None) -> Path | None:
        """The artifact file an item reads, if it is a generated artifact item on a file."""
        if not isinstance(item, MlsupplyItem):
            return None
        return self._planned_file(item.planned)

    def _planned_file(self, planned: PlannedItem) -> Path | None:
        if planned.kind is not RowKind.ARTIFACT:
            return None
        return self._files().get(planned.subject)

    def _files(self) -> dict[str, Path]:
        if self._file_index is None:
            inventory = self.state.load().inventory
            self._file_index = {
                f.subject: f.path for model in inventory.models for f in model.files
            }
        return self._file_index

    # -- progress -----------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if isinstance(item, MlsupplyItem) and report.when == "call":
            timings = self.state.load().context.contents.timings
            if timings:
                # Builtins only: the attribute travels to the xdist controller with the report.
                # Escaped: execnet sends UTF-8, and a name that is not UTF-8 killed the worker.
                report.mlsupply_hashed = [  # type: ignore[attr-defined]
                    [printable(str(t.path)), t.size, t.seconds] for t in timings
                ]
                timings.clear()
        return report

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker or self.config.get_verbosity() < 1:
            return
        hashed: Any = getattr(report, "mlsupply_hashed", None)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if not hashed or reporter is None:
            return
        for path, size, seconds in hashed:
            if size >= self.progress_min_bytes:
                reporter.write_line(f"mlsupply: {progress_line(path, size, seconds)}")

    # -- teardown -----------------------------------------------------------------------------

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # Here rather than at sessionfinish: a run interrupted before sessionfinish (Ctrl-C in
        # collection, an internal error) still joins the pool's threads.
        hashing.shutdown()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # An interrupted run (Ctrl-C) stops the pool at once, so no multi-gigabyte read holds
        # it up. Any other run lets the digests in flight finish: they are of planned files,
        # whose digests the BOM needs (a `-k` run that deselected their items too), and
        # stopping them mid-file would make the BOM read those files a second time. The pool
        # is shut down at unconfigure, after the reports.
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            hashing.shutdown()


class LoadGroupHooks:
    """``--dist loadgroup`` that groups the generated items by file, whatever pytest does.

    xdist groups by an ``@<group>`` suffix it writes into ``item._nodeid`` on the workers; from
    pytest 9.2 a node id is derived from a structured id and that write is lost, so every item
    would be its own group and one file's items would be read on several workers. The scope of
    a generated artifact item is read from its node id instead (``...::artifact[<file>::<check>]``,
    the same name the ``xdist_group`` mark carries); every other node id is left to xdist.
    """

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "loadgroup":
            return None
        return _file_group_scheduler(config, log)


def artifact_group(nodeid: str) -> str | None:
    """The file subject of a generated artifact item's node id (``@group`` suffix or not)."""
    head, sep, tail = nodeid.partition("::artifact[")
    if not sep or "::" in head:
        return None  # not a direct child of a file node: not one of the manifest's items
    inner = tail[: tail.rfind("]")]
    subject, sep, _check = inner.rpartition("::")
    return subject if sep else inner


def _file_group_scheduler(config: pytest.Config, log: Any) -> Any:
    # The one place that subclasses xdist's scheduler (its module is public, _split_scope is
    # the documented extension point of LoadScopeScheduling's subclasses).
    from xdist.scheduler import LoadGroupScheduling  # type: ignore[import-untyped]

    class FileGroupScheduling(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            group = artifact_group(nodeid)
            return group if group is not None else super()._split_scope(nodeid)

    return FileGroupScheduling(config, log)


def progress_min_bytes() -> int:
    """:data:`PROGRESS_MIN_BYTES`, or the byte count in ``$MLSUPPLY_PROGRESS_MIN_BYTES``."""
    raw = os.environ.get(PROGRESS_ENV, "").strip()
    if not raw:
        return PROGRESS_MIN_BYTES
    try:
        return int(raw)
    except ValueError:
        raise pytest.UsageError(
            f"pytest-mlsupply: ${PROGRESS_ENV} = {raw!r} is not a byte count; "
            f"write e.g. {PROGRESS_ENV}=67108864 (64 MiB), or unset it"
        ) from None


def progress_line(path: str, size: int, seconds: float) -> str:
    mib = size / (1 << 20)
    rate = f"{mib / seconds:,.0f} MiB/s" if seconds > 0 else "instant"
    # A file name is the publisher's: one with control characters (ESC, CR, a newline) or
    # a bidi override would drive the terminal; it is shown escaped.
    name = path if path.isprintable() else shown(path)
    return f"hashed {name}: {mib:,.1f} MiB in {seconds:.2f} s ({rate})"
