"""The MLS-PKL rules: turn what the machine saw, judged by the policy, into findings.

| rule | what | severity |
|---|---|---|
| MLS-PKL-001 | a dangerous global is imported | critical |
| MLS-PKL-002 | a dangerous callable is invoked / a computed or planted-__setstate__ callable | critical / high |
| MLS-PKL-003 | a global outside the allowlist (unknown or suspicious) | high under default-deny |
| MLS-PKL-004 | STACK_GLOBAL with operands that are not string constants | critical / high |
| MLS-PKL-005 | BUILD or a container opcode applied to a module, class or function | critical |
| MLS-PKL-006 | an import through an EXT1/EXT2/EXT4 copyreg extension code | high |
| MLS-PKL-007 | a payload runs before the data stops being a valid pickle | critical / high |
| MLS-PKL-009 | a byte or text constant is itself a pickle (scanned recursively) | low |
| MLS-PKL-010 | bytes after the last pickle that are not a pickle | low / medium |
| MLS-PKL-011 | the stream would exhaust the loader's memory or time | high |
| MLS-PKL-012 | the loaders read the stream differently, or joblib in a way no scanner follows | high / medium |
| MLS-PKL-013 | the pickle makes its loader read another file | high / medium |
| MLS-PKL-014 | a class trusted only when re-created is called, running its constructor | high |
| MLS-PKL-016 | a gadget wrapper around an allowed callable, never called during the load | low |
| MLS-PKL-017 | a gadget wrapper around a dangerous callable, or called during the load | critical |
| MLS-PKL-018 | a nested load of constant bytes that scan clean | info |
| MLS-PKL-019 | a nested load of bytes that carry a payload or cannot be read | critical |

Where only one of CPython's unpicklers reaches a payload (the other stops first), the
finding's evidence says which one runs it.

MLS-PKL-008 (the data is not a pickle at all) is an error, not a finding: it makes the
check's verdict "error" unless a finding already fails it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ...results import Finding, Location, Severity
from .allowlist import reconstruct_only
from .decoder import C_FILE_LOADER, C_LOADER, LOADER_NAMES, PY_LOADER
from .gadgets import Assessment, GadgetUse, LoaderOutcome, assess
from .policy import Decision, PicklePolicy, Verdict, decide
from .values import Call, CallRef, Global, ImportRef, SymDict, SymList, SymSet, describe
from .vm import LoaderStop, Trace

__all__ = [
    "UNRESOLVED_EXTENSION",
    "FindingContext",
    "c_file_finding",
    "judge",
    "trace_findings",
]

CATEGORY = "unsafe-deserialization"
CWE_502 = "CWE-502"
#: Module name given to EXT imports whose code is not in this process's copyreg registry.
UNRESOLVED_EXTENSION = "<copyreg extension>"

_REMEDIATE_IMPORT = (
    "Do not load this file with pickle, torch.load(weights_only=False) or joblib. Re-export the "
    "weights as safetensors, or load with torch.load(weights_only=True) after confirming the source."
)
_REMEDIATE_UNKNOWN = (
    "If this class is yours and trusted, add it to the pickle policy's allow_globals "
    "(for example 'mypkg.MyClass' or 'mypkg.*'); otherwise convert the artifact to safetensors."
)


@dataclass(frozen=True)
class FindingContext:
    """Where the scanned bytes came from, for the findings' locations."""

    origin: str
    member: str | None = None
    key_path: str | None = None

    def at(self, offset: int | None) -> Location:
        return Location(file=self.origin, member=self.member, offset=offset, key_path=self.key_path)


def judge(ref: ImportRef, policy: PicklePolicy) -> Decision:
    """The policy's verdict on one import; user allow entries lift unknown and suspicious only."""
    if ref.ext_code is not None and ref.module == UNRESOLVED_EXTENSION:
        return Decision(Verdict.SUSPICIOUS, f"unregistered copyreg extension code {ref.ext_code}")
    decision = decide(ref.module, ref.name)
    if decision.verdict in (Verdict.UNKNOWN, Verdict.SUSPICIOUS) and policy.allows(ref.dotted):
        return Decision(Verdict.SAFE, "allowed by the project's pickle policy", ref.dotted)
    return decision


