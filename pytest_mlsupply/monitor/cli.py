"""``mlsupply watch``: the monitor's command (see docs/monitor.md).

``mlsupply watch [--config MLSUPPLY_YAML] [--once | --interval SECONDS] [--state PATH]
[--jsonl PATH] [--webhook URL] [--max-scan-mb MIB] [--scan-seconds SECONDS]
[--fail-on SEVERITY]`` reads the manifest's ``monitor:`` section,
polls the sources of :data:`.watcher.SOURCES`, keeps their state in ``.mlsupply/monitor.sqlite``
beside the manifest and hands each new alert to the terminal, a JSON-lines file and a webhook.

Exit status: 0 nothing at or above ``--fail-on`` and nothing missed; 1 an alert at or above
``--fail-on`` (default high) was raised; 3 a source had an outage, an alert could not be
delivered, or another watch holds the state (fail closed; alerts outrank this); 2 bad arguments,
a manifest that cannot be used, nothing to watch, or a state file that cannot be read.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pytest_mlsupply.monitor.alerts import WatchOptions
from pytest_mlsupply.results import DEFAULT_THRESHOLD, THRESHOLD_CHOICES, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.monitor.watcher import RunSummary

#: The environment variable that holds the webhook URL (better than ``--webhook``: a command
#: line is visible to every user of the machine in ``ps``).
WEBHOOK_VARIABLE = "MLSUPPLY_WEBHOOK_URL"
#: The state's place, relative to the manifest's directory.
DEFAULT_STATE = Path(".mlsupply") / "monitor.sqlite"
DEFAULT_INTERVAL = 900.0


def _webhook_url(text: str) -> str:
    """A webhook URL, registered as a secret the moment argparse reads it (before any message
    could quote it)."""
    from pytest_mlsupply.redaction import register_webhook

    register_webhook(text)
    try:
        parts = urlsplit(text)
    except ValueError:  # argparse would quote the URL, secret and all, in "invalid value"
        raise argparse.ArgumentTypeError(
            "the webhook must be an http:// or https:// URL (this one does not parse: check "
            "its [IPv6] brackets)"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError("the webhook must be an http:// or https:// URL")
    return text


def _scheme(url: str) -> str:
    """The URL's scheme, or "" for text urlsplit refuses (``https://[::1/...``): a message,
    not a traceback."""
    try:
        return urlsplit(url).scheme
    except ValueError:
        return ""


def _loopback(url: str) -> bool:
    """Whether the URL's host is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    import ipaddress

    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds, 0 or more")
    if value > threading.TIMEOUT_MAX:
        # Accepted, it would stop the watch after its first run (a wait past the platform's
        # time_t is an OverflowError, not a long sleep).
        raise argparse.ArgumentTypeError(
            f"{text!r}: give at most {threading.TIMEOUT_MAX:.0f} seconds"
        )
    return value


