"""The ``mlsupply`` command line: the same checks as the pytest plugin, outside pytest.

``mlsupply scan TARGET...`` runs every artifact check on the given files, directories and Hub
snapshots (``hf://org/name@<commit>``), under the same policy as the gate: the built-in default,
or the ``policy:`` of a manifest named with ``--config``, with explicit flags beating both.
Exit status: 0 clean, 1 findings at or above the threshold, 2 something could not be scanned
(findings outrank errors: a run with both exits 1). Bad arguments and a manifest that cannot be
used also exit 2, before anything is scanned.

``mlsupply verify ATTESTATION --key PUB [FILE_OR_DIR...]`` checks the gate's own attestation
(``pytest --mlsupply-attest``): see :mod:`pytest_mlsupply.verify`.

``mlsupply baseline`` writes the gate's current findings into the baseline file, to be accepted
with a reason, an owner and an expiry date: see :mod:`pytest_mlsupply.baseline_cli`.

``mlsupply report`` rebuilds the HTML report from a gate's saved matrix and BOM: see
:mod:`pytest_mlsupply.report_cli`.

``mlsupply code PATH...`` runs the code checks (unsafe model loading) on Python files and
notebooks: see :mod:`pytest_mlsupply.code_cli`.

``mlsupply watch`` polls the Hub and the package index for changes to what the manifest's
``monitor:`` section tracks: see :mod:`pytest_mlsupply.monitor.cli`.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pytest_mlsupply import __version__
from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.content_store import (
    ContentStore,
    cli_store_folder,
    settle_override_ns,
)
from pytest_mlsupply.manifest.errors import ManifestError
from pytest_mlsupply.manifest.loader import load_manifest, split_hub_uri
from pytest_mlsupply.manifest.model import (
    DEFAULT_BOM_PATH,
    DEFAULT_MATRIX_PATH,
    SCHEMA_VERSION,
    HubRef,
    Manifest,
    ModelDecl,
    OutputDecl,
    Policy,
    Span,
)
from pytest_mlsupply.plan import build_plan
from pytest_mlsupply.printable import one_line, terminal_text
from pytest_mlsupply.results import THRESHOLD_CHOICES, CheckResult, RowKind, Severity, Verdict
from pytest_mlsupply.sources.inventory import ArtifactFile, Inventory, ResolvedModel

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

_HUB_SCHEMES = ("hf://", "hf-datasets://")
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_PICKLE_MODES = ("default-deny", "denylist")
_PICKLE_FORMATS = ("deny", "scan")

Target = Path | HubRef
"""What one command-line argument names: a local file or directory, or a Hub snapshot."""


def main(argv: Sequence[str] | None = None) -> int:
    """The ``mlsupply`` command: :func:`_main` with the environment's secrets registered and
    every line it prints to stdout or stderr redacted (:mod:`pytest_mlsupply.redaction`)."""
    from pytest_mlsupply.redaction import RedactingStream, register_environment

    register_environment()
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(out), RedactingStream(err)
    try:
        return _main(argv)
    except Exception:
        # A crash's traceback may quote a secret (an exception's message, a local's repr):
        # printed here, while stderr still redacts, and an error, never a pass.
        import traceback

        traceback.print_exc()
        return EXIT_ERROR
    finally:
        sys.stdout, sys.stderr = out, err


def _main(argv: Sequence[str] | None = None) -> int:
    parser, scan = _parser()
    # Known args first: `verify ATT --key PUB DIR` has positionals after an option, which
    # argparse leaves over; they are verify's files (anything else is an error, as before).
    args, rest = parser.parse_known_args(argv)
    if args.command == "verify":
        from pytest_mlsupply.verify import run_verify, take_files

        take_files(args, rest, parser)
        return run_verify(args)
    if args.command == "baseline" and not rest:
        from pytest_mlsupply.baseline_cli import run_baseline

        return run_baseline(args)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "bom":
        from pytest_mlsupply.bom_diff import run_bom

        return run_bom(args)
    if args.command == "report":
        from pytest_mlsupply.report_cli import run_report

        return run_report(args)
    if args.command == "code":
        from pytest_mlsupply.code_cli import run_code

        return run_code(args)
    if args.command == "watch":
        from pytest_mlsupply.monitor.cli import run_watch

        return run_watch(args)
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
    if not args.no_cache:
        try:
            settle_override_ns()
        except ValueError as exc:
            print(f"mlsupply: {exc}", file=sys.stderr)
            return EXIT_ERROR
    try:
        return run_scan(
            args.targets,
            policy,
            args.format,
            quiet=args.quiet,
            use_cache=not args.no_cache,
            cache_dir=args.cache_dir,
        )
    except BrokenPipeError:  # `mlsupply scan ... | head`: the reader left; not our failure
        sys.stderr.close()
        return EXIT_ERROR


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The ``mlsupply`` parser and its ``scan`` subcommand's (whose usage its errors show)."""
    # Plain text: --help is read in a terminal, where the docstring's ``markup`` is noise.
    parser = argparse.ArgumentParser(
        prog="mlsupply",
        description="The mlsupply command line: the same checks as the pytest plugin, "
        "outside pytest.",
        epilog="Reference: docs/cli.md (every subcommand, option, exit status and output format).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    scan = commands.add_parser(
        "scan",
        help="scan model files, directories and Hub snapshots by content",
        description="Run the artifact checks on files, directories and Hub snapshots.",
        epilog="Exit status: 0 clean; 1 findings at or above the threshold; 2 something could "
        "not be scanned, or bad arguments or manifest (findings outrank errors: a run with both "
        "exits 1).",
    )
    scan.add_argument(
        "targets",
        nargs="+",
        type=_target,
        metavar="PATH",
        help="a file, a directory, or a Hub snapshot: hf://org/name@<40-hex commit> "
        "(hf-datasets://org/name@<40-hex commit> for a dataset)",
    )
    scan.add_argument(
        "--format",
        choices=("text", "json", "sarif"),
        default="text",
        help="the report on stdout: text (default), json, or sarif (SARIF 2.1.0, file names "
        "relative to the repository root)",
    )
    scan.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bar (it is shown on stderr only when stderr is a terminal)",
    )
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
    scan.add_argument(
        "--no-cache",
        action="store_true",
        default=False,
        help="read and scan every file, neither using nor updating the content cache "
        "(mlsupply-content in pytest's cache directory: see --cache-dir)",
    )
    scan.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        default=None,
        help="pytest's cache directory to keep the content cache in (DIR/d/mlsupply-content); "
        "default: the cache_dir of the pytest configuration found from the current directory "
        "(pytest.ini, pyproject.toml, tox.ini, setup.cfg), else the nearest .pytest_cache up "
        "the tree, else ./.pytest_cache",
    )
    from pytest_mlsupply.verify import add_parser as add_verify

    add_verify(commands)
    from pytest_mlsupply.baseline_cli import add_parser as add_baseline

    add_baseline(commands)
    from pytest_mlsupply.bom_diff import add_parser as add_bom

    add_bom(commands)
    from pytest_mlsupply.report_cli import add_parser as add_report

    add_report(commands)
    from pytest_mlsupply.code_cli import add_parser as add_code

    add_code(commands)
    from pytest_mlsupply.monitor.cli import add_parser as add_watch

    add_watch(commands)
    return parser, scan


