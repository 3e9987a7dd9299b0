"""``numpy.load`` / ``joblib.load`` of ``io.BytesIO(<constant bytes>)`` in a pickle are judged
by what the loader reads there.

The bytes are read by the numpy format's reader (an ``.npy``, an ``.npz`` or a bare pickle, as
numpy tells them apart): a plain numeric array is MLS-PKL-018 info, and its ``io.BytesIO`` is
not reported; a payload in an object array, a bare pickle or an ``.npz`` member, bytes numpy
would not read as they were judged, a path, memory mapping or a buffer shared with other code
keep the load MLS-PKL-019 critical. ``joblib.load`` reads the bytes as joblib does:
decompressed by their first bytes, then a joblib pickle. Fixtures are built by hand (the
``.npy`` layout, :mod:`zipfile` as ``numpy.savez`` writes, :mod:`gzip` / :mod:`zlib` as joblib
compresses), and with numpy and joblib themselves.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable

import pytest
from pickle_asm import Asm

# The numpy and compressed-stream engines register how they read a nested load's bytes.
from pytest_mlsupply.engines.formats import compressed, numpy  # noqa: F401
from pytest_mlsupply.engines.pickle import PicklePolicy, PickleScan, scan_pickle_bytes
from pytest_mlsupply.engines.pickle import scan as pickle_scan
from pytest_mlsupply.results import Severity

PAYLOAD = Asm().proto(2).call("os", "system", "touch x").stop().bytes()


def scan(data: bytes) -> PickleScan:
    return scan_pickle_bytes(data, policy=PicklePolicy(), origin="f.pkl")


def rules(result: PickleScan) -> set[str]:
    return {f.rule for f in result.findings}


def blocking(result: PickleScan) -> set[str]:
    return {f.rule for f in result.findings if f.severity >= Severity.HIGH}


def reason(result: PickleScan) -> str:
    return " | ".join(f.evidence for f in result.findings if f.rule.startswith("MLS-PKL-01"))


def npy(descr: str, shape: tuple[int, ...], data: bytes) -> bytes:
    """An ``.npy`` file as ``numpy.save`` writes it (format 1.0, header padded to 64)."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin-1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data


FLOATS = npy("<f8", (3,), struct.pack("<3d", 1.0, 2.0, 3.0))
OBJECT_PAYLOAD = npy("|O", (1,), PAYLOAD)


def npz(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _option(asm: Asm, value: object) -> Asm:
    if value is None:
        return asm.none()
    if value is True:
        return asm.true()
    assert isinstance(value, str)
    return asm.str(value)


def numpy_load(
    data: bytes | str,
    *options: object,
    loader: tuple[str, str] = ("numpy", "load"),
    buffer: tuple[str, str] | None = ("_io", "BytesIO"),
) -> bytes:
    """``loader(buffer(data), *options)`` (just ``loader(data, ...)`` without a buffer)."""
    asm = Asm().proto(2).global_(*loader).mark()
    if buffer is not None:
        asm.global_(*buffer)
    asm.bytes_(data) if isinstance(data, bytes) else asm.str(data)
    if buffer is not None:
        asm.tuple1().reduce()
    for option in options:
        _option(asm, option)
    return asm.tuple().reduce().stop().bytes()


# --- clean loads -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "loader", [("numpy", "load"), ("numpy.lib.npyio", "load"), ("numpy.lib._npyio_impl", "load")]
)
@pytest.mark.parametrize("buffer", [("_io", "BytesIO"), ("io", "BytesIO")])
def test_numpy_load_of_a_constant_float_npy_is_info_only(
    loader: tuple[str, str], buffer: tuple[str, str]
) -> None:
    result = scan(numpy_load(FLOATS, loader=loader, buffer=buffer))
    assert rules(result) == {"MLS-PKL-018"}, [f.render() for f in result.findings]
    assert "read as an .npy array, nothing found" in reason(result)
    assert not result.errors


def test_numpy_load_with_allow_pickle_of_a_float_npy_is_info_only() -> None:
    assert rules(scan(numpy_load(FLOATS, None, True))) == {"MLS-PKL-018"}
    assert rules(scan(numpy_load(FLOATS, None, True, True, "latin1"))) == {"MLS-PKL-018"}


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_numpy_load_of_an_npz_of_float_arrays_is_info_only(method: int) -> None:
    data = npz({"a.npy": FLOATS, "b.npy": npy("<i4", (2, 2), bytes(16))}, method)
    result = scan(numpy_load(data))
    assert rules(result) == {"MLS-PKL-018"}, [f.render() for f in result.findings]
    assert "read as an .npz archive" in reason(result)


