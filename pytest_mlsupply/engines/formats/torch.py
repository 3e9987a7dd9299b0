"""PyTorch checkpoints: zip (``torch.save`` ≥ 1.6 and TorchScript) and the legacy tar format.

A zip checkpoint is read the way torch's ``PyTorchFileReader`` reads it — central directory,
data at the local header's offset, CRCs and flag bits ignored — so an archive that breaks
:mod:`zipfile` (and the scanners built on it) but loads in torch is still scanned, and the
inconsistency itself is reported (MLS-TORCH-0xx). Every member whose content is a pickle is
scanned, whatever its name; tensor storages (``<archive>/data/<n>``) are skipped after a look at
their first bytes, using the archive's own offsets, so a multi-GB checkpoint costs a few reads.
TorchScript sources (``code/``) are parsed, never run, for calls that reach outside the model.

The legacy tar format (``sys_info``, ``pickle``, ``storages``, ``tensors``) holds pickles in every
member, interleaved with raw tensor data in ``storages`` and ``tensors``: its layout is followed
so that each of them is scanned.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import struct
import tarfile
import zlib
from typing import Any, BinaryIO

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.budget import OverBudget
from pytest_mlsupply.engines.containers import (
    bomb_finding,
    budget_spent,
    read_directory,
    scan_member,
    scan_pickle_region,
    tar_member_findings,
    tar_member_over_limits,
    too_large_finding,
    traversal_finding,
    unsafe_member_name,
    zip_symlink_findings,
)
from pytest_mlsupply.engines.formats.pickles import looks_like_pickle
from pytest_mlsupply.engines.formats.torch_weights_only import (
    with_legacy_tar_note,
    with_weights_only_notes,
)
from pytest_mlsupply.engines.identification import Family, Format, Identification, hex_bytes
from pytest_mlsupply.engines.pickle import PicklePolicy, scan_pickle_bytes
from pytest_mlsupply.engines.pickle.decoder import DecodeError
from pytest_mlsupply.engines.pickle.scan import PickleScan
from pytest_mlsupply.engines.pickle.torch_legacy import (
    ELEMENT_SIZES,
    LegacyLayoutError,
    pickle_end,
    walk_legacy,
)
from pytest_mlsupply.engines.pickle.values import Global, SymList, describe
from pytest_mlsupply.engines.ziparchive import (
    ZipDirectory,
    ZipEntry,
    ZipListing,
    ZipReadError,
    read_zip_member,
    zip_structure_problems,
)
from pytest_mlsupply.results import Finding, Severity

__all__ = [
    "claim_checkpoint_zip",
    "claim_pickle_members",
    "claim_tar",
    "scan_torch_legacy",
    "scan_torch_tar",
    "scan_torch_zip",
]

# How much of a tensor storage is read to make sure it is not a pickle in disguise.
_STORAGE_HEAD = 4096
# torch's reader (miniz) finds records by name ignoring case: every name test here does too.
_STORAGE = re.compile(r"(?:^|/)(?:data|constants)/\d+$", re.IGNORECASE)
_CATEGORY = "scanner-evasion"


# --- zip checkpoints ---------------------------------------------------------------------


# --- identification ----------------------------------------------------------------------

_TAR_MEMBERS = frozenset({"sys_info", "pickle", "storages", "tensors"})
# What torch's legacy_load reads of them (sys_info is written, never read).
_TAR_MEMBERS_READ = frozenset({"pickle", "storages", "tensors"})
# Zip members whose first bytes are probed for a pickle, and how many bytes each.
_MAX_PROBED_MEMBERS = 64
_PROBE_SIZE = 512


def _is_data_pkl(name: str) -> bool:
    lowered = name.lower()
    return lowered == "data.pkl" or lowered.endswith("/data.pkl")


def claim_checkpoint_zip(listing: ZipListing) -> Identification | None:
    """A zip holding ``data.pkl``: what ``torch.save`` (and ``torch.jit.save``) write."""
    data_pkl = next((e for e in listing.files if _is_data_pkl(e.name)), None)
    if data_pkl is None:
        return None
    start = listing.head(data_pkl, 8)
    evidence = f"{listing.evidence}; member {data_pkl.name} starts with {hex_bytes(start, 4) or '(unreadable)'}"
    names = [e.name for e in listing.files]
    if _looks_like_torchscript(names):
        return Identification(
            Format.TORCHSCRIPT,
            Family.ZIP,
            True,
            f"TorchScript archive with pickle member {data_pkl.name} and code/ sources",
            evidence,
        )
    return Identification(
        Format.PYTORCH_ZIP,
        Family.ZIP,
        True,
        f"PyTorch zip checkpoint with pickle member {data_pkl.name}",
        evidence,
    )


def claim_pickle_members(listing: ZipListing) -> Identification | None:
    """A zip with a pickle under any name: pickle-based tools still load it (torch included)."""
    probe = sorted(listing.files, key=lambda e: not e.name.endswith((".pkl", ".pickle")))
    for entry in probe[:_MAX_PROBED_MEMBERS]:
        if entry.size == 0:
            continue
        head = listing.head(entry, _PROBE_SIZE)
        if head and looks_like_pickle(head, entry.size > len(head)):
            return Identification(
                Format.PYTORCH_ZIP,
                Family.ZIP,
                True,
                f"zip archive with pickle member {entry.name} (no data.pkl)",
                f"{listing.evidence}; member {entry.name} starts with {hex_bytes(head, 4)}",
            )
    return None


def claim_tar(names: list[str], pickle_head: bytes, evidence: str) -> Identification | None:
    """The legacy tar checkpoint (``sys_info``, ``pickle``, ``storages``, ``tensors``)."""
    if not set(names) >= _TAR_MEMBERS_READ:
        return None
    if pickle_head:
        evidence += f"; member pickle starts with {hex_bytes(pickle_head, 4)}"
    return Identification(
        Format.PYTORCH_TAR,
        Family.TAR,
        True,
        "legacy PyTorch tar checkpoint (sys_info, pickle, storages, tensors)",
        evidence,
    )


# --- legacy checkpoints ------------------------------------------------------------------


def scan_torch_legacy(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """A legacy ``torch.save`` file, walked by its layout, with torch.load's default judged.

    The raw storages are stepped over as torch reads them, never read as pickles; bytes after
    the last one are reported (MLS-PKL-010), and scanned for what a loader would run. A file
    whose layout cannot be followed is read as pickles back to back instead (each with an
    unpickler of its own, as torch reads them), raw data and all: nothing is skipped unread.
    """
    with blob.buffer() as buffer:
        findings = _legacy_layout_findings(ctx, blob, buffer)
        if findings is None:
            findings = scan_pickle_region(ctx, blob, buffer, fresh_memo=True)
        return with_weights_only_notes(findings, buffer)


def _legacy_layout_findings(ctx: ScanContext, blob: Blob, buffer: Any) -> list[Finding] | None:
    policy = ctx.policy.pickle

    def scan_one(part: memoryview, offset: int) -> PickleScan:
        return scan_pickle_bytes(
            part, policy=policy, origin=blob.subject, member=blob.member, base_offset=offset
        )

    whole = memoryview(buffer)
    try:
        layout = walk_legacy(whole, scan_one)
    except LegacyLayoutError:
        return None
    finally:
        whole.release()
    findings = list(layout.findings)
    if layout.end < len(buffer):
        findings.append(_after_storages(blob, layout.end, len(buffer) - layout.end))
        findings += scan_pickle_region(
            ctx, blob, buffer, start=layout.end, unpickled=False, fresh_memo=True
        )
    return findings


def _after_storages(blob: Blob, offset: int, length: int) -> Finding:
    return Finding(
        rule="MLS-PKL-010",
        severity=Severity.MEDIUM,
        category="unsafe-deserialization",
        title="data after the last storage of a legacy torch file",
        location=blob.location(offset=offset),
        evidence=f"{length} bytes after the last raw storage, which ends at byte {offset}",
        why="torch.load stops reading after the last storage; bytes appended there are read by "
        "nothing torch does, and can hide a second payload for a loader that reads on.",
        remediation="Re-save the checkpoint (torch.save with the zip format) so that the file "
        "holds only what its format defines.",
    )


# --- zip checkpoints ---------------------------------------------------------------------


def scan_torch_zip(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan a torch zip checkpoint or TorchScript archive, every pickle member included."""
    with blob.open() as fh:
        size = blob.size
        # torch (miniz) needs the central directory too: without one it cannot load this either.
        directory = read_directory(blob, fh, "torch zip checkpoint")
        files = [e for e in directory.entries if not e.is_dir]
        torchscript = ident.format == Format.TORCHSCRIPT or _looks_like_torchscript(
            [e.name for e in files]
        )
        policy = ctx.policy.pickle
        if torchscript:
            # TorchScript's unpickler resolves __torch__.* classes from the archive's own
            # compiled code (analysed below), never by importing a Python module.
            policy = dataclasses.replace(policy, allow=(*policy.allow, "__torch__.*"))
        findings = _structure_findings(blob, directory)
        findings.extend(_layout_findings(blob, directory))
        scanner = _ZipMembers(ctx, blob, fh, size, policy, _archive_prefix(directory), torchscript)
        for count, entry in enumerate(files, start=1):
            if count > ctx.policy.limits.max_members or budget_spent(ctx):
                break
            findings.extend(scanner.scan(entry))
    return findings


