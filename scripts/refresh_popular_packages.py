"""Refresh the vendored list of the most downloaded PyPI projects that the typosquat check reads.

One command::

    python scripts/refresh_popular_packages.py [--from FILE_OR_URL] [--limit 15000]

``--from`` takes either

- the public "top PyPI packages" dataset (JSON: ``{"last_update": ..., "rows": [{"project": ...,
  "download_count": ...}, ...]}``), as a file or a URL (the default is that dataset's URL), or
- a package list as a tab-separated file whose header has the columns ``name`` and
  ``rank_among_15000_most_downloaded`` (rows without a rank are not among the most downloaded).

It writes ``pytest_mlsupply/data/popular_pypi.txt``: a header naming the source and its date, then
one PEP 503 name a line, most downloaded first. The curated ML ecosystem list
(``pytest_mlsupply/data/ml_projects.txt``) is edited by hand and never touched here.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sys
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

DEFAULT_SOURCE = "https://hugovk.github.io/top-pypi-packages/top-pypi-packages.min.json"
DEFAULT_OUT = (
    Path(__file__).resolve().parent.parent / "pytest_mlsupply" / "data" / "popular_pypi.txt"
)
DEFAULT_LIMIT = 15_000
RANK_COLUMN = "rank_among_15000_most_downloaded"


class SourceError(Exception):
    """The source could not be read or is in neither accepted format."""


def read_source(source: str) -> tuple[str, str | None]:
    """The source's text and, for a file, the UTC date it was last written."""
    if source.startswith(("http://", "https://")):
        import requests

        try:
            response = requests.get(source, timeout=60)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise SourceError(f"cannot download {source}: {exc}") from exc
        return response.text, None
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"cannot read {source}: {exc.strerror or exc}") from exc
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
    return text, mtime.date().isoformat()


def ranked_from_json(text: str, source: str) -> tuple[list[str], str | None]:
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{source}: not valid JSON ({exc})") from exc
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise SourceError(
            f'{source}: expected {{"rows": [{{"project": ..., "download_count": ...}}]}}'
        )
    counted: list[tuple[int, str]] = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("project"), str):
            raise SourceError(f'{source}: rows[{i}] has no "project" name')
        count = row.get("download_count", 0)
        if not isinstance(count, int):
            raise SourceError(f'{source}: rows[{i}] "download_count" is not a number')
        counted.append((count, row["project"]))
    # The dataset is sorted already; sorting again (stable) makes the order not depend on it.
    counted.sort(key=lambda pair: -pair[0])
    updated = data.get("last_update")
    date = updated.split(" ")[0].split("T")[0] if isinstance(updated, str) and updated else None
    return [name for _, name in counted], date


def ranked_from_tsv(text: str, source: str) -> list[str]:
    reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    if (
        reader.fieldnames is None
        or "name" not in reader.fieldnames
        or RANK_COLUMN not in reader.fieldnames
    ):
        raise SourceError(f"{source}: a TSV source needs the columns 'name' and '{RANK_COLUMN}'")
    ranked: list[tuple[int, str]] = []
    for line, row in enumerate(reader, start=2):
        rank = (row.get(RANK_COLUMN) or "").strip()
        if not rank:
            continue
        if not rank.isdigit():
            raise SourceError(f"{source}:{line}: rank {rank!r} is not a whole number")
        ranked.append((int(rank), row["name"]))
    ranked.sort()
    return [name for _, name in ranked]


def popular_names(text: str, source: str) -> tuple[list[str], str | None]:
    """Canonical names, most downloaded first, and the date the source states (if any)."""
    if text.lstrip().startswith("{"):
        names, date = ranked_from_json(text, source)
    else:
        names, date = ranked_from_tsv(text, source), None
    seen: dict[str, None] = {}
    for name in names:
        seen.setdefault(canonicalize_name(name), None)
    if not seen:
        raise SourceError(f"{source}: no ranked projects found")
    return list(seen), date


def render(names: list[str], source: str, date: str) -> str:
    header = [
        "# The most downloaded PyPI projects, most downloaded first (PEP 503 names).",
        "# Read by the typosquat check (pytest_mlsupply/typosquat); a name listed here is never flagged.",
        f"# source: {source}",
        f"# date: {date}",
        f"# projects: {len(names)}",
        "# refresh: python scripts/refresh_popular_packages.py --from FILE_OR_URL",
    ]
    return "\n".join([*header, *names]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--from",
        dest="source",
        default=DEFAULT_SOURCE,
        help="the top-PyPI-packages JSON dataset or a ranked TSV package list (file or URL)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the list")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="keep this many projects")
    parser.add_argument("--date", help="the date the ranking was taken (default: the source's)")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be at least 1")
    try:
        text, file_date = read_source(args.source)
        names, stated_date = popular_names(text, args.source)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    date = args.date or stated_date or file_date or dt.datetime.now(dt.UTC).date().isoformat()
    # A local path is recorded by its file name only: the list must not carry a machine's layout.
    label = args.source if "://" in args.source else Path(args.source).name
    names = names[: args.limit]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(names, label, date), encoding="utf-8")
    print(f"wrote {len(names)} projects from {label} ({date}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
