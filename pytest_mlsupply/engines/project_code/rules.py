"""The rule catalogue (MLS-LOAD-0NN) and one judge per rule.

Each judge receives a call already resolved by :class:`~.names.Names` (its dotted name, its
arguments with ``functools.partial``'s and literal ``*``/``**`` merged in) and says whether it is
a finding, at which severity, with which deciding argument. Assignments that switch TLS
verification off are judged apart (:func:`judge_assignment`): they are not calls.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass

from pytest_mlsupply.results import Severity

from .names import UNKNOWN, Arguments, Callee, Names

__all__ = [
    "CATEGORY",
    "EXCLUDE_HINT",
    "JUDGED",
    "RULES",
    "STAR_NAMES",
    "CodeRule",
    "Verdict",
    "judge_assignment",
    "judge_call",
    "judge_reference",
    "judge_value",
]

CATEGORY = "unsafe-loading"

#: How an error's fix names leaving a file out: the gate's key. ``mlsupply code`` shows its
#: own option in its place (``code_cli.py``).
EXCLUDE_HINT = "under code.exclude"


@dataclass(frozen=True)
class CodeRule:
    """One rule of the catalogue: what every finding of it says, whatever the line."""

    id: str
    severity: Severity
    """The rule's usual severity; a finding may say less (an unconfirmable value) or more."""
    cwe: str
    title: str
    why: str
    fix: str


def _rule(id: str, severity: Severity, cwe: str, title: str, why: str, fix: str) -> CodeRule:
    return CodeRule(id, severity, cwe, title, why, fix)


RULES: dict[str, CodeRule] = {
    r.id: r
    for r in (
        _rule(
            "MLS-LOAD-001",
            Severity.HIGH,
            "CWE-502",
            "torch.load without weights_only=True",
            "torch.load unpickles the checkpoint: without weights_only=True a crafted file runs "
            "code on load (torch < 2.6 defaults to False, and TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 "
            "turns the newer default off)",
            "pass weights_only=True (or load safetensors with safetensors.torch.load_file)",
        ),
        _rule(
            "MLS-LOAD-002",
            Severity.HIGH,
            "CWE-502",
            "pickle-based load of data",
            "pickle, cloudpickle, dill, joblib and pandas.read_pickle run whatever the file's "
            "opcodes say: loading an untrusted file is running its code",
            "store data in a format without code (safetensors, JSON, Parquet, .npy without "
            "pickles); load pickles only from files you wrote and verified (sha256 pin)",
        ),
        _rule(
            "MLS-LOAD-003",
            Severity.HIGH,
            "CWE-502",
            "numpy.load with allow_pickle=True",
            "allow_pickle=True lets an .npy/.npz file carry pickled objects, which run code "
            "when loaded",
            "leave allow_pickle at its default (False); store object arrays another way",
        ),
        _rule(
            "MLS-LOAD-004",
            Severity.HIGH,
            "CWE-494",
            "hub download without a pinned revision",
            "without revision=<40-hex commit> the download takes whatever the branch points "
            "at today: a compromised or changed repository changes what you load",
            "pass revision='<40-hex commit sha>' (the commit you reviewed)",
        ),
        _rule(
            "MLS-LOAD-005",
            Severity.HIGH,
            "CWE-94",
            "trust_remote_code=True",
            "trust_remote_code=True imports and runs the repository's Python code on load",
            "drop trust_remote_code (use a model class the library ships), or pin the revision "
            "and review the remote code at that commit",
        ),
        _rule(
            "MLS-LOAD-006",
            Severity.HIGH,
            "CWE-502",
            "Keras unsafe deserialization enabled",
            "safe_mode=False (or enable_unsafe_deserialization) lets a .keras file's lambda "
            "layers carry Python bytecode that runs on load",
            "keep safe_mode=True (the default); rebuild Lambda layers in code",
        ),
        _rule(
            "MLS-LOAD-007",
            Severity.HIGH,
            "CWE-502",
            "yaml.load without a safe loader",
            "PyYAML's Loader, UnsafeLoader (and FullLoader, less so) build arbitrary Python "
            "objects from tags such as !!python/object/apply",
            "use yaml.safe_load, or Loader=yaml.SafeLoader (CSafeLoader)",
        ),
        _rule(
            "MLS-LOAD-008",
            Severity.HIGH,
            "CWE-1336",
            "non-sandboxed jinja2 renders a non-literal template",
            "a template that comes with a model (tokenizer.chat_template) can reach Python "
            "objects through jinja2's attribute access unless rendered in a sandbox",
            "render with jinja2.sandbox.ImmutableSandboxedEnvironment().from_string(...)",
        ),
        _rule(
            "MLS-LOAD-009",
            Severity.HIGH,
            "CWE-95",
            "eval/exec of non-literal data",
            "eval, exec and compile run their argument as Python: data read from a model's "
            "configuration becomes code",
            "read data as data (json, or the ast module's literal_eval); never evaluate it",
        ),
        _rule(
            "MLS-LOAD-010",
            Severity.HIGH,
            "CWE-295",
            "TLS verification disabled",
            "without certificate verification anyone on the network path can swap the model "
            "or data being downloaded",
            "keep verification on; point REQUESTS_CA_BUNDLE/SSL_CERT_FILE at your CA bundle "
            "if a proxy re-signs traffic",
        ),
        _rule(
            "MLS-LOAD-011",
            Severity.HIGH,
            "CWE-494",
            "torch.hub.load of an unpinned repository",
            "torch.hub.load imports the repository's hubconf.py: an unpinned repo runs "
            "whatever its default branch holds today",
            "pin the repo as 'owner/repo:<40-hex commit>' (or load with source='local' from "
            "a reviewed checkout)",
        ),
        _rule(
            "MLS-LOAD-012",
            Severity.LOW,
            "CWE-502",
            "TorchScript/SavedModel load of a non-literal path",
            "torch.jit.load and tf.saved_model.load run serialized graphs (no pickles, but "
            "custom ops and file reads): where the path comes from matters",
            "load only verified artifacts (sha256 pin) from paths you control",
        ),
        _rule(
            "MLS-LOAD-013",
            Severity.MEDIUM,
            "CWE-710",
            "suppression comment that suppresses nothing (no reason, no known rule, or two "
            "calls of its rule on its line)",
            "a suppression must say which rule it silences and why: this one silences nothing",
            "write '# mlsupply: ignore[MLS-LOAD-0NN] -- <why this is safe>'",
        ),
    )
}