class _Collector:
    """Groups repeated findings (one per rule and subject) so a payload repeated a thousand
    times reads as one finding with its offsets, not a thousand."""

    def __init__(self, ctx: FindingContext, trace: Trace) -> None:
        self.ctx = ctx
        self.trace = trace
        self.order: list[tuple[str, str]] = []
        self.first: dict[tuple[str, str], Finding] = {}
        self.offsets: dict[tuple[str, str], list[int]] = {}

    def add(self, subject: str, finding: Finding, offset: int) -> None:
        key = (finding.rule, subject)
        if key not in self.first:
            note = reach_note(self.trace, offset) if finding.rule in _PAYLOAD_RULES else ""
            if note:
                finding = replace(finding, evidence=f"{finding.evidence}; {note}")
            self.order.append(key)
            self.first[key] = finding
            self.offsets[key] = []
        self.offsets[key].append(offset)

    def findings(self) -> list[tuple[str, Finding]]:
        """(subject, finding) in the order first seen; the subject is the global's name for
        import and call findings."""
        out: list[tuple[str, Finding]] = []
        for key in self.order:
            finding = self.first[key]
            offsets = self.offsets[key]
            if len(offsets) > 1:
                shown = ", ".join(str(o) for o in offsets[:5])
                more = f" and {len(offsets) - 5} more" if len(offsets) > 5 else ""
                finding = Finding(
                    rule=finding.rule,
                    severity=finding.severity,
                    category=finding.category,
                    title=finding.title,
                    location=finding.location,
                    evidence=f"{finding.evidence} (seen {len(offsets)} times, at bytes {shown}{more})",
                    why=finding.why,
                    remediation=finding.remediation,
                    cwe=finding.cwe,
                )
            out.append((key[1], finding))
        return out


def _import_evidence(ref: ImportRef) -> str:
    text = f"{ref.opcode} {ref.module} {ref.name}"
    if ref.spelled:
        text += f" (written {ref.spelled}, mapped by fix_imports)"
    if ref.ext_code is not None:
        text += f" (extension code {ref.ext_code})"
    return text


def _import_findings(
    trace: Trace, policy: PicklePolicy, out: _Collector, exempt: set[int]
) -> dict[int, Decision]:
    decisions: dict[int, Decision] = {}
    deny = policy.mode == "default-deny"
    for ref in trace.imports:
        decision = judge(ref, policy)
        decisions[id(ref)] = decision
        if ref.module == UNRESOLVED_EXTENSION:
            continue  # reported by MLS-PKL-006
        if id(ref) in exempt:
            continue  # a gadget used only harmlessly: MLS-PKL-016 / MLS-PKL-018 say how
        if decision.verdict is Verdict.DANGEROUS:
            finding = Finding(
                rule="MLS-PKL-001",
                severity=Severity.CRITICAL,
                category=CATEGORY,
                title=f"pickle imports dangerous global {ref.dotted}",
                location=out.ctx.at(ref.offset),
                evidence=_import_evidence(ref),
                why=f"{decision.matched}: {decision.reason}. Loading the file imports it, and "
                "the pickle can call it with arguments of its choosing.",
                remediation=_REMEDIATE_IMPORT,
                cwe=CWE_502,
            )
        elif decision.verdict in (Verdict.UNKNOWN, Verdict.SUSPICIOUS):
            suspicious = decision.verdict is Verdict.SUSPICIOUS
            severity = Severity.HIGH if deny else Severity.MEDIUM if suspicious else Severity.LOW
            kind = "suspicious" if suspicious else "unknown"
            finding = Finding(
                rule="MLS-PKL-003",
                severity=severity,
                category=CATEGORY,
                title=f"pickle imports {kind} global {ref.dotted}",
                location=out.ctx.at(ref.offset),
                evidence=_import_evidence(ref),
                why=(f"{decision.reason}. " if suspicious else "")
                + "Any import in a pickle runs that module's code and hands the loader an object "
                "it may call; only globals on the allowlist are known to be harmless.",
                remediation=_REMEDIATE_UNKNOWN,
                cwe=CWE_502,
            )
        else:
            continue
        out.add(ref.dotted, finding, ref.offset)
    return decisions


