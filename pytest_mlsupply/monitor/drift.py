"""Drift: does the Hub still publish, at a pinned commit, the files a local snapshot holds?

``pytest --mlsupply --mlsupply-online`` plans one ``drift[<model>]`` item per manifest model
pinned to a Hub commit (``source: hf://org/name@<40-hex>``); its check
(:mod:`pytest_mlsupply.checks.drift`) turns what :func:`check_drift` finds into findings:

- the pinned commit must still resolve on the Hub (one ``model_info`` request at the commit,
  with the files' metadata): gone means a force-push and a garbage collection, or a deletion;
  the repository itself may be gone (deleted, or made private to this reader);
- every file of the local snapshot (the Hugging Face cache's ``snapshots/<commit>/``) must be
  listed at that commit with the same content digest: the LFS sha256 for LFS files, the git blob
  id otherwise. Files the commit lists that are not on disk are not drift (a snapshot downloaded
  with ``allow_patterns`` holds only some), so they are not compared. An entry of the snapshot
  that is not a regular file (a link to a directory, a named pipe, a device) is a problem of its
  own: it is not read, and not passed either.

Fail closed: a Hub that cannot be reached, answers an error or malformed data, lists a file of
the snapshot with no digest at all, or a snapshot that is not on disk or holds no file to
compare is :attr:`Drift.error` (drift cannot be ruled out), never a pass; the problems found
beside such an error are kept. Messages never carry the token (the resolution code scrubs them;
so does this module).
"""

from __future__ import annotations

import enum
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from pytest_mlsupply.manifest.model import HubRef
from pytest_mlsupply.monitor.deadline import Unanswered, bounded
from pytest_mlsupply.redaction import scrub
from pytest_mlsupply.sources.hub import (
    HubFileMeta,
    HubResolutionError,
    HubSettings,
    _fetch_listing,
    _HubUnreachable,
    _secrets,
    git_blob_sha1,
)

__all__ = ["Drift", "DriftKind", "DriftProblem", "check_drift", "file_sha256", "local_snapshot"]

_CHUNK = 1 << 20
#: The listing's request may take this many timeouts in all.
_DEADLINE_FACTOR = 3
#: Paths named in an error about files the Hub lists with no digest.
_NAMED = 5


class DriftKind(enum.StrEnum):
    """What no longer matches (each kind is one rule of the drift check)."""

    REVISION_GONE = "revision-gone"
    """The Hub has no such commit any more (a history rewrite, a deletion)."""
    REPOSITORY_GONE = "repository-gone"
    """The Hub has no such repository (deleted, renamed, or private to this reader)."""
    DIGEST_CHANGED = "digest-changed"
    """A file on disk hashes to something other than what the Hub lists at the commit."""
    NOT_LISTED = "not-listed"
    """A file on disk that the Hub does not list at the commit."""
    NOT_A_FILE = "not-a-file"
    """An entry of the snapshot that is not a regular file: a link to a directory (a loader
    reads through it, the comparison does not), a named pipe or a device (not read: it could
    block)."""


@dataclass(frozen=True)
class DriftProblem:
    """One mismatch between the Hub at the pinned commit and the local snapshot."""

    kind: DriftKind
    detail: str
    """One sentence on what differs (scrubbed of any token)."""
    path: str | None = None
    """The file's path in the snapshot (``model.safetensors``), for a file's problem."""
    hub: str | None = None
    """What the Hub lists for the file (``sha256:…`` or ``git blob …``)."""
    disk: str | None = None
    """What the file on disk hashes to, in the same form."""


@dataclass(frozen=True)
class Drift:
    """What :func:`check_drift` found: problems, or why drift could not be ruled out."""

    problems: tuple[DriftProblem, ...] = ()
    error: str | None = None
    """Set when the comparison could not be made (Hub unreachable, malformed answer, offline,
    no local snapshot): never read as "no drift"."""
    compared: int = 0
    """How many files on disk were compared with the Hub's listing."""


def local_snapshot(ref: HubRef, settings: HubSettings) -> Path:
    """Where huggingface_hub keeps ``ref``'s files: ``<cache>/<repo folder>/snapshots/<commit>``."""
    from huggingface_hub.file_download import repo_folder_name

    folder = repo_folder_name(repo_id=ref.repo_id, repo_type=ref.repo_type)
    return settings.cache_dir / folder / "snapshots" / ref.revision


