"""``@pytest.mark.model_artifact(...)``: its arguments, validated into a :class:`ModelRequest`.

The rule that tells a hub reference from a local directory in the positional form: a string
that starts with ``hf://`` or contains ``@`` is a hub reference (``org/name@<40-hex commit>``);
any other string is a directory, relative to the rootdir. ``path=`` is always a directory.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.plugin.options import MARKER

if TYPE_CHECKING:
    # Imported where a marker is parsed: a session whose marked tests are all skipped or
    # deselected must not pay for the manifest's model.
    from pytest_mlsupply.manifest.model import HubRef, Span

_KWARGS = ("path", "allow_patterns", "checks", "name")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HUB_RE = re.compile(
    r"^(?:hf://)?(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<rev>[^@\s]*))?$"
)
_COMMIT_RE = re.compile(r"^[0-9a-fA-F]{40}$")
_HUB_FORM = "'org/name@<40-hex commit>' (or 'hf://org/name@<40-hex commit>')"


class MarkerUsageError(Exception):
    """A marker whose arguments cannot work; the message says what to write instead."""


@dataclass(frozen=True)
class ModelRequest:
    """One model a test asks for: where it comes from and how it must be verified."""

    source: HubRef | None
    path: Path | None
    """Absolute; exactly one of ``source`` and ``path`` is set."""
    allow_patterns: tuple[str, ...]
    """Globs over the model's relative file paths; empty means every file."""
    checks: tuple[str, ...]
    """Artifact check names, in registry order."""
    name: str
    explicit_name: bool
    where: Span
    """The marked test (file and line), for messages and the BOM."""

    @property
    def source_text(self) -> str:
        if self.source is not None:
            return self.source.uri
        assert self.path is not None
        return str(self.path)

    @property
    def is_pinned(self) -> bool:
        return self.source is None or bool(_COMMIT_RE.match(self.source.revision))

    def selects(self, relpath: str) -> bool:
        """Is this file one the test asked to verify (``allow_patterns``)?"""
        return not self.allow_patterns or any(
            fnmatch.fnmatchcase(relpath, _pattern(p)) for p in self.allow_patterns
        )


def _pattern(pattern: str) -> str:
    # huggingface_hub's rule: "dir/" means everything below dir.
    return pattern + "*" if pattern.endswith("/") else pattern


def artifact_check_names() -> tuple[str, ...]:
    from pytest_mlsupply.checks.registry import ARTIFACT_CHECKS

    return tuple(check.name for check in ARTIFACT_CHECKS)


def parse_marker(mark: pytest.Mark, rootdir: Path, where: Span) -> ModelRequest:
    """Validate one ``model_artifact`` mark; raises :class:`MarkerUsageError`."""
    here = f"@pytest.mark.{MARKER}"
    unknown = sorted(set(mark.kwargs) - set(_KWARGS))
    if unknown:
        raise MarkerUsageError(
            f"{here}: unknown keyword argument(s) {', '.join(unknown)}; "
            f"the marker takes {', '.join(k + '=' for k in _KWARGS)}"
        )
    if len(mark.args) > 1:
        raise MarkerUsageError(
            f"{here} takes one model per marker, got {len(mark.args)} positional arguments; "
            "stack one marker per model"
        )
    ref: Any = mark.args[0] if mark.args else None
    path_arg: Any = mark.kwargs.get("path")
    if (ref is None) == (path_arg is None):
        raise MarkerUsageError(
            f"{here} needs exactly one model: a positional reference {_HUB_FORM} or a "
            "directory, or path='models/name'"
        )
    source: HubRef | None = None
    path: Path | None = None
    if path_arg is not None:
        path = _directory(path_arg, rootdir, f"{here}(path=...)")
    elif not isinstance(ref, str | Path):
        raise MarkerUsageError(
            f"{here}: the model reference must be a string, got {type(ref).__name__}"
        )
    elif isinstance(ref, str) and (ref.startswith(("hf://", "hf-datasets://")) or "@" in ref):
        source = _hub_ref(ref, here)
    else:
        path = _directory(ref, rootdir, here)
        if isinstance(ref, str) and not path.is_dir() and _HUB_RE.match(ref):
            raise MarkerUsageError(
                f"{here}({ref!r}): no directory {path}; for a Hub model pin the commit: "
                f"'{ref}@<40-hex commit>'"
            )
    allow_patterns = _strings(mark.kwargs.get("allow_patterns"), "allow_patterns", here)
    if "allow_patterns" in mark.kwargs and not allow_patterns:
        raise MarkerUsageError(
            f"{here}: allow_patterns=[] selects no file; leave it out to verify every file"
        )
    checks = _checks(mark.kwargs.get("checks"), here, "checks" in mark.kwargs)
    name_arg: Any = mark.kwargs.get("name")
    if name_arg is not None:
        if not isinstance(name_arg, str) or not _NAME_RE.match(name_arg):
            raise MarkerUsageError(
                f"{here}: name={name_arg!r} is not a valid name (it appears in the BOM and "
                "matrix); use letters, digits, '.', '_' and '-' only"
            )
        name = name_arg
    else:
        name = _default_name(source, path)
    return ModelRequest(
        source=source,
        path=path,
        allow_patterns=allow_patterns,
        checks=checks,
        name=name,
        explicit_name=name_arg is not None,
        where=where,
    )