def _looks_like_torchscript(names: list[str]) -> bool:
    lowered = [n.lower() for n in names]
    return any("/code/" in f"/{n}" for n in lowered) and any(
        n.endswith("constants.pkl") for n in lowered
    )


def _archive_prefix(directory: ZipDirectory) -> str | None:
    """torch looks every record up under the folder of the archive's first entry."""
    if not directory.entries:
        return None
    first = directory.entries[0].name
    return first.split("/", 1)[0] if "/" in first else None


def _relative(name: str, prefix: str | None) -> str:
    """The record name torch looks a member up by (lower case: miniz ignores case)."""
    lowered = name.lower()
    if prefix is not None and lowered.startswith(prefix.lower() + "/"):
        return lowered[len(prefix) + 1 :]
    return lowered


@dataclasses.dataclass
class _ZipMembers:
    ctx: ScanContext
    blob: Blob
    fh: BinaryIO
    size: int
    policy: PicklePolicy
    prefix: str | None
    torchscript: bool = False

    def scan(self, entry: ZipEntry) -> list[Finding]:
        findings: list[Finding] = []
        reason = unsafe_member_name(entry.name)
        if reason is not None:
            findings.append(traversal_finding(self.blob, entry.name, reason))
        if entry.is_symlink:
            findings.extend(zip_symlink_findings(self.blob, entry, self.fh, self.size))
        if _STORAGE.search(entry.name):
            return findings + self._scan_storage(entry)
        limit = self.ctx.policy.limits.max_member_bytes
        if entry.size > limit:
            return [*findings, too_large_finding(self.blob, entry.name, entry.size, limit)]
        try:
            data = self._read(entry)
        except OverBudget as exc:
            bomb = bomb_finding(self.blob, entry.name, exc.produced, exc.consumed, exc.reason)
            return [*findings, bomb]
        except ZipReadError as exc:
            self._error(entry, str(exc))
            return findings
        findings.extend(self._check_crc(entry, data))
        member = self.blob.child(entry.name, data)
        relative = _relative(entry.name, self.prefix)
        if relative.startswith("code/") and relative.endswith(".py"):
            return findings + torchscript_code_findings(member, data)
        if relative.startswith("extra/"):
            findings.append(_extra_file(member, len(data)))
        # torch.load unpickles data.pkl (and TorchScript's constants.pkl) whatever they hold:
        # they go to the pickle machine even when their bytes do not look like a pickle.
        unpickled = relative in ("data.pkl", "constants.pkl") or relative.endswith(".pkl")
        if unpickled or looks_like_pickle(data, truncated=False):
            self.ctx.formats[member.member or ""] = Format.PICKLE.value
            if self.blob.depth + 1 > self.ctx.policy.limits.max_depth:
                return findings + scan_member(self.ctx, self.blob, entry.name, data)
            over_budget = self.ctx.account(self.blob, len(data))
            if over_budget is not None:
                return [*findings, over_budget]
            try:
                found = scan_pickle_region(self.ctx, member, data, policy=self.policy)
            except ScanError as exc:
                self._error(entry, str(exc))
                return findings
            if relative == "data.pkl" and not self.torchscript:
                found = with_weights_only_notes(found, data)
            return findings + found
        return findings + scan_member(self.ctx, self.blob, entry.name, data)

    def _read(self, entry: ZipEntry) -> bytes:
        limits = self.ctx.policy.limits
        return read_zip_member(
            self.fh,
            entry,
            limit=limits.max_member_bytes,
            max_ratio=limits.max_ratio,
            file_size=self.size,
        )

    def _scan_storage(self, entry: ZipEntry) -> list[Finding]:
        """Tensor bytes are never unpickled: look at their head only, unless it is a pickle."""
        try:
            head = read_zip_member(
                self.fh,
                entry,
                limit=_STORAGE_HEAD,
                max_ratio=float("inf"),
                file_size=self.size,
                head_only=True,
            )
        except ZipReadError:
            return []  # unreadable tensor data: torch fails to load it, nothing runs
        if not looks_like_pickle(head, truncated=entry.size > len(head)):
            # Still, whatever pickle.load would run from its first bytes is reported.
            scan = scan_pickle_bytes(
                head,
                policy=self.policy,
                origin=self.blob.subject,
                member=self.blob.child(entry.name, b"").member,
                execution_only=True,
            )
            return [f for f in scan.findings if f.severity >= Severity.HIGH]
        limit = self.ctx.policy.limits.max_member_bytes
        if entry.size > limit:
            return [too_large_finding(self.blob, entry.name, entry.size, limit)]
        try:
            data = self._read(entry)
        except OverBudget as exc:
            return [bomb_finding(self.blob, entry.name, exc.produced, exc.consumed, exc.reason)]
        except ZipReadError as exc:
            self._error(entry, str(exc))
            return []
        member = self.blob.child(entry.name, data)
        # Tensor data that merely starts like a pickle: torch never unpickles it.
        return scan_pickle_region(self.ctx, member, data, unpickled=False, policy=self.policy)

    def _check_crc(self, entry: ZipEntry, data: bytes) -> list[Finding]:
        actual = zlib.crc32(data)
        if actual == entry.crc or len(data) != entry.size:
            return []
        return [
            Finding(
                rule="MLS-TORCH-003",
                severity=Severity.HIGH,
                category=_CATEGORY,
                title="zip member CRC does not match its content",
                location=self.blob.location(key_path=entry.name, offset=entry.header_offset),
                evidence=f"central directory CRC {entry.crc:#010x}, content CRC {actual:#010x}",
                why="torch ignores CRCs and loads the member, while zipfile-based scanners fail "
                "on it: a known way to slip a pickle past them",
                remediation="re-save the checkpoint with torch.save; do not load this file",
            )
        ]

    def _error(self, entry: ZipEntry, message: str) -> None:
        self.ctx.errors.append(f"{self.blob.location(key_path=entry.name).describe()}: {message}")


