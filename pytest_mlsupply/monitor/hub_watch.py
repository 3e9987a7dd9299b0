"""The monitor's Hub source: what changed on the Hugging Face Hub for the tracked models and orgs.

For each tracked model (subject ``hf://org/name``; ``hf-datasets://`` for a dataset), one poll:

1. asks for the default branch's head with its file listing and the Hub's own security scan
   (``model_info(securityStatus=True, files_metadata=True)``: one request, with a timeout and
   no retry loop, so a dead or slow Hub is an outage in seconds);
2. when the head is not the pinned commit (or, unpinned, the head seen last time): lists the
   head's history (read back to the pin only, :func:`_history`) and raises *new commits*; a
   pinned commit missing from that history, or no longer resolvable at all, is a force-push or
   a deletion (critical);
3. compares the file listings of the pinned commit and the head by content digest (LFS sha256,
   else git blob id) and rates each added or changed file by risk: a pickle-based file (decided
   by its content: it is downloaded and the artifact scanner identifies it, whatever its name),
   weights, custom code (``*.py``, ``auto_map`` in ``*config.json``), the chat template or
   tokenizer, the licence or card. Every added or changed file up to :data:`DEFAULT_MAX_SCAN_BYTES`
   is fetched at the head commit into a temporary cache and scanned (never executed); a larger one
   is an alert that it was not scanned, never a silent skip.

A model whose head has not moved since a poll that analysed it is not analysed again: its alerts
were stored with its cursor (one transaction in the watcher), so nothing is lost.

For each tracked org (subject ``hf-org://org``): the first poll records its model and dataset
repositories and raises nothing (a baseline: every existing repository would otherwise be
"new"); later polls raise *new repository* and *repository updated*.

Fail closed: any fault between us and the Hub for one subject (connection refused, timeout, a
5xx, malformed JSON) is an :class:`~.alerts.Outage` for that subject, whose cursor is then left
out of the result so it keeps its old value; the other subjects go on. A definite answer (the
repository or the pinned revision does not exist) is not an outage but an alert. The paginated
listings (history, an org's repositories) have no timeout parameter in huggingface_hub and retry
5xx with backoff for ~30 s: they run under a deadline (:func:`_bounded`). Every message is
scrubbed of the token in use. The rules are in docs/monitor-hub.md.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pytest_mlsupply.monitor.alerts import (
    Alert,
    Outage,
    SourceResult,
    TrackedModel,
    WatchList,
    WatchOptions,
)
from pytest_mlsupply.monitor.deadline import Unanswered
from pytest_mlsupply.monitor.deadline import bounded as _bounded
from pytest_mlsupply.monitor.drift import file_sha256
from pytest_mlsupply.redaction import scrub
from pytest_mlsupply.results import Severity, shown
from pytest_mlsupply.sources.hub import HubFileMeta, HubSettings, _secrets, git_blob_sha1

if TYPE_CHECKING:
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import DatasetInfo, ModelInfo

    from pytest_mlsupply.engines.blob import ScanPolicy, ScanReport

__all__ = ["DEFAULT_MAX_SCAN_BYTES", "RULES", "HubSource"]


#: Files above this size are not downloaded for a scan: an alert says so.
DEFAULT_MAX_SCAN_BYTES = WatchOptions.max_scan_bytes
#: A paginated listing may take this many request timeouts in all before it is an outage.
_LISTING_DEADLINE_FACTOR = 3
#: A file download may take this many request timeouts (its own reads are bounded too).
_DOWNLOAD_DEADLINE_FACTOR = 30
#: Commit titles listed in a new-commits alert (the count is always given).
_TITLES_SHOWN = 10
#: Characters of each commit title quoted.
_TITLE_CHARS = 200
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")

NEW_COMMITS = "MLS-MON-101"
PINNED_GONE = "MLS-MON-102"
REPO_GONE = "MLS-MON-103"
PICKLE_FILE = "MLS-MON-104"
WEIGHTS_CHANGED = "MLS-MON-105"
CUSTOM_CODE = "MLS-MON-106"
TOKENIZER_CHANGED = "MLS-MON-107"
CARD_CHANGED = "MLS-MON-108"
SCAN_FINDING = "MLS-MON-109"
NOT_SCANNED = "MLS-MON-110"
SECURITY_STATUS = "MLS-MON-111"
OTHER_FILES = "MLS-MON-112"
NEW_REPOSITORY = "MLS-MON-120"
REPOSITORY_UPDATED = "MLS-MON-121"

#: Every rule this source raises, with its severity (docs/monitor-hub.md has the table; a
#: scanner finding's alert takes the finding's severity, a security status its level's).
RULES: dict[str, str] = {
    NEW_COMMITS: "medium",
    PINNED_GONE: "critical",
    REPO_GONE: "critical, high",
    PICKLE_FILE: "high",
    WEIGHTS_CHANGED: "high",
    CUSTOM_CODE: "high",
    TOKENIZER_CHANGED: "medium",
    CARD_CHANGED: "low",
    SCAN_FINDING: "the finding's (medium and above)",
    NOT_SCANNED: "medium",
    SECURITY_STATUS: "high, medium",
    OTHER_FILES: "info",
    NEW_REPOSITORY: "low",
    REPOSITORY_UPDATED: "info",
}

#: Formats (as the scanner names them) that ``pickle.load`` runs: loading one can execute code.
_PICKLE_FORMATS = frozenset(
    {"pickle", "joblib", "pytorch-legacy", "pytorch-zip", "pytorch-tar", "torchscript"}
)
#: Formats of tensors and serialised models: a change there changes what the model computes.
_WEIGHT_FORMATS = _PICKLE_FORMATS | {
    "safetensors", "gguf", "onnx", "numpy-npy", "numpy-npz", "hdf5", "tflite", "keras-v3",
    "tf-saved-model", "nemo", "skops",
}  # fmt: skip
_WEIGHT_SUFFIXES = (
    ".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".onnx", ".gguf", ".h5", ".msgpack",
    ".pkl", ".pickle", ".joblib", ".npy", ".npz", ".tflite", ".keras", ".nemo", ".pb",
)  # fmt: skip
_TOKENIZER_FILES = frozenset(
    {"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
     "added_tokens.json", "vocab.json", "vocab.txt", "merges.txt", "chat_template.json",
     "chat_template.jinja", "generation_config.json", "processor_config.json"}
)  # fmt: skip
_CARD_FILES = frozenset({"readme.md", "license", "license.md", "license.txt", "copying", "notice"})
#: The Hub's per-file scan levels that mean "do not load this".
_UNSAFE_LEVELS = frozenset({"unsafe", "dangerous", "malicious", "infected"})


class _Malformed(Exception):
    """The Hub answered, but not with what its API returns."""


@dataclass
class _Poll:
    """One model's poll in progress: the alerts found so far survive an outage half-way."""

    model: TrackedModel
    subject: str
    alerts: list[Alert]

    def add(
        self,
        rule: str,
        severity: Severity,
        key: str,
        title: str,
        evidence: str,
        remediation: str,
        url: str | None = None,
    ) -> None:
        self.alerts.append(
            Alert(rule, severity, self.subject, key, title, evidence, remediation, url)
        )


