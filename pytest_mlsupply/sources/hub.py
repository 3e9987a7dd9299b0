"""Resolve a pinned Hugging Face Hub reference to a local snapshot plus the hub's per-file metadata.

A reference (``hf://org/name@<commit>``, ``hf-datasets://...``) resolves in one of two ways:

- **from the cache**, with no network: when ``HF_HUB_OFFLINE`` is set, when the Hub cannot be
  reached, or as the first step of every resolution (a cached commit is never downloaded again);
- **online**, at exactly the pinned commit: one metadata request (``model_info`` /
  ``dataset_info`` with ``files_metadata``) lists every file with its size, git blob id and LFS
  sha256/size, then ``snapshot_download`` fetches whatever the cache lacks.

The result, :class:`HubSnapshot`, carries that listing so that the ``hub`` check can compare the
bytes on disk with what the Hub published. Offline, the listing comes from what the cache itself
records: the tree listing huggingface_hub stores per commit (``trees/<commit>.json``) when it has
one, otherwise the content addresses of the cached blobs (an LFS blob is named by its sha256, a
regular file's blob by its git blob sha1).

Fail fast, fail closed, leak nothing: our own requests carry a timeout and are never retried, a
dead network with nothing cached is an error that says so in seconds, and every message that
leaves this module is scrubbed of the token in use.

huggingface_hub is imported lazily: it reads ``HF_ENDPOINT`` / ``HF_HUB_OFFLINE`` at import time,
and sessions that never touch the hub should not pay for (or freeze) that import. For the same
reason the endpoint, cache and offline switch are read from the environment at call time and
passed to the client explicitly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pytest_mlsupply.manifest.model import HubRef, RevisionPointer
from pytest_mlsupply.redaction import scrub

if TYPE_CHECKING:
    from huggingface_hub.hf_api import DatasetInfo, ModelInfo

_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_TRUE = {"1", "ON", "YES", "TRUE"}
_CHUNK = 1 << 20

#: Seconds our own metadata requests wait (connect and read) before the Hub counts as unreachable.
DEFAULT_TIMEOUT = 10.0
#: ``current_commit`` only improves an error message; it must never hold the loader up for long.
CURRENT_COMMIT_TIMEOUT = 5.0
#: A ref file holds one 40-hex commit; anything longer is not one (and is not read in full).
_REF_READ_LIMIT = 256

HubFileSource = Literal["hub", "cache-listing", "cache-blob"]
"""Where a file's metadata comes from: the Hub itself (online), the tree listing huggingface_hub
recorded in the cache when it downloaded the commit, or only the name of the cached blob."""


class HubResolutionError(Exception):
    """A hub reference could not be resolved; the message says why and what to do (no secrets)."""

    def __init__(self, message: str, *, gone: HubGone | None = None) -> None:
        super().__init__(message)
        self.gone = gone
        """Set when the Hub said the reference does not exist: its revision (never pushed, or
        dropped by a history rewrite) or its repository (deleted, or private to this reader).
        None for every other cause (an unexpected answer, a gated repository, a client error)."""


HubGone = Literal["revision", "repository"]


@dataclass(frozen=True)
class HubFileMeta:
    """What the Hub publishes about one file at one commit."""

    path: str
    size: int | None
    blob_id: str | None = None
    """The git blob sha1 (``oid``) of the file as committed (of the LFS pointer for LFS files)."""
    lfs_sha256: str | None = None
    """For LFS files: the sha256 of the real content."""
    lfs_size: int | None = None
    source: HubFileSource = "hub"

    @property
    def is_lfs(self) -> bool:
        return self.lfs_sha256 is not None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "size": self.size, "source": self.source}
        if self.blob_id is not None:
            data["blob_id"] = self.blob_id
        if self.lfs_sha256 is not None:
            data["lfs"] = {"sha256": self.lfs_sha256, "size": self.lfs_size}
        return data


@dataclass(frozen=True)
class HubSnapshot:
    """A resolved hub reference: the local snapshot directory and the file listing it must match."""

    ref: HubRef
    path: Path
    commit: str
    files: dict[str, HubFileMeta]
    """Every file of the commit (not only those matching ``allow_patterns``), by repo path."""
    online: bool
    """True when ``files`` comes from the Hub in this session; False when from the cache."""
    allow_patterns: tuple[str, ...] | None = None
    endpoint: str | None = None
    """The Hub endpoint configured for the resolution (``HF_ENDPOINT``, without a trailing
    ``/``): where the snapshot was downloaded from, or, offline, where the cache stands in for."""


@dataclass(frozen=True)
class BlobAddress:
    """The content address a cached file's blob name claims."""

    algorithm: Literal["sha256", "git-sha1"]
    digest: str
    blob: Path