_STRUCTURE_RULES: dict[str, tuple[str, Severity, str, str]] = {
    "name-mismatch": (
        "MLS-TORCH-001",
        Severity.HIGH,
        "zip member's local header names a different file",
        "torch uses the central directory's name; a scanner that reads local headers (or "
        "zipfile, which refuses the file) sees a different file than the one torch loads",
    ),
    "duplicate": (
        "MLS-TORCH-002",
        Severity.HIGH,
        "several zip members share one name",
        "torch picks one copy and a scanner may vet another: duplicate data.pkl members are a "
        "known scanner-evasion technique",
    ),
    "flags": (
        "MLS-TORCH-004",
        Severity.HIGH,
        "zip member has encryption or unusual flag bits",
        "torch ignores flag bits and loads the member as plain data, while zipfile refuses "
        "it: scanners built on zipfile skip what torch runs",
    ),
    "overlap": (
        "MLS-TORCH-005",
        Severity.HIGH,
        "zip members overlap",
        "two members sharing bytes lets one name hide inside another and is how zip bombs and "
        "polyglots are built; torch.save never writes it",
    ),
    "outside": (
        "MLS-TORCH-006",
        Severity.MEDIUM,
        "zip member data lies outside the archive",
        "member data that runs into the central directory or past the end of the file is "
        "malformed; readers disagree on what it holds",
    ),
    "no-local-header": (
        "MLS-TORCH-006",
        Severity.MEDIUM,
        "zip member has no local header",
        "the central directory points at bytes that are not a member header; readers disagree "
        "on what it holds",
    ),
    "prefix": (
        "MLS-TORCH-007",
        Severity.HIGH,
        "other content precedes the zip archive (polyglot)",
        "a file that is a zip checkpoint and something else at once is read differently by "
        "different loaders; torch.save never writes it",
    ),
    "readers-disagree": (
        "MLS-TORCH-007",
        Severity.HIGH,
        "zip readers find different archives in this file",
        "torch's reader and zipfile locate the central directory differently here: each loader "
        "reads another set of members, and a scan of one vets nothing about the other",
    ),
    "comment": (
        "MLS-TORCH-008",
        Severity.MEDIUM,
        "zip archive carries a comment",
        "torch.save writes no archive comment; one can carry data for another reader of the "
        "same file",
    ),
}


