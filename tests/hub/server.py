"""A loopback server speaking the Hugging Face Hub's HTTP API as huggingface_hub 2.4 uses it.

Repositories live in memory and are built by tests (``FakeHub.add_repo(...).commit({...})``).
What the client asks, and what this server answers (read from ``file_download.py``,
``_snapshot_download.py``, ``hf_api.py`` and ``utils/_http.py`` of the installed client):

- ``GET /api/{models,datasets}/{repo}/revision/{rev}[?blobs=True]`` (``model_info`` /
  ``dataset_info`` / ``repo_info``): ``id``, ``sha``, ``private`` and ``siblings``; with
  ``blobs`` each sibling has ``size``, ``blobId`` and, for LFS files,
  ``lfs: {sha256, size, pointerSize}``.
- ``GET /api/{models,datasets}/{repo}/tree/{rev}[/{path}]?recursive=...&expand=...``
  (``list_repo_tree``, which ``snapshot_download`` calls): entries
  ``{type, oid, size, path[, lfs: {oid, size, pointerSize}]}``, paginated with a
  ``Link: <...>; rel="next"`` header.
- ``HEAD``/``GET /[datasets/]{repo}/resolve/{rev}/{path}`` (``hf_hub_download``): regular files
  answer 200 with ``ETag`` (the git blob sha1), ``X-Repo-Commit`` and the bytes; LFS files answer
  302 to a second loopback server (the "CDN", another origin, so the client drops the
  ``Authorization`` header as it does for the real CDN) with ``X-Linked-Etag`` (the sha256),
  ``X-Linked-Size`` and ``X-Repo-Commit``. No ``X-Xet-*`` header and no ``xetHash`` are ever
  sent, so the client never takes the Xet path.
- ``GET /api/{models,datasets}/{repo}/commits/{rev}[?p=N]`` (``list_repo_commits``; the monitor
  reads it page by page): newest first, paged like the tree.
- ``GET /api/models?author=<org>[&expand=...]`` (``list_models``): the org's model repositories
  (``id``, ``author``, ``sha``, ``lastModified``, ``private``), paginated like the tree.
- ``securityStatus=True`` on the info endpoint (``model_info(securityStatus=True)``): the repo's
  ``securityRepoStatus`` as tests set it (:attr:`HubRepo.security_status`).
- Errors carry the ``X-Error-Code`` the client maps to exceptions: ``RepoNotFound`` (404, and
  401 for a private repo without the right ``Authorization: Bearer`` token), ``RevisionNotFound``
  and ``EntryNotFound`` (404).

Every request is recorded (method, path, whether it was authorised) so tests can assert on what
the client sent. Faults can be injected per route (:meth:`FakeHub.inject`: an HTTP status, a
delay, a malformed body), and history rewritten (:meth:`HubRepo.force_push`,
:meth:`HubRepo.forget`). The server stops with its fixture.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

#: File suffixes stored with Git LFS, as the Hub's default ``.gitattributes`` does.
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".gguf", ".h5", ".pkl")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return (
        b"version https://git-lfs.github.com/spec/v1\n"
        + f"oid sha256:{hashlib.sha256(data).hexdigest()}\nsize {len(data)}\n".encode()
    )


@dataclass
class StoredFile:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def oid(self) -> str:
        """The git blob id: of the pointer file for LFS files, of the content otherwise."""
        return git_blob_sha1(lfs_pointer(self.data) if self.lfs else self.data)


@dataclass
class Commit:
    sha: str
    files: dict[str, StoredFile]
    title: str
    parent: str | None
    date: datetime


@dataclass
class HubRepo:
    repo_type: str
    repo_id: str
    private: bool = False
    token: str | None = None
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    echo_authorization: int | None = None
    """When set, every request answers this status with the ``Authorization`` header it got in
    the error message: a careless proxy, to prove tokens are scrubbed from our messages."""
    metadata_overrides: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(commit, path) -> fields served in the metadata endpoints instead of the true ones
    (``sha256``, ``size``, ``oid``): a hub whose listing disagrees with the bytes it serves."""
    security_status: dict[str, Any] | None = None
    """Served as ``securityRepoStatus`` when the client asks for ``securityStatus``."""

    def commit(
        self,
        files: dict[str, bytes],
        *,
        branch: str = "main",
        title: str = "Upload files",
        lfs: set[str] | None = None,
    ) -> str:
        """Add a commit holding exactly ``files`` on ``branch``; returns its 40-hex sha."""
        parent = self.branches.get(branch)
        stored = {
            path: StoredFile(
                data, lfs=(path in lfs) if lfs is not None else path.endswith(LFS_SUFFIXES)
            )
            for path, data in sorted(files.items())
        }
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(f"{self.repo_type}/{self.repo_id}\0{parent}\0{title}\0".encode())
        for path, item in stored.items():
            digest.update(f"{path}\0{item.oid}\0".encode())
        sha = digest.hexdigest()
        self.commits[sha] = Commit(sha, stored, title, parent, datetime.now(UTC))
        self.branches[branch] = sha
        return sha

    def force_push(
        self,
        files: dict[str, bytes],
        *,
        branch: str = "main",
        onto: str | None = None,
        title: str = "Rewrite history",
    ) -> str:
        """Replace ``branch`` with a new commit on top of ``onto`` (None: a new root), as
        ``git push --force`` does: the commits it leaves behind are no longer in the branch's
        history, yet still resolvable by sha until :meth:`forget` drops them."""
        if onto is None:
            self.branches.pop(branch, None)
        else:
            self.branches[branch] = onto
        return self.commit(files, branch=branch, title=title)

    def forget(self, sha: str) -> None:
        """Drop a commit entirely (garbage-collected after a force-push, or deleted)."""
        del self.commits[sha]

    def resolve(self, revision: str) -> str | None:
        if revision in self.commits:
            return revision
        return self.branches.get(revision) or self.tags.get(revision)

    def serve_wrong_metadata(self, commit: str, path: str, **fields: Any) -> None:
        self.metadata_overrides[(commit, path)] = fields

    def file_meta(self, commit: str, path: str) -> dict[str, Any]:
        item = self.commits[commit].files[path]
        meta: dict[str, Any] = {
            "oid": item.oid,
            "size": len(item.data),
            "sha256": item.sha256 if item.lfs else None,
        }
        meta.update(self.metadata_overrides.get((commit, path), {}))
        if item.lfs:
            meta["lfs_size"] = meta.get("lfs_size", meta["size"])
        return meta


