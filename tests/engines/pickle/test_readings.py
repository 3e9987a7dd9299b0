"""The C unpickler's other readings of a stream, and where pickle.py acts before it fails.

Each construction is read by the real loaders in a subprocess (``pickle.loads``, ``pickle.load``
of an ``io.BytesIO``, ``pickle._Unpickler``): what they return, or that they fail, is compared
with what the machine says each reading does. The payloads here call nothing; the scanner
findings they lead to are checked beside.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import subprocess
import sys

import joblib
import numpy as np
import pytest

from pytest_mlsupply.engines.pickle import PicklePolicy, PickleScan, scan_pickle_bytes
from pytest_mlsupply.engines.pickle.decoder import C_FILE_LOADER, C_LOADER, PY_LOADER
from pytest_mlsupply.engines.pickle.values import Call, Global, ImportRef
from pytest_mlsupply.engines.pickle.vm import _dtype_layout, _LoadError, run_machine
from pytest_mlsupply.results import Severity

_READ = """
import io, json, pickle, sys
out = []
for hexdata in json.load(sys.stdin):
    data = bytes.fromhex(hexdata)
    row = {}
    for name, load in (
        ("c", pickle.loads),
        ("c-file", lambda d: pickle.load(io.BytesIO(d))),
        ("py", pickle._loads),
    ):
        try:
            row[name] = repr(load(data))
        except Exception as exc:
            row[name] = "error"
    out.append(row)
print(json.dumps(out))
"""


def real_readings(*inputs: bytes) -> list[dict[str, str]]:
    """What each real loader returns for each input ("error" when it raises)."""
    result = subprocess.run(
        [sys.executable, "-c", _READ],
        input=json.dumps([data.hex() for data in inputs]),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows: list[dict[str, str]] = json.loads(result.stdout)
    return rows


def first_value(data: bytes, loader: str) -> str:
    """What the machine says ``loader``'s reading loads (its first pickle), or "error"."""
    if loader == PY_LOADER:
        trace = run_machine(data)
        if PY_LOADER not in trace.reached_by(len(data)) or trace.error is not None:
            return "error"
    else:
        trace = run_machine(data, loader=C_FILE_LOADER if loader == "c-file" else C_LOADER)
        if trace.error is not None and trace.error.pickle_index == 0:
            return "error"
    return repr(trace.first_result) if trace.stops else "error"


def scan(data: bytes) -> PickleScan:
    return scan_pickle_bytes(data, policy=PicklePolicy(), origin="model.pkl")


def frame(size: int) -> bytes:
    return b"\x95" + struct.pack("<Q", size)


# A frame holding SHORT_BINUNICODE's opcode, its length 5 and 2 of its 5 bytes: from memory the
# string is 'ab' and the 3 bytes after the frame; from a file object, the 5 bytes after it.
STRADDLING_STRING = b"\x80\x04" + frame(4) + b"\x8c\x05ab" + b"cdeN."
# The same with a line: GLOBAL's module line starts in the frame and ends after it.
STRADDLING_LINE = b"\x80\x04" + frame(3) + b"Vab" + b"cd\nN.Vxy\n."
# A FRAME whose own bytes run past the frame it sits in.
STRADDLING_FRAME = b"\x80\x04" + frame(4) + b"N0" + frame(0)[:2] + frame(0)[2:] + b"N."
# BINBYTES' payload is read with ReadInto: contiguous past a frame in every reading.
STRADDLING_BYTES = b"\x80\x04" + frame(4) + b"C\x05ab" + b"cde."
# A STOP inside a frame with bytes left: the next pickle.load of a file object starts after it.
STOP_INSIDE_A_FRAME = b"\x80\x04" + frame(6) + b"N.\x8c\x01x." + b"\x8c\x01y."


