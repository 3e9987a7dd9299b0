"""The popular project names a typosquat imitates: the vendored download ranking plus the ML list.

Both lists ship inside the package (``pytest_mlsupply/data/``) so the check reads nothing outside
the product at run time. ``scripts/refresh_popular_packages.py`` rewrites the ranking; the ML list
is curated by hand.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources

DATA_PACKAGE = "pytest_mlsupply"
RANKING_FILE = "popular_pypi.txt"
ML_FILE = "ml_projects.txt"

WELL_KNOWN_RANK = 2500
"""Projects ranked this high or higher, and every project of the ML list, are well known: a
confident look-alike of one of them is a high finding; of a less known project, a medium one."""


@dataclass(frozen=True)
class PopularNames:
    """Canonical names with their download rank (1 = most downloaded) and the ML list."""

    ranks: dict[str, int]
    ml: frozenset[str] = frozenset()
    source: str = ""
    date: str = ""
    header: dict[str, str] = field(default_factory=dict, compare=False)

    def __contains__(self, name: object) -> bool:
        return name in self.ranks or name in self.ml

    def well_known(self, name: str) -> bool:
        return name in self.ml or self.ranks.get(name, WELL_KNOWN_RANK + 1) <= WELL_KNOWN_RANK

    def describe(self, name: str) -> str:
        """How popular ``name`` is, for a finding's evidence."""
        parts = []
        if name in self.ranks:
            parts.append(f"download rank {self.ranks[name]}")
        if name in self.ml:
            parts.append("ML ecosystem list")
        return ", ".join(parts)

    @property
    def names(self) -> list[str]:
        """Every name, most downloaded first, ML-only names last."""
        ranked = sorted(self.ranks, key=self.ranks.__getitem__)
        return ranked + sorted(self.ml - self.ranks.keys())


def parse_list(text: str) -> tuple[list[str], dict[str, str]]:
    """Names in file order and the ``# key: value`` header lines of a vendored list."""
    names: list[str] = []
    header: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep and " " not in key.strip():
                header[key.strip()] = value.strip()
            continue
        if line:
            names.append(line)
    return names, header


def from_texts(ranking: str, ml: str = "") -> PopularNames:
    ranked, header = parse_list(ranking)
    ranks: dict[str, int] = {}
    for rank, name in enumerate(ranked, start=1):
        ranks.setdefault(name, rank)
    ml_names, _ = parse_list(ml)
    return PopularNames(
        ranks=ranks,
        ml=frozenset(ml_names),
        source=header.get("source", ""),
        date=header.get("date", ""),
        header=header,
    )


@functools.cache
def vendored() -> PopularNames:
    """The lists shipped with the package, read once per process."""
    data = resources.files(DATA_PACKAGE).joinpath("data")
    return from_texts(
        data.joinpath(RANKING_FILE).read_text(encoding="utf-8"),
        data.joinpath(ML_FILE).read_text(encoding="utf-8"),
    )
