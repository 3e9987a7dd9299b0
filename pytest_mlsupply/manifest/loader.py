"""Parse and validate ``mlsupply.yaml`` into a typed :class:`Manifest`.

The YAML is composed into nodes (not plain data) so that every problem can name its line and
column. All problems are collected and reported together, before any item runs: a user fixes a
manifest in one pass rather than one error per run.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from pytest_mlsupply.engines.budget import ScanLimits
from pytest_mlsupply.manifest.errors import ManifestError, Problem
from pytest_mlsupply.manifest.model import (
    DEFAULT_BOM_PATH,
    DEFAULT_MATRIX_PATH,
    GOVERNANCE_ROLES,
    PII_LEVELS,
    SCHEMA_VERSION,
    AttestationDecl,
    AttestationPolicy,
    CardDecl,
    CodeDecl,
    DatasetDecl,
    HubRef,
    InternalDecl,
    LicensePolicy,
    LineageDecl,
    LineageHop,
    Manifest,
    ModelDecl,
    OutputDecl,
    Policy,
    PromotionDecl,
    RequirementDecl,
    RevisionPointer,
    SignatureDecl,
    Span,
    Threshold,
    TyposquatPolicy,
)
from pytest_mlsupply.redaction import register_credentials_in
from pytest_mlsupply.results import THRESHOLD_CHOICES, Severity

T = TypeVar("T")

#: The YAML composer: libyaml's C parser when PyYAML was built with it (a 10 MB manifest
#: composes in seconds instead of about a minute), else the pure-Python one. Both keep every
#: node's start mark (line and column), and both resolve tags with the same safe resolver.
#: A module attribute so that the tests can force the pure-Python path.
COMPOSER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = (
    yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
)


def card_fields() -> tuple[str, ...]:
    """Card fields a manifest may require; the model-card engine knows how to find each one."""
    # Imported when a manifest requires card fields, not at import: the engine is large, and
    # a manifest without `card.require` (a gate over local weights) never needs it.
    from pytest_mlsupply.engines.model_card import FIELD_FINDERS

    return tuple(FIELD_FINDERS)


_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HUB_RE = re.compile(
    r"^(?P<scheme>hf|hf-datasets)://(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)"
    r"(?:@(?P<rev>[^@\s]+))?$"
)
# PEP 508's project name, as pip accepts it.
_PROJECT_NAME_RE = re.compile(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$")
_COMMIT_RE = re.compile(r"^[0-9a-fA-F]{40}$")
_THRESHOLD_RE = re.compile(
    r"^\s*(?P<op>>=|<=|==|>|<)?\s*(?P<value>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)
_SHA256_RE = re.compile(r"^sha256:[0-9a-fA-F]{64}$")
#: A project name (PEP 508) in which shell-style wildcards may stand for characters.
_PACKAGE_GLOB_RE = re.compile(r"^[A-Za-z0-9*?\[\]]([A-Za-z0-9._*?\[\]-]*[A-Za-z0-9*?\]])?$")

_TOP_KEYS = (
    "version",
    "project",
    "policy",
    "models",
    "datasets",
    "requirements",
    "internal",
    "vulnerabilities",
    "code",
    "monitor",
    "output",
)


#: ``(repo_type, repo_id, revision) -> pointer or None``: what a mutable hub revision points to,
#: on the Hub today or in the local cache (``pytest_mlsupply.sources.hub.revision_pointer``), used
#: only to improve the message that rejects it. A plain commit string means "on the Hub today"
#: (``pytest_mlsupply.sources.hub.current_commit``). The loader itself never touches the network.
RevisionResolver = Callable[[str, str, str], RevisionPointer | str | None]


def split_hub_uri(text: str) -> tuple[Literal["model", "dataset"], str, str | None] | None:
    """``hf://org/name@rev`` (a model) or ``hf-datasets://org/name@rev`` (a dataset) as its repo
    type, repo id and revision (None when it names none); None when ``text`` is not one.

    The manifest's own grammar for a hub reference, for callers that take one elsewhere (the
    command line); whether a revision is required or must be a commit is theirs to decide.
    """
    match = _HUB_RE.match(text)
    if match is None:
        return None
    repo_type: Literal["model", "dataset"] = "model" if match["scheme"] == "hf" else "dataset"
    return repo_type, match["repo"], match["rev"]


def load_manifest(path: Path, *, resolve_revision: RevisionResolver | None = None) -> Manifest:
    """Read, parse and validate the manifest at ``path`` or raise :class:`ManifestError`.

    ``resolve_revision``, when given, names the commit a rejected mutable revision points to
    (on the Hub today, or in the local cache), so the message can say exactly what to pin.
    """
    path = path.resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(
            [Problem(path, 1, 1, "", f"cannot read the manifest: {exc.strerror or exc}")]
        ) from None
    except UnicodeDecodeError as exc:
        raise ManifestError(
            [
                Problem(
                    path,
                    1,
                    1,
                    "",
                    f"the manifest is not UTF-8 text ({exc.reason})",
                    "save the file as UTF-8",
                )
            ]
        ) from None
    # A service URL may carry credentials (https://user:token@osv.internal): known from here on,
    # so every output replaces them wherever an error quotes them.
    register_credentials_in(text)
    return parse_manifest(text, path, resolve_revision=resolve_revision)


def compose_yaml(text: str, path: Path) -> yaml.Node | None:
    """``text`` composed into nodes (line and column kept), or :class:`ManifestError` naming
    ``path``, the line, the column and the fix: the manifest's and the baseline file's reader."""
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=COMPOSER)
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" in str(exc.problem):
            # libyaml's own limit (1,000 levels), where the pure-Python composer recurses.
            raise ManifestError([_too_deep(path)]) from None
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ManifestError(
            [
                Problem(
                    path,
                    line,
                    column,
                    "",
                    f"YAML syntax error: {exc.problem or exc}",
                    "fix the YAML syntax at this position",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        raise ManifestError([Problem(path, 1, 1, "", f"YAML error: {exc}")]) from None
    except RecursionError:
        raise ManifestError([_too_deep(path)]) from None
    return node


def parse_manifest(
    text: str, path: Path, *, resolve_revision: RevisionResolver | None = None
) -> Manifest:
    """Validate manifest ``text`` that lives at ``path`` (relative paths resolve against it)."""
    node = compose_yaml(text, path)
    reader = _Reader(path, resolve_revision)
    try:
        manifest = reader.manifest(node)
    except RecursionError:
        raise ManifestError([_too_deep(path)]) from None
    if reader.problems or manifest is None:
        raise ManifestError(sorted(reader.problems, key=lambda p: (p.line, p.column)))
    return manifest


def _too_deep(path: Path) -> Problem:
    return Problem(
        path,
        1,
        1,
        "",
        "the YAML is nested too deeply to read",
        "a manifest needs a few levels of nesting; remove the deeply nested lists or mappings",
    )


#: The keys of ``policy.limits``: :class:`ScanLimits`' fields, under the same names.
_LIMIT_KEYS = tuple(f.name for f in dataclasses.fields(ScanLimits))
#: The limits that may be fractional; the others count bytes, members or levels.
_FRACTIONAL_LIMITS = frozenset({"scan_seconds", "max_ratio"})
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class _Reader:
    """Walks composed YAML nodes, converting them and recording every problem found."""

    def __init__(self, path: Path, resolve_revision: RevisionResolver | None = None) -> None:
        self.path = path
        self.root = path.parent
        self.problems: list[Problem] = []
        self.resolve_revision = resolve_revision

    # -- primitives -------------------------------------------------------------------------

    def problem(self, node: yaml.Node | None, key_path: str, message: str, fix: str = "") -> None:
        line, column = (1, 1)
        if node is not None:
            line, column = node.start_mark.line + 1, node.start_mark.column + 1
        self.problems.append(Problem(self.path, line, column, key_path, message, fix))

    def span(self, node: yaml.Node) -> Span:
        return Span(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def mapping(
        self, node: yaml.Node, key_path: str, allowed: tuple[str, ...], example: str
    ) -> dict[str, yaml.Node] | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.problem(
                node,
                key_path,
                f"expected a mapping, got {_describe(node)}",
                f"write it as {example}",
            )
            return None
        result: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problem(key_node, key_path, "keys must be plain strings")
                continue
            key = str(key_node.value)
            sub = f"{key_path}.{key}" if key_path else key
            if key in result:
                self.problem(
                    key_node, sub, f"duplicate key {key!r}", "remove one of the two entries"
                )
                continue
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else ("allowed keys here: " + ", ".join(allowed))
                )
                self.problem(key_node, sub, f"unknown key {key!r}", hint)
                continue
            result[key] = value_node
        return result

    def sequence(self, node: yaml.Node, key_path: str, example: str) -> list[yaml.Node] | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.problem(
                node,
                key_path,
                f"expected a list, got {_describe(node)}",
                f"write it as a list, e.g. {example}",
            )
            return None
        return list(node.value)

    def string(self, node: yaml.Node, key_path: str, example: str = "") -> str | None:
        if not isinstance(node, yaml.ScalarNode) or node.tag not in (
            "tag:yaml.org,2002:str",
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
        ):
            self.problem(
                node,
                key_path,
                f"expected a string, got {_describe(node)}",
                f"write a quoted string{', e.g. ' + example if example else ''}",
            )
            return None
        value = str(node.value)
        if not value.strip():
            self.problem(
                node,
                key_path,
                "must not be empty",
                f"write a value{', e.g. ' + example if example else ''}",
            )
            return None
        return value

    def boolean(self, node: yaml.Node, key_path: str) -> bool | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:bool":
            return bool(yaml.safe_load(node.value))
        self.problem(
            node, key_path, f"expected true or false, got {_describe(node)}", "write true or false"
        )
        return None

    def strings(self, node: yaml.Node, key_path: str, example: str) -> tuple[str, ...]:
        items = self.sequence(node, key_path, example)
        if items is None:
            return ()
        out = []
        for i, item in enumerate(items):
            value = self.string(item, f"{key_path}[{i}]")
            if value is not None:
                out.append(value)
        return tuple(out)

    def choice(self, node: yaml.Node, key_path: str, choices: tuple[str, ...]) -> str | None:
        value = self.string(node, key_path)
        if value is None:
            return None
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            self.problem(
                node,
                key_path,
                f"{value!r} is not one of: {', '.join(choices)}",
                f"{hint}write one of: {', '.join(choices)}",
            )
            return None
        return value

    def local_path(
        self, node: yaml.Node, key_path: str, *, must_exist: bool, kind: str = "file or directory"
    ) -> Path | None:
        value = self.string(node, key_path, "models/sentiment")
        if value is None:
            return None
        path = (self.root / value).resolve()
        try:
            exists = path.exists()
        except OSError as exc:  # a name too long for the file system, a loop of links: not ENOENT
            self.problem(
                node,
                key_path,
                f"{kind} {value!r} cannot be looked up: {exc.strerror or exc}",
                f"write an existing path relative to {self.root}",
            )
            return None
        if must_exist and not exists:
            self.problem(
                node,
                key_path,
                f"{kind} {value!r} does not exist (looked for {path})",
                f"create it, or write a path relative to {self.root}",
            )
            return None
        return path

    def optional(
        self, mapping: dict[str, yaml.Node], key: str, convert: Callable[[yaml.Node], T | None]
    ) -> T | None:
        node = mapping.get(key)
        return None if node is None else convert(node)

    @staticmethod
    def entry(node: yaml.Node, index: int) -> yaml.Node:
        """The node of a list's ``index``-th entry, so problems point at the entry itself."""
        if isinstance(node, yaml.SequenceNode) and index < len(node.value):
            return node.value[index]  # type: ignore[no-any-return]
        return node

    def opt_str(self, m: dict[str, yaml.Node], key: str, key_path: str) -> str | None:
        node = m.get(key)
        return None if node is None else self.string(node, f"{key_path}.{key}")

    def opt_strs(
        self, m: dict[str, yaml.Node], key: str, key_path: str, example: str
    ) -> tuple[str, ...]:
        node = m.get(key)
        return () if node is None else self.strings(node, f"{key_path}.{key}", example)

    # -- sections ---------------------------------------------------------------------------

    def manifest(self, node: yaml.Node | None) -> Manifest | None:
        if node is None:
            self.problem(
                None,
                "",
                "the manifest is empty",
                "start it with `version: 1` and declare models, datasets or requirements",
            )
            return None
        top = self.mapping(node, "", _TOP_KEYS, "`version: 1` followed by sections")
        if top is None:
            return None
        version_node = top.get("version")
        if version_node is None:
            self.problem(node, "version", "missing schema version", "add `version: 1` at the top")
        elif _yaml_int(version_node) != SCHEMA_VERSION:
            self.problem(
                version_node,
                "version",
                f"unsupported schema version {getattr(version_node, 'value', '?')!r}",
                f"write `version: {SCHEMA_VERSION}`",
            )
        project_name, project_version = self.project(top.get("project"))
        policy = self.policy(top.get("policy"))
        datasets = self.datasets(top.get("datasets"), policy)
        models = self.models(top.get("models"), policy, {d.name for d in datasets})
        self.dataset_names_apart(top.get("datasets"), datasets, {m.name for m in models})
        requirements = self.requirements(top.get("requirements"))
        internal = self.internal(top.get("internal"))
        output = self.output(top.get("output"))
        vulnerabilities = self.vulnerabilities(top.get("vulnerabilities"))
        code = self.code(top.get("code"))
        monitor = self.monitor(top.get("monitor"))
        return Manifest(
            path=self.path,
            version=SCHEMA_VERSION,
            policy=policy,
            output=output,
            project_name=project_name,
            project_version=project_version,
            models=models,
            datasets=datasets,
            requirements=requirements,
            internal=internal,
            vulnerabilities=vulnerabilities,
            code=code,
            monitor=monitor,
        )

    def project(self, node: yaml.Node | None) -> tuple[str, str | None]:
        default = self.root.name or "project"
        if node is None:
            return default, None
        m = self.mapping(node, "project", ("name", "version"), "{name: my-service, version: 1.0}")
        if m is None:
            return default, None
        name = self.optional(m, "name", lambda n: self.string(n, "project.name")) or default
        version = self.optional(m, "version", lambda n: self.string(n, "project.version"))
        return name, version

    def policy(self, node: yaml.Node | None) -> Policy:
        if node is None:
            return Policy()
        m = self.mapping(
            node,
            "policy",
            (
                "fail_on",
                "pickle",
                "pickle_formats",
                "require_pins",
                "require_hashes",
                "allow_globals",
                "licenses",
                "typosquat",
                "require_signature",
                "require_attestation",
                "attestation",
                "baseline",
                "require_card",
                "limits",
            ),
            "{fail_on: high}",
        )
        if m is None:
            return Policy()
        fail_on = self.optional(
            m, "fail_on", lambda n: self.choice(n, "policy.fail_on", THRESHOLD_CHOICES)
        )
        pickle = self.optional(
            m, "pickle", lambda n: self.choice(n, "policy.pickle", ("default-deny", "denylist"))
        )
        pickle_formats = self.optional(
            m, "pickle_formats", lambda n: self.choice(n, "policy.pickle_formats", ("deny", "scan"))
        )
        require_pins = self.optional(
            m, "require_pins", lambda n: self.boolean(n, "policy.require_pins")
        )
        require_hashes = self.optional(
            m, "require_hashes", lambda n: self.boolean(n, "policy.require_hashes")
        )
        allow_globals = (
            self.optional(
                m,
                "allow_globals",
                lambda n: self.strings(n, "policy.allow_globals", "[mypackage.MyModel]"),
            )
            or ()
        )
        for i, name in enumerate(allow_globals):
            if "." not in name:
                self.problem(
                    self.entry(m["allow_globals"], i),
                    f"policy.allow_globals[{i}]",
                    f"{name!r} is not a dotted module.name",
                    "write the global as module.qualname, e.g. mypackage.models.MyModel",
                )
        licenses = self.license_policy(m.get("licenses"))
        typosquat = self.typosquat(m.get("typosquat"))
        require_signature = self.optional(
            m, "require_signature", lambda n: self.boolean(n, "policy.require_signature")
        )
        return Policy(
            fail_on=Severity.parse(fail_on) if fail_on else Policy().fail_on,
            pickle="denylist" if pickle == "denylist" else "default-deny",
            require_pins=True if require_pins is None else require_pins,
            pickle_formats="scan" if pickle_formats == "scan" else "deny",
            allow_globals=allow_globals,
            licenses=licenses,
            require_hashes=bool(require_hashes),
            typosquat=typosquat,
            require_signature=bool(require_signature),
            require_attestation=bool(
                self.optional(
                    m,
                    "require_attestation",
                    lambda n: self.boolean(n, "policy.require_attestation"),
                )
            ),
            attestation=self.attestation_policy(m.get("attestation")),
            baseline=self.optional(
                m,
                "baseline",
                lambda n: self.local_path(n, "policy.baseline", must_exist=True, kind="file"),
            ),
            require_card=bool(
                self.optional(m, "require_card", lambda n: self.boolean(n, "policy.require_card"))
            ),
            limits=self.limits(m.get("limits")),
        )

    def limits(self, node: yaml.Node | None) -> ScanLimits:
        """``policy.limits``: each a positive number (a whole one but for the ratio and the
        seconds); a key left out keeps its documented default (:class:`ScanLimits`)."""
        defaults = ScanLimits()
        if node is None:
            return defaults
        m = self.mapping(node, "policy.limits", _LIMIT_KEYS, "{scan_seconds: 300}")
        if m is None:
            return defaults
        values: dict[str, float] = {}
        for key, value_node in m.items():
            value = self.positive_number(
                value_node, f"policy.limits.{key}", integer=key not in _FRACTIONAL_LIMITS
            )
            if value is not None:
                values[key] = value
        return dataclasses.replace(defaults, **values)  # type: ignore[arg-type]

    def positive_number(self, node: yaml.Node, key_path: str, *, integer: bool) -> float | None:
        what = "a whole number" if integer else "a number"
        tags = ("tag:yaml.org,2002:int",) if integer else _NUMBER_TAGS
        value: float | None = None
        if isinstance(node, yaml.ScalarNode) and node.tag in tags:
            try:
                value = yaml.safe_load(node.value)
            except (yaml.YAMLError, ValueError):  # ValueError: past Python's int digit limit
                value = None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            self.problem(
                node,
                key_path,
                f"expected {what} above 0, got {_describe(node)}",
                f"write {what} above 0, or remove the key for its default "
                f"({getattr(ScanLimits(), key_path.rsplit('.', 1)[-1], '?')})",
            )
            return None
        if value == float("inf"):
            self.problem(node, key_path, "must be finite", f"write {what} above 0, e.g. 600")
            return None
        return value

    def license_policy(self, node: yaml.Node | None) -> LicensePolicy:
        if node is None:
            return LicensePolicy()
        # Here, not at the top: license-expression and the SPDX table cost every gate session
        # milliseconds, and only a manifest with a licence policy needs them to load.
        from pytest_mlsupply.licenses import RESTRICTIONS, known_id

        lm = self.mapping(
            node,
            "policy.licenses",
            ("allow", "deny_restrictions", "unknown"),
            "{allow: [apache-2.0, mit]}",
        )
        if lm is None:
            return LicensePolicy()
        allow = (
            self.optional(
                lm, "allow", lambda n: self.strings(n, "policy.licenses.allow", "[apache-2.0, mit]")
            )
            or ()
        )
        for i, name in enumerate(allow):
            # An id the gate does not know would never match: the allow list would silently
            # allow less than it says.
            known = known_id(name)
            if known is not True:
                self.problem(
                    self.entry(lm["allow"], i),
                    f"policy.licenses.allow[{i}]",
                    f"{name!r} {known}",
                    "write one SPDX or Hugging Face licence id per entry, e.g. apache-2.0 "
                    "(docs/licenses.md lists them); accept other licences with `unknown: allow`",
                )
        denied: list[str] = []
        choices = tuple(RESTRICTIONS)
        if "deny_restrictions" in lm:
            items = self.sequence(
                lm["deny_restrictions"], "policy.licenses.deny_restrictions", "[non-commercial]"
            )
            for i, item in enumerate(items or ()):
                value = self.choice(item, f"policy.licenses.deny_restrictions[{i}]", choices)
                if value is not None:
                    denied.append(value)
        unknown = self.optional(
            lm, "unknown", lambda n: self.choice(n, "policy.licenses.unknown", ("allow", "deny"))
        )
        return LicensePolicy(
            allow=allow,
            deny_restrictions=tuple(denied),
            unknown="allow" if unknown == "allow" else "deny",
        )

    def typosquat(self, node: yaml.Node | None) -> TyposquatPolicy:
        if node is None:
            return TyposquatPolicy()
        m = self.mapping(
            node, "policy.typosquat", ("allow", "index_lookup"), "{allow: [my-requests2]}"
        )
        if m is None:
            return TyposquatPolicy()
        allow = (
            self.optional(
                m, "allow", lambda n: self.strings(n, "policy.typosquat.allow", "[my-requests2]")
            )
            or ()
        )
        names = []
        for i, name in enumerate(allow):
            if not _PROJECT_NAME_RE.match(name):
                self.problem(
                    self.entry(m["allow"], i),
                    f"policy.typosquat.allow[{i}]",
                    f"{name!r} is not a Python project name",
                    "write the name as in a requirement, e.g. my-requests2",
                )
                continue
            names.append(_canonical(name))
        index_lookup = self.optional(
            m, "index_lookup", lambda n: self.boolean(n, "policy.typosquat.index_lookup")
        )
        return TyposquatPolicy(allow=tuple(names), index_lookup=bool(index_lookup))

    def hub_ref(self, node: yaml.Node, key_path: str, scheme: str, policy: Policy) -> HubRef | None:
        value = self.string(node, key_path, f"{scheme}://org/name@<40-hex commit>")
        if value is None:
            return None
        match = _HUB_RE.match(value)
        if match is None or match["scheme"] != scheme:
            self.problem(
                node,
                key_path,
                f"{value!r} is not a {scheme}:// reference",
                f"write {scheme}://org/name@<40-hex commit sha>, or use `path:` for a "
                "local directory",
            )
            return None
        repo, rev = match["repo"], match["rev"]
        if rev is None:
            self.problem(
                node,
                key_path,
                f"{value!r} has no revision",
                f"pin the commit: {scheme}://{repo}@<40-hex commit sha>",
            )
            return None
        repo_type: Any = "model" if scheme == "hf" else "dataset"
        if not _COMMIT_RE.match(rev) and policy.require_pins:
            pointer = self.revision_pointer(repo_type, repo, rev)
            if pointer is not None:
                fix = (
                    f"pin the commit: it points to {pointer.commit} {pointer.where}: write "
                    f"{scheme}://{repo}@{pointer.commit}, or set policy.require_pins: false to "
                    "accept mutable revisions"
                )
            else:
                fix = (
                    f"pin the 40-hex commit it points to: {scheme}://{repo}@<commit sha> "
                    "(the repository's commit history on the Hub lists it), or set "
                    "policy.require_pins: false to accept mutable revisions"
                )
            self.problem(
                node,
                key_path,
                f"revision {rev!r} is mutable (a branch or tag can be moved to other files)",
                fix,
            )
            return None
        return HubRef(
            repo_type=repo_type,
            repo_id=repo,
            revision=rev.lower() if _COMMIT_RE.match(rev) else rev,
        )

    def revision_pointer(self, repo_type: str, repo: str, revision: str) -> RevisionPointer | None:
        if self.resolve_revision is None:
            return None
        try:
            found = self.resolve_revision(repo_type, repo, revision)
        except Exception:  # a resolver only improves a message; it must never break loading
            return None
        pointer = RevisionPointer(found, "hub") if isinstance(found, str) else found
        if pointer is None or not _COMMIT_RE.match(pointer.commit):
            return None
        return RevisionPointer(pointer.commit.lower(), pointer.origin)

    def name(
        self, m: dict[str, yaml.Node], node: yaml.Node, key_path: str, seen: set[str]
    ) -> str | None:
        if "name" not in m:
            self.problem(node, f"{key_path}.name", "missing name", "add `name: <short-name>`")
            return None
        name = self.string(m["name"], f"{key_path}.name", "sentiment")
        if name is None:
            return None
        if not _NAME_RE.match(name):
            self.problem(
                m["name"],
                f"{key_path}.name",
                f"{name!r} is not a valid name (it appears in test ids)",
                "use letters, digits, '.', '_' and '-' only, starting with a letter or digit",
            )
            return None
        if name in seen:
            self.problem(
                m["name"],
                f"{key_path}.name",
                f"name {name!r} is declared twice",
                "give each entry a unique name",
            )
            return None
        seen.add(name)
        return name

    def source_or_path(
        self, m: dict[str, yaml.Node], node: yaml.Node, key_path: str, scheme: str, policy: Policy
    ) -> tuple[HubRef | None, Path | None, bool]:
        if ("source" in m) == ("path" in m):
            self.problem(
                node,
                key_path,
                "declare exactly one of `source:` and `path:`",
                f"write `source: {scheme}://org/name@<commit>` or `path: <local dir>`",
            )
            return None, None, False
        if "source" in m:
            ref = self.hub_ref(m["source"], f"{key_path}.source", scheme, policy)
            return ref, None, ref is not None
        path = self.local_path(m["path"], f"{key_path}.path", must_exist=True, kind="directory")
        if path is not None and not path.is_dir():
            self.problem(
                m["path"],
                f"{key_path}.path",
                f"{path} is not a directory",
                "point `path:` at the directory that holds the files",
            )
            return None, None, False
        return None, path, path is not None

    def models(
        self, node: yaml.Node | None, policy: Policy, dataset_names: set[str]
    ) -> tuple[ModelDecl, ...]:
        if node is None:
            return ()
        items = self.sequence(node, "models", "[{name: sentiment, path: models/sentiment}]")
        if items is None:
            return ()
        seen: set[str] = set()
        out = []
        allowed = (
            "name",
            "source",
            "path",
            "files",
            "license",
            "description",
            "card",
            "datasets",
            "signature",
            "attestation",
            "lineage",
            "promotion",
        )
        for i, item in enumerate(items):
            kp = f"models[{i}]"
            m = self.mapping(item, kp, allowed, "{name: sentiment, path: models/sentiment}")
            if m is None:
                continue
            name = self.name(m, item, kp, seen)
            source, path, ok = self.source_or_path(m, item, kp, "hf", policy)
            files = self.files(m.get("files"), f"{kp}.files")
            card = self.card(m.get("card"), f"{kp}.card")
            datasets = self.opt_strs(m, "datasets", kp, "[reviews]") or ()
            for j, ds in enumerate(datasets):
                if ds not in dataset_names:
                    self.problem(
                        self.entry(m["datasets"], j),
                        f"{kp}.datasets[{j}]",
                        f"dataset {ds!r} is not declared",
                        "declare it under the top-level `datasets:` list, or remove it",
                    )
            signature = self.signature(m.get("signature"), f"{kp}.signature")
            attestation = self.attestation(m.get("attestation"), f"{kp}.attestation")
            lineage = self.lineage(m["lineage"], f"{kp}.lineage") if "lineage" in m else None
            base_model = lineage.parent.ref if lineage is not None else None
            promotion = (
                self.promotion(m["promotion"], f"{kp}.promotion") if "promotion" in m else None
            )
            if name is None or not ok:
                continue
            out.append(
                ModelDecl(
                    name=name,
                    span=self.span(item),
                    source=source,
                    path=path,
                    files=files,
                    license=self.opt_str(m, "license", kp),
                    description=self.opt_str(m, "description", kp),
                    card=card,
                    datasets=datasets,
                    signature=signature,
                    attestation=attestation,
                    base_model=base_model,
                    lineage=lineage,
                    promotion=promotion,
                )
            )
        return tuple(out)

    def promotion(self, node: yaml.Node, key_path: str) -> PromotionDecl | None:
        m = self.mapping(
            node,
            key_path,
            ("evaluation", "approval", "deploy", "thresholds"),
            "{evaluation: reports/eval.yaml, approval: reports/approval.yaml, "
            "deploy: deploy/release.yaml}",
        )
        if m is None:
            return None
        records: dict[str, Path] = {}
        for key in ("evaluation", "approval", "deploy"):
            if key in m:
                p = self.local_path(m[key], f"{key_path}.{key}", must_exist=True, kind="file")
                if p is not None and not p.is_file():
                    self.problem(
                        m[key], f"{key_path}.{key}", f"{p} is not a file", "name the record file"
                    )
                elif p is not None:
                    records[key] = p
        if not any(key in m for key in ("evaluation", "approval", "deploy")):
            self.problem(
                node,
                key_path,
                "the promotion names no record",
                "write `promotion: {evaluation: reports/eval.yaml}`, or remove `promotion:`",
            )
            return None
        thresholds: list[Threshold] = []
        if "thresholds" in m:
            tm = self.mapping_any(m["thresholds"], f"{key_path}.thresholds", '{accuracy: ">=0.9"}')
            for metric, value in tm.items():
                threshold = self.threshold(value, f"{key_path}.thresholds.{metric}", metric)
                if threshold is not None:
                    thresholds.append(threshold)
        # Thresholds and an approval's date are judged against the evaluation report.
        for key in ("thresholds", "approval"):
            if key in m and "evaluation" not in m:
                self.problem(
                    m[key],
                    f"{key_path}.{key}",
                    f"`{key}:` needs the evaluation report it is judged against",
                    "add `evaluation: <report file>` to the promotion",
                )
        return PromotionDecl(
            span=self.span(node),
            evaluation=records.get("evaluation"),
            approval=records.get("approval"),
            deploy=records.get("deploy"),
            thresholds=tuple(thresholds),
        )

    def threshold(self, node: yaml.Node, key_path: str, metric: str) -> Threshold | None:
        value = self.string(node, key_path, '">=0.9"')
        if value is None:
            return None
        match = _THRESHOLD_RE.match(value)
        number = float(match["value"]) if match is not None else math.nan
        if match is None or not math.isfinite(number):
            self.problem(
                node,
                key_path,
                f"{value!r} is not a threshold",
                f'write an operator (>=, >, <=, <, ==) and a number, e.g. {metric}: ">=0.9" '
                "(a bare number means at least that)",
            )
            return None
        operator: Any = match["op"] or ">="
        return Threshold(metric=metric, operator=operator, value=number, text=value.strip())

    def lineage(self, node: yaml.Node, key_path: str) -> LineageDecl | None:
        m = self.mapping(
            node, key_path, ("base_model", "chain"), "{base_model: hf://org/base@<commit>}"
        )
        if m is None:
            return None
        if not m:
            self.problem(
                node,
                key_path,
                "the lineage names no ancestor",
                "write `base_model: hf://org/base@<commit>`, or remove `lineage:`",
            )
            return None
        if "base_model" in m and "chain" in m:
            self.problem(
                node,
                key_path,
                "declare either `base_model:` or `chain:`, not both",
                "for one ancestor write `base_model: hf://org/base@<commit>`; for a longer "
                "history list every ancestor, oldest first, under `chain:`",
            )
            return None
        if "base_model" in m:
            hop = self.lineage_hop(m["base_model"], f"{key_path}.base_model")
            return None if hop is None else LineageDecl((hop,))
        items = self.sequence(m["chain"], f"{key_path}.chain", "[hf://org/base@<commit>]")
        if items is None:
            return None
        if not items:
            self.problem(
                m["chain"],
                f"{key_path}.chain",
                "the chain is empty",
                "list the ancestors oldest first: [hf://org/base@<commit>, hf://org/ft@<commit>]",
            )
            return None
        hops = [self.lineage_hop(item, f"{key_path}.chain[{i}]") for i, item in enumerate(items)]
        if any(hop is None for hop in hops):
            return None
        return LineageDecl(tuple(hop for hop in hops if hop is not None))

    def lineage_hop(self, node: yaml.Node, key_path: str) -> LineageHop | None:
        """A hop is a reference (``hf://org/name@<commit>`` or any other name), alone or as
        ``{ref: ..., sha256: ..., files: {...}}`` with the digests that pin it."""
        example = '{ref: hf://org/base@<commit>, files: {model.safetensors: "sha256:<64 hex>"}}'
        sha256, files = None, {}
        if isinstance(node, yaml.MappingNode):
            m = self.mapping(node, key_path, ("ref", "sha256", "files"), example)
            if m is None:
                return None
            if "ref" not in m:
                self.problem(node, f"{key_path}.ref", "missing ref", f"write it as {example}")
                return None
            ref_node = m["ref"]
            sha256 = self.opt_str(m, "sha256", key_path)
            if sha256 is not None and not _SHA256_RE.match(sha256):
                self.problem(
                    m["sha256"],
                    f"{key_path}.sha256",
                    f"{sha256!r} is not a sha256 pin",
                    'write "sha256:" followed by the 64 hex digits of the base\'s weights file',
                )
                return None
            files = self.files(m.get("files"), f"{key_path}.files")
        else:
            ref_node = node
        ref = self.string(ref_node, key_path, "hf://org/base@<40-hex commit>")
        if ref is None:
            return None
        ref = ref.strip()
        repo = revision = None
        if ref.startswith(("hf://", "hf-datasets://")):
            match = _HUB_RE.match(ref)
            if match is None or match["scheme"] != "hf" or not match["repo"].isascii():
                self.problem(
                    ref_node,
                    key_path,
                    f"{ref!r} is not a model reference on the Hub",
                    "write hf://org/name@<40-hex commit> (a base model is a model repository)",
                )
                return None
            repo, revision = match["repo"], match["rev"]
            if revision is not None and _COMMIT_RE.match(revision):
                revision = revision.lower()
        elif not ref:
            self.problem(ref_node, key_path, "empty reference", f"write it as {example}")
            return None
        return LineageHop(
            ref=ref,
            span=self.span(ref_node),
            key=key_path.split(".", 1)[1] if "." in key_path else key_path,
            repo=repo,
            revision=revision,
            sha256=sha256.lower() if sha256 else None,
            files=files,
        )

    def files(self, node: yaml.Node | None, key_path: str, owner: str = "model") -> dict[str, str]:
        if node is None:
            return {}
        example = "model.safetensors" if owner == "model" else "train.csv"
        m = self.mapping_any(node, key_path, f'{{{example}: "sha256:<64 hex>"}}')
        out: dict[str, str] = {}
        for rel, value_node in m.items():
            # str.split, not Path(rel).parts: the same test ("\\" is refused on its own), without
            # building a Path per pinned file (a third of the walk of a 10 MB manifest).
            if rel.startswith("/") or ".." in rel.split("/") or "\\" in rel:
                self.problem(
                    value_node,
                    f"{key_path}.{rel}",
                    f"{rel!r} is not a path inside the {owner}",
                    f"write the file's path relative to the {owner} directory, with '/'",
                )
                continue
            digest = self.string(value_node, f"{key_path}.{rel}", '"sha256:<64 hex>"')
            if digest is None:
                continue
            if not _SHA256_RE.match(digest):
                self.problem(
                    value_node,
                    f"{key_path}.{rel}",
                    f"{digest!r} is not a sha256 pin",
                    'write "sha256:" followed by the 64 hex digits of the file\'s '
                    "SHA-256 (sha256sum prints them)",
                )
                continue
            out[rel] = digest.lower()
        return out

    def mapping_any(self, node: yaml.Node, key_path: str, example: str) -> dict[str, yaml.Node]:
        """A mapping whose keys are data (file names), not schema keys."""
        if not isinstance(node, yaml.MappingNode):
            self.problem(
                node,
                key_path,
                f"expected a mapping, got {_describe(node)}",
                f"write it as {example}",
            )
            return {}
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(getattr(key_node, "value", ""))
            if key in out:
                self.problem(
                    key_node,
                    f"{key_path}.{key}",
                    f"duplicate key {key!r}",
                    "remove one of the two entries",
                )
                continue
            out[key] = value_node
        return out

    def card(self, node: yaml.Node | None, key_path: str) -> CardDecl:
        if node is None:
            return CardDecl()
        m = self.mapping(node, key_path, ("path", "require"), "{require: [license, datasets]}")
        if m is None:
            return CardDecl(declared=True)
        path = self.optional(m, "path", lambda n: self.string(n, f"{key_path}.path")) or "README.md"
        require = (
            self.optional(
                m,
                "require",
                lambda n: self.strings(n, f"{key_path}.require", "[license, intended_use]"),
            )
            or ()
        )
        known = card_fields() if require else ()
        for i, field_name in enumerate(require):
            if field_name not in known:
                close = difflib.get_close_matches(field_name, known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.problem(
                    self.entry(m["require"], i),
                    f"{key_path}.require[{i}]",
                    f"unknown card field {field_name!r}",
                    f"{hint}known fields: {', '.join(known)}",
                )
        return CardDecl(path=path, require=require, declared=True)

    def signature(self, node: yaml.Node | None, key_path: str) -> SignatureDecl | None:
        if node is None:
            return None
        m = self.mapping(
            node,
            key_path,
            (
                "path",
                "public_key",
                "certificate",
                "certificate_chain",
                "identity",
                "issuer",
                "trust_config",
            ),
            "{public_key: keys/release.pub}",
        )
        if m is None:
            return None

        def file(key: str) -> Path | None:
            return self.optional(
                m,
                key,
                lambda n: self.local_path(n, f"{key_path}.{key}", must_exist=True, kind="file"),
            )

        chain: list[Path] = []
        if "certificate_chain" in m:
            items = self.sequence(
                m["certificate_chain"], f"{key_path}.certificate_chain", "[keys/root.pem]"
            )
            for i, item in enumerate(items or ()):
                p = self.local_path(
                    item, f"{key_path}.certificate_chain[{i}]", must_exist=True, kind="file"
                )
                if p is not None:
                    chain.append(p)
            if items == []:
                # An empty chain would make model-signing trust the system's web CAs.
                self.problem(
                    m["certificate_chain"],
                    f"{key_path}.certificate_chain",
                    "certificate_chain is empty",
                    "list the PEM root (and intermediate) certificates your signing CA uses",
                )
                return None
        decl = SignatureDecl(
            path=file("path"),
            public_key=file("public_key"),
            certificate=file("certificate"),
            certificate_chain=tuple(chain),
            identity=self.opt_str(m, "identity", key_path),
            issuer=self.opt_str(m, "issuer", key_path),
            trust_config=file("trust_config"),
        )
        # One way to verify, stated in full: a signature nobody can check proves nothing.
        modes = [
            name
            for name, present in (
                ("public_key", "public_key" in m),
                ("certificate_chain", "certificate_chain" in m),
                ("identity/issuer", "identity" in m or "issuer" in m),
            )
            if present
        ]
        if len(modes) != 1:
            self.problem(
                node,
                key_path,
                "declare exactly one way to verify the signature"
                + (f" (found {', '.join(modes)})" if modes else ""),
                "add `public_key: <PEM>`, or `certificate_chain: [<PEM>, ...]`, or "
                "`identity: <email or URI>` with `issuer: <OIDC issuer URL>`",
            )
            return None
        if modes == ["identity/issuer"] and ("identity" not in m or "issuer" not in m):
            missing = "issuer" if "issuer" not in m else "identity"
            self.problem(
                node,
                f"{key_path}.{missing}",
                f"Sigstore verification needs both identity and issuer; {missing} is missing",
                f"add `{missing}:`",
            )
            return None
        if "certificate" in m and "certificate_chain" not in m:
            self.problem(
                m["certificate"],
                f"{key_path}.certificate",
                "a signing certificate is checked against a certificate chain",
                "add `certificate_chain: [<root and intermediate PEM files>]`",
            )
            return None
        return decl

    def attestation_policy(self, node: yaml.Node | None) -> AttestationPolicy:
        if node is None:
            return AttestationPolicy()
        m = self.mapping(
            node,
            "policy.attestation",
            ("builders", "source_repository"),
            "{builders: [https://github.com/actions/runner/github-hosted]}",
        )
        if m is None:
            return AttestationPolicy()
        return AttestationPolicy(
            builders=self.opt_strs(m, "builders", "policy.attestation", "[<builder id>]"),
            source_repository=self.repository(m, "policy.attestation"),
        )

    def repository(self, m: dict[str, yaml.Node], key_path: str) -> str | None:
        """``source_repository``: a repository URL (``https://github.com/acme/models``)."""
        repository = self.opt_str(m, "source_repository", key_path)
        if repository is not None and "/" not in repository:
            self.problem(
                m["source_repository"],
                f"{key_path}.source_repository",
                f"{repository!r} is not a repository URL",
                "write the repository the model is built from, e.g. https://github.com/acme/models",
            )
            return None
        return repository

    def attestation(self, node: yaml.Node | None, key_path: str) -> AttestationDecl | None:
        """``attestation:``: envelope files, the signers' keys, a threshold and a build policy."""
        if node is None:
            return None
        m = self.mapping(
            node,
            key_path,
            ("path", "keys", "threshold", "builders", "source_repository"),
            "{keys: [keys/builder.pub]}",
        )
        if m is None:
            return None

        def files(key: str, example: str) -> tuple[tuple[Path, ...], bool]:
            """(existing files, every entry valid) of a key holding one file or a list."""
            value = m[key]
            single = isinstance(value, yaml.ScalarNode) and value.tag != "tag:yaml.org,2002:null"
            items = [value] if single else self.sequence(value, f"{key_path}.{key}", example)
            if items is None:
                return (), False
            if not items:
                self.problem(
                    value,
                    f"{key_path}.{key}",
                    f"{key} is empty",
                    f"list one or more files: {example}",
                )
                return (), False
            out: list[Path] = []
            for i, item in enumerate(items):
                sub = f"{key_path}.{key}" if single else f"{key_path}.{key}[{i}]"
                path = self.local_path(item, sub, must_exist=True, kind="file")
                if path is not None:
                    out.append(path)
            return tuple(out), len(out) == len(items)

        paths: tuple[Path, ...] = ()
        if "path" in m:
            paths, _ = files("path", "[attestations/model.intoto.jsonl]")
        repository = self.repository(m, key_path)
        if "keys" not in m:
            # An attestation nobody is trusted to sign proves nothing.
            self.problem(
                node,
                f"{key_path}.keys",
                "an attestation needs the public keys of its signers",
                "add `keys: [<PEM public key>, ...]` (the builder's or release team's keys)",
            )
            return None
        keys, keys_ok = files("keys", "[keys/builder.pub]")
        threshold = 1
        if "threshold" in m:
            t = m["threshold"]
            count = _yaml_int(t)
            if count is None or count < 1:
                self.problem(
                    t,
                    f"{key_path}.threshold",
                    f"expected a whole number of signatures (1 or more), got {_describe(t)}",
                    "write e.g. `threshold: 2`",
                )
                return None
            threshold = count
            distinct = len(set(keys))
            if keys_ok and threshold > distinct:
                self.problem(
                    t,
                    f"{key_path}.threshold",
                    f"threshold {threshold} needs {threshold} distinct keys; "
                    f"{distinct} declared (a file listed twice counts once)",
                    f"lower the threshold to at most {distinct}, or add more signers' keys",
                )
                return None
        if not keys_ok:
            return None
        builders = None
        if "builders" in m:
            builders = self.strings(m["builders"], f"{key_path}.builders", "[<builder id>]")
        return AttestationDecl(
            keys=keys,
            paths=paths,
            threshold=threshold,
            builders=builders,
            source_repository=repository,
        )

    def datasets(self, node: yaml.Node | None, policy: Policy) -> tuple[DatasetDecl, ...]:
        if node is None:
            return ()
        items = self.sequence(node, "datasets", "[{name: reviews, path: data/reviews}]")
        if items is None:
            return ()
        seen: set[str] = set()
        out = []
        for i, item in enumerate(items):
            kp = f"datasets[{i}]"
            m = self.mapping(
                item,
                kp,
                (
                    "name",
                    "source",
                    "path",
                    "license",
                    "pii",
                    "description",
                    "files",
                    "governance",
                ),
                "{name: reviews, source: hf-datasets://org/name@<commit>}",
            )
            if m is None:
                continue
            name = self.name(m, item, kp, seen)
            source, path, ok = self.source_or_path(m, item, kp, "hf-datasets", policy)
            pii = None
            if "pii" in m:
                pii = self.choice(m["pii"], f"{kp}.pii", PII_LEVELS)
            files = self.files(m.get("files"), f"{kp}.files", "dataset")
            governance = self.governance(m.get("governance"), f"{kp}.governance")
            if name is None or not ok:
                continue
            out.append(
                DatasetDecl(
                    name=name,
                    span=self.span(item),
                    source=source,
                    path=path,
                    license=self.opt_str(m, "license", kp),
                    pii=pii,
                    description=self.opt_str(m, "description", kp),
                    files=files,
                    governance=governance,
                )
            )
        return tuple(out)

    def governance(self, node: yaml.Node | None, key_path: str) -> dict[str, tuple[str, ...]]:
        """``{owners: [Acme Data Team], custodians: [...], stewards: [...]}``."""
        if node is None:
            return {}
        example = "{owners: [Acme Data Team], custodians: [Acme Platform]}"
        m = self.mapping(node, key_path, GOVERNANCE_ROLES, example)
        if m is None:
            return {}
        out: dict[str, tuple[str, ...]] = {}
        for role in GOVERNANCE_ROLES:
            if role in m:
                names = self.strings(m[role], f"{key_path}.{role}", "[Acme Data Team]")
                if names:
                    out[role] = names
        return out

    def dataset_names_apart(
        self, node: yaml.Node | None, datasets: tuple[DatasetDecl, ...], models: set[str]
    ) -> None:
        """A dataset named like a model would share its matrix row and test ids."""
        items = node.value if isinstance(node, yaml.SequenceNode) else []
        for i, dataset in enumerate(datasets):
            if dataset.name in models:
                where = next((n for n in items if self.span(n) == dataset.span), node)
                self.problem(
                    where,
                    f"datasets[{i}].name",
                    f"{dataset.name!r} is also a model's name; the dataset's claim "
                    f"`provenance[{dataset.name}::dataset]` would share the model's matrix row",
                    "give the dataset a name no model uses (and update `models[].datasets`)",
                )

    def requirements(self, node: yaml.Node | None) -> tuple[RequirementDecl, ...]:
        if node is None:
            return ()
        items = self.sequence(node, "requirements", "[{file: requirements.txt}]")
        if items is None:
            return ()
        out = []
        for i, item in enumerate(items):
            kp = f"requirements[{i}]"
            m = self.mapping(
                item,
                kp,
                ("file", "pyproject", "pylock", "environment"),
                "{file: requirements.txt}",
            )
            if m is None:
                continue
            if len(m) != 1:
                self.problem(
                    item,
                    kp,
                    "declare exactly one of `file:`, `pyproject:`, `pylock:`, `environment:` "
                    "per entry",
                    "split it into one list entry per source",
                )
                continue
            ((key, value),) = m.items()
            if key == "environment":
                if self.choice(value, f"{kp}.environment", ("current",)) is not None:
                    out.append(RequirementDecl(kind="environment", span=self.span(item)))
                continue
            path = self.local_path(value, f"{kp}.{key}", must_exist=True, kind="file")
            if path is not None and not path.is_file():
                self.problem(
                    value,
                    f"{kp}.{key}",
                    f"{path} is not a file",
                    "point it at a requirements file, a pyproject.toml or a pylock.toml",
                )
                continue
            if path is not None:
                out.append(
                    RequirementDecl(
                        kind="pylock"
                        if key == "pylock"
                        else ("file" if key == "file" else "pyproject"),
                        span=self.span(item),
                        path=path,
                    )
                )
        return tuple(out)

    def internal(self, node: yaml.Node | None) -> tuple[InternalDecl, ...]:
        """``internal:``: a list of ``{index, packages}`` entries, one per private index."""
        if node is None:
            return ()
        example = "{index: https://pypi.acme.internal/simple, packages: [acme-models, acme-*]}"
        entries = self.sequence(node, "internal", f"[{example}]")
        out: list[InternalDecl] = []
        owner: dict[str, str] = {}
        for i, item in enumerate(entries or ()):
            kp = f"internal[{i}]"
            m = self.mapping(item, kp, ("index", "packages"), example)
            if m is None:
                continue
            missing = [key for key in ("index", "packages") if key not in m]
            if missing:
                self.problem(
                    item,
                    f"{kp}.{missing[0]}",
                    f"missing `{missing[0]}:`",
                    f"write it as {example}",
                )
                continue
            index = self.string(m["index"], f"{kp}.index", "https://pypi.acme.internal/simple")
            if index is not None and not re.match(r"^(https?|file)://\S+$", index):
                self.problem(
                    m["index"],
                    f"{kp}.index",
                    f"{index!r} is not an index URL",
                    "write the URL pip is given as --index-url, e.g. "
                    "https://pypi.acme.internal/simple",
                )
                index = None
            packages = self.strings(m["packages"], f"{kp}.packages", "[acme-models, acme-*]")
            names: list[str] = []
            for j, pattern in enumerate(packages):
                at = self.entry(m["packages"], j)
                if not _PACKAGE_GLOB_RE.match(pattern):
                    self.problem(
                        at,
                        f"{kp}.packages[{j}]",
                        f"{pattern!r} is not a project name or glob",
                        "write a PyPI project name (acme-models) or a glob over names (acme-*)",
                    )
                    continue
                name = _canonical(pattern)
                if name in owner and owner[name] != index:
                    self.problem(
                        at,
                        f"{kp}.packages[{j}]",
                        f"{pattern!r} is already declared internal to {owner[name]}",
                        "a package lives on one private index: keep it under one entry",
                    )
                    continue
                owner[name] = index or ""
                names.append(name)
            if index is not None and names:
                out.append(InternalDecl(index=index, packages=tuple(names), span=self.span(item)))
        return tuple(out)

    def output(self, node: yaml.Node | None) -> OutputDecl:
        bom, matrix, bom_xml = DEFAULT_BOM_PATH, DEFAULT_MATRIX_PATH, None
        sarif: str | None = None
        html: str | None = None
        if node is not None:
            m = self.mapping(
                node,
                "output",
                ("bom", "bom_xml", "matrix", "sarif", "html"),
                "{bom: build/ml-bom.cdx.json, matrix: build/mlsupply-matrix}",
            )
            if m is not None:
                bom = self.optional(m, "bom", lambda n: self.string(n, "output.bom")) or bom
                matrix = (
                    self.optional(m, "matrix", lambda n: self.string(n, "output.matrix")) or matrix
                )
                bom_xml = self.optional(m, "bom_xml", lambda n: self.string(n, "output.bom_xml"))
                sarif = self.optional(m, "sarif", lambda n: self.string(n, "output.sarif"))
                html = self.optional(m, "html", lambda n: self.string(n, "output.html"))
        return OutputDecl(
            bom=(self.root / bom).resolve(),
            matrix=(self.root / matrix).resolve(),
            bom_xml=(self.root / bom_xml).resolve() if bom_xml else None,
            sarif=(self.root / sarif).resolve() if sarif else None,
            html=(self.root / html).resolve() if html else None,
        )

    def vulnerabilities(self, node: yaml.Node | None) -> dict[str, Any]:
        if node is None:
            return {}
        m = self.mapping(node, "vulnerabilities", ("service", "url", "path"), "{service: pypi}")
        if m is None:
            return {}
        out: dict[str, Any] = {}
        if "service" in m:
            out["service"] = self.choice(
                m["service"], "vulnerabilities.service", ("pypi", "osv", "offline")
            )
        if "url" in m:
            out["url"] = self.string(m["url"], "vulnerabilities.url")
        if "path" in m:
            out["path"] = self.local_path(m["path"], "vulnerabilities.path", must_exist=True)
        if out.get("service") == "offline" and "path" not in m:
            self.problem(
                node,
                "vulnerabilities.path",
                "the offline service needs a path",
                "add `path: <directory of OSV records>`",
            )
        return out

    def code(self, node: yaml.Node | None) -> CodeDecl | None:
        if node is None:
            return None
        example = '{paths: [src/], exclude: ["src/legacy/*"]}'
        m = self.mapping(node, "code", ("paths", "exclude"), example)
        if m is None:
            return None
        if "paths" not in m:
            # Fail closed: a `code:` section that names nothing would check nothing in silence.
            self.problem(node, "code.paths", "missing paths", f"write it as {example}")
            return None
        paths: list[Path] = []
        texts: list[str] = []
        for i, item in enumerate(self.sequence(m["paths"], "code.paths", "[src/]") or []):
            p = self.local_path(item, f"code.paths[{i}]", must_exist=True)
            if p is not None:
                paths.append(p)
                texts.append(str(item.value))
        exclude: list[str] = []
        if "exclude" in m:
            for i, item in enumerate(
                self.sequence(m["exclude"], "code.exclude", '["src/legacy/*", "*_test.py"]') or []
            ):
                pattern = self.string(item, f"code.exclude[{i}]", '"src/legacy/*"')
                if pattern is not None:
                    exclude.append(pattern)
        return CodeDecl(
            paths=tuple(paths),
            exclude=tuple(exclude),
            span=self.span(node),
            path_texts=tuple(texts),
        )

    def monitor(self, node: yaml.Node | None) -> dict[str, Any]:
        if node is None:
            return {}
        keys = ("models", "orgs", "dependencies")
        m = self.mapping(node, "monitor", keys, "{models: [org/model]}")
        if m is None:
            return {}
        return {k: self.strings(v, f"monitor.{k}", "[acme/sentiment-bert]") for k, v in m.items()}


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if isinstance(node, yaml.ScalarNode):
        kind = node.tag.rsplit(":", 1)[-1]
        if kind == "null":
            return "nothing (null)"
        return f"{kind} {node.value!r}"
    return "an unexpected value"


def _canonical(name: str) -> str:
    """packaging's normalised project name (imported on use: few manifests need it)."""
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _yaml_int(node: yaml.Node) -> int | None:
    """The whole number a YAML int scalar (``1``, ``0x1``, ``1_000``) writes, or None: not an int
    scalar, or one past Python's int digit limit (``version: 111…`` of 100,000 digits raised
    ValueError out of the loader; found by the long fuzz run)."""
    if not (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int"):
        return None
    try:
        value = yaml.safe_load(node.value)
    except (yaml.YAMLError, ValueError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None
