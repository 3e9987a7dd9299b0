"""Corpus: PyTorch checkpoints — zip (and TorchScript-like), legacy pickle stream, legacy tar.

Checkpoints are written by hand, byte for byte, so that the corpus needs no torch: the zip
layout ``torch.save`` writes (``archive/data.pkl``, ``archive/data/<n>``, ``archive/version``,
``archive/byteorder``), the legacy stream (magic number, protocol, sys_info, object, storage
keys, raw storages) and the legacy tar (``sys_info``, ``pickle``, ``storages``, ``tensors``).
When torch is importable, one benign sample is a real ``torch.save`` state dict, and the
victims prove the malicious samples load (``weights_only=False``).
"""

from __future__ import annotations

import importlib.util
import pickle
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.corpus import Sample
from tests.corpus.archives import RawMember, raw_zip, tar_bytes, touch_pickle
from tests.corpus.pickle_files import asm

__all__ = ["SAMPLES", "legacy_storages", "legacy_stream", "state_dict_pickle", "torch_zip"]

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_SYS_INFO = {
    "protocol_version": 1001,
    "little_endian": True,
    "type_sizes": {"short": 2, "int": 4, "long": 4},
}
_TORCH_LOAD = "import torch\ntorch.load(ARTIFACT, weights_only=False)\n"


def state_dict_pickle(tensors: dict[str, tuple[int, ...]], *, legacy: bool = False) -> bytes:
    """The data.pkl of ``torch.save(state_dict)``: OrderedDict of _rebuild_tensor_v2 calls on
    storages referenced by persistent id (BINPERSID), storage ``i`` for tensor ``i``."""
    a = asm.Asm().proto(2)
    a.global_("collections", "OrderedDict").empty_tuple().reduce()
    for index, (key, shape) in enumerate(tensors.items()):
        numel = 1
        for dim in shape:
            numel *= dim
        a.str(key).global_("torch._utils", "_rebuild_tensor_v2").mark()
        a.mark().str("storage").global_("torch", "FloatStorage").str(str(index)).str("cpu")
        a.int_(numel)
        if legacy:
            a.none()  # legacy ids also carry the view metadata
        a.tuple().binpersid().int_(0).mark()
        for dim in shape:
            a.int_(dim)
        a.tuple().mark()
        stride = numel
        for dim in shape:
            stride //= dim
            a.int_(stride)
        a.tuple().raw(b"\x89")  # NEWFALSE: requires_grad
        a.global_("collections", "OrderedDict").empty_tuple().reduce()
        a.tuple().reduce().setitem()
    return bytes(a.stop().bytes())


_TENSORS = {"linear.weight": (4, 3), "linear.bias": (4,)}


def _storage_bytes(shape: tuple[int, ...]) -> bytes:
    numel = 1
    for dim in shape:
        numel *= dim
    return struct.pack(f"<{numel}f", *[0.5] * numel)


def torch_zip(
    data_pkl: bytes,
    *,
    prefix: str = "archive",
    extra: list[RawMember] | None = None,
    data_pkl_member: RawMember | None = None,
    **zip_options: Any,
) -> bytes:
    """A checkpoint laid out as torch.save lays it out (``data_pkl_member`` overrides how the
    pickle member is written: its name, CRC, local name or flags)."""
    members = [
        data_pkl_member or RawMember(f"{prefix}/data.pkl", data_pkl),
        *[RawMember(name, data) for name, data in checkpoint_records(prefix)[1:]],
        *(extra or []),
    ]
    return raw_zip(members, **zip_options)


def checkpoint_records(prefix: str = "archive") -> list[tuple[str, bytes]]:
    """The records torch.save writes for a small state dict, in its order, data.pkl first."""
    return [
        (f"{prefix}/data.pkl", state_dict_pickle(_TENSORS)),
        (f"{prefix}/byteorder", b"little"),
        *[
            (f"{prefix}/data/{i}", _storage_bytes(shape))
            for i, shape in enumerate(_TENSORS.values())
        ],
        (f"{prefix}/version", b"3\n"),
    ]