@pytest.mark.parametrize(
    "data",
    [STRADDLING_STRING, STRADDLING_LINE, STRADDLING_FRAME, STRADDLING_BYTES],
    ids=["string", "line", "frame", "bytes"],
)
def test_each_reading_of_a_frame_straddle_loads_what_the_real_loader_loads(data: bytes) -> None:
    (real,) = real_readings(data)
    predicted = {loader: first_value(data, loader) for loader in real}
    assert predicted == real


def test_a_read_past_a_frame_with_bytes_left_reads_differently_from_a_file() -> None:
    (real,) = real_readings(STRADDLING_STRING + b".")
    assert real["c"] == "None"  # 'abcde', then None and STOP
    assert real["c-file"] == "'cdeN.'"  # the frame's 'ab' dropped: 'N.' is part of the string
    assert real["py"] == "error"  # pickle.py refuses a read past its frame
    trace = run_machine(STRADDLING_STRING)
    divergence = trace.c_file_divergence
    assert divergence is not None
    assert divergence.offset == 11
    findings = scan(STRADDLING_STRING).findings
    finding = next(f for f in findings if f.rule == "MLS-PKL-012" and "file" in f.title)
    assert finding.severity is Severity.HIGH


def test_a_bytes_payload_past_a_frame_is_read_alike_and_not_reported() -> None:
    (real,) = real_readings(STRADDLING_BYTES)
    assert real["c"] == real["c-file"] == "b'abcde'"
    assert run_machine(STRADDLING_BYTES).c_file_divergence is None


def test_frames_a_pickler_writes_read_alike_from_memory_and_from_a_file() -> None:
    value = {
        "weights": [1.5] * 40_000,
        "name": "x" * 70_000,
        "blob": b"y" * 100_000,
        "buffer": bytearray(b"z" * 90_000),
        "rows": [{"key": str(i) * 50} for i in range(3000)],
    }
    for protocol in (4, 5):
        for dumps in (pickle.dumps, pickle._dumps):  # the C pickler and pickle.py's
            data = dumps(value, protocol=protocol)
            assert run_machine(data).c_file_divergence is None
            assert not [f for f in scan(data).findings if f.severity >= Severity.MEDIUM]


def test_the_next_load_from_a_file_object_starts_at_the_end_of_the_frame() -> None:
    memory = run_machine(STOP_INSIDE_A_FRAME)
    from_file = run_machine(STOP_INSIDE_A_FRAME, loader=C_FILE_LOADER)
    assert memory.pickles_seen == 3  # N, 'x', 'y'
    assert from_file.pickles_seen == 2  # N, then 'y': the frame's 'x' is never read
    assert memory.c_file_divergence is not None


def payload_after_a_straddle(call: bytes) -> bytes:
    """Read from memory: 'abcde' and None. From a file object: 'cdeN.', then ``call``."""
    return STRADDLING_STRING + b"0" + call


def test_a_payload_only_a_file_object_reading_reaches_is_reported_with_that_reading() -> None:
    data = payload_after_a_straddle(b"cos\nsystem\n(S'true'\ntR.")
    findings = scan(data).findings
    call = next(f for f in findings if f.rule == "MLS-PKL-002")
    assert call.severity is Severity.CRITICAL
    assert "file object" in call.evidence
    assert run_machine(data, loader=C_FILE_LOADER).calls  # the reading that runs it


def test_the_probe_follows_the_file_object_reading_too() -> None:
    data = payload_after_a_straddle(b"cos\nsystem\n(S'true'\ntR.")
    probe = scan_pickle_bytes(data, policy=PicklePolicy(), origin="x", execution_only=True)
    assert "MLS-PKL-002" in {f.rule for f in probe.findings}


# --- joblib's arrays, read by pickle.load -----------------------------------------------------


