"""The one bounded decompression layer: every codec, every stream boundary, every limit."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import lz4.frame
import pytest
import zstandard

from pytest_mlsupply.engines.decompress import Codec, decompress

TEXT = b"the quick brown fox jumps over the lazy dog\n" * 200


def _skippable(data: bytes) -> bytes:
    return struct.pack("<II", 0x184D2A50, len(data)) + data


COMPRESS: dict[Codec, Callable[[bytes], bytes]] = {
    Codec.GZIP: gzip.compress,
    Codec.ZLIB: zlib.compress,
    Codec.DEFLATE: lambda d: zlib.compress(d, wbits=-15),
    Codec.BZ2: bz2.compress,
    Codec.XZ: lzma.compress,
    Codec.LZMA: lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    Codec.LZ4: lambda d: bytes(lz4.frame.compress(d)),
    Codec.ZSTD: lambda d: zstandard.ZstdCompressor().compress(d),
}


def run(data: bytes, codec: Codec, **kwargs: object) -> object:
    return decompress(io.BytesIO(data), codec, limit=kwargs.pop("limit", 1 << 20), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("codec", list(COMPRESS), ids=str)
def test_each_codec_decompresses_a_whole_stream(codec: Codec) -> None:
    result = decompress(io.BytesIO(COMPRESS[codec](TEXT)), codec, limit=1 << 20)
    assert result.data == TEXT
    assert (result.streams, result.error, result.over_limit, result.trailing) == (1, None, None, 0)


@pytest.mark.parametrize("codec", list(COMPRESS), ids=str)
def test_output_stops_at_the_limit_and_keeps_exactly_the_part_within_it(codec: Codec) -> None:
    result = decompress(io.BytesIO(COMPRESS[codec](TEXT)), codec, limit=100)
    assert result.data == TEXT[:100]
    assert result.over_limit is not None
    assert "per-member limit" in result.over_limit


@pytest.mark.parametrize("codec", list(COMPRESS), ids=str)
def test_a_stream_cut_short_is_an_error_unless_only_its_head_was_given(codec: Codec) -> None:
    compressed = COMPRESS[codec](TEXT + bytes(range(256)) * 40)
    cut = compressed[: len(compressed) // 2]
    whole = decompress(io.BytesIO(cut), codec, limit=1 << 20)
    assert whole.input_ended
    assert whole.error is not None
    head = decompress(io.BytesIO(cut), codec, limit=1 << 20, partial_input=True)
    assert head.input_ended
    assert head.error is None


@pytest.mark.parametrize(
    ("codec", "joined"),
    [
        (Codec.GZIP, gzip.compress(b"a", mtime=0) + b"\x00\x00\x00" + gzip.compress(b"b", mtime=0)),
        (Codec.BZ2, bz2.compress(b"a") + bz2.compress(b"b")),
        (Codec.XZ, lzma.compress(b"a") + b"\x00" * 4 + lzma.compress(b"b")),
        (Codec.LZ4, lz4.frame.compress(b"a") + _skippable(b"hidden") + lz4.frame.compress(b"b")),
        (
            Codec.ZSTD,
            zstandard.ZstdCompressor().compress(b"a")
            + _skippable(b"hidden")
            + zstandard.ZstdCompressor().compress(b"b"),
        ),
    ],
    ids=lambda value: str(value) if isinstance(value, Codec) else "joined",
)
def test_concatenated_streams_are_read_as_their_readers_read_them(
    codec: Codec, joined: bytes
) -> None:
    result = decompress(io.BytesIO(joined), codec, limit=1000)
    assert result.data == b"ab"
    assert result.error is None
    assert result.trailing == 0


@pytest.mark.parametrize("codec", list(COMPRESS), ids=str)
def test_bytes_after_the_last_stream_are_counted_as_trailing(codec: Codec) -> None:
    result = decompress(io.BytesIO(COMPRESS[codec](b"data") + b"TRAILER!"), codec, limit=1000)
    assert result.data == b"data"
    assert result.trailing == len(b"TRAILER!")


@pytest.mark.parametrize(
    ("codec", "first", "second"),
    [
        (Codec.XZ, lzma.FORMAT_XZ, lzma.FORMAT_ALONE),
        (Codec.LZMA, lzma.FORMAT_ALONE, lzma.FORMAT_XZ),
    ],
)
def test_after_an_lzma_stream_a_stream_of_the_other_kind_is_read_as_lzmafile_reads_it(
    codec: Codec, first: int, second: int
) -> None:
    joined = lzma.compress(b"a", format=first) + lzma.compress(b"b", format=second) + b"junk"
    result = decompress(io.BytesIO(joined), codec, limit=1000)
    with lzma.LZMAFile(io.BytesIO(joined)) as reader:
        assert result.data == reader.read() == b"ab"
    assert (result.error, result.trailing) == (None, len(b"junk"))


def test_a_zip_member_reads_no_further_than_its_compressed_size() -> None:
    member = zlib.compress(b"inside", wbits=-15)
    source = io.BytesIO(member + zlib.compress(b"outside", wbits=-15))
    result = decompress(
        source, Codec.DEFLATE, limit=1000, input_size=len(member), concatenated=False
    )
    assert (result.data, result.consumed) == (b"inside", len(member))


@pytest.mark.parametrize("codec", list(COMPRESS), ids=str)
def test_a_ratio_bomb_stops_near_the_ratio_not_at_the_limit(codec: Codec) -> None:
    bomb = COMPRESS[codec](b"\x00" * (16 << 20))
    result = decompress(io.BytesIO(bomb), codec, limit=1 << 30, max_ratio=20, ratio_floor=1 << 16)
    assert result.over_limit is not None
    assert "ratio" in result.over_limit
    # Each step asks for no more than the ratio allows, so the output stays near it.
    assert len(result.data) <= max(20 * len(bomb), 1 << 16) + (1 << 20)


def _lz4_bomb(path: Path, blocks: int) -> None:
    """An LZ4 frame of 4 MiB blocks, each one literal and a match spelled with 255-runs: a few
    kilobytes of input per 4 MiB of output, what blew the old hand-written decoder up."""
    match = (4 << 20) - 1 - 5  # one literal, the match, then the 5 literals a block ends with
    runs, rest = divmod(match - 4 - 15, 255)
    block = bytes([0x1F]) + b"\x00" + b"\x01\x00" + b"\xff" * runs + bytes([rest])
    block += bytes([0x50]) + b"\x00" * 5
    header = b"\x04\x22\x4d\x18" + bytes([0x60, 0x70, 0x73])
    body = struct.pack("<I", len(block)) + block
    with path.open("wb") as handle:
        handle.write(header)
        for _ in range(blocks):
            handle.write(body)
        handle.write(b"\x00\x00\x00\x00")


def _zstd_bomb(path: Path, size: int) -> None:
    compressor = zstandard.ZstdCompressor(level=1)
    with path.open("wb") as handle, compressor.stream_writer(handle) as writer:
        chunk = b"\x00" * (1 << 20)
        for _ in range(size >> 20):
            writer.write(chunk)


@pytest.mark.parametrize(("codec", "build"), [("lz4", "lz4"), ("zstd", "zstd")])
def test_a_bomb_costs_the_limit_in_memory_never_what_it_expands_to(
    tmp_path: Path, codec: str, build: str
) -> None:
    bomb = tmp_path / f"bomb.{codec}"
    if build == "lz4":
        _lz4_bomb(bomb, blocks=1024)  # 4 GiB once decompressed
    else:
        _zstd_bomb(bomb, 1 << 30)
    # The peak is read from VmHWM, which belongs to the process's own memory: getrusage's
    # ru_maxrss survives exec, so it would report the (large) pytest worker that forked it.
    script = (
        "import re, sys\n"
        "from pytest_mlsupply.engines.decompress import Codec, decompress\n"
        "with open(sys.argv[1], 'rb') as f:\n"
        "    r = decompress(f, Codec(sys.argv[2]), limit=64 << 20, max_ratio=1e9)\n"
        "assert r.over_limit and len(r.data) == 64 << 20, (r.over_limit, len(r.data))\n"
        "status = open('/proc/self/status').read()\n"
        "print(int(re.search(r'VmHWM:\\s+(\\d+) kB', status).group(1)) // 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(bomb), codec],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    peak_mib = int(out.stdout.strip())
    # 64 MiB of output, plus the interpreter: far below the gigabytes the bomb expands to.
    assert peak_mib < 400, f"peak RSS {peak_mib} MiB"


def test_thousands_of_empty_gzip_members_are_read_to_the_end() -> None:
    data = gzip.compress(b"", mtime=0) * 200_000 + gzip.compress(b"last", mtime=0)
    result = decompress(io.BytesIO(data), Codec.GZIP, limit=1000)
    assert (result.data, result.error, result.streams) == (b"last", None, 200_001)