def _mebibytes(text: str) -> int:
    if not text.isdigit() or int(text) < 1 or len(text) > 7:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of MiB, 1 to 9999999")
    return int(text)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number, 0 or more")
    return int(text)


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``watch`` subcommand on ``mlsupply``'s subparsers."""
    watch: argparse.ArgumentParser = commands.add_parser(
        "watch",
        help="watch the Hub and the package index for changes to what the manifest tracks",
        description="Poll the Hub and the package index for what the manifest's monitor: "
        "section tracks (models, organisations, dependencies) and raise each change once: on "
        "the terminal, in a JSON-lines file, to a webhook.",
        epilog="Exit status: 0 nothing at or above the threshold and nothing missed; 1 an alert "
        "at or above the threshold; 3 an outage, an undelivered alert, or another watch holds "
        "the state (alerts outrank these); 2 bad arguments, manifest or state file. "
        "Reference: docs/monitor.md.",
    )
    watch.add_argument(
        "--config",
        type=Path,
        default=Path("mlsupply.yaml"),
        metavar="MLSUPPLY_YAML",
        help="the project's manifest (default: ./mlsupply.yaml)",
    )
    when = watch.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="poll once and exit")
    when.add_argument(
        "--interval",
        type=_seconds,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"poll every SECONDS until SIGINT or SIGTERM (default {DEFAULT_INTERVAL:.0f})",
    )
    watch.add_argument(
        "--state",
        type=Path,
        default=None,
        metavar="PATH",
        help="the SQLite state (default: .mlsupply/monitor.sqlite beside the manifest)",
    )
    watch.add_argument(
        "--jsonl", type=Path, default=None, metavar="PATH", help="append alerts and outages here"
    )
    watch.add_argument(
        "--webhook",
        type=_webhook_url,
        default=None,
        metavar="URL",
        help=f"POST each alert here as JSON (default: ${WEBHOOK_VARIABLE}, which keeps the URL "
        "out of the process list); never printed",
    )
    watch.add_argument(
        "--webhook-retries",
        type=_count,
        default=4,
        metavar="N",
        help="retries of a webhook POST after a connection error, a timeout, 429 or 5xx "
        "(default 4)",
    )
    watch.add_argument(
        "--webhook-backoff",
        type=_seconds,
        default=0.5,
        metavar="SECONDS",
        help="the first retry's wait, doubled for each next one, with jitter (default 0.5)",
    )
    watch.add_argument(
        "--max-scan-mb",
        type=_mebibytes,
        default=WatchOptions.max_scan_bytes >> 20,
        metavar="MIB",
        help="download and scan added or changed Hub files up to this size; a larger one is "
        f"an alert that it was not scanned (default {WatchOptions.max_scan_bytes >> 20})",
    )
    watch.add_argument(
        "--scan-seconds",
        type=_seconds,
        default=WatchOptions.scan_seconds,
        metavar="SECONDS",
        help="what fetching and scanning one model's changed files may take in a poll; past "
        "it, the rest are rated by name and raised as not scanned (default "
        f"{WatchOptions.scan_seconds:.0f})",
    )
    watch.add_argument(
        "--fail-on",
        choices=THRESHOLD_CHOICES,
        default=DEFAULT_THRESHOLD.label,
        help=f"exit 1 when an alert at or above this severity is raised (default "
        f"{DEFAULT_THRESHOLD.label})",
    )
    return watch


