"""Where and from what a run was made: the repository root, its commit and remote, and the CI
run, for the reports (BOM metadata, the matrix's heading, SARIF's base URI).

Read once per run, never fatal: a project outside version control, without ``git`` on the path,
or in a CI system we do not know gets ``None`` fields, and the reports say "unknown" rather than
guessing. ``git`` is asked with a short timeout and no pager, prompt or config from the user's
hooks; a remote URL loses any user name and password before it is kept (a token in
``https://x-access-token:...@github.com/...`` must never reach a BOM attached to a release).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

_COMMIT_RE = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")
_GIT_TIMEOUT = 5.0


@dataclass(frozen=True)
class BuildContext:
    repo_root: Path | None = None
    """The top of the git work tree holding the project; None outside one."""
    commit: str | None = None
    """The commit checked out (full hex), from git or the CI's own variable."""
    repository: str | None = None
    """The repository's URL (``origin``, or the CI's), without credentials."""
    dirty: bool | None = None
    """Whether tracked files differ from ``commit`` (None when unknown)."""
    ci_run_url: str | None = None
    """The CI run that made the reports (GitHub Actions, GitLab CI), when there is one."""

    def to_dict(self) -> dict[str, str | bool]:
        data: dict[str, str | bool] = {}
        if self.repo_root is not None:
            data["repo_root"] = str(self.repo_root)
        for key in ("commit", "repository", "dirty", "ci_run_url"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


def detect(start: Path, env: Mapping[str, str] | None = None) -> BuildContext:
    """The build context of a project at ``start`` (a directory), from git and the CI's
    environment variables (``env``, default ``os.environ``)."""
    env = os.environ if env is None else env
    root = repo_root(start)
    commit = repository = None
    dirty: bool | None = None
    if root is not None:
        commit = _git(root, "rev-parse", "--verify", "-q", "HEAD")
        if commit is not None and not _COMMIT_RE.match(commit):
            commit = None
        remote = _git(root, "config", "--get", "remote.origin.url")
        repository = strip_credentials(remote) if remote else None
        status = _git(root, "status", "--porcelain", "--untracked-files=no")
        dirty = None if status is None else bool(status)
    ci_commit, ci_repository, run_url = _ci(env)
    return BuildContext(
        repo_root=root,
        commit=commit or ci_commit,
        repository=repository or ci_repository,
        dirty=dirty,
        ci_run_url=run_url,
    )


def repo_root(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding ``.git`` (a directory, or the file
    of a linked work tree or submodule); None when there is none. No git process needed."""
    current = start.resolve()
    for folder in (current, *current.parents):
        if (folder / ".git").exists():
            return folder
    return None


def strip_credentials(url: str) -> str:
    """``url`` without a user name or password (``https://token@host/x`` → ``https://host/x``).
    scp-like git addresses (``git@github.com:org/repo.git``) name a user, not a secret: kept."""
    if "://" not in url:
        # scp-like: ``user@host:path`` keeps its user (no secret), but ``user:token@host:path``
        # (which urlsplit reads as scheme ``user``) loses the whole user part.
        authority, slash, rest = url.partition("/")
        if "@" in authority:
            userinfo, _, host = authority.rpartition("@")
            if ":" in userinfo:
                return host + slash + rest
        return url
    parts = urlsplit(url)
    # A query or fragment carries tokens (``?private_token=``, ``?access_token=``); a git
    # remote needs neither to name the repository.
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _ci(env: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
    """(commit, repository URL, run URL) from GitHub Actions' or GitLab CI's variables."""
    if env.get("GITHUB_ACTIONS") == "true":
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        repo = env.get("GITHUB_REPOSITORY")
        run = env.get("GITHUB_RUN_ID")
        repository = f"{server}/{repo}" if repo else None
        run_url = f"{repository}/actions/runs/{run}" if repository and run else None
        attempt = env.get("GITHUB_RUN_ATTEMPT")
        if run_url and attempt and attempt != "1":
            run_url += f"/attempts/{attempt}"
        return env.get("GITHUB_SHA"), repository, run_url
    if env.get("GITLAB_CI") == "true":
        project = env.get("CI_PROJECT_URL")
        return env.get("CI_COMMIT_SHA"), project, env.get("CI_JOB_URL")
    return None, None, None


def _git(root: Path, *args: str) -> str | None:
    """One git command's output (stripped) in ``root``; None if git is missing or fails."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "--no-pager", *args],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()