def _structure_findings(blob: Blob, directory: ZipDirectory) -> list[Finding]:
    findings = _case_duplicates(blob, directory)
    for kind, entry, detail in zip_structure_problems(directory):
        rule, severity, title, why = _STRUCTURE_RULES[kind]
        findings.append(
            Finding(
                rule=rule,
                severity=severity,
                category=_CATEGORY,
                title=title,
                location=blob.location(
                    key_path=entry.name if entry is not None else None,
                    offset=entry.header_offset if entry is not None else 0,
                ),
                evidence=detail,
                why=why,
                remediation="re-save the checkpoint with torch.save (or safetensors); do not "
                "load this file",
            )
        )
    return findings


def _case_duplicates(blob: Blob, directory: ZipDirectory) -> list[Finding]:
    """Names that differ only in case: torch's reader may pick either (exact duplicates are
    reported with the other structure problems)."""
    by_lower: dict[str, set[str]] = {}
    for entry in directory.entries:
        by_lower.setdefault(entry.name.lower(), set()).add(entry.name)
    rule, severity, title, why = _STRUCTURE_RULES["duplicate"]
    return [
        Finding(
            rule=rule,
            severity=severity,
            category=_CATEGORY,
            title=title,
            location=blob.location(key_path=sorted(names)[0]),
            evidence=f"members {', '.join(repr(n) for n in sorted(names))} differ only in case; "
            "torch finds records ignoring case",
            why=why,
            remediation="re-save the checkpoint with torch.save (or safetensors); do not load "
            "this file",
        )
        for names in by_lower.values()
        if len(names) > 1
    ]