@dataclass(frozen=True)
class _Commit:
    id: str
    title: str


def _history(
    api: HfApi, settings: HubSettings, model: TrackedModel, head: str, wanted: set[str | None]
) -> list[_Commit]:
    """The branch's commits from ``head`` back, newest first, read a page at a time until every
    commit of ``wanted`` was read (to the first commit when one is not in the history).

    ``list_repo_commits`` reads the whole history before it returns, with no timeout: a model
    with thousands of commits would be an outage on every poll, though its pin is a few commits
    back. This adapter reads the same paginated endpoint with the client's own request and
    error functions (``http_backoff``, ``hf_raise_for_status``: its retries and its errors),
    following the Link headers itself, and stops early.

    A next page is followed only on the endpoint's own origin (the headers carry the token: a
    Link to another host would hand it over), never twice, and only until the listing's
    deadline: this runs in a thread the caller's deadline cannot stop, and a Hub that links a
    page to itself, or to ever new pages, would otherwise keep it reading for as long as the
    watch runs."""
    from huggingface_hub.utils._http import hf_raise_for_status, http_backoff

    url: str | None = (
        f"{settings.endpoint}/api/{model.repo_type}s/{model.repo_id}/commits/{quote(head, safe='')}"
    )
    deadline = time.monotonic() + settings.timeout * _LISTING_DEADLINE_FACTOR
    origin = _origin(settings.endpoint)
    visited: set[str] = set()
    missing = {commit for commit in wanted if commit}
    read: list[_Commit] = []
    # The headers list_repo_commits sends (the client's token, user agent, library).
    headers = api._build_hf_headers()
    while url is not None:
        if _origin(url) != origin:
            raise _Malformed("the history's next page is on another host than the endpoint")
        if url in visited:
            raise _Malformed("the history's pages link back to a page already read")
        if time.monotonic() > deadline:
            raise _Malformed(f"the history was not read within the deadline ({len(read)} commits)")
        visited.add(url)
        response = http_backoff("GET", url, headers=headers, timeout=settings.timeout)
        hf_raise_for_status(response)
        page = response.json()
        if not isinstance(page, list):
            raise _Malformed(f"a page of the history is not a list: {type(page).__name__}")
        for item in page:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise _Malformed(
                    f"a commit of the history is not an object with an id: {item!r:.80}"
                )
            commit = _Commit(item["id"].lower(), str(item.get("title") or ""))
            read.append(commit)
            missing.discard(commit.id)
            if not missing:
                return read
        url = response.links.get("next", {}).get("url")
    return read


def _origin(url: str) -> tuple[str, str, int | None]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = -1
    return (scheme, (parts.hostname or "").lower(), port)


