"""A tiny pickle assembler for tests: write opcodes by name, get the bytes a pickler would emit.

Hostile pickles use opcode sequences no pickler produces (operands shuffled through the memo,
calls on computed values, BUILD on modules), so the corpus is written opcode by opcode.
"""

from __future__ import annotations

import struct


class Asm:
    """Chainable opcode writer: ``Asm().proto(4).global_("os", "system").stop().bytes()``."""

    def __init__(self) -> None:
        self._out = bytearray()

    def bytes(self) -> bytes:
        return bytes(self._out)

    def raw(self, data: bytes) -> Asm:
        self._out += data
        return self

    # framing and structure
    def proto(self, version: int) -> Asm:
        return self.raw(b"\x80" + bytes([version]))

    def frame(self, size: int) -> Asm:
        return self.raw(b"\x95" + struct.pack("<Q", size))

    def stop(self) -> Asm:
        return self.raw(b".")

    def mark(self) -> Asm:
        return self.raw(b"(")

    def pop(self) -> Asm:
        return self.raw(b"0")

    def pop_mark(self) -> Asm:
        return self.raw(b"1")

    def dup(self) -> Asm:
        return self.raw(b"2")

    # memo
    def memoize(self) -> Asm:
        return self.raw(b"\x94")

    def put(self, index: int) -> Asm:
        return self.raw(b"p%d\n" % index)

    def get(self, index: int) -> Asm:
        return self.raw(b"g%d\n" % index)

    def binput(self, index: int) -> Asm:
        return self.raw(b"q" + bytes([index]))

    def binget(self, index: int) -> Asm:
        return self.raw(b"h" + bytes([index]))

    def long_binput(self, index: int) -> Asm:
        return self.raw(b"r" + struct.pack("<I", index))

    def long_binget(self, index: int) -> Asm:
        return self.raw(b"j" + struct.pack("<I", index))

    # constants
    def none(self) -> Asm:
        return self.raw(b"N")

    def true(self) -> Asm:
        return self.raw(b"\x88")

    def int_(self, value: int) -> Asm:
        if 0 <= value < 256:
            return self.raw(b"K" + bytes([value]))
        return self.raw(b"J" + struct.pack("<i", value))

    def float_(self, value: float) -> Asm:
        return self.raw(b"G" + struct.pack(">d", value))

    def str(self, text: str) -> Asm:
        data = text.encode("utf-8")
        if len(data) < 256:
            return self.raw(b"\x8c" + bytes([len(data)]) + data)
        return self.raw(b"X" + struct.pack("<I", len(data)) + data)

    def binunicode(self, text: str) -> Asm:
        data = text.encode("utf-8")
        return self.raw(b"X" + struct.pack("<I", len(data)) + data)

    def unicode_nl(self, text: str) -> Asm:
        return self.raw(b"V" + text.encode("raw-unicode-escape") + b"\n")

    def string_nl(self, text: str) -> Asm:
        return self.raw(b"S" + repr(text).encode("ascii") + b"\n")

    def short_binstring(self, text: str) -> Asm:
        data = text.encode("latin-1")
        return self.raw(b"U" + bytes([len(data)]) + data)

    def bytes_(self, data: bytes) -> Asm:
        if len(data) < 256:
            return self.raw(b"C" + bytes([len(data)]) + data)
        return self.raw(b"B" + struct.pack("<I", len(data)) + data)

    def bytes8(self, data: bytes) -> Asm:
        return self.raw(b"\x8e" + struct.pack("<Q", len(data)) + data)

    def bytearray8(self, data: bytes) -> Asm:
        return self.raw(b"\x96" + struct.pack("<Q", len(data)) + data)

    # containers
    def empty_tuple(self) -> Asm:
        return self.raw(b")")

    def tuple(self) -> Asm:
        return self.raw(b"t")

    def tuple1(self) -> Asm:
        return self.raw(b"\x85")

    def tuple2(self) -> Asm:
        return self.raw(b"\x86")

    def tuple3(self) -> Asm:
        return self.raw(b"\x87")

    def empty_list(self) -> Asm:
        return self.raw(b"]")

    def append(self) -> Asm:
        return self.raw(b"a")

    def appends(self) -> Asm:
        return self.raw(b"e")

    def empty_dict(self) -> Asm:
        return self.raw(b"}")

    def setitem(self) -> Asm:
        return self.raw(b"s")

    def setitems(self) -> Asm:
        return self.raw(b"u")

    def empty_set(self) -> Asm:
        return self.raw(b"\x8f")

    def additems(self) -> Asm:
        return self.raw(b"\x90")

    # imports and calls
    def global_(self, module: str, name: str) -> Asm:
        return self.raw(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def stack_global(self) -> Asm:
        return self.raw(b"\x93")

    def inst(self, module: str, name: str) -> Asm:
        return self.raw(b"i" + module.encode() + b"\n" + name.encode() + b"\n")

    def obj(self) -> Asm:
        return self.raw(b"o")

    def newobj(self) -> Asm:
        return self.raw(b"\x81")

    def newobj_ex(self) -> Asm:
        return self.raw(b"\x92")

    def reduce(self) -> Asm:
        return self.raw(b"R")

    def build(self) -> Asm:
        return self.raw(b"b")

    def ext1(self, code: int) -> Asm:
        return self.raw(b"\x82" + bytes([code]))

    def ext2(self, code: int) -> Asm:
        return self.raw(b"\x83" + struct.pack("<H", code))

    def ext4(self, code: int) -> Asm:
        return self.raw(b"\x84" + struct.pack("<i", code))

    def persid(self, pid: str) -> Asm:
        return self.raw(b"P" + pid.encode("ascii") + b"\n")

    def binpersid(self) -> Asm:
        return self.raw(b"Q")

    # common idioms
    def call(self, module: str, name: str, *args: str | int) -> Asm:
        """``module.name(*args)`` with GLOBAL + TUPLE + REDUCE (protocol 0/1 style)."""
        self.global_(module, name).mark()
        for arg in args:
            if isinstance(arg, str):
                self.str(arg)
            else:
                self.int_(arg)
        return self.tuple().reduce()
