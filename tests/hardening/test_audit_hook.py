"""Safe by construction: the whole test corpus scanned under an audit hook.

A subprocess (an audit hook cannot be removed) installs :mod:`tests.hardening.audit_probe`
and scans every sample the corpus builds, plus artifacts that name a module nobody has
(:mod:`tests.hardening.planted`), through ``scan_file`` and through the real
``pytest --mlsupply`` flow. Inside the scanner and the check items, nothing may run code
(``exec``, ``compile`` to code, ``marshal``), start a process, open a socket, unpickle
(``pickle.find_class``), call into ``ctypes`` or import a module other than the package's own,
an explicit list of the standard library's and the scanner's declared dependencies'. No planted
name may reach the import system as an import, and no payload's canary may appear.

The self-tests run the same probe over a scanner made unsafe on purpose (an engine that
unpickles, imports a name it read and compiles code) and show each is caught.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

import tests.corpus as corpus_package
from tests.corpus import Sample, all_samples
from tests.hardening.audit_probe import LOADING_ONLY, LOG_VARIABLE, NEVER
from tests.hardening.planted import new_token, write_planted

REPO = Path(__file__).resolve().parents[2]


#: The standard library modules the scanner and check items may import while they run (lazy
#: imports, and the modules those import). ``msvcrt``, ``_winapi``, ``winreg`` and ``nt``:
#: platform probes of dependencies, absent here. A new lazy import lands here with a reason.
_STDLIB_NAMES = """
    _bz2 _compression _contextvars _csv _ctypes _decimal _heapq _locale _lzma _posixsubprocess
    _queue _socket _ssl _string _struct _winapi _zoneinfo array atexit base64 bisect bz2
    calendar codecs contextvars copy csv ctypes dataclasses datetime decimal difflib email
    encodings enum fcntl fnmatch functools glob grp gzip hashlib heapq hmac importlib inspect io
    ipaddress itertools json keyword locale logging lzma mmap msvcrt multiprocessing nt numbers
    operator pickletools platform pprint pwd queue quopri random re resource secrets select
    selectors shlex shutil signal socket ssl stat string stringprep struct subprocess tarfile
    tempfile textwrap threading token tokenize traceback typing unicodedata urllib uuid warnings
    weakref winreg zipfile zlib zoneinfo
