"""Constraints, environment markers, index options, pyproject groups and pylock.toml, read the
way pip and the PyPA's packaging library read them."""

from __future__ import annotations

import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_mlsupply.sources.inventory import Dependency
from pytest_mlsupply.sources.requirements import (
    RequirementsError,
    from_pylock,
    from_pyproject,
    from_requirements_file,
)

DIGEST_A, DIGEST_B, DIGEST_C = "a" * 64, "b" * 64, "c" * 64
#: A marker that is false on the running interpreter, whatever platform the tests run on.
OTHER_PLATFORM = "win32" if sys.platform != "win32" else "linux"


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def read(root: Path, text: str, **others: str) -> list[Dependency]:
    for name, body in others.items():
        write(root, name.replace("__", "."), body)
    return from_requirements_file(write(root, "requirements.txt", text), root)


def by_name(deps: list[Dependency]) -> dict[str, Dependency]:
    return {d.name: d for d in deps}


# -- constraints files ------------------------------------------------------------------------


def test_a_constraint_is_not_a_dependency(tmp_path: Path) -> None:
    deps = read(tmp_path, "-c constraints.txt\nnumpy==2.1.0\n", constraints__txt="urllib3==2.2.0\n")

    assert [d.name for d in deps] == ["numpy"]


def test_a_constraint_pins_the_version_pip_installs_for_a_range(tmp_path: Path) -> None:
    (dep,) = read(
        tmp_path,
        "-c constraints.txt\nrequests>=2.31\n",
        constraints__txt=f"requests==2.32.3 --hash=sha256:{DIGEST_A}\n",
    )

    assert dep.requirement == "requests>=2.31"
    assert dep.version == "2.32.3"
    assert dep.subject == "requests==2.32.3"
    assert dep.constraint == "constraints.txt:1"
    assert dep.hashes == (f"sha256:{DIGEST_A}",)
    assert dep.origin == "requirements.txt:2"


def test_a_constraints_line_after_the_requirement_still_applies_to_it(tmp_path: Path) -> None:
    (dep,) = read(
        tmp_path, "requests>=2.31\n-c constraints.txt\n", constraints__txt="requests==2.32.3\n"
    )

    assert (dep.version, dep.constraint) == ("2.32.3", "constraints.txt:1")


def test_a_range_constraint_leaves_a_range_requirement_unpinned(tmp_path: Path) -> None:
    (dep,) = read(tmp_path, "-c constraints.txt\nrequests>=2.31\n", constraints__txt="requests<3\n")

    assert (dep.version, dep.constraint) == (None, None)


def test_a_constraint_that_excludes_the_requirement_is_an_error_as_in_pip(tmp_path: Path) -> None:
    with pytest.raises(RequirementsError) as info:
        read(tmp_path, "-c constraints.txt\nrequests>=2.31\n", constraints__txt="requests==2.0\n")

    assert "requirements.txt:2: requests>=2.31 conflicts with the constraint requests==2.0" in str(
        info.value
    )
    assert "constraints.txt:1" in str(info.value)


def test_a_constraint_that_excludes_an_exact_pin_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RequirementsError, match=r"numpy==2\.1\.0 conflicts"):
        read(tmp_path, "-c constraints.txt\nnumpy==2.1.0\n", constraints__txt="numpy<2\n")


# -- environment markers ----------------------------------------------------------------------


def test_a_requirement_whose_marker_is_false_is_kept_as_skipped_with_the_marker(
    tmp_path: Path,
) -> None:
    (dep,) = read(tmp_path, f'pywin32==306 ; sys_platform == "{OTHER_PLATFORM}"\n')

    assert (dep.name, dep.version, dep.requirement) == ("pywin32", "306", "pywin32==306")
    assert dep.marker == f'sys_platform == "{OTHER_PLATFORM}"'
    assert dep.skipped is not None
    assert f'`sys_platform == "{OTHER_PLATFORM}"` is false' in dep.skipped
    assert sys.platform in dep.skipped


def test_a_requirement_whose_marker_is_true_applies(tmp_path: Path) -> None:
    (dep,) = read(tmp_path, f'numpy==2.1.0 ; sys_platform == "{sys.platform}"\n')

    assert dep.skipped is None
    assert dep.marker == f'sys_platform == "{sys.platform}"'


def test_a_marker_that_cannot_be_evaluated_is_an_error_naming_the_line(tmp_path: Path) -> None:
    with pytest.raises(RequirementsError) as info:
        read(tmp_path, "numpy==2.1.0\nrequests==2.0 ; python_version ~= '3'\n")

    assert str(info.value).startswith("requirements.txt:2: the environment marker")


