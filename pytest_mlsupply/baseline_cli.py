"""``mlsupply baseline``: write the gate's current findings into the baseline file.

It reads the matrix JSON the gate wrote (``build/mlsupply-matrix.json``: every finding with its
kind, subject, check, rule and location), and writes one entry per finding that warns or fails
(``info`` notes never need accepting). A new entry's ``reason``, ``owner`` and ``expires`` are
the placeholder ``TODO``: the gate refuses a baseline that still holds one, naming the entries,
so writing a baseline never accepts anything by itself. Entries already in the file keep their
reason, owner and date. An entry whose finding is gone is dropped when its cell ran to
completion, and kept when the matrix does not say (a partial run, a check that errored). The
file is written atomically. The format and the workflow: docs/baseline.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from pytest_mlsupply.baseline import (
    BASELINE_VERSION,
    DEFAULT_BASELINE_NAME,
    EXPIRED_RULE,
    PLACEHOLDER,
    Entry,
    MatchKey,
    fingerprint,
    load_baseline,
    today_utc,
)
from pytest_mlsupply.manifest.errors import ManifestError
from pytest_mlsupply.results import Location, RowKind

EXIT_OK = 0
EXIT_ERROR = 2

#: Cells whose check did not run to completion: an entry for one is kept, not judged.
_UNDECIDED = ("not run", "error", "skipped")

_HEADER = """\
# pytest-mlsupply baseline: findings accepted for now (docs/baseline.md).
# Each entry names one finding exactly (rule, kind, subject, check, location) and must carry a
# reason, an owner and an expiry date (YYYY-MM-DD, at most a year ahead). Replace every TODO:
# the gate refuses a baseline that still holds one. Delete an entry to let its finding fail.
"""


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``baseline`` subcommand on ``mlsupply``'s subparsers."""
    baseline: argparse.ArgumentParser = commands.add_parser(
        "baseline",
        help="write the gate's current findings into the baseline file, to accept them",
        description="Write every warning or failing finding of the gate's last run (its matrix "
        "JSON) into the baseline file, keeping the reason, owner and expiry of entries already "
        "there. New entries hold TODO placeholders to fill in before the gate accepts them.",
    )
    baseline.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="PATH",
        help="the project's mlsupply.yaml (default: ./mlsupply.yaml); its output.matrix and "
        "policy.baseline give the defaults below",
    )
    baseline.add_argument(
        "--matrix",
        type=Path,
        default=None,
        metavar="PATH",
        help="the gate's matrix JSON (default: the manifest's output.matrix + .json, "
        "build/mlsupply-matrix.json)",
    )
    baseline.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"the baseline file to write (default: policy.baseline, else {DEFAULT_BASELINE_NAME}"
        " beside the manifest)",
    )
    return baseline


