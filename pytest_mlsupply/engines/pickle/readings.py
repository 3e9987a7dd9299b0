"""The other readings of a pickle stream: what loaders other than the machine's default run.

The default run (:func:`~.vm.run_machine`) follows CPython's two unpicklers at once, the C
one reading from memory, and steps over joblib's arrays as ``joblib.load`` does. Other
readings of the same bytes are run when the default one shows they differ:

* **pickle.load and torch.load of a joblib file** take the bytes joblib stores arrays in for
  opcodes, with the stack and memo built before them; so does pickle.py's unpickler used
  directly (``pickle._Unpickler``, ``dill.load``). Both are run when a file holds such arrays.
* **the C unpickler reading a file object without peek()** (``torch.load`` hands a zip
  checkpoint's ``data.pkl`` over as ``io.BytesIO``) drops the rest of a frame that a read runs
  past; it is run when a reading has such a read (MLS-PKL-012, high).
* **pickle.load called again** reads each pickle after the first with a memo of its own, where
  the default reading keeps the memo (an Unpickler whose ``load()`` is called again); it is
  run when the data holds more than one pickle, and everything it finds is reported.

Numeric data read as opcodes breaks off at random, and a joblib object array's pickle read
with the outer memo fetches the outer stream's objects: both make imports of odd names and
calls of odd objects that no loader completes. So from a reading of a joblib file only what
chance cannot produce is reported (a dangerous global imported or called by name, a mutation
of an imported object), unless the reading, out of step with joblib's reading, imports by name
something it then calls, mutates or hands to a call, or imports a name it computes, or where
the bytes are joblib's own imports what joblib does not (a name the arrays' bytes put in the
memo): that is a payload smuggled past joblib, and all of that reading's findings are reported.
An object array's own import with its module fetched from the outer memo (``numpy.dtype`` read
as ``joblib.numpy_pickle.dtype``) is that noise too, and dropped first.
"""

from __future__ import annotations

import bisect
import functools
import importlib.machinery
import importlib.metadata
import sys
from collections.abc import Mapping
from dataclasses import replace

from ...results import Finding, Severity
from .decoder import C_FILE_LOADER, C_LOADER, LOADER_NAMES, PY_LOADER
from .gadgets import LoaderOutcome
from .policy import PicklePolicy, Verdict
from .rules import FindingContext, c_file_finding, judge, trace_findings
from .values import Call, DynamicGlobal, Global, ImportRef
from .vm import MAKERS, OBJECT_ARRAY, Trace, run_machine

__all__ = ["other_readings"]

# What a payload in another reading of the stream is reported as.
_PAYLOAD = frozenset(
    {"MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-003", "MLS-PKL-004", "MLS-PKL-005", "MLS-PKL-006"}
)
# Of those, what chance cannot produce: a dangerous import or call needs its name spelled
# out, a mutation needs an imported object.
_NAMED = frozenset({"MLS-PKL-001", "MLS-PKL-005"})
_AS_C_READS_JOBLIB = (
    "as pickle.load and torch.load read the file: unlike joblib.load, they take the bytes "
    "joblib stores arrays in for opcodes, with the stack and memo built before them"
)
_AS_PY_READS_JOBLIB = (
    "as pickle.py's unpickler reads the file when not used by joblib (pickle._Unpickler, "
    "dill.load): it takes the bytes joblib stores arrays in for opcodes"
)
_AS_FRESH_LOADS = (
    "as pickle.load called again reads each pickle after the first: with a memo of its own, "
    "not the one the pickles before it left"
)
_AS_C_READS_A_FILE = (
    f"as {LOADER_NAMES[C_FILE_LOADER]} reads it: from the end of a frame that a read runs "
    "past, not from the bytes after the read's start"
)


