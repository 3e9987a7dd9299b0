"""The CI job summary: GitHub Actions' ``$GITHUB_STEP_SUMMARY`` gets the gate's verdict.

When the variable names a file, the session (the xdist controller, or the serial run) appends
one line saying whether the supply-chain gate passed, with its counts and threshold, followed
by the Markdown matrix (:func:`~.matrix.render_markdown`, the same text as ``<matrix>.md``).
It is appended after the reports are written, whatever the verdict: a failed gate is where a
reader needs it most.

Appended, never replaced: other steps of the job write to the same file. A summary that cannot
be written does not change the gate's verdict or exit status (the reports and the exit status
are the gate; the summary is a view of them), but it is never silent either: the terminal
summary says which file and why.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pytest_mlsupply.redaction import redact_text
from pytest_mlsupply.results import Severity, Verdict

ENV_VAR = "GITHUB_STEP_SUMMARY"

#: Verdicts in the order the line counts them (worst first); zero counts are left out.
_COUNTED = (
    Verdict.FAIL,
    Verdict.ERROR,
    Verdict.WARN,
    Verdict.ACCEPTED,
    Verdict.NOT_RUN,
    Verdict.SKIPPED,
    Verdict.PASS,
)


def verdict_line(
    counts: Mapping[str, int],
    threshold: Severity,
    report_error: str | None,
    not_run: tuple[int, int] | None = None,
) -> str:
    """``❌ supply-chain gate failed: 2 fail, 1 error, 31 pass (threshold high)``.

    The gate fails on a failing or errored check (an error is never a pass), and when its
    reports could not be written. ``not_run`` is (items that did not run, items planned) for a
    partial run (``-k``, ``--lf``): a pass of part of the gate is never shown as the gate's
    pass."""
    shown = ", ".join(f"{counts[v.value]} {v.value}" for v in _COUNTED if counts.get(v.value))
    tail = f"{shown or 'no checks'} (threshold {threshold.label})"
    if report_error is not None:
        return f"❌ supply-chain gate failed: the reports could not be written ({tail})"
    if counts.get(Verdict.FAIL.value) or counts.get(Verdict.ERROR.value):
        return f"❌ supply-chain gate failed: {tail}"
    if not_run is not None and not_run[0]:
        missing, planned = not_run
        return (
            f"⚠️ supply-chain gate incomplete: partial run, {missing} of {planned} planned "
            f"item(s) did not run; {tail}"
        )
    if counts.get(Verdict.NOT_RUN.value):
        # A partial run (-k, --deselect, --lf, -x) passed only what it ran: never a green tick
        # that reads like the release's gate (the attestation calls it a fail too).
        return f"⚠️ supply-chain gate incomplete (partial run, not the release's gate): {tail}"
    return f"✅ supply-chain gate passed: {tail}"


def render_summary(
    counts: Mapping[str, int],
    threshold: Severity,
    matrix_markdown: str | None,
    report_error: str | None,
    not_run: tuple[int, int] | None = None,
) -> str:
    lines = [verdict_line(counts, threshold, report_error, not_run), ""]
    if report_error is not None:
        # A code span, as the matrix shows subjects: the message names files, which are
        # attacker-controlled, and must not become links or markup in the job's page.
        from pytest_mlsupply.reports.matrix import _code

        lines += [f"Report error: {_code(report_error)}", ""]
    if matrix_markdown:
        lines.append(matrix_markdown.rstrip("\n"))
        lines.append("")
    return "\n".join(lines) + "\n"


def invalid_manifest_summary(name: str) -> str:
    """The summary of a gate that could not start: its manifest has errors (no matrix, no BOM)."""
    from pytest_mlsupply.reports.matrix import _code

    return (
        f"❌ supply-chain gate failed: the manifest {_code(name)} has errors; nothing was "
        "checked (the job's log lists each problem, with its line and the fix)\n\n"
    )


def interrupted_summary(signal_name: str) -> str:
    """The summary of a gate interrupted before its reports (none written: no verdict)."""
    return (
        f"❌ supply-chain gate interrupted by {signal_name}: no report was written; any BOM "
        "or matrix in the workspace is an earlier run's, not this one's\n\n"
    )


def summary_path(env: Mapping[str, str] | None = None) -> Path | None:
    value = (os.environ if env is None else env).get(ENV_VAR, "").strip()
    return Path(value) if value else None


def append_summary(path: Path, text: str) -> str | None:
    """Append ``text`` to ``path``; None, or why it could not be written (for the terminal)."""
    try:
        # One write of the whole text: a reader never sees half a verdict line.
        with path.open("a", encoding="utf-8", newline="\n") as out:
            out.write(redact_text(text))  # a job summary is public to everyone who sees the run
    except OSError as exc:
        return f"cannot append the CI summary to ${ENV_VAR} ({path}): {exc.strerror or exc}"
    return None