class HubSource:
    """The ``hub`` source of the watcher (see the module's docstring)."""

    name = "hub"

    def __init__(
        self,
        settings: HubSettings | None = None,
        *,
        max_scan_bytes: int = DEFAULT_MAX_SCAN_BYTES,
        policy: ScanPolicy | None = None,
        scan_seconds: float = WatchOptions.scan_seconds,
    ) -> None:
        self._settings = settings
        self.max_scan_bytes = max_scan_bytes
        self.scan_seconds = scan_seconds
        self.policy = policy
        """The scanner's policy (the manifest's, from the watcher); None: the defaults."""

    @property
    def settings(self) -> HubSettings:
        # Read at poll time, not import time: HF_ENDPOINT / HF_TOKEN may be set after import.
        return self._settings if self._settings is not None else HubSettings.from_environment()

    def poll(self, watch: WatchList, cursors: Mapping[str, Any]) -> SourceResult:
        settings = self.settings
        result = SourceResult()
        subjects = [_subject(m) for m in watch.models] + [_org_subject(o) for o in watch.orgs]
        if settings.offline:
            # Offline by request: nothing was asked, so nothing may read as "no change".
            for subject in subjects:
                result.outages.append(
                    Outage(self.name, subject, "HF_HUB_OFFLINE is set: the Hub was not asked")
                )
            return result
        from huggingface_hub import HfApi

        api = HfApi(endpoint=settings.endpoint, token=settings.token)
        pins = Counter(_subject(model) for model in watch.models)
        for model in watch.models:
            poll = _Poll(model, _subject(model), result.alerts)
            # A repository tracked at two pins (two models of the manifest) keeps a cursor per
            # pin: one shared cursor would be overwritten by each, and each poll would fetch
            # and scan the other's diff again. The alerts keep the repository's subject.
            where = poll.subject
            if pins[poll.subject] > 1:
                where = f"{poll.subject}@{model.pinned or 'unpinned'}"
            try:
                cursor = self._poll_model(api, settings, poll, cursors.get(where))
            except Exception as exc:  # the client raises many types; each is this subject's outage
                result.outages.append(Outage(self.name, where, _reason(exc, settings)))
            else:
                result.cursors[where] = cursor
        for org in watch.orgs:
            subject = _org_subject(org)
            try:
                alerts, cursor = self._poll_org(api, settings, org, cursors.get(subject))
            except Exception as exc:
                result.outages.append(Outage(self.name, subject, _reason(exc, settings)))
            else:
                result.alerts.extend(alerts)
                result.cursors[subject] = cursor
        return result

    # -- one model ----------------------------------------------------------------------------

    def _poll_model(
        self, api: HfApi, settings: HubSettings, poll: _Poll, previous: Any
    ) -> dict[str, Any]:
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

        model = poll.model
        before: dict[str, Any] = dict(previous) if isinstance(previous, Mapping) else {}
        # How many times the repository came back after it was gone: part of the gone alerts'
        # keys, so a repository that vanishes again at the same head is raised again.
        stored = before.get("returns")
        returns = stored if isinstance(stored, int) else 0
        again = f"\0{returns}" if returns else ""
        try:
            info = _info(api, model, None, settings, security=True)
        except GatedRepoError:
            poll.add(
                REPO_GONE,
                Severity.HIGH,
                # Keyed by the head last seen and the returns: gated again is raised again.
                f"gated\0{before.get('head')}{again}",
                f"{model.repo_id} is now gated",
                "the Hub asks for its conditions to be accepted before anything is served",
                "accept the conditions with the account whose token the monitor uses, or find "
                "out why the owners gated it",
                _repo_url(settings, model),
            )
            return {**before, "gone": "gated"}
        except RepositoryNotFoundError:
            poll.add(
                REPO_GONE,
                Severity.CRITICAL,
                f"not-found\0{before.get('head')}{again}",
                f"{model.repo_id} is gone from the Hub",
                f"the Hub answers that {model.repo_type} repository {model.repo_id} does not "
                "exist: it was deleted, renamed or made private (or the token in use lost "
                "access to it)",
                "do not resolve the model again until you know why; if it was renamed, check "
                "that the new repository holds the pinned commit before pinning it",
                _repo_url(settings, model),
            )
            return {**before, "gone": "not-found"}
        answered = getattr(info, "id", None)
        if isinstance(answered, str) and answered.lower() != model.repo_id.lower():
            # huggingface_hub follows the Hub's redirect from a renamed or transferred
            # repository: the answer is then another repository's, perhaps another owner's.
            poll.add(
                REPO_GONE,
                Severity.HIGH,
                f"moved\0{answered}",
                f"{model.repo_id} now answers as {shown(answered)}",
                f"the Hub redirects {model.repo_id} to {shown(answered)}: the repository was "
                "renamed or transferred (to another owner if the organisation differs); the "
                "old name can now be taken by anyone",
                "check that the new owner is one you trust, then track and pin the new name; "
                "never resolve the old name again",
                _repo_url(settings, model),
            )
        head = _commit_of(info)
        head_files = _listing(info)
        security = _security(info) if model.repo_type == "model" else None
        if security is not None:
            _security_alerts(poll, before.get("security"), security, settings, head_files)
        else:
            security = before.get("security")
        base = (model.pinned or "").lower() or _str_or_none(before.get("head"))
        cursor: dict[str, Any] = {"head": head, "base": base, "security": security}
        if before.get("gone") is not None or returns:
            cursor["returns"] = returns + (before.get("gone") is not None)
        # A pinned model's head seen last must still be in the history too: a force-push that
        # erases commits published after the pin (the pin itself untouched, or the branch reset
        # to it) is a rewrite, as it is for an unpinned model (whose base is that head).
        seen = _str_or_none(before.get("head")) if model.pinned else None
        erased = seen if seen is not None and seen not in (head, base) else None
        if base is None or (base == head and erased is None):
            return cursor  # unpinned and first seen: the baseline; or nothing new
        if before.get("head") == head and before.get("base") == base and before.get("analysed"):
            return {**cursor, "analysed": True}  # raised with the cursor already stored
        history = _bounded(
            lambda: _history(api, settings, model, head, {base, erased}),
            settings.timeout * _LISTING_DEADLINE_FACTOR,
            "the commit history",
            service="the Hub",
        )
        ids = [commit.id for commit in history]
        if erased is not None and erased not in ids:
            poll.add(
                PINNED_GONE,
                Severity.CRITICAL,
                erased,
                f"{model.repo_id}: the default branch was rewritten after the pinned commit",
                f"the head seen at the last poll {erased} is no longer in the default branch's "
                f"history (head {head}, {len(ids)} commit(s)): the branch was force-pushed and "
                "what was published after the pin was erased",
                "find out from the owners why history was rewritten; compare what the erased "
                "commit published with the pinned commit before trusting either",
                _repo_url(settings, model),
            )
        if base == head:
            return cursor  # back at the pin: nothing else to compare
        new = history[: ids.index(base)] if base in ids else history
        base_files = self._base_listing(api, settings, poll, base, head, base in ids, len(ids))
        # The titles are the owner's text, of any length: each is cut short.
        titles = [shown(c.title[:_TITLE_CHARS]) for c in new[:_TITLES_SHOWN]]
        more = f", and {len(new) - _TITLES_SHOWN} more" if len(new) > _TITLES_SHOWN else ""
        since = "since the pinned commit" if model.pinned else "since the last poll"
        if base not in ids:
            since = "and its history no longer contains " + base[:12]
        poll.add(
            NEW_COMMITS,
            Severity.MEDIUM,
            head,
            f"{model.repo_id}: {len(new)} new commit(s) on the default branch",
            f"head {head} ({since}): {'; '.join(titles)}{more}",
            "review what changed (the other alerts rate it) before moving the pin to " + head[:12],
            f"{_repo_url(settings, model)}/commits/main",
        )
        # A pinned commit the Hub cannot resolve any more has no listing: every file of the head
        # is then rated as added, so a pickle the rewrite brought is raised as one.
        with tempfile.TemporaryDirectory(prefix="mlsupply-hub-", ignore_cleanup_errors=True) as tmp:
            _Diff(self, api, settings, poll, Path(tmp), base, head).rate(
                base_files if base_files is not None else {}, head_files
            )
        return {**cursor, "analysed": True}

    def _base_listing(
        self,
        api: HfApi,
        settings: HubSettings,
        poll: _Poll,
        base: str,
        head: str,
        in_history: bool,
        depth: int,
    ) -> dict[str, HubFileMeta] | None:
        """The listing of the commit the head is compared with; a pinned commit that left the
        branch's history (or the Hub) is raised here."""
        from huggingface_hub.errors import RevisionNotFoundError

        model = poll.model
        try:
            info = _info(api, model, base, settings)
        except RevisionNotFoundError:
            resolvable = False
            files = None
        else:
            resolvable = True
            files = _listing(info)
        if in_history:
            if not resolvable:
                raise _Malformed(f"commit {base} is in the history but the Hub cannot resolve it")
            return files
        which = "pinned commit" if model.pinned else "head seen at the last poll"
        if resolvable:
            what = (
                f"the {which} {base} is no longer in the default branch's history (head {head}, "
                f"{depth} commit(s)): the branch was force-pushed; the commit is still "
                "resolvable by its sha, until the Hub collects it"
            )
        else:
            what = (
                f"the {which} {base} is no longer in the default branch's history (head {head}, "
                f"{depth} commit(s)) and the Hub cannot resolve it any more: it was deleted "
                "(force-push and garbage collection, or the repository was recreated)"
            )
        poll.add(
            PINNED_GONE,
            Severity.CRITICAL,
            base,
            f"{model.repo_id}: the {which} is gone from the default branch",
            what,
            "treat the model as suspect: find out from its owners why history was rewritten; "
            "keep using only a verified local copy of the pinned commit, and re-review before "
            "pinning anything from the new history",
            _repo_url(settings, model),
        )
        return files

    def fetch(
        self,
        api: HfApi,
        settings: HubSettings,
        model: TrackedModel,
        meta: HubFileMeta,
        rev: str,
        tmp: Path,
    ) -> Path:
        """Download one file at ``rev`` into the temporary cache ``tmp``, and check that its
        bytes are the ones the listing named (a Hub that serves other bytes than it lists is
        not one whose answer can be rated: an outage)."""
        from huggingface_hub import hf_hub_download

        path = meta.path

        def download() -> str:
            return hf_hub_download(
                model.repo_id,
                path,
                repo_type=model.repo_type,
                revision=rev,
                cache_dir=tmp / "cache",
                endpoint=settings.endpoint,
                token=settings.token,
                etag_timeout=settings.timeout,
            )

        local = Path(
            _bounded(
                download,
                settings.timeout * _DOWNLOAD_DEADLINE_FACTOR,
                f"the download of {path}",
                service="the Hub",
            )
        )
        actual = file_sha256(local) if meta.lfs_sha256 is not None else git_blob_sha1(local)
        expected = meta.lfs_sha256 if meta.lfs_sha256 is not None else meta.blob_id
        if actual != expected:
            raise _Malformed(
                f"{path} at {rev[:12]} was served with digest {actual}, listed as {expected}"
            )
        return local

    # -- one org ------------------------------------------------------------------------------

    def _poll_org(
        self, api: HfApi, settings: HubSettings, org: str, previous: Any
    ) -> tuple[list[Alert], dict[str, Any]]:
        cursor: dict[str, Any] = {}
        alerts: list[Alert] = []
        # Models and datasets: a dataset holds pickles as a model does, and a leaked or
        # look-alike one is published the same way. Each kind has its own baseline (a cursor
        # written before datasets were listed has none: they are recorded, not raised).
        for kind, prefix in (("repos", ""), ("datasets", "datasets/")):
            lister = api.list_models if kind == "repos" else api.list_datasets
            listed = _bounded(
                lambda lister=lister: list(  # type: ignore[misc]
                    lister(author=org, expand=["sha", "lastModified", "private"])
                ),
                settings.timeout * _LISTING_DEADLINE_FACTOR,
                f"the {'datasets' if prefix else 'repositories'} of {org}",
                service="the Hub",
            )
            repos: dict[str, dict[str, str | None]] = {}
            for info in listed:
                if not isinstance(info.id, str) or not isinstance(info.sha, str | None):
                    raise _Malformed("a listed repository has no id")
                modified = info.last_modified.isoformat() if info.last_modified else None
                repos[info.id] = {"sha": info.sha, "lastModified": modified}
            cursor[kind] = repos
            known = previous.get(kind) if isinstance(previous, Mapping) else None
            if isinstance(known, Mapping):
                alerts += _org_alerts(settings, org, prefix, repos, known)
        return alerts, cursor


