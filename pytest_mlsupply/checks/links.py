"""Files of a local model that a symbolic link leads outside its directory (``MLS-SRC-002``).

The directory walk (:func:`pytest_mlsupply.sources.local.list_model_files`) follows links, as a
loader does, so what a link leads to is checked; but what ships with the model (a copy of its
directory, an image layer, an upload) is the link, not the file outside: the gate would vouch
for bytes the deployment may never hold, or hold other ones. Hub snapshots are links into the
cache's blob store by design and are not judged here (their bytes are compared with the Hub's
record by the ``hub`` check).

Hard links are not judged: a second name of a file is the same bytes, whose identity (device,
inode, size, times) keys the content cache, so a write through either name is seen; a hard link
cannot be told to lead "outside" without scanning every file system for its other names.
"""

from __future__ import annotations

import os

from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.results import Finding, Location, Severity
from pytest_mlsupply.sources.inventory import ArtifactFile


def escaping_link(file: ArtifactFile, ctx: CheckContext) -> Finding | None:
    """The finding of a local model's file reached through a link leading out of its folder."""
    model = next((m for m in ctx.inventory.models if m.decl.name == file.model), None)
    if model is None or model.root is None or model.decl.source is not None:
        return None  # not a local model: a hub snapshot's files are links into the cache
    root = os.path.realpath(model.root)
    target = os.path.realpath(file.path)
    if target == root or target.startswith(root.rstrip(os.sep) + os.sep):
        return None
    return Finding(
        rule="MLS-SRC-002",
        severity=Severity.HIGH,
        category="supply-chain",
        title="a symbolic link leads outside the model directory",
        location=Location(file=file.subject),
        evidence=f"{file.relpath} leads to {target}, outside {root}",
        why="the gate checks the file the link leads to on this machine, but what ships with "
        "the model is the link: another machine resolves it to other bytes, or to none",
        remediation="replace the link with the file itself (or remove it), so the model "
        "directory holds everything it ships",
        cwe="CWE-59",
    )