def test_numpy_load_of_a_clean_bare_pickle_is_info_only() -> None:
    result = scan(numpy_load(pickle.dumps({"a": [1, 2]}, protocol=2), None, True))
    assert rules(result) == {"MLS-PKL-018"}
    assert "read as a pickle" in reason(result)


def test_without_the_numpy_engine_s_reader_a_numpy_load_stays_critical(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pickle_scan, "FILE_LOAD_READERS", {})
    result = scan(numpy_load(FLOATS))
    assert "MLS-PKL-019" in blocking(result)
    assert "not read" in reason(result)


def test_a_bytesio_rebuilt_from_its_pickled_state_is_read_from_that_state() -> None:
    # What pickle.dumps(io.BytesIO(b)) writes: _io.BytesIO() by NEWOBJ, then (b, 0, None).
    def load(position: int) -> bytes:
        return (
            Asm().proto(2).global_("numpy", "load").global_("_io", "BytesIO").empty_tuple()
            .newobj().bytes_(FLOATS).int_(position).none().tuple3().build().tuple1().reduce()
            .stop().bytes()
        )  # fmt: skip

    assert rules(scan(load(0))) == {"MLS-PKL-018"}
    # Read from another position, numpy would see other bytes than the constant's start.
    assert "MLS-PKL-019" in blocking(scan(load(5)))


# --- payloads ----------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [(), (None, True)], ids=["no-allow-pickle", "allow-pickle"])
def test_an_object_array_whose_pickle_is_a_payload_is_critical_with_or_without_allow_pickle(
    options: tuple[object, ...],
) -> None:
    result = scan(numpy_load(OBJECT_PAYLOAD, *options))
    assert {"MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-019"} <= blocking(result)
    nested = [f for f in result.findings if f.rule == "MLS-PKL-002" and "os.system" in f.title]
    assert nested
    assert all("nested load at offset" in (f.location.key_path or "") for f in nested)


def test_a_bare_pickle_payload_handed_to_numpy_load_is_critical() -> None:
    result = scan(numpy_load(PAYLOAD, None, True))
    assert {"MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-019"} <= blocking(result)
    # Reported once, by the load, not a second time as a constant that looks like a pickle.
    assert "MLS-PKL-009" not in rules(result)


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_an_npz_member_whose_object_array_is_a_payload_is_critical(method: int) -> None:
    data = npz({"clean.npy": FLOATS, "evil.npy": OBJECT_PAYLOAD}, method)
    result = scan(numpy_load(data, None, True))
    assert {"MLS-PKL-002", "MLS-PKL-019"} <= blocking(result)
    nested = [f for f in result.findings if f.rule == "MLS-PKL-002"]
    assert any("member evil.npy" in (f.location.key_path or "") for f in nested)


def test_a_payload_nested_deeper_inside_the_loaded_pickle_is_found() -> None:
    inner = Asm().proto(2).global_("pickle", "loads").bytes_(PAYLOAD).tuple1().reduce()
    result = scan(numpy_load(inner.stop().bytes(), None, True))
    assert {"MLS-PKL-002", "MLS-PKL-019"} <= blocking(result)


# --- what numpy would not read as it was judged ----------------------------------------------


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (FLOATS + PAYLOAD, "bytes after the array"),
        (FLOATS[:-4], "truncated"),
        (b"\x93NUMPY\x09\x00" + FLOATS[8:], "refuses the .npy header"),
        (b"", "no data"),
        (npz({"a.npy": FLOATS, "notes.txt": b"hello"}), "not an .npy"),
        (npz({"a.npy": FLOATS + b"extra"}), "bytes for the array its header declares"),
        (b"PK\x03\x04" + bytes(40), "not a zip"),
    ],
    ids=["trailing", "truncated", "bad-version", "empty", "npz-other-member", "npz-long", "zip"],
)
def test_bytes_numpy_would_not_read_as_judged_keep_the_load_critical(data: bytes, why: str) -> None:
    result = scan(numpy_load(data, None, True))
    assert "MLS-PKL-019" in blocking(result)
    assert why in reason(result)