def _org_alerts(
    settings: HubSettings,
    org: str,
    prefix: str,
    repos: Mapping[str, Mapping[str, str | None]],
    known: Mapping[str, Any],
) -> list[Alert]:
    """New and updated repositories of one kind (``prefix``: ``""`` or ``"datasets/"``)."""
    subject = _org_subject(org)
    what = "dataset" if prefix else "repository"
    alerts = []
    for repo_id, now in sorted(repos.items()):
        url = f"{settings.endpoint}/{prefix}{repo_id}"
        if repo_id not in known:
            # Keyed by the head it appeared with: deleted and published again (other
            # content, perhaps other hands), it is raised again.
            alerts.append(
                Alert(
                    NEW_REPOSITORY,
                    Severity.LOW,
                    subject,
                    f"{prefix}{repo_id}\0{now['sha'] or now['lastModified']}",
                    f"{org} published a new {what}: {shown(repo_id)}",
                    f"{shown(repo_id)} is listed under {org} (head {shown(str(now['sha']))}); "
                    "it was not there at the last poll",
                    "check that the organisation meant to publish it (a look-alike or "
                    "leaked model is published this way) before anyone uses it",
                    url,
                )
            )
            continue
        then = known[repo_id] if isinstance(known[repo_id], Mapping) else {}
        version = now["sha"] or now["lastModified"]
        if version is not None and version != (then.get("sha") or then.get("lastModified")):
            alerts.append(
                Alert(
                    REPOSITORY_UPDATED,
                    Severity.INFO,
                    subject,
                    f"{prefix}{repo_id}\0{version}",
                    f"{org}: {shown(repo_id)} was updated",
                    f"head {shown(str(then.get('sha')))} -> {shown(str(now['sha']))} (last "
                    f"modified {now['lastModified']})",
                    "if the project uses it, track it under monitor.models with a pin",
                    url,
                )
            )
    return alerts