# -- index options ----------------------------------------------------------------------------


def test_index_options_apply_to_every_requirement_of_the_file_and_its_includes(
    tmp_path: Path,
) -> None:
    deps = read(
        tmp_path,
        """\
        --index-url https://pypi.acme.internal/simple
        --extra-index-url https://pypi.org/simple
        numpy==2.1.0
        -r more.txt
        """,
        more__txt="--find-links https://download.pytorch.org/whl/torch_stable.html\ntorch==2.5.0\n",
    )

    for dep in deps:
        assert dep.index == "https://pypi.acme.internal/simple"
        assert dep.extra_indexes == (
            "https://pypi.org/simple",
            "https://download.pytorch.org/whl/torch_stable.html",
        )
    assert by_name(deps)["torch"].origin == "more.txt:2"


def test_a_later_index_url_replaces_the_index_and_the_extra_indexes_before_it(
    tmp_path: Path,
) -> None:
    (dep,) = read(
        tmp_path,
        """\
        --extra-index-url https://mirror.example/simple
        --index-url https://pypi.acme.internal/simple
        numpy==2.1.0
        """,
    )

    assert (dep.index, dep.extra_indexes) == ("https://pypi.acme.internal/simple", ())


def test_without_index_options_the_default_index_is_left_to_pip(tmp_path: Path) -> None:
    (dep,) = read(tmp_path, "numpy==2.1.0\n")

    assert (dep.index, dep.extra_indexes) == (None, ())


def test_no_index_makes_the_first_find_links_location_the_source(tmp_path: Path) -> None:
    (dep,) = read(tmp_path, "--no-index\n--find-links /srv/wheels\nnumpy==2.1.0\n")

    assert (dep.index, dep.extra_indexes) == ("/srv/wheels", ())


# -- pyproject.toml ---------------------------------------------------------------------------


def test_pyproject_optional_and_dependency_groups_are_read_under_their_group(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "pyproject.toml",
        """\
        [project]
        name = "svc"
        dependencies = ["numpy==2.1.0"]

        [project.optional-dependencies]
        gpu = ["torch==2.5.0", "triton>=3"]

        [dependency-groups]
        test = ["pytest==8.3.0", {include-group = "lint"}]
        lint = ["ruff==0.6.0"]
        """,
    )

    deps = from_pyproject(path, tmp_path)

    assert [(d.name, d.origin) for d in deps] == [
        ("numpy", "pyproject.toml:[project].dependencies[0]"),
        ("torch", "pyproject.toml:[project.optional-dependencies].gpu[0]"),
        ("triton", "pyproject.toml:[project.optional-dependencies].gpu[1]"),
        ("pytest", "pyproject.toml:[dependency-groups].test[0]"),
        ("ruff", "pyproject.toml:[dependency-groups].lint[0]"),
    ]
    assert by_name(deps)["triton"].version is None


def test_a_cyclic_dependency_group_include_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pyproject.toml",
        """\
        [dependency-groups]
        a = [{include-group = "b"}]
        b = [{include-group = "a"}]
        """,
    )

    with pytest.raises(RequirementsError, match=r"\[dependency-groups\] is invalid: .*[Cc]yclic"):
        from_pyproject(path, tmp_path)


def test_an_include_of_an_unknown_group_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "pyproject.toml", '[dependency-groups]\na = [{include-group = "z"}]\n')

    with pytest.raises(RequirementsError, match=r"\[dependency-groups\] is invalid"):
        from_pyproject(path, tmp_path)


def test_a_pyproject_marker_that_is_false_skips_the_requirement(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pyproject.toml",
        f"[project]\ndependencies = ['pywin32==306; sys_platform == \"{OTHER_PLATFORM}\"']\n",
    )

    (dep,) = from_pyproject(path, tmp_path)

    assert dep.skipped is not None
    assert "is false" in dep.skipped


# -- pylock.toml ------------------------------------------------------------------------------

