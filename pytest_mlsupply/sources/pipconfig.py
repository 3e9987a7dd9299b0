"""Where pip (and uv) will look for packages, as their configuration says outside the project.

pip reads configuration files and ``PIP_*`` environment variables before any requirements file:
an ``extra-index-url`` in ``~/.config/pip/pip.conf`` puts a second index in play for every
install on the machine. This module mirrors pip's documented configuration rules (the same
files, in the same override order, as ``pip config debug`` lists them) with the standard
library, rather than importing ``pip._internal``, whose layout changes between releases:

- files, lowest priority first: the global files (each ``$XDG_CONFIG_DIRS`` entry, default
  ``/etc/xdg``, then ``/etc``, each ``<dir>/pip.conf``), the user files (``~/.pip/pip.conf``,
  then ``$XDG_CONFIG_HOME/pip/pip.conf``, default ``~/.config``; skipped when
  ``PIP_CONFIG_FILE`` names an existing file), the site file (``sys.prefix/pip.conf``, and
  ``$VIRTUAL_ENV/pip.conf`` when that is another environment), then ``PIP_CONFIG_FILE``;
  ``PIP_CONFIG_FILE=/dev/null`` disables every file, as in pip;
- keys are read as pip reads them: lower case, ``_`` as ``-``, a leading ``--`` dropped, and
  each names a long option, so ``pypi-url`` (pip's old alias of ``--index-url``) sets the index
  too;
- ``[install]`` overrides ``[global]``, and ``PIP_*`` variables (any case after the prefix:
  ``PIP_Extra_Index_Url`` is pip's ``extra-index-url``; ``PIP_PYPI_URL`` its index) override
  every file; for each option the last setting in that order wins (values are not merged).

uv reads ``UV_*`` variables instead. With its default index strategy (``first-index``) uv takes
a package from the first index that has it, which is the defence against dependency confusion;
its variables count as extra locations only under ``UV_INDEX_STRATEGY=unsafe-best-match`` or
``unsafe-first-match``.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

#: pip's default index, in play whenever nothing sets another ``index-url``.
DEFAULT_INDEX = "https://pypi.org/simple"

#: The keys pip's configuration may use for the options that say where packages come from, and
#: the option each sets (pip looks a key up as ``--<key>``; ``--pypi-url`` is ``--index-url``).
_OPTIONS = {
    "index-url": "index-url",
    "pypi-url": "index-url",
    "extra-index-url": "extra-index-url",
    "find-links": "find-links",
    "no-index": "no-index",
}
#: The sections ``pip install`` reads, lowest priority first (``:env:``: the PIP_* variables).
_SECTIONS = ("global", "install", ":env:")
_UV_UNSAFE = ("unsafe-best-match", "unsafe-first-match")
_UV_LOCATIONS = (
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_INDEX",
    "UV_FIND_LINKS",
)


def redact_url(url: str) -> str:
    """``url`` with its credentials masked as pip masks them in its output
    (``https://user:****@host``, ``https://****@host`` for a token alone): an index URL may carry
    a secret (``--index-url https://${TOKEN}@pypi.acme.internal/simple``), and these URLs are
    written to findings, facts and the BOM."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, sep, _ = userinfo.partition(":")
    masked = f"{user}:****" if sep else "****"
    return urlunsplit(parts._replace(netloc=f"{masked}@{host}"))


_URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
#: A whole run of scheme characters that ends in "://" (tried once, from the run's start).
_SCHEME_RUN = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z0-9+.-]+://")
_SCHEME_START = re.compile(r"\b[A-Za-z]")


def redact_text(text: str) -> str:
    """Every URL's credentials in ``text`` masked as :func:`redact_url` masks them (a
    requirement line may hold ``pkg @ https://${TOKEN}@host/...`` with the token substituted)."""

    def mask(match: re.Match[str]) -> str:
        user, sep, _ = match["userinfo"].partition(":")
        return f"{match['scheme']}{user + ':****' if sep else '****'}@"

    # _URL_CREDENTIALS.sub alone is quadratic: it retries at every letter of a long run of
    # scheme characters not followed by "://" (a 384 kB '--i--i...' requirement line took
    # minutes, found by fuzzing). Every start in one run reaches the same "://", so only the
    # first start the pattern accepts in each run that ends in "://" is tried: the same matches.
    parts: list[str] = []
    done = 0
    for run in _SCHEME_RUN.finditer(text):
        start = _SCHEME_START.search(text, run.start(), run.end() - 3)
        match = _URL_CREDENTIALS.match(text, start.start()) if start is not None else None
        if match is not None:
            parts += [text[done : match.start()], mask(match)]
            done = match.end()
    parts.append(text[done:])
    return "".join(parts)


class PipConfigError(Exception):
    """A pip configuration file that exists but cannot be read: pip would fail on it too."""


@dataclass(frozen=True)
class Location:
    """One place packages may come from, and which setting put it in play."""

    url: str
    where: str
    """``/home/me/.config/pip/pip.conf [global] extra-index-url``, ``PIP_FIND_LINKS``, ..."""


@dataclass(frozen=True)
class PipSources:
    """What pip's configuration puts in play before any requirements file is read."""

    index: Location | None
    """The configured ``index-url`` (None: pip's default, PyPI)."""
    extra_indexes: tuple[Location, ...] = ()
    find_links: tuple[Location, ...] = ()
    no_index: bool = False
    other_installers: tuple[Location, ...] = ()
    """Locations another installer (uv, under an unsafe index strategy) is configured with."""
    files: tuple[Path, ...] = ()
    """The configuration files that were read (for facts and messages)."""


def config_files(
    environ: dict[str, str] | os._Environ[str] | None = None, platform: str = sys.platform
) -> list[Path]:
    """pip's configuration files that exist, lowest priority first.

    The places are pip's (``configuration.get_configuration_files`` with its ``appdirs``) for
    ``platform``: XDG directories on Linux; ``Application Support`` on macOS; ``pip.ini`` under
    ``%APPDATA%`` and ``%ALLUSERSPROFILE%`` on Windows.
    """
    env = os.environ if environ is None else environ
    config_file = env.get("PIP_CONFIG_FILE")
    if config_file == os.devnull:
        return []
    home = Path(env.get("HOME") or env.get("USERPROFILE") or Path.home())
    if platform == "darwin":
        basename = "pip.conf"
        global_dirs = [Path("/Library/Application Support/pip")]
        if sys.prefix.startswith("/opt/homebrew"):
            global_dirs.insert(0, Path("/opt/homebrew/share/pip"))
        support = home / "Library" / "Application Support" / "pip"
        user_dir = support if support.is_dir() else home / ".config" / "pip"
        legacy = home / ".pip"
    elif platform == "win32":
        basename = "pip.ini"
        common = env.get("ALLUSERSPROFILE") or env.get("PROGRAMDATA") or "C:/ProgramData"
        global_dirs = [Path(common) / "pip"]
        user_dir = Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "pip"
        legacy = home / "pip"
    else:
        basename = "pip.conf"
        xdg_dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
        global_dirs = [Path(d) / "pip" for d in xdg_dirs.split(os.pathsep) if d]
        global_dirs.append(Path("/etc"))
        user_dir = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "pip"
        legacy = home / ".pip"
    global_files = [d / basename for d in global_dirs]
    user_files = [legacy / basename, user_dir / basename]
    site_files = [Path(sys.prefix) / basename]
    venv = env.get("VIRTUAL_ENV")
    if venv and Path(venv).resolve() != Path(sys.prefix).resolve():
        site_files.append(Path(venv) / basename)
    ordered = list(global_files)
    if not (config_file and Path(config_file).exists()):
        ordered += user_files
    ordered += site_files
    if config_file:
        ordered.append(Path(config_file))
    return [p for p in dict.fromkeys(ordered) if p.is_file()]


def _key(name: str) -> str:
    """A configuration key as pip normalises it (``configuration._normalize_name``)."""
    return name.lower().replace("_", "-").removeprefix("--")


def _read(path: Path) -> list[tuple[str, str, str]]:
    """The settings of one file pip install reads: (section, normalised key, value)."""
    parser = configparser.RawConfigParser()
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise PipConfigError(
            f"pip configuration file {path} cannot be read: {exc}; pip would fail on it as "
            "well: fix or remove it (or set PIP_CONFIG_FILE=/dev/null to ignore every file)"
        ) from None
    return [
        (section, _key(raw_key), value)
        for section in parser.sections()
        if section in _SECTIONS
        for raw_key, value in parser.items(section)
    ]


def _split(value: str) -> list[str]:
    return value.split()


def _true(value: str, where: str) -> bool:
    """pip's ``strtobool``: a value it does not know stops pip, so it is an error here too."""
    text = value.strip().lower()
    if text in ("y", "yes", "t", "true", "on", "1"):
        return True
    if text in ("n", "no", "f", "false", "off", "0"):
        return False
    raise PipConfigError(
        f"{where}: {value!r} is not a valid value for no-index; pip would stop on it: write "
        "true or false"
    )


def pip_sources(environ: dict[str, str] | os._Environ[str] | None = None) -> PipSources:
    """The locations pip's configuration files and environment variables put in play."""
    env = os.environ if environ is None else environ
    files = config_files(env)
    # pip merges every file's ``section.key`` settings in file order (a later file replaces a
    # value in place), adds the PIP_* variables as section ``:env:``, then applies the sections
    # global, install, :env: in turn, each in that merged order: the last to set an option wins.
    merged: dict[tuple[str, str], tuple[str, str]] = {}
    for path in files:
        for section, key, value in _read(path):
            merged[(section, key)] = (value, f"{path} [{section}] {key}")
    for variable, value in env.items():
        if variable.startswith("PIP_") and value:
            merged[(":env:", _key(variable[4:]))] = (value, variable)
    winner: dict[str, tuple[str, str]] = {}  # option -> (value, where)
    for section in _SECTIONS:
        for (found_in, key), setting in merged.items():
            if found_in == section and key in _OPTIONS:
                winner[_OPTIONS[key]] = setting

    def locations(key: str) -> tuple[Location, ...]:
        if key not in winner:
            return ()
        value, where = winner[key]
        return tuple(Location(redact_url(url), where) for url in dict.fromkeys(_split(value)))

    index = locations("index-url")
    no_index = "no-index" in winner and _true(*winner["no-index"])
    other: tuple[Location, ...] = ()
    if env.get("UV_INDEX_STRATEGY", "").strip() in _UV_UNSAFE:
        other = tuple(
            # UV_INDEX entries may be named: ``internal=https://...``.
            Location(url.split("=", 1)[1] if "=" in url.split("://", 1)[0] else url, variable)
            for variable in _UV_LOCATIONS
            for url in _split(env.get(variable, ""))
        )
    return PipSources(
        index=index[0] if index else None,
        extra_indexes=locations("extra-index-url"),
        find_links=locations("find-links"),
        no_index=no_index,
        other_installers=other,
        files=tuple(files),
    )
