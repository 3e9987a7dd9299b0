"""One watch: poll every source, store what it found, deliver the new alerts.

:func:`watch_list` joins the manifest's ``monitor:`` section with the pins of ``models:`` and the
requirements files. :func:`run_once` polls each source of :data:`SOURCES` in turn; each poll's
alerts and cursors are committed in one transaction (:meth:`.state.State.record`) before any
sink sees them, then every alert a sink has not taken yet (this run's, and any an interrupted
run left) is delivered. A source that raises is an :class:`~.alerts.Outage` of that source:
the others' alerts are stored and delivered all the same. :func:`exit_status` turns the run into
the command's exit status.
"""

from __future__ import annotations

import hashlib
import json
import re
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TextIO

from pytest_mlsupply.manifest.model import Manifest
from pytest_mlsupply.monitor.alerts import (
    Alert,
    Outage,
    Source,
    SourceResult,
    TrackedDependency,
    TrackedModel,
    WatchList,
    WatchOptions,
)
from pytest_mlsupply.monitor.sinks import Sink, SinkError
from pytest_mlsupply.monitor.state import State
from pytest_mlsupply.printable import one_line
from pytest_mlsupply.redaction import redact_text
from pytest_mlsupply.results import Severity

__all__ = [
    "EXIT_ALERTS",
    "EXIT_CLEAN",
    "EXIT_INCOMPLETE",
    "EXIT_USAGE",
    "MAX_ALERTS_PER_RULE",
    "SOURCES",
    "RunSummary",
    "WatchError",
    "exit_status",
    "run_once",
    "watch_list",
    "watch_loop",
]


def _hub_source(manifest: Manifest, options: WatchOptions) -> Source:
    from pytest_mlsupply.checks.artifact_scan import scan_policy
    from pytest_mlsupply.monitor.hub_watch import HubSource

    # The gate's own scan policy: a global the project allows is not an alert, and its limits
    # (time, memory, archive depth) bound the monitor's scans as they bound the gate's.
    return HubSource(
        max_scan_bytes=options.max_scan_bytes,
        policy=scan_policy(manifest.policy),
        scan_seconds=options.scan_seconds,
    )


def _index_source(manifest: Manifest, options: WatchOptions) -> Source:
    from pytest_mlsupply.monitor.index_watch import IndexSource

    return IndexSource(vulnerabilities=manifest.vulnerabilities, root=manifest.root)


#: The sources a watch polls, each built from the manifest and the command line's options (they
#: read their endpoints and tokens from the environment; a bad one raises ValueError naming the
#: variable).
SOURCES: list[Callable[[Manifest, WatchOptions], Source]] = [_hub_source, _index_source]

EXIT_CLEAN, EXIT_ALERTS, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3

#: New alerts of one rule about one subject that a poll raises one by one; the rest of them are
#: folded into one alert that counts them. A mirror that answers a million releases, or an
#: organisation that uploads ten thousand repositories at once, must not send a million
#: webhooks: the fold carries the group's worst severity, so the exit status is the same.
MAX_ALERTS_PER_RULE = 100

_COMMIT = re.compile(r"^[0-9a-f]{40}$")
#: A Hub organisation or user name (the Hub's own rule: letters, digits, ``-``, ``_``, ``.``).
_ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
#: PEP 508's project name.
_PROJECT = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.I)


class WatchError(Exception):
    """The manifest gives nothing to watch, or names something that cannot be watched."""


