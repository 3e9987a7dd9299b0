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
        hop = _leaving_link(str(model.root), str(file.path))
        if hop is None:
            return None
        # It ends inside on this machine, but through a link that does not stay inside:
        # absolute (a copy of the folder elsewhere leads to other bytes) or out and back.
        evidence = f"{file.relpath} is reached through {hop}, which leaves {root}"
    else:
        evidence = f"{file.relpath} leads to {target}, outside {root}"
    return Finding(
        rule="MLS-SRC-002",
        severity=Severity.HIGH,
        category="supply-chain",
        title="a symbolic link leads outside the model directory",
        location=Location(file=file.subject),
        evidence=evidence,
        why="the gate checks the file the link leads to on this machine, but what ships with "
        "the model is the link: another machine resolves it to other bytes, or to none",
        remediation="replace the link with the file itself (or remove it), so the model "
        "directory holds everything it ships",
        cwe="CWE-59",
    )


#: Links followed on the way to one file before it counts as a loop (the kernel's ELOOP is 40).
_MAX_HOPS = 40


def _leaving_link(root: str, path: str) -> str | None:
    """The first link on the way from ``root`` to ``path`` that leaves ``root`` as written: an
    absolute target, or a relative one that climbs above ``root`` (through a sibling folder and
    back, say). Links are followed one at a time, as the system resolves them; None when every
    link stays inside, which is what a copy of the folder keeps working with."""
    relative = os.path.relpath(path, root)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        return None  # not below the root as written: the caller's realpath check judges it
    pending = relative.split(os.sep)
    inside: list[str] = []  # the components resolved so far, none of them a link
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", os.curdir):
            continue
        if part == os.pardir:
            if not inside:
                return "a '..' above the model directory"
            inside.pop()
            continue
        here = os.path.join(root, *inside, part)
        if not os.path.islink(here):
            inside.append(part)
            continue
        hops += 1
        shown = os.path.join(*inside, part)
        if hops > _MAX_HOPS:
            return f"more than {_MAX_HOPS} links (at {shown})"
        target = os.readlink(here)
        if os.path.isabs(target):
            return f"the link {shown} -> {target} (absolute)"
        if not _stays_below(len(inside), target):
            return f"the link {shown} -> {target}"
        pending = target.split(os.sep) + pending
    return None


def _stays_below(depth: int, target: str) -> bool:
    """Whether a relative link ``depth`` folders below the root never climbs above it (even to
    come back: ``../m/file`` depends on the folder's own name)."""
    for step in target.split(os.sep):
        if step == os.pardir:
            depth -= 1
            if depth < 0:
                return False
        elif step not in ("", os.curdir):
            depth += 1
    return True