@dataclass
class Verdict:
    """One finding a judge returns: the rule, the severity and the deciding detail."""

    rule: str
    severity: Severity
    detail: str


_HEX40 = re.compile(r"[0-9a-f]{40}")
# A literal hub id: ``name`` or ``org/name`` (the Hub's own character set).
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
# load_dataset's packaged builders read local files: not downloads of a repository.
_PACKAGED = frozenset(
    {"csv", "json", "parquet", "text", "arrow", "pandas", "imagefolder", "audiofolder"}
    | {"videofolder", "webdataset", "sql", "generator", "xml", "cache"}
)

# load_state_dict_from_url/load_url torch.load the download (weights_only defaults to False).
_TORCH_LOAD = frozenset(
    {"torch.load", "torch.serialization.load", "torch.hub.load_state_dict_from_url"}
    | {"torch.utils.model_zoo.load_url"}
)
_PICKLE = frozenset(
    f"{module}.{name}"
    for module in ("pickle", "_pickle", "pickle5", "cloudpickle", "dill")
    for name in ("load", "loads", "Unpickler", "_load", "_loads", "_Unpickler")
) | frozenset(
    {"joblib.load", "joblib.numpy_pickle.load", "pandas.read_pickle"}
    | {"pandas.io.pickle.read_pickle", "shelve.open", "shelve.DbfilenameShelf", "shelve.Shelf"}
)
_NUMPY_LOAD = frozenset({"numpy.load", "numpy.lib.npyio.load"})
_HF_DOWNLOAD = frozenset(
    {
        "huggingface_hub.hf_hub_download",
        "huggingface_hub.file_download.hf_hub_download",
        "huggingface_hub.snapshot_download",
        "huggingface_hub._snapshot_download.snapshot_download",
        "hf_hub_download",
        "snapshot_download",
    }
)
_PIPELINE = frozenset({"transformers.pipeline", "transformers.pipelines.pipeline"})
_LOAD_DATASET = frozenset({"datasets.load_dataset", "datasets.load.load_dataset", "load_dataset"})
_KERAS_LOAD = frozenset(
    f"{root}.{path}"
    for root in ("keras", "tensorflow.keras", "tf_keras")
    for path in ("models.load_model", "saving.load_model", "saving.saving_api.load_model")
)
_KERAS_UNSAFE = frozenset(
    f"{root}.{path}"
    for root in ("keras", "tensorflow.keras", "tf_keras")
    for path in ("config.enable_unsafe_deserialization", "saving.enable_unsafe_deserialization")
)
_YAML_LOAD = frozenset({"yaml.load", "yaml.load_all"})
_YAML_UNSAFE = frozenset({"yaml.unsafe_load", "yaml.unsafe_load_all"})
_YAML_FULL = frozenset({"yaml.full_load", "yaml.full_load_all"})
_YAML_SAFE_LOADERS = frozenset(
    f"yaml.{module}{name}"
    for module in ("", "loader.", "cyaml.")
    for name in ("SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader")
)
_YAML_FULL_LOADERS = frozenset(
    f"yaml.{module}{name}"
    for module in ("", "loader.", "cyaml.")
    for name in ("FullLoader", "CFullLoader")
)
_YAML_UNSAFE_LOADERS = frozenset(
    f"yaml.{module}{name}"
    for module in ("", "loader.", "cyaml.")
    for name in ("Loader", "UnsafeLoader", "CLoader", "CUnsafeLoader")
)
_JINJA_TEMPLATE = frozenset({"jinja2.Template", "jinja2.environment.Template"})
_JINJA_SANDBOX = frozenset(
    {
        "jinja2.sandbox.SandboxedEnvironment()",
        "jinja2.sandbox.ImmutableSandboxedEnvironment()",
    }
)
_EVAL = frozenset(f"{m}{n}" for m in ("", "builtins.") for n in ("eval", "exec", "compile"))
_TORCH_HUB = frozenset(f"torch.hub.{n}" for n in ("load", "list", "help"))
_GRAPH_LOAD = frozenset(
    {
        "torch.jit.load",
        "tensorflow.saved_model.load",
        "tensorflow.compat.v2.saved_model.load",
        "tensorflow.keras.models.load_model",
    }
)
_HTTP_ROOTS = frozenset({"requests", "httpx", "urllib3", "aiohttp"})
_HTTP_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "request", "send", "stream"}
)
_CA_VARIABLES = frozenset({"CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"})