PYLOCK = f"""\
lock-version = "1.0"
created-by = "tests"

[[packages]]
name = "numpy"
version = "2.1.0"
index = "https://pypi.org/simple"
wheels = [
  {{url = "https://files.example/numpy-2.1.0-cp311-none-any.whl", hashes = {{sha256 = "{DIGEST_A}"}}}},
  {{url = "https://files.example/numpy-2.1.0-cp312-none-any.whl", hashes = {{sha256 = "{DIGEST_B}"}}}},
]

[[packages]]
name = "acme-models"
version = "1.4.0"
index = "https://pypi.acme.internal/simple"
sdist = {{url = "https://pypi.acme.internal/acme_models-1.4.0.tar.gz", hashes = {{sha256 = "{DIGEST_C}"}}}}

[[packages]]
name = "pywin32"
version = "306"
marker = 'sys_platform == "{OTHER_PLATFORM}"'
wheels = [{{url = "https://files.example/pywin32-306-cp311-cp311-win_amd64.whl", hashes = {{sha256 = "{DIGEST_A}"}}}}]

[[packages]]
name = "localpkg"
directory = {{path = "./localpkg"}}
"""


def test_a_pylock_package_has_its_version_index_hashes_and_marker(tmp_path: Path) -> None:
    deps = by_name(from_pylock(write(tmp_path, "pylock.toml", PYLOCK), tmp_path))

    numpy = deps["numpy"]
    assert (numpy.version, numpy.index, numpy.origin) == (
        "2.1.0",
        "https://pypi.org/simple",
        "pylock.toml:packages[0]",
    )
    assert numpy.hashes == (f"sha256:{DIGEST_A}", f"sha256:{DIGEST_B}")
    acme = deps["acme-models"]
    assert (acme.subject, acme.index, acme.hashes) == (
        "acme-models==1.4.0",
        "https://pypi.acme.internal/simple",
        (f"sha256:{DIGEST_C}",),
    )
    assert deps["pywin32"].skipped is not None
    assert deps["pywin32"].marker == f'sys_platform == "{OTHER_PLATFORM}"'
    assert (deps["localpkg"].link, deps["localpkg"].version) == ("./localpkg", None)


def test_a_lock_for_other_environments_skips_every_package(tmp_path: Path) -> None:
    text = PYLOCK.replace(
        'created-by = "tests"\n',
        f'created-by = "tests"\nenvironments = [\'sys_platform == "{OTHER_PLATFORM}"\']\n',
    )

    deps = from_pylock(write(tmp_path, "pylock.toml", text), tmp_path)

    assert all(d.skipped and "the lock file is for other environments" in d.skipped for d in deps)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('lock-version = "1.0"\n', "created-by"),
        ('lock-version = "9.0"\ncreated-by = "x"\npackages = []\n', "9.0"),
        ("lock-version = [", "cannot be read as TOML"),
    ],
    ids=["missing-key", "unsupported-version", "not-toml"],
)
def test_an_invalid_pylock_is_an_error_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, "pylock.toml", text)

    with pytest.raises(RequirementsError) as info:
        from_pylock(path, tmp_path)

    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_a_pin_declared_by_two_sources_keeps_the_weaker_declaration_and_every_index() -> None:
    from pytest_mlsupply.sources.resolve import _merge

    bound = Dependency(
        name="acme-models",
        requirement="acme-models==1.0",
        origin="requirements.txt:2",
        version="1.0",
        hashes=("sha256:" + "a" * 64,),
        index="https://internal.example/simple",
    )
    loose = Dependency(
        name="acme-models",
        requirement="acme-models==1.0",
        origin="requirements-dev.txt:1",
        version="1.0",
        extra_indexes=("https://mirror.example/simple",),
    )

    for merged in (_merge(bound, loose), _merge(loose, bound)):
        assert merged.origin == "requirements-dev.txt:1"
        assert merged.hashes == ()
        assert merged.index is None  # the configured or default index, as the loose file uses
        assert merged.extra_indexes == (
            "https://internal.example/simple",
            "https://mirror.example/simple",
        )
    assert _merge(bound, replace(loose, skipped="marker is false")) == bound
    installed = Dependency(
        name="acme-models", requirement="acme-models==1.0", origin="environment", version="1.0"
    )
    assert _merge(installed, loose) == loose
    assert _merge(bound, installed) == bound


def test_environment_variables_are_substituted_as_pip_does_before_markers_are_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read as written, `python_version < "${PYMAX}"` compares as strings and is false: the
    # line would be skipped while pip, with PYMAX=4, installs it.
    monkeypatch.setenv("PYMAX", "4")
    monkeypatch.delenv("UNSET_VAR", raising=False)

    (dep, other) = read(
        tmp_path,
        'numpy==2.1.0 ; python_version < "${PYMAX}"\nrequests==2.32.3 ; platform_system != "${UNSET_VAR}"\n',
    )

    assert dep.marker == 'python_version < "4"'
    assert dep.skipped is None
    assert other.marker == 'platform_system != "${UNSET_VAR}"'  # pip leaves an unset one as written