"""
STDLIB = frozenset(_STDLIB_NAMES.split())
#: Top-level modules of the scanner's declared dependencies (pyproject ``dependencies``) and
#: what they bring: imported by the code that uses them, never by a name an artifact gave.
DEPENDENCIES = frozenset(
    {
        "jinja2",
        "markupsafe",  # templates: parsed by the sandbox's parser, never rendered
        "safetensors",
        "numpy",  # safetensors' own header check (safe_open, framework numpy)
        "zstandard",
        "lz4",
        "backports",
        "compression",  # compressed streams
        # py7zr (7z archives) and its codecs and helpers:
        "py7zr",
        "Cryptodome",
        "bcj",
        "brotli",
        "_brotli",
        "inflate64",
        "multivolumefile",
        "pyppmd",
        "psutil",
        "texttable",
        "cffi",
        "_cffi_backend",
        "pycparser",
        "yaml",
        "_yaml",  # YAML configs (safe loader)
        "packageurl",
        "jsonschema_rs",
        "cyclonedx",
        "lxml",  # the BOM, prepared by an item
        "license_expression",
        "packaging",
    }
)
ALLOWED_IMPORTS = STDLIB | DEPENDENCIES | {"pytest_mlsupply"}


def test_the_allowlists_name_standard_modules_and_dependencies_as_they_say() -> None:
    assert sorted(STDLIB - sys.stdlib_module_names) == []
    assert sorted(DEPENDENCIES & sys.stdlib_module_names) == []


def _is(event: str, families: Iterable[str]) -> bool:
    return any(event == f or (f.endswith(".") and event.startswith(f)) for f in families)


def violations(records: list[dict[str, Any]], token: str) -> list[str]:
    """What the records show happening inside the scanner that must not, one line each."""
    found = []
    for record in records:
        event, name = record["event"], str(record.get("name"))
        where = " <- ".join(record["where"][:3])
        line = f"{record['scope']}: {event} {record['detail']} at {where}"
        if _is(event, NEVER):
            found.append(line)
        elif _is(event, LOADING_ONLY):
            if not (record["in_import"] or record["ast_only"]):
                found.append(line)
        elif event in ("import", "import.find_spec", "import.lookup"):
            # A lookup too: sys.meta_path's finders are code the environment installed
            # (setuptools' distutils shim clears sys.modules when asked for "pip"), so no name
            # from an artifact is asked of them; the pickle engine asks the path's own finder.
            if token in name or name.partition(".")[0] not in ALLOWED_IMPORTS:
                found.append(line)
        elif token in record["detail"]:
            found.append(line)  # a planted name reached an event no rule above covers
    return found


def read_records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def probe_env(log: Path, token: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env[LOG_VARIABLE] = str(log)
    env["MLSUPPLY_AUDIT_TOKENS"] = token
    env.pop("PYTEST_ADDOPTS", None)
    return env


def build_corpus(root: Path, token: str) -> Path:
    """Every corpus sample under ``root/models/corpus/corpus`` (canaries beside, outside the
    scanned tree), and the planted artifacts under ``root/models/corpus/planted``."""
    tree = root / "models" / "corpus"
    for sample in all_samples():
        canary_dir = root / "canaries" / sample.name
        canary_dir.mkdir(parents=True)
        sample.build(tree / "corpus" / sample.name, canary_dir / "canary")
    write_planted(tree / "planted", token)
    return tree


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("audit")
    token = new_token()
    return root, build_corpus(root, token), token


def family_samples(per_family: int = 2) -> list[Sample]:
    """The first samples of each corpus family module: every engine, at a fraction of the cost."""
    chosen: list[Sample] = []
    for info in sorted(pkgutil.iter_modules(corpus_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{corpus_package.__name__}.{info.name}")
        chosen += getattr(module, "SAMPLES", [])[:per_family]
    return chosen


def no_canary(root: Path) -> list[str]:
    return sorted(str(p) for p in (root / "canaries").rglob("canary"))


def test_scanning_the_whole_corpus_runs_no_code_process_socket_or_planted_import(
    corpus: tuple[Path, Path, str], tmp_path: Path
) -> None:
    root, tree, token = corpus
    log, out = tmp_path / "audit.jsonl", tmp_path / "summary.json"
    done = subprocess.run(
        [sys.executable, "-m", "tests.hardening.audit_probe", str(tree), str(out)],
        env=probe_env(log, token),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    records = read_records(log)
    assert violations(records, token) == []
    assert no_canary(root) == []
    summary: dict[str, Any] = json.loads(out.read_text())
    files = [p for p in tree.rglob("*") if p.is_file() or p.is_symlink()]
    assert len(summary) == len(files) > 500
    # The probe saw the scans (their lazy imports, the code they parse as trees)...
    assert any(r["scope"] == "scanner" and r["ast_only"] for r in records)
    assert any(r["scope"] == "scanner" and r["event"] == "import" for r in records)
    # ...and the planted names reached the scanner, as names it reports. Two files name it
    # where the scanner does not read names: a .pyc's code (it is never unmarshalled; the
    # format check fails the file as bytecode) and a Keras object outside a Keras archive.
    planted = {k: v for k, v in summary.items() if k.startswith("planted/")}
    unseen = {k for k, v in planted.items() if token not in v["text"]}
    assert len(planted) == 29
    assert unseen <= {"planted/hf/__pycache__/planted.cpython-311.pyc", "planted/keras/config.json"}


def test_pytest_mlsupply_on_a_corpus_model_runs_nothing_inside_the_check_items(
    tmp_path: Path,
) -> None:
    root, token = tmp_path, new_token()
    project = tmp_path / "project"
    model = project / "models" / "planted"
    for sample in family_samples():
        (root / "canaries" / sample.name).mkdir(parents=True)
        sample.build(model / "corpus" / sample.name, root / "canaries" / sample.name / "canary")
    write_planted(model / "planted", token)
    (project / "mlsupply.yaml").write_text(
        "version: 1\nmodels:\n  - name: planted\n    path: models/planted\n"
    )
    log = tmp_path / "audit.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--mlsupply",
            "-p",
            "tests.hardening.audit_probe",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rN",
        ],
        env=probe_env(log, token),
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # findings fail
    assert "failed" in done.stdout.splitlines()[-1]
    assert f"module '{token}'" in done.stdout  # the items reported the planted names
    records = read_records(log)
    assert violations(records, token) == []
    assert no_canary(root) == []
    scopes = {r["scope"] for r in records}
    assert scopes == {"scanner", "item"}, scopes


# --- the probe can fail: a scanner made unsafe on purpose ------------------------------------

UNSAFE_ENGINE = """
import ast, importlib, pickle, threading
from pathlib import Path
from tests.hardening import audit_probe  # installs the hook ($MLSUPPLY_AUDIT_LOG)
from pytest_mlsupply.engines import registry
from pytest_mlsupply.engines.identification import Format
from pytest_mlsupply.engines.scanner import scan_file