#: Names ``from module import *`` may bring in that a rule judges.
STAR_NAMES = frozenset(
    _TORCH_LOAD
    | _PICKLE
    | _NUMPY_LOAD
    | _HF_DOWNLOAD
    | _PIPELINE
    | _LOAD_DATASET
    | _KERAS_LOAD
    | _KERAS_UNSAFE
    | _YAML_LOAD
    | _YAML_UNSAFE
    | _YAML_FULL
    | _JINJA_TEMPLATE
    | _TORCH_HUB
    | _GRAPH_LOAD
    | {"ssl._create_unverified_context", "ssl.CERT_NONE"}
)

#: Positional parameters of the callees whose arguments decide (from their signatures).
SIGNATURES: dict[str, tuple[str, ...]] = {
    "torch.load": ("f", "map_location", "pickle_module"),
    "numpy.load": ("file", "mmap_mode", "allow_pickle", "fix_imports", "encoding"),
    "yaml.load": ("stream", "Loader"),
    "keras.load_model": ("filepath", "custom_objects", "compile", "safe_mode"),
    "torch.hub.load": ("repo_or_dir", "model"),
    "hf_hub_download": ("repo_id", "filename"),
    "snapshot_download": ("repo_id",),
    "pipeline": ("task", "model", "config", "tokenizer"),
    "load_dataset": ("path", "name", "data_dir", "data_files", "split"),
    "from_pretrained": ("pretrained_model_name_or_path",),
}


def _position(signature: str, name: str) -> int | None:
    params = SIGNATURES[signature]
    return params.index(name) if name in params else None


Judge = Callable[[str, Callee, Arguments, ast.Call, Names], list[Verdict]]


def _arg(args: Arguments, signature: str, name: str) -> ast.expr | None:
    return args.get(name, _position(signature, name))


