"""Read Python dependencies from requirements files, pyproject.toml, pylock.toml and the running
environment.

Requirements files are parsed with pip-requirements-parser, which reuses pip's own parser, so
options, continuations, ``-r`` / ``-c`` includes and ``--hash`` behave exactly as pip reads them.
Lock files are read with ``packaging.pylock`` and dependency groups resolved with
``packaging.dependency_groups``: the PyPA's own readers, not a second interpretation.

Environment markers are evaluated for the running interpreter; a requirement whose marker is
false is kept, marked ``skipped`` with the marker, so it is reported rather than dropped.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import threading
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pytest_mlsupply.redaction import redact_text, redact_url
from pytest_mlsupply.sources.inventory import Dependency

if TYPE_CHECKING:
    from packaging.pylock import Package, Pylock


class RequirementsError(Exception):
    pass


def _exact_version(req: Requirement) -> str | None:
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _interpreter() -> str:
    return f"Python {platform.python_version()} on {sys.platform}"


def skip_reason(
    marker: Marker | None,
    where: str,
    context: Literal["metadata", "lock_file", "requirement"] = "requirement",
) -> str | None:
    """Why a requirement with ``marker`` does not apply here (None: it applies).

    A marker that cannot be evaluated (an undefined name, an incomparable version) is an error:
    guessing either way would drop a dependency or audit one that is not installed.
    """
    if marker is None:
        return None
    try:
        applies = marker.evaluate(context=context)
    except (UndefinedComparison, UndefinedEnvironmentName, InvalidMarker) as exc:
        raise RequirementsError(
            f"{where}: the environment marker `{marker}` cannot be evaluated: {exc}"
        ) from None
    if applies:
        return None
    return f"environment marker `{marker}` is false for this interpreter ({_interpreter()})"


def _dependency(
    req: Requirement,
    origin: str,
    hashes: tuple[str, ...] = (),
    *,
    skipped: str | None = None,
    text: str | None = None,
) -> Dependency:
    # The requirement without its marker (the marker is a field of its own): two lines that
    # differ only by marker name the same distribution.
    bare = Requirement(str(req))
    bare.marker = None
    return Dependency(
        name=canonicalize_name(req.name),
        requirement=(text or str(bare)).strip(),
        origin=origin,
        version=_exact_version(req),
        hashes=hashes,
        marker=str(req.marker) if req.marker is not None else None,
        skipped=skipped,
    )


# -- requirements files ----------------------------------------------------------------------


class _Sources:
    """Where pip looks for the packages of one requirements file (with its includes).

    pip applies a requirements file's ``--index-url`` / ``--extra-index-url`` / ``--find-links``
    / ``--no-index`` lines to the whole install, whichever included file they sit in, and an
    ``--index-url`` replaces every index URL before it (extra ones too); the same rules hold
    here. Options lines come in the order pip reads them, includes in place.
    """

    def __init__(self) -> None:
        self.index: str | None = None
        self.extras: list[str] = []
        self.find_links: list[str] = []
        self.no_index = False

    def read(self, options: Mapping[str, Any]) -> None:
        if options.get("index_url"):
            # pip replaces its whole list of index URLs, extra ones read so far included.
            self.index = redact_url(str(options["index_url"]))
            self.extras = []
        self.extras += [redact_url(str(u)) for u in options.get("extra_index_urls", ())]
        self.find_links += [redact_url(str(u)) for u in options.get("find_links", ())]
        if options.get("no_index"):
            self.no_index = True

    def resolved(self) -> tuple[str | None, tuple[str, ...]]:
        """The index packages come from (None: the default, PyPI) and the other places."""
        if self.no_index:
            # --no-index: pip reads only the find-links locations; the first is the source.
            links = _unique(self.find_links)
            return (links[0] if links else None), tuple(links[1:])
        return self.index, tuple(_unique([*self.extras, *self.find_links]))


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


#: The algorithms pip accepts in ``--hash`` (``hashes.STRONG_HASHES``).
_PIP_HASHES = ("sha256", "sha384", "sha512")


class _Constraint:
    def __init__(self, req: Requirement, origin: str, hashes: tuple[str, ...]) -> None:
        self.req = req
        self.origin = origin
        self.hashes = hashes


#: pip's environment variable references in requirements files (``req_file.ENV_VAR_RE``).
_ENV_VAR = re.compile(r"(?P<var>\$\{(?P<name>[A-Z0-9_]+)\})")
_PARSER_LOCK = threading.Lock()


def expand_env_variables(line: str, environ: Mapping[str, str] | None = None) -> str:
    """``${NAME}`` replaced as pip replaces it: by the variable's value, when it is set and not
    empty (otherwise left as written)."""
    env = os.environ if environ is None else environ
    for var, name in _ENV_VAR.findall(line):
        value = env.get(name)
        if value:
            line = line.replace(var, value)
    return line


class _LinearComments:
    """pip's ``COMMENT_RE`` (``(^|\\s+)(#.*)$``) for pip-requirements-parser, with a ``split``
    in linear time.

    The library splits each line with that pattern, which the regex engine tries from every
    character of a whitespace run and back to its end: a line of 100,000 spaces took over 20 s
    (found by the long fuzz run). ``split`` here finds the same match directly, the first ``#``
    at the line's start or after whitespace, with the whitespace before it, and returns what
    ``re.split`` returns; ``match`` (anchored at the start, so linear) is the pattern's own.
    """

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.match = pattern.match

    def split(self, line: str) -> list[str]:
        at = line.find("#")
        while at > 0 and not line[at - 1].isspace():
            at = line.find("#", at + 1)
        if at < 0:
            return [line]
        start = at
        while start > 0 and line[start - 1].isspace():
            start -= 1
        return [line[:start], line[start:at], line[at:], ""]


def _strip_extras(path: str) -> tuple[str, str | None]:
    """pip's ``_strip_extras`` (``^(.+)(\\[[^\\]]+\\])$``: a path and its ``[extras]``), in linear time.

    The regex engine tries that pattern from every ``[`` of the path to its end: 100,000 of
    them took over 20 s (found by the long fuzz run). The match is found directly: the last
    ``[`` after the path's first character and after any ``]`` but the final one, with a
    character between it and the final ``]``.
    """
    if path.endswith("]") and "\n" not in path:
        after = path.rfind("]", 0, len(path) - 1) + 1
        start = path.rfind("[", max(after, 1), len(path) - 2)
        if start >= 1:
            return path[:start], path[start:]
    return path, None


#: Logical lines (requirements and options, comments and continuations aside) one parse reads,
#: with the files it includes. pip-requirements-parser takes about a millisecond a line (an
#: option parser per line): 100,000 lines took over a minute. A locked environment of a large
#: project has a few thousand.
MAX_LINES = 5000


class _TooManyLines(Exception):
    pass


@contextmanager
def _pip_line_preprocessing() -> Iterator[None]:
    """Give pip-requirements-parser the step of pip's line preprocessing it lacks.

    pip joins continuation lines, drops comments, then substitutes ``${NAME}`` environment
    variables in what is left (``req_file.preprocess``); pip-requirements-parser stops before
    the substitution, so ``python_version < "${PYMAX}"`` read as written is a false marker for
    a line pip installs. Its preprocessing is wrapped, for the duration of one parse, to add it.
    """
    import pip_requirements_parser as parser

    original = parser.preprocess

    lines = 0

    def preprocess(content: str) -> Iterator[Any]:
        nonlocal lines
        for item in original(content):
            if isinstance(item, parser.TextLine):
                lines += 1
                if lines > MAX_LINES:
                    raise _TooManyLines
                item = parser.TextLine(item.line_number, expand_env_variables(item.line))
            yield item

    pattern, strip_extras = parser.COMMENT_RE, parser._strip_extras
    with _PARSER_LOCK:
        parser.preprocess = preprocess
        parser.COMMENT_RE = _LinearComments(pattern)
        parser._strip_extras = _strip_extras
        try:
            yield
        finally:
            parser.preprocess = original
            parser.COMMENT_RE = pattern
            parser._strip_extras = strip_extras


def from_requirements_file(path: Path, root: Path) -> list[Dependency]:
    from pip_requirements_parser import RequirementsFile

    try:
        with _pip_line_preprocessing():
            parsed = RequirementsFile.from_file(str(path), include_nested=True)
    except _TooManyLines:
        raise RequirementsError(
            f"{path}: more than {MAX_LINES} requirement lines (with the files it includes): "
            "no project's requirements are that long, and reading them would take minutes; "
            "list the project's own dependencies, or split the file"
        ) from None
    except Exception as exc:  # the parser raises pip's internal errors
        raise RequirementsError(redact_text(f"{path}: cannot be parsed: {exc}")) from None
    if parsed.invalid_lines:
        bad = parsed.invalid_lines[0]
        raise RequirementsError(
            redact_text(
                f"{bad.filename}:{bad.line_number}: invalid requirement {bad.line!r}: "
                f"{bad.error_message}"
            )
        )
    for item in parsed.requirements:
        weak = [h for h in item.hash_options if h.split(":", 1)[0] not in _PIP_HASHES]
        if weak:
            line = item.requirement_line
            raise RequirementsError(
                f"{line.filename}:{line.line_number}: --hash={weak[0]}: pip allows only "
                f"{', '.join(_PIP_HASHES)} for --hash and refuses the whole file"
            )
    sources = _Sources()
    for option in parsed.options:
        sources.read(option.options)
    index, extra_indexes = sources.resolved()

    # A -c entry is not a dependency: pip uses it only to choose the version of a package
    # something else asks for. All of them are read first (a -c line may come after the
    # requirements it constrains) and applied to the requirements they name.
    constraints: dict[str, list[_Constraint]] = {}
    for item in parsed.requirements:
        if not item.is_constraint:
            continue
        line = item.requirement_line
        origin = f"{_relative(Path(line.filename), root)}:{line.line_number}"
        if item.req is not None and item.link is None and skip_reason(item.marker, origin) is None:
            constraints.setdefault(canonicalize_name(item.req.name), []).append(
                _Constraint(item.req, origin, tuple(item.hash_options))
            )
    out: list[Dependency] = []
    for item in parsed.requirements:
        if item.is_constraint:
            continue
        line = item.requirement_line
        origin = f"{_relative(Path(line.filename), root)}:{line.line_number}"
        skipped = skip_reason(item.marker, origin)
        if item.req is None or item.link is not None:
            # A path or URL requirement: whatever name and version pip guesses from a file
            # name, no package index vouches for them, so it is never an exact pin.
            name = (
                canonicalize_name(item.req.name) if item.req is not None else redact_text(line.line)
            )
            out.append(
                Dependency(
                    name=name,
                    requirement=redact_text(line.line.strip()),
                    origin=origin,
                    link=redact_text(str(item.link or line.line)),
                    marker=str(item.marker) if item.marker is not None else None,
                    skipped=skipped,
                )
            )
            continue
        try:
            req = Requirement(str(item.req))
            req.marker = item.marker
            dep = _dependency(req, origin, tuple(item.hash_options), skipped=skipped)
            dep = replace(dep, index=index, extra_indexes=extra_indexes)
            out.append(_constrained(dep, req, constraints.get(dep.name, ())))
        except ValueError as exc:
            # packaging parses a version of 65,000 digits, then cannot turn it into a number
            # (Python's 4,300-digit limit) when it compares or prints it; pip refuses it too.
            raise RequirementsError(
                redact_text(f"{origin}: invalid requirement {line.line.strip()[:200]!r}: {exc}")
            ) from None
    return out


def _constrained(dep: Dependency, req: Requirement, found: Sequence[_Constraint]) -> Dependency:
    """Apply the constraints that name ``dep`` the way pip's resolver does.

    A constraint that excludes every version the requirement allows makes pip fail, so it is an
    error here too; an exact ``==`` constraint on a range is the version pip installs.
    """
    if dep.skipped is not None or dep.link is not None:
        return dep
    for constraint in found:
        pinned = _exact_version(constraint.req)
        allowed = req.specifier & constraint.req.specifier
        conflict = (
            dep.version is not None
            and not constraint.req.specifier.contains(dep.version, prereleases=True)
        ) or (pinned is not None and not allowed.contains(pinned, prereleases=True))
        if conflict:
            raise RequirementsError(
                f"{dep.origin}: {dep.requirement} conflicts with the constraint "
                f"{constraint.req} at {constraint.origin}; pip cannot install both: change "
                "one of them"
            )
    if dep.version is not None:
        # pip checks a constraint's --hash on the file it installs for a pinned requirement too.
        hashed = [c for c in found if c.hashes]
        if not dep.hashes and hashed:
            return replace(dep, hashes=hashed[0].hashes, constraint=hashed[0].origin)
        return dep
    for constraint in found:
        pinned = _exact_version(constraint.req)
        if pinned is not None:
            return replace(
                dep,
                version=pinned,
                hashes=dep.hashes or constraint.hashes,
                constraint=constraint.origin,
            )
    return dep


# -- pyproject.toml --------------------------------------------------------------------------


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RequirementsError(f"{path}: cannot be read as TOML: {exc}") from None


def _requirement(text: object, path: Path, where: str) -> Requirement:
    try:
        return Requirement(str(text))
    except InvalidRequirement as exc:
        raise RequirementsError(f"{path}: {where} {text!r} is invalid: {exc}") from None


def _string_list(value: object, path: Path, where: str) -> list[object]:
    if not isinstance(value, list):
        raise RequirementsError(f"{path}: {where} must be a list of strings")
    return value


def from_pyproject(path: Path, root: Path) -> list[Dependency]:
    """``[project] dependencies``, every ``[project.optional-dependencies]`` group and every
    PEP 735 ``[dependency-groups]`` group; the origin names the table and the group."""
    data = _toml(path)
    rel = _relative(path, root)
    project = data.get("project", {})
    if not isinstance(project, dict):
        raise RequirementsError(f"{path}: [project] must be a table")
    out: list[Dependency] = []

    def add(texts: list[object], table: str) -> None:
        for i, text in enumerate(texts):
            where = f"{table}[{i}]"
            req = _requirement(text, path, where)
            origin = f"{rel}:{where}"
            out.append(_dependency(req, origin, skipped=skip_reason(req.marker, origin)))

    add(
        _string_list(project.get("dependencies", []), path, "[project].dependencies"),
        "[project].dependencies",
    )
    optional = project.get("optional-dependencies", {})
    if not isinstance(optional, dict):
        raise RequirementsError(
            f"{path}: [project.optional-dependencies] must be a table of lists of strings"
        )
    for group, texts in optional.items():
        table = f"[project.optional-dependencies].{group}"
        add(_string_list(texts, path, table), table)
    out.extend(_dependency_groups(data.get("dependency-groups", {}), path, rel))
    return _with_uv_settings(out, data, path)


# uv installs a pyproject.toml's dependencies (uv sync, uv pip install -r pyproject.toml) with
# the file's own [tool.uv] settings: indexes, and per-package sources that replace the index.
_UV_LINK_KEYS = ("git", "url", "path", "workspace")


def _uv_table(value: object, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequirementsError(f"{path}: {where} must be a table")
    return value


def _with_uv_settings(deps: list[Dependency], data: dict[str, Any], path: Path) -> list[Dependency]:
    """Apply ``[tool.uv]``: ``[[tool.uv.index]]`` (a ``default = true`` one replaces PyPI; the
    others, unless ``explicit``, are searched before it), the older ``index-url`` /
    ``extra-index-url`` / ``find-links`` keys, and ``[tool.uv.sources]``, which binds a package
    to a named index or replaces the index with a git repository, URL or path."""
    tool = data.get("tool", {})
    uv = _uv_table(tool, path, "[tool]").get("uv") if isinstance(tool, dict) else None
    if uv is None:
        return deps
    uv = _uv_table(uv, path, "[tool.uv]")
    named: dict[str, str] = {}
    default: str | None = None
    searched: list[str] = []
    indexes = uv.get("index", [])
    if not isinstance(indexes, list):
        raise RequirementsError(f"{path}: [[tool.uv.index]] must be an array of tables")
    for i, entry in enumerate(indexes):
        entry = _uv_table(entry, path, f"[[tool.uv.index]][{i}]")
        url = entry.get("url")
        if not isinstance(url, str):
            raise RequirementsError(f"{path}: [[tool.uv.index]][{i}] has no url")
        url = redact_url(url)
        if isinstance(entry.get("name"), str):
            named[entry["name"]] = url
        if entry.get("default") is True:
            default = default or url
        elif entry.get("explicit") is not True:
            searched.append(url)
    if isinstance(uv.get("index-url"), str):
        default = default or redact_url(uv["index-url"])
    for key in ("extra-index-url", "find-links"):
        values = uv.get(key, [])
        searched += [redact_url(v) for v in (values if isinstance(values, list) else [values])]
    sources: dict[str, Any] = {
        str(canonicalize_name(name)): spec
        for name, spec in _uv_table(uv.get("sources", {}), path, "[tool.uv.sources]").items()
    }
    out: list[Dependency] = []
    for dep in deps:
        dep = replace(dep, index=default, extra_indexes=tuple(_unique(searched)))
        spec = sources.get(dep.name)
        entries = spec if isinstance(spec, list) else [spec] if spec is not None else []
        links: list[str] = []
        bound: list[str] = []
        for entry in entries:
            entry = _uv_table(entry, path, f"[tool.uv.sources].{dep.name}")
            links += [f"{key} = {entry[key]}" for key in _UV_LINK_KEYS if key in entry]
            if "index" in entry:
                if entry["index"] not in named:
                    raise RequirementsError(
                        f"{path}: [tool.uv.sources].{dep.name} names the index "
                        f"{entry['index']!r}, which no [[tool.uv.index]] declares; uv fails on it"
                    )
                bound.append(named[entry["index"]])
        if links and dep.link is None:
            # uv installs it from there, whatever version [project] pins.
            dep = replace(dep, version=None, link=f"[tool.uv.sources] {'; '.join(links)}")
        elif bound:
            # A package bound to an index is taken from that index only.
            dep = replace(dep, index=bound[0], extra_indexes=tuple(_unique(bound[1:])))
        out.append(dep)
    return out


def _dependency_groups(groups: object, path: Path, rel: str) -> list[Dependency]:
    """PEP 735 groups, each requirement once, under the group that writes it.

    ``{include-group = ...}`` entries are resolved by packaging's resolver only to validate
    them (an unknown or cyclic include is an error); the included requirements are audited
    where they are written, so nothing is counted twice.
    """
    from packaging.dependency_groups import DependencyGroupInclude, DependencyGroupResolver

    if not isinstance(groups, dict):
        raise RequirementsError(f"{path}: [dependency-groups] must be a table of lists")
    try:
        resolver = DependencyGroupResolver(groups)
        for group in groups:
            resolver.resolve(group)
    except (ValueError, TypeError, LookupError, ExceptionGroup) as exc:
        # packaging raises ValueError subclasses (cycles, bad includes, invalid requirements)
        # and LookupError for an include of a group that does not exist, alone or several
        # together in an ExceptionGroup.
        leaves = exc.exceptions if isinstance(exc, ExceptionGroup) else (exc,)
        raise RequirementsError(
            f"{path}: [dependency-groups] is invalid: {'; '.join(map(str, leaves))}; fix the "
            "group or its include-group entries"
        ) from None
    out: list[Dependency] = []
    for group in groups:
        for i, entry in enumerate(resolver.lookup(group)):
            if isinstance(entry, DependencyGroupInclude):
                continue
            origin = f"{rel}:[dependency-groups].{group}[{i}]"
            out.append(_dependency(entry, origin, skipped=skip_reason(entry.marker, origin)))
    return out


# -- pylock.toml (PEP 751) -------------------------------------------------------------------


def from_pylock(path: Path, root: Path) -> list[Dependency]:
    """Every package of a PEP 751 lock file, with its index, hashes and marker."""
    from packaging.pylock import Pylock, PylockValidationError

    data = _toml(path)
    try:
        lock = Pylock.from_dict(data)
    except PylockValidationError as exc:
        raise RequirementsError(
            f"{path}: is not a valid pylock.toml (PEP 751): {exc}; regenerate it with your "
            "locker (pip lock, uv export --format pylock.toml, pdm export)"
        ) from None
    rel = _relative(path, root)
    environment_skip = _lock_environment_skip(lock.environments, rel)
    out: list[Dependency] = []
    for i, package in enumerate(lock.packages):
        origin = f"{rel}:packages[{i}]"
        skipped = environment_skip or _locked_skip(lock, package.marker, origin)
        out.append(_locked(package, origin, skipped))
    return out


def _locked_skip(lock: Pylock, marker: Marker | None, origin: str) -> str | None:
    """Why a locked package is installed by no install of the lock here (None: some install
    takes it).

    A lock's markers may test the ``extras`` and ``dependency_groups`` an install selects
    (``'gpu' in extras``; ``'dev' in dependency_groups``, which the lock's ``default-groups``
    select when the install names none, as ``pip install -r pylock.toml`` does). The package is
    audited when any of these selections takes it: none, the defaults, every extra and group.
    """
    if marker is None:
        return None
    extras = frozenset(canonicalize_name(e) for e in lock.extras or ())
    groups = frozenset(canonicalize_name(g) for g in lock.dependency_groups or ())
    defaults = frozenset(canonicalize_name(g) for g in lock.default_groups or ())
    empty: frozenset[str] = frozenset()
    for selected_extras, selected_groups in ((empty, defaults), (extras, groups), (empty, empty)):
        environment = {"extras": selected_extras, "dependency_groups": selected_groups}
        try:
            applies = marker.evaluate(environment, context="lock_file")
        except (UndefinedComparison, UndefinedEnvironmentName, InvalidMarker) as exc:
            raise RequirementsError(
                f"{origin}: the environment marker `{marker}` cannot be evaluated: {exc}"
            ) from None
        if applies:
            return None
    selections = "no extras or groups, the default groups, or every extra and group"
    return (
        f"environment marker `{marker}` is false for this interpreter ({_interpreter()}) "
        f"with {selections} of the lock"
    )


def _lock_environment_skip(environments: Sequence[Marker] | None, rel: str) -> str | None:
    if not environments:
        return None
    for marker in environments:
        if skip_reason(marker, f"{rel}:environments", "lock_file") is None:
            return None
    listed = "; ".join(f"`{m}`" for m in environments)
    return f"the lock file is for other environments ({listed}), not {_interpreter()}"


def _locked(package: Package, origin: str, skipped: str | None) -> Dependency:
    version = str(package.version) if package.version is not None else None
    hashes: list[str] = []
    digests: list[Mapping[str, str]] = [wheel.hashes for wheel in package.wheels or ()]
    if package.sdist is not None:
        digests.append(package.sdist.hashes)
    if package.archive is not None:
        digests.append(package.archive.hashes)
    for found in digests:
        hashes += [f"{alg}:{digest}" for alg, digest in sorted(found.items())]
    files = [
        str(f.url or f.path)
        for f in [*(package.wheels or ()), package.sdist]
        if f is not None and (f.url or f.path)
    ]
    link: str | None = None
    if package.vcs is not None:
        link = package.vcs.url or package.vcs.path or "vcs"
    elif package.directory is not None:
        link = package.directory.path
    elif package.archive is not None:
        link = package.archive.url or package.archive.path or "archive"
    return Dependency(
        name=canonicalize_name(package.name),
        requirement=f"{package.name}=={version}" if version and link is None else package.name,
        origin=origin,
        version=version if link is None else None,
        hashes=tuple(_unique(hashes)),
        link=link,
        index=package.index,
        marker=str(package.marker) if package.marker is not None else None,
        skipped=skipped,
        files=tuple(redact_url(f) for f in files),
    )


# -- the running environment -----------------------------------------------------------------


def from_environment() -> list[Dependency]:
    seen: dict[str, Dependency] = {}
    for dist in metadata.distributions():
        name = dist.name
        if not name:
            continue  # a broken install with no metadata; nothing to identify it by
        canonical = canonicalize_name(name)
        seen.setdefault(
            canonical,
            Dependency(
                name=canonical,
                requirement=f"{canonical}=={dist.version}",
                origin="environment",
                version=dist.version,
            ),
        )
    return [seen[k] for k in sorted(seen)]
