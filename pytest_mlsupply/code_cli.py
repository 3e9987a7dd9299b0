"""``mlsupply code PATH...``: the code checks on the project's Python files, outside pytest.

The same engine as the gate's ``code[<file>]`` items
(:func:`pytest_mlsupply.engines.project_code.analyse_file`), on the same files
(:func:`pytest_mlsupply.sources.code.find_code_files`, relative to the current directory):
what a pre-commit hook or an editor's task runs on the files it touched, before the gate.

``mlsupply code [--config MLSUPPLY_YAML] [--exclude PATTERN]... [--format text|json|sarif]
[-o FILE] [--fail-on SEVERITY] [PATH...]``: with ``--config``, the manifest's ``code.paths``
(when no PATH is named), ``code.exclude``, ``policy.fail_on`` and directory, as the gate.

Exit status, as ``mlsupply scan``'s: 0 clean; 1 a finding at or above the threshold that no
``# mlsupply: ignore[RULE] -- reason`` comment suppresses; 2 something could not be checked (a
path that does not exist, a directory with no Python file, a file that cannot be read or
parsed) or the report cannot be written. Findings outrank errors: a run with both exits 1; an
error is never 0.

Every output names files relative to the current directory; SARIF places them relative to the
repository root (``reports/sarif.py``, the renderer of ``mlsupply scan`` and of the gate).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_mlsupply.results import (
    DEFAULT_THRESHOLD,
    THRESHOLD_CHOICES,
    CheckResult,
    Finding,
    RowKind,
    Severity,
    Verdict,
    shown,
)

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

#: The version of the ``--format json`` document; bumped on an incompatible change.
JSON_VERSION = 1

#: The check's name in results (``properties.check`` in SARIF): the gate's code check.
CHECK = "code"


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``code`` subcommand on ``mlsupply``'s subparsers."""
    code: argparse.ArgumentParser = commands.add_parser(
        "code",
        help="find unsafe model loading in Python files and notebooks",
        description="Run the code checks (torch.load without weights_only, pickle loads, "
        "unpinned Hub downloads, trust_remote_code, ...) on Python files and Jupyter "
        "notebooks, as the gate's code items do. Nothing is imported or run.",
        epilog="Exit status: 0 clean; 1 findings at or above the threshold (suppressed ones do "
        "not count); 2 a path, file or notebook could not be checked, or the report could not "
        "be written (findings outrank errors: a run with both exits 1). Reference: docs/cli.md.",
    )
    code.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="a .py file, a .ipynb notebook, or a directory (walked for both; hidden "
        "directories, __pycache__ and virtual environments are left out); with --config, "
        "the manifest's code.paths when none is named",
    )
    code.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="MLSUPPLY_YAML",
        help="read the project's manifest: its code.paths (when no PATH is named) and "
        "code.exclude, its policy.fail_on, and files named relative to its directory, as the "
        "gate's code items name them",
    )
    code.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="leave out files whose path relative to the current directory matches this "
        "pattern, as .gitignore does ('tests/*', '*_test.py', '**/test_*.py', 'build/'); repeat for several",
    )
    code.add_argument(
        "--format",
        choices=("text", "json", "sarif"),
        default="text",
        help="the report: text (default), json, or sarif (SARIF 2.1.0 with line and column, "
        "file names relative to the repository root)",
    )
    code.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the report to FILE (atomically) instead of stdout; the closing count "
        "line is still printed",
    )
    code.add_argument(
        "--fail-on",
        choices=THRESHOLD_CHOICES,
        default=None,
        help="findings at or above this severity fail (default: the --config manifest's "
        f"policy.fail_on, else {DEFAULT_THRESHOLD.label})",
    )
    return code


@dataclass
class CodeRun:
    """What one run checked: a result per file, and the arguments that named nothing usable."""

    threshold: Severity
    results: list[CheckResult] = field(default_factory=list)
    notebooks: set[str] = field(default_factory=set)
    """The subjects that are notebooks (their findings' lines are a cell's)."""
    unusable: list[tuple[str, str]] = field(default_factory=list)
    """(path as given, why): a path that does not exist, a directory with no Python file."""

    def verdicts(self) -> list[Verdict]:
        return [result.verdict(self.threshold) for result in self.results]

    def status(self) -> int:
        verdicts = self.verdicts()
        if Verdict.FAIL in verdicts:
            return EXIT_FINDINGS  # findings outrank errors, as in `mlsupply scan`
        if self.unusable or Verdict.ERROR in verdicts:
            return EXIT_ERROR
        return EXIT_CLEAN

    def summary(self) -> dict[str, int]:
        """Counts: files checked, findings by standing, errors, and each file verdict."""
        findings = [f for r in self.results for f in r.findings]
        counts = {
            "files": len(self.results),
            "findings": len(findings),
            "blocking": sum(f.severity >= self.threshold and f.accepted is None for f in findings),
            "suppressed": sum(f.accepted is not None for f in findings),
            "errors": sum(r.error is not None for r in self.results) + len(self.unusable),
        }
        counts["below_threshold"] = counts["findings"] - counts["blocking"] - counts["suppressed"]
        verdicts = self.verdicts()
        for verdict in (Verdict.PASS, Verdict.FAIL, Verdict.WARN, Verdict.ACCEPTED, Verdict.ERROR):
            counts[verdict.value] = verdicts.count(verdict)
        return counts


