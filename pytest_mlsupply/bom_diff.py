"""``mlsupply bom diff OLD NEW``: what changed between two releases' ML-BOMs.

``mlsupply bom diff OLD NEW [--format text|markdown|json] [--fail-on KIND,...]``

Both files are CycloneDX 1.6 JSON BOMs, as ``pytest --mlsupply`` writes them (the XML form is
not read: the JSON form is the one every gate writes). Each is validated against the 1.6 schema
(:mod:`pytest_mlsupply.reports.bom_schema`) before anything in it is compared. What is compared
(each change has one kind of :data:`KINDS`):

- models and datasets added or removed; their digests (a model's aggregate
  :func:`~pytest_mlsupply.reports.bom_release.model_digest`, recomputed from its files for a
  BOM that has none; each file's; files added or removed) and a Hub model's revision;
- each model's lineage (the ``pedigree`` chain, base model deepest);
- dependencies added or removed, and version changes, by distribution name;
- licences of models, datasets and dependencies;
- vulnerabilities: an advisory affecting a dependency in NEW and not in OLD is new, one in OLD
  and not in NEW is fixed;
- verdicts: every ``mlsupply:check:*`` and ``mlsupply:provenance:*`` property of a component
  that is in both BOMs (the project's code files included), when its value changed.

Exit status: 0 when no change of a kind given to ``--fail-on`` happened (without ``--fail-on``,
whatever changed); 1 when one did; 2 when a BOM cannot be read or is not a CycloneDX 1.6 JSON
BOM, and for an unknown ``--fail-on`` kind (a usage error listing the valid ones).

Names, versions and texts in a BOM come from untrusted files: the text form shows them as
:func:`pytest_mlsupply.results.shown` does (quoted, control characters escaped), the Markdown form
in code spans with control characters escaped, the JSON form as JSON strings.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_mlsupply.results import shown

EXIT_OK, EXIT_BLOCKED, EXIT_UNREADABLE = 0, 1, 2

#: Every kind of change, with what it means (``--help`` and docs/bom.md list them).
KINDS: dict[str, str] = {
    "model-added": "a model is in NEW and not in OLD",
    "model-removed": "a model is in OLD and not in NEW",
    "dataset-added": "a dataset is in NEW and not in OLD",
    "dataset-removed": "a dataset is in OLD and not in NEW",
    "code-added": "a file of the project's code (code:) is in NEW and not in OLD",
    "code-removed": "a file of the project's code is in OLD and not in NEW (no longer checked)",
    "digest-change": "a model's aggregate sha256, a model, dataset or code file's sha256, or a "
    "Hub model's revision changed, or a file was added to or removed from a model or dataset",
    "lineage-change": "a model's ancestry (base model, fine-tune, adapter) changed",
    "dependency-added": "a dependency is in NEW and not in OLD",
    "dependency-removed": "a dependency is in OLD and not in NEW",
    "version-change": "a dependency's version changed",
    "license-change": "a model's, dataset's or dependency's licence changed",
    "new-vulnerability": "an advisory affects a dependency in NEW and did not in OLD",
    "fixed-vulnerability": "an advisory affected a dependency in OLD and does not in NEW",
    "verdict-flip": "a check's or provenance claim's verdict changed either way, a component "
    "new in NEW fails or errors, or a verdict is gone from a component still in NEW",
}
#: ``--fail-on`` selectors beyond the kinds themselves.
SELECTORS: dict[str, str] = {
    "new-failure": "a verdict-flip to fail or error",
    "any": "every kind of change",
}
_FAILING = frozenset({"fail", "error"})
_PREFIX = "mlsupply:"
_VERDICT_PREFIXES = ("mlsupply:check:", "mlsupply:provenance:")


class BomInputError(Exception):
    """A BOM that cannot be compared: unreadable, not JSON, not CycloneDX 1.6."""


@dataclass(frozen=True)
class Change:
    """One difference. ``what`` is ours (``model``, ``file``, ``dependency``, ...); ``name``,
    ``old`` and ``new`` come from the BOMs (untrusted text); ``field`` names what changed."""

    kind: str
    what: str
    name: str
    field: str | None = None
    old: str | None = None
    new: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "what": self.what,
            "name": self.name,
            "field": self.field,
            "old": self.old,
            "new": self.new,
        }

    def blocks(self, selectors: frozenset[str]) -> bool:
        if "any" in selectors or self.kind in selectors:
            return True
        return "new-failure" in selectors and self.kind == "verdict-flip" and self.new in _FAILING


@dataclass
class _Part:
    """A model or dataset as the diff sees it."""

    version: str | None = None
    digest: str | None = None
    files: dict[str, str | None] = field(default_factory=dict)
    lineage: tuple[str, ...] = ()
    licence: str | None = None


@dataclass
class Snapshot:
    """What one BOM says, keyed for comparison."""

    path: Path
    project: str | None
    version: str | None
    serial: str | None
    timestamp: str | None
    models: dict[str, _Part] = field(default_factory=dict)
    datasets: dict[str, _Part] = field(default_factory=dict)
    code: dict[str, str | None] = field(default_factory=dict)
    """A file of the project's code (its path) → its sha256 (None: not read)."""
    libraries: dict[str, set[str]] = field(default_factory=dict)
    """Distribution name → its versions (``unpinned`` for a component without one)."""
    library_licences: dict[str, str] = field(default_factory=dict)
    vulnerabilities: dict[tuple[str, str], str] = field(default_factory=dict)
    """(advisory id, distribution name) → the affected versions."""
    verdicts: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """(what, name, check) → verdict."""
    subjects: set[tuple[str, str]] = field(default_factory=set)
    """(what, name) of every component read for verdicts, with or without one."""

    def describe(self) -> dict[str, str | None]:
        return {
            "path": str(self.path),
            "project": self.project,
            "version": self.version,
            "serialNumber": self.serial,
            "timestamp": self.timestamp,
        }


