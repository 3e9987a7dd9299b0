"""Method references (``builtins.getattr(<global>, '<name>')``) judged by what they resolve to."""

from __future__ import annotations

import pickle
import zoneinfo

import pytest
from pickle_asm import Asm

from pytest_mlsupply.engines.pickle import PicklePolicy, PickleScan, scan_pickle_bytes
from pytest_mlsupply.engines.pickle.policy import getattr_resolves, is_getattr
from pytest_mlsupply.engines.pickle.vm import run_machine
from pytest_mlsupply.results import Severity
from tests.conftest import require


def scan(data: bytes, policy: PicklePolicy | None = None) -> PickleScan:
    return scan_pickle_bytes(data, policy=policy or PicklePolicy(), origin="f.pkl")


def getattr_is_critical(result: PickleScan) -> bool:
    return any(
        f.severity is Severity.CRITICAL
        and f.rule in ("MLS-PKL-001", "MLS-PKL-002")
        and "builtins.getattr" in f.title
        for f in result.findings
    )


def zoneinfo_unpickle(asm: Asm, *, getattr_module: str = "builtins") -> Asm:
    """``getattr(zoneinfo.ZoneInfo, '_unpickle')`` as Python pickles the bound class method."""
    return (
        asm.global_(getattr_module, "getattr")
        .global_("zoneinfo", "ZoneInfo")
        .str("_unpickle")
        .tuple2()
        .reduce()
    )


def called_with_a_key(asm: Asm) -> bytes:
    return asm.str("Europe/Paris").int_(1).tuple2().reduce().stop().bytes()


# --- what resolves ------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_zoneinfo_time_zone_pickled_by_python_scans_clean_at_every_protocol(
    protocol: int,
) -> None:
    data = pickle.dumps(zoneinfo.ZoneInfo("Europe/Paris"), protocol=protocol)

    assert scan(data).findings == []


def test_the_machine_judges_the_getattr_call_as_the_global_it_resolves_to() -> None:
    trace = run_machine(called_with_a_key(zoneinfo_unpickle(Asm().proto(2))))

    (use,) = trace.getattrs
    assert use.resolved.dotted == "zoneinfo.ZoneInfo._unpickle"
    assert use.resolved.attribute_of == "zoneinfo.ZoneInfo"
    assert trace.calls[-1].callable is use.resolved


def test_the_python_2_spelling_of_getattr_resolves_at_protocol_2_and_at_protocol_4() -> None:
    for protocol in (2, 4):
        asm = zoneinfo_unpickle(Asm().proto(protocol), getattr_module="__builtin__")

        assert scan(called_with_a_key(asm)).findings == [], protocol


def test_a_getattr_fetched_back_from_the_memo_resolves_each_time() -> None:
    asm = zoneinfo_unpickle(Asm().proto(2).global_("builtins", "getattr").binput(0).pop())
    asm = asm.str("Europe/Paris").int_(1).tuple2().reduce().pop()
    asm = asm.binget(0).global_("zoneinfo", "ZoneInfo").str("_unpickle").tuple2().reduce()

    assert scan(called_with_a_key(asm)).findings == []


def test_a_pandas_dataframe_with_a_paris_time_zone_pickled_and_to_pickled_scans_clean(
    tmp_path: object,
) -> None:
    require("pandas")
    import io

    import pandas as pd

    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=3, tz="Europe/Paris")})
    buffer = io.BytesIO()
    frame.to_pickle(buffer, compression=None)
    for data in [buffer.getvalue(), *(pickle.dumps(frame, protocol=p) for p in (2, 4, 5))]:
        assert scan(data).findings == []


# --- what stays critical -------------------------------------------------------------------


def getattr_of(base: Asm, name: Asm) -> Asm:
    return Asm().proto(2).global_("builtins", "getattr").raw(base.bytes() + name.bytes())


CRITICAL = {
    "os-system": (Asm().global_("posixpath", "os"), Asm().str("system")),
    "zoneinfo-init": (Asm().global_("zoneinfo", "ZoneInfo"), Asm().str("__init__")),
    "allowed-class-reduce": (Asm().global_("builtins", "complex"), Asm().str("__reduce__")),
    "zoneinfo-reduce": (Asm().global_("zoneinfo", "ZoneInfo"), Asm().str("__reduce__")),
    "zoneinfo-globals": (Asm().global_("zoneinfo", "ZoneInfo"), Asm().str("__globals__")),
    "numpy-load": (Asm().global_("numpy.ma.core", "np"), Asm().str("load")),
    "not-an-exact-entry": (Asm().global_("zoneinfo", "ZoneInfo"), Asm().str("from_file")),
    "a-pattern-entry": (Asm().global_("collections", "abc"), Asm().str("Mapping")),
    "private-not-reviewed": (Asm().global_("collections", "OrderedDict"), Asm().str("_x")),
    "memo-swapped-name": (
        Asm().global_("numpy.ma.core", "np"),
        Asm().str("float64").binput(0).pop().str("load").binput(0).pop().binget(0),
    ),
    "computed-name": (
        Asm().global_("zoneinfo", "ZoneInfo"),
        Asm().global_("builtins", "str").str("_unpickle").tuple1().reduce(),
    ),
    "a-bytes-name": (Asm().global_("zoneinfo", "ZoneInfo"), Asm().bytes_(b"_unpickle")),
    "a-dotted-name": (Asm().global_("zoneinfo", "ZoneInfo"), Asm().str("_unpickle.x")),
    "non-global": (
        Asm().global_("collections", "OrderedDict").empty_tuple().reduce(),
        Asm().str("pop"),
    ),
    "getattr-of-getattr": (
        Asm()
        .global_("builtins", "getattr")
        .global_("zoneinfo", "ZoneInfo")
        .str("_unpickle")
        .tuple2()
        .reduce(),
        Asm().str("__self__"),
    ),
    "getattr-of-builtins-getattr": (Asm().global_("builtins", "getattr"), Asm().str("x")),
}