def run_code(args: argparse.Namespace) -> int:
    paths: Sequence[Path] = args.paths
    exclude: list[str] = list(args.exclude)
    threshold = DEFAULT_THRESHOLD
    root = Path.cwd()
    if args.config is not None:
        from pytest_mlsupply.manifest.errors import ManifestError
        from pytest_mlsupply.manifest.loader import load_manifest

        if not args.config.is_file():
            print(
                f"mlsupply code: --config {args.config}: no such file; pass the path of the "
                "project's mlsupply.yaml",
                file=sys.stderr,
            )
            return EXIT_ERROR
        try:
            manifest = load_manifest(args.config)
        except ManifestError as exc:
            print(exc.render(), file=sys.stderr)
            return EXIT_ERROR
        if not paths and manifest.code is None:
            print(
                f"mlsupply code: {args.config} has no code section and no PATH is named; add "
                "'code: {paths: [src/]}' to it, or name the files to check",
                file=sys.stderr,
            )
            return EXIT_ERROR
        if manifest.code is not None:
            paths = paths or manifest.code.paths
            exclude = [*manifest.code.exclude, *exclude]
        threshold = manifest.policy.fail_on
        root = manifest.root
    elif not paths:
        print(
            "mlsupply code: name the files or directories to check, or pass --config with the "
            "project's mlsupply.yaml (its code.paths)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    if args.fail_on is not None:
        threshold = Severity.parse(args.fail_on)
    run = check_paths(paths, exclude, threshold=threshold, root=root)
    if args.format == "json":
        report = render_json(run) + "\n"
    elif args.format == "sarif":
        report = render_code_sarif(run, root) + "\n"
    else:
        report = render_text(run)
    status = run.status()
    try:
        if args.output is None:
            sys.stdout.write(report)
            sys.stdout.flush()
            return status
        from pytest_mlsupply.reports.atomic import write_atomic

        try:
            write_atomic(args.output, report)
        except OSError as exc:
            print(
                f"mlsupply code: cannot write {args.output}: {exc.strerror or exc}; choose a "
                "writable path with --output",
                file=sys.stderr,
            )
            # The report is lost, never the verdict: findings still exit 1, anything else 2.
            return status if status == EXIT_FINDINGS else EXIT_ERROR
        print(f"{_count_line(run)}; report written to {_plain(str(args.output))}")
    except BrokenPipeError:  # `mlsupply code src | head`: the reader left; not our failure
        sys.stderr.close()
        return status if status != EXIT_CLEAN else EXIT_ERROR
    return status


def check_paths(
    paths: Sequence[Path], exclude: Sequence[str], *, threshold: Severity, root: Path | None = None
) -> CodeRun:
    """Analyse every code file under ``paths`` (less ``exclude``) with the gate's engine, named
    relative to ``root`` (the manifest's directory with ``--config``; else the current one)."""
    from pytest_mlsupply.sources.code import (
        CodeFile,
        find_code_files,
        unfollowed_link,
        unreadable_directory,
    )

    here = root or Path.cwd()
    run = CodeRun(threshold=threshold)
    files: dict[str, CodeFile] = {}
    for path in paths:
        if not path.exists():
            # A dangling symlink too: there is nothing to read, and saying so beats a pass.
            run.unusable.append((str(path), "no such file or directory"))
            continue
        listing = find_code_files([path], exclude, root=here)
        found = listing.files
        for link, target in listing.unfollowed:
            run.unusable.append((link, unfollowed_link(target, "--exclude")))
        for directory, problem in listing.unreadable:
            run.unusable.append((directory, unreadable_directory(problem, "--exclude")))
        if path.is_dir() and not found and not listing.unfollowed and not listing.unreadable:
            run.unusable.append(
                (
                    str(path),
                    "no .py or .ipynb file in this directory (after --exclude); name a "
                    "directory that holds the project's code, or loosen --exclude",
                )
            )
        for code_file in found:
            files.setdefault(code_file.subject, code_file)
    for subject in sorted(files):
        code_file = files[subject]
        if code_file.notebook:
            run.notebooks.add(subject)
        run.results.append(_check(code_file.path, subject))
    return run


def _check(path: Path, subject: str) -> CheckResult:
    from pytest_mlsupply.engines.project_code import EXCLUDE_HINT, analyse_file

    try:
        analysis = analyse_file(path, display=subject)
    except Exception as exc:
        # The engine promises not to raise; if it ever does, the file is an error, not a pass,
        # and the other files are still checked.
        return CheckResult(
            RowKind.CODE,
            subject,
            CHECK,
            error=f"{subject}: the analysis crashed ({type(exc).__name__}: {exc}); "
            "please report it with the file",
        )
    # The engine's fixes name the gate's key; here the option does the same.
    error = analysis.error and analysis.error.replace(EXCLUDE_HINT, "with --exclude")
    return CheckResult(RowKind.CODE, subject, CHECK, findings=list(analysis.findings), error=error)


# -- text -----------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Anything read from a file or its name, safe for a terminal: as is when printable, else
    quoted with every control, bidi and line-breaking character escaped (``results.shown``)."""
    return text if text.isprintable() else shown(text)


def where(finding: Finding, subject: str) -> str:
    """``path:line:column`` (``nb.ipynb:cell 3:line:column`` in a notebook), as editors and
    compilers write a place; the path escaped when it holds control characters."""
    location = finding.location
    parts = [_plain(location.file or subject)]
    if location.cell is not None:
        parts.append(f"cell {location.cell}")
    if location.line is not None:
        parts.append(str(location.line))
        if location.column is not None:
            parts.append(str(location.column))
    return ":".join(parts)


def render_text(run: CodeRun) -> str:
    """One block per finding (place, severity, rule, title; the quoted line; the fix; the CWE;
    a suppression's reason), each error named, then the closing count line."""
    lines: list[str] = []
    for path, why in run.unusable:
        lines.append(f"ERROR {_plain(path)}: {_plain(why)}")
    for result in run.results:
        if result.error is not None:
            # The engine's errors start with the file's name; it is not written twice.
            error = result.error
            if not error.startswith(f"{result.subject}: "):
                error = f"{result.subject}: {error}"
            lines.append(f"ERROR {_plain(error)}")
        for finding in sorted(result.findings, key=_order):
            lines.extend(_block(finding, result.subject, run.threshold))
    lines.append(_count_line(run))
    return "\n".join(lines) + "\n"


def _order(finding: Finding) -> tuple[int, int, int, str]:
    where_ = finding.location
    return (where_.cell or 0, where_.line or 0, where_.column or 0, finding.rule)


def _block(finding: Finding, subject: str, threshold: Severity) -> list[str]:
    head = f"{where(finding, subject)}: [{finding.severity.label.upper()}] {finding.rule}"
    head += f" {_plain(finding.title)}"
    if finding.accepted is not None:
        head += " (suppressed)"
    elif finding.severity < threshold:
        head += f" (below the threshold, {threshold.label})"
    block = [head]
    if finding.evidence:
        block.append(f"    {_plain(finding.evidence)}")
    if finding.remediation:
        block.append(f"  fix: {_plain(finding.remediation)}")
    if finding.cwe:
        block.append(f"  {finding.cwe}")
    if finding.accepted is not None:
        block.append(f"  {_plain(finding.accepted.describe())}")
    return block


def _count_line(run: CodeRun) -> str:
    counts = run.summary()
    files = f"{counts['files']} file{'' if counts['files'] == 1 else 's'}"
    parts = [
        f"{counts['blocking']} failing finding{'' if counts['blocking'] == 1 else 's'}",
        f"{counts['below_threshold']} below the threshold",
        f"{counts['suppressed']} suppressed",
        f"{counts['errors']} error{'' if counts['errors'] == 1 else 's'}",
    ]
    return f"checked {files}: {', '.join(parts)} (fail at {run.threshold.label} and above)"


# -- JSON -----------------------------------------------------------------------------------


def render_json(run: CodeRun) -> str:
    """The documented ``--format json`` document (docs/cli.md#json-output-1): stable keys,
    sorted, every finding as :meth:`Finding.to_dict` (the matrix JSON's form)."""
    from pytest_mlsupply import __version__

    document = {
        "version": JSON_VERSION,
        "tool": {"name": "pytest-mlsupply", "version": __version__},
        "threshold": run.threshold.label,
        "files": [
            {
                "path": result.subject,
                "notebook": result.subject in run.notebooks,
                "verdict": verdict.value,
                "error": result.error,
                "findings": [
                    finding.to_dict()
                    | {"blocking": finding.severity >= run.threshold and finding.accepted is None}
                    for finding in sorted(result.findings, key=_order)
                ],
            }
            for result, verdict in zip(run.results, run.verdicts(), strict=True)
        ],
        "errors": [{"path": path, "error": why} for path, why in run.unusable],
        "summary": run.summary(),
    }
    return json.dumps(document, indent=2, sort_keys=True)


# -- SARIF ----------------------------------------------------------------------------------


def render_code_sarif(run: CodeRun, here: Path) -> str:
    """The run as SARIF 2.1.0, through the one renderer (``reports/sarif.py``): files relative
    to the repository root (else ``here``), lines and columns, notebook cells by name."""
    from pytest_mlsupply import __version__
    from pytest_mlsupply.build_context import detect
    from pytest_mlsupply.reports.sarif import SourceRoot, render_sarif

    build = detect(here)
    base = here.resolve()
    root = SourceRoot(
        root=(build.repo_root or base).resolve(),
        base=base,
        repository=build.repository,
        commit=build.commit,
    )
    # An argument that named nothing is an errored result, so the log's invocation says it
    # was not successful, with the reason (a missing path or an empty directory).
    unusable = [CheckResult(RowKind.CODE, path, CHECK, error=why) for path, why in run.unusable]
    return render_sarif(
        [*run.results, *unusable], run.threshold, tool_version=__version__, root=root
    )