class _Diff:
    """Rate every file added or changed between two commits of one model."""

    def __init__(
        self,
        source: HubSource,
        api: HfApi,
        settings: HubSettings,
        poll: _Poll,
        tmp: Path,
        base: str,
        head: str,
    ) -> None:
        self.source, self.api, self.settings, self.poll = source, api, settings, poll
        self.tmp, self.base, self.head = tmp, base, head
        self.deadline = time.monotonic() + source.scan_seconds

    def rate(self, before: Mapping[str, HubFileMeta], after: Mapping[str, HubFileMeta]) -> None:
        others: list[str] = []
        refused: Exception | None = None
        for path in sorted(after):
            old = before.get(path)
            if old is not None and _digest(old) == _digest(after[path]):
                continue
            try:
                rated = self._rate_file(path, old, after[path])
            except (_Malformed, ValueError, OSError) as exc:
                # One file the Hub answers badly about (a name huggingface_hub refuses to
                # download, such as '../x'; bytes other than listed; a name too long for the
                # local disk, OSError) is this subject's outage, raised once the others are
                # rated: a file sorted after it must not go unseen.
                if isinstance(exc, Unanswered):
                    # A Hub that holds a download past its deadline (TimeoutError is an
                    # OSError) would hold the next ones too: the outage is now, not per file.
                    raise
                refused = refused or exc
                continue
            if not rated:
                others.append(f"{'changed' if old is not None else 'added'} {shown(path)}")
        for path in sorted(set(before) - set(after)):
            if not self._rate_removal(path, before[path]):
                others.append(f"removed {shown(path)}")
        if others:
            self.poll.add(
                OTHER_FILES,
                Severity.INFO,
                self.head,
                f"{self.poll.model.repo_id}: {len(others)} other file change(s)",
                f"between {self.base[:12]} and {self.head[:12]}: " + "; ".join(others[:20]),
                "nothing to do unless the project reads these files",
                self._url(),
            )
        if refused is not None:
            raise refused

    def _rate_file(self, path: str, old: HubFileMeta | None, new: HubFileMeta) -> bool:
        """Raise what ``path``'s change means; False when it is none of the rated kinds."""
        name = PurePosixPath(path).name.lower()
        digest = _digest(new)
        key = f"{path}\0{digest}"
        verb = "changed" if old is not None else "added"
        where = f"{shown(path)} {verb} between {self.base[:12]} and {self.head[:12]}"
        report = self._scan(path, new, key, where)
        formats = set(report.formats.values()) if report is not None else set()
        rated = False
        if formats & _PICKLE_FORMATS:
            claim = (
                f" (its name claims {PurePosixPath(path).suffix or 'no format'})"
                if PurePosixPath(path).suffix.lower() not in (".pkl", ".pickle", ".bin", ".pt")
                else ""
            )
            self.poll.add(
                PICKLE_FILE,
                Severity.HIGH,
                key,
                f"{self.poll.model.repo_id}: a pickle-based file was {verb}: {shown(path)}",
                f"{where}: the scanner identifies its content as "
                f"{', '.join(sorted(formats & _PICKLE_FORMATS))}{claim}; loading it runs "
                "whatever the pickle says",
                "do not load it; ask the owners for safetensors, or review every import the "
                "scanner lists before pinning this commit",
                self._url(path),
            )
            rated = True
        if formats & _WEIGHT_FORMATS or name.endswith(_WEIGHT_SUFFIXES):
            self.poll.add(
                WEIGHTS_CHANGED,
                Severity.HIGH,
                key,
                f"{self.poll.model.repo_id}: weights {verb}: {shown(path)}",
                f"{where}: now {_describe(new)}",
                "weights that change under the same name change what the model computes: "
                "re-evaluate (and re-verify provenance) before moving the pin",
                self._url(path),
            )
            rated = True
        if name.endswith(".py"):
            self._custom_code(key, where, f"{shown(path)} is Python the model loader imports "
                              "with trust_remote_code", path)  # fmt: skip
            rated = True
        elif name == "config.json" or name.endswith("_config.json"):
            # Not config.json alone: transformers imports the class an auto_map names from
            # tokenizer_config.json, preprocessor_config.json, processor_config.json... too, and
            # the name may point at another repository's code, so no *.py changes here at all.
            auto_map = self._auto_map_change(path, old, new)
            if auto_map is not None:
                self._custom_code(key, where, auto_map, path)
            rated = rated or auto_map is not None
        if name in _TOKENIZER_FILES or name.endswith(".jinja"):
            self.poll.add(
                TOKENIZER_CHANGED,
                Severity.MEDIUM,
                key,
                f"{self.poll.model.repo_id}: chat template or tokenizer {verb}: {shown(path)}",
                where + self._template_note(path, old, new, name),
                "a chat template is code run on every prompt (a changed one can inject "
                "instructions); diff it and re-run the model's evaluation before moving the pin",
                self._url(path),
            )
            rated = True
        if name in _CARD_FILES:
            self.poll.add(
                CARD_CHANGED,
                Severity.LOW,
                key,
                f"{self.poll.model.repo_id}: licence or model card {verb}: {shown(path)}",
                where,
                "re-read the licence and the card's stated use before moving the pin",
                self._url(path),
            )
            rated = True
        return rated

    def _rate_removal(self, path: str, old: HubFileMeta) -> bool:
        """Raise what removing ``path`` means; False when it is none of the rated kinds. A
        removal changes what loads: without ``model.safetensors`` transformers falls back to
        ``pytorch_model.bin`` (a pickle); without a template file another template applies."""
        name = PurePosixPath(path).name.lower()
        key = f"{path}\0removed\0{_digest(old)}"
        where = f"{shown(path)} removed between {self.base[:12]} and {self.head[:12]}"
        rated = False
        if name.endswith(_WEIGHT_SUFFIXES):
            self.poll.add(
                WEIGHTS_CHANGED,
                Severity.HIGH,
                key,
                f"{self.poll.model.repo_id}: weights removed: {shown(path)}",
                f"{where}: a loader then takes other weights in its place (a pickle-based "
                "pytorch_model.bin when model.safetensors is gone)",
                "check which weights the loader now reads, and re-evaluate before moving the pin",
                self._url(),
            )
            rated = True
        if name in _TOKENIZER_FILES or name.endswith(".jinja"):
            self.poll.add(
                TOKENIZER_CHANGED,
                Severity.MEDIUM,
                key,
                f"{self.poll.model.repo_id}: chat template or tokenizer removed: {shown(path)}",
                f"{where}: another template or tokenizer file applies in its place",
                "diff what now applies and re-run the model's evaluation before moving the pin",
                self._url(),
            )
            rated = True
        if name in _CARD_FILES:
            self.poll.add(
                CARD_CHANGED,
                Severity.LOW,
                key,
                f"{self.poll.model.repo_id}: licence or model card removed: {shown(path)}",
                where,
                "re-read the licence and the card's stated use before moving the pin",
                self._url(),
            )
            rated = True
        return rated

    def _custom_code(self, key: str, where: str, what: str, path: str) -> None:
        self.poll.add(
            CUSTOM_CODE,
            Severity.HIGH,
            key,
            f"{self.poll.model.repo_id}: new or changed custom code: {shown(path)}",
            f"{where}: {what}",
            "review the code line by line before moving the pin; never load the model with "
            "trust_remote_code at an unreviewed commit",
            self._url(path),
        )

    def _scan(self, path: str, meta: HubFileMeta, key: str, where: str) -> ScanReport | None:
        """Fetch the file at the head commit and scan it; None (with an alert) if it was not."""
        from pytest_mlsupply.engines.scanner import scan_file

        if time.monotonic() > self.deadline:
            self._not_scanned(
                key,
                where,
                f"fetching and scanning this model's changed files took longer than "
                f"{self.source.scan_seconds:g} s (--scan-seconds) before this one; it is "
                "rated by its name only",
                path,
            )
            return None
        size = meta.lfs_size if meta.lfs_size is not None else meta.size
        if size is None or size > self.source.max_scan_bytes:
            self._not_scanned(
                key,
                where,
                f"it is {size if size is not None else 'of unknown size'} bytes, above the "
                f"monitor's scan limit of {self.source.max_scan_bytes} bytes",
                path,
            )
            return None
        local = self.source.fetch(
            self.api, self.settings, self.poll.model, meta, self.head, self.tmp
        )
        try:
            report = scan_file(
                local, f"{self.poll.subject}@{self.head[:12]}/{path}", self.source.policy
            )
        finally:
            # Scanned, then gone: a commit that adds many large files holds one of them on
            # disk at a time, not all of them until the diff ends.
            _discard(local)
        for finding in report.findings:
            if finding.severity < Severity.MEDIUM:
                continue
            self.poll.add(
                SCAN_FINDING,
                finding.severity,
                f"{key}\0{finding.rule}\0{finding.title}",
                f"{finding.rule} in {shown(path)}: {finding.title}",
                f"{where}: {finding.evidence}",
                finding.remediation or "see the scanner rule's documentation",
                self._url(path),
            )
        if report.errors:
            self._not_scanned(key, where, "; ".join(report.errors[:3]), path)
        return report

    def _not_scanned(self, key: str, where: str, why: str, path: str) -> None:
        self.poll.add(
            NOT_SCANNED,
            Severity.MEDIUM,
            key,
            f"{self.poll.model.repo_id}: {shown(path)} was not (fully) scanned",
            f"{where}: {why}",
            f"scan it yourself (`mlsupply scan`) at commit {self.head[:12]} before moving the pin",
            self._url(path),
        )

    def _json_at(self, path: str, revision: str, meta: HubFileMeta | None) -> Any:
        """A JSON file of the repository at ``revision`` (None: absent, too large, not JSON)."""
        if meta is None or (meta.size or 0) > self.source.max_scan_bytes:
            return None
        local = self.source.fetch(
            self.api, self.settings, self.poll.model, meta, revision, self.tmp / revision
        )
        try:
            return json.loads(local.read_bytes())
        except (ValueError, RecursionError):
            # RecursionError: "[" nested a hundred thousand deep. Unreadable is None, rated by
            # the caller; raised, it would stop the diff before the files sorted after this one.
            return None
        finally:
            _discard(local)

    def _auto_map_change(self, path: str, old: HubFileMeta | None, new: HubFileMeta) -> str | None:
        before = self._json_at(path, self.base, old)
        after = self._json_at(path, self.head, new)
        if not isinstance(after, dict):
            return f"{shown(path)} is not a JSON object any more: its auto_map cannot be read"
        was = before.get("auto_map") if isinstance(before, dict) else None
        now = after.get("auto_map")
        if now is None or now == was:
            return None
        return f"auto_map is now {shown(json.dumps(now, sort_keys=True)[:300])} (was {was!r})"

    def _template_note(
        self, path: str, old: HubFileMeta | None, new: HubFileMeta, name: str
    ) -> str:
        if name not in ("tokenizer_config.json", "processor_config.json"):
            return ""  # a processor keeps its chat template in processor_config.json
        before = self._json_at(path, self.base, old)
        after = self._json_at(path, self.head, new)
        if not isinstance(after, dict) or (old is not None and not isinstance(before, dict)):
            # Above the scan limit, or not a JSON object: nothing was read, so nothing is
            # known about the template (two unread files are not "unchanged").
            return "; its chat_template could not be read (diff the file yourself)"
        was = before.get("chat_template") if isinstance(before, dict) else None
        now = after.get("chat_template")
        return "; its chat_template changed" if was != now else "; its chat_template is unchanged"

    def _url(self, path: str | None = None) -> str:
        base = _repo_url(self.settings, self.poll.model)
        return f"{base}/blob/{self.head}/{path}" if path else f"{base}/commit/{self.head}"