def _layout_findings(blob: Blob, directory: ZipDirectory) -> list[Finding]:
    prefix = _archive_prefix(directory)
    files = [e.name for e in directory.entries if not e.is_dir]
    if prefix is None:
        outside = files
        evidence = (
            f"the first member {files[0]!r} is not inside a folder, so torch.load refuses the "
            "archive"
            if files
            else "the archive is empty"
        )
    else:
        outside = [n for n in files if not n.lower().startswith(prefix.lower() + "/")]
        if not outside:
            return []
        evidence = f"members outside the archive folder {prefix + '/'!r}"
    shown = ", ".join(repr(n) for n in outside[:5]) + (" ..." if len(outside) > 5 else "")
    return [
        Finding(
            rule="MLS-TORCH-009",
            severity=Severity.MEDIUM,
            category=_CATEGORY,
            title="zip members outside the torch checkpoint layout",
            location=blob.location(),
            evidence=f"{evidence}: {shown}" if outside else evidence,
            why="torch only reads records under the folder of the first member; pickles "
            "elsewhere are there for another reader (each is scanned here all the same)",
            remediation="re-save the checkpoint with torch.save; ship other files separately",
        )
    ]


def _extra_file(member: Blob, size: int) -> Finding:
    return Finding(
        rule="MLS-TORCH-011",
        severity=Severity.LOW,
        category="content",
        title="TorchScript archive carries extra files",
        location=member.location(),
        evidence=f"extra file of {size} bytes (torch.jit.load(_extra_files=...) returns it)",
        why="extra files are arbitrary data handed to the loading program; their content is "
        "scanned here like any other member",
        remediation="keep configuration in reviewed files outside the model archive",
    )


# --- TorchScript code --------------------------------------------------------------------

