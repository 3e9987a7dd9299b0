"""The build context the reports name: repository root, commit, remote and CI run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pytest_mlsupply.build_context import detect, repo_root, strip_credentials


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "project").mkdir(parents=True)
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "t@example.invalid")
    _git(root, "config", "user.name", "t")
    (root / "project" / "mlsupply.yaml").write_text("version: 1\n")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "first")
    return root


def test_a_project_below_the_repository_root_names_the_root_and_the_commit(
    repository: Path,
) -> None:
    found = detect(repository / "project", env={})
    assert found.repo_root == repository.resolve()
    assert found.commit == _git(repository, "rev-parse", "HEAD")
    assert found.dirty is False


def test_a_changed_tracked_file_makes_the_tree_dirty(repository: Path) -> None:
    (repository / "project" / "mlsupply.yaml").write_text("version: 1\nproject: {}\n")
    assert detect(repository / "project", env={}).dirty is True


def test_the_remote_url_loses_its_token_before_it_is_kept(repository: Path) -> None:
    _git(
        repository,
        "remote",
        "add",
        "origin",
        "https://x-access-token:ghs_SECRET@github.com/org/repo.git",
    )
    found = detect(repository, env={})
    assert found.repository == "https://github.com/org/repo.git"
    assert "SECRET" not in repr(found.to_dict())


def test_scp_like_addresses_keep_their_user_because_it_is_not_a_secret() -> None:
    assert strip_credentials("git@github.com:org/repo.git") == "git@github.com:org/repo.git"
    assert strip_credentials("ssh://git:pw@host/x") == "ssh://host/x"


@pytest.mark.parametrize(
    "remote",
    [
        "https://gitlab.example.com/g/r.git?private_token=glpat-SECRET",
        "https://host/r.git?access_token=SECRET",
        "https://host/r.git#SECRET",
        "https://oauth2:SECRET@host/r.git?x=SECRET",
        "user:SECRET@host:org/r.git",
    ],
)
def test_no_token_in_a_query_fragment_or_scp_password_reaches_the_reports(remote: str) -> None:
    from pytest_mlsupply.build_context import BuildContext
    from pytest_mlsupply.reports.bom_release import build_links, build_properties

    stripped = strip_credentials(remote)
    assert "SECRET" not in stripped
    context = BuildContext(repository=stripped, commit="a" * 40)
    assert "SECRET" not in repr((build_links(context), build_properties(context)))


def test_outside_a_repository_the_context_comes_from_github_actions(tmp_path: Path) -> None:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "org/repo",
        "GITHUB_RUN_ID": "42",
        "GITHUB_RUN_ATTEMPT": "2",
        "GITHUB_SHA": "a" * 40,
    }
    if repo_root(tmp_path) is not None:
        pytest.skip("the temporary directory lies inside a git work tree")
    found = detect(tmp_path, env=env)
    assert found.commit == "a" * 40
    assert found.repository == "https://github.com/org/repo"
    assert found.ci_run_url == "https://github.com/org/repo/actions/runs/42/attempts/2"


def test_gitlab_ci_names_its_job(tmp_path: Path) -> None:
    env = {
        "GITLAB_CI": "true",
        "CI_PROJECT_URL": "https://gitlab.example/g/p",
        "CI_JOB_URL": "https://gitlab.example/g/p/-/jobs/7",
        "CI_COMMIT_SHA": "b" * 40,
    }
    found = detect(tmp_path, env=env)
    assert found.ci_run_url == "https://gitlab.example/g/p/-/jobs/7"


def test_no_ci_and_no_repository_leaves_every_field_unknown(tmp_path: Path) -> None:
    if repo_root(tmp_path) is not None:
        pytest.skip("the temporary directory lies inside a git work tree")
    assert detect(tmp_path, env={}).to_dict() == {}
