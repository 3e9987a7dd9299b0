"""Gadget constructors are judged by what they wrap; nested loaders by what they load."""

from __future__ import annotations

import collections
import functools
import operator
import pickle
import subprocess
import sys

import pytest
from pickle_asm import Asm

from pytest_mlsupply.engines.pickle import PicklePolicy, PickleScan, scan_pickle_bytes
from pytest_mlsupply.results import Severity


def scan(data: bytes, policy: PicklePolicy | None = None) -> PickleScan:
    return scan_pickle_bytes(data, policy=policy or PicklePolicy(), origin="f.pkl")


def blocking(result: PickleScan) -> set[str]:
    return {f.rule for f in result.findings if f.severity >= Severity.HIGH}


def rules(result: PickleScan) -> set[str]:
    return {f.rule for f in result.findings}


def reason(result: PickleScan, rule: str = "MLS-PKL-017") -> str:
    return " | ".join(f.evidence for f in result.findings if f.rule == rule)


def partial_of(module: str, name: str) -> Asm:
    """``functools.partial(module.name)`` as pickle writes it, without its BUILD state."""
    return Asm().proto(2).global_("functools", "partial").global_(module, name).tuple1().reduce()


# --- harmless wrappers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        functools.partial(collections.OrderedDict),
        functools.partial(collections.OrderedDict, a=1),
        operator.methodcaller("lower"),
        operator.methodcaller("split", ","),
        operator.attrgetter("shape", "dtype.name"),
        operator.itemgetter(0, "key"),
    ],
    ids=[
        "partial",
        "partial-keywords",
        "methodcaller",
        "methodcaller-args",
        "attrgetter",
        "itemgetter",
    ],
)
def test_a_wrapper_around_an_allowed_callable_never_called_is_low(obj: object) -> None:
    result = scan(pickle.dumps(obj))
    assert not blocking(result), [f.render() for f in result.findings]
    assert "MLS-PKL-016" in rules(result)
    assert all(f.severity <= Severity.LOW for f in result.findings)


def test_a_wrapper_made_by_newobj_is_judged_like_one_made_by_reduce() -> None:
    data = (
        Asm().proto(2).global_("functools", "partial").global_("collections", "OrderedDict")
        .tuple1().raw(b"\x81").stop().bytes()
    )  # fmt: skip
    assert rules(scan(data)) == {"MLS-PKL-016"}


def test_the_operator_modules_c_twins_are_judged_the_same_way() -> None:
    data = Asm().proto(2).global_("_operator", "methodcaller").str("lower").tuple1().reduce().stop()
    assert rules(scan(data.bytes())) == {"MLS-PKL-016"}


def test_a_user_allowed_callable_counts_as_allowed_inside_a_partial() -> None:
    data = partial_of("mypkg.metrics", "score").stop().bytes()
    assert "MLS-PKL-017" in rules(scan(data))
    allowed = scan(data, PicklePolicy(allow=("mypkg.*",)))
    assert not blocking(allowed)
    assert "MLS-PKL-016" in rules(allowed)


# --- what stays critical -------------------------------------------------------------------


def test_a_partial_wrapping_os_system_stays_critical() -> None:
    data = Asm().proto(2).global_("functools", "partial").global_("os", "system").str("id")
    result = scan(data.tuple2().reduce().stop().bytes())
    assert {"MLS-PKL-001", "MLS-PKL-017"} <= blocking(result)
    assert "not an allowed callable" in reason(result)


def test_a_partial_wrapping_an_unknown_callable_stays_critical() -> None:
    result = scan(partial_of("numpy", "clip").stop().bytes())
    assert "MLS-PKL-017" in blocking(result)
    assert "MLS-PKL-001" in blocking(result)