def _show(names: Names, node: ast.expr | None) -> str:
    """``False (from WEIGHTS_ONLY)`` or the expression's source, for the evidence."""
    if node is None:
        return "absent"
    value = names.value(node)
    if value is not UNKNOWN:
        return f"{value!r}{names.origin(node)}"
    return f"{ast.unparse(node)} (not a constant)"


def _torch_load(
    name: str, callee: Callee, args: Arguments, call: ast.Call, names: Names
) -> list[Verdict]:
    node = args.get("weights_only")
    value = names.value(node)
    if value is True:
        return []
    if node is None and args.maybe("weights_only"):
        detail = "weights_only may come from **kwargs the check cannot read"
    elif node is None:
        detail = (
            "weights_only not given: unsafe on torch < 2.6 and wherever "
            "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set"
        )
    elif value is UNKNOWN:
        detail = f"weights_only={_show(names, node)}, not provably True"
    else:
        detail = f"weights_only={_show(names, node)}"
    return [Verdict("MLS-LOAD-001", Severity.HIGH, detail)]


def _pickle(
    name: str, callee: Callee, args: Arguments, call: ast.Call, names: Names
) -> list[Verdict]:
    return [Verdict("MLS-LOAD-002", Severity.HIGH, f"{name} deserializes with pickle")]


def _numpy_load(
    name: str, callee: Callee, args: Arguments, call: ast.Call, names: Names
) -> list[Verdict]:
    node = _arg(args, "numpy.load", "allow_pickle")
    value = names.value(node)
    if node is None and args.maybe("allow_pickle", _position("numpy.load", "allow_pickle")):
        return [
            Verdict("MLS-LOAD-003", Severity.MEDIUM, "allow_pickle may come from *args/**kwargs")
        ]
    if node is None or value is False or value is None:
        return []
    if value is UNKNOWN:
        return [
            Verdict(
                "MLS-LOAD-003",
                Severity.MEDIUM,
                f"allow_pickle={_show(names, node)}, not provably False",
            )
        ]
    if not value:
        return []
    return [Verdict("MLS-LOAD-003", Severity.HIGH, f"allow_pickle={_show(names, node)}")]


def _hub(name: str, callee: Callee, args: Arguments, call: ast.Call, names: Names) -> list[Verdict]:
    if name in _PIPELINE:
        signature, repo_param = "pipeline", "model"
    elif name in _LOAD_DATASET:
        signature, repo_param = "load_dataset", "path"
    elif name.endswith("snapshot_download"):
        signature, repo_param = "snapshot_download", "repo_id"
    elif name.endswith("hf_hub_download"):
        signature, repo_param = "hf_hub_download", "repo_id"
    else:
        signature, repo_param = "from_pretrained", "pretrained_model_name_or_path"
    verdicts: list[Verdict] = []
    repo = _arg(args, signature, repo_param)
    repo_value = names.value(repo)
    unpinned: Verdict | None = None
    if repo is None and args.maybe(repo_param, _position(signature, repo_param)):
        repo_kind = "unknown"
    elif repo is None and signature == "pipeline":
        repo_kind = "default"
    elif repo is None:
        repo_kind = "unknown"
    elif isinstance(repo_value, str):
        repo_kind = "hub" if _is_hub_id(repo_value, signature) else "local"
    else:
        repo_kind = "unknown"
    if repo_kind != "local":
        revision = args.get("revision")
        revision_value = names.value(revision)
        pinned = isinstance(revision_value, str) and _HEX40.fullmatch(revision_value) is not None
        if not pinned:
            if revision is None and args.maybe("revision"):
                rev = "revision may come from **kwargs the check cannot read"
            elif revision is None:
                rev = "no revision: the default branch as it is today"
            elif revision_value is UNKNOWN:
                rev = f"revision={_show(names, revision)}, not provably a commit"
            else:
                rev = f"revision={_show(names, revision)} is not a 40-hex commit"
            if repo_kind == "hub":
                where = f"repo {repo_value!r}{names.origin(repo)}"
                severity = Severity.HIGH
            elif repo_kind == "default":
                where = "no model: the task's default model"
                severity = Severity.HIGH
            else:
                shown = ast.unparse(repo) if repo is not None else "unseen"
                where = f"repo {shown} is not a literal (a local directory loads nothing)"
                severity = Severity.MEDIUM
            if revision_value is UNKNOWN and revision is not None:
                severity = Severity.MEDIUM
            unpinned = Verdict("MLS-LOAD-004", severity, f"{name}: {where}; {rev}")
            verdicts.append(unpinned)
    trust = args.get("trust_remote_code")
    trust_value = names.value(trust)
    if trust is not None and trust_value is not False and trust_value is not None:
        if trust_value is UNKNOWN:
            verdicts.append(
                Verdict(
                    "MLS-LOAD-005",
                    Severity.MEDIUM,
                    f"{name}: trust_remote_code={_show(names, trust)}, not provably False",
                )
            )
        elif trust_value:
            severity = Severity.CRITICAL if unpinned is not None else Severity.HIGH
            also = " on an unpinned revision" if unpinned is not None else ""
            verdicts.append(
                Verdict(
                    "MLS-LOAD-005",
                    severity,
                    f"{name}: trust_remote_code={_show(names, trust)}{also}",
                )
            )
    return verdicts