@dataclass
class Fault:
    """What the Hub does instead of answering a request whose path matches ``route``."""

    route: re.Pattern[str]
    status: int | None = None
    delay: float = 0.0
    body: bytes | None = None
    """Served with 200 and ``application/json``: a malformed answer."""
    times: int | None = None
    """How many requests it affects (None: all of them)."""


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    authorization: str | None
    server: str  # "hub" or "cdn"


class FakeHub:
    """Two loopback HTTP servers: the Hub API and the LFS "CDN" it redirects to."""

    def __init__(self, page_size: int = 1000) -> None:
        self.repos: dict[tuple[str, str], HubRepo] = {}
        self.requests: list[RecordedRequest] = []
        self.page_size = page_size
        self._lock = threading.Lock()
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, "hub"))
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, "cdn"))
        self._hub.daemon_threads = True
        self._cdn.daemon_threads = True
        self._threads: list[threading.Thread] = []
        self.running = False
        self.faults: list[Fault] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def add_repo(
        self,
        repo_id: str,
        *,
        repo_type: str = "model",
        private: bool = False,
        token: str | None = None,
    ) -> HubRepo:
        repo = HubRepo(repo_type=repo_type, repo_id=repo_id, private=private, token=token)
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def start(self) -> FakeHub:
        for server in (self._hub, self._cdn):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        self.running = True
        return self

    def stop(self) -> None:
        """Shut both servers down and free their ports: the network is now "down"."""
        if not self.running:
            return
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.running = False

    def inject(
        self,
        route: str = "",
        *,
        status: int | None = None,
        delay: float = 0.0,
        body: bytes | None = None,
        times: int | None = None,
    ) -> Fault:
        """Make requests whose path matches the regular expression ``route`` (searched; ``""``:
        every request) fail: ``status`` answers that HTTP status, ``delay`` sleeps first (a slow
        Hub), ``body`` answers 200 with those bytes as JSON (a malformed answer)."""
        fault = Fault(re.compile(route), status=status, delay=delay, body=body, times=times)
        with self._lock:
            self.faults.append(fault)
        return fault

    def heal(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self.faults.clear()

    def fault_for(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.route.search(path) and (fault.times is None or fault.times > 0):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def requests_to(self, server: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.server == server]


_API = re.compile(
    r"^/api/(?P<kind>models|datasets)/(?P<repo>[^/]+/[^/]+)"
    r"(?:/(?P<op>revision|tree|commits)/(?P<rev>[^/]+)(?:/(?P<path>.*))?)?$"
)
_LIST = re.compile(r"^/api/(?P<kind>models|datasets)/?$")
_RESOLVE = re.compile(
    r"^/(?:(?P<datasets>datasets)/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"
)
_CDN = re.compile(r"^/lfs/(?P<sha256>[0-9a-f]{64})$")


class _Reply(Exception):
    """An HTTP error reply, raised from deep inside a handler."""

    def __init__(
        self, status: int, code: str | None = None, message: str = "", commit: str | None = None
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.commit = commit


def _handler(hub: FakeHub, role: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeHub/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read hub.requests
            pass

        def do_HEAD(self) -> None:
            self._dispatch(head=True)

        def do_GET(self) -> None:
            self._dispatch(head=False)

        def _dispatch(self, *, head: bool) -> None:
            url = urlsplit(self.path)
            hub.record(
                RecordedRequest(
                    self.command, url.path, url.query, self.headers.get("Authorization"), role
                )
            )
            try:
                fault = hub.fault_for(url.path) if role == "hub" else None
                if fault is not None and self._fault(fault, head):
                    return
                if role == "cdn":
                    self._cdn(url.path, head)
                    return
                if (m := _LIST.match(url.path)) is not None:
                    self._list(m["kind"], parse_qs(url.query), url)
                    return
                if (m := _API.match(url.path)) is not None:
                    self._api(m, parse_qs(url.query), url)
                    return
                if (m := _RESOLVE.match(url.path)) is not None:
                    self._resolve(m, head)
                    return
                raise _Reply(404, None, "no such route")
            except _Reply as reply:
                headers = {"X-Error-Message": reply.message}
                if reply.code:
                    headers["X-Error-Code"] = reply.code
                if reply.commit:
                    headers["X-Repo-Commit"] = reply.commit
                body = json.dumps({"error": reply.message}).encode()
                self._send(reply.status, body, headers, head=head, content_type="application/json")

        def _fault(self, fault: Fault, head: bool) -> bool:
            """Apply ``fault``; True when it answered the request."""
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                raise _Reply(fault.status, None, "injected fault")
            if fault.body is not None:
                self._send(200, fault.body, {}, head=head, content_type="application/json")
                return True
            return False

        # -- helpers ---------------------------------------------------------------------

        def _send(
            self,
            status: int,
            body: bytes,
            headers: dict[str, str],
            *,
            head: bool = False,
            content_type: str = "application/octet-stream",
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _json(self, data: Any, headers: dict[str, str] | None = None) -> None:
            self._send(
                200, json.dumps(data).encode(), headers or {}, content_type="application/json"
            )

        def _repo(self, repo_type: str, repo_id: str) -> HubRepo:
            repo = hub.repos.get((repo_type, unquote(repo_id)))
            if repo is None:
                raise _Reply(404, "RepoNotFound", "Repository not found")
            if repo.echo_authorization is not None:
                raise _Reply(
                    repo.echo_authorization, None, f"bad {self.headers.get('Authorization')}"
                )
            if repo.private:
                auth = self.headers.get("Authorization")
                if repo.token is None or auth != f"Bearer {repo.token}":
                    # What the Hub answers for a private repo and a missing or wrong token.
                    raise _Reply(401, "RepoNotFound", "Invalid username or password.")
            return repo

        def _commit(self, repo: HubRepo, revision: str) -> str:
            sha = repo.resolve(unquote(revision))
            if sha is None:
                raise _Reply(404, "RevisionNotFound", "Invalid rev id: " + unquote(revision))
            return sha

        # -- API -------------------------------------------------------------------------

        def _api(self, m: re.Match[str], query: dict[str, list[str]], url: Any) -> None:
            repo_type = "model" if m["kind"] == "models" else "dataset"
            repo = self._repo(repo_type, m["repo"])
            op = m["op"]
            sha = self._commit(repo, m["rev"] or "main")
            if op in (None, "revision"):
                self._info(
                    repo,
                    sha,
                    blobs=_true(query.get("blobs")),
                    security=_true(query.get("securityStatus")),
                )
            elif op == "tree":
                self._tree(repo, sha, unquote(m["path"] or ""), query, url)
            else:
                self._commits(repo, sha, query, url)

        def _info(self, repo: HubRepo, sha: str, *, blobs: bool, security: bool = False) -> None:
            siblings = []
            for path in repo.commits[sha].files:
                sibling: dict[str, Any] = {"rfilename": path}
                if blobs:
                    meta = repo.file_meta(sha, path)
                    sibling["size"] = meta["size"]
                    sibling["blobId"] = meta["oid"]
                    if meta["sha256"] is not None:
                        sibling["lfs"] = {
                            "sha256": meta["sha256"],
                            "size": meta["lfs_size"],
                            "pointerSize": len(lfs_pointer(repo.commits[sha].files[path].data)),
                        }
                siblings.append(sibling)
            info: dict[str, Any] = {
                "_id": hashlib.md5(repo.repo_id.encode(), usedforsecurity=False).hexdigest()[:24],
                "id": repo.repo_id,
                "author": repo.repo_id.split("/")[0],
                "sha": sha,
                "lastModified": repo.commits[sha].date.isoformat().replace("+00:00", "Z"),
                "private": repo.private,
                "gated": False,
                "disabled": False,
                "tags": [],
                "siblings": siblings,
            }
            if security:
                info["securityRepoStatus"] = repo.security_status or {
                    "scansDone": True,
                    "filesWithIssues": [],
                }
            self._json(info)

        def _list(self, kind: str, query: dict[str, list[str]], url: Any) -> None:
            """``list_models(author=...)``: public repositories (and private ones the token
            opens) of one author, with their head commit, one page at a time."""
            repo_type = "model" if kind == "models" else "dataset"
            author = (query.get("author") or [""])[-1]
            auth = self.headers.get("Authorization")
            listed = []
            for (kind_of, repo_id), repo in sorted(hub.repos.items()):
                if kind_of != repo_type or (author and repo_id.split("/")[0] != author):
                    continue
                if repo.private and (repo.token is None or auth != f"Bearer {repo.token}"):
                    continue
                head = repo.branches.get("main")
                entry: dict[str, Any] = {
                    "_id": hashlib.md5(repo_id.encode(), usedforsecurity=False).hexdigest()[:24],
                    "id": repo_id,
                    "author": repo_id.split("/")[0],
                    "private": repo.private,
                }
                if head is not None:
                    entry["sha"] = head
                    date = repo.commits[head].date.isoformat().replace("+00:00", "Z")
                    entry["lastModified"] = date
                listed.append(entry)
            start = int((query.get("cursor") or ["0"])[0])
            page = listed[start : start + hub.page_size]
            headers: dict[str, str] = {}
            if start + hub.page_size < len(listed):
                params = f"author={quote(author)}&cursor={start + hub.page_size}"
                headers["Link"] = f'<{hub.endpoint}{url.path}?{params}>; rel="next"'
            self._json(page, headers)

        def _tree(
            self, repo: HubRepo, sha: str, folder: str, query: dict[str, list[str]], url: Any
        ) -> None:
            recursive = _true(query.get("recursive"))
            prefix = f"{folder.rstrip('/')}/" if folder else ""
            files = repo.commits[sha].files
            if folder and not any(p.startswith(prefix) for p in files):
                raise _Reply(404, "EntryNotFound", f"{folder} does not exist", commit=sha)
            entries: dict[str, dict[str, Any]] = {}
            for path in files:
                if not path.startswith(prefix):
                    continue
                rest = path[len(prefix) :]
                parts = rest.split("/")
                # Directories on the way, then the file itself when within reach.
                for depth in range(1, len(parts)):
                    if not recursive and depth > 1:
                        break
                    directory = prefix + "/".join(parts[:depth])
                    entries.setdefault(
                        directory,
                        {
                            "type": "directory",
                            "oid": git_blob_sha1(directory.encode()),
                            "size": 0,
                            "path": directory,
                        },
                    )
                if not recursive and len(parts) > 1:
                    continue
                meta = repo.file_meta(sha, path)
                entry: dict[str, Any] = {
                    "type": "file",
                    "oid": meta["oid"],
                    "size": meta["size"],
                    "path": path,
                }
                if meta["sha256"] is not None:
                    entry["lfs"] = {
                        "oid": meta["sha256"],
                        "size": meta["lfs_size"],
                        "pointerSize": len(lfs_pointer(files[path].data)),
                    }
                entries[path] = entry
            ordered = [entries[k] for k in sorted(entries)]
            start = int((query.get("cursor") or ["0"])[0])
            page = ordered[start : start + hub.page_size]
            headers: dict[str, str] = {}
            if start + hub.page_size < len(ordered):
                params = (
                    f"recursive={'true' if recursive else 'false'}&cursor={start + hub.page_size}"
                )
                headers["Link"] = f'<{hub.endpoint}{url.path}?{params}>; rel="next"'
            self._json(page, headers)

        def _commits(self, repo: HubRepo, sha: str, query: dict[str, list[str]], url: Any) -> None:
            history = []
            current: str | None = sha
            while current is not None:
                commit = repo.commits[current]
                history.append(
                    {
                        "id": commit.sha,
                        "title": commit.title,
                        "message": "",
                        "authors": [{"user": repo.repo_id.split("/")[0]}],
                        "date": commit.date.isoformat().replace("+00:00", "Z"),
                    }
                )
                current = commit.parent
            # Paged as the Hub pages it: ``?p=<page>``, the next page in a Link header.
            number = int((query.get("p") or ["0"])[0])
            page = history[number * hub.page_size : (number + 1) * hub.page_size]
            headers: dict[str, str] = {}
            if (number + 1) * hub.page_size < len(history):
                headers["Link"] = f'<{hub.endpoint}{url.path}?p={number + 1}>; rel="next"'
            self._json(page, headers)

        # -- file downloads --------------------------------------------------------------

        def _resolve(self, m: re.Match[str], head: bool) -> None:
            repo = self._repo("dataset" if m["datasets"] else "model", m["repo"])
            sha = self._commit(repo, m["rev"])
            path = unquote(m["path"])
            item = repo.commits[sha].files.get(path)
            if item is None:
                raise _Reply(404, "EntryNotFound", f"{path} does not exist at {sha}", commit=sha)
            if item.lfs:
                self._send(
                    302,
                    b"",
                    {
                        "Location": f"{hub.cdn}/lfs/{item.sha256}?sig={quote(repo.repo_id, safe='')}",
                        "X-Repo-Commit": sha,
                        "ETag": f'"{item.sha256}"',
                        "X-Linked-Etag": f'"{item.sha256}"',
                        "X-Linked-Size": str(len(item.data)),
                    },
                    head=head,
                )
                return
            self._send(200, item.data, {"X-Repo-Commit": sha, "ETag": f'"{item.oid}"'}, head=head)

        def _cdn(self, path: str, head: bool) -> None:
            m = _CDN.match(path)
            if m is None:
                raise _Reply(404, None, "no such object")
            for repo in hub.repos.values():
                for commit in repo.commits.values():
                    for item in commit.files.values():
                        if item.lfs and item.sha256 == m["sha256"]:
                            self._send(200, item.data, {"ETag": f'"{item.sha256}"'}, head=head)
                            return
            raise _Reply(404, None, "no such object")

    return Handler


def _true(values: list[str] | None) -> bool:
    return bool(values) and values[-1].lower() in ("1", "true", "yes")