def test_a_harmless_partial_called_during_the_load_is_critical() -> None:
    data = partial_of("collections", "OrderedDict").empty_tuple().reduce().stop().bytes()
    result = scan(data)
    assert {"MLS-PKL-001", "MLS-PKL-017"} <= blocking(result)
    assert "the loader calls it (REDUCE" in reason(result)


def test_a_harmless_partial_called_after_a_memo_round_trip_is_critical() -> None:
    data = (
        partial_of("collections", "OrderedDict").put(0).pop()
        .none().pop().get(0).empty_tuple().reduce().stop().bytes()
    )  # fmt: skip
    assert "the loader calls it" in reason(scan(data))


def test_a_partial_whose_state_swaps_in_os_system_is_critical_even_if_never_called() -> None:
    # partial.__setstate__((func, args, keywords, dict)) replaces the function judged above.
    data = (
        partial_of("collections", "OrderedDict").mark().global_("os", "system").empty_tuple()
        .none().none().tuple().build().stop().bytes()
    )  # fmt: skip
    result = scan(data)
    assert "MLS-PKL-017" in blocking(result)
    assert "swaps the function for os.system" in reason(result)


def test_a_partial_whose_state_swaps_in_another_allowed_callable_stays_harmless() -> None:
    # What pickle.dumps writes for every partial: the state repeats the function.
    result = scan(pickle.dumps(functools.partial(collections.OrderedDict, x=1)))
    assert rules(result) == {"MLS-PKL-016"}


def test_a_partial_whose_state_is_not_a_partial_state_is_critical() -> None:
    data = partial_of("collections", "OrderedDict").str("junk").build().stop().bytes()
    assert "a BUILD or item opcode changes it" in reason(scan(data))


def test_a_partial_wrapping_another_partial_is_critical() -> None:
    data = (
        Asm().proto(2).global_("functools", "partial")
        .raw(partial_of("collections", "OrderedDict").bytes()[2:])
        .tuple1().reduce().stop().bytes()
    )  # fmt: skip
    result = scan(data)
    assert "MLS-PKL-017" in blocking(result)
    evidence = reason(result)
    assert "not an allowed callable" in evidence
    assert "wrapped by functools.partial" in evidence


def test_a_harmless_partial_handed_to_a_callable_that_calls_its_argument_is_critical() -> None:
    data = (
        Asm().proto(2).global_("torch._tensor", "_rebuild_from_type_v2").mark()
        .raw(partial_of("collections", "OrderedDict").bytes()[2:])
        .global_("collections", "OrderedDict").empty_tuple().empty_dict()
        .tuple().reduce().stop().bytes()
    )  # fmt: skip
    result = scan(data)
    assert "MLS-PKL-017" in blocking(result)
    assert "handed to torch._tensor._rebuild_from_type_v2" in reason(result)


def test_a_harmless_methodcaller_handed_to_an_allowed_callable_is_critical() -> None:
    # numpy.arctan2(a, b) on object arrays calls a[0].arctan2(b[0]); any allowed callable that
    # is not a plain container may call what it is given, so the wrapper is exposed.
    data = (
        Asm().proto(2).global_("numpy", "arctan2").global_("types", "SimpleNamespace")
        .empty_tuple().reduce().empty_dict().str("arctan2")
        .global_("operator", "methodcaller").str("lower").tuple1().reduce()
        .setitem().build().none().tuple2().reduce().stop().bytes()
    )  # fmt: skip
    result = scan(data)
    assert "MLS-PKL-017" in blocking(result)
    assert "handed to numpy.arctan2, which may call it" in reason(result)


def test_a_harmless_partial_in_the_arguments_of_a_container_stays_harmless() -> None:
    # defaultdict(partial(OrderedDict)): the factory is called only on a missing key.
    data = (
        Asm().proto(2).global_("collections", "defaultdict")
        .raw(partial_of("collections", "OrderedDict").bytes()[2:]).tuple1().reduce().stop()
    )  # fmt: skip
    assert rules(scan(data.bytes())) == {"MLS-PKL-016"}