def _is_hub_id(value: str, signature: str) -> bool:
    if value.startswith(("./", "../", "/", "~", ".\\")) or value in (".", ".."):
        return False
    if signature == "load_dataset" and value in _PACKAGED:
        return False
    return _HUB_ID.fullmatch(value) is not None


def _keras(
    name: str, callee: Callee, args: Arguments, call: ast.Call, names: Names
) -> list[Verdict]:
    if name in _KERAS_UNSAFE:
        return [Verdict("MLS-LOAD-006", Severity.HIGH, f"{name}() turns safe mode off")]
    node = _arg(args, "keras.load_model", "safe_mode")
    value = names.value(node)
    if node is not None and value is not UNKNOWN and not value:
        return [Verdict("MLS-LOAD-006", Severity.HIGH, f"{name}: safe_mode={_show(names, node)}")]
    if name in _GRAPH_LOAD:
        return _graph(name, callee, args, call, names)
    return []


def _yaml(
    name: str, callee: Callee, args: Arguments, call: ast.Call, names: Names
) -> list[Verdict]:
    if name in _YAML_UNSAFE:
        return [Verdict("MLS-LOAD-007", Severity.HIGH, f"{name} builds any Python object")]
    if name in _YAML_FULL:
        return [Verdict("MLS-LOAD-007", Severity.MEDIUM, f"{name} uses FullLoader")]
    node = _arg(args, "yaml.load", "Loader")
    if node is None:
        if args.maybe("Loader", 1):
            return [Verdict("MLS-LOAD-007", Severity.MEDIUM, "Loader may come from **kwargs")]
        return [Verdict("MLS-LOAD-007", Severity.HIGH, f"{name} without Loader=")]
    loader = names.resolve(node)
    if loader in _YAML_SAFE_LOADERS:
        return []
    if loader in _YAML_FULL_LOADERS:
        return [Verdict("MLS-LOAD-007", Severity.MEDIUM, f"Loader={loader}")]
    if loader in _YAML_UNSAFE_LOADERS:
        return [Verdict("MLS-LOAD-007", Severity.HIGH, f"Loader={loader}")]
    return [
        Verdict(
            "MLS-LOAD-007",
            Severity.MEDIUM,
            f"Loader={ast.unparse(node)} is not a known safe loader",
        )
    ]


def _jinja(
    name: str, callee: Callee, args: Arguments, call: ast.Call, names: Names
) -> list[Verdict]:
    source = args.get("source", 0)
    if source is None or isinstance(names.value(source), str):
        return []
    text = ast.unparse(source)
    lowered = text.lower()
    model_supplied = any(word in lowered for word in ("chat_template", "tokenizer", "config"))
    severity = Severity.HIGH if model_supplied else Severity.MEDIUM
    return [Verdict("MLS-LOAD-008", severity, f"{name} renders {text}, outside a sandbox")]


def _eval(
    name: str, callee: Callee, args: Arguments, call: ast.Call, names: Names
) -> list[Verdict]:
    node = args.get("source", 0)
    if node is None:
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
        return []
    return [Verdict("MLS-LOAD-009", Severity.HIGH, f"{name} of {ast.unparse(node)}")]