def _target(text: str) -> Target:
    """One argument: a Hub reference when it has a hub scheme, else a local path."""
    if not text.startswith(_HUB_SCHEMES):
        return Path(text)
    parts = split_hub_uri(text)
    if parts is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Hub reference; write hf://org/name@<40-hex commit> "
            "(hf-datasets://org/name@<40-hex commit> for a dataset)"
        )
    repo_type, repo_id, revision = parts
    if revision is None:
        scheme = text.split("://", 1)[0]
        raise argparse.ArgumentTypeError(
            f"{text!r} has no revision; pin the commit: {scheme}://{repo_id}@<40-hex commit>"
        )
    commit = revision.lower()
    return HubRef(repo_type, repo_id, commit if _COMMIT_RE.match(commit) else revision)


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


@dataclass(frozen=True)
class Subjects:
    """What the targets resolved to: one ad-hoc model each, and the paths that do not exist."""

    models: list[ResolvedModel]
    missing: list[str]


def resolve_targets(targets: Sequence[Target], policy: Policy) -> Subjects:
    """Each target becomes one ad-hoc model: a directory, a single file in its directory, or a
    Hub snapshot resolved as the plugin resolves a manifest's ``source:``."""
    from pytest_mlsupply.sources.resolve import resolve_model

    models: list[ResolvedModel] = []
    missing: list[str] = []
    used: set[str] = set()
    # Files named one by one are grouped by their directory, so each reads as dir/name.
    file_models: dict[Path, int] = {}
    for target in targets:
        if isinstance(target, HubRef):
            name = _unique_name(target.repo_id.rsplit("/", 1)[-1], used)
            # No manifest: the span is never shown, but a declaration needs one.
            decl = ModelDecl(name=name, span=Span(Path.cwd(), 0, 0), source=target)
            if policy.require_pins and not _COMMIT_RE.match(target.revision):
                models.append(ResolvedModel(decl=decl, root=None, error=_mutable(target)))
            else:
                models.append(resolve_model(decl))
            continue
        path = target.resolve()
        if not path.exists() and not path.is_symlink():
            missing.append(str(target))
            continue
        root = path if path.is_dir() else path.parent
        if path.is_dir():
            name = _unique_name(root.name, used)
            models.append(resolve_model(ModelDecl(name=name, span=Span(path, 0, 0), path=root)))
            continue
        index = file_models.get(root)
        if index is None:
            name = _unique_name(root.name, used)
            decl = ModelDecl(name=name, span=Span(path, 0, 0), path=root)
            file_models[root] = len(models)
            models.append(ResolvedModel(decl=decl, root=root, files=()))
            index = file_models[root]
        model = models[index]
        if any(f.path == path for f in model.files):
            continue  # the same file named twice is scanned once
        file = ArtifactFile(
            model=model.decl.name, relpath=path.name, path=path, size=path.lstat().st_size
        )
        models[index] = replace(model, files=(*model.files, file))
    return Subjects(models, missing)