def unsafe(blob, ident, ctx):
    data = Path(blob.path).read_bytes()
    if blob.name == "threaded.pkl":  # handed to a thread: still inside the scan
        worker = threading.Thread(target=pickle.loads, args=(data,))
        worker.start()
        worker.join()
    elif blob.name.endswith(".pkl"):
        try:
            pickle.loads(data)  # what the scanner must never do
        except ImportError:
            pass
    return []

def unsafe_text(blob, ident, ctx):
    text = Path(blob.path).read_text()
    if blob.name == "module.txt":
        try:
            importlib.import_module(text.strip())  # a name read from the artifact
        except ImportError:
            pass
    if blob.name == "code.txt":
        ast.parse(text)  # a tree only: allowed
        compile(text, blob.name, "exec")  # a code object: caught
    return []

import sys
registry.SCANNERS[Format.PICKLE] = unsafe
registry.SCANNERS[Format.TEXT] = unsafe_text
registry.SCANNERS[Format.UNKNOWN] = unsafe_text
for path in sorted(Path(sys.argv[1]).iterdir()):
    scan_file(path, path.name)
"""


def test_the_probe_catches_an_engine_that_unpickles_imports_a_read_name_or_compiles_code(
    tmp_path: Path,
) -> None:
    token = new_token()
    canary = tmp_path / "canary"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    # builtins.open(<canary>, "w"): harmless, and proof the payload ran.
    (artifacts / "touch.pkl").write_bytes(f"cbuiltins\nopen\n(V{canary}\nVw\ntR.".encode())
    (artifacts / "planted.pkl").write_bytes(f"c{token}\nrun\n(tR.".encode())
    (artifacts / "threaded.pkl").write_bytes(b"cbuiltins\nlen\n(S'ab'\ntR.")
    (artifacts / "module.txt").write_text(f"{token}\n")
    (artifacts / "code.txt").write_text("x = 1\n")
    log = tmp_path / "audit.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", UNSAFE_ENGINE, str(artifacts)],
        env=probe_env(log, token),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert canary.exists(), "the unsafe engine did run the payload"
    caught = violations(read_records(log), token)
    text = "\n".join(caught)
    assert "scanner: pickle.find_class ('builtins', 'open')" in text
    assert "scanner: pickle.find_class ('builtins', 'len')" in text  # from the thread
    assert f"scanner: import.find_spec {token}" in text  # importlib.import_module's route
    assert f"scanner: import '{token}' at" in text  # the unpickler's __import__
    assert "scanner: compile filename='code.txt'" in text
    assert len([c for c in caught if " compile " in c]) == 1, text  # ast.parse passes