def getattr_exemptions(trace: Trace) -> tuple[set[int], set[int]]:
    """(``id()`` of the ``builtins.getattr`` imports, of the getattr calls) not to report as
    dangerous: the calls the machine resolved to an allowed global (:class:`~.vm.GetattrUse`)
    whose result nothing mutates, and the imports whose every call is one of those and that
    are neither mutated nor handed to any code (a call's arguments, a BUILD or item state, a
    persistent id), where something might call them with other arguments."""
    if not trace.getattrs:
        return set(), set()
    mutated = {id(mutation.target) for mutation in trace.mutations}
    calls = {id(use.call) for use in trace.getattrs if id(use.resolved) not in mutated}
    refs = {id(use.getattr) for use in trace.getattrs}
    kept = set(refs) - mutated
    for call in trace.calls:
        if call.callable is not None and id(call.callable) in kept and id(call) not in calls:
            kept.discard(id(call.callable))
    roots: list[Any] = [(call.args, call.kwargs) for call in trace.calls]
    roots.extend(value for _, value, _ in trace.sinks)
    kept -= _globals_inside(roots, kept)
    return kept, calls


def _globals_inside(roots: list[Any], wanted: set[int]) -> set[int]:
    """Which of the imports ``wanted`` (``id()`` of ImportRefs) are inside ``roots``, through
    containers (each visited once; a call's own arguments are a root of their own)."""
    found: set[int] = set()
    seen: set[int] = set()
    work = list(roots)
    while work and wanted - found:
        item = work.pop()
        if isinstance(item, Global):
            if id(item.ref) in wanted:
                found.add(id(item.ref))
            continue
        if id(item) in seen:
            continue
        if isinstance(item, tuple):
            seen.add(id(item))
            work.extend(item)
        elif isinstance(item, (SymList, SymSet)):
            seen.add(id(item))
            work.extend(item.items)
        elif isinstance(item, SymDict):
            seen.add(id(item))
            work.extend(part for pair in item.items for part in pair)
        elif isinstance(item, Call):
            seen.add(id(item))
            work.extend((item.args, item.kwargs, *item.states))
    return found


def reach_note(trace: Trace, offset: int) -> str:
    """Which unpickler reaches ``offset`` when only one of them does (else "")."""
    reached = trace.reached_by(offset)
    if len(reached) != 1:
        return ""
    stop = next(
        s
        for s in trace.loader_stops
        if s.loader in (C_LOADER, PY_LOADER) and s.loader not in reached and s.offset <= offset
    )
    return (
        f"only {LOADER_NAMES[reached[0]]} reaches this: {stop.loader_name} stops first, at "
        f"byte {stop.offset} ({stop.reason})"
    )


#: What a loader would run, whatever the file claims to be: the probe of non-pickle content.
EXECUTION_RULES = frozenset(
    {"MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-004", "MLS-PKL-005", "MLS-PKL-017", "MLS-PKL-019"}
)