@pytest.mark.parametrize("case", sorted(CRITICAL))
def test_a_getattr_that_does_not_resolve_to_an_exact_allowed_name_stays_critical(
    case: str,
) -> None:
    base, name = CRITICAL[case]
    data = getattr_of(base, name).tuple2().reduce().stop().bytes()

    result = scan(data)

    assert getattr_is_critical(result), [f.title for f in result.findings]
    trace = run_machine(data)
    assert trace.calls[-1] not in [use.call for use in trace.getattrs]  # the outer getattr


def test_the_default_value_form_with_three_arguments_stays_critical() -> None:
    asm = Asm().proto(2).global_("builtins", "getattr").global_("zoneinfo", "ZoneInfo")
    data = asm.str("_unpickle").none().tuple3().reduce().stop().bytes()

    assert getattr_is_critical(scan(data))


@pytest.mark.parametrize("opcode", ["OBJ", "NEWOBJ", "keywords"])
def test_getattr_called_otherwise_than_by_reduce_stays_critical(opcode: str) -> None:
    asm = Asm().proto(4)
    if opcode == "OBJ":
        asm.mark().global_("builtins", "getattr").global_("zoneinfo", "ZoneInfo")
        asm.str("_unpickle").obj()
    elif opcode == "NEWOBJ":
        asm.global_("builtins", "getattr").global_("zoneinfo", "ZoneInfo").str("_unpickle")
        asm.tuple2().newobj()
    else:
        asm.global_("builtins", "getattr").global_("zoneinfo", "ZoneInfo").str("_unpickle")
        asm.tuple2().empty_dict().newobj_ex()

    assert getattr_is_critical(scan(asm.stop().bytes()))


def test_a_getattr_result_that_a_build_then_mutates_stays_critical() -> None:
    asm = zoneinfo_unpickle(Asm().proto(2))
    data = asm.empty_dict().str("x").int_(1).setitem().build().stop().bytes()

    result = scan(data)

    assert getattr_is_critical(result)
    assert "MLS-PKL-005" in {f.rule for f in result.findings}


def test_a_getattr_also_handed_to_a_call_stays_critical_though_its_reduce_resolves() -> None:
    # getattr(ZoneInfo, '_unpickle') resolves, but the same getattr object is then given to
    # builtins.list, from where code may call it with other arguments.
    asm = Asm().proto(2).global_("builtins", "getattr").binput(0).pop()
    asm = asm.binget(0).global_("zoneinfo", "ZoneInfo").str("_unpickle").tuple2().reduce().pop()
    asm = asm.global_("builtins", "list").binget(0).tuple1().tuple1().reduce()

    assert getattr_is_critical(scan(asm.stop().bytes()))


def test_a_getattr_in_a_build_state_stays_critical_though_its_reduce_resolves() -> None:
    asm = Asm().proto(2).global_("builtins", "getattr").binput(0).pop()
    asm = asm.global_("collections", "OrderedDict").empty_tuple().reduce()
    asm = asm.empty_dict().str("f").binget(0).setitem().build()
    asm = asm.binget(0).global_("zoneinfo", "ZoneInfo").str("_unpickle").tuple2().reduce()

    assert getattr_is_critical(scan(asm.tuple2().stop().bytes()))


def test_a_user_allow_entry_does_not_make_a_getattr_resolve() -> None:
    policy = PicklePolicy(allow=("zoneinfo.ZoneInfo.from_file", "zoneinfo.*"))
    asm = Asm().proto(2).global_("builtins", "getattr").global_("zoneinfo", "ZoneInfo")
    data = asm.str("from_file").tuple2().reduce().stop().bytes()

    assert getattr_is_critical(scan(data, policy))


def test_only_builtins_getattr_and_its_python_2_spelling_count_as_getattr() -> None:
    assert is_getattr("builtins", "getattr")
    assert is_getattr("__builtin__", "getattr")
    assert not is_getattr("builtins", "setattr")
    assert not is_getattr("operator", "attrgetter")


def test_a_getattr_resolves_only_to_an_exact_entry_never_a_dunder_or_unreviewed_private() -> None:
    assert getattr_resolves("zoneinfo", "ZoneInfo", "_unpickle")
    assert not getattr_resolves("zoneinfo", "ZoneInfo", "__init__")
    assert not getattr_resolves("zoneinfo", "ZoneInfo", "from_file")
    assert not getattr_resolves("collections", "abc", "Mapping")  # a family pattern only
    assert not getattr_resolves("numpy.core", "multiarray", "_reconstruct")  # private