# -- the Hub's answers ------------------------------------------------------------------------


def _info(
    api: HfApi,
    model: TrackedModel,
    revision: str | None,
    settings: HubSettings,
    *,
    security: bool = False,
) -> ModelInfo | DatasetInfo:
    def ask() -> ModelInfo | DatasetInfo:
        if model.repo_type == "dataset":
            return api.dataset_info(
                model.repo_id, revision=revision, files_metadata=True, timeout=settings.timeout
            )
        return api.model_info(
            model.repo_id,
            revision=revision,
            files_metadata=True,
            securityStatus=security or None,
            timeout=settings.timeout,
        )

    # The timeout bounds each read: a Hub that trickles its headers or its answer a byte at a
    # time would hold the watch without this deadline on the whole request.
    return _bounded(
        ask,
        settings.timeout * _LISTING_DEADLINE_FACTOR,
        "the repository's information",
        service="the Hub",
    )


def _commit_of(info: ModelInfo | DatasetInfo) -> str:
    sha = info.sha
    if not isinstance(sha, str) or not _COMMIT_RE.match(sha.lower()):
        raise _Malformed(f"the answer names no commit (sha {sha!r})")
    return sha.lower()


def _listing(info: ModelInfo | DatasetInfo) -> dict[str, HubFileMeta]:
    siblings = info.siblings
    if not isinstance(siblings, list):
        raise _Malformed("the answer lists no files")
    listing: dict[str, HubFileMeta] = {}
    for sibling in siblings:
        lfs = sibling.lfs
        if not isinstance(sibling.rfilename, str) or (sibling.blob_id is None and lfs is None):
            raise _Malformed("a listed file has no name or digest")
        listing[sibling.rfilename] = HubFileMeta(
            path=sibling.rfilename,
            size=sibling.size,
            blob_id=sibling.blob_id,
            lfs_sha256=str(lfs.sha256).lower() if lfs is not None else None,
            lfs_size=lfs.size if lfs is not None else None,
        )
    return listing