def trace_findings(
    trace: Trace,
    policy: PicklePolicy,
    ctx: FindingContext,
    *,
    execution_only: bool = False,
    imports: bool = False,
    loaded: Mapping[tuple[str, bytes], LoaderOutcome] | None = None,
) -> list[Finding]:
    """All findings for one machine trace (nested pickles are handled by the caller).

    ``loaded`` is what scanning the constant bytes of each nested load gave (keyed by
    :func:`~.gadgets.load_key`): a load whose bytes scan clean is not a dangerous call.

    ``execution_only`` keeps what proves that a loader would run something (for content that
    is not a pickle but that a pickle loader may still be given): dangerous imports, calls,
    dynamic imports, mutations of imported objects, and an import outside the allowlist only
    when it is also called or handed to a call, or (``imports``) whenever a loader reaches it:
    importing a module runs its code.
    """
    findings = _all_findings(trace, policy, ctx, loaded)
    if not execution_only:
        return [finding for _, finding in findings]
    # An import handed to a call is called as well by callables that call their arguments
    # (torch's _rebuild_from_type_v2, copyreg's _reconstructor): it counts as called.
    called = {call.callable.dotted for call in trace.calls if call.callable is not None}
    called |= {g.ref.dotted for call in trace.calls for g in call.handed()}
    # Exhaustion that needs a valid pickle before it (a memo write, a call, a graph) is what
    # pickle.load would suffer; a length field alone is any binary file's chance bytes.
    earned = {f"exhaustion:{item.opcode}" for item in trace.exhaustion if item.kind != "length"}
    return [
        finding
        for subject, finding in findings
        if finding.rule in EXECUTION_RULES
        or (finding.rule == "MLS-PKL-003" and (imports or subject in called))
        or (finding.rule == "MLS-PKL-007" and trace.calls)
        or (finding.rule == "MLS-PKL-011" and subject in earned)
    ]


#: The offsets in a computed call's description (the collector groups across them).
_AT_BYTE = re.compile(r" at byte \d+")

# Findings about a payload step, whose evidence says which unpickler reaches it.
_PAYLOAD_RULES = frozenset(
    {
        "MLS-PKL-001",
        "MLS-PKL-002",
        "MLS-PKL-003",
        "MLS-PKL-004",
        "MLS-PKL-005",
        "MLS-PKL-006",
        "MLS-PKL-017",
        "MLS-PKL-019",
    }
)


