"""One fuzz target per parser, each driving the entry point the product itself uses.

An artifact target writes the case to a file and scans it with
:func:`pytest_mlsupply.engines.scanner.scan_file`, exactly as an artifact check does:
identification picks the registered engine (:mod:`pytest_mlsupply.engines.registry`), which
reaches the format's reader (the zip reader, the protobuf walker, the decompressor...), and the
pickle probe runs over whatever is not a pickle. Seeds are the corpus files identified as the
target's formats, so most mutated cases still reach that engine; random bytes and the mutations
that break identification exercise the routing too.

The other targets call the manifest loader, the requirements-file parser, the OSV record
reader and the chat-template analyser directly.

:func:`run_case` is the property: the entry point returns its documented outcome (a scan
report of builtins; a parser's documented error naming the file), it returns within
:data:`CASE_SECONDS` (a hang raises :class:`CaseTimedOut`), and nothing ran (the canary folder
stays empty).
"""

from __future__ import annotations

import functools
import json
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from pytest_mlsupply.engines.scanner import scan_file
from tests.fuzz.mutate import Case, cases
from tests.fuzz.seeds import assert_nothing_ran, seeds_by_format

__all__ = ["CASE_SECONDS", "TARGETS", "CaseTimedOut", "Target", "run_case"]

#: A case that takes longer is a hang. The scanner's own budgets stop real work far sooner;
#: this is the last resort that turns a hang into a failure instead of a stuck run.
CASE_SECONDS = 20.0


class CaseTimedOut(BaseException):
    """A case ran past :data:`CASE_SECONDS` (a BaseException: no ``except Exception`` in the
    code under test can swallow it)."""


@dataclass(frozen=True)
class Target:
    name: str
    entry_point: str
    """The product's function the target drives (for the docs and the long run's table)."""
    seeds: Callable[[], list[Case]]
    names: tuple[str, ...]
    """File names random bytes are given."""
    run: Callable[[Case, Path], None]
    max_bytes: int | None = None
    """Longer cases are cut to this: a parser whose cost per byte is known and linear but
    slow (it would only ever hit the case limit, and make the short run flaky)."""

    def strategy(self) -> st.SearchStrategy[Case]:
        return cases(self.seeds(), self.names)


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: Any) -> None:
        raise CaseTimedOut(f"the case ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@functools.cache
def _workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="mlsupply-fuzz-work-"))
    return path


def run_case(target: Target, case: Case) -> None:
    """Run one case through ``target``; raises on any broken property."""
    workdir = _workdir() / target.name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    if target.max_bytes is not None:
        case = (case[0], case[1][: target.max_bytes])
    try:
        with _time_limit(CASE_SECONDS):
            target.run(case, workdir)
    finally:
        assert_nothing_ran()


def _file_name(name: str) -> str:
    # A seed's name is kept (identification's tie-breaker); only a path separator is not.
    return name.replace("/", "_").replace("\0", "_") or "blob"


def _names(message: str, what: str) -> None:
    """A documented error is a clear one: it names the file (or snapshot) at fault."""
    if what not in message:
        raise AssertionError(f"the error does not name {what!r}: {message}")


# --- artifacts ----------------------------------------------------------------------------------


def _scan(case: Case, workdir: Path) -> None:
    name, data = case
    path = workdir / _file_name(name)
    path.write_bytes(data)
    report = scan_file(path, subject=name)
    # The documented outcome: a report of builtins (it crosses xdist and the content cache).
    json.dumps(report.to_dict())
    assert all(isinstance(error, str) and error for error in report.errors), report.errors


def _formats(*formats: str) -> Callable[[], list[Case]]:
    def seeds() -> list[Case]:
        found = [case for fmt in formats for case in seeds_by_format().get(fmt, [])]
        assert found, f"the corpus has no seed of {formats}"
        return found

    return seeds


def _artifact(name: str, entry_point: str, formats: tuple[str, ...], *names: str) -> Target:
    return Target(name, entry_point, _formats(*formats), names, _scan)


def _yaml_seeds() -> list[Case]:
    found = [
        case
        for fmt in ("text", "unknown")
        for case in seeds_by_format().get(fmt, [])
        if case[0].endswith((".yaml", ".yml", "MLmodel"))
    ]
    assert found, "the corpus has no YAML config"
    return found


# --- the chat-template analyser -----------------------------------------------------------------


def _template_seeds() -> list[Case]:
    from tests.corpus.templates import ESCAPES, REAL_TEMPLATES

    texts = [*REAL_TEMPLATES.values(), *ESCAPES.values()]
    for _, data in seeds_by_format().get("json", []):
        try:
            value = json.loads(data)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("chat_template"), str):
            texts.append(value["chat_template"])
    return [("chat_template.jinja", text.encode()) for text in dict.fromkeys(texts)]


