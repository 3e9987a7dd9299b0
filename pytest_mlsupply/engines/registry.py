"""Which code answers for which format: the detectors, in order, and one engine per format.

Adding a format is one module in :mod:`pytest_mlsupply.engines.formats` (its ``identify_*``
and ``scan_*`` functions, sharing one reader) and one line in each table below. Detectors run
from the most to the least specific and the first answer wins; a format with no engine
(TFLite, a Git LFS pointer, an empty file) has nothing to analyse beyond identification. Every
blob that is not a pickle still goes through the pickle probe (see
:mod:`pytest_mlsupply.engines.scanner`), so no entry here can open a routing hole.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_mlsupply.engines.blob import Scanner
from pytest_mlsupply.engines.formats import (
    archives,
    code,
    compressed,
    executables,
    gguf,
    hf_json,
    keras,
    numpy,
    onnx,
    pickles,
    safetensors,
    savedmodel,
    skops,
    text,
    tflite,
    torch,
)
from pytest_mlsupply.engines.identification import Detector, Format

__all__ = ["DETECTORS", "IDENTIFIED_ONLY", "SCANNERS", "DetectorEntry"]


@dataclass(frozen=True)
class DetectorEntry:
    detect: Detector
    outer_only: bool = False
    """Only on the content itself, not on a decompressed head: one level of decompression
    (a compressed stream inside a compressed stream is reported by its outer format)."""


DETECTORS: tuple[DetectorEntry, ...] = (
    DetectorEntry(archives.identify_zip),
    DetectorEntry(archives.identify_7z),
    DetectorEntry(compressed.identify_compressed, outer_only=True),
    DetectorEntry(compressed.identify_joblib_zfile, outer_only=True),
    DetectorEntry(numpy.identify_npy),
    DetectorEntry(gguf.identify_gguf),
    DetectorEntry(keras.identify_hdf5),
    DetectorEntry(executables.identify_elf),
    DetectorEntry(executables.identify_macho_or_java),
    DetectorEntry(tflite.identify_tflite),
    DetectorEntry(pickles.identify_pickle_with_proto),
    DetectorEntry(executables.identify_pe),
    DetectorEntry(executables.identify_python_bytecode),
    DetectorEntry(archives.identify_tar),
    DetectorEntry(safetensors.identify_safetensors),
    DetectorEntry(compressed.identify_weak_compressed, outer_only=True),
    DetectorEntry(savedmodel.identify_savedmodel),
    DetectorEntry(onnx.identify_onnx),
    DetectorEntry(pickles.identify_pickle_without_proto),
    DetectorEntry(text.identify_lfs_pointer),
    DetectorEntry(code.identify_shebang),
    DetectorEntry(hf_json.identify_json),
    DetectorEntry(text.identify_utf16_text),
    DetectorEntry(text.identify_text),
)

SCANNERS: dict[Format, Scanner] = {
    # pickle family and the containers that carry pickles
    Format.PICKLE: pickles.scan_pickle_file,
    Format.JOBLIB: pickles.scan_pickle_file,
    Format.PYTORCH_LEGACY: torch.scan_torch_legacy,
    Format.PYTORCH_ZIP: torch.scan_torch_zip,
    Format.TORCHSCRIPT: torch.scan_torch_zip,
    Format.PYTORCH_TAR: torch.scan_torch_tar,
    Format.NUMPY_NPY: numpy.scan_npy,
    Format.NUMPY_NPZ: numpy.scan_npz,
    Format.GZIP: compressed.scan_compressed,
    Format.BZ2: compressed.scan_compressed,
    Format.XZ: compressed.scan_compressed,
    Format.LZMA: compressed.scan_compressed,
    Format.ZLIB: compressed.scan_compressed,
    Format.LZ4: compressed.scan_compressed,
    Format.ZSTD: compressed.scan_compressed,
    Format.JOBLIB_ZFILE: compressed.scan_compressed,
    # generic archives
    Format.ZIP: archives.scan_zip,
    Format.TAR: archives.scan_tar,
    Format.NEMO: archives.scan_tar,
    Format.SEVEN_ZIP: archives.scan_7z,
    # tensor and model formats
    Format.SAFETENSORS: safetensors.scan_safetensors,
    Format.GGUF: gguf.scan_gguf,
    Format.ONNX: onnx.scan_onnx,
    Format.TF_SAVED_MODEL: savedmodel.scan_savedmodel,
    Format.TF_GRAPH_DEF: savedmodel.scan_savedmodel,
    Format.KERAS_METADATA: savedmodel.scan_savedmodel,
    Format.SKOPS: skops.scan_skops,
    Format.KERAS_V3: keras.scan_keras_archive,
    Format.HDF5: keras.scan_hdf5,
    # programs: reported when they come out of an archive
    Format.ELF: executables.scan_executable,
    Format.PE: executables.scan_executable,
    Format.MACH_O: executables.scan_executable,
    Format.JAVA_CLASS: executables.scan_executable,
    Format.PYTHON_BYTECODE: executables.scan_executable,
    # Hugging Face repository files: JSON configs and tokenizers, Python code, templates
    Format.JSON: text.scan_json_document,
    Format.TEXT: text.scan_text,
    Format.SHEBANG_SCRIPT: code.scan_script,
}

#: Formats identification says all there is about (the pickle probe still runs on them).
IDENTIFIED_ONLY = frozenset({Format.TFLITE, Format.GIT_LFS_POINTER, Format.EMPTY, Format.UNKNOWN})