def _all_findings(
    trace: Trace,
    policy: PicklePolicy,
    ctx: FindingContext,
    loaded: Mapping[tuple[str, bytes], LoaderOutcome] | None = None,
) -> list[tuple[str, Finding]]:
    out = _Collector(ctx, trace)
    gadgets = (
        assess(trace, lambda ref: judge(ref, policy).verdict is Verdict.SAFE, loaded)
        if trace.watched
        else Assessment.empty()
    )
    getattr_imports, getattr_calls = getattr_exemptions(trace)
    decisions = _import_findings(trace, policy, out, gadgets.exempt_imports | getattr_imports)
    risky_offsets: list[tuple[int, bool]] = []  # (offset, dangerous) of payload steps

    for call in trace.calls:
        if id(call) in gadgets.exempt_calls or id(call) in getattr_calls:
            continue
        if call.callable is not None:
            decision = decisions.get(id(call.callable)) or judge(call.callable, policy)
            if decision.verdict is Verdict.DANGEROUS:
                risky_offsets.append((call.offset, True))
                out.add(
                    call.callable.dotted,
                    Finding(
                        rule="MLS-PKL-002",
                        severity=Severity.CRITICAL,
                        category=CATEGORY,
                        title=f"pickle calls dangerous callable {call.callable.dotted}",
                        location=ctx.at(call.offset),
                        evidence=f"{call.opcode} on {call.callable.dotted} "
                        f"(imported at byte {call.callable.offset}) with arguments "
                        f"{describe(call.args)}",
                        why=f"{decision.reason}: the call runs while the file is being loaded.",
                        remediation=_REMEDIATE_IMPORT,
                        cwe=CWE_502,
                    ),
                    call.offset,
                )
            elif decision.verdict is not Verdict.SAFE:
                risky_offsets.append((call.offset, False))
        elif call.computed:
            risky_offsets.append((call.offset, True))
            out.add(
                # Grouped by what is called, wherever it was made: a chain of 10^5 calls of
                # calls is a few findings with their offsets, not 10^5 findings.
                _AT_BYTE.sub("", call.target),
                Finding(
                    rule="MLS-PKL-002",
                    severity=Severity.HIGH,
                    category=CATEGORY,
                    title="pickle calls a callable computed at load time",
                    location=ctx.at(call.offset),
                    evidence=f"{call.opcode} on {call.target}",
                    why="Legitimate pickles only call imported globals; calling the result of "
                    "another call or of a dynamic import hides what actually runs.",
                    remediation=_REMEDIATE_IMPORT,
                    cwe=CWE_502,
                ),
                call.offset,
            )

    for use in gadgets.uses:
        subject = f"gadget:{use.dotted}:{use.harmless}:{use.reason}"
        out.add(subject, _gadget_finding(use, ctx), use.call.offset)
    _constructor_findings(trace, decisions, out)
    for offset, value in trace.planted_setstate:
        risky_offsets.append((offset, True))
        out.add(
            "planted-setstate",
            Finding(
                rule="MLS-PKL-002",
                severity=Severity.HIGH,
                category=CATEGORY,
                title="pickle stores a callable under a name the loader calls",
                location=ctx.at(offset),
                evidence=f"a BUILD state or item stores {describe(value)} under '__setstate__' "
                "(or under 'extend' / 'append' / 'add' of an object that is then appended or "
                "added to)",
                why="A BUILD calls getattr(obj, '__setstate__') with its state, APPEND(S) and "
                "ADDITEMS on an object that is not a list or set call its extend / append / add: "
                "an instance attribute of that name wins over the class's method, and a dict "
                "whose __getattr__ reads its items (Lightning's AttributeDict) answers with the "
                "item. No pickler writes that; the pickle chooses what the loader calls.",
                remediation=_REMEDIATE_IMPORT,
                cwe=CWE_502,
            ),
            offset,
        )

    for mutation in trace.mutations:
        risky_offsets.append((mutation.offset, True))
        out.add(
            mutation.target.dotted,
            Finding(
                rule="MLS-PKL-005",
                severity=Severity.CRITICAL,
                category=CATEGORY,
                title=f"pickle modifies the global object {mutation.target.dotted}",
                location=ctx.at(mutation.offset),
                evidence=f"{mutation.opcode} on {mutation.target.dotted}: {mutation.detail}",
                why="BUILD, APPEND, SETITEM and ADDITEMS on an imported module, class or function "
                "set its attributes or call its methods; a pickle can rewire code that runs later.",
                remediation=_REMEDIATE_IMPORT,
                cwe=CWE_502,
            ),
            mutation.offset,
        )

    for dynamic in trace.dynamic_imports:
        module_decision = decide(dynamic.module, "*") if dynamic.module else None
        dangerous = dynamic.computed or (
            module_decision is not None and module_decision.verdict is Verdict.DANGEROUS
        )
        risky_offsets.append((dynamic.offset, dangerous))
        out.add(
            str(dynamic.offset),
            Finding(
                rule="MLS-PKL-004",
                severity=Severity.CRITICAL if dangerous else Severity.HIGH,
                category=CATEGORY,
                title="pickle imports a global whose name is computed at load time",
                location=ctx.at(dynamic.offset),
                evidence=f"STACK_GLOBAL with {dynamic.detail}",
                why="The module and name of this import are not constants in the file, so no "
                "scanner can tell what it imports; legitimate picklers always write them out.",
                remediation=_REMEDIATE_IMPORT,
                cwe=CWE_502,
            ),
            dynamic.offset,
        )

    for ext in trace.extensions:
        target = ext.resolved.dotted if ext.resolved else "an unregistered code"
        out.add(
            f"ext:{ext.code}",
            Finding(
                rule="MLS-PKL-006",
                severity=Severity.HIGH,
                category=CATEGORY,
                title=f"pickle imports through copyreg extension code {ext.code}",
                location=ctx.at(ext.offset),
                evidence=f"{ext.opcode} {ext.code} -> {target}",
                why="EXT opcodes import whatever the loading program registered under that code "
                "with copyreg.add_extension; the name is not in the file, so it cannot be vetted.",
                remediation=_REMEDIATE_IMPORT,
                cwe=CWE_502,
            ),
            ext.offset,
        )

    if trace.error is not None:
        before = [(o, d) for o, d in risky_offsets if o < trace.error.offset]
        if before:
            dangerous = any(d for _, d in before)
            out.add(
                "error",
                Finding(
                    rule="MLS-PKL-007",
                    severity=Severity.CRITICAL if dangerous else Severity.HIGH,
                    category=CATEGORY,
                    title="pickle payload runs before the data becomes invalid",
                    location=ctx.at(trace.error.offset),
                    evidence=f"{len(before)} call(s) or import(s) outside the allowlist before "
                    f"the parse error at byte {trace.error.offset} ({trace.error.message})",
                    why="The loader executes opcodes as it reads them; the error comes after the "
                    "payload has already run, so a corrupt-looking file is no protection.",
                    remediation=_REMEDIATE_IMPORT,
                    cwe=CWE_502,
                ),
                trace.error.offset,
            )

    if trace.trailing is not None:
        trailing = trace.trailing
        out.add(
            "trailing",
            Finding(
                rule="MLS-PKL-010",
                severity=Severity.MEDIUM if trailing.partial_pickle else Severity.LOW,
                category=CATEGORY,
                title="data after the last pickle",
                location=ctx.at(trailing.offset),
                evidence=f"{trailing.length} bytes after the STOP opcode"
                + (", starting with pickle opcodes that break" if trailing.partial_pickle else ""),
                why="Bytes after the end of a pickle are ignored by pickle.load but read by loaders "
                "that call it in a loop or seek into the file; they can hide a second payload.",
                remediation="Re-save the artifact so that the file holds only what its format "
                "defines.",
            ),
            trailing.offset,
        )
    for item in trace.exhaustion:
        out.add(
            f"exhaustion:{item.opcode}",
            Finding(
                rule="MLS-PKL-011",
                severity=Severity.HIGH,
                category="resource-exhaustion",
                title="pickle would exhaust the loader's memory or time",
                location=ctx.at(item.offset),
                evidence=item.detail,
                why="A pickle writer never produces this. Loading the file (or walking what it "
                "loads) takes the memory or time of the machine that does it: a denial of "
                "service of the build, the training job or the inference server.",
                remediation="Do not load this file; re-export the artifact from its source, "
                "as safetensors.",
                cwe="CWE-400",
            ),
            item.offset,
        )

    for load in trace.file_loads:
        escapes = (
            load.filename.startswith(("/", "\\"))
            or ".." in load.filename.replace("\\", "/").split("/")
            or (len(load.filename) > 1 and load.filename[1] == ":")
        )
        out.add(
            f"file:{load.filename}",
            Finding(
                rule="MLS-PKL-013",
                severity=Severity.HIGH if escapes else Severity.MEDIUM,
                category=CATEGORY,
                title="pickle makes its loader read another file",
                location=ctx.at(load.offset),
                evidence=f"{load.target} names {load.filename!r}: joblib.load opens it relative "
                "to the pickle's folder and loads it with numpy.load(allow_pickle=True)"
                + (", outside the model's folder" if escapes else ""),
                why="What that file holds is unpickled too; a name that leaves the model's "
                "folder makes the loader run a file nobody vetted with the model.",
                remediation="Re-save the model with a current joblib (one file); never load "
                "a pickle that names files outside its own folder.",
                cwe="CWE-73",
            ),
            load.offset,
        )

    for stop in trace.loader_stops:
        if stop.loader == C_FILE_LOADER:
            out.add("diverge:c-file", c_file_finding(ctx, stop), stop.offset)
            continue
        hidden = [(o, d) for o, d in risky_offsets if o >= stop.offset]
        if stop.at_end and not hidden:
            continue  # the last opcode of the data: nothing hides behind the disagreement
        other = next(
            name
            for key, name in LOADER_NAMES.items()
            if key in (C_LOADER, PY_LOADER) and key != stop.loader
        )
        out.add(
            f"diverge:{stop.loader}",
            Finding(
                rule="MLS-PKL-012",
                severity=Severity.HIGH if hidden else Severity.MEDIUM,
                category="scanner-evasion",
                title="CPython's two unpicklers read this pickle differently",
                location=ctx.at(stop.offset),
                evidence=f"{stop.loader_name} stops at byte {stop.offset} ({stop.reason}); "
                f"{other} reads on"
                + (
                    f", to {len(hidden)} call(s) or import(s) outside the allowlist"
                    if hidden
                    else ""
                ),
                why="No pickle writer produces this. Where the C unpickler (pickle.load, "
                "torch.load) and pickle.py (joblib.load) disagree, a tool that reads pickles "
                "one way vets a different stream than the loader that runs it.",
                remediation=_REMEDIATE_IMPORT,
                cwe="CWE-436",
            ),
            stop.offset,
        )

    if trace.unfollowable is not None:
        unfollowable = trace.unfollowable
        out.add(
            "diverge:joblib",
            Finding(
                rule="MLS-PKL-012",
                severity=Severity.HIGH,
                category="scanner-evasion",
                title="joblib reads on through this pickle in a way no scanner can follow",
                location=ctx.at(unfollowable.offset),
                evidence=f"{unfollowable.message}; the scan stops here",
                why="joblib reads an array's bytes straight from the file after each array "
                "wrapper, as the wrapper's attributes say. joblib never writes a wrapper like "
                "this one: where joblib.load goes on reading opcodes depends on what only the "
                "loader computes, so what it runs next cannot be vetted.",
                remediation=_REMEDIATE_IMPORT,
                cwe="CWE-436",
            ),
            unfollowable.offset,
        )
    return out.findings()