# Operator namespaces that ship with torch and torchvision; others need a native library.
_KNOWN_OP_NAMESPACES = frozenset(
    {"aten", "prim", "quantized", "_quantized", "prepacked", "quantized_decomposed", "profiler",
     "_caffe2", "torchvision", "image", "cuda", "mkldnn", "mkl", "_c10d_functional",
     "c10d_functional", "_dtensor", "rngprims", "higher_order", "inductor", "fbgemm"}
)  # fmt: skip
_DANGEROUS_NAMES = frozenset({"__import__", "eval", "exec", "compile", "open", "globals"})
_DANGEROUS_PREFIXES = (
    "os.",
    "posix.",
    "subprocess.",
    "sys.",
    "builtins.",
    "ctypes.",
    "socket.",
    "shutil.",
    "importlib.",
    "torch.load",
    "torch.save",
    "torch.from_file",
    "torch.hub.",
    "torch.ops.load_library",
    "torch.classes.load_library",
    "torch.jit.load",
    "torch.serialization.",
    "ops.load_library",
)
_MAX_CODE_FINDINGS = 20
_FALLBACK = re.compile(r"__import__|\b(?:eval|exec|compile|os\.system|subprocess)\s*\(")


def torchscript_code_findings(member: Blob, data: bytes) -> list[Finding]:
    """Names in TorchScript source that reach the file system, processes or native code."""
    text = data.decode("utf-8", errors="replace")
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return [
            _code_finding(member, m.group(0), Severity.HIGH, text.count("\n", 0, m.start()) + 1)
            for m in _FALLBACK.finditer(text)
        ][:_MAX_CODE_FINDINGS]
    # Only whole dotted names: ``os.system`` is reported once, not again as ``os``.
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    findings: list[Finding] = []
    for node in ast.walk(tree):
        if id(node) in inner or not isinstance(node, (ast.Name, ast.Attribute)):
            continue
        dotted = _dotted(node)
        severity = None if dotted is None else _code_severity(dotted)
        if dotted is not None and severity is not None:
            findings.append(_code_finding(member, dotted, severity, node.lineno))
            if len(findings) >= _MAX_CODE_FINDINGS:
                break
    return findings


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _code_severity(dotted: str) -> Severity | None:
    if dotted in _DANGEROUS_NAMES or dotted.startswith(_DANGEROUS_PREFIXES):
        return Severity.HIGH
    for root in ("torch.ops.", "ops."):
        if dotted.startswith(root):
            namespace = dotted[len(root) :].split(".", 1)
            if len(namespace) == 2 and namespace[0] not in _KNOWN_OP_NAMESPACES:
                return Severity.MEDIUM
    return None


def _code_finding(member: Blob, name: str, severity: Severity, line: int | None) -> Finding:
    custom = severity < Severity.HIGH
    return Finding(
        rule="MLS-TORCH-010",
        severity=severity,
        category="code-execution",
        title="TorchScript code calls a custom operator"
        if custom
        else "TorchScript code reaches outside the model",
        location=member.location(line=line),
        evidence=f"uses '{name}'",
        why="TorchScript code in the archive runs when the model is loaded (__setstate__) or "
        "called; "
        + (
            "a custom operator runs native code from a library the loading program must load"
            if custom
            else "this name reads or writes files, starts processes or loads other code"
        ),
        remediation="export the model without custom code (safetensors weights plus reviewed "
        "model code), or review the TorchScript source",
        cwe="CWE-94",
    )


# --- legacy tar checkpoints --------------------------------------------------------------