def watch_list(manifest: Manifest) -> WatchList:
    """The manifest's ``monitor:`` section with each model's pins and each dependency's.

    Raises :class:`WatchError` naming the file, the key and the fix."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils._validators import validate_repo_id
    from packaging.utils import canonicalize_name

    monitor = manifest.monitor
    where = manifest.path
    models_, orgs_, deps_ = (list(monitor.get(k) or ()) for k in ("models", "orgs", "dependencies"))
    if not (models_ or orgs_ or deps_):
        raise WatchError(
            f"{where}: nothing to watch: add monitor.models/orgs/dependencies to mlsupply.yaml "
            "(monitor: {models: [org/name], orgs: [org], dependencies: [torch]})"
        )
    models: list[TrackedModel] = []
    for index, repo_id in enumerate(models_):
        try:
            validate_repo_id(repo_id)
        except HFValidationError:
            raise _invalid(
                manifest,
                f"models[{index}]",
                repo_id,
                "a Hub repository id; write it as org/name (no hf:// and no @revision: the pin "
                "comes from the models: entry whose source is hf://org/name@<commit>)",
            ) from None
        pins: Sequence[str | None] = sorted(
            {
                m.source.revision
                for m in manifest.models
                if m.source is not None
                and m.source.repo_type == "model"
                # The Hub's names are case-insensitive (one repository answers to both
                # spellings): a pin written Acme/Bert pins monitor.models' acme/bert, or the
                # model would be watched unpinned and its first poll would hide the changes.
                and m.source.repo_id.lower() == repo_id.lower()
                and _COMMIT.match(m.source.revision)
            }
        )
        # One entry per pinned commit (two models may pin the same repository at two
        # commits); none pinned: tracked for its updates alone.
        models.extend(TrackedModel(repo_id, pin) for pin in pins or [None])
    for index, org in enumerate(orgs_):
        if not _ORG.match(org):
            fix = "a Hub organisation name; write the name alone (acme, not a URL)"
            raise _invalid(manifest, f"orgs[{index}]", org, fix)
    pins_by_name = _dependency_pins(manifest)
    deps: list[TrackedDependency] = []
    for index, name in enumerate(deps_):
        if not _PROJECT.match(name):
            fix = "a project name; write the name as on PyPI (torch, not torch==2.3)"
            raise _invalid(manifest, f"dependencies[{index}]", name, fix)
        canonical = canonicalize_name(name)
        deps.append(TrackedDependency(canonical, tuple(sorted(pins_by_name.get(canonical, ())))))
    return WatchList(
        models=tuple(dict.fromkeys(models)),
        orgs=tuple(dict.fromkeys(orgs_)),
        dependencies=tuple(dict.fromkeys(deps)),
    )


def _invalid(manifest: Manifest, key: str, value: str, what: str) -> WatchError:
    # The value is the user's own text, but may hold a control character: shown on one line.
    return WatchError(f"{manifest.path}: monitor.{key}: {one_line(repr(value))} is not {what}")


def _dependency_pins(manifest: Manifest) -> dict[str, set[str]]:
    """Canonical name → the exact versions the manifest's requirement sources pin (``==``,
    ``===``, a lock file's; a range pins nothing)."""
    if not manifest.requirements:
        return {}
    from pytest_mlsupply.sources.requirements import RequirementsError
    from pytest_mlsupply.sources.resolve import read_requirements

    pins: dict[str, set[str]] = {}
    for decl in manifest.requirements:
        try:
            found = read_requirements(decl, manifest)
        except RequirementsError as exc:
            raise WatchError(
                f"{manifest.path}: requirements: {exc}; fix the file, or drop it from "
                "requirements: for the watch to read the pins"
            ) from None
        for dep in found:
            if dep.version is not None:
                pins.setdefault(dep.name, set()).add(dep.version)
    return pins


@dataclass
class RunSummary:
    """What one run raised, delivered and could not do."""

    raised: list[Alert] = field(default_factory=list)
    """Alerts raised for the first time in this run."""
    late: list[dict[str, object]] = field(default_factory=list)
    """Alerts an earlier run raised but could not show, shown by this run (their records)."""
    outages: list[Outage] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    """Sinks that could not take an alert (redacted messages)."""
    undelivered: dict[str, int] = field(default_factory=dict)
    """Sink → alerts still waiting for it after this run (sinks of this run)."""
    waiting: dict[str, int] = field(default_factory=dict)
    """Sink → alerts waiting for a sink this run does not have (``--webhook`` left out)."""

    def severities(self) -> list[Severity]:
        found = [a.severity for a in self.raised]
        for record in self.late:
            label = record.get("severity")
            if isinstance(label, str):
                found.append(Severity.parse(label))
        return found


def exit_status(summary: RunSummary, fail_on: Severity) -> int:
    """1 when an alert at or above ``fail_on`` was raised (or first shown) in the run; else 3
    when a source had an outage or an alert could not be delivered (fail closed: the run saw
    less than it should); else 0. Alerts outrank outages, as findings outrank errors in
    ``mlsupply scan``."""
    if any(severity >= fail_on for severity in summary.severities()):
        return EXIT_ALERTS
    if summary.outages or summary.failures or any(summary.undelivered.values()):
        return EXIT_INCOMPLETE
    return EXIT_CLEAN


