"""The dtype reader agrees with numpy on every spelling it reads, and reads what numpy writes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from pytest_mlsupply.engines.numpy_dtype import scalar

_CODES = [*np.typecodes["All"], "a", "c", "u", "x", "w"]
_NAMES = sorted(name for name in np.sctypeDict if isinstance(name, str))
_SIZES = ["", "0", "1", "2", "3", "4", "8", "08", "12", "16", "24", "32", "64", "128"]
_SPELLINGS = sorted(
    {
        f"{order}{code}{size}{unit}"
        for order in ("", "<", ">", "|", "=", "!")
        for code in [*_CODES, *_NAMES, "bytes5", "int08"]
        for size in _SIZES
        for unit in ("", "[ns]")
    }
    | {" f8", "f8 ", "f 8", "f+8", "0f8", "(2,)i4", "i8,f4", "U00", "<a", "<a5", "<float64"}
    | {
        f"{kind}[{unit}]"
        for kind in ("M8", "m08", "M", "datetime64", ">timedelta64")
        for unit in ("10ms", "ms/2", "generic", "2generic", "μs", "xx", "-1s", " s")
    }
)


def numpy_reads(spelling: str) -> np.dtype | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'a' is deprecated, still read
        try:
            return np.dtype(spelling)
        except (TypeError, ValueError, SyntaxError):
            return None


def test_every_spelling_read_has_numpys_size_and_kind() -> None:
    wrong = []
    for spelling in _SPELLINGS:
        ours = scalar(spelling)
        theirs = numpy_reads(spelling)
        if ours is None:
            continue  # not read here: callers fail closed
        if theirs is None:
            wrong.append((spelling, ours, "numpy refuses it"))
        elif ours.kind != theirs.kind or (
            ours.itemsize is not None and ours.itemsize != theirs.itemsize
        ):
            wrong.append((spelling, ours, theirs.kind, theirs.itemsize))
    assert not wrong, wrong[:20]


@pytest.mark.parametrize(
    "dtype",
    ["u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f2", "f4", "f8", "c8", "c16", "b1",
     "M8[ns]", "m8[s]", "S5", "U3", "V8", "O"],
)  # fmt: skip
def test_what_numpy_writes_is_read_with_its_size(dtype: str) -> None:
    written = np.dtype(dtype)
    # numpy pickles a dtype as numpy.dtype(descr, ...) and .npy headers hold its descr.
    descr = written.__reduce__()[1][0]
    ours = scalar(descr)
    assert ours is not None, descr
    assert ours.kind == written.kind
    if written.kind != "O":
        assert ours.itemsize == written.itemsize
    assert scalar(written.descr[0][1]) == ours


@pytest.mark.parametrize("spelling", ["l", "L", "long", "int", "int_", "intp", "g", "longdouble"])
def test_spellings_whose_size_depends_on_the_platform_have_no_size(spelling: str) -> None:
    ours = scalar(spelling)
    assert ours is not None
    assert ours.itemsize is None