def _unicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def joblib_array(array: bytes, dtype: str = "u1", before: bytes = b"") -> bytes:
    """A NumpyArrayWrapper with ``array`` as its raw bytes, as joblib writes it."""
    u = _unicode
    return (
        b"\x80\x02" + before
        + b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}("
        + u("subclass") + b"cnumpy\nndarray\n"
        + u("shape") + b"J" + struct.pack("<i", len(array)) + b"\x85" + u("order") + u("C")
        + u("dtype") + b"cnumpy\ndtype\n(" + u(dtype) + b"\x89\x88tR"
        + b"(K\x03" + u("<") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        + u("allow_mmap") + b"\x89" + u("numpy_array_alignment_bytes") + b"Nub"
        + array + b"."
    )  # fmt: skip


def test_array_bytes_that_call_with_the_outer_memo_are_reported_as_pickle_load_reads_them() -> None:
    # The command is memoised before the wrapper; the array's bytes import and call with it.
    # They are not a pickle on their own (memo 1 is not theirs), so only the C reading of the
    # whole stream sees the call.
    data = joblib_array(b"cos\nsystem\nh\x01\x85R.", before=_unicode("true") + b"q\x010")
    findings = scan(data).findings
    call = next(f for f in findings if f.rule == "MLS-PKL-002")
    assert call.severity is Severity.CRITICAL
    assert "pickle.load and torch.load" in call.evidence
    assert len([f for f in findings if f.rule == "MLS-PKL-001"]) == 1  # not once per reading
    joblib_reading = run_machine(data)
    assert joblib_reading.error is None  # joblib steps over the array's bytes
    assert not [c for c in joblib_reading.calls if c.target == "os.system"]


def test_what_a_joblib_object_arrays_pickle_returns_is_called_as_a_computed_callable() -> None:
    # joblib hands back whatever the array's own pickle returns: called by the outer stream,
    # it is a callable computed at load time, not a constant that raises TypeError.
    inner = b"\x80\x04\x8c\x08builtins\x8c\x03str\x93."
    data = joblib_array(inner, dtype="O8").replace(b"K\x00tb", b"K?tb")[:-1]
    calls = [f for f in scan(data + b"\x8c\x01x\x85R.").findings if f.rule == "MLS-PKL-002"]
    assert [f.severity for f in calls] == [Severity.HIGH]
    assert "computed at load time" in calls[0].title
    assert not [f for f in scan(data + b".").findings if f.rule == "MLS-PKL-002"]


def _memo_rewritten_import(module: str, name: str) -> bytes:
    """joblib imports builtins.str from memo slots 5 and 6; array bytes read as opcodes put
    ``module`` and ``name`` there first, staying in step."""
    u = _unicode
    region = b"2" + u(module) + b"q\x050" + u(name) + b"q\x0600"
    data = joblib_array(region, before=b"(" + u("builtins") + b"q\x050" + u("str") + b"q\x060")
    return data[:-1] + b"0h\x05h\x06\x93(" + u("x") + b"tRl."


def test_an_import_that_array_bytes_rewrote_in_the_memo_reports_what_pickle_load_runs() -> None:
    findings = scan(_memo_rewritten_import("json", "dumps")).findings
    unknown = [f for f in findings if f.rule == "MLS-PKL-003" and "json.dumps" in f.title]
    assert unknown
    assert unknown[0].severity >= Severity.HIGH
    assert "pickle.load and torch.load" in unknown[0].evidence
    # The outer stream's own strings moved around by chance name modules no loader has, or
    # allowed ones: nothing to report.
    for module, name in (("gini", "dtype"), ("builtins", "dict")):
        findings = scan(_memo_rewritten_import(module, name)).findings
        assert not [f for f in findings if f.severity >= Severity.HIGH], module


def test_a_joblib_wrapper_handed_to_a_call_or_a_state_is_not_followed() -> None:
    u = _unicode
    wrapper = b"cjoblib.numpy_pickle\nNumpyArrayWrapper\n"
    handed = b"\x80\x02ccollections\nOrderedDict\n(" + wrapper + b"\x85tR."
    as_class = b"\x80\x02ccollections\nOrderedDict\n)\x81N}" + u("__class__") + wrapper + b"s\x86b."
    for data in (handed, as_class):
        findings = scan(data).findings
        assert [f.rule for f in findings if f.severity >= Severity.HIGH] == ["MLS-PKL-012"]
        assert "no scanner can follow" in findings[-1].title
    made = b"\x80\x02" + wrapper + b")\x81}b."  # made as pickle makes it: followed
    assert "MLS-PKL-012" not in {f.rule for f in scan(made).findings}