def _gadget_finding(use: GadgetUse, ctx: FindingContext) -> Finding:
    """MLS-PKL-016..019: a gadget wrapper or nested load, judged by what it holds."""
    location = ctx.at(use.call.offset)
    evidence = f"{use.call.opcode} on {use.dotted} at byte {use.call.offset}: {use.reason}"
    if use.kind.startswith("load-"):
        if use.harmless:
            return Finding(
                rule="MLS-PKL-018",
                severity=Severity.INFO,
                category=CATEGORY,
                title=f"pickle loads constant bytes with {use.dotted}, and they scan clean",
                location=location,
                evidence=evidence,
                why="This is how a pickled torch tensor carries its storage (torch.save bytes "
                "handed to torch.storage._load_from_bytes), and how some objects pickle an "
                "array (numpy.save or joblib.dump bytes handed to numpy.load or joblib.load in "
                "an io.BytesIO). The bytes are in the file and were read as the loader reads "
                "them: the nested load runs nothing outside the allowlist.",
                remediation="None needed; to avoid nested loads altogether, store tensors "
                "as safetensors.",
                cwe=CWE_502,
            )
        return Finding(
            rule="MLS-PKL-019",
            severity=Severity.CRITICAL,
            category=CATEGORY,
            title=f"pickle loads bytes with {use.dotted} that carry a payload or cannot be read",
            location=location,
            evidence=evidence,
            why="A nested loader unpickles its argument while the file is being loaded: whatever "
            "those bytes hold runs too. Bytes that are not a constant in the file, that cannot "
            "be read to their end, or that hold findings of their own are a payload, or hide "
            "one.",
            remediation=_REMEDIATE_IMPORT,
            cwe=CWE_502,
        )
    if use.harmless:
        return Finding(
            rule="MLS-PKL-016",
            severity=Severity.LOW,
            category=CATEGORY,
            title=f"pickle builds {use.dotted}({use.wrapped}), never called while loading",
            location=location,
            evidence=evidence,
            why=f"{use.dotted} only builds a wrapper; this one holds an allowed callable or "
            "plain names and data, and nothing in the file calls it while it loads "
            "(scikit-learn stores functions this way). Code that later calls it runs only "
            "what it wraps.",
            remediation="None needed; review the object if its origin is unknown.",
            cwe=CWE_502,
        )
    return Finding(
        rule="MLS-PKL-017",
        severity=Severity.CRITICAL,
        category=CATEGORY,
        title=f"pickle builds a {use.dotted} gadget that runs code",
        location=location,
        evidence=f"{evidence}; wraps {use.wrapped}",
        why=f"{use.dotted} makes a callable out of another callable, a method name or an "
        "attribute path. Wrapping something outside the allowlist, reaching private or "
        "code-running attributes, or being called while the file loads (REDUCE on it, a "
        "__setstate__ that swaps its function, code that calls what it is given) runs "
        "what the pickle chose.",
        remediation=_REMEDIATE_IMPORT,
        cwe=CWE_502,
    )


