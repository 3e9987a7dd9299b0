"""Dependencies read from requirements files, pyproject.toml and the running environment."""

from __future__ import annotations

import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from pytest_mlsupply.sources.inventory import Dependency
from pytest_mlsupply.sources.requirements import (
    MAX_LINES,
    RequirementsError,
    from_environment,
    from_pyproject,
    from_requirements_file,
)


def read(root: Path, text: str, name: str = "requirements.txt") -> list[Dependency]:
    path = root / name
    path.write_text(textwrap.dedent(text))
    return from_requirements_file(path, root)


def test_an_exact_pin_gives_the_version_and_the_line_it_came_from(tmp_path: Path) -> None:
    (dep,) = read(tmp_path, "numpy==2.1.0\n")

    assert dep == Dependency(
        name="numpy", requirement="numpy==2.1.0", origin="requirements.txt:1", version="2.1.0"
    )
    assert dep.subject == "numpy==2.1.0"
    assert dep.purl == "pkg:pypi/numpy@2.1.0"
    assert dep.link is None


def test_an_arbitrary_equality_pin_is_exact(tmp_path: Path) -> None:
    (dep,) = read(tmp_path, "Foo_Bar===1.0.post1\n")

    assert (dep.name, dep.version) == ("foo-bar", "1.0.post1")
    assert dep.subject == "foo-bar==1.0.post1"


@pytest.mark.parametrize(
    "line", ["requests>=2,<3", "requests", "requests~=2.31", "requests==2.*", "requests!=2.0"]
)
def test_a_range_or_wildcard_has_no_exact_version(tmp_path: Path, line: str) -> None:
    (dep,) = read(tmp_path, line + "\n")

    assert dep.name == "requests"
    assert dep.version is None
    assert dep.subject == dep.requirement
    assert dep.purl == "pkg:pypi/requests"


def test_extras_and_markers_do_not_hide_an_exact_pin(tmp_path: Path) -> None:
    (dep,) = read(tmp_path, "Requests[socks]==2.32.3 ; python_version >= '3.8'\n")

    assert (dep.name, dep.version) == ("requests", "2.32.3")


def test_hash_options_are_captured(tmp_path: Path) -> None:
    digest_a, digest_b = "a" * 64, "b" * 64
    (dep,) = read(
        tmp_path,
        f"""\
        numpy==2.1.0 \\
            --hash=sha256:{digest_a} \\
            --hash=sha256:{digest_b}
        """,
    )

    assert dep.hashes == (f"sha256:{digest_a}", f"sha256:{digest_b}")
    assert dep.requirement == "numpy==2.1.0"


def test_comments_and_blank_lines_keep_the_line_numbers_true(tmp_path: Path) -> None:
    deps = read(
        tmp_path,
        """\
        # runtime
        numpy==2.1.0  # the array library

        --index-url https://pypi.org/simple
        safetensors==0.4.5
        """,
    )

    assert [(d.name, d.origin) for d in deps] == [
        ("numpy", "requirements.txt:2"),
        ("safetensors", "requirements.txt:5"),
    ]


