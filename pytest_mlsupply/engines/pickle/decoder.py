"""Reads pickle opcodes and their arguments from bytes exactly as CPython's unpickler does.

``pickletools.genops`` is close but not usable as is: it stops at the first STOP, cannot
resume after it, validates some arguments more strictly than the real loader, and raises
without saying how far it got. This decoder reads one opcode at a time from any position,
so the machine can go on across concatenated pickles and knows the offset of every failure.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["OPCODE_NAMES", "DecodeError", "Op", "read_op"]


class DecodeError(Exception):
    """The bytes at ``offset`` are not what the unpickler accepts; it would stop here."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"byte {offset}: {message}")
        self.offset = offset
        self.message = message


class Op(NamedTuple):
    """One decoded opcode: its name, argument, where it starts and where its argument's data starts.

    A NamedTuple rather than a dataclass: one is built per opcode, and this is the hot path.
    """

    name: str
    arg: Any
    offset: int
    data_offset: int
    end: int


class _Reader:
    """A cursor over the input that raises DecodeError the way the loader reports truncation."""

    __slots__ = ("data", "op_offset", "pos")

    def __init__(self, data: memoryview, pos: int, op_offset: int) -> None:
        self.data = data
        self.pos = pos
        self.op_offset = op_offset

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise DecodeError(self.op_offset, "pickle data was truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def line(self) -> bytes:
        # The C loader requires the newline; pickle.py would silently chop a real byte instead,
        # and then fail on the shortened argument, so both stop here.
        end = self._find_newline()
        if end < 0:
            raise DecodeError(self.op_offset, "line argument has no terminating newline")
        chunk = bytes(self.data[self.pos : end])
        self.pos = end + 1
        return chunk

    def _find_newline(self) -> int:
        # memoryview has no find(); search in bounded windows to avoid copying a whole large file.
        start = self.pos
        size = len(self.data)
        window = 256
        while start < size:
            stop = min(size, start + window)
            index = self.data[start:stop].tobytes().find(b"\n")
            if index >= 0:
                return start + index
            start = stop
            window = min(window * 4, 1 << 20)
        return -1

    def error(self, message: str) -> DecodeError:
        return DecodeError(self.op_offset, message)


def _uint(n: int) -> Callable[[_Reader], int]:
    fmt = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[n]

    def read(r: _Reader) -> int:
        return int(struct.unpack(fmt, r.take(n))[0])

    return read


def _int4(r: _Reader) -> int:
    return int(struct.unpack("<i", r.take(4))[0])


def _decimal_int(r: _Reader) -> int | bool:
    line = r.line()
    # Protocol 0 spells booleans as INT 00 / 01.
    if line == b"00":
        return False
    if line == b"01":
        return True
    try:
        return int(line, 0)
    except ValueError:
        try:
            return int(line)  # C's strtol accepts leading zeros that int(x, 0) rejects
        except ValueError:
            raise r.error(f"invalid INT literal {line[:40]!r}") from None


def _decimal_long(r: _Reader) -> int:
    line = r.line()
    if line.endswith(b"L"):
        line = line[:-1]
    try:
        return int(line, 0)
    except ValueError:
        try:
            return int(line)
        except ValueError:
            raise r.error(f"invalid LONG literal {line[:40]!r}") from None


def _memo_index(r: _Reader) -> int:
    line = r.line()
    try:
        return int(line)
    except ValueError:
        raise r.error(f"invalid memo index {line[:40]!r}") from None


def _float_nl(r: _Reader) -> float:
    line = r.line()
    try:
        return float(line)
    except ValueError:
        raise r.error(f"invalid FLOAT literal {line[:40]!r}") from None


def _float8(r: _Reader) -> float:
    return float(struct.unpack(">d", r.take(8))[0])


def _long_bytes(r: _Reader, n: int) -> int:
    if n < 0:
        raise r.error("LONG pickle has negative byte count")
    return int.from_bytes(r.take(n), "little", signed=True)


def _long1(r: _Reader) -> int:
    return _long_bytes(r, r.take(1)[0])


def _long4(r: _Reader) -> int:
    return _long_bytes(r, _int4(r))


def _py2_string(raw: bytes) -> str:
    # Python 2 str: decoded with the loader's ``encoding`` (ASCII by default, latin-1 or utf-8
    # in torch). latin-1 keeps every byte, so names spelled with it are exactly what a lenient
    # loader would see.
    return raw.decode("latin-1")


def _string_nl(r: _Reader) -> str:
    line = r.line()
    if len(line) >= 2 and line[0] == line[-1] and line[:1] in (b"'", b'"'):
        try:
            decoded = codecs.escape_decode(line[1:-1])[0]
        except ValueError:
            raise r.error("invalid escape in STRING argument") from None
        return _py2_string(decoded)
    raise r.error("the STRING opcode argument must be quoted")


def _string4(r: _Reader) -> str:
    n = _int4(r)
    if n < 0:
        raise r.error("BINSTRING pickle has negative byte count")
    return _py2_string(bytes(r.take(n)))


def _string1(r: _Reader) -> str:
    return _py2_string(bytes(r.take(r.take(1)[0])))


def _bytes_n(size: Callable[[_Reader], int]) -> Callable[[_Reader], bytes]:
    def read(r: _Reader) -> bytes:
        return bytes(r.take(size(r)))

    return read


def _bytearray8(r: _Reader) -> bytearray:
    return bytearray(r.take(_uint(8)(r)))


def _utf8(r: _Reader, raw: memoryview) -> str:
    try:
        return str(raw, "utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise r.error("string argument is not valid UTF-8") from None


def _unicode_n(size: Callable[[_Reader], int]) -> Callable[[_Reader], str]:
    def read(r: _Reader) -> str:
        return _utf8(r, r.take(size(r)))

    return read


def _unicode_nl(r: _Reader) -> str:
    line = r.line()
    try:
        return line.decode("raw-unicode-escape")
    except UnicodeDecodeError:
        raise r.error("invalid UNICODE argument") from None


def _name_line(r: _Reader) -> str:
    try:
        return r.line().decode("utf-8")
    except UnicodeDecodeError:
        raise r.error("module or name is not valid UTF-8") from None


def _name_pair(r: _Reader) -> tuple[str, str]:
    return _name_line(r), _name_line(r)


def _ascii_line(r: _Reader) -> str:
    try:
        return r.line().decode("ascii")
    except UnicodeDecodeError:
        raise r.error("persistent id is not ASCII") from None


def _frame(r: _Reader) -> int:
    size = _uint(8)(r)
    # The C loader checks that the whole frame is present before reading on.
    if r.pos + size > len(r.data):
        raise r.error("frame extends past the end of the data")
    return size


def _proto(r: _Reader) -> int:
    version = r.take(1)[0]
    if version > 5:
        raise r.error(f"unsupported pickle protocol: {version}")
    return int(version)


def _ext4(r: _Reader) -> int:
    return _int4(r)


def _none(r: _Reader) -> None:
    return None


_OPCODES: dict[int, tuple[str, Callable[[_Reader], Any]]] = {
    ord("("): ("MARK", _none),
    ord("."): ("STOP", _none),
    ord("0"): ("POP", _none),
    ord("1"): ("POP_MARK", _none),
    ord("2"): ("DUP", _none),
    ord("F"): ("FLOAT", _float_nl),
    ord("I"): ("INT", _decimal_int),
    ord("J"): ("BININT", _int4),
    ord("K"): ("BININT1", _uint(1)),
    ord("L"): ("LONG", _decimal_long),
    ord("M"): ("BININT2", _uint(2)),
    ord("N"): ("NONE", _none),
    ord("P"): ("PERSID", _ascii_line),
    ord("Q"): ("BINPERSID", _none),
    ord("R"): ("REDUCE", _none),
    ord("S"): ("STRING", _string_nl),
    ord("T"): ("BINSTRING", _string4),
    ord("U"): ("SHORT_BINSTRING", _string1),
    ord("V"): ("UNICODE", _unicode_nl),
    ord("X"): ("BINUNICODE", _unicode_n(_uint(4))),
    ord("a"): ("APPEND", _none),
    ord("b"): ("BUILD", _none),
    ord("c"): ("GLOBAL", _name_pair),
    ord("d"): ("DICT", _none),
    ord("}"): ("EMPTY_DICT", _none),
    ord("e"): ("APPENDS", _none),
    ord("g"): ("GET", _memo_index),
    ord("h"): ("BINGET", _uint(1)),
    ord("i"): ("INST", _name_pair),
    ord("j"): ("LONG_BINGET", _uint(4)),
    ord("l"): ("LIST", _none),
    ord("]"): ("EMPTY_LIST", _none),
    ord("o"): ("OBJ", _none),
    ord("p"): ("PUT", _memo_index),
    ord("q"): ("BINPUT", _uint(1)),
    ord("r"): ("LONG_BINPUT", _uint(4)),
    ord("s"): ("SETITEM", _none),
    ord("t"): ("TUPLE", _none),
    ord(")"): ("EMPTY_TUPLE", _none),
    ord("u"): ("SETITEMS", _none),
    ord("G"): ("BINFLOAT", _float8),
    ord("B"): ("BINBYTES", _bytes_n(_uint(4))),
    ord("C"): ("SHORT_BINBYTES", _bytes_n(_uint(1))),
    0x80: ("PROTO", _proto),
    0x81: ("NEWOBJ", _none),
    0x82: ("EXT1", _uint(1)),
    0x83: ("EXT2", _uint(2)),
    0x84: ("EXT4", _ext4),
    0x85: ("TUPLE1", _none),
    0x86: ("TUPLE2", _none),
    0x87: ("TUPLE3", _none),
    0x88: ("NEWTRUE", _none),
    0x89: ("NEWFALSE", _none),
    0x8A: ("LONG1", _long1),
    0x8B: ("LONG4", _long4),
    0x8C: ("SHORT_BINUNICODE", _unicode_n(_uint(1))),
    0x8D: ("BINUNICODE8", _unicode_n(_uint(8))),
    0x8E: ("BINBYTES8", _bytes_n(_uint(8))),
    0x8F: ("EMPTY_SET", _none),
    0x90: ("ADDITEMS", _none),
    0x91: ("FROZENSET", _none),
    0x92: ("NEWOBJ_EX", _none),
    0x93: ("STACK_GLOBAL", _none),
    0x94: ("MEMOIZE", _none),
    0x95: ("FRAME", _frame),
    0x96: ("BYTEARRAY8", _bytearray8),
    0x97: ("NEXT_BUFFER", _none),
    0x98: ("READONLY_BUFFER", _none),
}

#: Every opcode byte the unpickler dispatches on, with its name.
OPCODE_NAMES: dict[int, str] = {code: name for code, (name, _) in _OPCODES.items()}

#: Opcodes whose argument sits right after the opcode and its length prefix (for offsets).
_LENGTH_PREFIX = {
    "BINSTRING": 4,
    "SHORT_BINSTRING": 1,
    "BINUNICODE": 4,
    "SHORT_BINUNICODE": 1,
    "BINUNICODE8": 8,
    "BINBYTES": 4,
    "SHORT_BINBYTES": 1,
    "BINBYTES8": 8,
    "BYTEARRAY8": 8,
}


def read_op(data: memoryview, pos: int) -> Op:
    """Decode the opcode at ``pos``; raise DecodeError where the unpickler would fail."""
    if pos >= len(data):
        raise DecodeError(pos, "pickle data was truncated (no STOP opcode)")
    code = data[pos]
    entry = _OPCODES.get(code)
    if entry is None:
        raise DecodeError(pos, f"invalid load key {bytes([code])!r}")
    name, reader = entry
    if reader is _none:
        return Op(name, None, pos, pos + 1, pos + 1)
    r = _Reader(data, pos + 1, pos)
    arg = reader(r)
    data_offset = pos + 1 + _LENGTH_PREFIX.get(name, 0)
    return Op(name=name, arg=arg, offset=pos, data_offset=data_offset, end=r.pos)