def _poll(source: Source, watch: WatchList, state: State) -> SourceResult:
    """One source's poll; anything it raises, or an answer that breaks the contract, is an
    outage of the whole source (its cursors are then kept as they were)."""
    name = source.name
    cursors = state.cursors(name)  # a state that cannot be read is the run's error, not an outage
    try:
        result = source.poll(watch, cursors)
        if not isinstance(result, SourceResult) or not all(
            isinstance(a, Alert) for a in result.alerts
        ):
            raise TypeError(f"poll() answered {type(result).__name__}, not a SourceResult")
        json.dumps(result.cursors)  # stored as JSON: refuse before anything is written
    except Exception as exc:
        return SourceResult(outages=[Outage(name, "*", f"{type(exc).__name__}: {exc}")])
    # The contract says a subject with an outage has no new cursor; enforced here as well, so a
    # source that forgets cannot make the watch skip what it failed to see.
    failed = {o.subject for o in result.outages}
    if "*" in failed:
        result.cursors = {}
    else:
        result.cursors = {k: v for k, v in result.cursors.items() if k not in failed}
    return result


def _folded(alerts: Sequence[Alert], known: set[str]) -> tuple[list[Alert], dict[str, list[Alert]]]:
    """The alerts not raised before, each once, with at most :data:`MAX_ALERTS_PER_RULE` of one
    (subject, rule) listed and the rest of that group folded into one alert; and, by the id of
    each fold, the alerts it folds (stored as raised, so none of them is raised later alone).

    Alerts raised before are left out first, so a fold counts only what is new."""
    by_id: dict[str, Alert] = {}
    for alert in alerts:
        kept = by_id.get(alert.id)
        # One fact met twice in a poll is one alert, at the worse of its two ratings.
        if alert.id not in known and (kept is None or alert.severity > kept.severity):
            by_id[alert.id] = alert
    fresh = list(by_id.values())
    sizes = Counter((alert.subject, alert.rule) for alert in fresh)
    if all(size <= MAX_ALERTS_PER_RULE for size in sizes.values()):
        return fresh, {}
    # The most severe of each group are the ones listed (one rule rates a pinned release
    # critical and the others medium: the critical one must stand alone, not be one of a
    # fold's count); they are then listed in the source's order.
    taken: Counter[tuple[str, str]] = Counter()
    chosen: set[int] = set()
    for index in sorted(range(len(fresh)), key=lambda i: -int(fresh[i].severity)):
        group = (fresh[index].subject, fresh[index].rule)
        if taken[group] < MAX_ALERTS_PER_RULE:
            taken[group] += 1
            chosen.add(index)
    listed: list[Alert] = []
    rest: dict[tuple[str, str], list[Alert]] = {}
    for index, alert in enumerate(fresh):
        if index in chosen:
            listed.append(alert)
        else:
            rest.setdefault((alert.subject, alert.rule), []).append(alert)
    folded: dict[str, list[Alert]] = {}
    for (subject, rule), group_rest in rest.items():
        fold = _fold(subject, rule, group_rest)
        listed.append(fold)
        folded[fold.id] = group_rest
    return listed, folded


#: The most of each text of an alert that is stored, printed and posted: a name a hostile
#: mirror chose (a filename of a megabyte) must not make every sink carry it whole.
_TITLE_LIMIT, _EVIDENCE_LIMIT, _REMEDIATION_LIMIT, _URL_LIMIT = 500, 4000, 1000, 2000
#: A key longer than this is stored as its digest and its head.
_KEY_LIMIT = 1000


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[: limit - 40]}… ({len(text) - limit + 40} more characters)"


def _bounded(alert: Alert) -> Alert:
    """``alert`` with each text cut to its limit (saying how much was cut); a key past
    :data:`_KEY_LIMIT` is replaced by its digest and its head, so its id stays the fact's."""
    key = alert.key
    if len(key) > _KEY_LIMIT:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        key = f"sha256:{digest} {key[:200]}…"
    bounded = Alert(
        rule=alert.rule,
        severity=alert.severity,
        subject=alert.subject,
        key=key,
        title=_cut(alert.title, _TITLE_LIMIT),
        evidence=_cut(alert.evidence, _EVIDENCE_LIMIT),
        remediation=_cut(alert.remediation, _REMEDIATION_LIMIT),
        url=_cut(alert.url, _URL_LIMIT) if alert.url is not None else None,
    )
    return alert if bounded == alert else bounded