def _torch_hub(
    name: str, callee: Callee, args: Arguments, call: ast.Call, names: Names
) -> list[Verdict]:
    source_node = args.get("source")
    source = "github" if source_node is None else names.value(source_node)
    if source == "local":
        return []
    repo = _arg(args, "torch.hub.load", "repo_or_dir")
    repo_value = names.value(repo)
    trust = names.value(args.get("trust_repo"))
    trusted = "; trust_repo=True skips the prompt" if trust is True else ""
    if isinstance(repo_value, str):
        _, _, ref = repo_value.partition(":")
        if _HEX40.fullmatch(ref):
            return []
        detail = f"repo {repo_value!r}{names.origin(repo)} is not pinned to a 40-hex commit"
        return [Verdict("MLS-LOAD-011", Severity.HIGH, f"{name}: {detail}{trusted}")]
    shown = ast.unparse(repo) if repo is not None else "unseen"
    return [
        Verdict(
            "MLS-LOAD-011",
            Severity.MEDIUM,
            f"{name}: repo {shown} is not a literal, not provably pinned{trusted}",
        )
    ]


def _graph(
    name: str, callee: Callee, args: Arguments, call: ast.Call, names: Names
) -> list[Verdict]:
    path = args.get("f" if name == "torch.jit.load" else "export_dir", 0)
    if path is None or isinstance(names.value(path), str):
        return []
    return [Verdict("MLS-LOAD-012", Severity.LOW, f"{name} of {ast.unparse(path)}")]


def _tls(name: str, callee: Callee, args: Arguments, call: ast.Call, names: Names) -> list[Verdict]:
    verdicts: list[Verdict] = []
    if name == "ssl._create_unverified_context":
        return [Verdict("MLS-LOAD-010", Severity.HIGH, "an SSL context without verification")]
    verify = args.keywords.get("verify")
    if verify is not None and names.value(verify) is False:
        root = name.split(".", 1)[0] if name else ""
        if (
            root in _HTTP_ROOTS
            or callee.attr in _HTTP_METHODS
            or callee.attr in ("Session", "Client", "AsyncClient")
        ):
            verdicts.append(
                Verdict("MLS-LOAD-010", Severity.HIGH, f"{name or callee.attr}: verify=False")
            )
    cert = args.keywords.get("cert_reqs")
    if cert is not None and (
        names.value(cert) in ("CERT_NONE", "NONE", "none") or names.resolve(cert) == "ssl.CERT_NONE"
    ):
        verdicts.append(
            Verdict("MLS-LOAD-010", Severity.HIGH, f"{name or callee.attr}: cert_reqs=CERT_NONE")
        )
    return verdicts


_JUDGES: dict[str, Judge] = {
    **{n: _torch_load for n in _TORCH_LOAD},
    **{n: _pickle for n in _PICKLE},
    **{n: _numpy_load for n in _NUMPY_LOAD},
    **{n: _hub for n in _HF_DOWNLOAD | _PIPELINE | _LOAD_DATASET},
    **{n: _keras for n in _KERAS_LOAD | _KERAS_UNSAFE},
    **{n: _yaml for n in _YAML_LOAD | _YAML_UNSAFE | _YAML_FULL},
    **{n: _jinja for n in _JINJA_TEMPLATE},
    **{n: _eval for n in _EVAL},
    **{n: _torch_hub for n in _TORCH_HUB},
    **{n: _graph for n in _GRAPH_LOAD - _KERAS_LOAD},
    "ssl._create_unverified_context": _tls,
}


#: Every name a rule judges when called (the name pass keeps these first past its cap).
JUDGED = frozenset(_JUDGES)


def judge_call(call: ast.Call, names: Names) -> tuple[str, list[Verdict]]:
    """What a call is (its resolved name) and what the rules say about it.

    A call whose target may be several things (a name bound in several places) is judged as
    each of them: a rebinding elsewhere must not hide the one that loads unsafely.
    """
    candidates = names.callees(call.func)
    first = ""
    verdicts: list[Verdict] = []
    seen: set[tuple[str, str]] = set()
    for callee in candidates:
        name, found = _judge_one(call, callee, names)
        for verdict in found:
            key = (verdict.rule, verdict.detail)
            if key not in seen:
                seen.add(key)
                verdicts.append(verdict)
                first = first or name
    return first or (candidates[0].name or ""), verdicts


