"""The monitor's memory: each source's cursors and every alert ever raised, in one SQLite file.

Why SQLite (stdlib :mod:`sqlite3`, WAL mode): a poll's new alerts and the cursors that moved
past them must be stored together or not at all. Stored apart, a crash between the two either
raises the alert again (cursors lost) or never (alerts lost); one transaction makes that
impossible, and WAL keeps a reader (``sqlite3`` in a shell) from blocking the watcher.

Tables:

- ``meta``: the schema version (a file written by a newer mlsupply is refused, never rewritten);
- ``cursors``: (source, subject) → JSON value, what a source saw on its last successful poll;
- ``outbox``: every alert raised, by its id (the primary key: an alert raised before is never
  raised again), with its JSON and when it was raised;
- ``deliveries``: (alert id, sink) → delivered or not. A row is written for each sink of the run
  that raised the alert, in the same transaction; the flag is set after that sink took it. A run
  that dies after the commit leaves its alerts undelivered, and the next run delivers them.

One watch at a time: :meth:`State.open` takes a lock (an open write transaction on a sibling
file, ``<state>.lock``) that the operating system releases if the process dies, so a second
``watch`` on the same state fails at once with :class:`StateBusy` instead of delivering the
same outbox twice.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from pytest_mlsupply.monitor.alerts import Alert
from pytest_mlsupply.printable import one_line
from pytest_mlsupply.redaction import redact_json, redact_text

__all__ = ["SCHEMA_VERSION", "PendingAlert", "State", "StateBusy", "StateError"]

#: The layout this module writes and reads; a file with a higher version is refused.
SCHEMA_VERSION = 1

#: How long one statement waits for a reader's or writer's lock before failing (milliseconds):
#: a shell's ``sqlite3`` reading the file must not make a poll fail.
BUSY_TIMEOUT_MS = 5000

#: Ids asked about in one statement (SQLite's default bound on parameters is 32,766).
_SLICE = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (
    source TEXT NOT NULL,
    subject TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (source, subject)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    severity INTEGER NOT NULL,
    alert TEXT NOT NULL,
    raised_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    alert_id TEXT NOT NULL REFERENCES outbox (id),
    sink TEXT NOT NULL,
    delivered_at TEXT,
    PRIMARY KEY (alert_id, sink)
);
CREATE INDEX IF NOT EXISTS deliveries_by_sink ON deliveries (sink, delivered_at);
"""


class StateError(Exception):
    """The state file cannot be used (not SQLite, written by a newer mlsupply, unwritable)."""


class StateBusy(StateError):
    """Another ``mlsupply watch`` holds the state."""


@dataclass(frozen=True)
class PendingAlert:
    """An alert in the outbox that one sink has not taken yet."""

    id: str
    record: dict[str, Any]
    """The alert's JSON (:meth:`Alert.to_json`) with ``raised_at``."""
    severity: int