def _discard(local: Path) -> None:
    """Remove a downloaded file: the cache's blob and the snapshot's link to it."""
    for path in (local.resolve(), local):
        path.unlink(missing_ok=True)


def _digest(meta: HubFileMeta) -> str:
    return f"sha256:{meta.lfs_sha256}" if meta.lfs_sha256 else f"git:{meta.blob_id}"


def _describe(meta: HubFileMeta) -> str:
    size = meta.lfs_size if meta.lfs_size is not None else meta.size
    return f"{_digest(meta)}, {size} bytes"


def _security(info: ModelInfo | DatasetInfo) -> list[list[str]] | None:
    """The Hub's scan findings as sorted ``[path, level]`` pairs (None: not reported)."""
    status = getattr(info, "security_repo_status", None)
    if status is None:
        return None
    if not isinstance(status, dict):
        raise _Malformed("securityRepoStatus is not an object")
    files = status.get("filesWithIssues", [])
    if not isinstance(files, list):
        raise _Malformed("securityRepoStatus.filesWithIssues is not a list")
    pairs = set()
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise _Malformed("securityRepoStatus.filesWithIssues holds an entry without a path")
        pairs.add((entry["path"], str(entry.get("level") or "unknown").lower()))
    return [list(pair) for pair in sorted(pairs)]