# --- reading -------------------------------------------------------------------------------------


def read_bom(path: Path) -> dict[str, Any]:
    """The BOM at ``path``, validated as CycloneDX 1.6 JSON; :class:`BomInputError` naming the
    file and the fix otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise BomInputError(f"cannot read {path}: {reason}") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BomInputError(
            f"{path} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); give the "
            "JSON ML-BOM (build/ml-bom.cdx.json by default): the XML form is not read"
        ) from exc
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise BomInputError(
            f'{path} is not a CycloneDX BOM (no "bomFormat": "CycloneDX"); give the ML-BOM '
            "pytest --mlsupply wrote (build/ml-bom.cdx.json by default)"
        )
    spec = document.get("specVersion")
    if spec != "1.6":
        raise BomInputError(
            f"{path} is a CycloneDX {shown(str(spec))} BOM; bom diff compares CycloneDX 1.6 BOMs, "
            "as pytest-mlsupply writes them: regenerate it with the gate, or convert it to 1.6"
        )
    from pytest_mlsupply.reports.bom import BomError, validate_bom_json

    try:
        validate_bom_json(document)
    except BomError as exc:
        raise BomInputError(f"{path}: {exc}") from exc
    return document


def snapshot(path: Path, document: dict[str, Any]) -> Snapshot:
    """The comparable facts of a validated BOM document."""
    metadata = document.get("metadata", {})
    project = metadata.get("component", {})
    out = Snapshot(
        path=path,
        project=project.get("name"),
        version=project.get("version"),
        serial=document.get("serialNumber"),
        timestamp=metadata.get("timestamp"),
    )
    _verdicts(out, "project", project.get("name", ""), project)
    refs: dict[str, str] = {}
    for component in document.get("components", []):
        kind, name = component.get("type"), component.get("name", "")
        if kind == "machine-learning-model":
            _only_once(path, "model", name, out.models)
            out.models[name] = _part(component, aggregate=True)
            _verdicts(out, "model", name, component)
            for child in component.get("components", []):
                _verdicts(out, "file", f"{name}/{child.get('name', '')}", child)
        elif kind == "data":
            _only_once(path, "dataset", name, out.datasets)
            out.datasets[name] = _part(component, aggregate=False)
            _verdicts(out, "dataset", name, component)
        elif kind == "file" and str(component.get("bom-ref", "")).startswith("code:"):
            # A file of the project's code (``code:``): its digest and its check's verdict, by
            # path.
            _only_once(path, "code", name, out.code)
            out.code[name] = _sha256(component)
            _verdicts(out, "code", name, component)
        elif kind == "library":
            version = component.get("version")
            out.libraries.setdefault(name, set()).add(version or "unpinned")
            licence = _licence(component)
            if licence is not None:
                out.library_licences[name] = licence
            # A pinned dependency is known by its name (its version may change); an unpinned
            # requirement by what it says.
            key = name if version else component.get("bom-ref", name).removeprefix("library:")
            _verdicts(out, "dependency", key, component)
            if "bom-ref" in component:
                refs[component["bom-ref"]] = name
    for vulnerability in document.get("vulnerabilities", []):
        vid = vulnerability.get("id", "")
        for target in vulnerability.get("affects", []):
            name = refs.get(target.get("ref", ""))
            if name is None:
                continue
            versions = [v.get("version", "") for v in target.get("versions", []) if "version" in v]
            key = (vid, name)
            known = out.vulnerabilities.get(key)
            joined = ", ".join(sorted({*versions, *(known.split(", ") if known else [])}))
            out.vulnerabilities[key] = joined
    return out


def _only_once(path: Path, what: str, name: str, seen: Mapping[str, object]) -> None:
    """Refuse a second component of one name: the last would silently stand for both, so a
    changed (or failing) copy beside an unchanged one would not show."""
    if name in seen:
        raise BomInputError(
            f"{path}: two {what} components are named {shown(name)}; a BOM the gate writes has "
            "one per name: regenerate it with the gate"
        )


def _part(component: dict[str, Any], *, aggregate: bool) -> _Part:
    files = {
        child.get("name", ""): _sha256(child)
        for child in component.get("components", [])
        if child.get("type") == "file"
    }
    digest = _sha256(component)
    if digest is None and aggregate and files and all(files.values()):
        # A BOM written before models carried their aggregate: the same recipe, recomputed.
        from pytest_mlsupply.reports.bom_release import model_digest

        digest = model_digest({rel: sha for rel, sha in files.items() if sha})
    return _Part(
        version=component.get("version"),
        digest=digest,
        files=files,
        lineage=_lineage(component),
        licence=_licence(component),
    )


def _sha256(component: dict[str, Any]) -> str | None:
    for entry in component.get("hashes", []):
        if entry.get("alg") == "SHA-256":
            return str(entry.get("content", "")).lower()
    return None


def _lineage(component: dict[str, Any]) -> tuple[str, ...]:
    """The pedigree chain, nearest ancestor first: ``name@version`` (and its sha256)."""
    chain: list[str] = []
    node = component
    while True:
        ancestors = node.get("pedigree", {}).get("ancestors", [])
        if not ancestors:
            return tuple(chain)
        node = ancestors[0]
        label = str(node.get("name", ""))
        if node.get("version"):
            label += f"@{node['version']}"
        digest = _sha256(node)
        if digest:
            label += f" (sha256 {digest})"
        chain.append(label)


def _licence(component: dict[str, Any]) -> str | None:
    names = []
    for entry in component.get("licenses", []):
        if "expression" in entry:
            names.append(str(entry["expression"]))
        elif "license" in entry:
            licence = entry["license"]
            names.append(str(licence.get("id") or licence.get("name") or ""))
    return " AND ".join(sorted(names)) if names else None


def _verdicts(out: Snapshot, what: str, name: str, component: dict[str, Any]) -> None:
    out.subjects.add((what, name))
    for prop in component.get("properties", []):
        key = prop.get("name", "")
        if key.startswith(_VERDICT_PREFIXES):
            out.verdicts[(what, name, key.removeprefix(_PREFIX))] = prop.get("value", "")


# --- comparing -----------------------------------------------------------------------------------


def compare(old: Snapshot, new: Snapshot) -> list[Change]:
    """Every change from ``old`` to ``new``, in a stable order (kind by kind, then by name)."""
    changes: list[Change] = []
    for what, before, after in (
        ("model", old.models, new.models),
        ("dataset", old.datasets, new.datasets),
    ):
        for name in sorted(after.keys() - before.keys()):
            changes.append(Change(f"{what}-added", what, name, new=after[name].digest))
        for name in sorted(before.keys() - after.keys()):
            changes.append(Change(f"{what}-removed", what, name, old=before[name].digest))
        for name in sorted(before.keys() & after.keys()):
            changes += _part_changes(what, name, before[name], after[name])
    # A code file gone from NEW is no longer checked: a failing file dropped from code.paths
    # must show, not vanish with its verdict.
    for name in sorted(new.code.keys() - old.code.keys()):
        changes.append(Change("code-added", "code", name, new=new.code[name]))
    for name in sorted(old.code.keys() - new.code.keys()):
        changes.append(Change("code-removed", "code", name, old=old.code[name]))
    for name in sorted(old.code.keys() & new.code.keys()):
        if old.code[name] != new.code[name]:
            changes.append(
                Change("digest-change", "code", name, "sha256", old.code[name], new.code[name])
            )
    for name in sorted(new.libraries.keys() - old.libraries.keys()):
        changes.append(Change("dependency-added", "dependency", name, new=_versions(new, name)))
    for name in sorted(old.libraries.keys() - new.libraries.keys()):
        changes.append(Change("dependency-removed", "dependency", name, old=_versions(old, name)))
    for name in sorted(old.libraries.keys() & new.libraries.keys()):
        if old.libraries[name] != new.libraries[name]:
            changes.append(
                Change(
                    "version-change",
                    "dependency",
                    name,
                    "version",
                    _versions(old, name),
                    _versions(new, name),
                )
            )
        old_licence, new_licence = old.library_licences.get(name), new.library_licences.get(name)
        if old_licence != new_licence:
            changes.append(
                Change("license-change", "dependency", name, "license", old_licence, new_licence)
            )
    for vid, name in sorted(new.vulnerabilities.keys() - old.vulnerabilities.keys()):
        versions = new.vulnerabilities[(vid, name)]
        changes.append(Change("new-vulnerability", "vulnerability", vid, name, new=versions))
    for vid, name in sorted(old.vulnerabilities.keys() - new.vulnerabilities.keys()):
        versions = old.vulnerabilities[(vid, name)]
        changes.append(Change("fixed-vulnerability", "vulnerability", vid, name, old=versions))
    for key in sorted(old.verdicts.keys() & new.verdicts.keys()):
        if old.verdicts[key] != new.verdicts[key]:
            what, name, check = key
            changes.append(
                Change("verdict-flip", what, name, check, old.verdicts[key], new.verdicts[key])
            )
    for key in sorted(new.verdicts.keys() - old.verdicts.keys()):
        # A file, model or dependency new in NEW that fails (or errors) is a new failure as
        # much as a flip is: without this, --fail-on new-failure let a failing addition through.
        if new.verdicts[key] in _FAILING:
            what, name, check = key
            changes.append(Change("verdict-flip", what, name, check, None, new.verdicts[key]))
    for key in sorted(old.verdicts.keys() - new.verdicts.keys()):
        # A check whose verdict is gone from a component still in NEW did not run there: a
        # scan dropped from the release is a change, never silence. (A component gone from
        # NEW is reported as removed, not once per check.)
        what, name, check = key
        if (what, name) in new.subjects:
            changes.append(Change("verdict-flip", what, name, check, old.verdicts[key], None))
    order = {kind: position for position, kind in enumerate(KINDS)}
    return sorted(changes, key=lambda change: order[change.kind])


def _versions(snapshot: Snapshot, name: str) -> str:
    return ", ".join(sorted(snapshot.libraries[name]))


def _part_changes(what: str, name: str, before: _Part, after: _Part) -> list[Change]:
    out = []
    if before.version != after.version:
        out.append(Change("digest-change", what, name, "revision", before.version, after.version))
    if before.digest != after.digest and (before.digest or after.digest):
        out.append(Change("digest-change", what, name, "sha256", before.digest, after.digest))
    for rel in sorted(before.files.keys() | after.files.keys()):
        old_sha, new_sha = before.files.get(rel), after.files.get(rel)
        if rel not in before.files or rel not in after.files or old_sha != new_sha:
            out.append(Change("digest-change", "file", f"{name}/{rel}", "sha256", old_sha, new_sha))
    if before.lineage != after.lineage:
        out.append(
            Change(
                "lineage-change",
                what,
                name,
                "lineage",
                " <- ".join(before.lineage) or None,
                " <- ".join(after.lineage) or None,
            )
        )
    if before.licence != after.licence:
        out.append(Change("license-change", what, name, "license", before.licence, after.licence))
    return out


# --- rendering -----------------------------------------------------------------------------------


def _head(old: Snapshot, new: Snapshot) -> tuple[str, str]:
    def side(snap: Snapshot) -> str:
        label = shown(snap.project or "(unnamed)")
        if snap.version:
            label += f" {shown(snap.version)}"
        return label

    return side(old), side(new)


def _counts(changes: list[Change]) -> str:
    if not changes:
        return "no changes"
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.kind] = counts.get(change.kind, 0) + 1
    total = f"{len(changes)} change{'s' if len(changes) != 1 else ''}"
    return total + ": " + ", ".join(f"{n} {kind}" for kind, n in counts.items())


def _blocking_line(blocking: list[Change], selectors: frozenset[str]) -> str | None:
    if not selectors:
        return None
    listed = ",".join(sorted(selectors))
    if not blocking:
        return f"nothing blocking (--fail-on {listed})"
    return f"BLOCKED: {len(blocking)} change{'s' if len(blocking) != 1 else ''} of a kind --fail-on {listed} blocks"


#: The ``field`` values :func:`compare` writes itself (every other field comes from a BOM).
_OWN_FIELDS = frozenset({"revision", "sha256", "lineage", "license", "version"})
#: A check's property name printed bare (``check:scan``); anything else is quoted and escaped.
_PLAIN_FIELD = re.compile(r"[A-Za-z0-9:._-]+")


def _value(text: str | None) -> str:
    return "(none)" if text is None else shown(text)


def render_text(
    old: Snapshot, new: Snapshot, changes: list[Change], selectors: frozenset[str]
) -> str:
    before, after = _head(old, new)
    lines = [f"ML-BOM diff: {before} -> {after}: {_counts(changes)}"]
    blocking = [c for c in changes if c.blocks(selectors)]
    for change in changes:
        mark = "!" if change in blocking else " "
        subject = f"{change.what} {shown(change.name)}"
        if change.field:
            # A verdict-flip's field is the BOM's property name (untrusted, like the names):
            # only the fields this module writes itself are printed as they are.
            plain = change.field in _OWN_FIELDS or (
                change.what != "vulnerability" and _PLAIN_FIELD.fullmatch(change.field)
            )
            subject += f" {change.field if plain else shown(change.field)}"
        lines.append(
            f"{mark} {change.kind:<19} {subject}: {_value(change.old)} -> {_value(change.new)}"
        )
    line = _blocking_line(blocking, selectors)
    if line:
        lines.append(line)
    return "\n".join(lines) + "\n"


def _md(text: str | None) -> str:
    from pytest_mlsupply.reports.matrix import _code

    if text is None:
        return "—"
    escaped = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return _code(escaped)


def render_markdown(
    old: Snapshot, new: Snapshot, changes: list[Change], selectors: frozenset[str]
) -> str:
    blocking = [c for c in changes if c.blocks(selectors)]
    lines = [
        "## ML-BOM diff",
        "",
        f"{_md(old.project)} {_md(old.version)} → {_md(new.project)} {_md(new.version)}: "
        f"**{_counts(changes)}**",
    ]
    line = _blocking_line(blocking, selectors)
    if line:
        lines += ["", f"**{line}**" if blocking else line]
    if changes:
        lines += ["", "| change | subject | what | old | new |", "|---|---|---|---|---|"]
        for change in changes:
            kind = f"**{change.kind}** ⛔" if change in blocking else change.kind
            lines.append(
                f"| {kind} | {change.what} {_md(change.name)} | {_md(change.field)} "
                f"| {_md(change.old)} | {_md(change.new)} |"
            )
    lines += [
        "",
        f"OLD: {_md(str(old.path))}, serial {_md(old.serial)}, {_md(old.timestamp)}  ",
        f"NEW: {_md(str(new.path))}, serial {_md(new.serial)}, {_md(new.timestamp)}",
    ]
    return "\n".join(lines) + "\n"


def render_json(
    old: Snapshot, new: Snapshot, changes: list[Change], selectors: frozenset[str]
) -> str:
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.kind] = counts.get(change.kind, 0) + 1
    document = {
        "old": old.describe(),
        "new": new.describe(),
        "fail_on": sorted(selectors),
        "blocked": any(c.blocks(selectors) for c in changes),
        "counts": counts,
        "changes": [{**c.to_dict(), "blocking": c.blocks(selectors)} for c in changes],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


_RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


# --- the command ---------------------------------------------------------------------------------


def parse_fail_on(text: str) -> frozenset[str]:
    """``new-vulnerability,digest-change`` → the selectors; ``ArgumentTypeError`` (argparse's
    usage error, exit status 2) naming an unknown kind and listing the valid ones."""
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    valid = [*KINDS, *SELECTORS]
    unknown = [part for part in chosen if part not in valid]
    if unknown or not chosen:
        named = ", ".join(shown(part) for part in unknown) or "nothing"
        raise argparse.ArgumentTypeError(
            f"unknown change kind {named}; choose from: {', '.join(valid)}"
        )
    return frozenset(chosen)


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``bom`` (and its ``diff``) on ``mlsupply``'s subparsers."""
    bom: argparse.ArgumentParser = commands.add_parser(
        "bom",
        help="work with ML-BOMs the gate wrote (bom diff OLD NEW)",
        description="Work with the CycloneDX ML-BOMs that pytest --mlsupply writes.",
    )
    actions = bom.add_subparsers(dest="bom_command", metavar="ACTION", required=True)
    kinds = "\n".join(
        textwrap.fill(f"{kind}: {meaning}", 78, initial_indent="  ", subsequent_indent="    ")
        for kind, meaning in {**KINDS, **SELECTORS}.items()
    )
    diff = actions.add_parser(
        "diff",
        help="what changed between two releases' ML-BOMs",
        description="Compare two CycloneDX 1.6 JSON ML-BOMs: models and their digests, lineage, "
        "dependencies and their versions and licences, vulnerabilities, verdicts. Exit status: "
        "0 nothing blocking, 1 a change of a --fail-on kind, 2 a BOM cannot be read.",
        epilog="change kinds (for --fail-on):\n" + kinds,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    diff.add_argument("old", type=Path, metavar="OLD", help="the earlier release's BOM")
    diff.add_argument("new", type=Path, metavar="NEW", help="the later release's BOM")
    diff.add_argument(
        "--format",
        choices=sorted(_RENDERERS),
        default="text",
        help="text (default), markdown (a PR comment, a CI summary) or json",
    )
    diff.add_argument(
        "--fail-on",
        type=parse_fail_on,
        default=frozenset(),
        metavar="KIND[,KIND...]",
        help="exit 1 when a change of one of these kinds happened (listed below); "
        "default: exit 0 whatever changed",
    )
    return bom


def run_bom(args: argparse.Namespace) -> int:
    """``mlsupply bom ACTION``: the only action is ``diff``."""
    return run_diff(args.old, args.new, args.format, args.fail_on)


def run_diff(old_path: Path, new_path: Path, output: str, selectors: frozenset[str]) -> int:
    try:
        old = snapshot(old_path, read_bom(old_path))
        new = snapshot(new_path, read_bom(new_path))
    except BomInputError as exc:
        print(f"mlsupply bom diff: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    changes = compare(old, new)
    try:
        sys.stdout.write(_RENDERERS[output](old, new, changes, selectors))
        sys.stdout.flush()
    except BrokenPipeError:  # `mlsupply bom diff ... | head`: the reader left
        sys.stderr.close()
    return EXIT_BLOCKED if any(c.blocks(selectors) for c in changes) else EXIT_OK
