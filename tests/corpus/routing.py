"""Corpus: payloads that hide where identification and CPython's two unpicklers disagree.

* All-printable protocol-0 pickles that ``pickletools`` rejects (``I0x1``) but both CPython
  unpicklers run: under ``.pkl``, ``.bin``, ``.pt`` and ``.txt`` names, loaded with
  ``pickle.load``, ``joblib.load`` and ``torch.load(weights_only=False)``; and a payload that
  calls its callable, then breaks off.
* Frames as each unpickler reads them: an opcode straddling a frame's end, a frame inside a
  frame, a string overrunning its frame (the C unpickler runs them, ``pickle.py`` refuses), a
  frame the data cuts short (``pickle.py`` runs it, the C unpickler refuses).
* Other disagreements: ``INT 010`` (octal for C, an error for ``pickle.py``), and INST on a last
  line without its newline (``pickle.py`` drops a byte and calls; C refuses).
* Resource exhaustion: lengths far past the data, a memo index far past the memo, a
  billion-laughs object graph (no victim: the proof would be exhausting the machine).
* Payloads disguised as other formats: files identified as HDF5 (the payload in its user
  block), tar (in a member's name field), a legacy torch tar, GGUF (after its version), PE (in
  the DOS header), TFLite (before its identifier), ONNX (in the model's domain string) or
  unknown bytes, which ``pickle.load`` runs all the same. (``tests/scanner/test_routing.py``
  walks every format, these included.)

Every victim says which unpickler it uses; a torch victim says which ``weights_only`` it needs.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
from collections.abc import Callable
from pathlib import Path

from pytest_mlsupply.engines.identification import Format
from tests.corpus import EXEC_RULES, Sample, file_sample
from tests.corpus.onnx_keras import add_graph, onnx_model

PICKLE_LOAD = "import pickle\nwith open(ARTIFACT, 'rb') as f:\n    pickle.load(f)\n"
PY_UNPICKLER = "import pickle\nwith open(ARTIFACT, 'rb') as f:\n    pickle._Unpickler(f).load()\n"
JOBLIB_LOAD = "import joblib\njoblib.load(ARTIFACT)\n"
TORCH_LOAD = "import torch\ntorch.load(ARTIFACT, weights_only=False)\n"

_EXEC = EXEC_RULES


def printable_payload(canary: Path) -> bytes:
    """Protocol 0, all printable: ``I0x1`` (which pickletools refuses), POP, then os.system."""
    return b"I0x1\n0cposix\nsystem\n(S'touch " + str(canary).encode() + b"'\ntR."


def binary_payload(canary: Path) -> bytes:
    """SHORT_BINUNICODE x2, STACK_GLOBAL, argument, TUPLE1, REDUCE, STOP: os.system(touch)."""
    cmd = f"touch {canary}".encode()
    return b"\x8c\x05posix\x8c\x06system\x93\x8c" + bytes([len(cmd)]) + cmd + b"\x85R."


def frame(size: int) -> bytes:
    return b"\x95" + struct.pack("<Q", size)


def _straddling_frame(canary: Path) -> bytes:
    # The frame ends inside SHORT_BINUNICODE's argument: C reads on, pickle.py stops.
    return b"\x80\x04" + frame(4) + binary_payload(canary)


def _frame_in_frame(canary: Path) -> bytes:
    body = binary_payload(canary)
    return b"\x80\x04" + frame(len(body) + 9) + frame(len(body)) + body


def _string_overruns_frame(canary: Path) -> bytes:
    body = binary_payload(canary)
    # The first SHORT_BINUNICODE's string runs 2 bytes past the frame that opens with it.
    return b"\x80\x04" + frame(5) + body


def _truncated_frame(canary: Path) -> bytes:
    body = binary_payload(canary)
    return b"\x80\x04" + frame(len(body) + 4096) + body


def _octal_int(canary: Path) -> bytes:
    return b"I010\n" + printable_payload(canary)[5:]


def _inst_on_last_line(canary: Path) -> bytes:
    return b"(S'touch " + str(canary).encode() + b"'\nios\nsystemX"


def _call_then_break_off(canary: Path) -> bytes:
    return printable_payload(canary)[:-1] + b"0 and then the data stops being a pickle"


def _huge_length(canary: Path) -> bytes:
    return b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"x" * 64


def _huge_memo_index(canary: Path) -> bytes:
    return b"\x80\x02N" + b"r" + struct.pack("<I", 0xFFFFFF00) + b"0N."


def _billion_laughs(canary: Path) -> bytes:
    # l0 = []; l(i+1) = [l(i)] * 10 via MARK, ten GETs and LIST; nine levels: 10**9 nodes.
    out = bytearray(b"\x80\x02]q\x00")
    for level in range(1, 10):
        out += b"(" + b"h" + bytes([level - 1]) + b"2" * 9 + b"lq" + bytes([level])
    return bytes(out + b".")


def tar_archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def legacy_torch_tar() -> bytes:
    return tar_archive(
        {"sys_info": pickle.dumps({}), "pickle": pickle.dumps({}), "storages": b"", "tensors": b""}
    )


def _in_hdf5_user_block(p: bytes) -> bytes:
    # HDF5 files may open with a user block of any content; the superblock follows at 512.
    return p.ljust(512, b"\x00") + b"\x89HDF\r\n\x1a\n" + b"\x00" * 120


def _in_tar_name(p: bytes) -> bytes:
    # A tar header opens with a 100-byte name field of any bytes; the checksum covers them.
    assert len(p) <= 100
    header = bytearray(tar_archive({"x": b"hello"})[:1024])
    header[0:100] = p.ljust(100, b"\x00")
    header[148:156] = b" " * 8
    header[148:156] = f"{sum(header[:512]):06o}\x00 ".encode()
    return bytes(header) + b"\x00" * 1024


def _in_torch_tar_name(p: bytes) -> bytes:
    return _in_tar_name(p)[:512] + b"\x00" * 512 + legacy_torch_tar()


def _after_gguf_version(p: bytes) -> bytes:
    # 'G' is BINFLOAT: it eats "GUF", the version and one byte; POP drops the float.
    return b"GGUF" + struct.pack("<I", 3) + b"\x00" + b"0" + p


def _in_pe_dos_header(p: bytes) -> bytes:
    # 'M' is BININT2 ("Z?"); SHORT_BINBYTES swallows the rest of the DOS header, e_lfanew
    # included; two POPs, then the payload. The PE signature lies after STOP.
    swallowed = bytearray(b"\x00" * 60)
    struct.pack_into("<I", swallowed, 0x3C - 5, 0x100)
    body = b"MZ\x00C" + bytes([60]) + bytes(swallowed) + b"00" + p
    return body.ljust(0x100, b"\x00") + b"PE\x00\x00" + b"\x00" * 64


def tflite_model(version: int = 3) -> bytes:
    """A TFLite flatbuffer written by the flatbuffers library: a Model table with its version."""
    import flatbuffers

    builder = flatbuffers.Builder(64)
    builder.StartObject(1)
    builder.PrependUint32Slot(0, version, 0)
    root = builder.EndObject()
    builder.Finish(root, file_identifier=b"TFL3")
    return bytes(builder.Output())


def _before_tflite_identifier(p: bytes) -> bytes:
    # Bytes 0-3 are the flatbuffer's root offset, 4-7 its identifier: MARK, then a
    # SHORT_BINUNICODE of 5 characters ("\x00TFL3") make the root offset 0x58c28 (4-aligned),
    # where a table and its vtable are placed after the payload's STOP. POP, POP_MARK, payload.
    root = 0x00058C28
    body = b"(\x8c\x05\x00TFL3" + b"01" + p
    vtable = struct.pack("<HH", 4, 8) + b"\x00" * 4
    table = struct.pack("<i", len(vtable)) + b"\x00" * 4
    return body.ljust(root - len(vtable), b"\x00") + vtable + table


def _in_onnx_domain(p: bytes) -> bytes:
    # Field 5 (model_version, a varint) opens with '(' MARK, field 6 (domain) with '2' DUP,
    # and a domain of 9992 bytes has the varint length 88 4e (NEWTRUE, NONE): the domain holds
    # the payload; graph and opset fields follow its STOP.
    return b"(N2\x88N" + p.ljust(9992, b" ") + onnx_model(add_graph())


def _unknown_after_the_call(p: bytes) -> bytes:
    # The call runs, then the data stops being a pickle: no STOP, so not identified as one.
    return p.removesuffix(b".") + b"\xff\xfe" * 8


#: Where each format leaves room for a payload that pickle.load reaches from byte 0, while
#: identification still says the format.
DISGUISES: dict[Format, Callable[[bytes], bytes]] = {
    Format.HDF5: _in_hdf5_user_block,
    Format.TAR: _in_tar_name,
    Format.PYTORCH_TAR: _in_torch_tar_name,
    Format.GGUF: _after_gguf_version,
    Format.PE: _in_pe_dos_header,
    Format.TFLITE: _before_tflite_identifier,
    Format.ONNX: _in_onnx_domain,
    Format.UNKNOWN: _unknown_after_the_call,
}

_DISGUISE_NAMES = {
    Format.HDF5: "model.h5",
    Format.TAR: "bundle.tar",
    Format.PYTORCH_TAR: "checkpoint.tar",
    Format.GGUF: "model.gguf",
    Format.PE: "tool.exe",
    Format.TFLITE: "model.tflite",
    Format.ONNX: "model.onnx",
    Format.UNKNOWN: "weights.bin",
}


def _disguised(fmt: Format) -> Callable[[Path], bytes]:
    # The canary is named relative to the loader's working directory, so that the payload fits
    # the smallest hiding place (a tar name field holds 100 bytes).
    return lambda canary: DISGUISES[fmt](binary_payload(Path(canary.name)))


_LOADERS = {
    "pickle-load": (PICKLE_LOAD, ()),
    "joblib-load": (JOBLIB_LOAD, ("joblib",)),
    "torch-load": (TORCH_LOAD, ("torch",)),
}

SAMPLES: list[Sample] = [
    *(
        file_sample(
            f"routing-printable-int-hex-{suffix.lstrip('.')}-{loader}",
            printable_payload,
            f"an all-printable protocol-0 pickle (INT 0x1, which pickletools rejects) named {suffix}",
            victim,
            filename=f"weights{suffix}",
            requires=requires,
        )
        for suffix in (".pkl", ".bin", ".pt", ".txt")
        for loader, (victim, requires) in _LOADERS.items()
    ),
    file_sample(
        "routing-printable-call-then-break-off",
        _call_then_break_off,
        "a protocol-0 payload that calls its callable and then stops being a pickle",
        PICKLE_LOAD,
        filename="notes.txt",
    ),
    file_sample(
        "frames-opcode-straddles-frame-end",
        _straddling_frame,
        "an opcode straddling its frame's end: the C unpickler runs it, pickle.py refuses",
        PICKLE_LOAD,
    ),
    file_sample(
        "frames-frame-inside-a-frame",
        _frame_in_frame,
        "a frame that opens inside another: the C unpickler runs it, pickle.py refuses",
        PICKLE_LOAD,
    ),
    file_sample(
        "frames-string-overruns-its-frame",
        _string_overruns_frame,
        "a string argument running past its frame: the C unpickler runs it, pickle.py refuses",
        PICKLE_LOAD,
    ),
    file_sample(
        "frames-truncated-frame-runs-under-pickle-py",
        _truncated_frame,
        "a frame the data cuts short: pickle.py (joblib.load) runs it, the C unpickler refuses",
        JOBLIB_LOAD,
        requires=("joblib",),
    ),
    file_sample(
        "loaders-octal-int-runs-under-the-c-unpickler",
        _octal_int,
        "INT 010: strtol reads octal 8 and the C unpickler runs on; pickle.py's int(x, 0) fails",
        PICKLE_LOAD,
    ),
    file_sample(
        "loaders-inst-on-a-last-line-without-newline",
        _inst_on_last_line,
        "INST whose name is the last line, with no newline: pickle.py drops a byte and calls",
        JOBLIB_LOAD,
        requires=("joblib",),
    ),
    *(
        file_sample(
            f"disguised-as-{fmt.value}",
            _disguised(fmt),
            f"a payload pickle.load runs, in a file identified as {fmt.value}",
            "import os, pickle\nos.chdir(os.path.dirname(CANARY))\n" + PICKLE_LOAD,
            filename=_DISGUISE_NAMES[fmt],
        )
        for fmt in DISGUISES
    ),
    file_sample(
        "exhaustion-binbytes8-length-far-past-the-data",
        _huge_length,
        "BINBYTES8 declaring 1 TiB in a 75-byte file: allocated before it is found missing",
        None,
        rules=("MLS-PKL-011",),
    ),
    file_sample(
        "exhaustion-memo-index-far-past-the-memo",
        _huge_memo_index,
        "LONG_BINPUT 4294967040: the C unpickler grows its memo array to twice that",
        None,
        rules=("MLS-PKL-011",),
    ),
    file_sample(
        "exhaustion-billion-laughs-list",
        _billion_laughs,
        "nine levels of lists holding the level below ten times: 10**9 nodes from 120 bytes",
        None,
        rules=("MLS-PKL-011",),
    ),
]
