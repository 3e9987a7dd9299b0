"""Read Python dependencies from requirements files, pyproject.toml and the running environment.

Requirements files are parsed with pip-requirements-parser, which reuses pip's own parser, so
options, continuations, ``-r`` includes and ``--hash`` behave exactly as pip reads them.
"""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pytest_mlsupply.sources.inventory import Dependency


class RequirementsError(Exception):
    pass


def _exact_version(req: Requirement) -> str | None:
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


def _dependency(
    req: Requirement, text: str, origin: str, hashes: tuple[str, ...] = ()
) -> Dependency:
    return Dependency(
        name=canonicalize_name(req.name),
        requirement=text.strip(),
        origin=origin,
        version=_exact_version(req),
        hashes=hashes,
    )


def from_requirements_file(path: Path, root: Path) -> list[Dependency]:
    from pip_requirements_parser import RequirementsFile

    try:
        parsed = RequirementsFile.from_file(str(path), include_nested=True)
    except Exception as exc:  # the parser raises pip's internal errors
        raise RequirementsError(f"{path}: cannot be parsed: {exc}") from None
    if parsed.invalid_lines:
        bad = parsed.invalid_lines[0]
        raise RequirementsError(
            f"{bad.filename}:{bad.line_number}: invalid requirement {bad.line!r}: "
            f"{bad.error_message}"
        )
    out = []
    for item in parsed.requirements:
        line = item.requirement_line
        where = Path(line.filename)
        try:
            rel = where.resolve().relative_to(root).as_posix()
        except ValueError:
            rel = str(where)
        origin = f"{rel}:{line.line_number}"
        if item.req is None or item.link is not None:
            # A path or URL requirement: whatever name and version pip guesses from a file
            # name, no package index vouches for them, so it is never an exact pin.
            name = canonicalize_name(item.req.name) if item.req is not None else line.line
            out.append(
                Dependency(
                    name=name,
                    requirement=line.line.strip(),
                    origin=origin,
                    link=str(item.link or line.line),
                )
            )
            continue
        text = str(item.req)
        out.append(_dependency(item.req, text, origin, tuple(item.hash_options)))
    return out


def from_pyproject(path: Path, root: Path) -> list[Dependency]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RequirementsError(f"{path}: cannot be read as TOML: {exc}") from None
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    declared = data.get("project", {}).get("dependencies", [])
    if not isinstance(declared, list):
        raise RequirementsError(f"{path}: [project].dependencies must be a list of strings")
    out = []
    for i, text in enumerate(declared):
        try:
            req = Requirement(str(text))
        except InvalidRequirement as exc:
            raise RequirementsError(
                f"{path}: [project].dependencies[{i}] {text!r} is invalid: {exc}"
            ) from None
        out.append(_dependency(req, str(text), f"{rel}:[project].dependencies[{i}]"))
    return out


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