def test_credentials_substituted_into_an_index_url_are_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INDEX_TOKEN", "s3cret")

    (dep,) = read(
        tmp_path, "--index-url https://${INDEX_TOKEN}@pypi.acme.internal/simple\nacme-models==1.0\n"
    )

    assert dep.index == "https://****@pypi.acme.internal/simple"


def test_a_locked_package_that_some_install_of_the_lock_selects_is_audited_not_skipped(
    tmp_path: Path,
) -> None:
    # pip install -r pylock.toml installs the default groups; -r 'pylock.toml[gpu]' the extra.
    wheel = '[{url = "https://files.example/%s-1.0-py3-none-any.whl", hashes = {sha256 = "%s"}}]'
    text = (
        'lock-version = "1.0"\ncreated-by = "tests"\nextras = ["gpu"]\n'
        'dependency-groups = ["dev", "docs"]\ndefault-groups = ["dev"]\n'
        + "".join(
            f'[[packages]]\nname = "{name}"\nversion = "1.0"\nmarker = "{marker}"\n'
            f"wheels = {wheel % (name.replace('-', '_'), DIGEST_A)}\n"
            for name, marker in [
                ("by-default", "'dev' in dependency_groups"),
                ("with-the-extra", "'gpu' in extras"),
                ("with-a-group", "'docs' in dependency_groups"),
                ("never-here", f"'gpu' in extras and sys_platform == '{OTHER_PLATFORM}'"),
            ]
        )
    )

    deps = by_name(from_pylock(write(tmp_path, "pylock.toml", text), tmp_path))

    assert [n for n, d in deps.items() if d.skipped is None] == [
        "by-default",
        "with-the-extra",
        "with-a-group",
    ]
    assert "every extra and group" in (deps["never-here"].skipped or "")


def test_uv_sources_and_indexes_in_pyproject_are_where_uv_installs_from(tmp_path: Path) -> None:
    # uv sync installs numpy from the git repository, whatever [project] pins.
    path = write(
        tmp_path,
        "pyproject.toml",
        """\
        [project]
        name = "demo"
        dependencies = ["numpy==2.1.0", "acme-models==1.0", "requests==2.32.3"]

        [[tool.uv.index]]
        name = "mirror"
        url = "https://mirror.example/simple"

        [[tool.uv.index]]
        name = "internal"
        url = "https://pypi.acme.internal/simple"
        explicit = true

        [tool.uv.sources]
        numpy = { git = "https://github.com/someone/numpy", tag = "v2.1.0" }
        Acme_Models = { index = "internal" }
        """,
    )

    deps = by_name(from_pyproject(path, tmp_path))

    assert deps["numpy"].link == "[tool.uv.sources] git = https://github.com/someone/numpy"
    assert deps["numpy"].version is None
    assert (deps["acme-models"].index, deps["acme-models"].extra_indexes) == (
        "https://pypi.acme.internal/simple",
        (),
    )
    assert (deps["requests"].index, deps["requests"].extra_indexes) == (
        None,
        ("https://mirror.example/simple",),
    )


def test_a_uv_source_naming_an_undeclared_index_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pyproject.toml",
        '[project]\nname = "d"\ndependencies = ["x==1"]\n[tool.uv.sources]\nx = { index = "nope" }\n',
    )

    with pytest.raises(RequirementsError, match="'nope', which no"):
        from_pyproject(path, tmp_path)


def test_a_constraints_hash_counts_for_a_pinned_requirement_as_pip_checks_it(
    tmp_path: Path,
) -> None:
    (dep,) = read(
        tmp_path,
        "-c constraints.txt\nacme-models==1.0\n",
        constraints__txt=f"acme-models==1.0 --hash=sha256:{DIGEST_A}\n",
    )

    assert dep.hashes == (f"sha256:{DIGEST_A}",)
    assert dep.constraint == "constraints.txt:1"


def test_a_hash_algorithm_pip_refuses_is_an_error_not_a_hash_pin(tmp_path: Path) -> None:
    with pytest.raises(RequirementsError, match="pip allows only sha256, sha384, sha512"):
        read(tmp_path, f"acme-models==1.0 --hash=md5:{'a' * 32}\n")


def test_a_token_substituted_into_a_url_requirement_is_masked_in_every_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_TOKEN", "s3cret")

    (dep,) = read(tmp_path, "acme @ git+https://${GIT_TOKEN}@git.example/acme.git\n")

    assert "s3cret" not in repr(dep)
    assert dep.link == "git+https://****@git.example/acme.git"