def other_readings(
    data: memoryview,
    trace: Trace,
    policy: PicklePolicy,
    ctx: FindingContext,
    base_offset: int,
    known: list[Finding],
    execution_only: bool,
    imports: bool = False,
    fresh_memo: bool = False,
    loaded: Mapping[tuple[str, bytes], LoaderOutcome] | None = None,
) -> list[Finding]:
    """Findings of the other readings of ``data`` (see the module) that ``trace``, the
    default reading, does not follow; findings already in ``known`` are not repeated.
    ``loaded`` is what the default reading's nested loads gave, by what they load."""
    regions = trace.joblib_arrays
    joblib = bool(regions or trace.joblib_object_arrays)
    readings: list[tuple[Trace, str]] = []
    if joblib:
        for loader, note in ((C_LOADER, _AS_C_READS_JOBLIB), (PY_LOADER, _AS_PY_READS_JOBLIB)):
            other = run_machine(
                data, base_offset=base_offset, find_nested=False, loader=loader, regions=regions
            )
            readings.append((other, note))
    if not fresh_memo and trace.pickles_seen > 1:
        # pickle.load called again reads the next pickle with a memo of its own.
        fresh = run_machine(data, base_offset=base_offset, find_nested=False, fresh_memo=True)
        readings.append((fresh, _AS_FRESH_LOADS))
    diverged = [other for other, _ in readings if other.c_file_divergence is not None]
    if trace.c_file_divergence is not None or diverged:
        from_file = run_machine(
            data,
            base_offset=base_offset,
            find_nested=False,
            loader=C_FILE_LOADER,
            regions=regions if joblib else None,
        )
        readings.append((from_file, _AS_C_READS_A_FILE))

    found: list[Finding] = []
    seen = {(finding.rule, finding.title) for finding in known}
    for other in diverged:
        if trace.c_file_divergence is None:
            divergence = other.c_file_divergence
            assert divergence is not None
            finding = c_file_finding(ctx, divergence)
            if (finding.rule, finding.title) not in seen:
                seen.add((finding.rule, finding.title))
                found.append(replace(finding, evidence=f"{finding.evidence}; {_AS_C_READS_JOBLIB}"))
            break
    for other, note in readings:
        other = _without_memo_shifts(other, trace, policy)
        everything = (
            not joblib or note is _AS_FRESH_LOADS or _smuggles(other, trace, regions, policy)
        )
        for finding in trace_findings(
            other, policy, ctx, execution_only=execution_only, imports=imports, loaded=loaded
        ):
            key = (finding.rule, finding.title)
            if (
                finding.rule not in _PAYLOAD
                or not (everything or finding.rule in _NAMED or _names_a_callable(finding))
                or key in seen
            ):
                continue
            seen.add(key)
            found.append(replace(finding, evidence=f"{finding.evidence}; {note}"))
    return found


def _without_memo_shifts(other: Trace, main: Trace, policy: PicklePolicy) -> Trace:
    """``other`` without the imports that are joblib's own with the module shifted.

    A joblib object array's pickle, read with the outer stream's memo, fetches the module of
    an import it already made from the outer memo instead of its own: where joblib imports
    ``numpy.dtype``, ``pickle.load`` tries ``joblib.numpy_pickle.dtype`` (the outer slot of the
    same number), a name of no callable. Taken for that shift, and only then: an import inside
    an object array's pickle, at the STACK_GLOBAL where joblib's reading imports an allowed
    global of the same attribute name, from a module joblib's reading imports allowed globals
    from (the outer stream's), with no memo slot written by array bytes before it.
    """
    safe = [ref for ref in main.imports if judge(ref, policy).verdict is Verdict.SAFE]
    allowed = {ref.offset: ref.name for ref in safe if ref.opcode == "STACK_GLOBAL"}
    modules = {ref.module for ref in safe}
    arrays = main.joblib_object_arrays
    rewritten = other.region_memo_write

    def shifted(ref: ImportRef) -> bool:
        return (
            ref.opcode == "STACK_GLOBAL"
            and allowed.get(ref.offset) == ref.name
            and ref.module in modules
            and (rewritten is None or ref.offset < rewritten)
            and any(start <= ref.offset < end for start, end in arrays)
        )

    dropped = {id(ref) for ref in other.imports if shifted(ref)}
    if not dropped:
        return other
    return replace(
        other,
        imports=[ref for ref in other.imports if id(ref) not in dropped],
        calls=[c for c in other.calls if c.callable is None or id(c.callable) not in dropped],
        mutations=[m for m in other.mutations if id(m.target) not in dropped],
    )


