"""MLflow model directories: what an ``MLmodel`` file makes ``mlflow.<flavor>.load_model`` run.

``MLmodel`` is YAML, read with the one YAML reader of
:mod:`pytest_mlsupply.engines.formats.yaml_config` (its python tags and ``_target_`` keys are
reported there). Here the flavors are read as MLflow reads them (``mlflow.pyfunc.load_model``,
``mlflow.utils.model_utils._add_code_from_conf_to_system_path``):

* ``python_function.loader_module``: MLflow imports it and calls its ``_load_pyfunc``. MLflow's
  own flavors (``mlflow.sklearn``, ``mlflow.pyfunc.model``...) are how every saved model loads
  and are not reported; any other module is the model's own code (MLS-MLF-001, high);
* ``code`` in any flavor: the directory is prepended to ``sys.path`` before anything is imported,
  so its files shadow installed modules (MLS-MLF-002, medium: ``code_paths`` is an ordinary
  feature, but the reader must know which files run);
* ``model_code_path`` (models from code): MLflow executes the file (MLS-MLF-003, high);
* ``python_model`` (a cloudpickled ``PythonModel``): unpickling rebuilds the class and its
  functions from bytecode (MLS-MLF-004, high); the pickle engine reports what it runs;
* a flavor's ``pickled_model`` / ``model_data`` / ``data`` saved with pickle or cloudpickle is
  unpickled at load (MLS-MLF-005, low; the pickle engine judges the file itself), and a pytorch
  flavor's ``pickle_module_name`` other than MLflow's is imported to do the unpickling
  (MLS-MLF-007, high);
* a path in a flavor that leaves the model directory (MLS-MLF-006, high).

Findings name the module or file and where it lives in the model directory (``code/loader.py``)
so the reader knows which file's own findings (MLS-CODE, MLS-PKL) to look at; those files are
scanned by their own engines as part of the directory.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator

from pytest_mlsupply.engines.blob import Blob
from pytest_mlsupply.engines.formats.yaml_config import (
    Mapping,
    Node,
    Scalar,
    YamlStream,
    merged_pairs,
)
from pytest_mlsupply.engines.pickle.policy import Verdict, decide
from pytest_mlsupply.results import Finding, Location, Severity

__all__ = ["mlmodel_findings"]

#: MLflow's own modules (and those of the packages it integrates) load models as designed.
_MLFLOW_LOADERS = ("mlflow.",)
_MLFLOW_PICKLE_MODULES = frozenset({"mlflow.pytorch.pickle_module", "pickle", "cloudpickle"})
#: Flavor keys that name a file (or directory) of the model that the flavor's loader reads.
_PATH_KEYS = ("data", "pickled_model", "model_data", "model_path", "python_model", "code")
_PICKLED_FORMATS = frozenset({"pickle", "cloudpickle"})


def mlmodel_findings(blob: Blob, stream: YamlStream) -> list[Finding]:
    """MLflow's flavors in an ``MLmodel`` document (any file whose top level has ``flavors``)."""
    findings: list[Finding] = []
    for index, document in enumerate(stream.documents):
        if blob.name != "MLmodel" and index > 0:
            break  # MLflow reads one document; a renamed file is checked for its first only
        top = _mapping(stream, document)
        if top is None:
            continue
        flavors = _mapping(stream, _get(stream, top, "flavors"))
        if flavors is None:
            continue
        for name, flavor in _items(stream, flavors):
            conf = _mapping(stream, flavor)
            if conf is not None:
                path = f"{stream.prefix(index)}flavors.{name}"
                findings += _flavor(blob, stream, name, conf, path)
    return findings


# --- reading the tree ---------------------------------------------------------------------------


def _mapping(stream: YamlStream, node: Node | None) -> Mapping | None:
    if node is None:
        return None
    resolved = stream.resolve(node)
    return resolved if isinstance(resolved, Mapping) else None


def _items(stream: YamlStream, mapping: Mapping) -> Iterator[tuple[str, Node]]:
    """Key and value of every pair MLflow's ``yaml.safe_load`` builds (``<<`` merges expanded)."""
    for key, value in merged_pairs(stream, mapping):
        resolved = stream.resolve(key)
        if isinstance(resolved, Scalar):
            yield resolved.value, value


def _get(stream: YamlStream, mapping: Mapping, key: str) -> Node | None:
    """The value of ``key`` (the last duplicate wins, as with PyYAML's constructor)."""
    found: Node | None = None
    for name, value in _items(stream, mapping):
        if name == key:
            found = value
    return found


