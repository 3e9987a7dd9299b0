"""Scans pickle bytes: runs the machine, applies the rules, and recurses into embedded pickles."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ...results import Finding, Location, Severity
from .gadgets import LoaderOutcome, load_key
from .nested import Embedded
from .policy import PicklePolicy
from .readings import other_readings
from .rules import CATEGORY, CWE_502, FindingContext, trace_findings
from .torch_legacy import LegacyLayoutError, walk_legacy
from .values import CallRef, ImportRef
from .vm import NestedCandidate, PersistentRef, Trace, run_machine

__all__ = [
    "FILE_LOAD_READERS",
    "FileLoadReader",
    "NestedScan",
    "PartScanner",
    "PickleScan",
    "register_file_load_reader",
    "scan_pickle_bytes",
]


@dataclass
class NestedScan:
    """A pickle found inside a constant of the outer one, and what scanning it gave."""

    offset: int
    encoding: str
    size: int
    scan: PickleScan


@dataclass
class PickleScan:
    """What scanning one stream of pickle bytes found.

    ``error`` is set when the bytes are not a valid pickle (MLS-PKL-008): the caller reports
    the check as an error unless a finding already fails it. ``errors`` lists every parse
    problem met, nested ones included, for diagnostics.
    """

    origin: str
    imports: list[ImportRef] = field(default_factory=list)
    calls: list[CallRef] = field(default_factory=list)
    persistent_ids: list[PersistentRef] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    error: str | None = None
    pickles_seen: int = 0
    opcodes_seen: int = 0
    nested: list[NestedScan] = field(default_factory=list)
    value: Any = field(default=None, compare=False, repr=False)
    """What the first pickle loads to, symbolically (a count, a tuple of records)."""

    def blocking(self, threshold: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= threshold]

    def to_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "imports": [ref.to_dict() for ref in self.imports],
            "calls": [call.to_dict() for call in self.calls],
            "persistent_ids": [
                {"offset": p.offset, "opcode": p.opcode, "pid": p.pid} for p in self.persistent_ids
            ],
            "findings": [f.to_dict() for f in self.findings],
            "errors": list(self.errors),
            "error": self.error,
            "pickles_seen": self.pickles_seen,
            "opcodes_seen": self.opcodes_seen,
            "nested": [
                {
                    "offset": n.offset,
                    "encoding": n.encoding,
                    "size": n.size,
                    "scan": n.scan.to_dict(),
                }
                for n in self.nested
            ],
        }


def scan_pickle_bytes(
    data: bytes | bytearray | memoryview,
    *,
    policy: PicklePolicy,
    origin: str,
    member: str | None = None,
    base_offset: int = 0,
    max_depth: int = 3,
    execution_only: bool = False,
    imports: bool = False,
    fresh_memo: bool = False,
) -> PickleScan:
    """Scan every pickle in ``data`` without executing anything.

    ``origin`` (the file) and ``member`` (an archive member) label the findings' locations;
    ``base_offset`` is added to every offset, for pickles embedded in a larger file.
    ``max_depth`` bounds how deep pickles inside pickles are followed. ``execution_only`` is
    for content that is not a pickle but that a pickle loader may still be given: only what
    proves it would run something is reported, and nested pickles are not looked for; with
    ``imports``, so is every import outside the allowlist a loader reaches.
    """
    ctx = FindingContext(origin=origin, member=member)
    if execution_only:
        view = _view(data)
        trace = run_machine(view, base_offset=base_offset, find_nested=False, fresh_memo=fresh_memo)
        findings = trace_findings(trace, policy, ctx, execution_only=True, imports=imports)
        findings += other_readings(
            view, trace, policy, ctx, base_offset, findings, True, imports, fresh_memo
        )
        return PickleScan(
            origin=origin,
            imports=list(trace.imports),
            calls=list(trace.calls),
            findings=findings,
            error=(f"{trace.error.message} at byte {trace.error.offset}" if trace.error else None),
            pickles_seen=trace.pickles_seen,
            opcodes_seen=trace.opcodes_seen,
        )
    return _scan(_view(data), policy, ctx, base_offset, max_depth, {}, fresh_memo)


def _view(data: bytes | bytearray | memoryview) -> memoryview:
    view = memoryview(data)
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    return view


def _scan(
    data: memoryview,
    policy: PicklePolicy,
    ctx: FindingContext,
    base_offset: int,
    depth_left: int,
    seen: dict[bytes, PickleScan],
    fresh_memo: bool = False,
) -> PickleScan:
    trace = run_machine(
        data, base_offset=base_offset, find_nested=depth_left > 0, fresh_memo=fresh_memo
    )
    loads = _NestedLoads(trace, policy, ctx, depth_left, seen)
    result = PickleScan(
        value=trace.first_result,
        origin=ctx.origin,
        imports=list(trace.imports),
        calls=list(trace.calls),
        persistent_ids=list(trace.persistent_ids),
        findings=trace_findings(trace, policy, ctx, loaded=loads.outcomes) + loads.findings,
        errors=list(loads.errors),
        pickles_seen=trace.pickles_seen,
        opcodes_seen=trace.opcodes_seen,
    )
    if trace.error is not None:
        message = (
            f"MLS-PKL-008 not a valid pickle: {trace.error.message} at byte {trace.error.offset}"
        )
        result.error = message
        result.errors.append(message)
    elif trace.pickles_seen == 0 and not trace.budget_stop:
        result.error = "MLS-PKL-008 not a valid pickle: no data"
        result.errors.append(result.error)
    for candidate in trace.nested:
        if id(candidate) not in loads.handled:
            _scan_nested(candidate, policy, ctx, depth_left, seen, result)
    result.findings += other_readings(
        data,
        trace,
        policy,
        ctx,
        base_offset,
        result.findings,
        False,
        fresh_memo=fresh_memo,
        loaded=loads.outcomes,
    )
    return result


#: ``scan(data, start, member)``: the findings and parse error of the pickle in ``data`` from
#: ``start``, ``member`` naming the part of the loaded bytes it is in ("" for the bytes
#: themselves, whose offsets are the constant's).
PartScanner = Callable[[memoryview, int, str], "tuple[list[Finding], str | None]"]
#: ``read(data, scan)``: the findings, the reason the bytes are not wholly understood (None
#: when they are) and what they were read as.
FileLoadReader = Callable[[bytes, PartScanner], "tuple[list[Finding], str | None, str]"]

#: How the bytes handed to a file loader (a :data:`~.gadgets.LOADERS` format) are read: by the
#: format's own reader, which registers itself (:func:`register_file_load_reader`), since the
#: format engines sit above this one and cannot be imported from here. Without a reader, such
#: a load is not read, and stays critical.
FILE_LOAD_READERS: dict[str, FileLoadReader] = {}
# What this engine reads itself: a legacy torch.save stream, a pickle.
_READ_HERE = frozenset({"torch", "pickle"})


def register_file_load_reader(kind: str, reader: FileLoadReader) -> None:
    FILE_LOAD_READERS[kind] = reader


class _NestedLoads:
    """The constant bytes handed to nested loaders (``torch.storage._load_from_bytes``,
    ``pickle.loads``, ``numpy.load`` / ``joblib.load`` of an ``io.BytesIO``), each read as its
    loader reads it, and what that gave.

    Only constants of the stream are read: for the bytes loaders, those the machine already
    holds as a candidate pickle (:attr:`Trace.nested`); for the file loaders, the bytes of the
    ``BytesIO`` (an ``.npy`` or a compressed stream does not look like a pickle). The nesting
    bound (``depth_left``), the file's own size and the decompression limits bound the work;
    a load of anything else keeps no outcome, and stays critical.
    """

    def __init__(
        self,
        trace: Trace,
        policy: PicklePolicy,
        ctx: FindingContext,
        depth_left: int,
        seen: dict[bytes, PickleScan],
    ) -> None:
        self.outcomes: dict[tuple[str, bytes], LoaderOutcome] = {}
        self.findings: list[Finding] = []
        self.errors: list[str] = []
        self.handled: set[int] = set()
        if not trace.watched or depth_left <= 0:
            return
        candidates: dict[bytes, NestedCandidate] = {}
        for candidate in trace.nested:
            if candidate.embedded.encoding == "raw":
                candidates.setdefault(candidate.embedded.data, candidate)
        for made in trace.watched:
            key = load_key(made)
            if key is None or key in self.outcomes:
                continue
            if key[0] not in _READ_HERE and key[0] not in FILE_LOAD_READERS:
                continue  # no reader for what this loader reads: the load stays critical
            found = candidates.get(key[1])
            if found is not None:
                self.handled.add(id(found))
            elif key[0] in FILE_LOAD_READERS:
                # An .npy, .npz or compressed stream does not look like a pickle: the bytes
                # are a constant of this stream all the same (bounded by it), read where the
                # load is.
                found = NestedCandidate(made.ref.offset, None, Embedded(key[1], "raw", False))
            else:
                continue
            self.outcomes[key] = self._read(found, key[0], policy, ctx, depth_left, seen)

    def _read(
        self,
        candidate: NestedCandidate,
        kind: str,
        policy: PicklePolicy,
        ctx: FindingContext,
        depth_left: int,
        seen: dict[bytes, PickleScan],
    ) -> LoaderOutcome:
        data = candidate.embedded.data
        where = f"nested load at offset {candidate.offset}"
        key_path = f"{ctx.key_path} > {where}" if ctx.key_path else where
        inner_ctx = FindingContext(origin=ctx.origin, member=ctx.member, key_path=key_path)
        base = candidate.data_offset if candidate.data_offset is not None else 0
        view = memoryview(data)
        error: str | None = None
        exact = candidate.data_offset is not None
        reader = FILE_LOAD_READERS.get(kind)
        if reader is not None:
            # numpy.load / joblib.load(io.BytesIO(data)): read by that format's own reader,
            # which hands each pickle it finds back to this engine.
            def scan_part(
                part: memoryview, start: int, member: str
            ) -> tuple[list[Finding], str | None]:
                path = f"{key_path} > {member}" if member else key_path
                part_ctx = FindingContext(origin=ctx.origin, member=ctx.member, key_path=path)
                offset = start if member else base + start
                inner = _scan(part[start:], policy, part_ctx, offset, depth_left - 1, seen)
                moved = _relocated(inner.findings, candidate.offset, path, exact and not member)
                return moved, inner.error

            findings, error, read_as = reader(data, scan_part)
            exact = True  # (each part was placed by scan_part)
        elif kind == "torch":
            # torch.load of a legacy stream: each pickle read by an unpickler of its own.
            def scan_one(part: memoryview, offset: int) -> PickleScan:
                return _scan(part, policy, inner_ctx, offset, depth_left - 1, seen)

            try:
                layout = walk_legacy(view, scan_one, base)
            except LegacyLayoutError as exc:
                findings = exc.layout.findings if exc.layout is not None else []
                error = f"not a legacy torch.save stream: {exc}"
            else:
                findings = layout.findings
                extra = base + len(data) - layout.end
                if extra > 0:
                    error = f"{extra} bytes after the last storage, at byte {layout.end}"
            read_as = "a legacy torch.save stream"
        else:
            inner = _scan(view, policy, inner_ctx, base, depth_left - 1, seen)
            findings, error = inner.findings, inner.error
            read_as = "a pickle"
        self.findings.extend(_relocated(findings, candidate.offset, key_path, exact))
        if error is not None:
            self.errors.append(f"{key_path}: {error}")
        found = sorted({f.rule for f in findings})
        summary = f"{len(data)} bytes read as {read_as}" + (
            f", with {', '.join(found)}" if found else ", nothing found"
        )
        if error is not None:
            summary += f"; {error}"
        # What the bytes hold is reported with its own severity; the load itself is a
        # payload when they hold something that matters (a low or info note does not).
        serious = any(f.severity >= Severity.MEDIUM for f in findings)
        return LoaderOutcome(not serious and error is None, summary, key_path)


def _relocated(findings: list[Finding], offset: int, key_path: str, exact: bool) -> list[Finding]:
    """Nested findings as the outer file reports them: offsets inside decoded bytes are not
    file offsets, so those point at the constant instead."""
    if exact:
        return list(findings)
    out = []
    for finding in findings:
        if finding.location.offset is not None and finding.location.key_path == key_path:
            location = replace(
                finding.location,
                offset=offset,
                key_path=f"{key_path}, inner byte {finding.location.offset}",
            )
            finding = replace(finding, location=location)
        out.append(finding)
    return out


def _scan_nested(
    candidate: NestedCandidate,
    policy: PicklePolicy,
    ctx: FindingContext,
    depth_left: int,
    seen: dict[bytes, PickleScan],
    result: PickleScan,
) -> None:
    embedded = candidate.embedded
    exact = candidate.data_offset is not None
    where = f"nested at offset {candidate.offset}"
    if embedded.encoding != "raw":
        where += f" ({embedded.encoding})"
    key_path = f"{ctx.key_path} > {where}" if ctx.key_path else where
    inner_ctx = FindingContext(origin=ctx.origin, member=ctx.member, key_path=key_path)
    base = candidate.data_offset if candidate.data_offset is not None else 0
    digest = hashlib.sha256(embedded.data).digest() + base.to_bytes(8, "little", signed=True)
    inner = seen.get(digest)
    if inner is None:
        view = memoryview(embedded.data)
        inner = _scan(view, policy, inner_ctx, base, depth_left - 1, seen)
        seen[digest] = inner
        if not (inner.pickles_seen or any(ref.ext_code is None for ref in inner.imports)):
            # Just data that happened to start like a pickle: it never reaches a STOP, and
            # imports nothing by name (two bytes of base64 or hex noise make an EXT opcode,
            # whose unregistered code the loader refuses).
            return
    else:
        return  # the same embedded pickle is reported once
    result.nested.append(NestedScan(candidate.offset, embedded.encoding, len(embedded.data), inner))
    result.errors.extend(inner.errors)
    imports = ", ".join(sorted({ref.dotted for ref in inner.imports})[:8]) or "none"
    result.findings.append(
        Finding(
            rule="MLS-PKL-009",
            severity=Severity.LOW,
            category=CATEGORY,
            title="a constant in the pickle is itself a pickle",
            location=Location(
                file=ctx.origin, member=ctx.member, offset=candidate.offset, key_path=ctx.key_path
            ),
            evidence=f"{len(embedded.data)} bytes ({embedded.encoding}) holding "
            f"{inner.pickles_seen} pickle(s); imports: {imports}",
            why="Whatever later calls pickle.loads on this value runs the inner pickle; it is "
            "scanned here too and its findings are reported with the key "
            f"'{where}'.",
            remediation="Store nested objects as plain data rather than as serialised pickles.",
            cwe=CWE_502,
        )
    )
    for finding in inner.findings:
        if (
            not exact
            and finding.location.offset is not None
            and finding.location.key_path == key_path
        ):
            # Offsets inside decoded text are not file offsets: point at the constant instead.
            location = replace(
                finding.location,
                offset=candidate.offset,
                key_path=f"{key_path}, inner byte {finding.location.offset}",
            )
            finding = replace(finding, location=location)
        result.findings.append(finding)