def _template(case: Case, workdir: Path) -> None:
    from pytest_mlsupply.engines.templates import analyse_template

    for issue in analyse_template(case[1].decode("utf-8", "replace")):
        assert issue.rule.startswith("MLS-TPL-"), issue


# --- the manifest -------------------------------------------------------------------------------

_ROOT = Path(__file__).resolve().parents[2]

_MANIFEST = b"""\
version: 1
project: {name: fuzz, version: 0.1.0}
policy:
  fail_on: high
  pickle: default-deny
models:
  - name: tiny
    source: hf://acme/tiny@3f2a9c0e1b2c3d4e5f60718293a4b5c6d7e8f901
    files: {model.safetensors: "sha256:774767f04c9c0627be051bb6a2af17cef8f9540af5f7b144f0ad69aec38c9de3"}
    lineage: {base_model: "hf://google-bert/bert-base-uncased@86b5e0934494bd15c9632b12f734a8a67f723594"}
    card: {require: [license, base_model]}
datasets:
  - name: reviews
    source: hf-datasets://acme/reviews@9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d
    license: cc-by-4.0
    pii: none
requirements:
  - file: requirements.txt
  - environment: current
vulnerabilities: {service: offline, path: osv/}
code: {paths: [src/]}
output: {bom: build/ml-bom.cdx.json, matrix: build/mlsupply-matrix}
"""


def _manifest_seeds() -> list[Case]:
    return [
        ("mlsupply.yaml", (_ROOT / "example_project" / "mlsupply.yaml").read_bytes()),
        ("mlsupply.yaml", _MANIFEST),
    ]


def _manifest(case: Case, workdir: Path) -> None:
    from pytest_mlsupply.manifest.errors import ManifestError
    from pytest_mlsupply.manifest.loader import load_manifest

    path = workdir / "mlsupply.yaml"
    path.write_bytes(case[1])
    try:
        load_manifest(path)
    except ManifestError as exc:
        _names(exc.render(), "mlsupply.yaml")


# --- requirements files -------------------------------------------------------------------------

_REQUIREMENTS = (
    b"# pinned\nnumpy==2.4.6\nsafetensors==0.8.0\n",
    b"--index-url https://user:secret@example.invalid/simple\n"
    b"--extra-index-url https://mirror.example.invalid/simple\n"
    b"torch==2.5.1+cpu ; python_version >= '3.9' \\\n"
    b"    --hash=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
    b"requests[socks]>=2.31,<3\n"
    b"-c constraints.txt\n"
    b"pkg @ https://example.invalid/pkg-1.0-py3-none-any.whl\n"
    b"-e git+https://example.invalid/repo.git#egg=repo\n"
    b"${HF_TOKEN}-pkg==1.0\n",
    b"-r other.txt\nflask==3.0.0 --config-settings=a=b\n./local/dir\nfile:///tmp/x.tar.gz\n",
)


def _requirements_seeds() -> list[Case]:
    return [("requirements.txt", data) for data in _REQUIREMENTS]


def _requirements(case: Case, workdir: Path) -> None:
    from pytest_mlsupply.sources.requirements import RequirementsError, from_requirements_file

    path = workdir / "requirements.txt"
    path.write_bytes(case[1])
    (workdir / "constraints.txt").write_bytes(b"requests==2.31.0\n")
    (workdir / "other.txt").write_bytes(b"idna==3.7\n")
    try:
        from_requirements_file(path, workdir)
    except RequirementsError as exc:
        _names(str(exc), ".txt")


# --- OSV records --------------------------------------------------------------------------------


def _osv_seeds() -> list[Case]:
    from tests.vulns.records import REQUESTS_GHSA, REQUESTS_PYSEC, TORCH_WEIGHTS_ONLY

    records = (TORCH_WEIGHTS_ONLY, REQUESTS_PYSEC, REQUESTS_GHSA)
    return [(f"{r['id']}.json", json.dumps(r, indent=1).encode()) for r in records]


def _osv(case: Case, workdir: Path) -> None:
    from pytest_mlsupply.vulns.model import DatabaseError
    from pytest_mlsupply.vulns.offline import OfflineDatabase

    snapshot = workdir / "osv"
    snapshot.mkdir()
    (snapshot / _file_name(case[0])).write_bytes(case[1])
    database = OfflineDatabase(snapshot)
    try:
        database.state  # noqa: B018 - the digest the result cache keys on
        for package, version in (("torch", "2.5.1"), ("requests", "2.0.0"), ("torch", "2.6.0")):
            for advisory in database.lookup(package, version):
                assert advisory.id, advisory
    except DatabaseError as exc:
        _names(str(exc), str(snapshot))


