"""The symbolic machine follows the unpickler: stack, memo, marks, protocols, offsets, errors."""

from __future__ import annotations

import base64
import copyreg
import hashlib
import pickle
import pickletools

import numpy as np
import pytest
from pickle_asm import Asm

from pytest_mlsupply.engines.pickle import PicklePolicy, PickleScan, scan_pickle_bytes
from pytest_mlsupply.engines.pickle.decoder import read_op
from pytest_mlsupply.engines.pickle.vm import run_machine
from pytest_mlsupply.results import Severity


def scan(data: bytes, **kwargs: object) -> PickleScan:
    return scan_pickle_bytes(data, policy=PicklePolicy(), origin="f.pkl", **kwargs)  # type: ignore[arg-type]


def rules(result: PickleScan) -> set[str]:
    return {f.rule for f in result.findings}


@pytest.mark.parametrize("protocol", range(6))
def test_the_decoder_reads_the_same_opcodes_as_pickletools(protocol: int) -> None:
    data = pickle.dumps({"a": [1, 2.5, "x", b"y", None], "n": np.arange(3)}, protocol=protocol)
    expected = [(op.name, pos) for op, _, pos in pickletools.genops(data)]

    pos, seen = 0, []
    while pos < len(data):
        op = read_op(memoryview(data), pos)
        seen.append((op.name, op.offset))
        pos = op.end

    assert seen == expected


def test_imports_and_calls_carry_their_byte_offsets_plus_the_base_offset() -> None:
    data = Asm().proto(2).global_("collections", "OrderedDict").empty_tuple().reduce().stop()

    result = scan(data.bytes(), base_offset=1000)

    assert [(r.dotted, r.offset, r.opcode) for r in result.imports] == [
        ("collections.OrderedDict", 1002, "GLOBAL")
    ]
    assert [(c.callable and c.callable.dotted, c.offset, c.opcode) for c in result.calls] == [
        ("collections.OrderedDict", 1028, "REDUCE")
    ]


def test_every_pickle_of_a_concatenation_is_scanned_until_the_end() -> None:
    data = b"".join(pickle.dumps(i, protocol=p) for i, p in ((1, 0), (2, 2), (3, 5)))

    result = scan(data)

    assert result.pickles_seen == 3
    assert result.findings == []
    assert result.error is None


def test_python2_names_are_mapped_only_below_protocol_3_like_fix_imports() -> None:
    low = run_machine(Asm().proto(2).global_("__builtin__", "set").stop().bytes())
    high = run_machine(Asm().proto(3).global_("__builtin__", "set").stop().bytes())

    assert (low.imports[0].dotted, low.imports[0].spelled) == ("builtins.set", "__builtin__.set")
    assert high.imports[0].dotted == "__builtin__.set"


def test_stack_global_with_non_string_constants_is_a_load_error_not_an_import() -> None:
    data = Asm().proto(4).str("os").int_(1).stack_global().stop().bytes()

    result = scan(data)

    assert result.imports == []
    assert result.error is not None
    assert "STACK_GLOBAL requires str" in result.error


def test_a_stack_global_of_call_results_is_a_critical_dynamic_import() -> None:
    a = Asm().proto(4).global_("builtins", "str").str("os").tuple1().reduce()
    a.str("system").stack_global().stop()

    result = scan(a.bytes())

    assert {f.rule: f.severity for f in result.findings}["MLS-PKL-004"] is Severity.CRITICAL


def test_memo_entries_alias_the_same_value() -> None:
    a = Asm().proto(2).global_("os", "system").binput(3).pop().binget(3).binget(3).pop()
    a.str("id").tuple1().reduce().stop()

    result = scan(a.bytes())

    assert rules(result) >= {"MLS-PKL-001", "MLS-PKL-002"}


def test_a_missing_memo_entry_stops_the_load_with_its_offset() -> None:
    result = scan(Asm().proto(2).binget(7).stop().bytes())

    assert result.error is not None
    assert "memo value not found at index 7 at byte 2" in result.error


def test_pop_on_an_empty_stack_drops_the_mark_like_both_cpython_loaders() -> None:
    assert pickle.loads(b"(0N.") is None
    result = scan(b"(0N.")

    assert result.error is None
    assert result.pickles_seen == 1


def test_data_that_is_not_a_pickle_is_an_error_without_findings() -> None:
    result = scan(b"PK\x03\x04 this is a zip header, not a pickle")

    assert result.findings == []
    assert result.error is not None
    assert result.error.startswith("MLS-PKL-008")


def test_empty_data_is_an_error() -> None:
    assert scan(b"").error is not None


def test_garbage_after_a_complete_pickle_is_low_severity_trailing_data() -> None:
    result = scan(pickle.dumps([1, 2]) + b"\xff\xfe\xfd")

    assert result.error is None
    assert [(f.rule, f.severity) for f in result.findings] == [("MLS-PKL-010", Severity.LOW)]


def test_a_broken_pickle_after_a_complete_one_is_medium_trailing_data() -> None:
    result = scan(pickle.dumps([1, 2]) + b"(K\x01K")

    assert [(f.rule, f.severity) for f in result.findings] == [("MLS-PKL-010", Severity.MEDIUM)]


def test_an_error_after_only_safe_calls_is_an_error_without_a_payload_finding() -> None:
    data = Asm().proto(2).global_("collections", "OrderedDict").empty_tuple().reduce().raw(b"\xff")

    result = scan(data.bytes())

    assert result.findings == []
    assert result.error is not None