def legacy_stream(pickles: list[bytes] | None = None) -> bytes:
    """A legacy (pre-1.6) torch.save file: five pickles, then each storage's size and bytes."""
    if pickles is None:
        pickles = [
            pickle.dumps(LEGACY_MAGIC, protocol=2),
            pickle.dumps(1001, protocol=2),
            pickle.dumps(_SYS_INFO, protocol=2),
            state_dict_pickle(_TENSORS, legacy=True),
            pickle.dumps([str(i) for i in range(len(_TENSORS))], protocol=2),
        ]
    raw = b""
    for shape in _TENSORS.values():
        data = _storage_bytes(shape)
        raw += struct.pack("<q", len(data) // 4) + data
    return b"".join(pickles) + raw


def _storage_args(key: str) -> bytes:
    a = asm.Asm().proto(2).mark().str(key).str("cpu").global_("torch", "FloatStorage")
    return bytes(a.tuple().stop().bytes())


def legacy_storages(args: list[bytes] | None = None) -> bytes:
    """The ``storages`` member of a legacy tar: count, then per storage its args pickle, its
    element count and bytes; then the storage views."""
    shapes = list(_TENSORS.values())
    args = args or [_storage_args(str(i)) for i in range(len(shapes))]
    out = pickle.dumps(len(shapes), protocol=2)
    for arg, shape in zip(args, shapes, strict=True):
        data = _storage_bytes(shape)
        out += arg + struct.pack("<q", len(data) // 4) + data
    return out + pickle.dumps([], protocol=2)


def legacy_tar(
    *,
    main: bytes | None = None,
    storages: bytes | None = None,
    sys_info: bytes | None = None,
    tensors: bytes | None = None,
) -> bytes:
    return tar_bytes(
        [
            ("sys_info", sys_info or pickle.dumps(_SYS_INFO, protocol=2)),
            ("pickle", main or pickle.dumps({"epoch": 3, "arch": "mlp"}, protocol=2)),
            ("storages", storages or legacy_storages()),
            ("tensors", tensors or pickle.dumps(0, protocol=2)),
        ]
    )


def _torchscript_like(code: bytes, data_pkl: bytes | None = None) -> bytes:
    a = asm.Asm().proto(2).global_("__torch__", "Model").empty_tuple().newobj().empty_dict()
    a.str("training").raw(b"\x89").setitem().build()
    return raw_zip(
        [
            RawMember("model/data.pkl", data_pkl or bytes(a.stop().bytes())),
            RawMember("model/code/__torch__.py", code, deflate=True),
            RawMember("model/constants.pkl", pickle.dumps((), protocol=2)),
            RawMember("model/version", b"1\n"),
        ]
    )


_BENIGN_CODE = b"""class Model(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  def forward(self: __torch__.Model, x: Tensor) -> Tensor:
    y = torch.relu(x)
    return ops.prim.NumToTensor(torch.size(y, 0))
"""


def _malicious_code(canary: Path) -> bytes:
    return (
        b"class Model(Module):\n"
        b"  training : bool\n"
        b"  def __setstate__(self: __torch__.Model, state: Tuple[bool]) -> None:\n"
        b"    __import__('os').system('touch " + str(canary).encode() + b"')\n"
        b"    self.training = state[0]\n"
    )


def _file(name: str, content: Callable[[Path], bytes]) -> Callable[[Path, Path], Path]:
    def build(directory: Path, canary: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        path.write_bytes(content(canary))
        return path

    return build


def _real_or_handbuilt_state_dict(directory: Path, canary: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pytorch_model.bin"
    if importlib.util.find_spec("torch") is None:
        path.write_bytes(torch_zip(state_dict_pickle(_TENSORS)))
        return path
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    state = {
        "model": model.state_dict(),
        "step": 7,
        "optimizer": {"lr": 0.01, "betas": (0.9, 0.99)},
    }
    torch.save(state, path)
    return path


SAMPLES: list[Sample] = [
    Sample(
        "torch-zip-malicious-data-pkl",
        _file("pytorch_model.bin", lambda c: torch_zip(touch_pickle(c))),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="torch zip checkpoint whose data.pkl reduces os.system",
        victim=_TORCH_LOAD,
        requires=("torch",),
    ),
    Sample(
        "torch-zip-pickle-in-oddly-named-member",
        _file(
            "model.pt",
            lambda c: torch_zip(
                state_dict_pickle(_TENSORS),
                extra=[RawMember("archive/extra_state.bin", touch_pickle(c), deflate=True)],
            ),
        ),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="a clean data.pkl, and a pickle payload in a member named like tensor data",
        victim="import pickle, zipfile\n"
        "pickle.loads(zipfile.ZipFile(ARTIFACT).read('archive/extra_state.bin'))\n",
    ),
    Sample(
        "torch-zip-bad-crc-on-data-pkl",
        _file(
            "model.pt",
            lambda c: torch_zip(
                b"",
                data_pkl_member=RawMember("archive/data.pkl", touch_pickle(c), crc=0xDEADBEEF),
            ),
        ),
        malicious=True,
        rules=("MLS-TORCH-003", "MLS-PKL-001"),
        technique="wrong CRC on data.pkl: zipfile-based scanners fail, torch loads it",
        victim=_TORCH_LOAD,
        requires=("torch",),
    ),
    Sample(
        "torch-zip-local-central-name-mismatch",
        _file(
            "model.pt",
            lambda c: torch_zip(
                b"",
                data_pkl_member=RawMember(
                    "archive/data.pkl", touch_pickle(c), local_name="archive/data.txt"
                ),
            ),
        ),
        malicious=True,
        rules=("MLS-TORCH-001", "MLS-PKL-001"),
        technique="local header names another file than the central directory torch follows",
        victim=_TORCH_LOAD,
        requires=("torch",),
    ),
    Sample(
        "torch-zip-encrypted-flag-on-plain-data-pkl",
        _file(
            "model.pt",
            lambda c: torch_zip(
                b"", data_pkl_member=RawMember("archive/data.pkl", touch_pickle(c), flags=0x1)
            ),
        ),
        malicious=True,
        rules=("MLS-TORCH-004", "MLS-PKL-001"),
        technique="the encrypted flag set on a plain data.pkl makes zipfile refuse it",
    ),
    Sample(
        "torch-zip-duplicate-data-pkl",
        _file(
            "model.pt",
            lambda c: torch_zip(
                state_dict_pickle(_TENSORS),
                extra=[RawMember("archive/data.pkl", touch_pickle(c))],
            ),
        ),
        malicious=True,
        rules=("MLS-TORCH-002", "MLS-PKL-001"),
        technique="two data.pkl members: a scanner reads the clean one, a loader the other",
    ),
    Sample(
        "torch-zip-prepended-polyglot",
        _file(
            "model.pt",
            lambda c: raw_zip(
                [
                    RawMember("archive/data.pkl", touch_pickle(c)),
                    RawMember("archive/version", b"3\n"),
                ],
                prefix=b"%PDF-1.4\n" + b"\x00" * 200,
            ),
        ),
        malicious=True,
        rules=("MLS-TORCH-007", "MLS-PKL-001", "MLS-ARC-011"),
        technique="a checkpoint hidden behind other content (polyglot)",
    ),
    Sample(
        "torch-legacy-payload-in-protocol-pickle",
        _file(
            "model.pt",
            lambda c: legacy_stream(
                [
                    pickle.dumps(LEGACY_MAGIC, protocol=2),
                    touch_pickle(c),
                    pickle.dumps(_SYS_INFO, protocol=2),
                    pickle.dumps({}, protocol=2),
                    pickle.dumps([], protocol=2),
                ]
            ),
        ),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="legacy torch.save stream with the payload in its second pickle",
        victim=_TORCH_LOAD,
        requires=("torch",),
    ),
    Sample(
        "torch-legacy-payload-in-sys-info-pickle",
        _file(
            "model.pt",
            lambda c: legacy_stream(
                [
                    pickle.dumps(LEGACY_MAGIC, protocol=2),
                    pickle.dumps(1001, protocol=2),
                    touch_pickle(c),
                    state_dict_pickle(_TENSORS, legacy=True),
                    pickle.dumps(["0", "1"], protocol=2),
                ]
            ),
        ),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="legacy torch.save stream with the payload in its third pickle (sys_info)",
        victim=_TORCH_LOAD,
        requires=("torch",),
    ),
    Sample(
        "torch-legacy-payload-in-object-pickle",
        _file(
            "model.pt",
            lambda c: legacy_stream(
                [
                    pickle.dumps(LEGACY_MAGIC, protocol=2),
                    pickle.dumps(1001, protocol=2),
                    pickle.dumps(_SYS_INFO, protocol=2),
                    touch_pickle(c),
                    pickle.dumps([], protocol=2),
                ]
            ),
        ),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="legacy torch.save stream with the payload as the saved object",
        victim=_TORCH_LOAD,
        requires=("torch",),
    ),
    Sample(
        "torch-legacy-tar-payload-in-pickle-member",
        _file("model.tar", lambda c: legacy_tar(main=touch_pickle(c))),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="legacy torch tar checkpoint whose 'pickle' member is the payload",
        victim=_TORCH_LOAD,
        requires=("torch",),
    ),
    Sample(
        "torch-legacy-tar-payload-in-second-storage-header",
        _file(
            "model.tar",
            lambda c: legacy_tar(storages=legacy_storages([_storage_args("0"), touch_pickle(c)])),
        ),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="legacy torch tar: payload in a storage header pickle after raw tensor data",
        victim=_TORCH_LOAD,
        requires=("torch",),
    ),
    Sample(
        "torch-torchscript-like-code-imports-os",
        _file("model.pt", lambda c: _torchscript_like(_malicious_code(c))),
        malicious=True,
        rules=("MLS-TORCH-010",),
        technique="TorchScript source whose __setstate__ calls __import__('os').system",
    ),
    Sample(
        "torch-torchscript-like-malicious-data-pkl",
        _file("model.pt", lambda c: _torchscript_like(_BENIGN_CODE, touch_pickle(c))),
        malicious=True,
        rules=("MLS-PKL-001", "MLS-PKL-002"),
        technique="TorchScript layout whose data.pkl is a plain pickle payload",
    ),
    # --- benign ---------------------------------------------------------------------------
    Sample(
        "torch-benign-real-or-handbuilt-state-dict",
        _real_or_handbuilt_state_dict,
        malicious=False,
    ),
    Sample(
        "torch-benign-handbuilt-state-dict",
        _file("pytorch_model.bin", lambda c: torch_zip(state_dict_pickle(_TENSORS))),
        malicious=False,
    ),
    Sample(
        "torch-benign-legacy-stream",
        _file("model.pt", lambda c: legacy_stream()),
        malicious=False,
    ),
    Sample(
        "torch-benign-legacy-tar",
        _file("model.tar", lambda c: legacy_tar()),
        malicious=False,
    ),
    Sample(
        "torch-benign-torchscript-like",
        _file("model.pt", lambda c: _torchscript_like(_BENIGN_CODE)),
        malicious=False,
    ),
]