def _fold(subject: str, rule: str, rest: list[Alert]) -> Alert:
    # Keyed by what it folds: the same flood met again by a run that lost its cursors is the
    # same alert (raised once), a different one is a new alert. By the members' ids (hex, of
    # one length): their keys are a service's text, and joined they can read alike ("a\nb",
    # "c" and "a", "b\nc"), which would hide a second flood behind the first one's fold.
    digest = hashlib.sha256(" ".join(sorted(alert.id for alert in rest)).encode()).hexdigest()
    examples = "; ".join(alert.title for alert in rest[:3])
    return Alert(
        rule=rule,
        severity=max(alert.severity for alert in rest),
        subject=subject,
        key=f"folded {len(rest)} {digest[:32]}",
        title=f"{len(rest)} more {rule} alerts in one poll, folded into this one",
        evidence=(
            f"this poll raised {MAX_ALERTS_PER_RULE + len(rest)} new {rule} alerts about "
            f"{subject}; the {MAX_ALERTS_PER_RULE} most severe are listed one by one, these "
            f"{len(rest)} are folded here, at their worst severity (the first of them: "
            f"{examples})"
        ),
        remediation=(
            "so many changes at once is a sign in itself (a mass upload, a rewritten history, "
            "an index mirror that is not what it claims): look at the subject on the service "
            "itself before trusting any of it; the folded changes are not raised again"
        ),
        url=rest[0].url,
    )


def run_once(
    watch: WatchList,
    state: State,
    sources: Sequence[Source],
    sinks: Sequence[Sink],
    *,
    errors: TextIO,
) -> RunSummary:
    """Poll each source (one transaction per poll), then deliver every pending alert to each
    sink. Outages are reported to every sink each run they happen; sink failures to
    ``errors`` (redacted)."""
    summary = RunSummary()
    sink_names = [sink.name for sink in sinks]
    for source in sources:
        result = _poll(source, watch, state)
        bounded = [_bounded(alert) for alert in result.alerts]
        alerts, folded = _folded(bounded, state.known(alert.id for alert in bounded))
        summary.raised.extend(
            state.record(source.name, alerts, result.cursors, sink_names, folded=folded)
        )
        summary.outages.extend(result.outages)
    raised_ids = {alert.id for alert in summary.raised}
    for sink in sinks:
        for outage in summary.outages:
            try:
                sink.outage(outage)
            except SinkError as exc:
                summary.failures.append(str(exc))
            except Exception as exc:
                summary.failures.append(_broken(sink, exc))
        _deliver(sink, state, summary, raised_ids, errors)
        # After delivery (a sink may first read its file there) and each said once: a watch
        # loop keeps its sinks from run to run.
        notes = getattr(sink, "notes", None)
        if isinstance(notes, list):
            for note in notes:
                print(redact_text(f"mlsupply watch: {note}"), file=errors)
            notes.clear()
    for failure in summary.failures:
        print(f"mlsupply watch: {redact_text(failure)}", file=errors)
    pending = state.pending_sinks()
    summary.undelivered = {name: pending[name] for name in sink_names if pending.get(name)}
    summary.waiting = {name: n for name, n in pending.items() if name not in sink_names}
    return summary


def _deliver(
    sink: Sink, state: State, summary: RunSummary, raised_ids: set[str], errors: TextIO
) -> None:
    for pending in state.pending(sink.name):
        try:
            sink.deliver(pending.record)
        except SinkError as exc:
            summary.failures.append(str(exc))
            if exc.retryable:
                continue  # this alert was refused; the next may be taken
            return  # the sink is down: the rest stay queued, in order
        except Exception as exc:
            # A sink that breaks its contract (stdout closed: the terminal's stream is None)
            # is down for this run, as a source that raises is an outage: raised, it would
            # stop the sinks after it from getting any alert, this run and every next one.
            summary.failures.append(_broken(sink, exc))
            return
        state.mark_delivered(pending.id, sink.name)
        # The terminal takes every alert of every run: an alert it shows now that this run
        # did not raise was left by a run that died before showing it, and counts now.
        if sink.name == "terminal" and pending.id not in raised_ids:
            summary.late.append(pending.record)


def _broken(sink: Sink, exc: Exception) -> str:
    return one_line(f"{sink.name}: cannot take alerts ({type(exc).__name__}: {exc})")[:300]


def watch_loop(
    run: Callable[[], int],
    interval: float,
    *,
    stop: threading.Event | None = None,
    signals: Iterable[signal.Signals] = (signal.SIGINT, signal.SIGTERM),
) -> int:
    """``run`` every ``interval`` seconds until SIGINT or SIGTERM (or ``stop``). A signal during
    a run lets that run finish (its transactions and deliveries complete) before the loop ends;
    a second SIGINT interrupts it (a poll that hangs), its open transaction rolled back.
    Returns the most severe status of the runs: 1 over 3 over 0."""
    stop = stop or threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in signals}
    worst = EXIT_CLEAN
    try:
        while not stop.is_set():
            status = run()
            if status == EXIT_ALERTS or (status == EXIT_INCOMPLETE and worst == EXIT_CLEAN):
                worst = status
            stop.wait(interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return worst