def _hub_ref(text: str, here: str) -> HubRef:
    from pytest_mlsupply.manifest.model import HubRef

    if text.startswith("hf-datasets://"):
        raise MarkerUsageError(
            f"{here}({text!r}): the marker verifies models; datasets are declared in "
            "mlsupply.yaml under `datasets:`"
        )
    match = _HUB_RE.match(text)
    if match is None:
        raise MarkerUsageError(f"{here}({text!r}) is not a Hub reference; write {_HUB_FORM}")
    repo, rev = match["repo"], match["rev"]
    if not rev:
        raise MarkerUsageError(
            f"{here}({text!r}) has no revision; pin the commit: '{repo}@<40-hex commit>'"
        )
    return HubRef(
        repo_type="model",
        repo_id=repo,
        revision=rev.lower() if _COMMIT_RE.match(rev) else rev,
    )


def _directory(value: Any, rootdir: Path, here: str) -> Path:
    if not isinstance(value, str | Path) or not str(value):
        raise MarkerUsageError(f"{here}: the path must be a non-empty string, got {value!r}")
    return (rootdir / value).resolve()


def _strings(value: Any, key: str, here: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable) and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise MarkerUsageError(f"{here}: {key}= must be a string or a list of strings, got {value!r}")


def _checks(value: Any, here: str, given: bool) -> tuple[str, ...]:
    valid = artifact_check_names()
    if not given:
        return valid
    names = _strings(value, "checks", here)
    if not names:
        raise MarkerUsageError(
            f"{here}: checks= names no check, so nothing would be verified; "
            f"choose from {', '.join(valid)} or leave it out to run them all"
        )
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise MarkerUsageError(
            f"{here}: unknown check(s) {', '.join(map(repr, unknown))}; "
            f"the artifact checks are {', '.join(valid)}"
        )
    return tuple(n for n in valid if n in names)  # registry order, duplicates dropped


def _default_name(source: HubRef | None, path: Path | None) -> str:
    raw = source.repo_id.rsplit("/", 1)[-1] if source is not None else (path or Path()).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "-", raw).lstrip("._-")
    return cleaned or "model"


def where_of(item: pytest.Item) -> Span:
    """The test's file and (1-based) line, as a manifest-style span."""
    from pytest_mlsupply.manifest.model import Span

    _, line, _ = item.location
    return Span(file=item.path, line=(line or 0) + 1, column=1)


def requests_for(item: pytest.Item, rootdir: Path) -> list[ModelRequest]:
    """Every ``model_artifact`` mark on the item, closest first, validated."""
    marks = list(item.iter_markers(MARKER))
    if not marks:
        return []  # the common case, asked for every collected test: no span, no import
    where = where_of(item)
    return [parse_marker(mark, rootdir, where) for mark in marks]
