"""Which database answers: the manifest's ``vulnerabilities:`` section.

``service: offline`` (with ``path``) reads a local OSV snapshot (:mod:`.offline`); ``pypi``
(the default when the section is absent) and ``osv`` (with an optional ``url``) ask the
services through pip-audit (:mod:`.service`, imported only when chosen, so an offline run
never loads pip-audit's network stack).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_mlsupply.vulns.model import Database, DatabaseError
from pytest_mlsupply.vulns.offline import OfflineDatabase

__all__ = ["open_database"]


def open_database(section: dict[str, Any], root: Path, cache_dir: Path | None = None) -> Database:
    """A new database for a ``vulnerabilities:`` section (relative paths against ``root``)."""
    service = str(section.get("service", "pypi"))
    if service == "offline":
        if "path" not in section:
            raise DatabaseError(
                "`vulnerabilities.service: offline` needs `path:` (a directory of OSV records or "
                "OSV's PyPI all.zip)"
            )
        return OfflineDatabase(root / Path(section["path"]))
    if service in ("pypi", "osv"):
        try:
            from pytest_mlsupply.vulns.service import ServiceDatabase
        except ImportError as exc:
            raise DatabaseError(
                f"the {service} vulnerability service is not available ({exc}); audit against "
                "an offline snapshot instead: `vulnerabilities: {service: offline, path: "
                "<directory of OSV records or OSV's PyPI all.zip>}`"
            ) from exc
        url = section.get("url")
        return ServiceDatabase(
            "osv" if service == "osv" else "pypi", str(url) if url else None, cache_dir
        )
    raise DatabaseError(
        f"unknown `vulnerabilities.service: {service}`; choose pypi, osv or offline"
    )
