"""Reads pickle opcodes and their arguments from bytes exactly as CPython's unpicklers do.

CPython has two unpicklers, and loaders use both: ``_pickle`` (the C one behind
``pickle.load`` and ``torch.load``) and ``pickle._Unpickler`` (pure Python, behind
``joblib.load``). They disagree on a few inputs, and each disagreement is a place where a
payload can hide from whatever reads pickles the other way:

* **frames** — the C unpickler only checks that a frame's bytes exist and otherwise ignores
  frame boundaries; ``pickle.py``'s unframer refuses an opcode that straddles a frame's end, a
  frame that starts inside another, and a length that overruns its frame, but accepts a frame
  that the data cuts short (which the C unpickler refuses);
* **INT literals** — C reads them with ``strtol(s, NULL, 0)`` (``010`` is octal 8, a NUL ends
  the number), ``pickle.py`` with ``int(s, 0)`` (``010`` is an error);
* **a line without its newline at the end of the data** — C stops; ``pickle.py`` drops the
  line's last byte and goes on, so an INST there still imports and calls;
* **an empty name line** — C stops before importing; ``pickle.py`` imports the module, then
  fails to find the empty name in it.

The C unpickler itself reads a frame two ways. From memory (``pickle.loads``) or a file object
with ``peek()`` it reads on contiguously past a frame's end; from a file object without
``peek()`` (``io.BytesIO``: what ``torch.load`` reads a checkpoint's ``data.pkl`` from) a read
that runs past the frame it read ahead drops the frame's unread rest and takes its bytes from
after the frame (:class:`CBuffer`). Pickle writers end frames between opcodes, so only a crafted
stream is read differently, and :attr:`Op.c_file` says where.

:func:`read_op` decodes one opcode the way both do and says, in :attr:`Op.diverge`, when only
one of them accepts it; the machine then follows the one that keeps going. ``pickletools`` is
not used: it stops at the first STOP, validates some arguments more strictly than either
loader (it rejects ``I0x1``, which both run) and says nothing of frames.
"""

from __future__ import annotations

import codecs
import re
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = [
    "C_FILE_LOADER",
    "C_LOADER",
    "LOADER_NAMES",
    "OPCODE_NAMES",
    "OPCODE_PROTOCOLS",
    "PY_LOADER",
    "CBuffer",
    "DecodeError",
    "Op",
    "PyFrames",
    "read_op",
]

#: The C unpickler (``_pickle``): ``pickle.load``, ``torch.load(weights_only=False)``, numpy.
C_LOADER = "c"
#: The pure-Python unpickler (``pickle._Unpickler``): ``joblib.load``.
PY_LOADER = "py"
#: The C unpickler reading a file object without ``peek()``: ``torch.load`` of a zip checkpoint
#: (it hands ``data.pkl`` over as ``io.BytesIO``), ``pickle.load(io.BytesIO(...))``.
C_FILE_LOADER = "c-file"
LOADER_NAMES = {
    C_LOADER: "the C unpickler (pickle.load, torch.load)",
    PY_LOADER: "pickle.py's unpickler (joblib.load)",
    C_FILE_LOADER: "the C unpickler reading a file object (torch.load of a zip checkpoint, "
    "pickle.load(io.BytesIO(...)))",
}

#: A length this far beyond the data makes the loader allocate it before finding it missing.
HUGE_LENGTH = 1 << 20


class DecodeError(Exception):
    """The bytes at ``offset`` are not what either unpickler accepts; both stop here.

    ``truncated`` says the data ended inside the opcode (so a longer stream might go on);
    ``declared`` is a length the opcode declares beyond the data, when it is huge (the loader
    allocates it before it finds the bytes missing).
    """

    def __init__(
        self, offset: int, message: str, *, truncated: bool = False, declared: int | None = None
    ) -> None:
        super().__init__(f"byte {offset}: {message}")
        self.offset = offset
        self.message = message
        self.truncated = truncated
        self.declared = declared


