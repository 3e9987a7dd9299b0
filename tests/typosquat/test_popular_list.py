"""The vendored popular-project lists and the one command that refreshes the ranking."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_mlsupply
from pytest_mlsupply.typosquat.popular import from_texts, parse_list, vendored

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "refresh_popular_packages.py"
DATA = Path(pytest_mlsupply.__file__).parent / "data"


def refresh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_the_vendored_ranking_states_its_source_date_and_how_to_refresh_it() -> None:
    names, header = parse_list((DATA / "popular_pypi.txt").read_text(encoding="utf-8"))

    assert header["source"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", header["date"])
    assert "scripts/refresh_popular_packages.py" in header["refresh"]
    assert int(header["projects"]) == len(names) > 14_000
    assert len(set(names)) == len(names)
    assert names[:3] == ["boto3", "packaging", "urllib3"]


def test_the_vendored_names_are_canonical() -> None:
    names, _ = parse_list((DATA / "popular_pypi.txt").read_text(encoding="utf-8"))
    ml, _ = parse_list((DATA / "ml_projects.txt").read_text(encoding="utf-8"))

    assert [n for n in names + ml if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n)] == []


def test_the_ml_list_names_the_ecosystem_the_issue_names() -> None:
    popular = vendored()

    for name in (
        "torch", "transformers", "tensorflow", "huggingface-hub", "safetensors", "tokenizers",
        "accelerate", "datasets", "diffusers", "vllm", "langchain", "openai", "anthropic",
    ):  # fmt: skip
        assert name in popular.ml
        assert popular.well_known(name)


def test_the_lists_ship_inside_the_package_and_are_not_ignored_by_git() -> None:
    # Hatch builds the wheel from the package directory (``packages = ["pytest_mlsupply"]``)
    # and includes every file git does not ignore.
    assert (DATA / "popular_pypi.txt").is_file()
    assert (DATA / "ml_projects.txt").is_file()
    ignored = subprocess.run(
        ["git", "check-ignore", str(DATA / "popular_pypi.txt"), str(DATA / "ml_projects.txt")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.returncode == 1, ignored.stdout  # 1: none of them is ignored
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'packages = ["pytest_mlsupply"]' in pyproject


def test_refreshing_from_the_top_pypi_packages_json_dataset(tmp_path: Path) -> None:
    source = tmp_path / "top-pypi-packages.min.json"
    source.write_text(
        json.dumps(
            {
                "last_update": "2026-11-01 07:12:45",
                "query": {"bytes_billed": 0},
                "rows": [
                    {"download_count": 900, "project": "urllib3"},
                    {"download_count": 1000, "project": "boto3"},
                    {"download_count": 800, "project": "Typing_Extensions"},
                    {"download_count": 700, "project": "typing-extensions"},
                    {"download_count": 5, "project": "tail"},
                ],
            }
        )
    )
    out = tmp_path / "popular.txt"

    done = refresh("--from", str(source), "--out", str(out), "--limit", "3")

    assert done.returncode == 0, done.stderr
    names, header = parse_list(out.read_text())
    assert names == ["boto3", "urllib3", "typing-extensions"]
    assert header["source"] == "top-pypi-packages.min.json"
    assert header["date"] == "2026-11-01"
    assert header["projects"] == "3"
    assert str(tmp_path) not in out.read_text()  # no machine paths in a shipped file


def test_refreshing_from_a_ranked_tsv_package_list(tmp_path: Path) -> None:
    source = tmp_path / "pypi.tsv"
    source.write_text(
        "name\tversion\tmonth\trank_among_15000_most_downloaded\tsummary\n"
        "zzz-unranked\t1.0\t2020-01\t\tnot popular\n"
        "requests\t2.32.3\t2024-05\t2\tHTTP for Humans.\n"
        "boto3\t1.35.0\t2024-08\t1\tThe AWS SDK\n"
        "PyYAML\t6.0.2\t2024-08\t3\tYAML parser\n"
    )
    out = tmp_path / "popular.txt"

    done = refresh("--from", str(source), "--out", str(out), "--date", "2026-12-02")

    assert done.returncode == 0, done.stderr
    names, header = parse_list(out.read_text())
    assert names == ["boto3", "requests", "pyyaml"]
    assert (header["source"], header["date"]) == ("pypi.tsv", "2026-12-02")
    assert from_texts(out.read_text()).ranks == {"boto3": 1, "requests": 2, "pyyaml": 3}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"rows": [{"download_count": 3}]}', 'rows[0] has no "project" name'),
        ('{"data": []}', 'expected {"rows"'),
        ("{not json", "not valid JSON"),
        ("name\tversion\nrequests\t1.0\n", "needs the columns 'name' and"),
        ("name\trank_among_15000_most_downloaded\nrequests\tfirst\n", ":2: rank 'first'"),
    ],
)
def test_a_source_in_neither_format_is_refused_and_nothing_is_written(
    tmp_path: Path, content: str, message: str
) -> None:
    source = tmp_path / "source.txt"
    source.write_text(content)
    out = tmp_path / "popular.txt"

    done = refresh("--from", str(source), "--out", str(out))

    assert done.returncode == 2
    assert message in done.stderr
    assert not out.exists()
