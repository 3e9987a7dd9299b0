"""How the command line and the ini file combine with the manifest, for a session that uses
the plugin (``--mlsupply`` on, or a marked test): :class:`Settings` and the readers of each
option. The options themselves are declared in :mod:`.options`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_mlsupply.plugin.options import MANIFEST_NAME
from pytest_mlsupply.results import THRESHOLD_CHOICES, Severity


@dataclass(frozen=True)
class Settings:
    """The plugin's settings after command line, ini and defaults are combined."""

    manifest_path: Path
    fail_on_override: Severity | None
    bom: Path | None
    bom_xml: Path | None
    matrix: Path | None
    attest: Attest | None = None
    """``--mlsupply-attest``: loaded when the session starts (not on xdist workers)."""
    content_cache: Path | None = None
    """The content cache's folder in pytest's cache directory; None without a cacheprovider."""
    invocation_dir: Path = Path()
    """Where pytest was started: command-line paths are relative to it."""
    sarif: Path | None = None
    """``--mlsupply-sarif`` (or ini ``mlsupply_sarif``): the SARIF log; None: the manifest's."""
    html: Path | None = None
    """``--mlsupply-html`` (from the invocation dir) or ini ``mlsupply_html`` (from the
    rootdir): the HTML report; None leaves it to the manifest's ``output.html``."""
    online: bool = False
    """``--mlsupply-online``: plan a ``drift[<model>]`` item per model pinned to a Hub commit
    (the xdist controller reads the same option, so it plans the same items)."""


@dataclass(frozen=True)
class Attest:
    """Where the attestation key came from, and where the attestation goes."""

    value: str
    """The key's path as written, or ``sigstore``."""
    base: Path
    """The directory ``value`` is relative to (invocation dir, or rootdir for the ini key)."""
    origin: str
    """``--mlsupply-attest`` or ``ini option mlsupply_attest`` (for messages)."""
    output: Path | None


def manifest_location(config: pytest.Config) -> tuple[Path, str]:
    """Where the manifest is expected, and where that choice came from (for messages)."""
    cli_config = config.getoption("mlsupply_config")
    ini_config = str(config.getini("mlsupply_config") or "")
    if cli_config:
        return (config.invocation_params.dir / cli_config).resolve(), "--mlsupply-config"
    if ini_config:
        return (config.rootpath / ini_config).resolve(), "ini option mlsupply_config"
    return (config.rootpath / MANIFEST_NAME).resolve(), "the rootdir"


def missing_manifest_message(manifest: Path, origin: str) -> str:
    return (
        f"pytest-mlsupply: no manifest at {manifest} (from {origin}); create "
        f"{MANIFEST_NAME} there (see docs/configuration.md) or pass --mlsupply-config PATH"
    )


def fail_on_override(config: pytest.Config) -> Severity | None:
    """The threshold from the command line or ini file, if either sets one."""
    cli_fail_on = config.getoption("mlsupply_fail_on")
    ini_fail_on = str(config.getini("mlsupply_fail_on") or "").strip()
    if cli_fail_on:
        return Severity.parse(cli_fail_on)
    if ini_fail_on:
        if ini_fail_on.lower() not in THRESHOLD_CHOICES:
            raise pytest.UsageError(
                f"pytest-mlsupply: ini option mlsupply_fail_on = {ini_fail_on!r} is not one of "
                f"{', '.join(THRESHOLD_CHOICES)}; write e.g. `mlsupply_fail_on = high`"
            )
        return Severity.parse(ini_fail_on)
    return None


def read_settings(config: pytest.Config) -> Settings:
    """Raises pytest.UsageError for settings that cannot work, naming the fix."""
    invocation = config.invocation_params.dir
    manifest, origin = manifest_location(config)
    if not manifest.is_file():
        raise pytest.UsageError(missing_manifest_message(manifest, origin))
    fail_on = fail_on_override(config)

    def _path(option: str) -> Path | None:
        value = config.getoption(option)
        return (invocation / value).resolve() if value else None

    return Settings(
        manifest_path=manifest,
        fail_on_override=fail_on,
        bom=_path("mlsupply_bom"),
        bom_xml=_path("mlsupply_bom_xml"),
        matrix=_path("mlsupply_matrix"),
        attest=_attest(config),
        content_cache=content_cache_folder(config),
        invocation_dir=invocation,
        sarif=_path("mlsupply_sarif") or _ini_path(config, "mlsupply_sarif"),
        html=_path("mlsupply_html") or _ini_path(config, "mlsupply_html"),
        online=bool(config.getoption("mlsupply_online", default=False)),
    )


def _ini_path(config: pytest.Config, name: str) -> Path | None:
    """An ini option's path, relative to the rootdir (as the ini file's other paths are)."""
    value = str(config.getini(name) or "").strip()
    return (config.rootpath / value).resolve() if value else None


def content_cache_folder(config: pytest.Config) -> Path | None:
    """``.pytest_cache/d/mlsupply-content`` (in pytest's ``cache_dir``): ``--cache-clear``
    empties it; None under ``-p no:cacheprovider`` or when it cannot be made (a cold run)."""
    from pytest_mlsupply.checks.content_store import FOLDER_NAME

    cache = getattr(config, "cache", None)
    if cache is None:
        return None
    try:
        folder: Path = cache.mkdir(FOLDER_NAME)
    except OSError:
        return None  # a read-only checkout: every file is read, as without a cache
    return folder


def _attest(config: pytest.Config) -> Attest | None:
    """``--mlsupply-attest`` / ini ``mlsupply_attest``, and the output path (command line
    paths are relative to the invocation directory, ini paths to the rootdir)."""
    invocation, root = config.invocation_params.dir, config.rootpath
    cli_key = config.getoption("mlsupply_attest")
    ini_key = str(config.getini("mlsupply_attest") or "").strip()
    cli_out = config.getoption("mlsupply_attest_output")
    ini_out = str(config.getini("mlsupply_attest_output") or "").strip()
    output = (invocation / cli_out).resolve() if cli_out else None
    if output is None and ini_out:
        output = (root / ini_out).resolve()
    if cli_key:
        return Attest(cli_key, invocation, "--mlsupply-attest", output)
    if ini_key:
        return Attest(ini_key, root, "ini option mlsupply_attest", output)
    if output is not None:
        raise pytest.UsageError(
            "pytest-mlsupply: --mlsupply-attest-output (or ini mlsupply_attest_output) is set "
            "but no attestation key is: add --mlsupply-attest KEY.pem (or sigstore)"
        )
    return None
