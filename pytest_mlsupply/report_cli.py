"""``mlsupply report``: rebuild the HTML report from a gate's saved matrix and BOM, without
running anything again.

``mlsupply report [--matrix build/mlsupply-matrix.json] [--bom build/ml-bom.cdx.json]
[-o build/mlsupply-report.html] [--config mlsupply.yaml]``

The report is :func:`pytest_mlsupply.reports.html.render_html` of the two documents, the function
the gate's ``--mlsupply-html`` calls on the same documents: from the files a gate wrote, this
writes the bytes the gate would have written. With ``--config`` the defaults are the manifest's
``output:`` paths (``output.matrix`` + ``.json``, ``output.bom``, ``output.html``).

Exit status: 0 when the report was written; 2 when an input cannot be read or is not what it
should be (a missing file, JSON that does not parse, a matrix of another schema, a document that
is not a CycloneDX BOM) or the report cannot be written. The gate's verdict is in the report,
not in this exit status: rebuilding a failed gate's report succeeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_UNREADABLE = 0, 2

DEFAULT_MATRIX = Path("build/mlsupply-matrix.json")
DEFAULT_BOM = Path("build/ml-bom.cdx.json")
DEFAULT_HTML = Path("build/mlsupply-report.html")


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``report`` subcommand on ``mlsupply``'s subparsers."""
    report: argparse.ArgumentParser = commands.add_parser(
        "report",
        help="rebuild the HTML report from a gate's saved matrix and BOM",
        description="Write the self-contained HTML report from the matrix JSON and the ML-BOM "
        "a pytest --mlsupply run saved, without running the checks again.",
    )
    report.add_argument(
        "--matrix",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"the matrix's JSON document (default: output.matrix + .json of --config, "
        f"else {DEFAULT_MATRIX})",
    )
    report.add_argument(
        "--bom",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"the JSON ML-BOM (default: output.bom of --config, else {DEFAULT_BOM})",
    )
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"where to write the report (default: output.html of --config, else {DEFAULT_HTML})",
    )
    report.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="the project's mlsupply.yaml: its output: paths become the defaults",
    )
    return report


def _check_one_run(matrix: Any, bom: Any, matrix_path: Path, bom_path: Path) -> None:
    """The matrix names the serial number of its BOM: a pair of two runs (a gate killed between
    its renames, a stale file beside a new one) is refused, not rendered as one run."""
    from pytest_mlsupply.reports.outputs import ReportError

    metadata = matrix.get("metadata") if isinstance(matrix, dict) else None
    named = metadata.get("bom_serial_number") if isinstance(metadata, dict) else None
    serial = bom.get("serialNumber") if isinstance(bom, dict) else None
    if named is not None and named != serial:
        raise ReportError(
            f"--matrix {matrix_path} is the matrix of the BOM with serial number {named}, but "
            f"--bom {bom_path} has serial number {serial}: the two files are of different runs "
            "(run the gate again for a whole set)"
        )


def run_report(args: argparse.Namespace) -> int:
    from pytest_mlsupply.reports.atomic import write_atomic
    from pytest_mlsupply.reports.html import (
        check_bom_document,
        check_matrix_document,
        render_html,
    )
    from pytest_mlsupply.reports.outputs import ReportError

    try:
        matrix_path, bom_path, output = _paths(args)
        matrix = _read_json(matrix_path, "--matrix", "the <matrix>.json a gate wrote")
        check_matrix_document(matrix, f"--matrix {matrix_path}")
        bom = _read_json(bom_path, "--bom", "the JSON ML-BOM a gate wrote")
        check_bom_document(bom, f"--bom {bom_path}")
        _check_one_run(matrix, bom, matrix_path, bom_path)
        text = render_html(matrix, bom)
    except ReportError as exc:
        print(f"mlsupply report: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        write_atomic(output, text)
    except OSError as exc:
        print(
            f"mlsupply report: cannot write {output}: {exc.strerror or exc}; choose a "
            f"writable path with -o",
            file=sys.stderr,
        )
        return EXIT_UNREADABLE
    print(f"wrote {output}")
    return EXIT_OK


def _paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    from pytest_mlsupply.reports.outputs import ReportError

    matrix, bom, html = DEFAULT_MATRIX, DEFAULT_BOM, DEFAULT_HTML
    if args.config is not None:
        from pytest_mlsupply.manifest.errors import ManifestError
        from pytest_mlsupply.manifest.loader import load_manifest

        if not args.config.is_file():
            raise ReportError(
                f"--config {args.config}: no such file; pass the path of the project's "
                f"mlsupply.yaml, or leave --config out and name --matrix and --bom"
            )
        try:
            output = load_manifest(args.config).output
        except ManifestError as exc:
            raise ReportError(exc.render()) from exc
        stem = output.matrix
        if stem.suffix in (".md", ".json"):  # as the gate reads output.matrix
            stem = stem.with_suffix("")
        matrix = stem.with_name(stem.name + ".json")
        bom = output.bom
        html = output.html or args.config.resolve().parent / DEFAULT_HTML
    return args.matrix or matrix, args.bom or bom, args.output or html


def _read_json(path: Path, option: str, what: str) -> Any:
    from pytest_mlsupply.reports.outputs import ReportError

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(
            f"{option} {path}: no such file; run `pytest --mlsupply` first, or pass {option} "
            f"with the path of {what}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ReportError(f"{option} {path}: cannot read it ({reason}); pass {what}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{option} {path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"pass {what}"
        ) from None
