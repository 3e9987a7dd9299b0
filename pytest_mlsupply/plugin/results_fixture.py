"""``mlsupply_results``: the session's supply-chain results as plain data a test can assert on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.plugin.verification import Verification
from pytest_mlsupply.results import CheckResult, Finding, Severity, Verdict
from pytest_mlsupply.sources.inventory import ResolvedModel


@dataclass(frozen=True)
class ModelInfo:
    """What the session knows about one model, manifest-declared or marked."""

    name: str
    source: str
    """``hf://org/name@commit``, or the local directory."""
    root: Path | None
    """The local snapshot (None when the model could not be resolved)."""
    files: tuple[str, ...]
    """Relative paths of the files that were checked."""
    error: str | None
    origin: str
    """``manifest`` or ``marker``."""


@dataclass(frozen=True)
class ManifestResults:
    """The manifest's part: what ``pytest --mlsupply`` would generate, run in this process."""

    plan: list[PlannedItem]
    results: list[CheckResult]
    models: list[ResolvedModel]


class SupplyChainResults:
    """The results of the manifest's checks and of the marked models verified in this process.

    The manifest's checks run once, on first use (the same engine as the generated items);
    marked models appear as soon as a test carrying their marker has been set up, which always
    includes the requesting test's own markers.
    """

    def __init__(
        self,
        manifest_part: Callable[[], ManifestResults],
        marked: Callable[[], Sequence[Verification]],
        threshold: Callable[[], Severity],
    ) -> None:
        self._manifest_part = manifest_part
        self._manifest: ManifestResults | None = None
        self._marked = marked
        self._threshold = threshold

    def _computed(self) -> ManifestResults:
        if self._manifest is None:
            self._manifest = self._manifest_part()
        return self._manifest

    @property
    def threshold(self) -> Severity:
        """Findings at or above this severity fail their check."""
        return self._threshold()

    @property
    def results(self) -> list[CheckResult]:
        """Every check result, one per (kind, subject, check); manifest items win over markers."""
        seen: set[tuple[str, str, str]] = set()
        out: list[CheckResult] = []
        marked = [r for v in self._marked() for r in v.check_results()]
        for result in [*self._computed().results, *marked]:
            key = (result.kind.value, result.subject, result.check)
            if key not in seen:
                seen.add(key)
                out.append(result)
        return out

    def verdicts(self, subject: str | None = None) -> dict[str, Verdict]:
        """``{"<subject>::<check>": verdict}``, or ``{check: verdict}`` for one subject.

        Subjects are matrix rows: ``model/relpath``, ``name==version``, or a model name.
        """
        threshold = self.threshold
        if subject is not None:
            return {r.check: r.verdict(threshold) for r in self.results if r.subject == subject}
        return {f"{r.subject}::{r.check}": r.verdict(threshold) for r in self.results}

    def findings(
        self,
        subject: str | None = None,
        *,
        check: str | None = None,
        min_severity: Severity = Severity.INFO,
    ) -> list[Finding]:
        """Findings, optionally of one subject (or every file of a model) and one check."""
        out: list[Finding] = []
        for result in self.results:
            if subject is not None and not (
                result.subject == subject or result.subject.startswith(subject + "/")
            ):
                continue
            if check is not None and result.check != check:
                continue
            out.extend(f for f in result.findings if f.severity >= min_severity)
        return out

    def failing(self) -> list[str]:
        """``"<subject>::<check>"`` of every check that failed or could not run."""
        return sorted(
            key
            for key, verdict in self.verdicts().items()
            if verdict in (Verdict.FAIL, Verdict.ERROR)
        )

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(sorted(self._models()))

    def model(self, name: str) -> ModelInfo:
        """The named model; raises ``KeyError`` naming the known ones."""
        models = self._models()
        if name not in models:
            raise KeyError(f"no model named {name!r}; known: {', '.join(sorted(models)) or '-'}")
        return models[name]

    def _models(self) -> dict[str, ModelInfo]:
        out: dict[str, ModelInfo] = {}
        for model in self._computed().models:
            out[model.name] = ModelInfo(
                name=model.name,
                source=model.decl.source_text,
                root=model.root,
                files=tuple(f.relpath for f in model.files),
                error=model.error,
                origin="manifest",
            )
        for verification in self._marked():
            held = out.get(verification.name)
            files = {f["relpath"] for f in verification.files}
            if held is not None:
                files |= set(held.files)
            out[verification.name] = ModelInfo(
                name=verification.name,
                source=held.source if held is not None else verification.source,
                root=Path(verification.root) if verification.root is not None else None,
                files=tuple(sorted(files)),
                error=verification.error,
                origin=held.origin if held is not None else "marker",
            )
        return out