@pytest.mark.parametrize("name", ["tofile", "dump", "to_pickle", "hardlink_to", "to_csv"])
def test_a_methodcaller_of_a_method_that_writes_a_file_is_critical(name: str) -> None:
    data = Asm().proto(2).global_("operator", "methodcaller").str(name).tuple1().reduce().stop()
    assert "MLS-PKL-017" in blocking(scan(data.bytes()))


@pytest.mark.parametrize("how", ["build", "setitem"])
def test_a_harmless_methodcaller_planted_as_setstate_is_critical(how: str) -> None:
    # A BUILD calls getattr(obj, "__setstate__"): the instance attribute a first BUILD planted
    # (types.SimpleNamespace), or the item an AttributeDict answers attribute lookups with.
    made = (
        Asm().proto(2).global_("types", "SimpleNamespace").empty_tuple().reduce()
        if how == "build"
        else Asm().proto(2).global_("lightning_fabric.utilities.data", "AttributeDict")
        .empty_tuple().raw(b"\x81")
    )  # fmt: skip
    if how == "build":
        made = made.empty_dict()
    planted = (
        made.str("__setstate__")
        .global_("operator", "methodcaller").str("lower").tuple1().reduce().setitem()
    )  # fmt: skip
    if how == "build":
        planted = planted.build()
    data = planted.str("text").build().stop().bytes()
    result = scan(data)
    assert "MLS-PKL-017" in blocking(result)
    assert "stored under __setstate__" in reason(result)


@pytest.mark.parametrize(("name", "opcode"), [("append", b"a"), ("extend", b"a"), ("add", b"\x90")])
def test_a_methodcaller_planted_as_append_or_add_of_an_attribute_dict_is_critical(
    name: str, opcode: bytes
) -> None:
    # APPEND on an object that is not a list calls its extend / append, ADDITEMS its add: an
    # AttributeDict answers with its item of that name.
    data = (
        Asm().proto(2).global_("lightning_fabric.utilities.data", "AttributeDict")
        .empty_tuple().raw(b"\x81").str(name)
        .global_("operator", "methodcaller").str("lower").tuple1().reduce().setitem()
        .raw(b"(" if opcode == b"\x90" else b"").str("text").raw(opcode).stop().bytes()
    )  # fmt: skip
    result = scan(data)
    assert "MLS-PKL-017" in blocking(result)
    assert "MLS-PKL-002" in blocking(result)


@pytest.mark.parametrize("opcode", [b"s", b"a"])
def test_a_store_into_a_constant_plants_nothing_because_both_loaders_refuse_it(
    opcode: bytes,
) -> None:
    # 1["__setstate__"] = methodcaller("lower") (or 1.append(...)): an int has no
    # __setitem__ / append, so both loaders raise there and nothing is stored anywhere.
    asm = Asm().proto(2).int_(1)
    if opcode == b"s":
        asm = asm.str("__setstate__")
    data = (
        asm.global_("operator", "methodcaller").str("lower").tuple1().reduce().raw(opcode)
        .stop().bytes()
    )  # fmt: skip
    script = (
        "import pickle, sys\n"
        "for load in (pickle.loads, pickle._loads):\n"
        "    try:\n"
        "        load(sys.stdin.buffer.read() if load is pickle.loads else data)\n"
        "    except (TypeError, AttributeError) as exc:\n"
        "        print(type(exc).__name__)\n"
    )
    refused = subprocess.run(
        [sys.executable, "-c", "data = " + repr(data) + "\n" + script],
        input=data,
        capture_output=True,
        check=True,
    )
    assert len(refused.stdout.split()) == 2  # both loaders raise at the store
    assert "under '__setstate__'" not in reason(scan(data), "MLS-PKL-002")


