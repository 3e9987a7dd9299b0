"""What a file's name claims, and what its loader does when the content does not match.

Identification never trusts a name; this module only compares the name with what the content
turned out to be. Two levels:

* any recognised extension whose usual formats do not include the content's is a mismatch
  (``model.pkl`` holding text): reported at medium by the ``format`` check (MLS-FMT-002);
* a *weights* extension (``.safetensors``, ``.gguf``, ``.onnx``, ``.pt``, ``.h5``, ``.keras``,
  ``.npy``...) is a claim some loader acts on. Content that does not parse as that format — a
  header length past the end of the file, a truncated magic, a zero-byte file, a Git LFS
  pointer, another format altogether — is a high finding (MLS-FMT-004) that says what the
  loader does with it: refuse it, or read it as something else (``torch.load`` unpickles any
  ``.pt`` that is not a zip; ``numpy.load`` unpickles an ``.npy`` without its magic).

  When that content is not recognised at all (``unknown``), the deep scan has no engine to
  read it with either: :func:`unread_claim` says so, and the ``scan`` check records it as an
  error (it fails at any ``fail_on``), not as a clean scan of bytes nothing looked at.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_mlsupply.engines.identification import Format, Identification

__all__ = ["CLAIMS", "Claim", "broken_claim", "noun", "unread_claim", "with_mismatch"]

_PICKLE_BASED = frozenset(
    {Format.PICKLE, Format.JOBLIB, Format.PYTORCH_LEGACY, Format.PYTORCH_ZIP,
     Format.PYTORCH_TAR, Format.TORCHSCRIPT}
)  # fmt: skip
_COMPRESSIONS = frozenset(
    {Format.GZIP, Format.BZ2, Format.XZ, Format.LZMA, Format.ZLIB, Format.LZ4, Format.ZSTD,
     Format.JOBLIB_ZFILE}
)  # fmt: skip
_ZIP_BASED = frozenset(
    {Format.ZIP, Format.PYTORCH_ZIP, Format.TORCHSCRIPT, Format.KERAS_V3, Format.NUMPY_NPZ}
)
_TORCH = _PICKLE_BASED | {Format.ZIP}

#: The formats each extension legitimately holds; anything else recognised is a mismatch.
_EXPECTED: dict[str, frozenset[Format]] = {
    ".safetensors": frozenset({Format.SAFETENSORS}),
    ".bin": _TORCH
    | _COMPRESSIONS
    | {Format.SAFETENSORS, Format.GGUF, Format.ONNX, Format.TFLITE, Format.NUMPY_NPY, Format.HDF5},
    ".pt": _TORCH,
    ".pth": _TORCH,
    ".ckpt": _TORCH,
    ".pkl": _PICKLE_BASED | _COMPRESSIONS,
    ".pickle": _PICKLE_BASED | _COMPRESSIONS,
    ".joblib": frozenset({Format.JOBLIB, Format.PICKLE}) | _COMPRESSIONS,
    ".npy": frozenset({Format.NUMPY_NPY}),
    ".npz": frozenset({Format.NUMPY_NPZ, Format.ZIP}),
    ".onnx": frozenset({Format.ONNX}),
    ".gguf": frozenset({Format.GGUF}),
    ".h5": frozenset({Format.HDF5}),
    ".hdf5": frozenset({Format.HDF5}),
    ".keras": frozenset({Format.KERAS_V3, Format.ZIP}),
    ".tflite": frozenset({Format.TFLITE}),
    ".skops": frozenset({Format.SKOPS}),
    ".json": frozenset({Format.JSON}),
    ".txt": frozenset({Format.TEXT, Format.JSON}),
    ".md": frozenset({Format.TEXT, Format.JSON}),
    # sentencepiece (protobuf), gensim/sklearn pickles, xgboost JSON, lightgbm text...
    ".model": _TORCH | _COMPRESSIONS | {Format.JSON, Format.TEXT, Format.ONNX},
    ".zip": _ZIP_BASED,
    ".tar": frozenset({Format.TAR, Format.PYTORCH_TAR, Format.NEMO}),
    ".nemo": frozenset({Format.NEMO, Format.GZIP}),
    ".gz": frozenset({Format.GZIP}),
    ".tgz": frozenset({Format.GZIP}),
    ".bz2": frozenset({Format.BZ2}),
    ".xz": frozenset({Format.XZ}),
    ".lzma": frozenset({Format.LZMA}),
    ".lz4": frozenset({Format.LZ4}),
    ".zst": frozenset({Format.ZSTD}),
    ".7z": frozenset({Format.SEVEN_ZIP}),
}


@dataclass(frozen=True)
class Claim:
    """A weights extension: the formats it promises, and what its loader does otherwise."""

    loader: str
    """Who reads files so named."""
    otherwise: str
    """What that loader does with content that is not the format."""


_TORCH_CLAIM = Claim(
    "torch.load",
    "reads anything that is not a zip checkpoint as a legacy pickle: with weights_only=False "
    "(or torch before 2.6) pickle.load runs it from its first byte",
)

#: Weights extensions whose content must parse as the format they name.
CLAIMS: dict[str, Claim] = {
    ".safetensors": Claim(
        "safetensors.safe_open (transformers, diffusers)",
        "refuses it and the model does not load; a tool that falls back to another loader "
        "reads it as whatever it really is",
    ),
    ".gguf": Claim(
        "llama.cpp's GGUF reader",
        "refuses it, or, with lengths past the end of the file, reads out of bounds (the "
        "GGUF parser heap overflows of CVE-2024-21825 and CVE-2024-25664)",
    ),
    ".onnx": Claim("onnx.load and onnxruntime", "refuse it (protobuf parse error)"),
    ".pt": _TORCH_CLAIM,
    ".pth": _TORCH_CLAIM,
    ".ckpt": _TORCH_CLAIM,
    ".h5": Claim("h5py and keras.models.load_model", "refuse it (no HDF5 superblock)"),
    ".hdf5": Claim("h5py and keras.models.load_model", "refuse it (no HDF5 superblock)"),
    ".keras": Claim("keras.models.load_model", "refuses it (a .keras file must be a zip)"),
    ".npy": Claim(
        "numpy.load",
        "reads a file without the NUMPY magic as a pickle when allow_pickle=True (and as an "
        ".npz when it starts like a zip)",
    ),
    ".npz": Claim(
        "numpy.load",
        "reads a file that is not a zip as an .npy, or as a pickle when allow_pickle=True",
    ),
    ".tflite": Claim("the TensorFlow Lite interpreter", "refuses it"),
    ".skops": Claim("skops.io.load", "refuses it (a zip with schema.json is required)"),
}

#: Weights files that must never be empty (an empty one is a failed or truncated download).
_WEIGHTS = frozenset(CLAIMS) | {".bin", ".model", ".msgpack", ".pkl", ".joblib"}
#: The suffixes of a model's weights (public for the lineage claim's base binding).
WEIGHTS_SUFFIXES = _WEIGHTS

_NOUNS = {
    Format.PICKLE: "pickle",
    Format.JOBLIB: "joblib pickle",
    Format.PYTORCH_LEGACY: "legacy PyTorch pickle checkpoint",
    Format.PYTORCH_ZIP: "PyTorch zip checkpoint (pickle)",
    Format.PYTORCH_TAR: "legacy PyTorch tar checkpoint (pickle)",
    Format.TORCHSCRIPT: "TorchScript archive (pickle)",
    Format.NUMPY_NPY: "NumPy array",
    Format.NUMPY_NPZ: "NumPy .npz archive",
    Format.SAFETENSORS: "safetensors file",
    Format.GGUF: "GGUF model",
    Format.ONNX: "ONNX model",
    Format.KERAS_V3: "Keras v3 archive",
    Format.HDF5: "HDF5 file",
    Format.TFLITE: "TensorFlow Lite model",
    Format.TF_SAVED_MODEL: "TensorFlow SavedModel",
    Format.TF_GRAPH_DEF: "TensorFlow GraphDef",
    Format.KERAS_METADATA: "Keras SavedModel metadata",
    Format.SKOPS: "skops file",
    Format.ZIP: "zip archive",
    Format.TAR: "tar archive",
    Format.NEMO: "NeMo model archive",
    Format.SEVEN_ZIP: "7-Zip archive",
    Format.ELF: "ELF executable",
    Format.PE: "Windows executable",
    Format.MACH_O: "Mach-O executable",
    Format.JAVA_CLASS: "Java class file",
    Format.SHEBANG_SCRIPT: "script",
    Format.JSON: "JSON document",
    Format.GIT_LFS_POINTER: "Git LFS pointer (text)",
    Format.TEXT: "text",
    Format.EMPTY: "empty file",
    Format.UNKNOWN: "unrecognised data",
}


def noun(ident: Identification, *, article: bool = True) -> str:
    """What the content is, in words (``a pickle (protocol 4)``, ``gzip-compressed text``)."""
    if ident.format in _COMPRESSIONS:
        word = ident.detail.split(";", 1)[0]
    else:
        word = _NOUNS.get(ident.format, f"{ident.format} data")
    if ident.format == Format.PICKLE and "protocol" in ident.detail:
        word = ident.detail
    if not article or ident.format in (Format.TEXT, Format.UNKNOWN):
        return word
    return ("an " if word[0].lower() in "aeiou" else "a ") + word


def with_mismatch(ident: Identification, suffix: str) -> Identification:
    """``ident`` with ``extension_mismatch`` set when the extension promises other formats."""
    expected = _EXPECTED.get(suffix)
    if expected is None or ident.format in expected:
        return ident
    if ident.format in (Format.UNKNOWN, Format.EMPTY):
        return ident  # nothing recognised to compare with (a weights file: see broken_claim)
    return ident.with_(extension_mismatch=f"extension {suffix} but content is {noun(ident)}")


def broken_claim(ident: Identification, suffix: str) -> str | None:
    """Why a weights file does not parse as the format its name claims (None when it does)."""
    claim = CLAIMS.get(suffix)
    if ident.format == Format.EMPTY and suffix in _WEIGHTS:
        what = f"a zero-byte {suffix} file (a failed or truncated download)"
    elif ident.format == Format.GIT_LFS_POINTER and suffix in _WEIGHTS:
        what = f"a Git LFS pointer in place of the {suffix} file (the weights were never fetched)"
    elif claim is None:
        return None
    elif ident.format not in _EXPECTED[suffix]:
        what = f"{noun(ident)}, not what {suffix} promises"
    elif ident.problem is not None:
        what = ident.problem
    else:
        return None
    if claim is None:
        return f"{what}: every loader of it fails"
    return f"{what}: {claim.loader} {claim.otherwise}"


def unread_claim(ident: Identification, suffix: str) -> str | None:
    """Why the scan of a weights file whose content is unrecognised cannot pass (None when the
    name claims no weights format of :data:`CLAIMS`, or the content was recognised).

    ``.bin`` and ``.model`` claim no one format (fastText, GGML and word2vec binaries are
    unrecognised ``.bin`` files; the pickle probe reads them as ``torch.load`` would)."""
    claim = CLAIMS.get(suffix)
    if claim is None or ident.format != Format.UNKNOWN:
        return None
    expected = " or ".join(sorted(_NOUNS[fmt] for fmt in _EXPECTED[suffix]))
    return (
        f"named {suffix} ({expected}, for {claim.loader}), but the content is {noun(ident)} "
        f"({ident.detail}; {ident.evidence}): no engine could scan it, so the scan cannot "
        f"vouch for it ({claim.loader} {claim.otherwise})"
    )