def _security_alerts(
    poll: _Poll,
    previous: Any,
    current: list[list[str]],
    settings: HubSettings,
    files: Mapping[str, HubFileMeta],
) -> None:
    """New issues in the Hub's scan; on the first poll, only those already unsafe."""
    first = not isinstance(previous, list)
    known = {tuple(p) for p in previous if isinstance(p, list)} if not first else set()
    for path, level in current:
        if (path, level) in known:
            continue
        unsafe = level in _UNSAFE_LEVELS
        if first and not unsafe:
            continue
        # Keyed by the flagged file's content as well: a file cleared, then flagged again
        # under the same name (another upload) is a new verdict, not the one raised before.
        meta = files.get(path)
        poll.add(
            SECURITY_STATUS,
            Severity.HIGH if unsafe else Severity.MEDIUM,
            f"{path}\0{level}" + (f"\0{_digest(meta)}" if meta is not None else ""),
            f"{poll.model.repo_id}: the Hub's security scan rates {shown(path)} {level}",
            f"the Hub's own scan (malware and pickle imports) now lists {shown(path)} at level "
            f"{shown(level)} on the default branch",
            "do not load the file; read the Hub's scan report on the file's page and compare "
            "the file with the pinned commit's",
            f"{_repo_url(settings, poll.model)}/tree/main",
        )


def _reason(exc: BaseException, settings: HubSettings) -> str:
    """Why a subject's poll failed, in a sentence, with no token in it."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    where = f"the Hub at {settings.endpoint}"
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else 0
        text = f"{where} answered HTTP {status}"
    elif isinstance(exc, httpx2.TimeoutException):
        text = f"{where} did not answer within {settings.timeout:g} s ({type(exc).__name__})"
    elif isinstance(exc, httpx2.TransportError):
        text = f"{where} cannot be reached ({type(exc).__name__}: {exc})"
    elif isinstance(exc, Unanswered):
        text = f"{where}: {exc}"
    elif isinstance(exc, _Malformed | ValueError | KeyError | TypeError | AttributeError):
        # json's decode error is a ValueError; a missing or mistyped field, the others.
        text = f"{where} sent a malformed answer ({type(exc).__name__}: {exc})"
    else:
        text = f"{where}: {type(exc).__name__}: {exc}"
    return scrub(text, _secrets(settings))


# -- names --------------------------------------------------------------------------------------


def _subject(model: TrackedModel) -> str:
    scheme = "hf-datasets" if model.repo_type == "dataset" else "hf"
    return f"{scheme}://{model.repo_id}"


def _org_subject(org: str) -> str:
    return f"hf-org://{org}"


def _repo_url(settings: HubSettings, model: TrackedModel) -> str:
    prefix = "datasets/" if model.repo_type == "dataset" else ""
    return f"{settings.endpoint}/{prefix}{model.repo_id}"


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