def test_an_item_named_append_on_an_object_never_appended_to_is_not_reported() -> None:
    data = (
        Asm().proto(2).global_("lightning_fabric.utilities.data", "AttributeDict")
        .empty_tuple().raw(b"\x81").str("append").int_(1).setitem().stop().bytes()
    )  # fmt: skip
    assert not blocking(scan(data))


def test_an_allowed_callable_planted_as_setstate_is_reported_as_a_call() -> None:
    # SimpleNamespace(__setstate__=numpy.random._pickle.__generator_ctor), then BUILD(cls):
    # the loader calls __generator_ctor(cls), which calls cls(); nothing in the file says so.
    data = (
        Asm().proto(2).global_("types", "SimpleNamespace").empty_tuple().reduce()
        .empty_dict().str("__setstate__").global_("numpy.random._pickle", "__generator_ctor")
        .setitem().build().global_("collections", "OrderedDict").build().stop().bytes()
    )  # fmt: skip
    result = scan(data)
    assert "MLS-PKL-002" in blocking(result)
    assert any("under '__setstate__'" in f.evidence for f in result.findings)


def test_a_harmless_partial_in_the_state_of_an_unknown_class_is_critical() -> None:
    data = (
        Asm().proto(2).global_("mypkg", "Model").empty_tuple().raw(b"\x81").empty_dict()
        .str("fn").raw(partial_of("collections", "OrderedDict").bytes()[2:]).setitem()
        .build().stop().bytes()
    )  # fmt: skip
    result = scan(data, PicklePolicy(mode="denylist"))
    assert "MLS-PKL-017" in blocking(result)
    assert "handed to mypkg.Model" in reason(result)


def test_a_harmless_partial_inside_an_allowed_object_inside_an_unknown_one_is_critical() -> None:
    # mypkg.Model(collections.OrderedDict([(partial,)])): the unknown class can reach it.
    data = (
        Asm().proto(2).global_("mypkg", "Model").global_("collections", "OrderedDict")
        .raw(b"]").raw(partial_of("collections", "OrderedDict").bytes()[2:]).tuple1().append()
        .tuple1().reduce().tuple1().reduce().stop().bytes()
    )  # fmt: skip
    result = scan(data, PicklePolicy(mode="denylist"))
    assert "MLS-PKL-017" in blocking(result), [f.render() for f in result.findings]
    assert "handed to mypkg.Model" in reason(result)


def test_a_harmless_partial_inside_an_allowed_object_returned_as_is_stays_harmless() -> None:
    data = (
        Asm().proto(2).global_("collections", "OrderedDict")
        .raw(b"]").raw(partial_of("collections", "OrderedDict").bytes()[2:]).tuple1().append()
        .tuple1().reduce().stop().bytes()
    )  # fmt: skip
    assert rules(scan(data)) == {"MLS-PKL-016"}


@pytest.mark.parametrize(
    "name", ["system", "__reduce__", "__import__", "load", "exec", "eval", "__init__", "_private"]
)
def test_a_methodcaller_with_a_dangerous_method_name_is_critical(name: str) -> None:
    data = Asm().proto(2).global_("operator", "methodcaller").str(name).tuple1().reduce().stop()
    result = scan(data.bytes())
    assert {"MLS-PKL-001", "MLS-PKL-017"} <= blocking(result)


def test_a_methodcaller_whose_name_is_computed_at_load_time_is_critical() -> None:
    data = (
        Asm().proto(2).global_("operator", "methodcaller")
        .global_("builtins", "str").str("lower").tuple1().reduce().tuple1().reduce().stop()
    )  # fmt: skip
    assert "not a string constant" in reason(scan(data.bytes()))


@pytest.mark.parametrize(
    "path", ["__class__.__init__.__globals__", "__builtins__", "os.system", "a.__dict__", "a..b"]
)
def test_an_attrgetter_reaching_dunders_or_code_is_critical(path: str) -> None:
    data = Asm().proto(2).global_("operator", "attrgetter").str(path).tuple1().reduce().stop()
    assert "MLS-PKL-017" in blocking(scan(data.bytes()))