class Op(NamedTuple):
    """One decoded opcode: its name, argument, where it starts and where its argument's data starts.

    ``diverge`` is ``(loader, reason)`` when one of the two unpicklers fails on this opcode
    while the other reads it as decoded here. ``c_file`` says why the C unpickler reading a
    file object without ``peek()`` would take this opcode's bytes from elsewhere (see
    :class:`CBuffer`). A NamedTuple rather than a dataclass: one is built per opcode, and this
    is the hot path.
    """

    name: str
    arg: Any
    offset: int
    data_offset: int
    end: int
    diverge: tuple[str, str] | None = None
    c_file: str | None = None


#: Builds an :class:`Op` from all its fields without the keyword-handling ``__new__`` the
#: NamedTuple generates: a third of the cost of an argument-less opcode, on the hot path.
_new_op = tuple.__new__


class PyFrames:
    """Where ``pickle.py``'s current frame ends (None outside a frame), as its unframer reads.

    Only tracked while ``pickle.py`` is still reading the stream; the C unpickler needs no state.
    """

    __slots__ = ("end",)

    def __init__(self) -> None:
        self.end: int | None = None


class CBuffer:
    """The bytes the C unpickler has read ahead: a FRAME's, until they are used up.

    ``end`` is where they end (None once a read has used them up). From a file object without
    ``peek()`` (``stream``), a read that needs more than what is left drops what is left and
    reads from the file, which is at ``end``: the rest of the frame is never read. The C
    unpickler's ``ReadInto`` (the payload of BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8)
    copies what is left first, and so reads on contiguously. From memory (not ``stream``)
    every read is contiguous; the buffer is followed only to say where a file object would
    read differently (:attr:`Op.c_file`).
    """

    __slots__ = ("end", "stream")

    def __init__(self, *, stream: bool) -> None:
        self.end: int | None = None
        self.stream = stream