def _text(stream: YamlStream, node: Node | None) -> tuple[str, int] | None:
    """A non-empty string value and its line; None for null, empty or a collection."""
    if node is None:
        return None
    resolved = stream.resolve(node)
    if not isinstance(resolved, Scalar) or resolved.tag not in (None, "tag:yaml.org,2002:str"):
        return None
    value = resolved.value.strip()
    if not value or value in ("null", "Null", "NULL", "~"):
        return None
    return value, node.line


def _texts(stream: YamlStream, node: Node | None) -> list[tuple[str, int]]:
    """A string, or each string of a list (``code`` may be either in old MLmodel files)."""
    if node is None:
        return []
    resolved = stream.resolve(node)
    if isinstance(resolved, Mapping):
        return []
    if not isinstance(resolved, Scalar):
        found = [_text(stream, item) for item in getattr(resolved, "items", [])]
        return [item for item in found if item is not None]
    one = _text(stream, node)
    return [one] if one is not None else []


# --- the flavors ----------------------------------------------------------------------------------


def _flavor(blob: Blob, stream: YamlStream, name: str, conf: Mapping, path: str) -> list[Finding]:
    findings: list[Finding] = []
    code_dirs = [value for value, _ in _texts(stream, _get(stream, conf, "code"))]
    for key in _PATH_KEYS:
        for value, line in _texts(stream, _get(stream, conf, key)):
            if _escapes(value):
                findings.append(_outside(blob, f"{path}.{key}", line, value))
    for value, line in _texts(stream, _get(stream, conf, "code")):
        findings.append(_code_dir(blob, f"{path}.code", line, value))
    loader = _text(stream, _get(stream, conf, "loader_module"))
    if loader is not None and not loader[0].startswith(_MLFLOW_LOADERS):
        findings.append(_loader(blob, f"{path}.loader_module", loader, code_dirs))
    model_code = _text(stream, _get(stream, conf, "model_code_path"))
    if model_code is not None:
        findings.append(_model_code(blob, f"{path}.model_code_path", model_code))
    python_model = _text(stream, _get(stream, conf, "python_model"))
    if python_model is not None:
        findings.append(_python_model(blob, f"{path}.python_model", python_model))
    serialization = _text(stream, _get(stream, conf, "serialization_format"))
    if serialization is not None and serialization[0] in _PICKLED_FORMATS:
        for key in ("pickled_model", "model_data", "data"):
            target = _text(stream, _get(stream, conf, key))
            if target is not None:
                findings.append(_pickled(blob, f"{path}.{key}", target, serialization[0], name))
                break
    pickle_module = _text(stream, _get(stream, conf, "pickle_module_name"))
    if pickle_module is not None and pickle_module[0] not in _MLFLOW_PICKLE_MODULES:
        findings.append(_pickle_module(blob, f"{path}.pickle_module_name", pickle_module))
    return findings


def _escapes(value: str) -> bool:
    """Whether a flavor path leaves the model directory (MLflow joins it onto the directory)."""
    if value.startswith(("/", "\\")) or (len(value) > 1 and value[1] == ":"):
        return True
    normal = posixpath.normpath(value.replace("\\", "/"))
    return normal == ".." or normal.startswith("../")


def _module_files(module: str, code_dirs: list[str]) -> list[str]:
    """Where an imported module would be found in the model directory's code paths."""
    relative = module.replace(".", "/")
    return [
        posixpath.join(directory, name)
        for directory in code_dirs
        for name in (f"{relative}.py", f"{relative}/__init__.py")
    ]


def _location(blob: Blob, key_path: str, line: int) -> Location:
    return blob.location(key_path=key_path, line=line)


def _loader(blob: Blob, key_path: str, loader: tuple[str, int], code_dirs: list[str]) -> Finding:
    module, line = loader
    decision = decide(module.rsplit(".", 1)[0], module.rsplit(".", 1)[-1])
    severity = Severity.CRITICAL if decision.verdict >= Verdict.SUSPICIOUS else Severity.HIGH
    files = _module_files(module, code_dirs)
    where = (
        f"; it resolves to {' or '.join(files)} in the model directory (see that file's own "
        "findings)"
        if files
        else "; no code path is declared, so it is imported from the environment"
    )
    return Finding(
        rule="MLS-MLF-001",
        severity=severity,
        category="code-execution",
        title=f"MLflow imports the model's loader module {module} at load",
        location=_location(blob, key_path, line),
        evidence=f"loader_module {module!r}{where}",
        why="mlflow.pyfunc.load_model imports loader_module and calls its _load_pyfunc: the "
        "module's code runs with the loading process's privileges",
        remediation="review the loader module before loading the model, or re-save the model "
        "with a built-in MLflow flavor",
        cwe="CWE-94",
    )