def _unique_name(raw: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "_", raw) or "root"
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}-{n}"
    used.add(name)
    return name


def _mutable(ref: HubRef) -> str:
    """Why a branch or tag is refused, naming the commit to scan instead when it can be found."""
    from pytest_mlsupply.sources.hub import revision_pointer

    pointer = revision_pointer(ref.repo_type, ref.repo_id, ref.revision)
    base = ref.uri.rsplit("@", 1)[0]
    if pointer is not None:
        pin = f"it points to {pointer.commit} {pointer.where}: scan {base}@{pointer.commit}"
    else:
        pin = f"scan {base}@<40-hex commit> (the repository's commit history on the Hub lists it)"
    return (
        f"{ref.uri}: revision {ref.revision!r} is mutable (a branch or tag can be moved to other "
        f"files); pin the commit: {pin}, or pass --config with a manifest whose policy sets "
        "require_pins: false to accept mutable revisions"
    )


def run_scan(
    targets: Sequence[Target],
    policy: Policy,
    fmt: str,
    *,
    quiet: bool = False,
    use_cache: bool = True,
    cache_dir: Path | None = None,
) -> int:
    from pytest_mlsupply.checks.hashing import shutdown as stop_hashing
    from pytest_mlsupply.checks.runner import run_item
    from pytest_mlsupply.progress import Progress

    subjects = resolve_targets(targets, policy)
    models, missing = subjects.models, subjects.missing
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
    # The plugin's content cache, so a scan after a gate (or a second scan) reads nothing again.
    store = (
        ContentStore(cli_store_folder(here, cache_dir), create_pytest_cache=True)
        if use_cache
        else None
    )
    context = CheckContext(
        policy=policy, inventory=inventory, contents=ContentCache(store), audience="cli"
    )
    results: list[CheckResult] = []
    items = [item for item in build_plan(inventory) if item.kind is RowKind.ARTIFACT]
    # The plan lists each file's checks together: a file is done when the next subject starts.
    sizes = {f.subject: f.size for m in models for f in m.files}
    paths = {f.subject: f.path for m in models for f in m.files}
    # Each file's digest starts on the hashing pool when its first check runs, with the next
    # file's beside it: the second core hashes file 2 while file 1 is scanned.
    order = list(dict.fromkeys(item.subject for item in items if item.subject in paths))
    upcoming = {subject: order[i : i + 2] for i, subject in enumerate(order)}
    progress = Progress.on_terminal(len(sizes), sum(sizes.values()), quiet=quiet)
    try:
        for index, item in enumerate(items):  # provenance claims need a manifest; not for scans
            first_of_subject = index == 0 or items[index - 1].subject != item.subject
            if first_of_subject:
                for subject in upcoming.get(item.subject, ()):
                    context.contents.prefetch(paths[subject])
            results.extend(run_item(item, context))
            last_of_subject = index + 1 == len(items) or items[index + 1].subject != item.subject
            if last_of_subject and item.subject in sizes:
                progress.advance(sizes[item.subject])
    finally:  # Ctrl-C included: the shell prompt must not land on the bar's line
        progress.close()
        stop_hashing()  # no hashing thread outlives the scan
    verdicts = [r.verdict(threshold) for r in results]
    summary = _summary(models, verdicts, missing)
    if fmt == "json":
        print(
            json.dumps(
                {
                    "tool": {"name": "pytest-mlsupply", "version": __version__},
                    "threshold": threshold.label,
                    "missing": missing,
                    "snapshots": _snapshots(models),
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
        from pytest_mlsupply.build_context import detect
        from pytest_mlsupply.reports.sarif import render_sarif, source_root

        # Relative to the repository root (else this directory), whatever directory was named:
        # code scanning places an alert on `project/models/x.pkl`, not on `models/x.pkl`.
        root = source_root(inventory, detect(here), here)
        print(
            render_sarif(
                results, threshold, tool_version=__version__, unreadable=missing, root=root
            )
        )
    else:
        _print_text(models, results, verdicts, missing, summary, threshold)
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
        # A scan plans, skips and accepts nothing (the baseline is the gate's).
        if verdict not in (Verdict.NOT_RUN, Verdict.SKIPPED, Verdict.ACCEPTED):
            counts[verdict.value] = verdicts.count(verdict)
    counts[Verdict.ERROR.value] += len(missing)
    return counts


def _snapshots(models: Sequence[ResolvedModel]) -> dict[str, dict[str, Any]]:
    """Each Hub target that resolved: the commit scanned and where its snapshot is."""
    return {
        m.decl.source.uri: {"commit": m.commit, "path": str(m.root)}
        for m in models
        if m.decl.source is not None and m.commit is not None
    }


def _print_text(
    models: Sequence[ResolvedModel],
    results: Sequence[CheckResult],
    verdicts: Sequence[Verdict],
    missing: Sequence[str],
    summary: dict[str, int],
    threshold: Severity,
) -> None:
    # Gathered, then escaped as one block: names and evidence come from the files scanned.
    out = io.StringIO()
    for uri, snapshot in _snapshots(models).items():
        out.write(f"{uri}: commit {snapshot['commit']} ({snapshot['path']})\n")
    for path in missing:
        out.write(f"ERROR {path}: no such file or directory\n")
    for result, verdict in zip(results, verdicts, strict=True):
        if verdict is Verdict.PASS:
            continue
        out.write(f"{verdict.value.upper()} {result.subject} [{result.check}]\n")
        if result.error:
            out.write(f"  could not complete: {one_line(result.error)}\n")
        for finding in sorted(result.findings, key=lambda f: -f.severity):
            if finding.severity > Severity.INFO:
                out.write("  " + finding.render().replace("\n", "\n  ") + "\n")
    counts = ", ".join(f"{summary[v.value]} {v.value}" for v in Verdict if v.value in summary)
    files = f"{summary['files']} file{'' if summary['files'] == 1 else 's'}"
    out.write(f"scanned {files}: {counts} (fail at {threshold.label} and above)\n")
    sys.stdout.write(terminal_text(out.getvalue()))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
