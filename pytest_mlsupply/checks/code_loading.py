"""Code check ``code``: one file of the project's own code judged for unsafe model loading.

The judging is the project-code engine's (:mod:`pytest_mlsupply.engines.project_code`, the same
one ``mlsupply code`` runs); this check only puts it in an item. A file the engine cannot read or
parse is the item's error, never a pass. Findings suppressed in the source
(``# mlsupply: ignore[RULE] -- reason``) arrive accepted and stay listed. The file's SHA-256 is
a fact, so the ML-BOM names exactly which code was judged.
"""

from __future__ import annotations

from pytest_mlsupply.checks.base import Check, CheckContext, Outcome
from pytest_mlsupply.results import RowKind
from pytest_mlsupply.sources.code import CodeFile


def run(file: CodeFile, ctx: CheckContext) -> Outcome:
    # Imported on first run: a gate without `code:` never loads the engine.
    from pytest_mlsupply.engines.project_code import analyse_file

    analysis = analyse_file(file.path, display=file.subject)
    # The digest of the bytes the engine judged; none when it could not read them (its error).
    facts: dict[str, object] = {"sha256": analysis.sha256} if analysis.sha256 else {}
    return Outcome(findings=list(analysis.findings), facts=facts, error=analysis.error)


CHECK: Check[CodeFile] = Check(
    name="code",
    kind=RowKind.CODE,
    summary="the project's code loads models, pickles and templates safely (MLS-LOAD rules)",
    run=run,
)