def _code_dir(blob: Blob, key_path: str, line: int, directory: str) -> Finding:
    return Finding(
        rule="MLS-MLF-002",
        severity=Severity.MEDIUM,
        category="code-execution",
        title=f"MLflow puts the model's code directory {directory} on sys.path at load",
        location=_location(blob, key_path, line),
        evidence=f"code {directory!r}: its Python files are importable ahead of installed packages",
        why="a module in the code directory named like an installed one (json, numpy, a "
        "dependency) is imported instead of it by everything that runs after loading",
        remediation=f"review every file under {directory} (their own findings are reported "
        "with them); ship only the modules the model needs",
        cwe="CWE-427",
    )


def _model_code(blob: Blob, key_path: str, value: tuple[str, int]) -> Finding:
    path, line = value
    return Finding(
        rule="MLS-MLF-003",
        severity=Severity.HIGH,
        category="code-execution",
        title=f"MLflow model from code: loading runs {path}",
        location=_location(blob, key_path, line),
        evidence=f"model_code_path {path!r} (see that file's own findings)",
        why="a models-from-code model is a Python file that MLflow executes to build the model "
        "each time it is loaded",
        remediation=f"review {path} as you would any code before loading the model",
        cwe="CWE-94",
    )


def _python_model(blob: Blob, key_path: str, value: tuple[str, int]) -> Finding:
    path, line = value
    return Finding(
        rule="MLS-MLF-004",
        severity=Severity.HIGH,
        category="code-execution",
        title=f"MLflow python model is a cloudpickled object: loading runs the code in {path}",
        location=_location(blob, key_path, line),
        evidence=f"python_model {path!r} is unpickled with cloudpickle (its MLS-PKL findings "
        "say what it imports and calls)",
        why="cloudpickle rebuilds the PythonModel subclass and its functions from bytecode held "
        "in the file; unpickling it runs whatever the file says",
        remediation="load only python models whose source you have reviewed; prefer saving "
        "the model from code (a reviewed .py file) or with a built-in flavor",
        cwe="CWE-502",
    )


def _pickled(blob: Blob, key_path: str, value: tuple[str, int], fmt: str, flavor: str) -> Finding:
    path, line = value
    return Finding(
        rule="MLS-MLF-005",
        severity=Severity.LOW,
        category="unsafe-serialization",
        title=f"MLflow {flavor} model loads by unpickling {path}",
        location=_location(blob, key_path, line),
        evidence=f"serialization_format {fmt!r}; {path!r} is scanned by the pickle engine",
        why="unpickling runs what the pickle says; the file's own MLS-PKL findings show whether "
        "it does more than rebuild the estimator",
        remediation="save the model with serialization_format='skops' (MLflow's safer default)",
        cwe="CWE-502",
    )


def _pickle_module(blob: Blob, key_path: str, value: tuple[str, int]) -> Finding:
    module, line = value
    return Finding(
        rule="MLS-MLF-007",
        severity=Severity.HIGH,
        category="code-execution",
        title=f"MLflow imports {module} to unpickle the model",
        location=_location(blob, key_path, line),
        evidence=f"pickle_module_name {module!r} (MLflow writes mlflow.pytorch.pickle_module)",
        why="mlflow.pytorch.load_model imports pickle_module_name and hands it to torch.load: "
        "the module is code, and it decides what unpickling runs",
        remediation="re-save the model with MLflow's default pickle module",
        cwe="CWE-94",
    )


def _outside(blob: Blob, key_path: str, line: int, value: str) -> Finding:
    return Finding(
        rule="MLS-MLF-006",
        severity=Severity.HIGH,
        category="path-traversal",
        title="MLflow flavor points outside the model directory",
        location=_location(blob, key_path, line),
        evidence=f"path {value!r}",
        why="MLflow joins the path onto the model directory; an absolute or '..' path makes "
        "the loader read (or import) a file the model does not contain and that was not "
        "scanned",
        remediation="keep every flavor path relative and inside the model directory",
        cwe="CWE-22",
    )