def scan_torch_tar(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan a legacy torch tar checkpoint: every pickle in every member."""
    findings: list[Finding] = []
    limits = ctx.policy.limits
    with blob.open() as fh:
        try:
            archive = tarfile.open(fileobj=fh, mode="r:")  # noqa: SIM115 - closed by `with`
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ScanError(f"torch tar checkpoint cannot be read: {exc}") from exc
        with archive:
            try:
                for count, info in enumerate(archive, start=1):
                    if count > limits.max_members or budget_spent(ctx):
                        break
                    findings.extend(tar_member_findings(blob, info))
                    if not info.isfile():
                        continue
                    over = tar_member_over_limits(blob, info, limits)
                    if over is not None:
                        findings.append(over)
                        continue
                    handle = archive.extractfile(info)
                    if handle is None:
                        continue
                    with handle:
                        data = handle.read(info.size)
                    found = _scan_tar_member(ctx, blob, info.name, data)
                    if info.name.removeprefix("./") in _TAR_MEMBERS:
                        found = with_legacy_tar_note(found)
                    findings.extend(found)
            except (tarfile.TarError, OSError, EOFError) as exc:
                ctx.errors.append(f"{blob.location().describe()}: tar archive is damaged: {exc}")
    return findings


def _scan_tar_member(ctx: ScanContext, blob: Blob, name: str, data: bytes) -> list[Finding]:
    base = name.removeprefix("./")
    if base not in _TAR_MEMBERS:
        return scan_member(ctx, blob, name, data)
    # torch.load unpickles these members whatever they look like: the pickle machine reads
    # them, never identification (which could take one for text and only probe it).
    member = blob.child(name, data)
    over_budget = ctx.account(blob, len(data))
    if over_budget is not None:
        return [over_budget]
    ctx.formats[member.member or ""] = "pickle"
    if base in ("sys_info", "pickle"):
        try:
            return scan_pickle_region(ctx, member, data)
        except ScanError as exc:
            ctx.error(member, str(exc))
            return []
    walker = _LegacyWalker(member, memoryview(data), ctx.policy.pickle)
    try:
        if base == "storages":
            walker.storages()
        else:
            walker.tensors()
    except (DecodeError, struct.error, ValueError) as exc:
        ctx.error(
            member,
            f"the legacy {base} layout cannot be followed at byte {walker.pos} ({exc}); the "
            "rest of the member was not scanned",
        )
    return walker.findings


@dataclasses.dataclass
class _LegacyWalker:
    """Follows torch's ``legacy_load``: pickles separated by raw tensor data of known size.

    Each count and record is what its pickle loads to, as torch takes it (``range(count)``,
    ``key, location, storage_type = record``), never a guess from the opcodes; torch reads
    the members from unbuffered files, so a load that stops inside a frame leaves the rest of
    the frame unread and the next load starts at the frame's end.
    """

    member: Blob
    data: memoryview
    policy: PicklePolicy
    pos: int = 0
    findings: list[Finding] = dataclasses.field(default_factory=list)

    def storages(self) -> None:
        for _ in range(self._count()):
            element = _storage_element_size(self._pickle())
            if self.pos + 8 > len(self.data):
                raise ValueError("a storage's size runs past the end of the member")
            (numel,) = struct.unpack_from("<q", self.data, self.pos)
            self._skip(8 + numel * element)
        if self.pos < len(self.data):
            self._pickle()  # storage views

    def tensors(self) -> None:
        for _ in range(self._count()):
            self._pickle()
            if self.pos + 4 > len(self.data):
                raise ValueError("a tensor's dimensions run past the end of the member")
            (ndim,) = struct.unpack_from("<i", self.data, self.pos)
            if not 0 <= ndim <= 64:
                raise ValueError(f"tensor with {ndim} dimensions")
            self._skip(8 + 16 * ndim + 8)

    def _skip(self, length: int) -> None:
        if length < 0 or self.pos + length > len(self.data):
            raise ValueError("raw tensor data runs past the end of the member")
        self.pos += length

    def _count(self) -> int:
        value = self._pickle()
        if not isinstance(value, int):
            raise ValueError(f"the record count is {describe(value)}, not an integer")
        if not 0 <= value <= 1 << 24:
            raise ValueError(f"implausible record count {value}")
        return int(value)

    def _pickle(self) -> Any:
        start = self.pos
        end, resume = pickle_end(self.data, start)
        scan = scan_pickle_bytes(
            self.data[start:end],
            policy=self.policy,
            origin=self.member.subject,
            member=self.member.member,
            base_offset=start,
        )
        self.findings.extend(scan.findings)
        self.pos = resume
        if scan.error is not None:
            raise ValueError(scan.error)
        return scan.value


def _storage_element_size(record: Any) -> int:
    """The element size of the storage class a storage record names as its third item."""
    items = record.items if isinstance(record, SymList) else record
    if not (isinstance(items, (tuple, list)) and len(items) == 3):
        raise ValueError(f"a storage record of {describe(record)}, not (key, location, type)")
    storage_type = items[2]
    if not (
        isinstance(storage_type, Global)
        and storage_type.ref.module == "torch"
        and storage_type.ref.name in ELEMENT_SIZES
    ):
        raise ValueError(f"a storage's type is {describe(storage_type)}, no legacy storage class")
    return ELEMENT_SIZES[storage_type.ref.name]