def _object_array_importing(spelled: bytes, outer: tuple[str, str] = ("posix", "system")) -> bytes:
    """Slots 0 and 1 hold the ``outer`` strings; then a joblib object array whose own pickle
    memoises 'numpy' (its slot 0) and 'dtype' (its slot 1), then imports as ``spelled``."""
    inner = b"\x80\x04\x8c\x05numpy\x94\x8c\x05dtype\x94" + spelled + b"\x8c\x02u1\x85R."
    before = b"".join(_unicode(text) + b"\x940" for text in outer)
    data = joblib_array(inner, dtype="O8", before=before).replace(b"K\x00tb", b"K?tb")
    assert run_machine(memoryview(data)).error is None  # joblib's reading imports numpy.dtype
    return data


def test_an_object_arrays_pickle_fetching_names_from_the_outer_memo_is_read_both_ways() -> None:
    # Read with the outer memo (pickle.load), slots 0 and 1 are 'posix' and 'system'.
    findings = scan(_object_array_importing(b"h\x00h\x01\x93")).findings
    dangerous = [f for f in findings if f.rule == "MLS-PKL-001"]
    assert [f.title for f in dangerous] == ["pickle imports dangerous global posix.system"]
    assert "pickle.load and torch.load" in dangerous[0].evidence


def test_an_object_arrays_own_import_with_the_module_shifted_in_the_outer_memo_is_noise() -> None:
    # Every object array that names numpy twice fetches 'numpy' from its memo: read with the
    # outer memo, the module is the outer slot's, here the one joblib's wrapper comes from
    # ('joblib.numpy_pickle.dtype', a name of no callable); the name is joblib's own.
    shifted = b"h\x00\x8c\x05dtype\x93"
    data = _object_array_importing(shifted, outer=("joblib.numpy_pickle", "x"))
    assert not [f.render() for f in scan(data).findings if f.severity >= Severity.HIGH]
    assert not scan(data).errors
    # A module the outer stream imports nothing allowed from is no shift: 'posix.dtype'.
    dangerous = [f.title for f in scan(_object_array_importing(shifted)).findings]
    assert "pickle imports dangerous global posix.dtype" in dangerous


def test_an_old_compressed_file_wrapper_names_its_file_and_is_followed() -> None:
    # joblib < 0.10's ZNDArrayWrapper holds filename, init_args and state; it reads nothing
    # from the stream, so its attributes are not held to an array wrapper's.
    u = _unicode
    data = (
        b"\x80\x02cjoblib.numpy_pickle_compat\nZNDArrayWrapper\n)\x81}("
        + u("filename") + u("../elsewhere/a.z") + u("init_args") + b")" + u("state") + b"N"
        + b"ub."
    )  # fmt: skip
    rules = {f.rule for f in scan(data).findings}
    assert "MLS-PKL-013" in rules
    assert "MLS-PKL-012" not in rules


def test_array_bytes_read_as_opcodes_by_chance_raise_nothing() -> None:
    # Numeric bytes that the C reading happens to run as a few opcodes: a REDUCE on what the
    # outer stream left, a STACK_GLOBAL of two non-strings, an EXT code. None of it is named.
    for array in (b"R\x00\x00\x00", b"\x93\x00\x00\x00", b"\x82\x07\x00\x00", b"N\x93\x00\x00"):
        data = joblib_array(array)
        assert not [f.render() for f in scan(data).findings if f.severity >= Severity.HIGH]


# --- where pickle.py acts before it fails ---------------------------------------------------------