def c_file_finding(ctx: FindingContext, stop: LoaderStop) -> Finding:
    return Finding(
        rule="MLS-PKL-012",
        severity=Severity.HIGH,
        category="scanner-evasion",
        title="the C unpickler reads this pickle differently from a file than from memory",
        location=ctx.at(stop.offset),
        evidence=f"{stop.reason}: {LOADER_NAMES[C_FILE_LOADER]} drops the rest of the frame "
        "and reads on from its end, pickle.loads reads on contiguously, and pickle.py stops",
        why="Pickle writers end frames between opcodes; only a crafted stream has a read that "
        "runs past one with bytes left in it. What a loader then runs depends on how the file "
        "is opened (and, for buffered files, on the file system's block size): no single "
        "reading of it can be vetted. The file-object reading is scanned too, and its "
        "findings reported.",
        remediation=_REMEDIATE_IMPORT,
        cwe="CWE-436",
    )


def worst(findings: Iterable[Finding]) -> Severity | None:
    """The highest severity among ``findings``, or None when there are none."""
    return max((f.severity for f in findings), default=None)


def _runs_init(call: CallRef) -> ImportRef | None:
    """The reconstruct-only class whose ``__init__`` this call runs, or None.

    REDUCE, and INST/OBJ with arguments, call the class (``__new__`` then ``__init__``); NEWOBJ,
    NEWOBJ_EX and ``copyreg.__newobj__`` only ``__new__``. ``copyreg._reconstructor(cls, base,
    state)`` runs ``base.__init__(obj, state)`` when ``base`` is not ``object``.
    """
    ref = call.callable
    if ref is None:
        return None
    if ref.dotted == "copyreg._reconstructor":
        args = call.args if isinstance(call.args, tuple) else ()
        base = args[1] if len(args) > 1 else None
        if isinstance(base, Global) and reconstruct_only(base.ref.module, base.ref.name):
            return base.ref
        return None
    if ref.dotted in ("copyreg.__newobj__", "copyreg.__newobj_ex__"):
        return None  # cls.__new__(cls, ...): no __init__
    calls_init = call.opcode == "REDUCE" or (call.opcode in ("INST", "OBJ") and call.args != ())
    if calls_init and reconstruct_only(ref.module, ref.name):
        return ref
    if call.opcode in ("NEWOBJ", "NEWOBJ_EX"):
        return None  # the arguments go to __new__
    # A class handed to another callable may be called by it: numpy's __bit_generator_ctor
    # calls the class it is given, torch's _rebuild_from_type_v2 its first argument.
    for handed in call.handed():
        if reconstruct_only(handed.ref.module, handed.ref.name):
            return handed.ref
    return None


def _constructor_findings(trace: Trace, decisions: dict[int, Decision], out: _Collector) -> None:
    """MLS-PKL-014: a class the allowlist trusts only as data is called instead."""
    for call in trace.calls:
        target = _runs_init(call)
        if target is None:
            continue
        decision = decisions.get(id(target))
        if decision is not None and decision.verdict is not Verdict.SAFE:
            continue  # already reported as an import outside the allowlist
        out.add(
            f"init:{target.dotted}",
            Finding(
                rule="MLS-PKL-014",
                severity=Severity.HIGH,
                category=CATEGORY,
                title=f"pickle runs the constructor of {target.dotted}",
                location=out.ctx.at(call.offset),
                evidence=f"{call.opcode} on {call.target or target.dotted} with arguments "
                f"{describe(call.args)}",
                why="The allowlist trusts this class only as data re-created without __init__, "
                "which is how its library pickles it; its constructor does more (reads files "
                "named in its arguments, sets up devices or processes), and this pickle runs it "
                "with arguments of its choosing.",
                remediation="Do not load the file. Re-save the object with its library (or "
                "export the configuration as JSON) from a trusted environment.",
                cwe=CWE_502,
            ),
            call.offset,
        )