@dataclass(frozen=True)
class HubSettings:
    """The client configuration, read from the environment when a resolution starts."""

    endpoint: str
    cache_dir: Path
    offline: bool
    token: str | None = field(default=None, repr=False)
    """An explicit token; None lets huggingface_hub pick one (``HF_TOKEN``, then the token file)."""
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_environment(cls) -> HubSettings:
        from huggingface_hub import constants

        endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
        cache = os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE
        offline = constants.HF_HUB_OFFLINE or _env_true("HF_HUB_OFFLINE")
        return cls(
            endpoint=endpoint.rstrip("/"),
            cache_dir=Path(cache).expanduser(),
            offline=offline,
            timeout=_env_float("HF_HUB_ETAG_TIMEOUT", DEFAULT_TIMEOUT),
        )


# -- public API -----------------------------------------------------------------------------


def resolve_snapshot(ref: HubRef) -> Path:
    """The local snapshot directory of ``ref`` (see :func:`resolve_hub`)."""
    return resolve_hub(ref).path


def resolve_hub(
    ref: HubRef,
    *,
    allow_patterns: Sequence[str] | None = None,
    settings: HubSettings | None = None,
) -> HubSnapshot:
    """Resolve ``ref`` from the cache or the Hub, with the hub's per-file metadata.

    Raises :class:`HubResolutionError` with an actionable message, scrubbed of any token.
    """
    settings = settings if settings is not None else HubSettings.from_environment()
    patterns = tuple(allow_patterns) if allow_patterns is not None else None
    secrets = _secrets(settings)
    try:
        return _resolve(ref, patterns, settings)
    except HubResolutionError as exc:
        raise HubResolutionError(scrub(str(exc), secrets), gone=exc.gone) from None
    except Exception as exc:  # the client raises many types; any of them means "not resolved"
        raise HubResolutionError(
            scrub(f"{ref.uri} could not be resolved: {type(exc).__name__}: {exc}", secrets)
        ) from None


def current_commit(
    repo_type: str,
    repo_id: str,
    revision: str,
    *,
    settings: HubSettings | None = None,
) -> str | None:
    """The commit ``revision`` (a branch or tag) points to on the Hub now, or None.

    Online only, one request with a short timeout and no retry; never raises. Returns None when
    ``HF_HUB_OFFLINE`` is set, on any failure, or when the answer is not a 40-hex commit.
    """
    try:
        settings = settings if settings is not None else HubSettings.from_environment()
        if settings.offline:
            return None
        from huggingface_hub import HfApi

        api = HfApi(endpoint=settings.endpoint, token=settings.token)
        info = api.repo_info(
            repo_id,
            revision=revision,
            repo_type=repo_type,
            timeout=min(settings.timeout, CURRENT_COMMIT_TIMEOUT),
        )
    except Exception:
        return None
    sha = getattr(info, "sha", None)
    if isinstance(sha, str) and _COMMIT_RE.match(sha.lower()):
        return sha.lower()
    return None