def test_persistent_ids_are_recorded_and_harmless() -> None:
    a = Asm().proto(2).mark().str("storage").global_("torch", "FloatStorage").str("0")
    a.str("cpu").int_(4).tuple().binpersid().pop().persid("legacy").stop()

    result = scan(a.bytes())

    assert [p.opcode for p in result.persistent_ids] == ["BINPERSID", "PERSID"]
    assert result.findings == []


def test_an_ext_code_registered_in_copyreg_is_resolved_and_judged() -> None:
    copyreg.add_extension("os", "system", 0x7A11)
    try:
        result = scan(Asm().proto(2).ext2(0x7A11).stop().bytes())
    finally:
        copyreg.remove_extension("os", "system", 0x7A11)

    assert rules(result) == {"MLS-PKL-001", "MLS-PKL-006"}
    assert result.imports[0].ext_code == 0x7A11


def test_an_ext_code_of_zero_is_a_load_error() -> None:
    assert scan(Asm().proto(2).ext1(0).stop().bytes()).error is not None


def test_a_nested_raw_pickle_reports_true_file_offsets() -> None:
    inner = Asm().proto(2).global_("os", "system").stop().bytes()
    outer = Asm().proto(2).bytes_(inner).stop().bytes()

    result = scan(outer)

    nested = [f for f in result.findings if f.rule == "MLS-PKL-001"]
    assert [(f.location.offset, f.location.key_path) for f in nested] == [
        (2 + 2 + 2, "nested at offset 2")
    ]
    assert outer[6:7] == b"c"


def test_hashes_base64_and_digit_strings_are_not_taken_for_nested_pickles() -> None:
    # Decoded as base64 or hex, such text is random bytes: some start like a pickle and read
    # as EXT opcodes, which would be imports of unregistered codes (a high finding).
    texts = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3000)]
    texts += [
        base64.b64encode(hashlib.sha384(str(i).encode()).digest()).decode() for i in range(3000)
    ]
    texts += [str(i) * 50 for i in range(3000)]
    data = pickle.dumps(texts, protocol=4)
    assert not [f.render() for f in scan(data).findings if f.severity >= Severity.HIGH]


def test_a_nested_pickle_that_imports_by_name_and_then_breaks_is_still_reported() -> None:
    inner = b"cos\nsystem\n(S'true'\ntR\xff\xff"  # runs, then fails: no STOP
    outer = Asm().proto(2).bytes_(inner).stop().bytes()
    assert "MLS-PKL-002" in rules(scan(outer))


def test_nesting_is_followed_only_to_the_depth_asked() -> None:
    inner = Asm().proto(2).global_("os", "system").stop().bytes()
    for _ in range(3):
        inner = Asm().proto(2).bytes_(inner).stop().bytes()

    assert "MLS-PKL-001" in rules(scan(inner, max_depth=3))
    assert "MLS-PKL-001" not in rules(scan(inner, max_depth=2))


def test_repeated_payloads_are_grouped_into_one_finding_with_their_offsets() -> None:
    a = Asm().proto(2).empty_list().mark()
    for _ in range(50):
        a.global_("os", "system")
    result = scan(a.appends().stop().bytes())

    (finding,) = [f for f in result.findings if f.rule == "MLS-PKL-001"]
    assert "seen 50 times" in finding.evidence


def test_build_on_an_imported_object_is_reported_even_when_the_object_is_safe() -> None:
    a = Asm().proto(2).global_("collections", "OrderedDict").empty_dict().build().stop()

    assert rules(scan(a.bytes())) == {"MLS-PKL-005"}


def test_calling_a_computed_value_is_reported() -> None:
    a = Asm().proto(2).global_("collections", "OrderedDict").empty_tuple().reduce()
    a.empty_tuple().reduce().stop()

    result = scan(a.bytes())

    assert [(f.rule, f.severity) for f in result.findings] == [("MLS-PKL-002", Severity.HIGH)]


def test_a_memoryview_input_is_scanned_in_place() -> None:
    data = bytearray(b"junk" + pickle.dumps({"a": 1}))

    result = scan_pickle_bytes(
        memoryview(data)[4:], policy=PicklePolicy(), origin="f", base_offset=4
    )

    assert result.error is None
    assert result.pickles_seen == 1


def test_the_scan_result_serialises_to_builtins() -> None:
    import json

    result = scan(Asm().proto(2).call("os", "system", "id").stop().bytes())

    assert json.loads(json.dumps(result.to_dict()))["imports"][0]["module"] == "os"


def test_joblib_array_sizes_follow_numpys_dtype_rules_not_the_digits() -> None:
    from pytest_mlsupply.engines.pickle.values import Call, CallRef, Global, ImportRef
    from pytest_mlsupply.engines.pickle.vm import _dtype_layout

    def dtype(descr: str, elsize: int | None = None) -> Call:
        """numpy.dtype(descr) with the state numpy pickles for it (its elsize replaced)."""
        func = Global(ImportRef("numpy", "dtype", 0, "GLOBAL"))
        call = Call(func, (descr, False, True), None, CallRef(None, 0, "REDUCE"))
        state = list(np.dtype(descr).__reduce__()[2])
        if elsize is not None:
            state[5] = elsize
        call.states.append(tuple(state))
        return call

    assert _dtype_layout(dtype("float64")) == (8, False)
    assert _dtype_layout(dtype("f8", elsize=999)) == (8, False)  # numpy ignores a forged elsize
    assert _dtype_layout(dtype("U10")) == (40, False)
    assert _dtype_layout(dtype("V12", elsize=12)) == (12, False)
    assert _dtype_layout(dtype("b1")) == (1, False)
    assert _dtype_layout(dtype("O8")) == (8, True)