class _Reader:
    """A cursor over the input that fails the way each loader fails."""

    __slots__ = ("c_file", "cbuf", "data", "fails", "frames", "op_offset", "pos")

    def __init__(
        self,
        data: memoryview,
        pos: int,
        op_offset: int,
        frames: PyFrames | None,
        cbuf: CBuffer | None = None,
    ):
        self.data = data
        self.pos = pos
        self.op_offset = op_offset
        self.frames = frames
        self.cbuf = cbuf
        self.fails: dict[str, str] | None = None
        self.c_file: str | None = None

    def fail(self, loader: str, reason: str) -> None:
        if self.fails is None:
            self.fails = {}
        self.fails.setdefault(loader, reason)
        if loader == PY_LOADER:
            self.frames = None  # pickle.py has stopped: its frames no longer matter

    def framed(self, n: int, line_end: int | None = None) -> None:
        """pickle.py's unframer on a read of ``n`` bytes (or of a line ending at ``line_end``)."""
        frames = self.frames
        if frames is None or frames.end is None or n == 0:
            return
        if self.pos >= frames.end:
            frames.end = None  # the frame is used up: pickle.py reads on from the file
            return
        end = line_end if line_end is not None else self.pos + n
        if end > frames.end:
            self.fail(
                PY_LOADER,
                f"pickle exhausted before end of frame (a read at byte {self.pos} runs past "
                f"the frame that ends at byte {frames.end})",
            )

    def buffered(self, n: int, *, contiguous: bool = False) -> None:
        """The C unpickler's buffer on a read of ``n`` bytes (``contiguous``: ReadInto)."""
        cbuf = self.cbuf
        if cbuf is None or cbuf.end is None:
            return
        end = cbuf.end
        if self.pos >= end:
            cbuf.end = None  # used up: reads now go to the file, which is here
        elif self.pos + n > end:
            cbuf.end = None
            if not contiguous:
                self.straddle(
                    end,
                    f"a read of {n} bytes at byte {self.pos} runs past the "
                    f"frame that ends at byte {end}",
                )

    def straddle(self, end: int, reason: str) -> None:
        """A read runs past the C buffer, which ends at ``end``, with bytes left in it."""
        assert self.cbuf is not None
        if self.cbuf.stream:
            self.pos = end  # what is left is dropped; the file is read from the frame's end
        elif self.c_file is None:
            self.c_file = reason

    def take(self, n: int, *, contiguous: bool = False) -> memoryview:
        if n < 0:
            raise DecodeError(self.op_offset, "negative length")
        self.framed(n)
        self.buffered(n, contiguous=contiguous)
        if self.pos + n > len(self.data):
            over = self.pos + n - len(self.data)
            raise DecodeError(
                self.op_offset,
                "pickle data was truncated",
                truncated=True,
                declared=n if over >= HUGE_LENGTH else None,
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def line(self, *, ascii_only: bool = False) -> bytes:
        """A line without its newline. At the end of the data with no newline, the C loader
        fails and pickle.py takes the line minus its last byte (``readline()[:-1]``).

        ``ascii_only`` stops at a non-ASCII byte (an ASCII-only argument, which both loaders
        would refuse), so binary data is rejected without reading on to its first newline.
        """
        self._line_buffered()
        end = self._find_newline(ascii_only)
        size = len(self.data)
        if end == -3:
            raise self.error("line argument is not ASCII")
        if end < 0:
            if self.pos >= size:
                raise DecodeError(self.op_offset, "pickle data was truncated", truncated=True)
            self.framed(size - self.pos, size + 1)
            self.fail(C_LOADER, "a line argument has no newline before the end of the data")
            chunk = bytes(self.data[self.pos : size - 1])
            self.pos = size
            if self.fails and PY_LOADER in self.fails:
                raise DecodeError(self.op_offset, "line argument has no terminating newline")
            # Only pickle.py goes on, and only if nothing follows: the caller may stop here
            # (a head of a longer stream) through ``truncated``.
            return chunk
        self.framed(end + 1 - self.pos, end + 1)
        chunk = bytes(self.data[self.pos : end])
        self.pos = end + 1
        return chunk

    def _line_buffered(self) -> None:
        """The C unpickler's buffer on a line read: the line must end inside it."""
        cbuf = self.cbuf
        if cbuf is None or cbuf.end is None:
            return
        end = cbuf.end
        if self.pos >= end:
            cbuf.end = None
        elif not self._newline_before(end):
            cbuf.end = None
            self.straddle(
                end, f"a line at byte {self.pos} runs past the frame that ends at byte {end}"
            )

    def _newline_before(self, limit: int) -> bool:
        start = self.pos
        window = 256
        while start < limit:
            stop = min(limit, start + window)
            if b"\n" in self.data[start:stop].tobytes():
                return True
            start = stop
            window = min(window * 4, 1 << 20)
        return False

    def _find_newline(self, ascii_only: bool = False) -> int:
        """The newline's position; -1 at the end of the data, -3 at a non-ASCII byte (with
        ``ascii_only``) that the line keeps."""
        # memoryview has no find(); search in bounded windows to avoid copying a whole large file.
        start = self.pos
        size = len(self.data)
        window = 256
        while start < size:
            stop = min(size, start + window)
            chunk = self.data[start:stop].tobytes()
            index = chunk.find(b"\n")
            line_part = chunk if index < 0 else chunk[:index]
            if ascii_only and not line_part.isascii():
                # Only a byte before the end counts: pickle.py drops a last byte that has no
                # newline after it (readline()[:-1]), so a non-ASCII last byte may go.
                bad = next(i for i, byte in enumerate(line_part) if byte > 0x7F)
                if index >= 0 or start + bad < size - 1:
                    return -3
            if index >= 0:
                return start + index
            start = stop
            window = min(window * 4, 1 << 20)
        return -1

    def error(self, message: str, **kwargs: Any) -> DecodeError:
        return DecodeError(self.op_offset, message, **kwargs)


def _uint(n: int) -> Callable[[_Reader], int]:
    fmt = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[n]

    def read(r: _Reader) -> int:
        return int(struct.unpack(fmt, r.take(n))[0])

    return read


def _int4(r: _Reader) -> int:
    return int(struct.unpack("<i", r.take(4))[0])


# strtol(s, &end, 0): optional space and sign, then 0x-hex, 0-octal or decimal digits.
_STRTOL = re.compile(rb"[ \t\n\v\f\r]*[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_LONG_MIN, _LONG_MAX = -(1 << 63), (1 << 63) - 1


def _c_int(line: bytes) -> int | bool | None:
    """``load_int`` of ``_pickle.c``: strtol first, then ``PyLong_FromString(s, NULL, 0)``.

    The line is a C string there: a NUL ends it, and the parse must stop at the newline or NUL.
    """
    if not line:
        return None  # "\n" alone: bad_readline
    text = line.split(b"\x00", 1)[0]
    if not text:
        # A NUL first: strtol reads no digits and stops at the string's end, which is fine.
        return False if len(line) == 2 else 0
    match = _STRTOL.match(text)
    if match is not None and match.end() == len(text):
        value = _strtol_value(match.group())
        if value is not None and _LONG_MIN <= value <= _LONG_MAX:
            # "00" / "01" (any 2-character spelling of 0 or 1) are protocol 0's booleans.
            return bool(value) if len(line) == 2 and value in (0, 1) else value
    try:
        # PyLong_FromString knows ASCII whitespace only; int() of a str would strip more.
        return int(text.decode("ascii"), 0)
    except ValueError:  # UnicodeDecodeError included
        return None


def _strtol_value(text: bytes) -> int | None:
    """strtol's value, or None when it overflows a C long (ERANGE: C then falls back)."""
    body = text.strip(b" \t\n\v\f\r")
    sign = -1 if body[:1] == b"-" else 1
    body = body.lstrip(b"+-")
    if len(body) > 24:
        return None  # past 2**63 in any base strtol reads
    if body[:2] in (b"0x", b"0X"):
        return sign * int(body[2:], 16)
    if body[:1] == b"0":
        return sign * int(body, 8)
    return sign * int(body)


def _py_int(line: bytes) -> int | bool | None:
    """``load_int`` of ``pickle.py``: ``int(data, 0)`` on the line and its newline."""
    if line in (b"00", b"01"):
        return line == b"01"
    try:
        return int(line + b"\n", 0)
    except ValueError:
        return None


def _decimal_int(r: _Reader) -> int | bool:
    line = r.line()
    value: int | bool = _either(r, "INT", line, _c_int(line), _py_int(line))
    return value


def _parse(convert: Callable[[bytes], Any], text: bytes) -> Any:
    try:
        return convert(text)
    except (ValueError, UnicodeDecodeError):  # Python's digit limit included
        return None


def _c_string(line: bytes) -> bytes:
    """The line as C code sees it: a NUL ends the string."""
    return line.split(b"\x00", 1)[0]


def _either(r: _Reader, what: str, line: bytes, c_value: Any, py_value: Any) -> Any:
    """The value both unpicklers read, or the one that reads it (the other one stops)."""
    if c_value is None and py_value is None:
        raise r.error(f"invalid {what} literal {line[:40]!r}")
    if c_value is None:
        r.fail(C_LOADER, f"the C unpickler rejects the {what} literal {line[:40]!r}")
        return py_value
    if py_value is None:
        r.fail(PY_LOADER, f"pickle.py rejects the {what} literal {line[:40]!r}")
    return c_value


def _decimal_long(r: _Reader) -> int:
    line = r.line()
    # C turns a last 'L' into the string's end, then parses up to the first NUL.
    c_text = _c_string(line[:-1] if line.endswith(b"L") else line)
    c_value = _parse(lambda t: int(t.decode("ascii"), 0), c_text) if c_text else None
    py_text = line[:-1] if line.endswith(b"L") else line
    py_value = _parse(lambda t: int(t, 0), py_text)
    value: int = _either(r, "LONG", line, c_value, py_value)
    return value


def _memo_index(r: _Reader) -> int:
    line = r.line()
    c_text = _c_string(line)
    c_value = _parse(lambda t: int(t.decode("ascii")), c_text) if c_text else None
    py_value = _parse(int, line)
    value: int = _either(r, "memo index", line, c_value, py_value)
    return value


def _float_nl(r: _Reader) -> float:
    line = r.line()
    # PyOS_string_to_double: no surrounding space, no underscores, ends at the NUL.
    c_text = _c_string(line)
    c_value = (
        _parse(float, c_text)
        if c_text and c_text == c_text.strip() and b"_" not in c_text
        else None
    )
    py_value = _parse(float, line)
    value: float = _either(r, "FLOAT", line, c_value, py_value)
    return value


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
    if r.pos < len(r.data) and r.data[r.pos] not in b"'\"":
        # Checked before looking for the newline: binary data fails here at once.
        raise r.error("the STRING opcode argument must be quoted")
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
        # The C unpickler reads a bytes payload with ReadInto: contiguously past a frame.
        return bytes(r.take(size(r), contiguous=True))

    return read


def _bytearray8(r: _Reader) -> bytearray:
    return bytearray(r.take(_uint(8)(r), contiguous=True))


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


def _name_line(r: _Reader, encoding: str) -> str:
    # No length cap: protocol 4 names are dotted attribute paths of any length.
    raw = r.line(ascii_only=encoding == "ascii")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise r.error(f"module or name is not valid {encoding}") from None


def _names(r: _Reader, encoding: str) -> tuple[str, str]:
    module = _name_line(r, encoding)
    if not module:
        # C: bad_readline; pickle.py: __import__("") refuses an empty module name.
        raise r.error("empty module name")
    name = _name_line(r, encoding)
    if not name:
        # C stops before importing; pickle.py imports the module, then looks the empty name
        # up in it and fails: the handler records the import.
        r.fail(C_LOADER, "an empty name line")
    return module, name


def _global_names(r: _Reader) -> tuple[str, str]:
    return _names(r, "utf-8")


def _inst_names(r: _Reader) -> tuple[str, str]:
    # Both unpicklers decode INST's names as ASCII (GLOBAL's as UTF-8).
    return _names(r, "ascii")


def _ascii_line(r: _Reader) -> str:
    try:
        return r.line(ascii_only=True).decode("ascii")
    except UnicodeDecodeError:
        raise r.error("persistent id is not ASCII") from None


def _frame(r: _Reader) -> int:
    frames = r.frames  # read before take(): a failing take() forgets the frames
    size = _uint(8)(r)
    cbuf = r.cbuf
    if cbuf is not None:
        # The C unpickler reads the whole frame ahead, then goes back to its start.
        r.buffered(size)
        if cbuf.end is None:
            cbuf.end = r.pos + size
    remaining = len(r.data) - r.pos
    if frames is not None and r.frames is not None:
        if frames.end is not None and r.pos < frames.end:
            r.fail(PY_LOADER, "beginning of a new frame before end of current frame")
        else:
            # pickle.py reads the frame with file.read(size): a short read makes a short frame.
            frames.end = r.pos + min(size, remaining)
    if size > remaining:
        # The C unpickler reads the whole frame first and fails when it is not all there;
        # pickle.py takes what a read of that size returns (a short frame) and goes on.
        r.fail(C_LOADER, f"frame of {size} bytes extends past the end of the data")
    return size


def _proto(r: _Reader) -> int:
    version = r.take(1)[0]
    if version > 5:
        raise r.error(f"unsupported pickle protocol: {version}")
    return int(version)


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
    ord("c"): ("GLOBAL", _global_names),
    ord("d"): ("DICT", _none),
    ord("}"): ("EMPTY_DICT", _none),
    ord("e"): ("APPENDS", _none),
    ord("g"): ("GET", _memo_index),
    ord("h"): ("BINGET", _uint(1)),
    ord("i"): ("INST", _inst_names),
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
    0x84: ("EXT4", _int4),
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

#: Opcodes whose argument is a fixed-size number, with its layout: what :func:`read_op` reads
#: directly when the bytes lie inside the current frame (the readers above give the same value).
_FIXED: dict[int, struct.Struct] = {
    ord("J"): struct.Struct("<i"),  # BININT
    ord("K"): struct.Struct("<B"),  # BININT1
    ord("M"): struct.Struct("<H"),  # BININT2
    ord("h"): struct.Struct("<B"),  # BINGET
    ord("j"): struct.Struct("<I"),  # LONG_BINGET
    ord("q"): struct.Struct("<B"),  # BINPUT
    ord("r"): struct.Struct("<I"),  # LONG_BINPUT
    ord("G"): struct.Struct(">d"),  # BINFLOAT
    0x82: struct.Struct("<B"),  # EXT1
    0x83: struct.Struct("<H"),  # EXT2
    0x84: struct.Struct("<i"),  # EXT4
}

#: Every opcode byte the unpickler dispatches on, with its name.
OPCODE_NAMES: dict[int, str] = {code: name for code, (name, _) in _OPCODES.items()}


def _protocols() -> dict[str, int]:
    # The protocol that introduced each opcode: metadata only, never used to parse.
    import pickletools

    return {op.name: op.proto for op in pickletools.opcodes}


#: The protocol each opcode was introduced in (for "pickle (protocol N)").
OPCODE_PROTOCOLS: dict[str, int] = _protocols()

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


def read_op(
    data: memoryview, pos: int, frames: PyFrames | None = None, cbuf: CBuffer | None = None
) -> Op:
    """Decode the opcode at ``pos``; raise DecodeError where both unpicklers would fail.

    ``frames`` is pickle.py's frame state while it is still reading, ``cbuf`` the C
    unpickler's read-ahead buffer while it is (both updated in place).
    """
    if pos >= len(data):
        raise DecodeError(pos, "pickle data was truncated (no STOP opcode)", truncated=True)
    code = data[pos]
    entry = _OPCODES.get(code)
    if entry is None:
        raise DecodeError(pos, f"invalid load key {bytes([code])!r}")
    name, reader = entry
    # Fast paths (most opcodes): no argument, or a fixed-size one, that ends inside the current
    # frame and the C buffer (or with none active). There the general path below changes no
    # state and builds the same Op; only what crosses a boundary or the end goes through it.
    if reader is _none:
        if frames is None or frames.end is None or pos < frames.end:
            return _new_op(Op, (name, None, pos, pos + 1, pos + 1, None, None))
    else:
        fixed = _FIXED.get(code)
        if fixed is not None:
            end = pos + 1 + fixed.size
            if (
                end <= len(data)
                and (frames is None or frames.end is None or end <= frames.end)
                and (cbuf is None or cbuf.end is None or end <= cbuf.end)
            ):
                arg = fixed.unpack_from(data, pos + 1)[0]
                return _new_op(Op, (name, arg, pos, pos + 1, end, None, None))
    return _read_general(data, pos, name, reader, frames, cbuf)


def _read_general(
    data: memoryview,
    pos: int,
    name: str,
    reader: Callable[[_Reader], Any],
    frames: PyFrames | None,
    cbuf: CBuffer | None,
) -> Op:
    """:func:`read_op` through the opcode's reader, following both loaders' frames and buffers."""
    r = _Reader(data, pos, pos, frames, cbuf)
    r.framed(1)
    r.pos += 1
    arg = reader(r)
    data_offset = pos + 1 + _LENGTH_PREFIX.get(name, 0)
    diverge = None
    if r.fails:
        if len(r.fails) > 1:
            raise DecodeError(pos, "; ".join(r.fails.values()))
        diverge = next(iter(r.fails.items()))
    return Op(name, arg, pos, data_offset, r.pos, diverge, r.c_file)
