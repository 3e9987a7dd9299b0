"""The one reader of release evidence: evaluation reports, approval records, deploy manifests.

Each record is a JSON or YAML file (``.json``: strict JSON; anything else: YAML, of which JSON is
a subset) holding one mapping. Both are read safely: the YAML safe loader (plain data, no tags
that construct objects), a duplicated key refused (two readers of such a file can disagree on
its value: the approval this gate read need not be the one a dashboard shows), timestamps kept
as text (the checks parse them with :func:`datetime.fromisoformat`, so a date without a time
zone is visible as such rather than silently read as UTC), and a size cap.

The formats (documented with examples in docs/configuration.md):

- **artifact identity** (``artifact:``): at least one of ``digest: sha256:<64 hex>`` (the
  :func:`directory_digest` of the model directory), ``files: {relpath: "sha256:<64 hex>"}``,
  ``commit: <40 hex>`` (the Hub commit; ``repo: org/name`` optionally), plus ``uri:`` (where it
  is stored) and ``image:`` (the container that serves it), both checked for mutability, and
  for a LoRA adapter ``base:`` (an identity of the base model).
- **evaluation**: ``artifact``, ``evaluated_at`` (ISO 8601 with a time zone), ``metrics``
  (name → number), optionally ``dataset``.
- **approval**: ``artifact``, ``approved_by``, ``approved_at``.
- **deploy**: ``artifact``, ``target`` (``canary``, ``shadow`` or ``production``),
  ``environments`` (``canary``/``shadow``/``production`` → ``{artifact, status, at}``) and
  ``rollback`` (``{artifact, evaluation: <path relative to the deploy file>}``).

What the checks judge (an approver missing, a mutable reference) is kept as read; only a file
that is not such a record (not parseable, wrong types) raises :class:`RecordError`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from pytest_mlsupply.engines import strict_json

__all__ = [
    "ENVIRONMENTS",
    "Approval",
    "ArtifactRef",
    "Deploy",
    "Environment",
    "Evaluation",
    "RecordError",
    "Rollback",
    "directory_digest",
    "hub_revision",
    "mutable_reference",
    "parse_time",
    "read_approval",
    "read_deploy",
    "read_evaluation",
]

#: Bytes read from a record at most: release evidence is a few kilobytes.
MAX_RECORD = 1 << 20
ENVIRONMENTS = ("canary", "shadow", "production")

_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_HF = re.compile(r"^hf://(?P<repo>[^@\s]+?)(?:@(?P<rev>[^@\s/]+)(?:/\S*)?)?/?$")
#: A version number or object generation: ASCII digits, not zero (``str.isdigit`` also takes
#: superscripts and other scripts' digits, which no store issues).
_VERSION = re.compile(r"^[1-9][0-9]*$")
_HUB_HOSTS = ("huggingface.co", "www.huggingface.co", "hf.co")
_IMAGE_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_MLFLOW = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/]+)|@(?P<alias>.+))?$")


class RecordError(ValueError):
    """A file that is not a well-formed record; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class ArtifactRef:
    """How a record names an artifact. ``key`` is where (``artifact``, ``rollback.artifact``)."""

    key: str
    digest: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    commit: str | None = None
    repo: str | None = None
    uri: str | None = None
    image: str | None = None
    base: ArtifactRef | None = None

    @property
    def names_content(self) -> bool:
        """Whether it names bytes (a digest, file digests or a 40-hex commit), not a place."""
        return bool(self.digest or self.files or self.pinned_commit)

    @property
    def pinned_commit(self) -> str | None:
        return self.commit if self.commit is not None and _COMMIT.match(self.commit) else None

    def mutable(self) -> list[str]:
        """Each reference in it that can be moved to other bytes, described."""
        out = []
        if self.commit is not None and self.pinned_commit is None:
            out.append(f"{self.key}.commit {self.commit!r}: a branch or tag, not a 40-hex commit")
        for what, value in (("uri", self.uri), ("image", self.image)):
            if value is not None:
                why = mutable_reference(value, image=what == "image")
                if why is not None:
                    out.append(f"{self.key}.{what} {value!r}: {why}")
        return out

    def describe(self) -> str:
        parts = []
        if self.digest:
            parts.append(f"digest {self.digest}")
        if self.commit:
            parts.append(f"commit {self.commit}" + (f" of {self.repo}" if self.repo else ""))
        if self.files:
            parts.append("files " + ", ".join(f"{k} {v}" for k, v in sorted(self.files.items())))
        if not parts and self.uri:
            parts.append(f"uri {self.uri}")
        return "; ".join(parts) or "nothing"

    def facts(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("digest", "commit", "repo", "uri", "image"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.files:
            out["files"] = dict(self.files)
        if self.base is not None:
            out["base"] = self.base.facts()
        return out


@dataclass(frozen=True)
class Evaluation:
    path: Path
    artifact: ArtifactRef | None
    evaluated_at: str
    metrics: dict[str, float]
    dataset: str | None = None


@dataclass(frozen=True)
class Approval:
    path: Path
    artifact: ArtifactRef | None
    approved_by: str | None
    """The approvers as written, joined with ``; `` when several."""
    approved_at: str | None
    approvers: tuple[str, ...] = ()
    """Each approver (``approved_by`` may be one name or a list of them)."""


@dataclass(frozen=True)
class Environment:
    name: str
    artifact: ArtifactRef | None
    status: str | None
    at: str | None


@dataclass(frozen=True)
class Rollback:
    artifact: ArtifactRef | None
    evaluation: Path | None


@dataclass(frozen=True)
class Deploy:
    path: Path
    artifact: ArtifactRef | None
    target: str
    environments: dict[str, Environment]
    rollback: Rollback | None


# -- parsing ----------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing duplicate keys and keeping timestamps as text."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            mark = key_node.start_mark
            raise RecordError(
                f"line {mark.line + 1} column {mark.column + 1}: duplicate key {key!r}; "
                "remove one of the two entries"
            )
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _timestamp_as_text(loader: _Loader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _load(path: Path) -> dict[str, Any]:
    # A FIFO or device (a rollback's `evaluation:` is any path) would block the read forever.
    if path.exists() and not path.is_file():
        raise RecordError(f"{path}: not a regular file; name the record file")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_RECORD + 1)
    except OSError as exc:
        raise RecordError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_RECORD:
        raise RecordError(f"{path}: larger than {MAX_RECORD} bytes; a record is a few kilobytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"{path}: not UTF-8 ({exc.reason}); save it as UTF-8") from None
    try:
        if path.suffix.lower() == ".json":
            loaded = strict_json.loads(text)
        else:
            loaded = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except strict_json.StrictJsonError as exc:
        raise RecordError(f"{path}: {exc}; write each key once, and numbers as numbers") from None
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise RecordError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise RecordError(f"{path}: expected a mapping at the top, got {_kind(loaded)}")
    return loaded


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


class _Fields:
    """Typed access to one record's mapping; every error names the file and the key."""

    def __init__(self, path: Path, data: dict[str, Any], allowed: Iterable[str], prefix: str = ""):
        self.path = path
        self.data = data
        self.prefix = prefix
        unknown = sorted(str(k) for k in data if k not in set(allowed))
        if unknown:
            raise self.error(
                unknown[0], "is not a key of this record", "allowed: " + ", ".join(allowed)
            )

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def error(self, name: str, message: str, fix: str) -> RecordError:
        return RecordError(f"{self.path}: {self.key(name)} {message}; {fix}")

    def text(self, name: str, example: str, *, required: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.error(name, "is missing", f"write e.g. {name}: {example}")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.error(name, f"is a {_kind(value)}, not text", f"write e.g. {example}")
        return str(value).strip()

    def time(self, name: str, value: str | None) -> str | None:
        """``value`` (the text of ``name``) when it is an ISO 8601 time with a time zone."""
        if value is not None and parse_time(value) is None:
            raise self.error(
                name,
                f"{value!r} is not an ISO 8601 time with a time zone",
                'write e.g. "2026-11-20T09:30:00Z" (a time without a zone is ambiguous by hours)',
            )
        return value

    def mapping(self, name: str, example: str) -> dict[str, Any] | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(name, f"is a {_kind(value)}, not a mapping", f"write e.g. {example}")
        return value


_IDENTITY_KEYS = ("digest", "files", "commit", "repo", "uri", "image", "base")
_IDENTITY_EXAMPLE = '{digest: "sha256:<64 hex>"}'


def _artifact(path: Path, value: object, key: str, *, allow_base: bool = True) -> ArtifactRef:
    if not isinstance(value, dict):
        raise RecordError(
            f"{path}: {key} is a {_kind(value)}, not a mapping; write e.g. "
            f"{key.rsplit('.', 1)[-1]}: {_IDENTITY_EXAMPLE}"
        )
    keys = _IDENTITY_KEYS if allow_base else _IDENTITY_KEYS[:-1]
    f = _Fields(path, value, keys, prefix=f"{key}.")
    digest = f.text("digest", '"sha256:<64 hex>"')
    if digest is not None:
        digest = digest.lower()
        if not _SHA256.match(digest):
            raise f.error(
                "digest", f"{digest!r} is not sha256:<64 hex>", "write the digest in full"
            )
    # A branch or tag under `commit:` is a mutable reference, not a malformed record: it is
    # kept as written, so the check reports it as such.
    commit = f.text("commit", "<40-hex commit>")
    if commit is not None and _COMMIT.match(commit.lower()):
        commit = commit.lower()
    files: dict[str, str] = {}
    raw = f.mapping("files", '{model.safetensors: "sha256:<64 hex>"}')
    for rel, pin in (raw or {}).items():
        if not isinstance(rel, str) or not isinstance(pin, str):
            raise f.error("files", "maps something other than a path to a digest", _hint_files())
        pin = pin.strip().lower()
        if not _SHA256.match(pin):
            raise f.error(f"files.{rel}", f"{pin!r} is not sha256:<64 hex>", _hint_files())
        name = rel.strip().removeprefix("./")
        if name in files:
            # `./model.safetensors` and `model.safetensors` are one file: which of the two
            # digests is "the" record's depends on the reader, as with a duplicated key.
            raise f.error(
                "files", f"names {name} twice", "keep one entry per file, without a leading ./"
            )
        files[name] = pin
    base = None
    if allow_base and value.get("base") is not None:
        base = _artifact(path, value["base"], f"{key}.base", allow_base=False)
    return ArtifactRef(
        key=key,
        digest=digest,
        files=files,
        commit=commit,
        repo=f.text("repo", "org/name"),
        uri=f.text("uri", "hf://org/name@<40-hex commit>"),
        image=f.text("image", "registry.example/serve@sha256:<64 hex>"),
        base=base,
    )


def _hint_files() -> str:
    return 'write files: {model.safetensors: "sha256:<64 hex>"}'


def _optional_artifact(path: Path, data: dict[str, Any], key: str) -> ArtifactRef | None:
    value = data.get(key.rsplit(".", 1)[-1])
    return None if value is None else _artifact(path, value, key)


def read_evaluation(path: Path) -> Evaluation:
    data = _load(path)
    f = _Fields(path, data, ("artifact", "evaluated_at", "metrics", "dataset"))
    metrics: dict[str, float] = {}
    raw = f.mapping("metrics", "{accuracy: 0.93}")
    if raw is None:
        raise f.error("metrics", "is missing", "write e.g. metrics: {accuracy: 0.93}")
    for name, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            raise f.error(
                f"metrics.{name}", f"is {value!r}, not a finite number", "write e.g. 0.93"
            )
        metrics[str(name)] = float(value)
    evaluated_at = f.text("evaluated_at", '"2026-11-20T09:30:00Z"', required=True)
    assert evaluated_at is not None
    f.time("evaluated_at", evaluated_at)
    return Evaluation(
        path=path,
        artifact=_optional_artifact(path, data, "artifact"),
        evaluated_at=evaluated_at,
        metrics=metrics,
        dataset=f.text("dataset", "reviews"),
    )


def _finite(value: float) -> bool:
    """Whether a number is finite as a float (an integer of 400 digits is not one at all)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def read_approval(path: Path) -> Approval:
    data = _load(path)
    f = _Fields(path, data, ("artifact", "approved_by", "approved_at", "comment"))
    example = "Jane Doe <jane@example.com>"
    raw = data.get("approved_by")
    if isinstance(raw, list):
        # Two-person approval: a list of names, each one text.
        approvers = []
        for i, item in enumerate(raw):
            one = _Fields(path, {"approver": item}, ("approver",), prefix=f"approved_by[{i}].")
            name = one.text("approver", example, required=True)
            assert name is not None
            approvers.append(name)
    else:
        single = f.text("approved_by", example)
        approvers = [single] if single is not None else []
    return Approval(
        path=path,
        artifact=_optional_artifact(path, data, "artifact"),
        approved_by="; ".join(approvers) or None,
        approved_at=f.text("approved_at", '"2026-11-21T10:00:00+01:00"'),
        approvers=tuple(approvers),
    )


def read_deploy(path: Path) -> Deploy:
    data = _load(path)
    f = _Fields(path, data, ("artifact", "target", "environments", "rollback"))
    target = f.text("target", "production", required=True)
    if target not in ENVIRONMENTS:
        raise f.error("target", f"is {target!r}", "write one of: " + ", ".join(ENVIRONMENTS))
    environments: dict[str, Environment] = {}
    for name, raw in (f.mapping("environments", "{canary: {artifact: ...}}") or {}).items():
        key = f"environments.{name}"
        if name not in ENVIRONMENTS:
            raise f.error(key, "is not an environment", "write one of: " + ", ".join(ENVIRONMENTS))
        if not isinstance(raw, dict):
            raise f.error(key, f"is a {_kind(raw)}, not a mapping", "write {artifact: ...}")
        env = _Fields(path, raw, ("artifact", "status", "at"), prefix=f"{key}.")
        environments[name] = Environment(
            name=name,
            artifact=_optional_artifact(path, raw, f"{key}.artifact"),
            status=env.text("status", "passed"),
            at=env.time("at", env.text("at", '"2026-11-22T08:00:00Z"')),
        )
    rollback = None
    raw_rollback = f.mapping("rollback", "{artifact: ..., evaluation: eval-previous.yaml}")
    if raw_rollback is not None:
        rb = _Fields(path, raw_rollback, ("artifact", "evaluation"), prefix="rollback.")
        evaluation = rb.text("evaluation", "eval-previous.yaml")
        rollback = Rollback(
            artifact=_optional_artifact(path, raw_rollback, "rollback.artifact"),
            evaluation=(path.parent / evaluation) if evaluation is not None else None,
        )
    return Deploy(
        path=path,
        artifact=_optional_artifact(path, data, "artifact"),
        target=target,
        environments=environments,
        rollback=rollback,
    )


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time with a time zone, or None (a naive time is ambiguous by hours)."""
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when if when.tzinfo is not None and when.utcoffset() is not None else None


# -- identity ---------------------------------------------------------------------------------


def mutable_reference(value: str, *, image: bool = False) -> str | None:
    """Why ``value`` can be moved to other bytes, or None when it is pinned (or not a place
    this reader knows: it is then reported as naming no digest, not as mutable)."""
    text = value.strip()
    if image or text.startswith("oci://") or text.startswith("docker://"):
        if _IMAGE_DIGEST.search(text):
            return None
        tag = text.rsplit("/", 1)[-1].partition(":")[2] or "latest"
        return f"a container tag ({tag!r}) can be pushed again; pin it as <image>@sha256:<64 hex>"
    hub = hub_revision(text)
    if hub is not None:
        _, rev = hub
        if rev is None:
            return "names no revision (the branch main is whatever was pushed last)"
        if not _COMMIT.match(rev.lower()):
            return f"revision {rev!r} is a branch or tag; pin the 40-hex commit"
        return None
    mlflow = _MLFLOW.match(text)
    if mlflow is not None:
        version = mlflow["version"]
        if mlflow["alias"] is not None or (version is not None and not _VERSION.match(version)):
            return "an MLflow alias or stage moves between versions; name the version number"
        if version is None:
            return "names no version"
        return None
    if text.lower().startswith(("hf://", "models:/")):
        # A Hub or MLflow reference in no form read above (`hf://org/name@main@<commit>`,
        # `models:/name/3/extra`): what it resolves to is up to whichever tool reads it.
        return (
            "not a reference of a form this gate reads; write hf://org/name@<40-hex commit> "
            "or models:/name/<version>"
        )
    parts = urlsplit(text)
    # The path, not the whole text: `s3://b/prefix/?versionId=...` is still a prefix.
    if parts.scheme in ("s3", "gs") and (parts.path.strip("/") == "" or parts.path.endswith("/")):
        return "a prefix, not an object: anything may be uploaded under it"
    if parts.scheme == "s3":
        versions = parse_qs(parts.query).get("versionId") or []
        # "null" is the version of an object written while versioning was off or suspended:
        # the next such upload overwrites it.
        if not versions or any(v == "null" for v in versions):
            return "an S3 key without ?versionId= is overwritten by the next upload"
        return None
    if parts.scheme == "gs":
        if not _VERSION.match(parts.fragment):
            return "a GCS object without #<generation> is overwritten by the next upload"
        return None
    if parts.scheme in ("az", "abfs", "abfss") or ".blob.core.windows.net" in parts.netloc:
        if parts.path.endswith("/"):
            return "a prefix, not a blob: anything may be uploaded under it"
        if not parse_qs(parts.query).get("versionid") and not parse_qs(parts.query).get(
            "versionId"
        ):
            return "an Azure blob without ?versionid= is overwritten by the next upload"
        return None
    if text.lower() in ("latest", "main", "master", "head", "stable", "production"):
        return "a name that is moved to each new release"
    return None


def hub_revision(text: str) -> tuple[str, str | None] | None:
    """``(repo, revision or None)`` of a Hub reference: ``hf://org/name[@rev][/path]`` or a
    ``https://huggingface.co/org/name[/resolve|blob|tree/rev/path]`` URL; None for anything
    else. A path after the revision names a file of that revision: the revision still decides
    which bytes it is."""
    match = _HF.match(text)
    if match is not None:
        return match["repo"], match["rev"]
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc.lower() in _HUB_HOSTS:
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) >= 2 and segments[0] in ("datasets", "spaces"):
            segments = segments[1:]
        if len(segments) < 2:
            return None
        repo = "/".join(segments[:2])
        if len(segments) >= 4 and segments[2] in ("resolve", "blob", "tree", "raw", "commit"):
            return repo, unquote(segments[3])
        return repo, None
    return None


def directory_digest(entries: Iterable[tuple[str, str]]) -> str:
    """``sha256:`` of the ``sha256sum`` listing of a directory: one line ``<hex>  <relpath>``
    per file (POSIX relative path), sorted by path, each ending in a newline.

    ``entries`` are (relpath, hex sha256) pairs. It is what
    ``find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum``
    prints in the directory (with the same files: the gate skips .git, .hg, .svn and .cache
    directories).
    """
    listing = "".join(f"{hexdigest}  {rel}\n" for rel, hexdigest in sorted(entries))
    return "sha256:" + hashlib.sha256(listing.encode("utf-8")).hexdigest()