def _smuggles(
    other: Trace, main: Trace, regions: list[tuple[int, int]], policy: PicklePolicy
) -> bool:
    """Whether ``other``, inside a numeric array or out of step with joblib's reading (``main``),
    imports by name a global it then calls, mutates or hands to a call, or imports a name that
    may be a string the loader made by running code; or, outside the arrays, imports what
    joblib's reading does not import there."""
    starts = [start for start, _ in regions]

    def smuggled(offset: int) -> bool:
        if other.desync_at is not None and offset >= other.desync_at:
            return True
        i = bisect.bisect_right(starts, offset) - 1
        return i >= 0 and offset < regions[i][1]

    def trusted(ref: ImportRef) -> bool:
        return not smuggled(ref.offset) and judge(ref, policy).verdict is Verdict.SAFE

    def may_be_made_str(value: object) -> bool:
        # STACK_GLOBAL takes exact strs only. What the outer stream's allowed classes and
        # functions return is not one (but str's own), so chance meeting them on the stack is
        # no import; a call's result otherwise, or an import, may be.
        if isinstance(value, DynamicGlobal) or value is OBJECT_ARRAY:
            return True
        if isinstance(value, Global):
            return not trusted(value.ref)
        if not isinstance(value, Call):
            return False
        func, args = value.func, value.args
        if isinstance(func, Global) and func.ref.dotted in MAKERS:
            func = args[0] if isinstance(args, tuple) and args else None
        if not isinstance(func, Global):
            return True
        return func.ref.dotted == "builtins.str" or not trusted(func.ref)

    # Outside the arrays the bytes are joblib's own, but what the arrays' bytes read as opcodes
    # left in the memo is not: an import there that joblib's reading does not make was built
    # from them.
    named = {ref.offset: ref.dotted for ref in main.imports}
    dynamic_in_main = {dynamic.offset for dynamic in main.dynamic_imports}
    for dynamic in other.dynamic_imports:
        if not any(may_be_made_str(part) for part in dynamic.operands):
            continue
        if smuggled(dynamic.offset) or dynamic.offset not in dynamic_in_main:
            return True
    suspects: set[int] = set()
    for ref in other.imports:
        if ref.ext_code is not None:
            continue  # an EXT code is a byte of chance; a name is not
        if smuggled(ref.offset):
            suspects.add(id(ref))
        elif named.get(ref.offset) != ref.dotted:
            # (An allowed name is harmless; one no loader can import runs nothing.)
            verdict = judge(ref, policy).verdict
            if verdict >= Verdict.SUSPICIOUS or (
                verdict is Verdict.UNKNOWN and _real_module(ref.module)
            ):
                return True
    if not suspects:
        return False
    used: list[ImportRef] = [m.target for m in other.mutations]
    for call in other.calls:
        if call.callable is not None:
            used.append(call.callable)
        used.extend(g.ref for g in call.handed())
    return any(id(ref) in suspects for ref in used)


@functools.lru_cache(maxsize=1024)
def _real_module(module: str) -> bool:
    """Whether ``module``'s top-level package exists here (the standard library's, or one on
    the path), found without importing anything. Numeric bytes that happen to move the outer
    stream's strings around in the memo make names like ``gini.dtype``, which no loader can
    import; a payload names a module the loader has. (Scan where the model is loaded, as the
    pytest plugin does, for the answer to be the loader's.)"""
    top = module.partition(".")[0]
    if not top.isidentifier():
        return False
    if top in sys.stdlib_module_names or top in sys.modules:
        return True
    # Not importlib.util.find_spec: it asks every finder on sys.meta_path, and those are code
    # the environment installed (setuptools' distutils shim, reached through a .pth, clears
    # sys.modules for "pip" and, on 3.12+, imports setuptools for "distutils"): a name from
    # an artifact must not choose what runs. The path's own finders look at files only.
    try:
        if importlib.machinery.PathFinder.find_spec(top) is not None:
            return True
    except (ImportError, ValueError, OSError):
        return True  # a finder that fails: take it as there
    return top in _installed_top_levels()


@functools.lru_cache(maxsize=1)
def _installed_top_levels() -> frozenset[str]:
    """Top-level names of the installed distributions (their metadata files, read, not run):
    a package a meta-path finder provides (an editable install) is there too."""
    try:
        return frozenset(importlib.metadata.packages_distributions())
    except Exception:  # metadata the environment cannot read: no name is added
        return frozenset()


def _names_a_callable(finding: Finding) -> bool:
    """A dangerous callable called by name (not one computed at load time)."""
    return finding.rule == "MLS-PKL-002" and finding.severity is Severity.CRITICAL