def cached_commit(
    repo_type: str,
    repo_id: str,
    revision: str,
    *,
    settings: HubSettings | None = None,
) -> str | None:
    """The commit the local cache resolves ``revision`` (a branch or tag) to, or None.

    huggingface_hub records in ``<cache>/<repo folder>/refs/<revision>`` the commit a revision
    pointed to when it last downloaded it, and resolves the revision through that file offline.
    No network; never raises; None when the cache has no such ref or it holds no 40-hex commit.
    """
    try:
        settings = settings if settings is not None else HubSettings.from_environment()
        parts = revision.split("/")
        if any(part in ("", ".", "..") for part in parts):
            return None  # not a ref name; never a path out of the cache
        from huggingface_hub.file_download import repo_folder_name

        folder = settings.cache_dir / repo_folder_name(repo_id=repo_id, repo_type=repo_type)
        with (folder / "refs" / revision).open("rb") as handle:
            text = handle.read(_REF_READ_LIMIT).decode("ascii").strip().lower()
    except Exception:
        return None
    return text if _COMMIT_RE.match(text) else None


def revision_pointer(
    repo_type: str,
    repo_id: str,
    revision: str,
    *,
    settings: HubSettings | None = None,
) -> RevisionPointer | None:
    """Where a mutable ``revision`` points: on the Hub now (online), else in the local cache.

    The Hub is asked first (:func:`current_commit`: one short request, none under
    ``HF_HUB_OFFLINE``); when it cannot answer, the cache's ref (:func:`cached_commit`). Only
    improves the message that rejects a mutable revision; never raises.
    """
    try:
        settings = settings if settings is not None else HubSettings.from_environment()
    except Exception:
        return None
    today = current_commit(repo_type, repo_id, revision, settings=settings)
    if today is not None:
        return RevisionPointer(today, "hub")
    cached = cached_commit(repo_type, repo_id, revision, settings=settings)
    if cached is not None:
        return RevisionPointer(cached, "cache")
    return None


def blob_address(path: Path) -> BlobAddress | None:
    """The content address of ``path`` when it is a link into a Hugging Face cache's ``blobs/``.

    huggingface_hub names each blob after the ETag the Hub served: the sha256 of an LFS file,
    the git blob sha1 of a regular one. A copied (non-symlinked) snapshot has no address.
    """
    if not path.is_symlink():
        return None
    try:
        target = Path(os.path.realpath(path))
    except OSError:
        return None
    if target.parent.name != "blobs":
        return None
    name = target.name.lower()
    if _SHA256_RE.match(name):
        return BlobAddress("sha256", name, target)
    if _COMMIT_RE.match(name):
        return BlobAddress("git-sha1", name, target)
    return None


def git_blob_sha1(path: Path) -> str:
    """The git object id of the file's content: sha1 over ``blob <size>\\0`` and the bytes."""
    size = path.stat().st_size
    digest = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def matches_patterns(path: str, patterns: Sequence[str] | None) -> bool:
    """huggingface_hub's ``allow_patterns`` rule: fnmatch (``*`` crosses ``/``), ``dir/`` = ``dir/*``."""
    if patterns is None:
        return True
    path = path.replace("\\", "/")
    for pattern in patterns:
        pattern = pattern.replace("\\", "/")
        if pattern.endswith("/"):
            pattern += "*"
        if fnmatchcase(path, pattern):
            return True
    return False


# -- resolution -----------------------------------------------------------------------------


class _HubUnreachable(Exception):
    """The Hub could not be asked (network down, timeout, 5xx): the cache may still answer."""


