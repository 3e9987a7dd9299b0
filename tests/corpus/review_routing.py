"""Corpus: what the seventh adversarial review of Scanner II got past it (``review8-*``).

joblib.load picks its decompressor by a file's first bytes alone (``x`` is zlib, ``5d 00``
.lzma), while identification asked more of a stream before calling it compressed: a zlib
stream whose stored block is also a tar header, one whose head decompresses to nothing (empty
stored blocks), a .lzma header with a dictionary smaller than 4 KiB. And the legacy torch tar
walker took a storage's element size from the first storage class it saw and a record count
from the first integer opcode, where torch takes the record's third item and the count
pickle's value, and resumed after a STOP inside a frame where torch's unbuffered file
resumes at the frame's end. The eleventh review (``review12-*``) found the machine keeping
the memo across a legacy file's pickles (torch reads each with an unpickler of its own), and
tar headers that identification refused or took second to a pickle, which torch's tarfile reads
first.
"""

from __future__ import annotations

import collections
import lzma
import pickle
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from tests.corpus import Sample, file_sample, system_call
from tests.corpus.torch import LEGACY_MAGIC, legacy_tar

_JOBLIB_LOAD = "import joblib\njoblib.load(ARTIFACT)\n"
_TORCH_LOAD = "import torch\ntorch.load(ARTIFACT, weights_only=False)\n"


def _stored_zlib(data: bytes, blocks: bytes = b"") -> bytes:
    """A zlib stream of ``data`` in one stored deflate block, after ``blocks``."""
    header = b"\x01" + struct.pack("<HH", len(data), len(data) ^ 0xFFFF)
    return b"\x78\x01" + blocks + header + data + struct.pack(">I", zlib.adler32(data))


def _zlib_stream_that_is_also_a_tar(canary: Path) -> bytes:
    # The pickle's first 600 bytes are a BINBYTES of zeros, popped: inside them the stream's
    # first 512 bytes get a tar header's type flag and checksum.
    padding = 600
    data = bytearray(
        b"\x80\x02B" + struct.pack("<I", padding) + bytes(padding) + b"0" + system_call(canary)[2:]
    )
    stream = bytearray(_stored_zlib(bytes(data)))
    stream[156] = ord("0")
    stream[148:156] = b" " * 8
    stream[148:156] = b"%06o\x00 " % sum(stream[:512])
    data = stream[7 : 7 + len(data)]
    stream[-4:] = struct.pack(">I", zlib.adler32(bytes(data)))
    assert zlib.decompress(bytes(stream)) == bytes(data)
    return bytes(stream)


def _zlib_stream_of_empty_blocks(canary: Path) -> bytes:
    # 13,200 empty stored blocks: the stream's first 64 KiB decompress to nothing.
    return _stored_zlib(system_call(canary), blocks=b"\x00\x00\x00\xff\xff" * 13200)


def _lzma_with_a_small_dictionary(canary: Path) -> bytes:
    filters = [{"id": lzma.FILTER_LZMA1, "dict_size": 4096}]
    data = lzma.compress(system_call(canary), format=lzma.FORMAT_ALONE, filters=filters)
    return data[:1] + struct.pack("<I", 2048) + data[5:]  # the decoder takes 2048 as well


def _storage_type_decides_the_size(canary: Path) -> bytes:
    # The record is (key, location, storage_type): torch sizes the raw data by its third item
    # (8 bytes a double), not by the FloatStorage before it; at 4 bytes an item a decoy empty
    # list sits where the storage views would start.
    count = 64
    record = b"\x80\x02ctorch\nFloatStorage\nX\x03\x00\x00\x00cpuctorch\nDoubleStorage\n\x87."
    raw = bytearray(8 * count)
    decoy = pickle.dumps([], protocol=2)
    raw[4 * count : 4 * count + len(decoy)] = decoy
    storages = (
        pickle.dumps(1, protocol=2) + record + struct.pack("<q", count) + raw + system_call(canary)
    )
    return legacy_tar(storages=storages, main=pickle.dumps({}, protocol=2))


def _count_is_the_pickles_value(canary: Path) -> bytes:
    # K 0, POP, K 1, STOP: the count is 1, the first integer 0.
    tensors = b"\x80\x02K\x000K\x01." + system_call(canary)
    storages = pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2)
    return legacy_tar(storages=storages, tensors=tensors, main=pickle.dumps({}, protocol=2))


def _load_resumes_at_the_frame_end(canary: Path) -> bytes:
    # torch reads the members from unbuffered files: the count's load reads its whole frame,
    # stops at the STOP inside it, and the next load starts at the frame's end, past the
    # BINBYTES header left in the frame that would hide the payload from a contiguous read.
    payload = system_call(canary)
    body = b"K\x01.B" + struct.pack("<I", len(payload) + 1)
    count = b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body
    storages = pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2)
    return legacy_tar(
        storages=storages, tensors=count + payload + b".", main=pickle.dumps({}, protocol=2)
    )