def _unusable(path: Path, exc: Exception) -> StateError:
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        # Past the busy timeout: another program (a `sqlite3` shell left in a transaction)
        # holds it. Nothing is wrong with the file: moving it away would lose its history.
        return StateBusy(
            f"{path}: another program has held the state locked for {BUSY_TIMEOUT_MS // 1000} "
            f"s ({exc}); end its transaction (a `sqlite3` shell?) and run again"
        )
    return StateError(
        f"{path}: the state could not be read or written ({exc}); check that its disk has "
        "room and the file is writable, or, if it is damaged, move it away (the next run "
        "starts afresh and raises again what is still true)"
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class State:
    """An open state file, locked for this process; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: sqlite3.Connection | None = None
        self._db: sqlite3.Connection | None = None

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path) -> State:
        """Open (creating it and its directory) and lock the state at ``path``.

        Raises :class:`StateBusy` when another watch holds it, :class:`StateError` when it
        cannot be used (the message names the file and the fix)."""
        state = cls(path)
        try:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StateError(
                    f"{path}: cannot create the state's directory ({exc.strerror or exc}); pass "
                    "--state PATH in a directory this user can write"
                ) from None
            state._take_lock()
            state._refuse_second_names()
            state._connect()
        except BaseException:
            state.close()
            raise
        return state

    def _take_lock(self) -> None:
        # Beside the file the path names, symlinks followed (as SQLite follows them): a state
        # reached by two paths (a link, a linked directory) is one state with one lock.
        real = self.path.resolve()
        lock_path = real.with_name(real.name + ".lock")
        try:
            # isolation_level=None: the transaction is ours to begin; timeout=0: a held lock
            # is an answer now, not after a wait.
            lock = sqlite3.connect(lock_path, timeout=0, isolation_level=None)
            self._lock = lock
            lock.execute("BEGIN IMMEDIATE")
            # A write makes the lock a real one on every platform's locking scheme.
            lock.execute("CREATE TABLE IF NOT EXISTS holder (pid INTEGER)")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StateBusy(
                    f"{self.path}: another `mlsupply watch` is running on this state; wait for "
                    "it to finish, or give this one its own --state PATH"
                ) from None
            raise StateError(f"{lock_path}: cannot lock the state: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"{lock_path}: not a lock file mlsupply wrote ({exc}); delete it "
                "when no watch is running"
            ) from None

    def _refuse_second_names(self) -> None:
        # The lock is beside one name of the file; a hard link is another name with its own
        # lock, and SQLite names its -wal and -shm files after the name it was given: two
        # watches through two names would each write their own log of one database, which
        # SQLite documents as a way to corrupt it. A state with more than one name is refused.
        try:
            links = self.path.stat().st_nlink
        except FileNotFoundError:
            return  # a new state: one name
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read the state ({exc})") from None
        if links > 1:
            raise StateError(
                f"{self.path}: the state has {links} names (hard links); SQLite can corrupt a "
                "database reached through two names: remove the other links, or pass --state "
                "PATH naming a file of its own"
            )

    def _connect(self) -> None:
        try:
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self._db = db
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # Before anything is written (WAL mode outlives the connection): a database with
            # tables and no meta table is some other program's, not ours to add tables to.
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if tables and "meta" not in tables:
                raise StateError(
                    f"{self.path}: not a monitor state (it holds other tables: "
                    f"{one_line(', '.join(sorted(tables)[:5]))}); pass --state PATH naming a new file"
                )
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StateError(f"{self.path}: cannot switch the state to WAL mode (got {mode})")
            # FULL: a committed poll survives a power cut before its alerts are delivered.
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA foreign_keys = ON")
            with self._transaction():
                # Statement by statement: executescript() would commit outside our transaction.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if row is None:
                    db.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
                # ASCII digits: str.isdigit() also takes "²", which int() refuses (a traceback).
                elif not (str(row[0]).isascii() and str(row[0]).isdigit()) or (
                    int(row[0]) > SCHEMA_VERSION
                ):
                    raise StateError(
                        f"{self.path}: written by a newer mlsupply (state schema {row[0]}; this "
                        f"one reads up to {SCHEMA_VERSION}); upgrade mlsupply, or pass "
                        "--state PATH to start a new state"
                    )
        except sqlite3.OperationalError as exc:
            # The file's place, not its content (a full disk, an I/O error, no permission):
            # "move it away" would throw away a good state's history.
            raise _unusable(self.path, exc) from None
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"{self.path}: not a monitor state mlsupply can read ({exc}); pass --state PATH "
                "to use another file, or move this one away to start afresh"
            ) from None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateError(f"{self.path}: the state is closed")
        return self._db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception."""
        with self._guard():
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # the error that got here is the news
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """A database error once the state is open (a page found corrupt, a full disk, a file
        made read-only) as a :class:`StateError` naming the file and the fix: the command's
        clear error, never a traceback out of the middle of a run."""
        try:
            yield
        # ValueError: a value that is not the JSON this module wrote (the reading methods
        # decode inside the guard).
        except (sqlite3.Error, ValueError) as exc:
            raise _unusable(self.path, exc) from None

    def close(self) -> None:
        for connection in (self._db, self._lock):
            if connection is not None:
                with contextlib.suppress(sqlite3.Error):
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    connection.close()
        self._db = self._lock = None

    def __enter__(self) -> State:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading and writing -------------------------------------------------------------------

    def journal_mode(self) -> str:
        return str(self.db.execute("PRAGMA journal_mode").fetchone()[0])

    def cursors(self, source: str) -> dict[str, Any]:
        """The cursors ``source`` stored on its last successful polls, by subject."""
        with self._guard():
            rows = self.db.execute(
                "SELECT subject, value FROM cursors WHERE source = ?", (source,)
            ).fetchall()
            return {subject: json.loads(value) for subject, value in rows}

    def record(
        self,
        source: str,
        alerts: Iterable[Alert],
        cursors: Mapping[str, Any],
        sinks: Iterable[str],
        *,
        folded: Mapping[str, Iterable[Alert]] | None = None,
    ) -> list[Alert]:
        """Store one poll in one transaction: its alerts (each id once, ever: an alert raised
        before is ignored) with an undelivered row for each of ``sinks`` and for every sink an
        earlier run of this state had (a run by hand without ``--jsonl`` must not keep its
        alerts from the cron job's file), and its cursors.
        Returns the alerts that are new. ``cursors`` must be JSON-serialisable (checked before
        anything is written).

        ``folded``: by the id of an alert of ``alerts`` that folds others (a flood, see
        :data:`.watcher.MAX_ALERTS_PER_RULE`), the alerts it folds. Each is stored as raised,
        with no delivery (the fold is delivered): a later poll that meets one alone does not
        raise it again."""
        encoded = {subject: json.dumps(value, sort_keys=True) for subject, value in cursors.items()}
        sink_names = list(sinks)
        new: list[Alert] = []
        now = _now()
        with self._transaction() as db:
            known = [row[0] for row in db.execute("SELECT DISTINCT sink FROM deliveries")]
            sink_names = list(dict.fromkeys([*sink_names, *sorted(known)]))
            for alert in alerts:
                # Redacted as every other output is: an evidence that quotes a service's error
                # may carry a token, and the state is a file that outlives the run.
                record = redact_json({**alert.to_json(), "raised_at": now})
                inserted = db.execute(
                    "INSERT OR IGNORE INTO outbox (id, source, severity, alert, raised_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (alert.id, source, int(alert.severity), json.dumps(record), now),
                ).rowcount
                if inserted != 1:
                    continue
                new.append(alert)
                db.executemany(
                    "INSERT INTO deliveries (alert_id, sink) VALUES (?, ?)",
                    [(alert.id, sink) for sink in sink_names],
                )
            for fold_id, members in (folded or {}).items():
                db.executemany(
                    "INSERT OR IGNORE INTO outbox (id, source, severity, alert, raised_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [
                        (
                            alert.id,
                            source,
                            int(alert.severity),
                            # Only what names it: a flood of a million must not store a million
                            # evidences; the fold holds the examples.
                            json.dumps(
                                {
                                    "id": alert.id,
                                    "rule": alert.rule,
                                    "subject": redact_text(alert.subject),
                                    "folded_into": fold_id,
                                    "raised_at": now,
                                }
                            ),
                            now,
                        )
                        for alert in members
                    ],
                )
            db.executemany(
                "INSERT INTO cursors (source, subject, value, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (source, subject) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                [(source, subject, value, now) for subject, value in encoded.items()],
            )
        return new

    def known(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` were raised before (by any run)."""
        wanted = list(dict.fromkeys(ids))
        found: set[str] = set()
        with self._guard():
            # In slices: SQLite bounds the number of parameters of one statement.
            for start in range(0, len(wanted), _SLICE):
                chunk = wanted[start : start + _SLICE]
                marks = ", ".join("?" * len(chunk))
                rows = self.db.execute(f"SELECT id FROM outbox WHERE id IN ({marks})", chunk)
                found.update(row[0] for row in rows)
        return found

    def pending(self, sink: str) -> list[PendingAlert]:
        """The alerts ``sink`` has not taken yet, oldest first."""
        with self._guard():
            rows = self.db.execute(
                "SELECT o.id, o.alert, o.severity FROM deliveries d "
                "JOIN outbox o ON o.id = d.alert_id "
                "WHERE d.sink = ? AND d.delivered_at IS NULL ORDER BY o.seq",
                (sink,),
            ).fetchall()
            return [PendingAlert(id, json.loads(alert), severity) for id, alert, severity in rows]

    def pending_sinks(self) -> dict[str, int]:
        """Sink → how many alerts wait for it (every sink, configured in this run or not)."""
        with self._guard():
            rows = self.db.execute(
                "SELECT sink, COUNT(*) FROM deliveries WHERE delivered_at IS NULL GROUP BY sink"
            ).fetchall()
        return {sink: count for sink, count in rows}

    def mark_delivered(self, alert_id: str, sink: str) -> None:
        """``sink`` took ``alert_id``: never offered to it again."""
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET delivered_at = ? WHERE alert_id = ? AND sink = ?",
                (_now(), alert_id, sink),
            )

    def alert_ids(self) -> list[str]:
        """Every alert id ever raised, oldest first."""
        with self._guard():
            return [row[0] for row in self.db.execute("SELECT id FROM outbox ORDER BY seq")]
