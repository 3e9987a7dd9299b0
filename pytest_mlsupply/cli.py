"""The ``mlsupply`` command line: the same checks as the pytest plugin, outside pytest.

``mlsupply scan PATH...`` runs every artifact check on the given files and directories, under
the same policy as the gate: the built-in default, or the ``policy:`` of a manifest named with
``--config``, with explicit flags beating both.
Exit status: 0 clean, 1 findings at or above the threshold, 2 something could not be scanned
(findings outrank errors: a run with both exits 1). Bad arguments and a manifest that cannot be
used also exit 2, before anything is scanned.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pytest_mlsupply import __version__
from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.manifest.errors import ManifestError
from pytest_mlsupply.manifest.loader import load_manifest
from pytest_mlsupply.manifest.model import (
    DEFAULT_BOM_PATH,
    DEFAULT_MATRIX_PATH,
    SCHEMA_VERSION,
    Manifest,
    ModelDecl,
    OutputDecl,
    Policy,
    Span,
)
from pytest_mlsupply.plan import build_plan
from pytest_mlsupply.results import THRESHOLD_CHOICES, CheckResult, RowKind, Severity, Verdict
from pytest_mlsupply.sources.inventory import ArtifactFile, Inventory, ResolvedModel
from pytest_mlsupply.sources.local import list_model_files

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

_PICKLE_MODES = ("default-deny", "denylist")
_PICKLE_FORMATS = ("deny", "scan")


def main(argv: Sequence[str] | None = None) -> int:
    parser, scan = _parser()
    args = parser.parse_args(argv)
    if args.config is not None and not args.config.is_file():
        scan.error(
            f"--config {args.config}: no such file; pass the path of the project's mlsupply.yaml"
        )
    try:
        policy = scan_policy(
            args.config,
            fail_on=args.fail_on,
            pickle=args.policy,
            pickle_formats=args.pickle_formats,
        )
    except ManifestError as exc:
        # The plugin's own report: file:line:column, key and fix for every problem at once.
        print(exc.render(), file=sys.stderr)
        return EXIT_ERROR
    try:
        return run_scan(args.paths, policy, args.format)
    except BrokenPipeError:  # `mlsupply scan ... | head`: the reader left; not our failure
        sys.stderr.close()
        return EXIT_ERROR


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The ``mlsupply`` parser and its ``scan`` subcommand's (whose usage its errors show)."""
    parser = argparse.ArgumentParser(prog="mlsupply", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    scan = commands.add_parser(
        "scan",
        help="scan model files and directories by content",
        description="Run the artifact checks on files and directories.",
    )
    scan.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    scan.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    scan.add_argument(
        "--config",
        type=Path,
        metavar="MANIFEST",
        default=None,
        help="read the policy (fail_on, pickle, pickle_formats, allow_globals, require_pins) "
        "from this mlsupply.yaml; the flags below beat it",
    )
    scan.add_argument(
        "--fail-on",
        choices=THRESHOLD_CHOICES,
        default=None,
        help="findings at or above this severity fail (default: the manifest's, else high)",
    )
    scan.add_argument(
        "--pickle-formats",
        choices=_PICKLE_FORMATS,
        default=None,
        help="deny: every pickle-based file fails; scan: accepted when the deep scan clears "
        "its content (default: the manifest's, else deny)",
    )
    scan.add_argument(
        "--policy",
        choices=_PICKLE_MODES,
        default=None,
        help="how a pickle's imports are judged: default-deny (allowlist first) or denylist "
        "(default: the manifest's policy.pickle, else default-deny)",
    )
    return parser, scan


def scan_policy(
    config: Path | None,
    *,
    fail_on: str | None = None,
    pickle: Literal["default-deny", "denylist"] | None = None,
    pickle_formats: Literal["deny", "scan"] | None = None,
) -> Policy:
    """The manifest's policy (or the default one), with each explicitly given flag on top.

    Raises :class:`ManifestError` for a manifest the plugin would refuse, with the same
    messages (a mutable revision's names the commit to pin, as the plugin's does).
    """
    policy = Policy()
    if config is not None:
        from pytest_mlsupply.sources.hub import revision_pointer

        policy = load_manifest(config, resolve_revision=revision_pointer).policy
    return replace(
        policy,
        fail_on=Severity.parse(fail_on) if fail_on else policy.fail_on,
        pickle=pickle or policy.pickle,
        pickle_formats=pickle_formats or policy.pickle_formats,
    )


def _subjects(paths: Sequence[Path]) -> tuple[list[ResolvedModel], list[str]]:
    """Each PATH becomes one ad-hoc model (a directory, or a single file in its directory)."""
    models: list[ResolvedModel] = []
    missing: list[str] = []
    used: set[str] = set()
    for raw in paths:
        path = raw.resolve()
        if not path.exists() and not path.is_symlink():
            missing.append(str(raw))
            continue
        root = path if path.is_dir() else path.parent
        base = re.sub(r"[^A-Za-z0-9._-]", "_", root.name) or "root"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        decl = ModelDecl(name=name, span=Span(path, 0, 0), path=root)
        if path.is_dir():
            files = list_model_files(name, root, {})
        else:
            files = (
                ArtifactFile(model=name, relpath=path.name, path=path, size=path.lstat().st_size),
            )
        models.append(ResolvedModel(decl=decl, root=root, files=files))
    return models, missing


def run_scan(paths: Sequence[Path], policy: Policy, fmt: str) -> int:
    from pytest_mlsupply.checks.runner import run_item

    models, missing = _subjects(paths)
    threshold = policy.fail_on
    here = Path.cwd()
    manifest = Manifest(
        path=here / "mlsupply.yaml",
        version=SCHEMA_VERSION,
        policy=policy,
        output=OutputDecl(bom=here / DEFAULT_BOM_PATH, matrix=here / DEFAULT_MATRIX_PATH),
        project_name="mlsupply-scan",
        models=tuple(m.decl for m in models),
    )
    inventory = Inventory(manifest=manifest, models=tuple(models), datasets=(), dependencies=())
    # Findings speak to a command-line user: paths and flags, not manifest keys.
    context = CheckContext(
        policy=policy, inventory=inventory, contents=ContentCache(), audience="cli"
    )
    results: list[CheckResult] = []
    for item in build_plan(inventory):
        if item.kind is RowKind.ARTIFACT:  # provenance claims need a manifest; not for scans
            results.extend(run_item(item, context))
    verdicts = [r.verdict(threshold) for r in results]
    summary = _summary(models, verdicts, missing)
    if fmt == "json":
        print(
            json.dumps(
                {
                    "tool": {"name": "pytest-mlsupply", "version": __version__},
                    "threshold": threshold.label,
                    "missing": missing,
                    "summary": summary,
                    "results": [
                        r.to_dict() | {"verdict": v.value}
                        for r, v in zip(results, verdicts, strict=True)
                    ],
                },
                indent=2,
                sort_keys=True,
            )
        )
    elif fmt == "sarif":
        from pytest_mlsupply.reports.sarif import render_sarif

        print(render_sarif(results, threshold, tool_version=__version__, unreadable=missing))
    else:
        _print_text(results, verdicts, missing, summary, threshold)
    if Verdict.FAIL in verdicts:
        return EXIT_FINDINGS
    if missing or Verdict.ERROR in verdicts:
        return EXIT_ERROR
    return EXIT_CLEAN


def _summary(
    models: Sequence[ResolvedModel], verdicts: Sequence[Verdict], missing: Sequence[str]
) -> dict[str, int]:
    """Files scanned and check verdicts; a path that does not exist counts as an error."""
    counts: dict[str, int] = {"files": sum(len(m.files) for m in models)}
    for verdict in Verdict:
        if verdict is not Verdict.NOT_RUN:
            counts[verdict.value] = verdicts.count(verdict)
    counts[Verdict.ERROR.value] += len(missing)
    return counts


def _print_text(
    results: Sequence[CheckResult],
    verdicts: Sequence[Verdict],
    missing: Sequence[str],
    summary: dict[str, int],
    threshold: Severity,
) -> None:
    out = sys.stdout
    for path in missing:
        out.write(f"ERROR {path}: no such file or directory\n")
    for result, verdict in zip(results, verdicts, strict=True):
        if verdict is Verdict.PASS:
            continue
        out.write(f"{verdict.value.upper()} {result.subject} [{result.check}]\n")
        if result.error:
            out.write(f"  could not complete: {result.error}\n")
        for finding in sorted(result.findings, key=lambda f: -f.severity):
            if finding.severity > Severity.INFO:
                out.write("  " + finding.render().replace("\n", "\n  ") + "\n")
    counts = ", ".join(f"{summary[v.value]} {v.value}" for v in Verdict if v is not Verdict.NOT_RUN)
    files = f"{summary['files']} file{'' if summary['files'] == 1 else 's'}"
    out.write(f"scanned {files}: {counts} (fail at {threshold.label} and above)\n")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
