"""Provenance claim ``promotion``: the release evidence names the model under test, pinned.

A model's ``promotion:`` declares its release records (read by
:mod:`pytest_mlsupply.engines.promotion_records`): the evaluation report, the approval and the
deploy manifest. Each must name the artifact by content (a directory digest, file digests or the
Hub commit) and those names must agree with the model this run resolved: its commit, and the
sha256 of its files as the run's content cache holds them (each file is hashed once per process,
whichever check asks first). On top of that: no mutable reference (a branch, ``latest``, an
unversioned object-store path, a container tag); the metrics meet the declared thresholds; the
approval says who and when, after the evaluation and not in the future; the rollback target is
pinned and its own evaluation meets the same thresholds; a LoRA adapter's records bind the base's
identity as the lineage declares it; every environment records what it runs, and production is
reached only through a passed canary of this very artifact.

Every problem is its own finding; a record that cannot be read is a finding too (evidence that
cannot be read is no evidence), so the claim never passes on what it could not judge.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pytest_mlsupply.checks.base import CheckContext, Outcome, ProvenanceCheck
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.provenance_lineage import identify, read_adapter_config
from pytest_mlsupply.engines.promotion_records import (
    Approval,
    ArtifactRef,
    Deploy,
    Evaluation,
    RecordError,
    directory_digest,
    hub_revision,
    parse_time,
    read_approval,
    read_deploy,
    read_evaluation,
)
from pytest_mlsupply.manifest.model import LineageHop, PromotionDecl
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import ADAPTER_CONFIG, ResolvedModel
from pytest_mlsupply.sources.local import list_model_files

_CWE_PROVENANCE = "CWE-1357"
_CWE_INTEGRITY = "CWE-345"
_CWE_PINNING = "CWE-494"

_COMMIT = re.compile(r"^[0-9a-f]{40}$")

#: A clock on the approver's machine a little ahead of this one is not a forged date.
CLOCK_SKEW = timedelta(minutes=5)

#: Suffixes of files a loader reads as weights or runs as code: a record naming files must name
#: all of these. Pickles under any of their names, arrays, archives a loader unpacks
#: (``.nemo``, ``.tar``, ``.zip``, compressed pickles) and Python (``trust_remote_code``
#: modules): naming only the safetensors would leave a swapped ``modeling_*.py`` or
#: ``.npy`` unbound.
WEIGHT_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pt2",
    ".pth",
    ".ckpt",
    ".gguf",
    ".onnx",
    ".h5",
    ".hdf5",
    ".keras",
    ".tflite",
    ".pb",
    ".msgpack",
    ".npy",
    ".npz",
    ".pkl",
    ".pickle",
    ".dill",
    ".joblib",
    ".skops",
    ".model",
    ".nemo",
    ".mar",
    ".tar",
    ".zip",
    ".gz",
    ".tgz",
    ".bz2",
    ".xz",
    ".lzma",
    ".lz4",
    ".zst",
    ".7z",
    ".py",
    ".so",
    ".dylib",
    ".dll",
)


class _Judge:
    """Collects one model's findings; knows the model's identity as this run resolved it."""

    def __init__(self, model: ResolvedModel, ctx: CheckContext, decl: PromotionDecl) -> None:
        self.model = model
        self.ctx = ctx
        self.decl = decl
        self.findings: list[Finding] = []
        self.files = {file.relpath: file for file in model.files}
        self._hashes: dict[str, str | None] = {}
        self.errors: list[str] = []
        self.production_reached = False

    # -- output ------------------------------------------------------------------------------

    def rel(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.ctx.inventory.manifest.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def add(
        self,
        rule: str,
        severity: Severity,
        title: str,
        path: Path,
        evidence: str,
        why: str,
        remediation: str,
        cwe: str,
        key: str | None = None,
    ) -> None:
        self.findings.append(
            Finding(
                rule=rule,
                severity=severity,
                category="provenance",
                title=title,
                location=Location(file=self.rel(path), key_path=key),
                evidence=evidence,
                why=why,
                remediation=remediation,
                cwe=cwe,
            )
        )

    def unreadable(self, path: Path, exc: RecordError) -> None:
        self.add(
            "MLS-PROM-001",
            Severity.HIGH,
            "promotion record cannot be read",
            path,
            str(exc),
            "release evidence that cannot be read proves nothing about what was released",
            "rewrite the record in the documented format (docs/configuration.md, "
            "models[].promotion)",
            _CWE_PROVENANCE,
        )

    # -- the model under test ----------------------------------------------------------------

    def sha256(self, rel: str) -> str | None:
        """Hex sha256 of the model's file ``rel`` from the run's content cache (each file is
        hashed once per process, by whichever check asks first); None when it cannot be read
        (recorded as the item's error: what cannot be compared never agrees)."""
        if rel not in self._hashes:
            file = self.files[rel]
            try:
                self._hashes[rel] = self.ctx.contents.get(file.path).sha256
            except OSError as exc:
                self._hashes[rel] = None
                self.errors.append(f"cannot hash {file.subject} to compare it: {exc}")
        return self._hashes[rel]

    def disagreements(self, ref: ArtifactRef) -> list[str]:
        """How ``ref`` differs from the model under test (empty: it names this model)."""
        model = self.model
        out = []
        commit = ref.pinned_commit  # a branch under `commit:` is MLS-PROM-004's, not a mismatch
        if commit is not None:
            if model.commit is None:
                out.append(
                    f"{ref.key}.commit is {commit}; the model under test is a local "
                    "directory, not a Hub commit"
                )
            elif commit != model.commit.lower():
                out.append(f"{ref.key}.commit is {commit}; the model is at {model.commit}")
        source = model.decl.source
        if (
            ref.repo is not None
            and source is not None
            and ref.repo.lower().removeprefix("hf://") != source.repo_id.lower()
        ):
            out.append(f"{ref.key}.repo is {ref.repo}; the model is {source.repo_id}")
        hub = hub_revision(ref.uri) if ref.uri is not None else None
        if (
            hub is not None
            and hub[1] is not None
            and _COMMIT.match(hub[1].lower())
            and model.commit is not None
        ):
            # A pinned Hub uri names bytes too: for a Hub model, another commit or repository
            # than the one it resolved to is another artifact, whatever the digests beside it
            # say. (A local directory's uri is where a copy is stored: not comparable.)
            uri_repo, uri_commit = hub[0].lower(), hub[1].lower()
            if uri_commit != model.commit.lower():
                out.append(
                    f"{ref.key}.uri names commit {uri_commit}; the model is at {model.commit}"
                )
            elif source is not None and uri_repo != source.repo_id.lower():
                out.append(f"{ref.key}.uri names {uri_repo}; the model is {source.repo_id}")
        if ref.digest is not None or ref.files:
            if ref.digest is not None:
                hashes = [(rel, self.sha256(rel)) for rel in self.files]
                known = [(rel, h) for rel, h in hashes if h is not None]
                actual = directory_digest(known)
                # A file that could not be hashed is the item's error, not a mismatch.
                if len(known) == len(hashes) and ref.digest != actual:
                    out.append(f"{ref.key}.digest is {ref.digest}; the model directory is {actual}")
            for rel, pin in sorted(ref.files.items()):
                if rel not in self.files:
                    out.append(f"{ref.key}.files names {rel}, which the model does not have")
                    continue
                have = self.sha256(rel)
                if have is not None and pin != f"sha256:{have}":
                    out.append(f"{ref.key}.files.{rel} is {pin}; the model's is sha256:{have}")
            if ref.files:
                missing = [
                    rel
                    for rel in sorted(self.files)
                    if rel.lower().endswith(WEIGHT_SUFFIXES) and rel not in ref.files
                ]
                if missing:
                    out.append(
                        f"{ref.key}.files does not name the model's weights " + ", ".join(missing)
                    )
        return out

    # -- rules -------------------------------------------------------------------------------

    def identity(self, ref: ArtifactRef | None, path: Path, what: str, key: str) -> bool:
        """The record names the model under test, by content, immutably; True when it does."""
        immutable = self.immutable(ref, path, what)
        if ref is None or not ref.names_content:
            if immutable or ref is None:
                # A mutable reference is the finding that matters; "no digest" would repeat it.
                self.add(
                    "MLS-PROM-003",
                    Severity.HIGH,
                    "promotion record names no digest or commit",
                    path,
                    f"the {what} gives "
                    + ("no `artifact:`" if ref is None else f"only {ref.describe()}"),
                    "a record that does not name bytes can be reused for any model: it is no "
                    "evidence about this one",
                    f'name the artifact: `{key}: {{digest: "sha256:<64 hex>"}}` (the directory '
                    "digest), `files:` digests, or the Hub `commit:`",
                    _CWE_PROVENANCE,
                    key=key,
                )
            return False
        return self.agrees(ref, path, what) and immutable

    def agrees(self, ref: ArtifactRef, path: Path, what: str) -> bool:
        problems = self.disagreements(ref)
        if problems:
            self.add(
                "MLS-PROM-002",
                Severity.CRITICAL,
                "promotion record names another artifact",
                path,
                "; ".join(problems),
                f"the {what} is about other bytes than the model under test: what was "
                "evaluated, approved or deployed is not what this project ships",
                "re-run the evaluation and approval on this exact model, or restore the model "
                "the records name",
                _CWE_INTEGRITY,
                key=ref.key,
            )
            return False
        return True

    def immutable(self, ref: ArtifactRef | None, path: Path, what: str) -> bool:
        if ref is None:
            return False
        moving = ref.mutable()
        if not moving:
            return True
        self.add(
            "MLS-PROM-004",
            Severity.HIGH,
            "promotion record uses a mutable reference",
            path,
            "; ".join(moving),
            f"the {what} points at a name that can be moved to other bytes after it was "
            "written: the evidence would then vouch for whatever the name holds today",
            "name the artifact immutably: a 40-hex commit, sha256 digests, a versioned object "
            "(s3 ?versionId=, gs #generation) and an image @sha256 digest",
            _CWE_PINNING,
            key=ref.key,
        )
        return False

    def thresholds(self, evaluation: Evaluation, *, rollback: bool = False) -> list[str]:
        """Each threshold the evaluation misses, described; findings unless ``rollback``."""
        problems = []
        for threshold in self.decl.thresholds:
            measured = evaluation.metrics.get(threshold.metric)
            key = f"models[{self.model.name}].promotion.thresholds.{threshold.metric}"
            if measured is None:
                problems.append(f"{threshold.metric} is missing (required {threshold.text})")
                if not rollback:
                    self.add(
                        "MLS-PROM-006",
                        Severity.HIGH,
                        "evaluation lacks a required metric",
                        evaluation.path,
                        f"metrics has no {threshold.metric!r} (required {threshold.text}); it "
                        f"has: {', '.join(sorted(evaluation.metrics)) or 'none'}",
                        "a metric that was not measured was not met: the release gate cannot be "
                        "passed by leaving it out",
                        f"measure {threshold.metric} and record it under `metrics:`",
                        _CWE_PROVENANCE,
                        key=key,
                    )
            elif not threshold.met_by(measured):
                problems.append(f"{threshold.metric} is {measured:g} (required {threshold.text})")
                if not rollback:
                    self.add(
                        "MLS-PROM-005",
                        Severity.HIGH,
                        "evaluation metric misses its threshold",
                        evaluation.path,
                        f"{threshold.metric} is {measured:g}; the manifest requires "
                        f"{threshold.text}",
                        "the model does not meet the quality bar declared for its release",
                        "improve the model and re-evaluate it; change the threshold only after "
                        "review",
                        _CWE_PROVENANCE,
                        key=key,
                    )
        return problems

    def approval(self, approval: Approval, evaluation: Evaluation | None) -> dict[str, Any]:
        missing = []
        if not approval.approved_by:
            missing.append("approved_by is missing")
        else:
            missing += [
                f"approved_by {name!r} is a placeholder, not a person"
                for name in approval.approvers
                if _placeholder(name)
            ]
        when = _timestamp(approval.approved_at)
        if approval.approved_at is None:
            missing.append("approved_at is missing")
        elif when is None:
            missing.append(
                f"approved_at {approval.approved_at!r} is not an ISO 8601 time with a time zone"
            )
        if missing:
            self.add(
                "MLS-PROM-007",
                Severity.HIGH,
                "approval does not say who approved and when",
                approval.path,
                "; ".join(missing),
                "an approval without an accountable person and a time cannot be audited or "
                "ordered against the evaluation it approves",
                'write approved_by: "Name <email>" and approved_at: "2026-11-21T10:00:00+01:00" '
                "(a time zone is required)",
                _CWE_PROVENANCE,
            )
        evaluated = _timestamp(evaluation.evaluated_at) if evaluation is not None else None
        if when is not None and evaluation is not None:
            now = datetime.now(UTC)
            problem = None
            if evaluated is None:
                problem = (
                    f"the evaluation's evaluated_at {evaluation.evaluated_at!r} is not an ISO "
                    "8601 time with a time zone, so the approval cannot be shown to follow it"
                )
            elif when <= evaluated:
                problem = (
                    f"approved_at {approval.approved_at} is not after the evaluation's "
                    f"evaluated_at {evaluation.evaluated_at}"
                )
            elif when > now + CLOCK_SKEW:
                problem = f"approved_at {approval.approved_at} is in the future (now {now:%Y-%m-%dT%H:%M:%SZ})"
            if problem is not None:
                self.add(
                    "MLS-PROM-008",
                    Severity.HIGH,
                    "approval is not newer than the evaluation",
                    approval.path,
                    problem,
                    "an approval given before the evaluation it rests on (or dated in the future) "
                    "approved something other than these results",
                    "approve after the evaluation, recording the real time of the approval",
                    _CWE_PROVENANCE,
                )
        return {"approved_by": approval.approved_by, "approved_at": approval.approved_at}

    def rollback(self, deploy: Deploy) -> dict[str, Any] | None:
        rollback = deploy.rollback
        if rollback is None:
            return None
        ref = rollback.artifact
        moving = ref.mutable() if ref is not None else []
        if ref is None or not ref.names_content or moving:
            self.add(
                "MLS-PROM-009",
                Severity.HIGH,
                "rollback target is not pinned",
                deploy.path,
                "; ".join(moving)
                or (
                    "rollback gives no `artifact:`"
                    if ref is None
                    else f"rollback.artifact gives only {ref.describe()}"
                ),
                "a rollback to a moving name restores whatever the name holds at the worst "
                "moment, unevaluated",
                'pin it: `rollback: {artifact: {digest: "sha256:<64 hex>"}, evaluation: '
                "<its report>}`",
                _CWE_PINNING,
                key="rollback.artifact",
            )
            return {"artifact": ref.facts() if ref is not None else None}
        problems: list[str] = []
        if rollback.evaluation is None:
            problems.append("rollback gives no `evaluation:` report")
        else:
            try:
                evaluation = read_evaluation(rollback.evaluation)
            except RecordError as exc:
                problems.append(str(exc))
            else:
                if evaluation.artifact is None or not _same(ref, evaluation.artifact):
                    problems.append(
                        f"its evaluation {self.rel(rollback.evaluation)} names "
                        + (evaluation.artifact.describe() if evaluation.artifact else "nothing")
                        + f", not the rollback target ({ref.describe()})"
                    )
                if evaluation.artifact is not None and evaluation.artifact.mutable():
                    problems.extend(evaluation.artifact.mutable())
                problems += self.thresholds(evaluation, rollback=True)
        # The same model in another serving image is a real rollback (of the image); the same
        # model in the same (or no) image restores nothing.
        images = {
            a.image
            for a in [deploy.artifact, *(e.artifact for e in deploy.environments.values())]
            if a is not None and a.image is not None
        }
        if (ref.image is None or ref.image in images) and not self.disagreements(ref):
            problems.append(
                f"the rollback target ({ref.describe()}) is the release itself: rolling back "
                "to it restores nothing"
            )
        if problems:
            self.add(
                "MLS-PROM-010",
                Severity.HIGH,
                "rollback target does not pass the release checks",
                deploy.path,
                "; ".join(problems),
                "a rollback target is a release too: restoring a model that was never evaluated "
                "to the same bar replaces one incident with another",
                "evaluate the rollback target with the same thresholds and name it by the same "
                "digest in both records",
                _CWE_PROVENANCE,
                key="rollback",
            )
        return {"artifact": ref.facts()}

    def lora(self, records: list[tuple[ArtifactRef | None, Path, str]]) -> None:
        """An adapter's records bind the base (as the lineage claim reads it) and the adapter."""
        root = self.model.root
        if root is None or not (root / ADAPTER_CONFIG).is_file():
            return
        lineage = self.model.decl.lineage
        parent: LineageHop | None = lineage.parent if lineage is not None else None
        for ref, path, what in records:
            if ref is None or not ref.names_content:
                continue  # MLS-PROM-003 already says it names nothing
            base = ref.base
            moving = base.mutable() if base is not None else []
            if base is None or not base.names_content or moving:
                self.add(
                    "MLS-PROM-011",
                    Severity.HIGH,
                    "adapter release does not bind its base model",
                    path,
                    f"the {what} names the adapter ({ref.describe()}) but "
                    + ("; ".join(moving) if moving else "no `base:` digest or commit"),
                    "an adapter is released together with the exact base weights it was "
                    "evaluated on; naming only the adapter lets it ship on another base",
                    f'add `{ref.key}.base: {{files: {{model.safetensors: "sha256:<64 hex>"}}}}` '
                    "(or the base's Hub `commit:`)",
                    _CWE_INTEGRITY,
                    key=f"{ref.key}.base",
                )
                continue
            problems = self.base_disagreements(base, parent)
            if problems:
                self.add(
                    "MLS-PROM-012",
                    Severity.CRITICAL,
                    "adapter release names another base than the lineage",
                    path,
                    "; ".join(problems),
                    "the release was evaluated or approved on another base than the one the "
                    "project declares the adapter is applied to",
                    "make the record's `base:` and the manifest's `lineage:` name the same "
                    "base weights, after establishing which base was really used",
                    _CWE_INTEGRITY,
                    key=base.key,
                )

    def base_disagreements(self, base: ArtifactRef, parent: LineageHop | None) -> list[str]:
        out = []
        if parent is not None:
            declared = f"the manifest's {parent.key}"
            for rel, pin in sorted(base.files.items()):
                bound = parent.files.get(rel)
                if bound is not None and bound != pin:
                    out.append(f"{base.key}.files.{rel} is {pin}; {declared} binds {bound}")
            if base.files:
                unbound = [
                    rel
                    for rel in sorted(parent.files)
                    if rel.lower().endswith(WEIGHT_SUFFIXES) and rel not in base.files
                ]
                if unbound:
                    out.append(
                        f"{base.key}.files does not name the base's weights "
                        + ", ".join(unbound)
                        + f" that {declared} pins"
                    )
            if (
                parent.sha256 is not None
                and base.files
                and parent.sha256 not in base.files.values()
            ):
                out.append(f"{declared} binds {parent.sha256}, which {base.key}.files lacks")
            revision = parent.revision
            if (
                base.pinned_commit
                and revision is not None
                and base.pinned_commit != revision.lower()
            ):
                out.append(f"{base.key}.commit is {base.commit}; {declared} is at {revision}")
            if (
                base.repo is not None
                and parent.repo is not None
                and base.repo.lower().removeprefix("hf://") != parent.repo.lower()
            ):
                out.append(f"{base.key}.repo is {base.repo}; {declared} is {parent.repo}")
            # Nothing contradicting is not enough: the record's base must agree with something
            # the lineage pins (a file digest, the single sha256 or the commit), or any digest
            # at all would "bind" it.
            pinned_revision = (
                revision if revision is not None and _COMMIT.match(revision.lower()) else None
            )
            confirmed = (
                any(parent.files.get(rel) == pin for rel, pin in base.files.items())
                or (parent.sha256 is not None and parent.sha256 in base.files.values())
                or (
                    base.pinned_commit is not None
                    and pinned_revision is not None
                    and base.pinned_commit == pinned_revision.lower()
                )
            )
            offers = bool(parent.files or parent.sha256 or pinned_revision)
            if not out and offers and not confirmed:
                pins = []
                if parent.files:
                    pins.append("files " + ", ".join(sorted(parent.files)))
                if parent.sha256:
                    pins.append(f"sha256 {parent.sha256}")
                if pinned_revision:
                    pins.append(f"commit {pinned_revision}")
                out.append(
                    f"{base.key} ({base.describe()}) agrees with nothing {declared} pins "
                    f"({'; '.join(pins)}): it cannot be shown to be that base"
                )
            return out
        # No lineage declared: the adapter config is the only witness of the base.
        assert self.model.root is not None
        try:
            config = read_adapter_config(self.model.root / ADAPTER_CONFIG)
        except (OSError, ValueError):
            return out  # the lineage claim reports an unreadable config (MLS-LIN-006)
        named = identify(config.base, config.revision)
        if (
            base.pinned_commit is not None
            and named.revision is not None
            and base.pinned_commit != named.revision
        ):
            out.append(
                f"{base.key}.commit is {base.commit}; {ADAPTER_CONFIG} names revision "
                f"{named.revision}"
            )
        if (
            base.repo is not None
            and named.repo is not None
            and base.repo.lower().removeprefix("hf://") != named.repo
        ):
            out.append(f"{base.key}.repo is {base.repo}; {ADAPTER_CONFIG} names {named.repo}")
        return out

    def environments(self, deploy: Deploy) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        for name, env in deploy.environments.items():
            ref = env.artifact
            moving = ref.mutable() if ref is not None else []
            facts[name] = {"artifact": ref.facts() if ref else None, "status": env.status}
            if ref is None or not ref.names_content or moving:
                self.add(
                    "MLS-PROM-013",
                    Severity.HIGH,
                    "environment does not record the exact artifact it runs",
                    deploy.path,
                    "; ".join(moving)
                    or f"environments.{name} gives "
                    + ("no `artifact:`" if ref is None else f"only {ref.describe()}"),
                    "an environment that does not record the bytes it serves cannot show that "
                    "what was canaried is what reached production",
                    f'record it: `environments.{name}.artifact: {{digest: "sha256:<64 hex>"}}` '
                    "(and an image @sha256 digest)",
                    _CWE_PROVENANCE,
                    key=f"environments.{name}.artifact",
                )
                continue
            # Canary and shadow try this release; production runs it once promoted there.
            if name != "production" or deploy.target == "production":
                self.agrees(ref, deploy.path, f"{name} environment record")
        production = deploy.environments.get("production")
        # Production is reached when the target says so, or when production already records
        # this artifact (a deploy that says `target: canary` is then not to be believed).
        runs_here = (
            production is not None
            and production.artifact is not None
            and production.artifact.names_content
            and not production.artifact.mutable()
            and not self.disagreements(production.artifact)
        )
        if deploy.target == "production" or runs_here:
            self.production_reached = True
            canary = deploy.environments.get("canary")
            problem = None
            if canary is None:
                problem = "the deploy manifest has no environments.canary record"
            elif (canary.status or "").lower() != "passed":
                problem = f"environments.canary.status is {canary.status!r}, not 'passed'"
            elif (
                canary.artifact is None
                or not canary.artifact.names_content
                or canary.artifact.mutable()
                or self.disagreements(canary.artifact)
            ):
                problem = "the canary that passed did not run this exact artifact"
            else:
                problem = _canary_order(canary.at, production.at if production else None)
            if problem is not None and deploy.target != "production":
                problem = (
                    f"environments.production runs this artifact (the target says "
                    f"{deploy.target}); {problem}"
                )
            if problem is not None:
                self.add(
                    "MLS-PROM-014",
                    Severity.CRITICAL,
                    "promotion to production without a passed canary",
                    deploy.path,
                    problem,
                    "a model reaching all traffic without a passed canary of the same bytes "
                    "was never tried on real traffic",
                    "deploy this artifact to canary first and record "
                    "`environments.canary: {artifact: ..., status: passed, at: ...}`",
                    _CWE_PROVENANCE,
                    key="environments.canary",
                )
        return facts

    def release_order(
        self, deploy: Deploy, evaluation: Evaluation | None, approval: Approval | None
    ) -> None:
        """Production is reached after the evaluation and the approval, not before them."""
        production = deploy.environments.get("production")
        production_at = production.at if production is not None else None
        reached = _timestamp(production_at)
        if not self.production_reached or reached is None:
            return
        problems: list[str] = []
        times = []
        if evaluation is not None:
            times.append(("evaluation", "evaluated_at", evaluation.evaluated_at))
        if approval is not None and approval.approved_at is not None:
            times.append(("approval", "approved_at", approval.approved_at))
        for what, key, text in times:
            when = _timestamp(text)
            if when is not None and reached < when:
                problems.append(
                    f"environments.production.at {production_at} is before the {what} "
                    f"({key} {text})"
                )
        if problems:
            self.add(
                "MLS-PROM-015",
                Severity.HIGH,
                "production was reached before the release was evaluated and approved",
                deploy.path,
                "; ".join(problems),
                "a release serving all traffic before its evaluation or approval existed was "
                "promoted without them: the records were written after the fact",
                "evaluate and approve before promoting to production, recording the real times",
                _CWE_PROVENANCE,
                key="environments.production.at",
            )


_timestamp = parse_time


#: What an approver field holds when nobody was named.
_PLACEHOLDERS = frozenset(
    {"tbd", "tba", "todo", "n/a", "na", "none", "null", "nil", "nobody", "unknown", "-", "?",
     "x", "xxx", "someone", "anyone", "approver", "name"}
)  # fmt: skip


def _placeholder(text: str) -> bool:
    return text.strip().strip("<>\"'").strip().lower() in _PLACEHOLDERS


def _canary_order(canary_at: str | None, production_at: str | None) -> str | None:
    """Why the canary's time does not show it passed before production, or None."""
    if canary_at is None:
        return None
    canary = _timestamp(canary_at)
    if canary is None:
        return f"environments.canary.at {canary_at!r} is not an ISO 8601 time with a time zone"
    now = datetime.now(UTC)
    if canary > now + CLOCK_SKEW:
        return f"environments.canary.at {canary_at} is in the future"
    production = _timestamp(production_at)
    if production_at is not None and production is None:
        return (
            f"environments.production.at {production_at!r} is not an ISO 8601 time with a "
            "time zone, so the canary cannot be shown to precede it"
        )
    if production is not None and canary >= production:
        return (
            f"environments.canary.at {canary_at} is not before environments.production.at "
            f"{production_at}: production was reached before the canary passed"
        )
    return None


def _same(a: ArtifactRef, b: ArtifactRef) -> bool:
    """Whether two records name the same artifact: what both give agrees, and they share one."""
    shared = False
    for name in ("digest", "pinned_commit"):
        x, y = getattr(a, name), getattr(b, name)
        if x is not None and y is not None:
            if x != y:
                return False
            shared = True
    if a.files and b.files:
        # Both name files: those both name agree, and both name the same weight and code
        # files, at least one. Sharing a config (common to every model of an architecture)
        # is not naming the same model.
        for rel in set(a.files) & set(b.files):
            if a.files[rel] != b.files[rel]:
                return False
        loaded = {rel for rel in {**a.files, **b.files} if rel.lower().endswith(WEIGHT_SUFFIXES)}
        if not loaded or any(rel not in a.files or rel not in b.files for rel in loaded):
            return False
        shared = True
    return shared


def run(model: ResolvedModel, ctx: CheckContext) -> Outcome:
    decl = model.decl.promotion
    assert decl is not None
    if model.error is not None or model.root is None:
        return Outcome(error=model.error or "the model could not be resolved")
    judge = _Judge(model, ctx, decl)
    facts: dict[str, Any] = {}
    records: list[tuple[ArtifactRef | None, Path, str]] = []

    evaluation: Evaluation | None = None
    if decl.evaluation is not None:
        try:
            evaluation = read_evaluation(decl.evaluation)
        except RecordError as exc:
            judge.unreadable(decl.evaluation, exc)
        else:
            judge.identity(evaluation.artifact, evaluation.path, "evaluation report", "artifact")
            judge.thresholds(evaluation)
            records.append((evaluation.artifact, evaluation.path, "evaluation report"))
            facts["evaluation"] = {
                "file": judge.rel(evaluation.path),
                "evaluated_at": evaluation.evaluated_at,
                "metrics": dict(evaluation.metrics),
            }
    approval: Approval | None = None
    if decl.approval is not None:
        try:
            approval = read_approval(decl.approval)
        except RecordError as exc:
            judge.unreadable(decl.approval, exc)
        else:
            judge.identity(approval.artifact, approval.path, "approval", "artifact")
            facts["approval"] = judge.approval(approval, evaluation)
            records.append((approval.artifact, approval.path, "approval"))
    if decl.deploy is not None:
        try:
            deploy = read_deploy(decl.deploy)
        except RecordError as exc:
            judge.unreadable(decl.deploy, exc)
        else:
            judge.identity(deploy.artifact, deploy.path, "deploy manifest", "artifact")
            records.append((deploy.artifact, deploy.path, "deploy manifest"))
            facts["deploy"] = {
                "file": judge.rel(deploy.path),
                "target": deploy.target,
                "environments": judge.environments(deploy),
                "rollback": judge.rollback(deploy),
            }
            # An adapter's environments running this release run it on a base: each records
            # which (a canary of the adapter on another base is not a canary of this release).
            for name, env in deploy.environments.items():
                if name != "production" or judge.production_reached:
                    records.append((env.artifact, deploy.path, f"{name} environment record"))
            judge.release_order(deploy, evaluation, approval)
    judge.lora(records)
    if decl.thresholds:
        facts["thresholds"] = {t.metric: t.text for t in decl.thresholds}
    # What was found stands; a file of the model that could not be hashed keeps it from passing.
    return Outcome(
        findings=judge.findings,
        facts={"promotion": facts},
        error="; ".join(dict.fromkeys(judge.errors)) or None,
    )


CHECK = ProvenanceCheck(
    name="promotion",
    kind=RowKind.PROVENANCE,
    summary="the evaluation, approval and deploy records name this exact model by digest, meet "
    "the thresholds, and reach production only through a passed canary",
    run=run,
    # When it applies (a declared promotion) is its registry line's call.
)


def print_directory_digest(argv: list[str]) -> int:
    """``python -m pytest_mlsupply.checks.provenance_promotion MODEL_DIR``: the directory digest
    a record names the model by, over the files the gate lists (hidden files included)."""
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m pytest_mlsupply.checks.provenance_promotion MODEL_DIR")
        return 2
    root = Path(argv[0])
    cache = ContentCache()
    files = list_model_files(root.name, root, {})
    print(directory_digest((f.relpath, cache.get(f.path).sha256) for f in files))
    return 0


if __name__ == "__main__":  # pragma: no cover - a command-line convenience
    raise SystemExit(print_directory_digest(sys.argv[1:]))