# --- the table ----------------------------------------------------------------------------------

_SCAN = "engines.scanner.scan_file → "

TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        _artifact(
            "pickle",
            _SCAN + "formats.pickles.scan_pickle_file (engines/pickle/ VM)",
            ("pickle", "joblib", "pytorch-legacy"),
            "model.pkl",
            "model.joblib",
            "pytorch_model.bin",
        ),
        _artifact(
            "torch",
            _SCAN + "formats.torch.scan_torch_zip / scan_torch_tar",
            ("pytorch-zip", "torchscript", "pytorch-tar"),
            "model.pt",
            "model.pth",
        ),
        _artifact(
            "zip",
            _SCAN + "formats.archives.scan_zip (engines/ziparchive.py, engines/containers.py)",
            ("zip", "skops"),
            "archive.zip",
            "model.skops",
        ),
        _artifact(
            "tar",
            _SCAN + "formats.archives.scan_tar (tarfile via engines/containers.py)",
            ("tar", "nemo"),
            "archive.tar",
            "model.nemo",
        ),
        _artifact(
            "7z", _SCAN + "formats.archives.scan_7z (py7zr)", ("7z",), "archive.7z", "model.7z"
        ),
        _artifact(
            "compressed",
            _SCAN + "formats.compressed.scan_compressed (engines/decompress.py)",
            ("gzip", "bz2", "xz", "lzma", "zlib", "lz4", "zstd", "joblib-zfile"),
            "model.pkl.gz",
            "model.joblib.z",
            "model.zst",
        ),
        _artifact(
            "safetensors",
            _SCAN + "formats.safetensors.scan_safetensors",
            ("safetensors",),
            "model.safetensors",
        ),
        _artifact("gguf", _SCAN + "formats.gguf.scan_gguf", ("gguf",), "model.gguf"),
        _artifact(
            "onnx",
            _SCAN + "formats.onnx.scan_onnx (engines/protobuf.py)",
            ("onnx",),
            "model.onnx",
        ),
        _artifact(
            "savedmodel",
            _SCAN + "formats.savedmodel.scan_savedmodel (engines/protobuf.py)",
            ("tf-saved-model", "tf-graph-def", "keras-metadata"),
            "saved_model.pb",
        ),
        _artifact(
            "keras",
            _SCAN + "formats.keras.scan_keras_archive / scan_hdf5 (walk_keras_config)",
            ("keras-v3", "hdf5"),
            "model.keras",
            "model.h5",
        ),
        _artifact(
            "numpy",
            _SCAN + "formats.numpy.scan_npy / scan_npz (parse_npy_header)",
            ("numpy-npy", "numpy-npz"),
            "array.npy",
            "arrays.npz",
        ),
        _artifact(
            "hf-json",
            _SCAN + "formats.text.scan_json_document → formats.hf_json (tokenizer files, configs)",
            ("json",),
            "tokenizer.json",
            "tokenizer_config.json",
            "config.json",
        ),
        Target(
            "yaml-config",
            _SCAN + "formats.text.scan_text → formats.yaml_config.scan_yaml_text",
            _yaml_seeds,
            ("config.yaml", "MLmodel", "hparams.yaml"),
            _scan,
            # PyYAML's pure-Python parser costs ~10 µs a token (linear): a 500 kB config of
            # short lines takes seconds, which is the time budget's business, not a hang.
            max_bytes=64 << 10,
        ),
        Target(
            "templates",
            "engines.templates.analyse_template",
            _template_seeds,
            ("chat_template.jinja",),
            _template,
        ),
        Target(
            "manifest",
            "manifest.loader.load_manifest",
            _manifest_seeds,
            ("mlsupply.yaml",),
            _manifest,
        ),
        Target(
            "requirements",
            "sources.requirements.from_requirements_file",
            _requirements_seeds,
            ("requirements.txt",),
            _requirements,
            # pip-requirements-parser builds an optparse parser per line: ~1 ms a line (a parse
            # stops past 5,000 requirement lines; see docs/fuzzing.md). 64 kB of random bytes
            # is ~10,000 lines at most.
            max_bytes=64 << 10,
        ),
        Target(
            "osv",
            "vulns.offline.OfflineDatabase.lookup",
            _osv_seeds,
            ("record.json",),
            _osv,
        ),
    )
}