def test_an_npz_member_compressed_in_a_way_the_scan_cannot_read_keeps_the_load_critical() -> None:
    data = bytearray(npz({"a.npy": OBJECT_PAYLOAD}))
    # Compression method 99 (AES) in the local and central headers: nothing can read it here.
    for offset in (8, data.index(b"PK\x01\x02") + 10):
        data[offset : offset + 2] = struct.pack("<H", 99)
    result = scan(numpy_load(bytes(data)))
    assert "MLS-PKL-019" in blocking(result)
    assert "not supported" in reason(result)


def test_a_bytesio_given_its_bytes_by_keyword_stays_critical() -> None:
    # _io.BytesIO.__new__ by NEWOBJ_EX with initial_bytes=...: not the one plain form read.
    data = (
        Asm().proto(4).global_("numpy", "load").global_("_io", "BytesIO").empty_tuple()
        .empty_dict().str("initial_bytes").bytes_(FLOATS).setitem().newobj_ex()
        .tuple1().reduce().stop().bytes()
    )  # fmt: skip
    assert "MLS-PKL-019" in blocking(scan(data))


def test_an_npz_with_two_members_of_one_name_keeps_the_load_critical() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.npy", FLOATS)
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("a.npy", FLOATS)
    result = scan(numpy_load(buffer.getvalue()))
    assert "MLS-PKL-019" in blocking(result)
    assert "inconsistent" in reason(result)


@pytest.mark.parametrize(
    ("data", "options", "buffer"),
    [
        ("/tmp/weights.npy", (), None),
        ("weights.npy", (None, True), None),
        (FLOATS, (), None),
        (FLOATS, ("r",), ("_io", "BytesIO")),
        (FLOATS, (None, True, True, "utf-8"), ("_io", "BytesIO")),
        (FLOATS, (), ("io", "StringIO")),
        (FLOATS, (), ("mylib.io", "BytesIO")),
    ],
    ids=["path", "relative-path", "bare-bytes", "mmap", "encoding", "stringio", "lookalike"],
)
def test_numpy_load_of_anything_but_a_bytesio_of_constant_bytes_stays_critical(
    data: bytes | str, options: tuple[object, ...], buffer: tuple[str, str] | None
) -> None:
    result = scan(numpy_load(data, *options, buffer=buffer))
    assert {"MLS-PKL-001", "MLS-PKL-019"} <= blocking(result)
    assert "not io.BytesIO of constant bytes" in reason(result)


def test_numpy_load_given_keywords_stays_critical() -> None:
    # NEWOBJ_EX hands keywords to what it calls: numpy.load(BytesIO(b), allow_pickle=True).
    data = (
        Asm().proto(4).global_("numpy", "load").global_("_io", "BytesIO").bytes_(FLOATS)
        .tuple1().reduce().tuple1().empty_dict().str("allow_pickle").true().setitem()
        .newobj_ex().stop().bytes()
    )  # fmt: skip
    assert "MLS-PKL-019" in blocking(scan(data))


def test_a_bytesio_read_by_two_loads_keeps_both_critical() -> None:
    # The second load reads where the first stopped: not the bytes the scan judged.
    load = Asm().proto(2).global_("numpy", "load").memoize()
    load.global_("_io", "BytesIO").bytes_(FLOATS).tuple1().reduce().memoize().tuple1().reduce()
    load.binget(0).binget(1).tuple1().reduce().tuple2().stop()
    result = scan(load.bytes())
    assert "MLS-PKL-019" in blocking(result)
    assert "also handed to other code" in reason(result)
    assert "MLS-PKL-018" not in rules(result)


def test_a_bytesio_made_outside_a_load_is_reported_as_before() -> None:
    data = (
        Asm().proto(2).global_("numpy", "load").global_("_io", "BytesIO").memoize()
        .bytes_(FLOATS).tuple1().reduce().tuple1().reduce()
        .binget(0).bytes_(b"other").tuple1().reduce().tuple2().stop().bytes()
    )  # fmt: skip
    result = scan(data)
    assert "MLS-PKL-018" in rules(result)
    assert "MLS-PKL-003" in rules(result)  # the second BytesIO is no load's file


def test_a_clean_numpy_load_whose_result_is_called_stays_critical() -> None:
    data = numpy_load(FLOATS)[:-1] + b")R."
    result = scan(data)
    assert "MLS-PKL-019" in blocking(result)
    assert "the loader calls it" in reason(result)


# --- with numpy itself -------------------------------------------------------------------------


