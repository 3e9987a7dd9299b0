"""What a check is: a named function from a subject (and policy) to findings and facts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pytest_mlsupply.checks.content import ContentCache, FileContent
from pytest_mlsupply.manifest.model import DatasetDecl, Policy
from pytest_mlsupply.results import Finding, RowKind
from pytest_mlsupply.sources.inventory import ArtifactFile, Dependency, Inventory, ResolvedModel

S = TypeVar("S")

Audience = Literal["plugin", "cli"]
"""Who reads a check's messages: the plugin's users fix things in ``mlsupply.yaml`` (its keys
are the words they know); ``mlsupply scan`` users have paths and command-line flags."""


@dataclass
class Outcome:
    """What a check returns; the runner turns it into a :class:`CheckResult`."""

    findings: list[Finding] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class CheckContext:
    policy: Policy
    inventory: Inventory
    contents: ContentCache
    subjects: dict[tuple[RowKind, str], object] = field(
        default_factory=dict, compare=False, repr=False
    )
    """(kind, subject) → the inventory object it names; filled once by the runner, so finding
    an item's subject costs a dict lookup rather than a walk over every model's files."""
    audience: Audience = "plugin"

    def says(self, *, plugin: str, cli: str) -> str:
        """The wording for this audience: one check, two vocabularies, no forked logic."""
        return cli if self.audience == "cli" else plugin


@dataclass(frozen=True)
class Check(Generic[S]):
    """A named check over subjects of type ``S``.

    ``applies`` lets a check skip subjects it has nothing to say about (the matrix cell stays
    blank rather than a vacuous pass). A provenance claim leaves it to its line in
    :mod:`pytest_mlsupply.checks.registry`, which the planner asks without importing the claim.
    """

    name: str
    kind: RowKind
    summary: str
    run: Callable[[S, CheckContext], Outcome]
    applies: Callable[[S], bool] = lambda _subject: True


def artifact_content(file: ArtifactFile, ctx: CheckContext) -> FileContent:
    """The shared, once-per-process read of an artifact's bytes."""
    return ctx.contents.get(file.path)


ArtifactCheck = Check[ArtifactFile]
DependencyCheck = Check[Dependency]
ProvenanceCheck = Check[ResolvedModel]
DatasetCheck = Check[DatasetDecl]
"""A claim about a declared dataset: a provenance item ``provenance[<dataset>::<claim>]``."""