def check_drift(ref: HubRef, settings: HubSettings | None = None) -> Drift:
    """What no longer matches between the Hub at ``ref``'s commit and its local snapshot (no
    problems and no error: no drift). Never raises for a Hub fault: it is the error (fail
    closed)."""
    settings = settings if settings is not None else HubSettings.from_environment()
    secrets = _secrets(settings)
    if settings.offline:
        return Drift(error=f"{ref.uri}: HF_HUB_OFFLINE is set, so the Hub was not asked; unset it")
    snapshot = local_snapshot(ref, settings)
    if not snapshot.is_dir():
        return Drift(
            error=f"{ref.uri}: no local snapshot at {snapshot} to compare with the Hub; resolve "
            f"the model once (`hf download {ref.repo_id} --revision {ref.revision}`)"
        )
    try:
        # One request with a per-read timeout: a Hub that trickles its answer a byte at a time
        # would hold the item (and the session) without a deadline on the whole of it.
        _, listing = bounded(
            lambda: _fetch_listing(ref, settings),
            settings.timeout * _DEADLINE_FACTOR,
            "the commit's file listing",
            service="the Hub",
        )
    except (_HubUnreachable, Unanswered) as exc:
        return Drift(
            error=scrub(
                f"{ref.uri}: the Hub at {settings.endpoint} cannot be reached ({exc}); drift "
                "cannot be ruled out",
                secrets,
            )
        )
    except HubResolutionError as exc:
        # The message names the cause: a revision the Hub no longer has, a repository gone.
        text = scrub(str(exc), secrets)
        if exc.gone == "revision":
            return Drift(problems=(DriftProblem(DriftKind.REVISION_GONE, text),))
        if exc.gone == "repository":
            return Drift(problems=(DriftProblem(DriftKind.REPOSITORY_GONE, text),))
        return Drift(error=f"{text}; drift cannot be ruled out")
    except Exception as exc:  # a malformed answer: the client raises what its parser raised
        return Drift(
            error=scrub(
                f"{ref.uri}: the Hub at {settings.endpoint} sent an answer that could not be "
                f"read ({type(exc).__name__}: {exc}); drift cannot be ruled out",
                secrets,
            )
        )
    problems: list[DriftProblem] = []
    undigested: list[str] = []
    compared = 0
    # A link to a directory is listed too: rglob does not enter it, yet a loader reads
    # through it.
    for path in sorted(p for p in snapshot.rglob("*") if not p.is_dir() or p.is_symlink()):
        rel = path.relative_to(snapshot).as_posix()
        if path.is_dir():
            # rglob does not enter a linked directory, yet a loader reads through it: files
            # no one compared. huggingface_hub links files into a snapshot, never directories.
            # The link's target is part of what was found: a baseline acceptance of this link
            # must not go on accepting it once it points at other files.
            target = os.readlink(path)
            problems.append(
                DriftProblem(
                    DriftKind.NOT_A_FILE,
                    f"a link to the directory {target!r}, whose files are not compared with the "
                    "Hub (huggingface_hub links files into a snapshot, never directories)",
                    path=rel,
                    disk=f"link to {target}",
                )
            )
            continue
        meta = listing.get(rel)
        if meta is None:
            # The content is part of what was found: a baseline acceptance of this file (the
            # team's own, reviewed) must not go on accepting other bytes under its name.
            disk = f"sha256:{file_sha256(path)}" if path.is_file() else "not read"
            problems.append(
                DriftProblem(
                    DriftKind.NOT_LISTED,
                    f"on disk ({disk}), but the Hub does not list it at this commit",
                    path=rel,
                    disk=disk,
                )
            )
            continue
        if not path.exists():
            continue  # a dangling link: the hub check reports missing blobs
        if not path.is_file():
            # A named pipe or a device: reading it for a digest would block the session.
            problems.append(
                DriftProblem(
                    DriftKind.NOT_A_FILE,
                    "not a regular file (a named pipe, a device), so not compared with the Hub",
                    path=rel,
                )
            )
            continue
        if meta.lfs_sha256 is None and meta.blob_id is None:
            # Fail closed: a listing with no digest for the file leaves nothing to compare it
            # with, so the file may differ from what was published.
            undigested.append(rel)
            continue
        compared += 1
        mismatch = _mismatch(path, meta)
        if mismatch is not None:
            hub, disk = mismatch
            problems.append(
                DriftProblem(
                    DriftKind.DIGEST_CHANGED,
                    f"the Hub lists {hub}, the file on disk is {disk}",
                    path=rel,
                    hub=hub,
                    disk=disk,
                )
            )
    if undigested:
        # The Hub's answer is incomplete (not the snapshot's fault): the files it gave no digest
        # for are not ruled out; the problems found in the others still stand beside it.
        named = ", ".join(repr(rel) for rel in undigested[:_NAMED])
        more = f" and {len(undigested) - _NAMED} more" if len(undigested) > _NAMED else ""
        return Drift(
            problems=tuple(problems),
            error=f"{ref.uri}: the Hub lists {named}{more} with no digest (neither an LFS "
            "sha256 nor a git blob id), so drift cannot be ruled out",
            compared=compared,
        )
    if not problems and compared == 0:
        # An empty snapshot (or one of dangling links) has nothing to compare: a pass would
        # say the Hub agrees with files nobody looked at.
        return Drift(
            error=f"{ref.uri}: the local snapshot at {snapshot} holds no file to compare with "
            f"the Hub; resolve the model again (`hf download {ref.repo_id} --revision "
            f"{ref.revision}`)"
        )
    return Drift(problems=tuple(problems), compared=compared)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _mismatch(path: Path, meta: HubFileMeta) -> tuple[str, str] | None:
    """(what the Hub lists, what the file is) when they differ; None when they agree."""
    if meta.lfs_sha256 is not None:
        actual = file_sha256(path)
        if actual != meta.lfs_sha256:
            return f"LFS sha256:{meta.lfs_sha256}", f"sha256:{actual}"
        return None
    if meta.blob_id is not None:
        actual = git_blob_sha1(path)
        if actual != meta.blob_id:
            return f"git blob {meta.blob_id}", f"git blob {actual}"
        return None
    # The caller sets aside a file listed with no digest (an error); were one to get here, it
    # must not read as "they agree".
    return "no digest", "not compared"