def test_a_nul_first_int_literal_is_zero_to_the_c_unpickler() -> None:
    inputs = [b"I\x00\n.", b"I\x00x\n.", b"I\x00\x00\n."]
    for data, real in zip(inputs, real_readings(*inputs), strict=True):
        assert first_value(data, C_LOADER) == real["c"]
        assert first_value(data, PY_LOADER) == real["py"] == "error"


def test_inst_without_a_mark_imports_under_pickle_py_only() -> None:
    trace = run_machine(b"ios\nsystem\n.")
    assert [ref.dotted for ref in trace.imports] == ["os.system"]
    assert trace.reached_by(0) == [PY_LOADER]
    assert "MLS-PKL-001" in {f.rule for f in scan(b"ios\nsystem\n.").findings}


def test_a_global_with_an_empty_name_imports_its_module_under_pickle_py_only() -> None:
    trace = run_machine(b"cos\n\n.")
    assert [ref.module for ref in trace.imports] == ["os"]
    assert trace.reached_by(0) == [PY_LOADER]
    assert trace.error is not None
    assert "MLS-PKL-001" in {f.rule for f in scan(b"cos\n\n.").findings}
    # An empty module name is refused by both before anything is imported.
    assert not run_machine(b"c\nsystem\n.").imports


def test_setitems_with_an_odd_count_sets_the_pairs_before_it_under_pickle_py() -> None:
    data = b"cos\nenviron\n(S'K'\nS'V'\nS'X'\nu."
    trace = run_machine(data)
    assert [m.target.dotted for m in trace.mutations] == ["os.environ"]
    assert trace.error is not None


def test_dict_helpers_given_a_huge_range_are_exhaustion() -> None:
    for module, name in (("collections", "deque"), ("collections", "Counter"), ("torch", "Size")):
        data = f"c{module}\n{name}\n(cbuiltins\nrange\n(I0\nI{1 << 40}\ntRtR.".encode()
        findings = scan(data).findings
        assert "MLS-PKL-011" in {f.rule for f in findings}, (module, name)
    assert "MLS-PKL-011" not in {
        f.rule for f in scan(b"cbuiltins\nrange\n(I0\nI1099511627776\ntR.").findings
    }  # a range alone is lazy


# --- numpy's dtype state, as joblib sizes an array by it ------------------------------------------

_STATES = [
    ("O8", (3, "|", None, None, None, -1, -1, 63)),
    ("O8", (2, "|", None, None, None, -1, -1, 0)),  # before version 3, the kind decides
    ("O8", (1, "|", None, None, -1, -1)),
    ("O8", ("|", None, None, -1, -1)),
    ("u1", (3, "|", None, None, None, -1, -1, 1)),  # the object flag on a number: pickled
    ("u1", (3, "|", None, None, None, -1, -1, -127)),  # a signed char's -127 is flag 1
    ("S1", (1, "|", None, None, 100, 1)),  # six fields: elsize is the fifth
    ("S1", ("|", None, None, 100, 1)),  # five fields: the fourth
    ("S1", (3, "|", None, None, None, 100, 1)),  # seven fields: no flags
    ("S1", (3, "|", None, None, None, 100, 1, 0)),
    ("S1", (4, "|", None, None, None, 100, 1, 0, None)),
    ("U1", (3, "<", None, None, None, 40, 4, 0)),
    ("V8", (1, "|", None, None, 100, 1)),
    ("f8", (1, "<", None, None, 100, 1)),  # a fixed size ignores the state's
    ("f8", (3, "<", None, None, None, 800, 8, 0)),
]


def _dtype(descr: str, state: tuple[object, ...]) -> Call:
    """What the machine holds for numpy.dtype(descr, False, True) and its BUILD state."""
    dtype = Call(Global(ImportRef("numpy", "dtype", 0, "GLOBAL")), (descr, False, True), None, None)  # type: ignore[arg-type]
    dtype.states.append(state)
    return dtype