@pytest.mark.needs("numpy")
def test_an_object_that_reduces_to_numpy_load_of_what_numpy_saves_passes() -> None:
    import numpy as np

    class Saved:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def __reduce__(self) -> tuple[object, ...]:
            return (np.load, (io.BytesIO(self.data),))

    arrays = {"w": np.arange(6.0).reshape(2, 3), "b": np.zeros(3, dtype=np.int16)}
    for write in (
        lambda out: np.save(out, arrays["w"]),
        lambda out: np.savez(out, **arrays),
        lambda out: np.savez_compressed(out, **arrays),
    ):
        out = io.BytesIO()
        write(out)
        for protocol in (2, 4, 5):
            result = scan(pickle.dumps(Saved(out.getvalue()), protocol=protocol))
            assert rules(result) == {"MLS-PKL-018"}, [f.render() for f in result.findings]


# --- joblib.load ---------------------------------------------------------------------------------

JOBLIB = ("joblib.numpy_pickle", "load")


@pytest.mark.parametrize("loader", [JOBLIB, ("joblib", "load")])
@pytest.mark.parametrize("pack", [bytes, gzip.compress, zlib.compress], ids=["raw", "gzip", "zlib"])
def test_joblib_load_of_a_clean_pickle_raw_or_compressed_is_info_only(
    loader: tuple[str, str], pack: Callable[[bytes], bytes]
) -> None:
    data = pack(pickle.dumps({"a": [1.0, 2.0]}, protocol=2))
    result = scan(numpy_load(data, loader=loader))
    assert rules(result) == {"MLS-PKL-018"}, [f.render() for f in result.findings]
    assert "joblib pickle, nothing found" in reason(result)


@pytest.mark.parametrize("pack", [bytes, gzip.compress, zlib.compress], ids=["raw", "gzip", "zlib"])
def test_joblib_load_of_a_payload_raw_or_compressed_is_critical(
    pack: Callable[[bytes], bytes],
) -> None:
    result = scan(numpy_load(pack(PAYLOAD), loader=JOBLIB))
    assert {"MLS-PKL-001", "MLS-PKL-002", "MLS-PKL-019"} <= blocking(result)


@pytest.mark.parametrize(
    ("data", "options", "why"),
    [
        (gzip.compress(pickle.dumps(1))[:-6], (), "truncated"),
        (gzip.compress(pickle.dumps(1)) + b"junk", (), "bytes after"),
        (b"ZF0x" + bytes(17) + zlib.compress(pickle.dumps(1)), (), "z-file"),
        (pickle.dumps(1), ("r",), "not io.BytesIO"),
        (pickle.dumps(1), (None, "yes"), "not io.BytesIO"),
    ],
    ids=["truncated", "trailing", "zfile", "mmap", "byte-order"],
)
def test_joblib_load_of_bytes_it_would_not_read_as_judged_stays_critical(
    data: bytes, options: tuple[object, ...], why: str
) -> None:
    result = scan(numpy_load(data, *options, loader=JOBLIB))
    assert "MLS-PKL-019" in blocking(result)
    assert why in reason(result)


def test_joblib_load_of_a_path_stays_critical() -> None:
    result = scan(numpy_load("model.joblib", loader=JOBLIB, buffer=None))
    assert {"MLS-PKL-001", "MLS-PKL-019"} <= blocking(result)


@pytest.mark.needs("joblib", "numpy")
def test_an_object_that_reduces_to_joblib_load_of_what_joblib_dumps_passes() -> None:
    import joblib
    import numpy as np

    class Dumped:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def __reduce__(self) -> tuple[object, ...]:
            return (joblib.load, (io.BytesIO(self.data),))

    value = {"w": np.arange(6.0).reshape(2, 3), "names": ["a", "b"]}
    for compress in (0, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)):
        out = io.BytesIO()
        joblib.dump(value, out, compress=compress)
        result = scan(pickle.dumps(Dumped(out.getvalue())))
        assert rules(result) == {"MLS-PKL-018"}, (compress, [f.render() for f in result.findings])


@pytest.mark.needs("joblib")
def test_an_object_array_payload_inside_a_joblib_dump_is_critical() -> None:
    import joblib
    import numpy as np

    class Evil:
        def __reduce__(self) -> tuple[object, ...]:
            import os

            return (os.system, ("touch x",))

    out = io.BytesIO()
    joblib.dump({"a": np.array([Evil()], dtype=object)}, out)
    result = scan(numpy_load(out.getvalue(), loader=JOBLIB))
    assert {"MLS-PKL-002", "MLS-PKL-019"} <= blocking(result)