def _resolve(ref: HubRef, patterns: tuple[str, ...] | None, settings: HubSettings) -> HubSnapshot:
    cached, incomplete = _from_cache(ref, patterns, settings)
    if settings.offline:
        if cached is None:
            raise HubResolutionError(_not_cached_message(ref, incomplete))
        return _offline_snapshot(ref, cached, patterns, settings)
    try:
        commit, listing = _fetch_listing(ref, settings)
    except _HubUnreachable as exc:
        if cached is not None:
            return _offline_snapshot(ref, cached, patterns, settings)
        raise HubResolutionError(
            f"{ref.uri}: the Hub at {settings.endpoint} cannot be reached ({exc}) and the commit is "
            f"not in the local cache ({settings.cache_dir}); check the network (and HF_ENDPOINT), or "
            "run with HF_HUB_OFFLINE=1 against a cache populated beforehand with "
            f"`{_download_command(ref)}`"
        ) from None
    wanted = [p for p in sorted(listing) if matches_patterns(p, patterns)]
    if patterns is not None and not wanted:
        raise HubResolutionError(
            f"{ref.uri}: no file at this commit matches allow_patterns {list(patterns)!r} "
            f"(the commit holds {_sample(sorted(listing))})"
        )
    if cached is not None and cached.name != commit:
        # A branch or tag whose ref in the cache lags behind the commit the Hub names now: the
        # files must be that commit's, so look the commit itself up in the cache.
        cached, _ = _from_cache(replace(ref, revision=commit), patterns, settings)
    path = cached if cached is not None and _has_all(cached, wanted) else None
    if path is None:
        path = _download(ref, commit, patterns, settings)
    if ref.revision != commit:
        # What `hf download --revision main` records: offline, the branch then resolves to the
        # commit this run used (huggingface_hub does not when asked for the commit itself).
        _record_ref(path.parent.parent, ref.revision, commit)
    return HubSnapshot(
        ref=ref,
        path=path,
        commit=commit,
        files=listing,
        online=True,
        allow_patterns=patterns,
        endpoint=settings.endpoint,
    )


def _from_cache(
    ref: HubRef, patterns: tuple[str, ...] | None, settings: HubSettings
) -> tuple[Path | None, str | None]:
    """The cached snapshot (no network), or None with why it is incomplete when it is."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import IncompleteSnapshotError, LocalEntryNotFoundError

    try:
        path = snapshot_download(
            repo_id=ref.repo_id,
            repo_type=ref.repo_type,
            revision=ref.revision,
            cache_dir=settings.cache_dir,
            allow_patterns=list(patterns) if patterns is not None else None,
            local_files_only=True,
        )
    except IncompleteSnapshotError as exc:
        return None, str(exc)
    except LocalEntryNotFoundError:
        return None, None
    return Path(path), None


def _offline_snapshot(
    ref: HubRef, path: Path, patterns: tuple[str, ...] | None, settings: HubSettings
) -> HubSnapshot:
    commit = path.name
    storage = path.parent.parent
    listing = _cached_listing(storage, commit)
    if listing is None:
        listing = _blob_listing(path)
    return HubSnapshot(
        ref=ref,
        path=path,
        commit=commit,
        files=listing,
        online=False,
        allow_patterns=patterns,
        endpoint=settings.endpoint,
    )


def _fetch_listing(ref: HubRef, settings: HubSettings) -> tuple[str, dict[str, HubFileMeta]]:
    """One request, no retry: the commit and every file's metadata, as the Hub publishes them."""
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    api = HfApi(endpoint=settings.endpoint, token=settings.token)
    info: ModelInfo | DatasetInfo
    try:
        if ref.repo_type == "dataset":
            info = api.dataset_info(
                ref.repo_id, revision=ref.revision, files_metadata=True, timeout=settings.timeout
            )
        else:
            info = api.model_info(
                ref.repo_id, revision=ref.revision, files_metadata=True, timeout=settings.timeout
            )
    except (httpx2.TransportError, OfflineModeIsEnabled) as exc:
        raise _HubUnreachable(_transport_reason(exc)) from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status >= 500 or status in (408, 429):
            raise _HubUnreachable(f"HTTP {status}") from None
        raise HubResolutionError(_http_error_message(ref, exc, settings), gone=_gone(exc)) from None
    commit = (info.sha or "").lower()
    if not _COMMIT_RE.match(commit):
        raise HubResolutionError(
            f"{ref.uri}: the Hub at {settings.endpoint} did not name the commit of this revision; "
            "check that HF_ENDPOINT points to a Hugging Face Hub"
        )
    if _COMMIT_RE.match(ref.revision) and commit != ref.revision:
        raise HubResolutionError(
            f"{ref.uri}: the Hub answered with commit {commit} for revision {ref.revision}; "
            "refusing a snapshot other than the pinned one"
        )
    listing: dict[str, HubFileMeta] = {}
    for sibling in info.siblings or []:
        lfs = sibling.lfs
        listing[sibling.rfilename] = HubFileMeta(
            path=sibling.rfilename,
            size=sibling.size,
            blob_id=sibling.blob_id,
            lfs_sha256=lfs.sha256.lower() if lfs is not None else None,
            lfs_size=lfs.size if lfs is not None else None,
            source="hub",
        )
    return commit, listing


