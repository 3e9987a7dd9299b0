"""numpy's dtype strings (``'<f8'``, ``'|b1'``, ``'U5'``, ``'datetime64[ns]'``, ``'int32'``).

The one reader of them for everything that sizes numpy data: ``.npy`` headers
(:mod:`~pytest_mlsupply.engines.formats.numpy`) and the arrays joblib writes between pickle
opcodes (:mod:`~pytest_mlsupply.engines.pickle.vm`). A reader that sizes an array wrongly
steps over the wrong bytes, and a payload can sit in the difference.

Sizes are numpy's own, on the 64-bit platforms models are loaded on (the tests compare every
spelling with numpy). Spellings whose size depends on the platform (``'l'``, ``'long'``,
``'int'``, ``'g'``, ``'intp'``...) are known but have no size: numpy on Windows or on a 32-bit
machine reads another than Linux does, so no single answer is right. numpy writes sizes out
(``'<i8'``), so real files never need them. Anything else numpy accepts (comma-separated
fields, subarray shapes, spaces) is not read here: callers treat it as not understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Scalar", "scalar"]


@dataclass(frozen=True)
class Scalar:
    """One scalar dtype: numpy's kind letter and its item size in bytes.

    ``itemsize`` is None for object dtypes (a pointer each) and where the size depends on
    the platform. ``flexible`` types (``S``, ``U``, ``V``) carry their size in the string
    (``'S5'``), or in a pickled dtype's state; without either it is 0.
    """

    kind: str
    itemsize: int | None
    flexible: bool = False


# Type codes without a size (numpy.typecodes, plus 'a' and 'c').
_CODES: dict[str, tuple[str, int | None]] = {
    "?": ("b", 1), "b": ("i", 1), "B": ("u", 1), "h": ("i", 2), "H": ("u", 2),
    "i": ("i", 4), "I": ("u", 4), "q": ("i", 8), "Q": ("u", 8), "e": ("f", 2), "f": ("f", 4),
    "d": ("f", 8), "F": ("c", 8), "D": ("c", 16), "M": ("M", 8), "m": ("m", 8),
    "O": ("O", None), "c": ("S", 1),
    # C long, size_t, pointer, long double: their sizes differ between platforms.
    "l": ("i", None), "L": ("u", None), "n": ("i", None), "N": ("u", None), "p": ("i", None),
    "P": ("u", None), "g": ("f", None), "G": ("c", None),
}  # fmt: skip

# Named types (numpy.sctypeDict's names): the digits in 'int32' are bits.
_NAMES: dict[str, tuple[str, int | None]] = {
    "bool": ("b", 1), "bool_": ("b", 1), "byte": ("i", 1), "ubyte": ("u", 1),
    "short": ("i", 2), "ushort": ("u", 2), "intc": ("i", 4), "uintc": ("u", 4),
    "longlong": ("i", 8), "ulonglong": ("u", 8), "half": ("f", 2), "single": ("f", 4),
    "double": ("f", 8), "float": ("f", 8), "csingle": ("c", 8), "cdouble": ("c", 16),
    "complex": ("c", 16), "datetime64": ("M", 8), "timedelta64": ("m", 8),
    "object": ("O", None), "object_": ("O", None),
    **{f"int{bits}": ("i", bits // 8) for bits in (8, 16, 32, 64)},
    **{f"uint{bits}": ("u", bits // 8) for bits in (8, 16, 32, 64)},
    **{f"float{bits}": ("f", bits // 8) for bits in (16, 32, 64, 128)},
    **{f"complex{bits}": ("c", bits // 8) for bits in (64, 128, 256)},
    # Platform-dependent: C long (4 bytes on Windows), pointers, long double.
    "int": ("i", None), "int_": ("i", None), "long": ("i", None), "intp": ("i", None),
    "uint": ("u", None), "ulong": ("u", None), "uintp": ("u", None),
    "longdouble": ("f", None), "clongdouble": ("c", None),
}  # fmt: skip

_FLEXIBLE_NAMES = {
    "S": "S", "a": "S", "bytes": "S", "bytes_": "S", "U": "U", "str": "U", "str_": "U",
    "unicode": "U", "V": "V", "void": "V",
}  # fmt: skip

# A kind letter followed by a size in bytes ('<f8', '|b1'): the sizes numpy takes for each.
_SIZED: dict[str, frozenset[int]] = {
    "b": frozenset({1}),
    "i": frozenset({1, 2, 4, 8}),
    "u": frozenset({1, 2, 4, 8}),
    "f": frozenset({2, 4, 8, 16}),
    "c": frozenset({8, 16, 32}),
    "M": frozenset({8}),
    "m": frozenset({8}),
    "O": frozenset({4, 8}),
}

_DESCR = re.compile(r"([<>|=]?)([A-Za-z_?]+?)(\d*)(\[[^\]]*\])?")
_DATETIME = frozenset({"M", "m"})
# Of the named types, only these take a byte order ('>datetime64').
_ORDERED_NAMES = frozenset({"datetime64", "timedelta64"})
# A datetime unit, with its multiplier and divisor ('[10ms]', '[ms/2]', '[generic]').
_UNIT = re.compile(r"\[(?:\d{0,9}(?:Y|M|W|D|h|m|s|ms|us|μs|ns|ps|fs|as|generic)(?:/\d{1,9})?)\]")


def scalar(descr: str) -> Scalar | None:
    """The scalar dtype ``descr`` spells, or None when numpy refuses it or it is not one."""
    match = _DESCR.fullmatch(descr)
    if match is None:
        return None
    order, code, digits, unit = match.groups()
    found = _lookup(code, digits)
    if found is None:
        return None
    named = len(code) > 1
    if order and ((named and code + digits not in _ORDERED_NAMES) or (code == "a" and not digits)):
        return None  # '<float64', '<a': numpy takes a byte order on codes only
    if unit and (
        found.kind not in _DATETIME
        or not _UNIT.fullmatch(unit)
        or (not named and digits != "8")  # 'M8[ns]', never 'M[ns]' or 'M08[ns]'
    ):
        return None
    return found


def _lookup(code: str, digits: str) -> Scalar | None:
    if code in _FLEXIBLE_NAMES:
        kind = _FLEXIBLE_NAMES[code]
        if digits and len(code) > 1:
            return None  # 'bytes5' is not a spelling; 'S5' is
        count = int(digits) if digits else 0
        return Scalar(kind, count * (4 if kind == "U" else 1), flexible=True)
    if digits:
        sizes = _SIZED.get(code)
        if sizes is not None and int(digits) in sizes:
            return Scalar(code, None if code == "O" else int(digits))
        name = _NAMES.get(code + digits)
        return None if name is None else Scalar(*name)
    known = _CODES.get(code) or _NAMES.get(code)
    return None if known is None else Scalar(*known)
