"""Pickle files (plain, joblib, legacy torch): identified and scanned by the one pickle machine.

Identification and scanning read pickles with the same code: the symbolic machine of
:mod:`pytest_mlsupply.engines.pickle`, which decodes opcodes exactly as CPython's unpicklers do
(``I0x1`` included, which ``pickletools`` rejects). Identification runs it over the first
opcodes of the head; the engine over the whole stream — a legacy ``torch.save`` file is the
magic number, then protocol, sys_info, the object and the storage keys as separate pickles —
stepping over joblib's raw numpy buffers and recursing into pickles nested in constants.

:func:`probe_execution` is the machine's other use: every blob that is not identified as a
pickle still goes through it (text included), and whatever ``pickle.load`` would import or call
from its first byte is reported. Identification can only decide which engine looks first; it
can never let a payload pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.engines.blob import Blob, ScanContext
from pytest_mlsupply.engines.containers import scan_pickle_region
from pytest_mlsupply.engines.formats import yaml_config
from pytest_mlsupply.engines.formats.torch_weights_only import (
    TORCH_SUFFIXES,
    with_weights_only_notes,
)
from pytest_mlsupply.engines.identification import Family, Format, Identification, hex_bytes
from pytest_mlsupply.engines.pickle import scan_pickle_bytes
from pytest_mlsupply.engines.pickle.decoder import OPCODE_NAMES, OPCODE_PROTOCOLS
from pytest_mlsupply.engines.pickle.vm import run_machine
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = [
    "PICKLE_NAMES",
    "PickleHead",
    "identify_pickle_with_proto",
    "identify_pickle_without_proto",
    "looks_like_pickle",
    "probe_execution",
    "read_pickle_head",
    "scan_pickle_file",
]

# Enough opcodes to tell a pickle from text and to see the first globals, cheap on any head.
_MAX_IDENTIFY_OPS = 4096
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_PROTO = 0x80
# Opcodes a protocol 0 or 1 pickle can start with; they are all printable, hence the validation.
_LOW_PROTOCOL_FIRST_BYTES = frozenset(
    code for code, name in OPCODE_NAMES.items() if OPCODE_PROTOCOLS[name] < 2
)


@dataclass(frozen=True)
class PickleHead:
    """What the first pickle of a stream looks like, as the machine read it."""

    protocol: int
    ops: int
    complete: bool
    """The first pickle reached its STOP within what was read."""
    globals: list[str]
    first_value: Any
    stop_at: int


def read_pickle_head(data: bytes | memoryview, truncated: bool) -> PickleHead | None:
    """The first pickle of ``data`` when ``data`` starts one, else None.

    ``truncated`` says ``data`` is the head of a longer stream: running off its end is fine,
    while an invalid opcode or argument, or a stack the loader would underflow, is not a pickle.
    """
    if not data or data[0] not in OPCODE_NAMES:
        return None
    trace = run_machine(
        data, find_nested=False, partial=truncated, max_ops=_MAX_IDENTIFY_OPS, max_pickles=1
    )
    complete = bool(trace.stops)
    head = PickleHead(
        protocol=trace.protocol,
        ops=trace.opcodes_seen,
        complete=complete,
        globals=[ref.dotted for ref in trace.imports],
        first_value=trace.first_result if complete else None,
        stop_at=trace.stops[0] + 1 if complete else 0,
    )
    valid = trace.error is None
    if data[0] == _PROTO:
        # PROTO plus one more opcode is convincing; data written between opcodes (joblib
        # arrays) is stepped over by the machine, so a later break still means a pickle, and
        # so does a stream cut short (a truncated pickle is still a pickle to its loaders).
        cut_short = trace.error is not None and trace.error.truncated
        return head if head.ops >= 2 or (head.ops == 1 and (valid or cut_short)) else None
    # A pickle need not start with PROTO: any opcode can come first (a bare SHORT_BINUNICODE,
    # a FRAME) and the unpickler still runs it. Protocol 0/1 opcodes are printable, so text
    # often starts like a pickle: every opcode up to STOP (or the end of the head) must be valid.
    if head.complete and head.ops <= 3 and len(data) - head.stop_at > 16:
        # One value and STOP, then a mass of other bytes: random data does this now and then;
        # a pickler never writes it (and loading it would build one constant).
        valid = False
    if data[0] not in _LOW_PROTOCOL_FIRST_BYTES:
        # A binary opcode first and no PROTO: random bytes decode as a few opcodes now and
        # then, so demand a STOP, or a long valid run in a file larger than what was read.
        valid = valid and (head.complete or (truncated and head.ops >= 16))
    return head if valid and head.ops >= 2 else None


def looks_like_pickle(data: bytes | memoryview, truncated: bool) -> bool:
    """Whether ``data`` starts a pickle (a member's head, bytes after an array)."""
    return read_pickle_head(data, truncated) is not None


def pickle_identification(data: bytes, head: PickleHead, where: str = "") -> Identification:
    """The identification of content whose first pickle is ``head``: plain, joblib or torch."""
    evidence = f"{where}bytes {hex_bytes(data[:4])}; {head.ops} opcodes parse"
    if head.complete:
        evidence += " up to STOP"
    if head.globals:
        evidence += "; globals " + ", ".join(head.globals[:3])
    if head.first_value == _TORCH_LEGACY_MAGIC and not isinstance(head.first_value, bool):
        return Identification(
            Format.PYTORCH_LEGACY,
            Family.PICKLE,
            True,
            "legacy PyTorch checkpoint (torch.save before 1.6): a sequence of pickles",
            f"{evidence}; first value is the torch magic number {_TORCH_LEGACY_MAGIC:#x}",
        )
    if any(g.startswith("joblib.") or g.endswith(".NumpyArrayWrapper") for g in head.globals):
        return Identification(
            Format.JOBLIB,
            Family.PICKLE,
            True,
            f"joblib pickle (protocol {head.protocol})",
            evidence,
        )
    return Identification(
        Format.PICKLE, Family.PICKLE, True, f"pickle (protocol {head.protocol})", evidence
    )


def identify_pickle_with_proto(view: View) -> Identification | None:
    """A stream that opens with PROTO: binary, so it is looked at before the weaker guesses."""
    if view.head[:1] != bytes([_PROTO]):
        return None
    head = read_pickle_head(view.head, view.truncated)
    return None if head is None else pickle_identification(view.head, head)


def identify_pickle_without_proto(view: View) -> Identification | None:
    """Any other opcode first (protocol 0 text, a FRAME, a bare SHORT_BINUNICODE)."""
    if view.head[:1] == bytes([_PROTO]):
        return None
    head = read_pickle_head(view.head, view.truncated)
    return None if head is None else pickle_identification(view.head, head)


def scan_pickle_file(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan a file (or member) that is one or more pickles back to back.

    A plain pickle named like a checkpoint (``.pt``, ``.bin``...) is what ``torch.load`` reads
    as a legacy checkpoint: its findings say whether torch's default would stop the payload.
    """
    with blob.buffer() as buffer:
        findings = scan_pickle_region(ctx, blob, buffer)
        if blob.name.lower().endswith(TORCH_SUFFIXES):
            findings = with_weights_only_notes(findings, buffer)
    return findings + _yaml_behind_text_pickle(blob)


#: Text pickles larger than this are not also read as YAML (no protocol 0 pickle is that large).
_MAX_TEXT_PICKLE = 64 << 20


def _yaml_behind_text_pickle(blob: Blob) -> list[Finding]:
    """A protocol 0 pickle is printable text, and text is YAML: ``(dp0\n.`` then ``---`` and a
    python-tagged document is an empty dict to ``pickle.load`` and a payload to
    ``yaml.unsafe_load_all``. Text content is therefore also read as YAML, for its python tags
    (and everything else when it sits where a config does)."""
    if blob.size > _MAX_TEXT_PICKLE:
        return []
    with blob.open() as handle:
        raw = handle.read(_MAX_TEXT_PICKLE + 1)
    if raw[:1] == bytes([_PROTO]):
        return []  # binary pickles (protocol 2+) are not text
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return []
    return yaml_config.scan_yaml_text(blob, text)


#: Names pickle-based loaders are pointed at (joblib, torch, pickle itself).
PICKLE_NAMES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".bin")


def probe_execution(blob: Blob, ctx: ScanContext, *, strict: bool = False) -> list[Finding]:
    """What ``pickle.load`` would import or call if given this content, whatever it is.

    Every pickle-based loader reads any file it is handed, and identification may be wrong or
    fooled (a polyglot, a text-looking protocol 0 stream). Only findings that prove a loader
    would run something are kept, at high severity and above: content that is not a pickle is
    not judged for its unknown globals, parse errors or trailing bytes. With ``strict`` (the
    content is named like a pickle, ``.pkl``, ``.bin``..., and identified as nothing else), a
    loader is pointed at it: every import outside the allowlist is reported too (importing
    runs the module's code), and content that starts like a pickle and then cannot be followed
    is an error, never a pass, for where the machine stops it cannot vouch for what the loader
    does after.
    """
    with blob.buffer() as buffer:
        if not buffer or buffer[0] not in OPCODE_NAMES:
            return []  # the loader fails on the first byte: nothing runs
        with memoryview(buffer) as view:
            try:
                scan = scan_pickle_bytes(
                    view,
                    policy=ctx.policy.pickle,
                    origin=blob.subject,
                    member=blob.member,
                    execution_only=True,
                    # Named like a pickle: a loader is pointed at it, and an import runs code.
                    imports=strict,
                )
            except (MemoryError, RecursionError) as exc:
                ctx.error(
                    blob,
                    f"the pickle probe of this content ran out of {type(exc).__name__}; what "
                    "pickle.load would run from it is unknown",
                )
                return []
    findings = [f for f in scan.findings if f.severity >= Severity.HIGH]
    if strict and scan.error is not None:
        ctx.error(
            blob,
            f"named like a pickle and starting like one, but not one pickle.load reads to its "
            f"end ({scan.error}): what a loader pointed at it does cannot be vouched for",
        )
    return findings