def run_baseline(args: argparse.Namespace) -> int:
    try:
        matrix_path, output, root = _paths(args)
        document = _read_matrix(matrix_path)
        today = today_utc()
        existing = (
            load_baseline(output, today, root=root, lenient=True).entries
            if output.is_file()
            else ()
        )
    except ManifestError as exc:
        print(exc.render(), file=sys.stderr)
        return EXIT_ERROR
    except _Refused as exc:
        print(f"mlsupply baseline: {exc}", file=sys.stderr)
        return EXIT_ERROR

    current = _current_findings(document)
    undecided = {
        (RowKind(row["kind"]), row["subject"], check)
        for row in document["rows"]
        for check, verdict in row["cells"].items()
        if verdict in _UNDECIDED
    }
    kept = {entry.key(): entry for entry in existing}
    entries: list[dict[str, Any]] = []
    counts = {"kept": 0, "new": 0, "removed": 0}
    for key in sorted(set(current) | set(kept), key=_order):
        entry = kept.get(key)
        if entry is not None and key not in current and key[1:4] not in undecided:
            counts["removed"] += 1  # its finding is gone and its check ran: nothing to accept
            continue
        counts["kept" if entry is not None else "new"] += 1
        entries.append(_entry_document(key, entry))
    text = _HEADER + yaml.safe_dump(
        {"version": BASELINE_VERSION, "accepted": entries},
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    from pytest_mlsupply.reports.atomic import write_atomic

    try:
        write_atomic(output, text)
    except OSError as exc:
        print(f"mlsupply baseline: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    print(
        f"wrote {output}: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} "
        f"({counts['kept']} kept, {counts['new']} new, {counts['removed']} removed)"
    )
    if counts["new"]:
        print(
            f"fill in reason, owner and expires (at most a year ahead) for the {counts['new']} "
            f"new entr{'y' if counts['new'] == 1 else 'ies'} marked {PLACEHOLDER}; until then "
            "the gate refuses the baseline"
        )
    return EXIT_OK


class _Refused(Exception):
    """Bad input: the message names the file and the fix."""


def _paths(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """The matrix to read, the baseline to write, and the project directory entries name."""
    config: Path | None = args.config
    if config is None and Path("mlsupply.yaml").is_file():
        config = Path("mlsupply.yaml")
    if config is None:
        if args.matrix is None or args.output is None:
            raise _Refused(
                "no mlsupply.yaml here: pass --config PATH, or both --matrix and --output"
            )
        return args.matrix, args.output, Path.cwd()
    if not config.is_file():
        raise _Refused(f"--config {config}: no such file; pass the project's mlsupply.yaml")
    from pytest_mlsupply.baseline import baseline_path
    from pytest_mlsupply.manifest.loader import load_manifest

    manifest = load_manifest(config)
    matrix = args.matrix or manifest.output.matrix.with_name(manifest.output.matrix.name + ".json")
    default = manifest.path.parent / DEFAULT_BASELINE_NAME
    output = args.output or baseline_path(manifest) or default
    return matrix, output, manifest.path.parent


def _read_matrix(path: Path) -> dict[str, Any]:
    from pytest_mlsupply.reports.matrix import MATRIX_SCHEMA

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _Refused(
            f"{path}: no matrix JSON; run the gate first (pytest --mlsupply), or pass --matrix"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Refused(f"{path}: cannot read the matrix JSON ({exc}); run the gate again") from None
    if not isinstance(document, dict) or document.get("schema") != MATRIX_SCHEMA:
        raise _Refused(
            f"{path}: not a gate matrix (expected schema {MATRIX_SCHEMA!r}); pass the "
            "mlsupply-matrix.json that pytest --mlsupply wrote"
        )
    return document


def _current_findings(document: dict[str, Any]) -> set[MatchKey]:
    """Every finding that warns, fails or is accepted today (info notes need no acceptance;
    an expiry notice is the baseline's own; a finding suppressed inline needs no entry)."""
    keys: set[MatchKey] = set()
    for finding in document.get("findings", []):
        if finding["severity"] == "info" or finding["rule"] == EXPIRED_RULE:
            continue
        accepted = finding.get("accepted")
        if isinstance(accepted, dict) and not accepted.get("expires"):
            continue  # suppressed by a comment in the code, with its reason: that is its record
        keys.add(
            (
                finding["rule"],
                RowKind(finding["kind"]),
                finding["subject"],
                finding["check"],
                Location.from_dict(finding.get("location", {})),
                fingerprint(finding.get("title", ""), finding.get("evidence", "")),
            )
        )
    return keys


def _order(key: MatchKey) -> tuple[int, str, str, str, str, str]:
    rule, kind, subject, check, location, found = key
    return (list(RowKind).index(kind), subject, check, rule, location.describe(), found)


def _entry_document(key: MatchKey, entry: Entry | None) -> dict[str, Any]:
    rule, kind, subject, check, location, found = key
    data: dict[str, Any] = {"rule": rule, "kind": kind.value, "subject": subject, "check": check}
    if location.to_dict():
        data["location"] = location.to_dict()
    data["fingerprint"] = found
    if entry is None:
        data.update(reason=PLACEHOLDER, owner=PLACEHOLDER, expires=PLACEHOLDER)
    else:
        # A kept placeholder stays one (the lenient reader gave it the largest date).
        expires: date | str = PLACEHOLDER if entry.expires == date.max else entry.expires
        reason = entry.reason
        data.update(reason=reason, owner=entry.owner, expires=expires)
    return data
