"""pip's configuration files and variables, found and combined in pip's own override order."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from pytest_mlsupply.sources.pipconfig import (
    Location,
    PipConfigError,
    config_files,
    pip_sources,
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home directory of our own, no XDG overrides, and no PIP_CONFIG_FILE."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg-system"))
    for variable in list(os.environ):
        if variable.startswith("PIP_"):  # pip reads every PIP_* variable, whatever its case
            monkeypatch.delenv(variable)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    return home


def conf(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_the_user_file_under_dot_config_puts_its_extra_index_in_play(home: Path) -> None:
    path = conf(
        home / ".config" / "pip" / "pip.conf",
        "[global]\nextra-index-url = https://mirror.example/simple\n",
    )

    sources = pip_sources()

    assert sources.extra_indexes == (
        Location("https://mirror.example/simple", f"{path} [global] extra-index-url"),
    )
    assert sources.index is None
    assert path in sources.files


def test_xdg_config_home_moves_the_user_file(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    path = conf(tmp_path / "xdg" / "pip" / "pip.conf", "[global]\nfind-links = /srv/wheels\n")
    conf(home / ".config" / "pip" / "pip.conf", "[global]\nfind-links = /not/read\n")

    assert [loc.url for loc in pip_sources().find_links] == ["/srv/wheels"]
    assert path in config_files()


def test_the_new_user_file_overrides_the_legacy_one_and_values_are_not_merged(home: Path) -> None:
    conf(home / ".pip" / "pip.conf", "[global]\nextra-index-url = https://legacy.example/simple\n")
    conf(
        home / ".config" / "pip" / "pip.conf",
        "[global]\nextra_index_url = https://a.example/simple https://b.example/simple\n",
    )

    urls = [loc.url for loc in pip_sources().extra_indexes]

    assert urls == ["https://a.example/simple", "https://b.example/simple"]


def test_the_install_section_overrides_the_global_one(home: Path) -> None:
    conf(
        home / ".config" / "pip" / "pip.conf",
        """\
        [global]
        index-url = https://global.example/simple
        [install]
        index-url = https://install.example/simple
        """,
    )

    index = pip_sources().index

    assert index is not None
    assert index.url == "https://install.example/simple"
    assert index.where.endswith("[install] index-url")


def test_a_system_file_in_xdg_config_dirs_is_read(home: Path, tmp_path: Path) -> None:
    conf(tmp_path / "xdg-system" / "pip" / "pip.conf", "[global]\nno-index = true\n")

    assert pip_sources().no_index is True


def test_pip_config_file_is_read_last_and_turns_the_user_files_off(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf(home / ".config" / "pip" / "pip.conf", "[global]\nfind-links = /from/user\n")
    own = conf(tmp_path / "ci.conf", "[global]\nextra-index-url = https://ci.example/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(own))

    sources = pip_sources()

    assert [loc.url for loc in sources.extra_indexes] == ["https://ci.example/simple"]
    assert sources.find_links == ()
    assert sources.files[-1] == own


def test_pip_config_file_set_to_devnull_turns_every_file_off(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf(home / ".config" / "pip" / "pip.conf", "[global]\nfind-links = /from/user\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)

    assert config_files() == []
    assert pip_sources().find_links == ()


def test_environment_variables_override_the_files(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf(
        home / ".config" / "pip" / "pip.conf", "[global]\nindex-url = https://file.example/simple\n"
    )
    monkeypatch.setenv("PIP_INDEX_URL", "https://env.example/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "https://x.example/simple https://y.example/simple")

    sources = pip_sources()

    assert sources.index == Location("https://env.example/simple", "PIP_INDEX_URL")
    assert [loc.where for loc in sources.extra_indexes] == ["PIP_EXTRA_INDEX_URL"] * 2


def test_pypi_url_is_pips_alias_of_index_url_and_the_install_section_wins(home: Path) -> None:
    path = conf(
        home / ".config" / "pip" / "pip.conf",
        """\
        [global]
        index-url = https://internal.example/simple
        [install]
        pypi-url = https://public.example/simple
        """,
    )

    assert pip_sources().index == Location(
        "https://public.example/simple", f"{path} [install] pypi-url"
    )


def test_a_key_written_as_a_long_option_with_dashes_is_read_as_pip_reads_it(home: Path) -> None:
    conf(
        home / ".config" / "pip" / "pip.conf",
        "[global]\n--Extra_Index_URL = https://public.example/simple\n",
    )

    assert [loc.url for loc in pip_sources().extra_indexes] == ["https://public.example/simple"]


def test_pip_variables_are_read_whatever_the_case_after_the_prefix_and_by_alias(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf(
        home / ".config" / "pip" / "pip.conf",
        "[global]\nindex-url = https://internal.example/simple\n",
    )
    monkeypatch.setenv("PIP_PYPI_URL", "https://public.example/simple")
    monkeypatch.setenv("PIP_Extra_Index_Url", "https://extra.example/simple")

    sources = pip_sources()

    assert sources.index == Location("https://public.example/simple", "PIP_PYPI_URL")
    assert sources.extra_indexes == (
        Location("https://extra.example/simple", "PIP_Extra_Index_Url"),
    )


def test_no_index_takes_every_spelling_pip_accepts_and_refuses_the_others(home: Path) -> None:
    path = conf(home / ".config" / "pip" / "pip.conf", "[global]\nno-index = y\n")
    assert pip_sources().no_index is True

    path.write_text("[global]\nno-index = maybe\n")
    with pytest.raises(PipConfigError, match="not a valid value for no-index"):
        pip_sources()


def test_a_virtual_environment_file_is_a_site_file(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = tmp_path / "venv"
    conf(venv / "pip.conf", "[install]\nextra-index-url = https://venv.example/simple\n")
    monkeypatch.setenv("VIRTUAL_ENV", str(venv))

    assert [loc.url for loc in pip_sources().extra_indexes] == ["https://venv.example/simple"]


def test_a_file_pip_cannot_parse_is_an_error_naming_it(home: Path) -> None:
    path = conf(home / ".config" / "pip" / "pip.conf", "index-url = no section header\n")

    with pytest.raises(PipConfigError) as info:
        pip_sources()

    assert str(path) in str(info.value)
    assert "PIP_CONFIG_FILE=/dev/null" in str(info.value)


def test_uv_variables_count_only_under_an_unsafe_index_strategy(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_EXTRA_INDEX_URL", "https://uv.example/simple")
    monkeypatch.setenv("UV_INDEX", "internal=https://named.example/simple")
    assert pip_sources().other_installers == ()

    monkeypatch.setenv("UV_INDEX_STRATEGY", "unsafe-best-match")

    assert pip_sources().other_installers == (
        Location("https://uv.example/simple", "UV_EXTRA_INDEX_URL"),
        Location("https://named.example/simple", "UV_INDEX"),
    )


def test_credentials_in_a_configured_index_url_are_masked(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "https://user:s3cret@pypi.acme.internal/simple")

    index = pip_sources().index

    assert index is not None
    assert index.url == "https://user:****@pypi.acme.internal/simple"


def test_on_macos_the_user_file_is_under_application_support_when_that_exists(
    home: Path,
) -> None:
    path = conf(
        home / "Library" / "Application Support" / "pip" / "pip.conf",
        "[global]\nextra-index-url = https://public.example/simple\n",
    )
    conf(home / ".config" / "pip" / "pip.conf", "[global]\nfind-links = /not/read\n")

    assert path in config_files(platform="darwin")
    assert home / ".config" / "pip" / "pip.conf" not in config_files(platform="darwin")
    assert path not in config_files(platform="linux")


def test_on_windows_the_files_are_pip_ini_under_appdata(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    monkeypatch.setenv("ALLUSERSPROFILE", str(tmp_path / "ProgramData"))
    machine = conf(tmp_path / "ProgramData" / "pip" / "pip.ini", "[global]\n")
    user = conf(tmp_path / "Roaming" / "pip" / "pip.ini", "[global]\n")
    conf(tmp_path / "Roaming" / "pip" / "pip.conf", "[global]\n")

    assert config_files(platform="win32") == [machine, user]
