"""Drift: does the Hub still publish, at a pinned commit, the files a local snapshot holds?

``pytest --mlsupply --mlsupply-online`` adds one ``drift[<model>]`` item per manifest model
pinned to a Hub commit (``source: hf://org/name@<40-hex>``). Its check, :func:`drift_problems`:

- the pinned commit must still resolve on the Hub (one ``model_info`` request at the commit,
  with the files' metadata): gone means a force-push and a garbage collection, or a deletion;
- every file of the local snapshot (the Hugging Face cache's ``snapshots/<commit>/``) must be
  listed at that commit with the same content digest: the LFS sha256 for LFS files, the git blob
  id otherwise. Files the commit lists that are not on disk are not drift (a snapshot downloaded
  with ``allow_patterns`` holds only some), so they are not compared.

Fail closed: a Hub that cannot be reached, answers an error or malformed data, or a snapshot
that is not on disk is a problem, never a pass. Messages never carry the token (the resolution
code scrubs them).
"""

from __future__ import annotations

import hashlib
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

__all__ = ["drift_problems", "file_sha256", "local_snapshot"]

_CHUNK = 1 << 20
#: The listing's request may take this many timeouts in all.
_DEADLINE_FACTOR = 3
#: Problems listed in full; the rest are counted.
_SHOWN = 20


def local_snapshot(ref: HubRef, settings: HubSettings) -> Path:
    """Where huggingface_hub keeps ``ref``'s files: ``<cache>/<repo folder>/snapshots/<commit>``."""
    from huggingface_hub.file_download import repo_folder_name

    folder = repo_folder_name(repo_id=ref.repo_id, repo_type=ref.repo_type)
    return settings.cache_dir / folder / "snapshots" / ref.revision


def drift_problems(ref: HubRef, settings: HubSettings | None = None) -> list[str]:
    """What no longer matches between the Hub at ``ref``'s commit and its local snapshot
    (empty: no drift). Never raises for a Hub fault: it is a problem (fail closed)."""
    settings = settings if settings is not None else HubSettings.from_environment()
    if settings.offline:
        return [f"{ref.uri}: HF_HUB_OFFLINE is set, so the Hub was not asked; unset it to check"]
    snapshot = local_snapshot(ref, settings)
    if not snapshot.is_dir():
        return [
            f"{ref.uri}: no local snapshot at {snapshot} to compare with the Hub; resolve the "
            f"model once (`hf download {ref.repo_id} --revision {ref.revision}`)"
        ]
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
        return [
            scrub(
                f"{ref.uri}: the Hub at {settings.endpoint} cannot be reached ({exc}); drift "
                "cannot be ruled out",
                _secrets(settings),
            )
        ]
    except HubResolutionError as exc:
        # The message names the cause: a revision the Hub no longer has, a repository gone.
        return [scrub(str(exc), _secrets(settings))]
    except Exception as exc:  # a malformed answer: the client raises what its parser raised
        return [
            scrub(
                f"{ref.uri}: the Hub at {settings.endpoint} sent an answer that could not be "
                f"read ({type(exc).__name__}: {exc}); drift cannot be ruled out",
                _secrets(settings),
            )
        ]
    problems = []
    compared = 0
    for path in sorted(p for p in snapshot.rglob("*") if not p.is_dir() or p.is_symlink()):
        rel = path.relative_to(snapshot).as_posix()
        if path.is_dir():
            # rglob does not enter a linked directory, yet a loader reads through it: files
            # no one compared. huggingface_hub links files into a snapshot, never directories.
            problems.append(
                f"{rel!r}: a link to a directory, whose files cannot be compared with the Hub "
                "(huggingface_hub links files, not directories)"
            )
            continue
        meta = listing.get(rel)
        if meta is None:
            problems.append(f"{rel!r}: on disk, but the Hub does not list it at this commit")
            continue
        if not path.exists():
            continue  # a dangling link: the hub check reports missing blobs
        if not path.is_file():
            # A named pipe or a device: reading it for a digest would block the session.
            problems.append(f"{rel!r}: not a regular file, so not compared with the Hub")
            continue
        compared += 1
        mismatch = _mismatch(path, meta)
        if mismatch is not None:
            problems.append(f"{rel!r}: {mismatch}")
    if not compared and not problems:
        # An empty snapshot (or one of dangling links) matches any commit: nothing was compared,
        # so drift is not ruled out.
        problems.append(
            f"{ref.uri}: the local snapshot at {snapshot} holds no file to compare with the Hub; "
            f"resolve the model again (`hf download {ref.repo_id} --revision {ref.revision}`)"
        )
    if len(problems) > _SHOWN:
        problems = [*problems[:_SHOWN], f"... and {len(problems) - _SHOWN} more"]
    return problems


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _mismatch(path: Path, meta: HubFileMeta) -> str | None:
    if meta.lfs_sha256 is not None:
        actual = file_sha256(path)
        if actual != meta.lfs_sha256:
            return (
                f"the Hub lists LFS sha256:{meta.lfs_sha256}, the file on disk is sha256:{actual}"
            )
        return None
    if meta.blob_id is not None:
        actual = git_blob_sha1(path)
        if actual != meta.blob_id:
            return f"the Hub lists git blob {meta.blob_id}, the file on disk is git blob {actual}"
        return None
    # Fail closed: a listing with no digest for the file leaves nothing to compare it with.
    return "the Hub lists it with no digest (neither an LFS sha256 nor a git blob id)"