def run_watch(args: argparse.Namespace) -> int:
    from pytest_mlsupply.manifest.errors import ManifestError
    from pytest_mlsupply.manifest.loader import load_manifest
    from pytest_mlsupply.monitor import watcher
    from pytest_mlsupply.monitor.sinks import JsonlSink, Sink, TerminalSink, WebhookSink
    from pytest_mlsupply.monitor.state import State, StateBusy, StateError
    from pytest_mlsupply.redaction import register_webhook

    webhook = args.webhook or os.environ.get(WEBHOOK_VARIABLE) or None
    if webhook:
        register_webhook(webhook)
    if not args.config.is_file():
        print(
            f"mlsupply watch: --config {args.config}: no such file; pass the path of the "
            "project's mlsupply.yaml",
            file=sys.stderr,
        )
        return watcher.EXIT_USAGE
    try:
        manifest = load_manifest(args.config)
        watch = watcher.watch_list(manifest)
    except ManifestError as exc:
        print(exc.render(), file=sys.stderr)
        return watcher.EXIT_USAGE
    except watcher.WatchError as exc:
        print(f"mlsupply watch: {exc}", file=sys.stderr)
        return watcher.EXIT_USAGE
    if webhook and _scheme(webhook) not in ("http", "https"):
        print(f"mlsupply watch: ${WEBHOOK_VARIABLE} must be an http(s) URL", file=sys.stderr)
        return watcher.EXIT_USAGE
    if webhook and _scheme(webhook) == "http" and not _loopback(webhook):
        # Allowed (a receiver inside a private network may have no certificate), but said:
        # whoever is on the path reads the secret path, any credentials and every alert.
        print(
            "mlsupply watch: warning: the webhook is http:// to another machine: its secret "
            "path, its credentials and every alert travel unencrypted; use https://",
            file=sys.stderr,
        )
    if not watcher.SOURCES:
        # Fail closed: a watch that polls nothing must not look like one that saw no change.
        print(
            "mlsupply watch: no monitor source is installed (pytest_mlsupply.monitor.watcher."
            "SOURCES is empty); reinstall pytest-mlsupply",
            file=sys.stderr,
        )
        return watcher.EXIT_USAGE
    state_path = args.state if args.state is not None else manifest.root / DEFAULT_STATE
    sinks: list[Sink] = [TerminalSink(sys.stdout)]
    if args.jsonl is not None:
        sinks.append(JsonlSink(args.jsonl))
    stop = threading.Event()
    if webhook:
        sinks.append(
            WebhookSink(
                webhook,
                retries=args.webhook_retries,
                backoff=args.webhook_backoff,
                stopping=stop,
            )
        )
    fail_on = Severity.parse(args.fail_on)
    try:
        state = State.open(state_path)
    except StateBusy as exc:
        print(f"mlsupply watch: {exc}", file=sys.stderr)
        return watcher.EXIT_INCOMPLETE
    except StateError as exc:
        print(f"mlsupply watch: {exc}", file=sys.stderr)
        return watcher.EXIT_USAGE
    with state:
        try:
            options = WatchOptions(
                max_scan_bytes=args.max_scan_mb << 20, scan_seconds=args.scan_seconds
            )
            sources = [make(manifest, options) for make in watcher.SOURCES]
        except ValueError as exc:  # an endpoint variable that is no URL, named by the source
            from pytest_mlsupply.redaction import redact_text

            print(f"mlsupply watch: {redact_text(str(exc))}", file=sys.stderr)
            return watcher.EXIT_USAGE

        runs = 0

        def once() -> int:
            nonlocal watch, sources, runs
            runs += 1
            if runs > 1:
                # A watch runs for days: the manifest and its requirements files are read again
                # for each run, so a pin moved meanwhile is what the run asks about. One that
                # no longer reads polls nothing (fail closed: never the stale list) until fixed.
                try:
                    manifest = load_manifest(args.config)
                    watch = watcher.watch_list(manifest)
                    sources = [make(manifest, options) for make in watcher.SOURCES]
                except ManifestError as exc:
                    print(exc.render(), file=sys.stderr)
                    return watcher.EXIT_INCOMPLETE
                except (watcher.WatchError, ValueError, OSError) as exc:
                    from pytest_mlsupply.redaction import redact_text

                    print(
                        f"mlsupply watch: {redact_text(str(exc))}; nothing was polled in this run",
                        file=sys.stderr,
                    )
                    return watcher.EXIT_INCOMPLETE
            summary = watcher.run_once(watch, state, sources, sinks, errors=sys.stderr)
            _print_summary(summary)
            return watcher.exit_status(summary, fail_on)

        try:
            if args.once:
                return once()
            return watcher.watch_loop(once, args.interval, stop=stop)
        except StateBusy as exc:  # another program held it locked past the busy timeout
            print(f"mlsupply watch: {exc}", file=sys.stderr)
            return watcher.EXIT_INCOMPLETE
        except StateError as exc:  # found damaged, full or read-only in the middle of a run
            print(f"mlsupply watch: {exc}", file=sys.stderr)
            return watcher.EXIT_USAGE


def _print_summary(summary: RunSummary) -> None:
    """The run's closing line on stderr: what was raised, and what was not done."""
    parts = [f"{len(summary.raised)} new alert{'s' if len(summary.raised) != 1 else ''}"]
    if summary.late:
        parts.append(f"{len(summary.late)} from an interrupted run")
    if summary.outages:
        parts.append(f"{len(summary.outages)} outage{'s' if len(summary.outages) != 1 else ''}")
    for sink, count in sorted(summary.undelivered.items()):
        parts.append(f"{count} not yet delivered to {sink}")
    for sink, count in sorted(summary.waiting.items()):
        parts.append(f"{count} waiting for the {sink} sink, which this run does not have")
    from pytest_mlsupply.redaction import redact_text

    print(redact_text(f"mlsupply watch: {', '.join(parts)}"), file=sys.stderr)