def test_a_nested_requirements_file_is_followed_with_its_own_origin(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("six==1.16.0\n")
    deps = read(tmp_path, "numpy==2.1.0\n-r base.txt\n")

    assert [(d.name, d.origin) for d in deps] == [
        ("numpy", "requirements.txt:1"),
        ("six", "base.txt:1"),
    ]


def test_a_file_in_a_subdirectory_is_named_relative_to_the_project_root(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    (dep,) = read(tmp_path, "numpy==2.1.0\n", name="reqs/prod.txt")

    assert dep.origin == "reqs/prod.txt:1"


def test_an_invalid_line_names_its_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(RequirementsError) as info:
        read(tmp_path, "numpy==2.1.0\nnot a valid ==== line\n")

    assert str(info.value).startswith(f"{tmp_path / 'requirements.txt'}:2: invalid requirement ")
    assert "'not a valid ==== line'" in str(info.value)


def test_an_unreadable_file_is_a_requirements_error(tmp_path: Path) -> None:
    with pytest.raises(RequirementsError) as info:
        from_requirements_file(tmp_path / "gone.txt", tmp_path)

    assert str(info.value).startswith(f"{tmp_path / 'gone.txt'}: cannot be parsed")


@pytest.mark.parametrize("line", ["./localpkg", "-e ./editable"])
def test_a_local_path_requirement_has_no_name_or_version(tmp_path: Path, line: str) -> None:
    (dep,) = read(tmp_path, line + "\n")

    assert dep.requirement == line
    assert dep.version is None
    assert dep.link is not None
    assert dep.origin == "requirements.txt:1"


def test_a_named_url_requirement_keeps_its_url_and_has_no_version(tmp_path: Path) -> None:
    (dep,) = read(tmp_path, "pkg @ https://example.com/pkg-1.0-py3-none-any.whl\n")

    assert dep.name == "pkg"
    assert dep.version is None
    assert dep.link == "https://example.com/pkg-1.0-py3-none-any.whl"
    assert "https://example.com/pkg-1.0-py3-none-any.whl" in dep.requirement


def test_a_bare_wheel_url_is_not_mistaken_for_an_index_pin(tmp_path: Path) -> None:
    # pip guesses `pkg==1.0` from the file name; no index vouches for that version.
    (dep,) = read(tmp_path, "https://example.com/pkg-1.0-py3-none-any.whl\n")

    assert dep.version is None
    assert dep.name == "pkg"
    assert dep.requirement == "https://example.com/pkg-1.0-py3-none-any.whl"
    assert dep.link == "https://example.com/pkg-1.0-py3-none-any.whl"


# -- pyproject.toml --------------------------------------------------------------------------


def write_pyproject(root: Path, text: str) -> Path:
    path = root / "pyproject.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_pyproject_dependencies_are_read_with_their_index(tmp_path: Path) -> None:
    path = write_pyproject(
        tmp_path,
        """\
        [project]
        name = "svc"
        dependencies = ["NumPy==2.1.0", "requests>=2"]
        """,
    )

    deps = from_pyproject(path, tmp_path)

    assert deps == [
        Dependency(
            name="numpy",
            requirement="NumPy==2.1.0",
            origin="pyproject.toml:[project].dependencies[0]",
            version="2.1.0",
        ),
        Dependency(
            name="requests",
            requirement="requests>=2",
            origin="pyproject.toml:[project].dependencies[1]",
        ),
    ]


def test_a_pyproject_without_dependencies_declares_none(tmp_path: Path) -> None:
    path = write_pyproject(tmp_path, "[tool.ruff]\nline-length = 100\n")

    assert from_pyproject(path, tmp_path) == []


def test_a_pyproject_that_is_not_toml_is_a_requirements_error(tmp_path: Path) -> None:
    path = write_pyproject(tmp_path, "[project\n")

    with pytest.raises(RequirementsError, match="cannot be read as TOML"):
        from_pyproject(path, tmp_path)


def test_pyproject_dependencies_that_are_not_a_list_are_rejected(tmp_path: Path) -> None:
    path = write_pyproject(tmp_path, '[project]\ndependencies = "numpy"\n')

    with pytest.raises(RequirementsError, match=r"\[project\]\.dependencies must be a list"):
        from_pyproject(path, tmp_path)


def test_an_invalid_pyproject_dependency_names_its_index(tmp_path: Path) -> None:
    path = write_pyproject(tmp_path, '[project]\ndependencies = ["numpy==2.1.0", "not valid !"]\n')

    with pytest.raises(RequirementsError) as info:
        from_pyproject(path, tmp_path)

    assert "[project].dependencies[1] 'not valid !' is invalid" in str(info.value)


# -- the running environment -----------------------------------------------------------------


def test_the_environment_lists_installed_distributions_with_exact_versions() -> None:
    deps = {d.name: d for d in from_environment()}

    pytest_dep = deps["pytest"]
    assert pytest_dep.version == metadata.version("pytest")
    assert pytest_dep.requirement == f"pytest=={pytest_dep.version}"
    assert pytest_dep.origin == "environment"
    assert deps["pyyaml"].version == metadata.version("PyYAML")


def test_environment_names_are_canonical_unique_and_sorted() -> None:
    names = [d.name for d in from_environment()]

    assert names == sorted(set(names))
    assert all(name == canonicalize_name(name) for name in names)
    assert "pip-requirements-parser" in names


@given(line=st.text(alphabet=" \t\u00a0\u2003#ab=", max_size=30))
def test_comments_are_split_from_a_line_exactly_as_pips_pattern_splits_them(line: str) -> None:
    import pip_requirements_parser as parser

    from pytest_mlsupply.sources.requirements import _LinearComments

    assert _LinearComments(parser.COMMENT_RE).split(line) == parser.COMMENT_RE.split(line)


def test_a_line_with_a_long_space_run_keeps_its_comment_and_its_error(tmp_path: Path) -> None:
    # The linear split (see tests/fuzz/test_fuzz_regressions.py for its speed) reads such a
    # line as pip does: the comment after whitespace goes, text before it stays.
    path = tmp_path / "requirements.txt"
    path.write_text("torch==2.5.1" + " " * 100_000 + "x #c\n" + "numpy==2.0.0  # pinned\n")
    with pytest.raises(RequirementsError, match="invalid requirement"):
        from_requirements_file(path, tmp_path)
    path.write_text("torch==2.5.1" + " " * 100_000 + "#c\n" + "numpy==2.0.0  # pinned\n")
    assert [d.name for d in from_requirements_file(path, tmp_path)] == ["torch", "numpy"]


@given(path=st.text(alphabet="[]a.", max_size=12))
def test_extras_are_split_from_a_path_exactly_as_pips_pattern_splits_them(path: str) -> None:
    import pip_requirements_parser as parser

    from pytest_mlsupply.sources.requirements import _strip_extras

    assert _strip_extras(path) == parser._strip_extras(path)


def test_a_file_longer_than_any_projects_requirements_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    included = tmp_path / "more.txt"
    included.write_text("".join(f"pkg{i}==1.0\n" for i in range(MAX_LINES)))
    path = tmp_path / "requirements.txt"
    path.write_text("-r more.txt\n")
    with pytest.raises(RequirementsError, match=rf"requirements\.txt: more than {MAX_LINES} "):
        from_requirements_file(path, tmp_path)
    included.write_text("".join(f"pkg{i}==1.0\n" for i in range(MAX_LINES - 1)))
    assert len(from_requirements_file(path, tmp_path)) == MAX_LINES - 1