def test_an_itemgetter_with_a_key_built_by_a_dangerous_call_is_critical() -> None:
    data = (
        Asm().proto(2).global_("operator", "itemgetter")
        .global_("os", "getcwd").empty_tuple().reduce().tuple1().reduce().stop()
    )  # fmt: skip
    assert "MLS-PKL-017" in blocking(scan(data.bytes()))


def test_a_gadget_class_handed_to_another_callable_keeps_its_import_critical() -> None:
    # copyreg.__newobj__(functools.partial, OrderedDict): a partial made behind the constructor.
    data = (
        Asm().proto(2).global_("copyreg", "__newobj__").global_("functools", "partial")
        .global_("collections", "OrderedDict").tuple2().reduce().stop()
    )  # fmt: skip
    assert "MLS-PKL-001" in blocking(scan(data.bytes()))


def test_a_gadget_reached_through_an_attribute_path_is_not_taken_for_the_constructor() -> None:
    data = (
        Asm().proto(2).global_("torch", "functools.partial")
        .global_("collections", "OrderedDict").tuple1().reduce().stop()
    )  # fmt: skip
    assert "MLS-PKL-001" in blocking(scan(data.bytes()))


def test_every_harmless_use_is_needed_for_the_import_to_be_lifted() -> None:
    # One partial import used twice (memo): once harmlessly, once around os.system.
    data = (
        Asm().proto(2).global_("functools", "partial").put(0)
        .global_("collections", "OrderedDict").tuple1().reduce().pop()
        .get(0).global_("os", "system").tuple1().reduce().stop()
    )  # fmt: skip
    result = scan(data.bytes())
    assert {"MLS-PKL-001", "MLS-PKL-017"} <= blocking(result)
    assert "MLS-PKL-016" in rules(result)


@pytest.mark.needs("sklearn")
def test_a_scikit_learn_function_transformer_holding_a_partial_of_an_allowed_function_is_not_critical() -> (
    None
):
    import numpy as np
    from sklearn.preprocessing import FunctionTransformer

    model = FunctionTransformer(func=functools.partial(np.sqrt))
    result = scan(pickle.dumps(model))
    assert "MLS-PKL-016" in rules(result)
    assert not {"MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-017"} & rules(result)


# --- nested loaders ------------------------------------------------------------------------


def load_from_bytes(
    blob: bytes, loader: tuple[str, str] = ("torch.storage", "_load_from_bytes")
) -> bytes:
    """``loader(blob)`` with the blob as a BINBYTES constant, as torch pickles a storage."""
    return Asm().proto(2).global_(*loader).bytes_(blob).tuple1().reduce().stop().bytes()


