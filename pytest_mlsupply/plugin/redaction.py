"""Keep secrets out of what pytest itself writes: junitxml, the terminal, log files.

pytest's own writers (the terminal reporter, ``--junitxml``, ``--log-file``, live logging) never
pass through our atomic writer. They all read a test report after ``pytest_runtest_logreport``
(``pytest_collectreport`` for collection), so this plugin cleans each report first (``tryfirst``):
the failure text (``longrepr``) and the sections (captured stdout, stderr and log). Under xdist it
runs in the workers before a report is sent and again on the controller, where junitxml and the
terminal write. Log records are cleaned by a :class:`~pytest_mlsupply.redaction.RedactingFilter`
on the logging plugin's handlers, and our terminal summary writes through :func:`redacting`.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pytest_mlsupply.redaction import RedactingFilter, redact_text, register_environment

PLUGIN_NAME = "mlsupply-redaction"
#: The handlers pytest's logging plugin keeps as attributes (pytest 7 to 9). Read with getattr:
#: they are not public API, and a missing one only means that sink is not filtered here (its
#: records still reach junitxml and the terminal through the report sections cleaned below).
_LOG_HANDLERS = ("log_cli_handler", "log_file_handler", "caplog_handler", "report_handler")


class RedactingReports:
    """Registered with ``--mlsupply``: register the environment's secrets, clean every report."""

    def __init__(self, config: pytest.Config) -> None:
        register_environment()
        self.config = config
        _redact_terminal_writer(config)

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        # The terminal reporter may be registered after this plugin: its writer once it is.
        _redact_terminal_writer(config)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Not at configure time: this plugin may be registered before the logging plugin.
        _filter_log_handlers(session.config)
        _redact_terminal_writer(session.config)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        clean_report(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        clean_report(report)


def clean_report(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Redact a report's failure text and sections in place (untouched when nothing is secret).

    A ``longrepr`` that holds a secret is replaced by its redacted text: junitxml and the
    terminal both accept a string, and it keeps every line but the secret.
    """
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        path, line, reason = longrepr
        report.longrepr = (path, line, redact_text(str(reason)))
    elif longrepr is not None:
        text = str(longrepr)
        cleaned = redact_text(text)
        if cleaned != text:
            report.longrepr = cleaned
    report.sections = [(title, redact_text(content)) for title, content in report.sections]


def _redact_terminal_writer(config: pytest.Config) -> None:
    """Redact everything pytest's terminal writer writes: what no report carries reaches the
    terminal there too (the warnings summary, INTERNALERROR tracebacks, ``--setup-show``)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    writer = getattr(reporter, "_tw", None)
    if writer is None or getattr(writer, "_mlsupply_redacting", False):
        return
    write, write_raw = writer.write, getattr(writer, "write_raw", None)

    def redacting_write(msg: str, **kwargs: Any) -> None:
        write(redact_text(msg), **kwargs)

    writer.write = redacting_write
    if write_raw is not None:

        def redacting_write_raw(content: str, **kwargs: Any) -> None:
            write_raw(redact_text(content), **kwargs)

        writer.write_raw = redacting_write_raw
    writer._mlsupply_redacting = True


def _filter_log_handlers(config: pytest.Config) -> None:
    logging_plugin = config.pluginmanager.get_plugin("logging-plugin")
    if logging_plugin is None:
        return
    for name in _LOG_HANDLERS:
        handler = getattr(logging_plugin, name, None)
        if isinstance(handler, logging.Handler) and not any(
            isinstance(f, RedactingFilter) for f in handler.filters
        ):
            handler.addFilter(RedactingFilter())


class _RedactingTerminal:
    """The terminal reporter, with every line redacted before it is written."""

    def __init__(self, terminal: Any) -> None:
        self._terminal = terminal

    def write_line(self, line: str, **markup: bool) -> None:
        self._terminal.write_line(redact_text(line), **markup)

    def write_sep(self, sep: str, title: str | None = None, **markup: Any) -> None:
        self._terminal.write_sep(sep, redact_text(title) if title else title, **markup)

    def write(self, content: str, **markup: bool) -> None:
        self._terminal.write(redact_text(content), **markup)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._terminal, name)


def redacting(terminal: Any) -> Any:
    """``terminal`` (pytest's terminal reporter) with :func:`redact_text` on every line."""
    return _RedactingTerminal(terminal)
