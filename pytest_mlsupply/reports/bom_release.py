"""What a release engineer reads in the ML-BOM beyond the verdicts, decided in one place.

:mod:`pytest_mlsupply.reports.bom` writes these into the document (and
``tests/reports/library_reference.py`` builds the same through cyclonedx-python-lib); this module
decides *what* they are, from the run's results, the installed distributions and the build:

- :func:`model_digest`: the aggregate SHA-256 of a model, over its files' digests (the recipe is
  :data:`MODEL_DIGEST_RECIPE`, documented in docs/bom.md so anyone can recompute it);
- :func:`finding_properties`: every finding of a check, below the threshold too, as one
  ``mlsupply:finding`` property whose value is a compact JSON object (rule, severity, location,
  title, evidence bounded to :data:`EVIDENCE_LIMIT` characters);
- :func:`build_links` and :func:`build_properties`: the VCS repository and commit and the CI run
  (:class:`~pytest_mlsupply.build_context.BuildContext`) for the project component;
- :func:`installed_library`: a dependency's licence and archive hash from the distribution
  installed here (its ``*.dist-info``), never from the index;
- :func:`card_for_bom`: the card with the front-matter keys a card check flagged left out, so the
  BOM does not repeat, as if true, a statement the gate found false.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.reports import bom_forms

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from importlib import metadata

    from pytest_mlsupply.build_context import BuildContext
    from pytest_mlsupply.results import CheckResult, Finding, Severity
    from pytest_mlsupply.sources.inventory import Dependency

__all__ = [
    "CARD_CHECKS",
    "EVIDENCE_LIMIT",
    "MODEL_DIGEST_RECIPE",
    "build_links",
    "build_properties",
    "card_for_bom",
    "finding_properties",
    "installed_library",
    "installed_names",
    "model_digest",
]

# --- the model's aggregate digest ----------------------------------------------------------------

MODEL_DIGEST_RECIPE = "sha256 over the sorted lines '<relpath>\\0<file sha256>\\n' of its files"


def model_digest(files: Mapping[str, str]) -> str | None:
    """The aggregate SHA-256 of a model: over one line ``<relpath>\\0<sha256>\\n`` per file,
    sorted by relative path (``/``-separated, compared by code point), UTF-8 encoded, with the
    file digests in lower-case hex. A path cannot hold NUL and a digest is 64 hex digits, so the
    lines decode one way only: two different file sets never share the input.

    None for a model with no files (there is nothing to digest)."""
    if not files:
        return None
    text = "".join(f"{rel}\0{sha256.lower()}\n" for rel, sha256 in sorted(files.items()))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# --- findings ------------------------------------------------------------------------------------

#: The longest evidence a finding's property carries: evidence quotes untrusted files (a card,
#: a pickle's strings), so it is bounded; the matrix JSON keeps it whole.
EVIDENCE_LIMIT = 200


def finding_properties(
    check: str, findings: Sequence[Finding], threshold: Severity
) -> list[tuple[str, str]]:
    """One ``("finding", <json>)`` pair per finding of ``check`` (the caller adds the
    ``mlsupply:`` prefix). The value is a compact JSON object with sorted keys, ASCII only
    (every control character and non-ASCII letter escaped, so it survives XML's whitespace
    rules and any terminal)."""
    out = []
    for finding in findings:
        record: dict[str, Any] = {
            "check": check,
            "rule": finding.rule,
            "severity": finding.severity.label,
            # An accepted finding does not fail its item (the baseline file says who accepted
            # it and until when): the record says so rather than calling it blocking.
            "blocking": finding.severity >= threshold and finding.accepted is None,
            "title": _bounded(finding.title),
            "location": finding.location.to_dict(),
        }
        if finding.accepted is not None:
            record["accepted"] = finding.accepted.to_dict()
        if finding.evidence:
            record["evidence"] = _bounded(finding.evidence)
        if finding.cwe:
            record["cwe"] = finding.cwe
        out.append(("finding", json.dumps(record, sort_keys=True, separators=(",", ":"))))
    return out


def _bounded(text: str, limit: int = EVIDENCE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- where the run was made ----------------------------------------------------------------------

_SCP_LIKE = re.compile(r"^(?P<user>[^@/:\s]+@)?(?P<host>[^/:\s]+):(?P<path>(?!//).+)$")


def build_links(build: BuildContext | None) -> list[tuple[str, str, str | None]]:
    """The project's ``(type, url, comment)`` external references: ``vcs`` (the repository,
    its comment naming the commit) and ``build-system`` (the CI run), each only when it is
    known and is a URI a BOM can hold. The repository comes without credentials
    (:func:`pytest_mlsupply.build_context.strip_credentials`)."""
    if build is None:
        return []
    links: list[tuple[str, str, str | None]] = []
    repository = _repository_uri(build.repository) if build.repository else None
    if repository is not None:
        comment = None
        if build.commit:
            comment = f"commit {build.commit}"
            if build.dirty:
                comment += ", with uncommitted changes"
        links.append(("vcs", repository, comment))
    if build.ci_run_url and _is_uri(build.ci_run_url):
        links.append(("build-system", build.ci_run_url, "the CI run that made this BOM"))
    return links


def build_properties(build: BuildContext | None) -> list[tuple[str, str]]:
    """``vcs:commit``, ``vcs:dirty`` and, when it cannot be a link, ``vcs:repository``."""
    if build is None:
        return []
    out = []
    if build.commit:
        out.append(("vcs:commit", build.commit))
    if build.dirty is not None:
        out.append(("vcs:dirty", "true" if build.dirty else "false"))
    if build.repository and _repository_uri(build.repository) is None:
        out.append(("vcs:repository", build.repository))
    return out


def _repository_uri(remote: str) -> str | None:
    """A remote as a URI: git's scp-like ``git@host:org/repo.git`` as ``ssh://git@host/...``
    (the form the schema's ``iri-reference`` accepts), an absolute path as ``file://``."""
    from pytest_mlsupply.build_context import strip_credentials

    remote = strip_credentials(remote.strip())
    if "://" not in remote:
        if remote.startswith("/"):
            remote = "file://" + remote
        else:
            match = _SCP_LIKE.match(remote)
            if match is None:
                return None  # a relative path: no URI names it
            path = match["path"].lstrip("/")
            remote = f"ssh://{match['user'] or ''}{match['host']}/{path}"
    return remote if _is_uri(remote) else None


def _is_uri(text: str) -> bool:
    if any(c.isspace() or not c.isprintable() for c in text):
        return False
    try:
        bom_forms.uri(text)
    except bom_forms.InvalidUri:
        return False
    # Absolute, with an authority (``file:///`` has an empty one): a link a reader can follow.
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://[^?#]", text) is not None


# --- installed distributions ---------------------------------------------------------------------

#: ``License ::`` trove classifiers → SPDX ids (the common ones; another is a named licence).
_CLASSIFIERS = {
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: BSD License": "BSD-3-Clause",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "License :: OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "License :: OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "License :: OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "License :: OSI Approved :: zlib/libpng License": "Zlib",
    "License :: OSI Approved :: Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "License :: OSI Approved :: Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
}
#: A ``License:`` field longer than this is the licence's text, not its name.
_LICENSE_FIELD_LIMIT = 100
_UNKNOWN = frozenset({"", "unknown", "none", "n/a", "other", "other/proprietary license"})

#: pip's ``--hash`` algorithm names → CycloneDX's (also the keys of ``direct_url.json``).
_HASH_ALGORITHMS = {"sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}


def installed_names() -> frozenset[str]:
    """The normalised names of the distributions on ``sys.path`` (from the ``*.dist-info`` and
    ``*.egg-info`` entries of its directories): one directory listing each, so a BOM of a
    thousand libraries, none installed here, asks nothing per library."""
    names = set()
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue  # not a directory (a zip, a missing entry): nothing to list
        for item in listing:
            if item.endswith((".dist-info", ".egg-info")):
                # <name>-<version>.dist-info (an egg-info may have no version)
                stem = item.rsplit(".", 1)[0]
                names.add(_normalised(stem.partition("-")[0]))
    return frozenset(names)


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def installed_library(
    group: Sequence[Dependency], installed: frozenset[str] | None = None
) -> tuple[str | None, str | None, list[tuple[str, str]]]:
    """``(licence, where the licence was read, archive hashes)`` of the distribution a
    dependency names, read from its installed metadata when it is installed here at exactly
    the version the BOM records (the ``integrity`` check's rule:
    :meth:`~pytest_mlsupply.checks.dependency_integrity.InstalledDistributions.installed_as`);
    ``(None, None, [])`` otherwise.

    The licence: ``License-Expression`` (PEP 639), else a one-line ``License`` field, else the
    ``License ::`` classifiers (the common ones as SPDX ids; several classifiers each offer the
    project under that licence, so they are joined with ``OR`` when all are SPDX ids, else the
    first is named).
    The hashes: the archive pip installed from, where the installer recorded it
    (``direct_url.json``'s ``archive_info``: URL and file installs); an index install records
    none, and RECORD's per-file hashes are not a hash of the component, so none is invented.

    ``installed`` is :func:`installed_names`, computed once for all the BOM's libraries.
    """
    for dependency in group:
        # The integrity check's rule (InstalledDistributions.installed_as): a pinned index
        # requirement that applies here, the first distribution of that name on sys.path, at
        # that exact version. Looked up by name rather than through its index of every
        # installed distribution: that index costs a gate's session finish ~0.2 s to build,
        # a name lookup a tenth of a millisecond.
        if dependency.link or dependency.version is None or dependency.skipped is not None:
            continue
        if installed is not None and _normalised(dependency.name) not in installed:
            continue
        from importlib import metadata  # only for a name installed here

        dist = next(iter(metadata.distributions(name=dependency.name)), None)
        if dist is None:
            continue
        # Imported only for a distribution installed here (its import costs ~80 ms).
        from pytest_mlsupply.checks.dependency_integrity import _same_version, archive_hashes

        if not _same_version(dist.version, dependency.version):
            continue
        licence, source = _licence(dist)
        hashes = sorted(
            (_HASH_ALGORITHMS[alg], value)
            for alg, value in archive_hashes(dist).items()
            if alg in _HASH_ALGORITHMS and re.fullmatch(r"[0-9a-f]+", value)
        )
        return licence, source, hashes
    return None, None, []


def _licence(dist: metadata.Distribution) -> tuple[str | None, str | None]:
    meta = dist.metadata
    if meta is None:
        return None, None
    expression = _field(meta, "License-Expression")
    if expression:
        return expression, "License-Expression"
    field = _field(meta, "License")
    if field.lower() not in _UNKNOWN and len(field) <= _LICENSE_FIELD_LIMIT and "\n" not in field:
        return field, "License"
    named = []
    for classifier in meta.get_all("Classifier") or []:
        classifier = classifier.strip()
        if not classifier.startswith("License ::"):
            continue
        spdx = _CLASSIFIERS.get(classifier)
        last = classifier.rpartition("::")[2].strip()
        if spdx is None and last.lower() in _UNKNOWN | {"osi approved"}:
            continue
        named.append(spdx or last)
    if not named:
        return None, None
    unique = sorted(set(named))
    if len(unique) == 1:
        return unique[0], "classifiers"
    if all(name in _CLASSIFIER_IDS for name in unique):
        return " OR ".join(unique), "classifiers"
    return unique[0], "classifiers"


_CLASSIFIER_IDS = frozenset(_CLASSIFIERS.values())


def _field(meta: metadata.PackageMetadata, name: str) -> str:
    values = meta.get_all(name) or []
    return str(values[0]).strip() if values else ""


# --- the model card, as far as the gate found it true --------------------------------------------

#: The claims that judge a card's statements; a front-matter key one of their findings points
#: at (``location.key_path``) is left out of the BOM's ``modelCard``.
CARD_CHECKS = frozenset({"model-card", "model-card-accuracy"})
#: A flagged key and the keys that state the same thing (the card's ``license: other`` is named
#: by ``license_name``).
_SAME_STATEMENT = {"license": ("license", "license_name", "license_link")}


def card_for_bom(
    card: Mapping[str, Any] | None, claims: Sequence[CheckResult]
) -> tuple[Mapping[str, Any] | None, list[str]]:
    """The card facts without the front-matter keys a card check flagged, and those keys
    (sorted). A finding that points at no key (a statement in the text) leaves the card whole:
    the BOM copies no free text of that kind."""
    flagged: set[str] = set()
    for result in claims:
        if result.check not in CARD_CHECKS:
            continue
        for finding in result.findings:
            key_path = finding.location.key_path
            if not key_path:
                continue
            top = re.split(r"[.\[]", key_path, maxsplit=1)[0]
            flagged.update(_SAME_STATEMENT.get(top, (top,)))
    if card is None or not flagged:
        return card, []
    metadata = card.get("metadata")
    if not isinstance(metadata, dict):
        return card, []
    omitted = sorted(key for key in flagged if key in metadata)
    if not omitted:
        return card, []
    kept = {key: value for key, value in metadata.items() if key not in flagged}
    return {**card, "metadata": kept}, omitted
