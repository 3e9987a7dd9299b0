"""TensorFlow Lite models: a FlatBuffer whose file identifier is ``TFL3``.

Identified only: a TFLite flatbuffer holds no code of its own (custom operators are native
libraries the interpreter must be given separately), so there is nothing in it to scan yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_mlsupply.engines.identification import Family, Format, Identification

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = ["identify_tflite"]


def identify_tflite(view: View) -> Identification | None:
    """A flatbuffer with the ``TFL3`` identifier whose root table is where a flatbuffer's is.

    Four bytes at offset 4 alone are what any stream can hold (``S'xyTFL3'`` starts a text
    pickle): the root offset before them must point, 4-aligned, inside the file at a table
    whose vtable (a signed offset away) is inside the file too, with a plausible size.
    """
    head = view.head
    if len(head) < 8 or head[4:8] != b"TFL3":
        return None
    root = int.from_bytes(head[0:4], "little")
    size = view.size
    if root < 8 or root % 4 or (size is not None and root + 4 > size):
        return None
    table = _read(view, root, 4)
    if table is None:
        return None
    vtable = root - int.from_bytes(table, "little", signed=True)
    header = _read(view, vtable, 4) if vtable >= 0 and vtable % 2 == 0 else None
    if header is None:
        return None
    vtable_size = int.from_bytes(header[0:2], "little")
    if vtable_size < 4 or vtable_size % 2:
        return None
    return Identification(
        Format.TFLITE,
        Family.TFLITE,
        False,
        "TensorFlow Lite flatbuffer",
        f"identifier TFL3 at byte 4; root table at byte {root}, its vtable at byte {vtable}",
    )


def _read(view: View, offset: int, length: int) -> bytes | None:
    """``length`` bytes at ``offset``, from the head or within the read budget; None past the end."""
    if offset + length <= len(view.head):
        return view.head[offset : offset + length]
    if view.size is not None and offset + length > view.size:
        return None
    data = view.read_at(offset, length)
    return data if len(data) == length else None