def legacy_blob(payload: bytes | None = None, storage: bytes = b"\x00" * 12) -> bytes:
    """What ``torch.save(storage, _use_new_zipfile_serialization=False)`` writes, by hand:
    magic, protocol, sys info, the object (a persistent storage id), keys, raw storage."""
    obj = (
        Asm().proto(2).mark().str("storage").global_("torch", "FloatStorage").str("0")
        .str("cpu").int_(len(storage) // 4).none().tuple().binpersid().stop().bytes()
    )  # fmt: skip
    return (
        b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."  # the magic number
        + b"\x80\x02M\xe9\x03."  # protocol 1001
        + b"\x80\x02}q\x00."  # sys info
        + (payload if payload is not None else obj)
        + b"\x80\x02]q\x00X\x01\x00\x00\x000a."  # keys ["0"]
        + (len(storage) // 4).to_bytes(8, "little")
        + storage
    )


def test_a_load_from_bytes_of_a_clean_legacy_blob_is_info_and_its_import_is_not_dangerous() -> None:
    result = scan(load_from_bytes(legacy_blob()))
    assert rules(result) == {"MLS-PKL-018"}
    assert all(f.severity is Severity.INFO for f in result.findings)
    assert not result.errors


def test_raw_storage_bytes_that_look_like_a_payload_are_not_read_as_one() -> None:
    payload = Asm().proto(2).call("os", "system", "touch x").stop().bytes()
    storage = payload + b"\x00" * (-len(payload) % 4)
    result = scan(load_from_bytes(legacy_blob(storage=storage)))
    assert rules(result) == {"MLS-PKL-018"}


def test_a_load_from_bytes_whose_object_pickle_carries_a_payload_is_critical() -> None:
    payload = Asm().proto(2).call("os", "system", "touch x").stop().bytes()
    result = scan(load_from_bytes(legacy_blob(payload=payload)))
    assert {"MLS-PKL-001", "MLS-PKL-019"} <= blocking(result)
    nested = [f for f in result.findings if f.rule == "MLS-PKL-002" and "os.system" in f.title]
    assert nested
    assert all("nested load at offset" in (f.location.key_path or "") for f in nested)
    # The nested offsets are file offsets: the payload's REDUCE lies inside the constant.
    data = load_from_bytes(legacy_blob(payload=payload))
    assert data[nested[0].location.offset] == ord("R")


def test_bytes_after_the_last_storage_of_a_nested_blob_keep_the_load_critical() -> None:
    result = scan(load_from_bytes(legacy_blob() + b"\x80\x02N."))
    assert "MLS-PKL-019" in blocking(result)
    assert "bytes after the last storage" in reason(result, "MLS-PKL-019")


def test_a_nested_blob_whose_pickle_stops_inside_its_frame_keeps_the_load_critical() -> None:
    # Where the next pickle starts depends on how the loader reads the stream (after the STOP
    # from a buffered file, after the frame from bytes): the blob has no single layout.
    blob = legacy_blob()
    magic = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."
    body = magic[2:] + b"\x80\x02N."
    framed = b"\x80\x04\x95" + len(body).to_bytes(8, "little") + body
    result = scan(load_from_bytes(framed + blob[len(magic) :]))
    assert "MLS-PKL-019" in blocking(result)
    assert "before the end of its frame" in reason(result, "MLS-PKL-019")


def test_a_nested_blob_whose_layout_breaks_keeps_the_load_critical() -> None:
    truncated = legacy_blob()[:-4]
    assert "MLS-PKL-019" in blocking(scan(load_from_bytes(truncated)))


def test_a_load_from_bytes_of_a_non_constant_argument_stays_critical() -> None:
    data = (
        Asm().proto(2).global_("torch.storage", "_load_from_bytes")
        .global_("os", "getcwdb").empty_tuple().reduce().tuple1().reduce().stop().bytes()
    )  # fmt: skip
    result = scan(data)
    assert {"MLS-PKL-001", "MLS-PKL-019"} <= blocking(result)
    assert "not constant bytes" in reason(result, "MLS-PKL-019")


def test_nested_loads_deeper_than_the_bound_stay_critical() -> None:
    blob = Asm().proto(2).none().stop().bytes() + b"\x00" * 8
    for _ in range(4):
        blob = load_from_bytes(blob, ("pickle", "loads"))
    result = scan(blob)
    assert "MLS-PKL-019" in blocking(result)
    assert "not read" in reason(result, "MLS-PKL-019")


def test_pickle_loads_of_clean_constant_bytes_is_judged_by_them() -> None:
    inner = pickle.dumps({"a": [1, 2, 3]}, protocol=2)
    assert rules(scan(load_from_bytes(inner, ("pickle", "loads")))) == {"MLS-PKL-018"}
    assert rules(scan(load_from_bytes(inner, ("_pickle", "loads")))) == {"MLS-PKL-018"}


def test_pickle_loads_of_a_nested_payload_reports_the_payload_and_the_load() -> None:
    inner = Asm().proto(2).call("os", "system", "touch x").stop().bytes()
    result = scan(load_from_bytes(inner, ("pickle", "loads")))
    assert {"MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-019"} <= blocking(result)


def test_a_clean_nested_load_whose_result_is_called_stays_critical() -> None:
    inner = pickle.dumps(collections.OrderedDict, protocol=2)
    data = load_from_bytes(inner, ("pickle", "loads"))[:-1] + b")R."
    result = scan(data)
    assert "MLS-PKL-019" in blocking(result)
    assert "the loader calls it" in reason(result, "MLS-PKL-019")


@pytest.mark.needs("torch")
def test_a_pickled_torch_tensor_passes() -> None:
    import torch

    for protocol in (2, 4):
        result = scan(pickle.dumps(torch.arange(6, dtype=torch.float32), protocol=protocol))
        assert not blocking(result), [f.render() for f in result.findings]
        assert "MLS-PKL-018" in rules(result)
        assert not result.errors


@pytest.mark.needs("torch")
def test_a_uint8_tensor_holding_pickle_bytes_is_not_read_as_a_payload() -> None:
    import torch

    payload = Asm().proto(2).call("os", "system", "touch x").stop().bytes()
    tensor = torch.tensor(list(payload), dtype=torch.uint8)
    result = scan(pickle.dumps(tensor))
    assert not blocking(result), [f.render() for f in result.findings]


def test_a_harmless_partial_passed_through_rebuild_from_type_v2_is_critical() -> None:
    # _rebuild_from_type_v2(collections.OrderedDict, collections.OrderedDict, ([partial],), {}):
    # OrderedDict does not call it, but _rebuild_from_type_v2 calls attributes of what the
    # function returns (ret.as_subclass(new_type)); a dict whose __getattr__ reads its items
    # (Lightning's AttributeDict) returns, and so calls, what the pickle stored there.
    data = (
        Asm().proto(2).global_("torch._tensor", "_rebuild_from_type_v2").mark()
        .global_("collections", "OrderedDict").global_("collections", "OrderedDict")
        .raw(b"]").raw(partial_of("collections", "OrderedDict").bytes()[2:]).append()
        .tuple1().empty_dict().tuple().reduce().stop().bytes()
    )  # fmt: skip
    result = scan(data)
    assert "MLS-PKL-017" in blocking(result)
    assert "handed to torch._tensor._rebuild_from_type_v2, which may call it" in reason(result)


@pytest.mark.needs("torch")
def test_pickle_loads_of_a_pickled_tensor_is_judged_by_the_tensor() -> None:
    import torch

    inner = pickle.dumps({"w": torch.zeros(2)})
    result = scan(load_from_bytes(inner, ("pickle", "loads")))
    assert not blocking(result), [f.render() for f in result.findings]
    assert [f.rule for f in result.findings].count("MLS-PKL-018") == 2


@pytest.mark.needs("torch", "pandas")
def test_a_tensor_handed_to_code_outside_the_allowlist_keeps_its_nested_load_clean() -> None:
    import pandas as pd
    import torch

    frame = pd.DataFrame({"t": pd.Series([torch.zeros(2), torch.ones(2)], dtype=object)})
    result = scan(pickle.dumps(frame), PicklePolicy(mode="denylist"))
    assert not {"MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-019"} & rules(result)
    assert "MLS-PKL-018" in rules(result)


@pytest.mark.needs("torch")
@pytest.mark.parametrize(
    "dtype", ["float64", "bfloat16", "int8", "bool", "uint16", "float8_e4m3fn", "complex64"]
)
def test_a_pickled_tensor_of_any_dtype_passes(dtype: str) -> None:
    # Typed storages are counted in elements of their class, the untyped one in bytes.
    import torch

    tensor = torch.zeros(5, dtype=getattr(torch, dtype))
    result = scan(pickle.dumps(tensor))
    assert rules(result) == {"MLS-PKL-018"}, [f.render() for f in result.findings]