def _download(
    ref: HubRef, commit: str, patterns: tuple[str, ...] | None, settings: HubSettings
) -> Path:
    """Download the commit (exactly the one just listed) into the cache."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    try:
        path = snapshot_download(
            repo_id=ref.repo_id,
            repo_type=ref.repo_type,
            revision=commit,
            cache_dir=settings.cache_dir,
            endpoint=settings.endpoint,
            token=settings.token,
            allow_patterns=list(patterns) if patterns is not None else None,
            etag_timeout=settings.timeout,
        )
    except HfHubHTTPError as exc:
        raise HubResolutionError(_http_error_message(ref, exc, settings)) from None
    except OSError as exc:  # LocalEntryNotFoundError and friends: the download broke off
        raise HubResolutionError(
            f"{ref.uri}: the download from {settings.endpoint} failed ({type(exc).__name__}: {exc}); "
            f"retry, or fetch it with `{_download_command(ref)}` and run with HF_HUB_OFFLINE=1"
        ) from None
    return Path(path)


# -- cache metadata -------------------------------------------------------------------------


def _record_ref(storage: Path, revision: str, commit: str) -> None:
    """Write ``refs/<revision>`` = ``commit`` as huggingface_hub does (atomically); best effort."""
    if any(part in ("", ".", "..") for part in revision.split("/")):
        return
    ref_path = storage / "refs" / revision
    try:
        if ref_path.is_file() and ref_path.read_text(encoding="ascii").strip() == commit:
            return
        ref_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = ref_path.with_name(f"{ref_path.name}.{os.getpid()}.tmp")
        tmp.write_text(commit, encoding="ascii")
        os.replace(tmp, ref_path)
    except (OSError, ValueError):
        pass  # a read-only cache still resolved; only a later offline run of the ref misses it


def _cached_listing(storage: Path, commit: str) -> dict[str, HubFileMeta] | None:
    """The tree listing huggingface_hub recorded for ``commit`` when it downloaded it (format 1)."""
    try:
        data = json.loads((storage / "trees" / f"{commit}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format_version") != 1:
        return None
    files = data.get("files")
    if not isinstance(files, dict):
        return None
    listing: dict[str, HubFileMeta] = {}
    for rel, info in files.items():
        if not isinstance(rel, str) or not isinstance(info, dict):
            return None
        lfs = info.get("lfs_sha256")
        listing[rel] = HubFileMeta(
            path=rel,
            size=_int(info.get("size")),
            blob_id=info["blob_id"] if isinstance(info.get("blob_id"), str) else None,
            lfs_sha256=lfs.lower() if isinstance(lfs, str) else None,
            lfs_size=_int(info.get("lfs_size")),
            source="cache-listing",
        )
    return listing


def _blob_listing(snapshot: Path) -> dict[str, HubFileMeta]:
    """What the blob names alone claim about each file of a snapshot (no listing recorded)."""
    listing: dict[str, HubFileMeta] = {}
    for path in sorted(snapshot.rglob("*")):
        if path.is_dir():
            continue
        address = blob_address(path)
        if address is None:
            continue
        rel = path.relative_to(snapshot).as_posix()
        size = address.blob.stat().st_size if address.blob.exists() else None
        if address.algorithm == "sha256":
            meta = HubFileMeta(
                rel, size, lfs_sha256=address.digest, lfs_size=size, source="cache-blob"
            )
        else:
            meta = HubFileMeta(rel, size, blob_id=address.digest, source="cache-blob")
        listing[rel] = meta
    return listing


# -- messages -------------------------------------------------------------------------------


def _gone(exc: Exception) -> HubGone | None:
    """What the Hub said no longer exists, from the client's error type (as the message reads
    it): a gated repository exists, so it is not gone."""
    from huggingface_hub.errors import (
        GatedRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    if isinstance(exc, RevisionNotFoundError):
        return "revision"
    if isinstance(exc, RepositoryNotFoundError) and not isinstance(exc, GatedRepoError):
        return "repository"
    return None


def _http_error_message(ref: HubRef, exc: Exception, settings: HubSettings) -> str:
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    has_token = _token_in_use(settings) is not None
    status = (
        exc.response.status_code
        if isinstance(exc, HfHubHTTPError) and exc.response is not None
        else 0
    )
    if isinstance(exc, RevisionNotFoundError):
        return (
            f"{ref.uri}: {ref.repo_id} has no revision {ref.revision} on the Hub (never pushed, or "
            "dropped by a history rewrite); pin a commit listed in the repository's history"
        )
    if isinstance(exc, GatedRepoError):
        return (
            f"{ref.uri}: {ref.repo_id} is gated; accept its conditions on the Hub with an account, "
            "then set HF_TOKEN to a read token of that account"
            + (" (the token in use has no access)" if has_token else "")
        )
    if isinstance(exc, RepositoryNotFoundError) or status in (401, 403):
        if has_token:
            return (
                f"{ref.uri}: {ref.repo_id} does not exist as a {ref.repo_type} repository, or the "
                f"token in use (HTTP {status}) has no read access to it; check the name and "
                "the token's permissions"
            )
        return (
            f"{ref.uri}: {ref.repo_id} does not exist as a {ref.repo_type} repository, or it is "
            "private or gated; if it is, set HF_TOKEN to a read token with access to it"
        )
    if isinstance(exc, RemoteEntryNotFoundError):
        return f"{ref.uri}: a file listed at this commit is missing on the Hub ({exc})"
    return f"{ref.uri}: the Hub at {settings.endpoint} answered HTTP {status} ({exc})"


def _not_cached_message(ref: HubRef, incomplete: str | None) -> str:
    # The first clause is relied upon (the plugin's tests and users' CI logs grep for it).
    message = (
        f"{ref.uri} is not in the local Hugging Face cache; download it first with "
        f"`{_download_command(ref)}`"
    )
    if incomplete is not None:
        message += f" (the cached snapshot is incomplete: {incomplete})"
    return message


def _download_command(ref: HubRef) -> str:
    suffix = " --repo-type dataset" if ref.repo_type == "dataset" else ""
    return f"hf download {ref.repo_id} --revision {ref.revision}{suffix}"


def _transport_reason(exc: Exception) -> str:
    from huggingface_hub.errors import OfflineModeIsEnabled

    if isinstance(exc, OfflineModeIsEnabled):
        return "offline mode is enabled"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _sample(items: Sequence[str], limit: int = 5) -> str:
    if not items:
        return "no files"
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def _has_all(snapshot: Path, paths: Iterable[str]) -> bool:
    return all((snapshot / p).exists() for p in paths)


def _token_in_use(settings: HubSettings) -> str | None:
    if settings.token:
        return settings.token
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:
        return None


def _secrets(settings: HubSettings) -> list[str]:
    """Every token value that could end up in a message: explicit, environment, token file."""
    values = [
        settings.token,
        os.environ.get("HF_TOKEN"),
        os.environ.get("HUGGING_FACE_HUB_TOKEN"),
        _token_in_use(settings),
    ]
    return [v.strip() for v in values if v and v.strip()]


def _env_true(name: str) -> bool:
    return (os.environ.get(name) or "").upper() in _TRUE


def _env_float(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