def _judge_one(call: ast.Call, callee: Callee, names: Names) -> tuple[str, list[Verdict]]:
    name = callee.name or ""
    judge = _JUDGES.get(name)
    if judge is None:
        if name.endswith("pd.read_pickle"):
            judge = _pickle
        elif callee.attr == "from_pretrained":
            judge = _hub
            name = name or "from_pretrained"
        elif (
            callee.attr == "from_string"
            and name.startswith("jinja2.")
            and name.endswith("Environment().from_string")
            and not name.startswith("jinja2.sandbox.")
        ):
            judge = _jinja  # an Environment the code made, not a sandboxed one
    args: Arguments | None = None
    verdicts: list[Verdict] = []
    if judge is not None:
        args = names.arguments(call, callee)
        verdicts = judge(name, callee, args, call, names)
    if judge is not _tls:
        args = args or names.arguments(call, callee)
        if args.keywords.keys() & {"verify", "cert_reqs"}:
            verdicts += _tls(name, callee, args, call, names)
    return name, verdicts


#: Loaders judged where they are passed as a value (``map(pickle.loads, blobs)``,
#: ``DatasetFolder(root, loader=torch.load)``, ``self.fn = torch.load``, a default argument, a
#: dict of loaders, a class base): whoever calls them later does so out of the check's sight.
_BY_VALUE = _TORCH_LOAD | _PICKLE | _YAML_LOAD | _YAML_UNSAFE | _YAML_FULL


def judge_value(node: ast.expr, names: Names) -> tuple[str, list[Verdict]]:
    """An unsafe loader used as a value, not called: judged as called with what a partial bound.

    ``functools.partial(torch.load, weights_only=True)`` passed along is safe; ``torch.load``
    passed along is judged as ``torch.load()`` (no ``weights_only``).
    """
    verdicts: list[Verdict] = []
    first = ""
    for callee in names.callees(node):
        if callee.name not in _BY_VALUE:
            continue
        call = ast.copy_location(ast.Call(func=node, args=[], keywords=[]), node)
        args = Arguments(list(callee.positional), dict(callee.keywords))
        for verdict in _JUDGES[callee.name](callee.name, callee, args, call, names):
            verdict.detail = (
                f"{callee.name} passed as a value, called where the check cannot see the "
                f"arguments; {verdict.detail}"
            )
            if all(v.detail != verdict.detail for v in verdicts):
                verdicts.append(verdict)
                first = first or callee.name
    return first, verdicts


def judge_reference(node: ast.Attribute | ast.Name, names: Names) -> Verdict | None:
    """``ssl._create_default_https_context = ssl._create_unverified_context`` (no call)."""
    name = names.resolve(node)
    if name == "ssl._create_unverified_context":
        return Verdict("MLS-LOAD-010", Severity.HIGH, "an SSL context without verification")
    return None


def judge_assignment(target: ast.expr, value: ast.expr, names: Names) -> Verdict | None:
    """``session.verify = False``, ``ctx.check_hostname = False``, ``os.environ[...] = ""``."""
    if isinstance(target, ast.Attribute):
        constant = names.value(value)
        if target.attr == "verify" and constant is False:
            return Verdict("MLS-LOAD-010", Severity.HIGH, f"{ast.unparse(target)} = False")
        if target.attr == "check_hostname" and constant is False:
            return Verdict("MLS-LOAD-010", Severity.HIGH, f"{ast.unparse(target)} = False")
        if target.attr == "verify_mode" and names.resolve(value) == "ssl.CERT_NONE":
            return Verdict("MLS-LOAD-010", Severity.HIGH, f"{ast.unparse(target)} = ssl.CERT_NONE")
        if names.resolve(value) == "ssl._create_unverified_context":
            return Verdict("MLS-LOAD-010", Severity.HIGH, "an SSL context without verification")
    if isinstance(target, ast.Subscript) and names.resolve(target.value) == "os.environ":
        key = names.value(target.slice)
        constant = names.value(value)
        if key in _CA_VARIABLES and constant == "":
            return Verdict("MLS-LOAD-010", Severity.HIGH, f"{key} set empty")
        if key == "PYTHONHTTPSVERIFY" and constant == "0":
            return Verdict("MLS-LOAD-010", Severity.HIGH, "PYTHONHTTPSVERIFY set to 0")
    return None
