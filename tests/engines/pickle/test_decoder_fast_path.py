"""The decoder's fast paths read exactly what its general path reads.

``read_op`` decodes argument-less and fixed-size opcodes directly when their bytes lie inside the
current frame and the C unpickler's buffer; everything else goes through the opcode's reader
(``_read_general``), which follows both loaders across frame and buffer boundaries. These tests
hold the two to the same Op, the same error and the same frame and buffer state afterwards, at
every position around a frame's end, a buffer's end and the end of the data.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_mlsupply.engines.pickle import decoder
from pytest_mlsupply.engines.pickle.decoder import CBuffer, DecodeError, PyFrames, read_op

FAST_CODES = sorted(
    set(decoder._FIXED)
    | {code for code, (_, reader) in decoder._OPCODES.items() if reader is decoder._none}
)


def outcome(call: Any, frames: PyFrames | None, cbuf: CBuffer | None) -> tuple[Any, ...]:
    try:
        result: Any = call(frames, cbuf)
    except DecodeError as exc:
        result = ("error", exc.offset, exc.message, exc.truncated)
    return (
        result,
        None if frames is None else frames.end,
        None if cbuf is None else (cbuf.end, cbuf.stream),
    )


def general(data: memoryview, pos: int) -> Any:
    name, reader = decoder._OPCODES[data[pos]]
    return lambda frames, cbuf: decoder._read_general(data, pos, name, reader, frames, cbuf)


@settings(max_examples=500)
@given(
    code=st.sampled_from(FAST_CODES),
    tail=st.binary(max_size=12),
    lead=st.integers(0, 3),
    frame_end=st.none() | st.integers(0, 16),
    buffer_end=st.none() | st.integers(0, 16),
    stream=st.booleans(),
    tracked=st.sampled_from(["both", "frames", "buffer", "neither"]),
)
def test_fast_and_general_paths_agree_around_every_boundary(
    code: int,
    tail: bytes,
    lead: int,
    frame_end: int | None,
    buffer_end: int | None,
    stream: bool,
    tracked: str,
) -> None:
    data = memoryview(b"N" * lead + bytes([code]) + tail)
    frames: PyFrames | None = None
    cbuf: CBuffer | None = None
    if tracked in ("both", "frames"):
        frames = PyFrames()
        frames.end = frame_end
    if tracked in ("both", "buffer"):
        cbuf = CBuffer(stream=stream)
        cbuf.end = buffer_end
    frames_copy, cbuf_copy = copy.copy(frames), copy.copy(cbuf)  # before either path runs
    fast = outcome(lambda f, c: read_op(data, lead, f, c), frames, cbuf)
    slow = outcome(general(data, lead), frames_copy, cbuf_copy)
    assert fast == slow


def test_a_fixed_size_argument_inside_a_frame_is_read_by_the_fast_path() -> None:
    # BININT2 0x0102 inside a frame that ends well after it: the value, and no state touched.
    data = memoryview(b"M\x02\x01N")
    frames = PyFrames()
    frames.end = 4
    op = read_op(data, 0, frames, None)
    assert (op.name, op.arg, op.end, frames.end) == ("BININT2", 0x0102, 3, 4)


def test_a_fixed_size_argument_across_a_frame_end_is_judged_by_the_general_path() -> None:
    # The frame ends inside BININT2's argument: pickle.py fails there, the C unpickler reads on.
    data = memoryview(b"M\x02\x01N")
    frames = PyFrames()
    frames.end = 2
    op = read_op(data, 0, frames, None)
    assert op.diverge is not None
    assert "frame" in op.diverge[1]