def _short(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def _legacy_stream_each_pickle_its_own_memo(canary: Path) -> bytes:
    # torch reads each pickle of a legacy file with an unpickler of its own: the main pickle's
    # memo slots 0 and 1 are its own 'os' and 'system', not sys_info's strings.
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    sys_info = b"\x80\x04" + _short("collections") + b"\x94" + _short("OrderedDict") + b"\x94\x86."
    command = f"touch {canary}".encode()
    main = (
        b"\x80\x04" + _short("os") + b"\x94" + _short("system") + b"\x94h\x00h\x01\x93"
        + b"X" + struct.pack("<I", len(command)) + command + b"\x85R."
    )  # fmt: skip
    return magic + pickle.dumps(1001, protocol=2) + sys_info + main + pickle.dumps([], protocol=2)


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _legacy_tar_first_named(first: str) -> Callable[[Path], bytes]:
    """A legacy torch tar whose first member is named ``first`` (empty), then the real ones."""

    def build(canary: Path) -> bytes:
        return _tar(
            [
                (first, b""),
                ("storages", pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2)),
                ("tensors", pickle.dumps(0, protocol=2)),
                ("pickle", system_call(canary)),
            ]
        )

    return build


def _legacy_protocol_4(canary: Path) -> bytes:
    # torch.save(_use_new_zipfile_serialization=False, pickle_protocol=4): every pickle
    # memoises, and the main one fetches 'collections' from its own memo the second time.
    state = collections.OrderedDict(w=collections.OrderedDict(), c=collections.Counter("ab"))
    pickles = [LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}, state, []]
    return b"".join(pickle.dumps(value, protocol=4) for value in pickles)


SAMPLES: list[Sample] = [
    file_sample(
        "review8-zlib-stream-that-is-also-a-tar",
        _zlib_stream_that_is_also_a_tar,
        "a zlib stream whose stored block is a tar header: joblib decompresses it by its 'x'",
        _JOBLIB_LOAD,
        filename="model.joblib",
        requires=("joblib",),
    ),
    file_sample(
        "review8-zlib-stream-of-empty-blocks",
        _zlib_stream_of_empty_blocks,
        "a zlib stream whose first 64 KiB decompress to nothing",
        _JOBLIB_LOAD,
        requires=("joblib",),
    ),
    file_sample(
        "review8-lzma-header-with-a-small-dictionary",
        _lzma_with_a_small_dictionary,
        "a .lzma stream with a 2 KiB dictionary, which the decoder accepts",
        _JOBLIB_LOAD,
        filename="model.lzma",
        requires=("joblib",),
    ),
    file_sample(
        "review8-legacy-tar-storage-type-decides-the-size",
        _storage_type_decides_the_size,
        "a legacy torch tar storage record whose third item, not its first class, sizes it",
        _TORCH_LOAD,
        filename="model.pt",
        requires=("torch",),
    ),
    file_sample(
        "review8-legacy-tar-count-is-the-pickles-value",
        _count_is_the_pickles_value,
        "a legacy torch tar tensor count whose pickle loads 1 after pushing and popping 0",
        _TORCH_LOAD,
        filename="model.pt",
        requires=("torch",),
    ),
    file_sample(
        "review8-legacy-tar-load-resumes-at-the-frame-end",
        _load_resumes_at_the_frame_end,
        "a legacy tar tensor count whose STOP is inside a frame: torch resumes at its end",
        _TORCH_LOAD,
        filename="model.pt",
        requires=("torch",),
    ),
    file_sample(
        "review12-legacy-stream-each-pickle-its-own-memo",
        _legacy_stream_each_pickle_its_own_memo,
        "a legacy torch file whose main pickle reads its own memo, not sys_info's",
        _TORCH_LOAD,
        filename="model.pt",
        requires=("torch",),
    ),
    file_sample(
        "review12-legacy-tar-first-member-named-like-a-pickle",
        _legacy_tar_first_named(b"\x80\x02K\x01.".decode("utf-8", "surrogateescape")),
        "a legacy torch tar whose first member's name is a whole pickle: tarfile opens it first",
        _TORCH_LOAD,
        filename="pytorch_model.bin",
        requires=("torch",),
    ),
    file_sample(
        "review12-legacy-tar-first-member-with-an-empty-name",
        _legacy_tar_first_named(""),
        "a legacy torch tar whose first header has an empty name (its first byte is NUL)",
        _TORCH_LOAD,
        filename="pytorch_model.bin",
        requires=("torch",),
    ),
    file_sample(
        "review12-benign-legacy-torch-save-protocol-4",
        _legacy_protocol_4,
        "a legacy torch.save file at protocol 4: each pickle memoises, and reads its own memo",
        None,
        filename="model.pt",
        malicious=False,
    ),
    file_sample(
        "review8-benign-text-starting-like-a-joblib-prefix",
        lambda c: b"xylophone, BZ and ]\x00 notes\n" * 40,
        "a text file whose first byte is joblib's zlib prefix: no stream, nothing to unpickle",
        None,
        filename="notes.txt",
        malicious=False,
    ),
]