@pytest.mark.parametrize(("descr", "state"), _STATES, ids=[str(s) for s in _STATES])
def test_a_joblib_array_is_sized_and_unpickled_by_numpys_own_dtype_state_rules(
    descr: str, state: tuple[object, ...]
) -> None:
    real = np.dtype(descr, False, True)
    real.__setstate__(state)  # building a dtype runs nothing of the file's
    itemsize, has_object = _dtype_layout(_dtype(descr, state))
    assert has_object == real.hasobject
    if not has_object:
        assert itemsize == real.itemsize


def _states(version: int, flags: int, elsize: int) -> list[tuple[object, ...]]:
    """A dtype state of each length numpy reads (9, 8, 7, 6 and 5 fields)."""
    return [
        (version, "|", None, None, None, elsize, 1, flags, None),
        (version, "|", None, None, None, elsize, 1, flags),
        (version, "|", None, None, None, elsize, 1),
        (version, "|", None, None, elsize, 1),
        ("|", None, None, elsize, 1),
    ]


def test_every_dtype_state_numpy_accepts_is_sized_and_flagged_as_numpy_does() -> None:
    # Old versions take any flag as "holds objects", new ones bit 0; flags are masked to 64
    # bits and old signed-char values shifted: each is a place where joblib and the machine
    # could part ways. A state the machine refuses is a scan error, never a wrong reading.
    checked = 0
    for descr in ("u1", "f8", "O", "S4", "U2", "V8", "b1"):
        for version in range(-1, 6):
            for flags in (0, 1, 2, 16, 255, 256, 257, -1, -127, -128, -129, 2**63, 2**64 + 1):
                for elsize in (-1, 0, 8):
                    for state in _states(version, flags, elsize):
                        real = np.dtype(descr, False, True)
                        try:
                            real.__setstate__(state)
                        except (ValueError, TypeError, OverflowError):
                            continue
                        try:
                            itemsize, has_object = _dtype_layout(_dtype(descr, state))
                        except _LoadError:
                            continue  # a refusal: the machine stops there
                        checked += 1
                        assert has_object == real.hasobject, (descr, state)
                        if not has_object:
                            assert itemsize == real.itemsize, (descr, state)
    assert checked > 1000


def test_an_object_dtype_whose_state_clears_its_object_flag_is_refused() -> None:
    state = (3, "|", None, None, None, -1, -1, 0)
    real = np.dtype("O8", False, True)
    real.__setstate__(state)
    assert not real.hasobject  # joblib would read raw bytes as object pointers
    with pytest.raises(Exception, match="clears its object flag"):
        _dtype_layout(_dtype("O8", state))


def test_joblib_dumps_of_mixed_estimators_raise_nothing_in_any_reading() -> None:
    # Numeric arrays of random bytes, object arrays of labels, byte strings with newlines and
    # string attributes beside them: every reading of the arrays' bytes breaks off by chance.
    rng = np.random.default_rng(20261203)
    for _ in range(40):
        estimators = []
        for i in range(60):
            state: dict[str, object] = {"criterion": "gini", "name": f"est{i}"}
            kind = int(rng.integers(0, 5))
            if kind == 0:
                state["w"] = rng.standard_normal(int(rng.integers(1, 40))).astype(np.float32)
            elif kind == 1:
                state["w"] = np.frombuffer(rng.bytes(8 * int(rng.integers(1, 16))), dtype="<f8")
            elif kind == 2:
                state["classes_"] = np.array(["cat", "dog", str(i)], dtype=object)
            elif kind == 3:
                state["w"] = np.array([b"ab\ncd", b"c\nx\ny\n"], dtype="S8")
            else:
                state["w"] = rng.integers(0, 2**31, size=int(rng.integers(1, 16)))
            estimators.append(state)
        buffer = io.BytesIO()
        joblib.dump(estimators, buffer)
        result = scan(buffer.getvalue())
        assert result.error is None
        assert not [f.render() for f in result.findings if f.severity >= Severity.HIGH]
