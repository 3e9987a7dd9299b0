"""Manifest keys a user can declare that no check reads yet: reported, never passed in silence.

The manifest accepts (and validates) sections whose checks come in later issues. Until then a
declaration such as ``policy.licenses: {deny_restrictions: [non-commercial]}`` would let a
non-commercial model pass without a word; instead each declared-but-unchecked key is listed in
the terminal summary and in the matrix as "declared, not checked".

:data:`UNCHECKED` is the one place to update: when a check starts reading a key, delete its
entry (the test suite pins the list, so the deletion is a deliberate, reviewed change).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pytest_mlsupply.manifest.model import Manifest

__all__ = ["UNCHECKED", "DeclaredKey", "Unchecked", "declared_not_checked"]


@dataclass(frozen=True)
class DeclaredKey:
    """One declared key that no check reads, where it is declared, and what it would check."""

    key: str
    """The key path with the model's name, e.g. ``models[sentiment].signature``."""
    where: str | None
    """``file:line:column`` of the declaration (of its model, for model keys), when known."""
    meaning: str
    """What a check of this key will verify, so the reader knows what is *not* verified."""

    def describe(self) -> str:
        at = f" ({self.where})" if self.where else ""
        return f"{self.key}{at}: {self.meaning}"

    def to_dict(self) -> dict[str, str]:
        out = {"key": self.key, "meaning": self.meaning}
        if self.where:
            out["where"] = self.where
        return out


@dataclass(frozen=True)
class Unchecked:
    """A manifest key no check reads yet, and how to find its declarations."""

    key: str
    """The key path as the documentation spells it (``models[].signature``)."""
    meaning: str
    declared: Callable[[Manifest], Iterator[tuple[str, str | None]]]
    """The concrete declarations in a manifest: (key path with names, where)."""


def _model_key(
    attribute: str, key: str, is_set: Callable[[object], bool] = bool
) -> Callable[[Manifest], Iterator[tuple[str, str | None]]]:
    def declared(manifest: Manifest) -> Iterator[tuple[str, str | None]]:
        for model in manifest.models:
            if is_set(getattr(model, attribute)):
                # The manifest's own name, not its absolute path: reports stay the same on
                # every checkout.
                span = model.span
                yield f"models[{model.name}].{key}", f"{span.file.name}:{span.line}:{span.column}"

    return declared


def _top_key(key: str) -> Callable[[Manifest], Iterator[tuple[str, str | None]]]:
    def declared(manifest: Manifest) -> Iterator[tuple[str, str | None]]:
        if getattr(manifest, key):
            yield key, None

    return declared


#: Keys the manifest accepts that no check reads yet. Delete an entry when its check lands.
UNCHECKED: tuple[Unchecked, ...] = (
    Unchecked("monitor", "watched by `mlsupply watch`, not by the gate", _top_key("monitor")),
)


def declared_not_checked(
    manifest: Manifest, unchecked: tuple[Unchecked, ...] = UNCHECKED
) -> list[DeclaredKey]:
    """Every declaration in ``manifest`` of a key that no check reads yet, in catalogue order."""
    return [
        DeclaredKey(key=key, where=where, meaning=entry.meaning)
        for entry in unchecked
        for key, where in entry.declared(manifest)
    ]
