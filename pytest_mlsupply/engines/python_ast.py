"""Python code analyser: what a model repository's ``.py`` files would do when imported or run.

``trust_remote_code=True`` imports the repository's modelling code; a shebang script in a model
directory is one command away from running. The source is parsed with :mod:`ast`, never
imported or executed, and every call is resolved through the file's own import aliases
(``import subprocess as sp``, ``from os import system as run``, ``getattr(os, "system")``,
``__import__("os").system``) before it is judged:

* process execution (``os.system``, ``subprocess.*``, ``pty.spawn``...) and ``exec``/``eval`` of
  decoded data (base64, zlib, hex, marshal): critical;
* ``exec``/``eval``/``compile`` of anything else, native code loading (ctypes), import-system and
  builtins tampering, deserialisation of pickles inside model code, network access, credential
  files: high;
* dynamic imports with computed names: high; long encoded strings: medium; imports of sensitive
  modules: low beside other findings, informational when nothing else in the file is of note.

Code is judged by its effects, so the analyser also follows where each path expression points
(:class:`~pytest_mlsupply.engines.python_paths.Where`): ``__file__`` and the directory a serving entry point is handed (an Inference
Endpoints ``EndpointHandler(path)``, SageMaker ``model_fn(model_dir)``, MLflow
``_load_pyfunc(path)`` / ``load_context(context)``, TorchServe ``initialize(context)``,
``from_pretrained(pretrained_model_name_or_path)``) are the model directory; joins below them stay
inside, ``..`` above them, absolute paths, ``~``, environment variables and interpreter
directories are outside. Writes inside the model directory (or to a temporary file, or to the
directory a ``save_*`` method is given) are low, writes to a path the source does not pin down
medium, writes outside the model or of code files (``.py``, ``.pth``, shell profiles) high.
Unpickling the model's own files is medium (the gate scans those files); unpickling anything else
(a request body, a download) stays high. Environment changes that steer the loader or the
interpreter (``LD_PRELOAD``, ``PYTHONPATH``...), ``sys.path`` entries outside the model,
disabled TLS verification and ``trust_remote_code=True`` on another repository are high.

Every issue carries the line it was found on; module-level code (run at import) says so.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from pytest_mlsupply.engines.budget import CHECK_EVERY, checkpoint, watched
from pytest_mlsupply.engines.lines import source_lines
from pytest_mlsupply.engines.python_paths import (
    ABSOLUTE,
    CALLER_DIR_PARAMS,
    CODE_FILE,
    CONTEXT_ENTRY_POINTS,
    DIRECTORIES,
    DIRNAME,
    ENV_READS,
    HANDLER_PARAMS,
    JOINERS,
    MODEL_DIR_ENTRY_POINTS,
    MODEL_FILE_PARAMS,
    OUTSIDE_CALLS,
    OUTSIDE_NAMES,
    PATH_CLASSES,
    SAME_PLACE,
    SAME_PLACE_METHODS,
    TEMPFILE_PREFIX,
    UNKNOWN,
    Where,
    concatenate,
    context_item,
    descend,
    describe,
    either_of,
    from_text,
    is_local_text,
    leaf_of,
    parent_of,
)
from pytest_mlsupply.results import Finding, Location, Severity

__all__ = ["CodeIssue", "analyse_python", "code_findings"]

CATEGORY = "code-execution"

_PROCESS = {
    "os.system",
    "os.popen",
    "os.startfile",
    "os.posix_spawn",
    "os.posix_spawnp",
    "os.fork",
    "os.forkpty",
    "pty.spawn",
    "platform.popen",
    "commands.getoutput",
    "commands.getstatusoutput",
    "multiprocessing.set_executable",
}
_PROCESS_PREFIXES = (
    "os.exec",
    "os.spawn",
    "subprocess.",
    "_posixsubprocess.",
    "asyncio.create_subprocess",
    "pexpect.",
    # Build and install helpers that run commands or install packages.
    "distutils.spawn.",
    "setuptools._distutils.spawn.",
    "setuptools.sandbox.",
    "pip.main",
    "pip._internal.",
)
_DYNAMIC_CODE = {
    "exec",
    "eval",
    "compile",
    "builtins.exec",
    "builtins.eval",
    "builtins.compile",
    # A function object built from a code object runs that code when called.
    "types.FunctionType",
    "types.CodeType",
    # Standard-library helpers that compile and run the source string they are given.
    "timeit.timeit",
    "timeit.repeat",
    "timeit.Timer",
    "cProfile.run",
    "cProfile.runctx",
    "profile.run",
    "profile.runctx",
    "pdb.run",
    "pdb.runeval",
    "pdb.runctx",
    "code.interact",
    "code.InteractiveInterpreter",
    "code.InteractiveConsole",
    "torch.fx.graph_module._exec_with_source",
}
#: Modules other modules re-export under their own name (``torch.os`` *is* ``os``, ``posix`` is
#: what ``os`` wraps): a dotted name reaching one is judged as that module's.
_REEXPORTED = frozenset(
    {
        "os",
        "subprocess",
        "sys",
        "builtins",
        "importlib",
        "pickle",
        "marshal",
        "ctypes",
        "socket",
        "shutil",
        "runpy",
        "pty",
        "urllib",
        "requests",
        "http",
    }
)
_OS_ALIASES = frozenset({"posix", "nt"})
_DECODERS = {
    "base64.b64decode",
    "base64.b32decode",
    "base64.b16decode",
    "base64.b85decode",
    "base64.a85decode",
    "base64.urlsafe_b64decode",
    "base64.standard_b64decode",
    "base64.decodebytes",
    "binascii.a2b_base64",
    "binascii.unhexlify",
    "binascii.a2b_hex",
    "bytes.fromhex",
    "codecs.decode",
    "zlib.decompress",
    "gzip.decompress",
    "bz2.decompress",
    "lzma.decompress",
    "marshal.loads",
}
_NETWORK_PREFIXES = (
    "socket.",
    "urllib.request.",
    "urllib2.",
    "http.client.",
    "requests.",
    "httpx.",
    "aiohttp.",
    "urllib3.",
    "ftplib.",
    "smtplib.",
    "telnetlib.",
    "paramiko.",
    "websocket.",
    "websockets.",
)
_NETWORK = {
    "urllib.urlopen",
    "webbrowser.open",
    "webbrowser.open_new",
    "webbrowser.open_new_tab",
    # Downloads of weights or files from arbitrary URLs.
    "torch.hub.download_url_to_file",
    "torch.hub.load_state_dict_from_url",
    "torch.utils.model_zoo.load_url",
    "wget.download",
    "gdown.download",
    "keras.utils.get_file",
    "tensorflow.keras.utils.get_file",
}
#: Vendored copies of modules (``pip._vendor.requests``, ``six.moves.urllib``) are the modules.
_VENDORED = re.compile(r"^(?:[\w.]*\._vendor\.|six\.moves\.|future\.moves\.)")
# torch.utils.cpp_extension compiles and loads C++/CUDA from the repository.
_NATIVE_PREFIXES = (
    "ctypes.",
    "cffi.",
    "_ctypes.",
    "torch.utils.cpp_extension.",
    # dlopen a shared library (its constructors run at load): torch custom ops and classes,
    # numpy's ctypes loader.
    "torch.ops.load_library",
    "torch.classes.load_library",
    "torch._C._load_library",
    "numpy.ctypeslib.",
)
#: Run a file or module as Python source, whatever its name (``runpy.run_path("notes.txt")``).
_RUN_SOURCE_PREFIXES = ("runpy.",)
_DESERIALISE = {
    "pickle.load",
    "pickle.loads",
    "_pickle.load",
    "_pickle.loads",
    "cPickle.load",
    "cPickle.loads",
    "dill.load",
    "dill.loads",
    "cloudpickle.load",
    "cloudpickle.loads",
    "joblib.load",
    "marshal.load",
    "marshal.loads",
    "shelve.open",
    "jsonpickle.decode",
    # The unpickler classes themselves: Unpickler(fh).load() is pickle.load(fh).
    "pickle.Unpickler",
    "pickle._Unpickler",
    "_pickle.Unpickler",
    "dill.Unpickler",
    "pandas.read_pickle",
    "torch.serialization.load",
}
_FILE_WRITE = {
    "shutil.copy",
    "shutil.copy2",
    "shutil.copyfile",
    "shutil.copytree",
    "shutil.move",
    "os.rename",
    "os.replace",
    "os.chmod",
    "os.symlink",
    "os.link",
    "os.truncate",
}
_FILE_DELETE = {"shutil.rmtree", "os.remove", "os.unlink", "os.rmdir", "os.removedirs"}
_DYNAMIC_IMPORT = {
    "__import__",
    "builtins.__import__",
    "importlib.import_module",
    "imp.load_source",
}
_REMOTE_CODE = {
    "torch.hub.load",
    "transformers.dynamic_module_utils.get_class_from_dynamic_module",
    "transformers.dynamic_module_utils.get_cached_module_file",
}
_IMPORT_MACHINERY = (
    "importlib.util.spec_from_file_location",
    "importlib.machinery.",
    "zipimport.",
    "pkgutil.resolve_name",
)
_OPENERS = frozenset({"open", "builtins.open", "io.open", "codecs.open", "os.open"})
#: Module functions that open the path they are given (the ``.open`` of a Path is the Path's).
_MODE = re.compile(r"^[rwxabtU+]{1,4}$")
_PATH_OPENERS = frozenset(
    {"gzip.open", "bz2.open", "lzma.open", "tarfile.open", "shelve.open", "dbm.open", "io.FileIO"}
)
_IMPORT_STATE = ("sys.meta_path.", "sys.path_hooks.", "sys.modules.")
_MUTATORS = frozenset({"insert", "append", "extend", "update", "setdefault", "__setitem__"})
_SENSITIVE_MODULES = {
    "os",
    "subprocess",
    "socket",
    "ctypes",
    "pickle",
    "marshal",
    "pty",
    "shutil",
    "urllib",
    "requests",
    "http",
    "builtins",
    "importlib",
    "base64",
    "runpy",
}
_SECRETS = re.compile(
    r"(?:~|\$HOME|/home/\w+|/root)?/?\.(?:ssh/|aws/credentials|netrc|docker/config\.json"
    r"|git-credentials|kube/config|huggingface/token|cache/huggingface/token)"
    r"|\bid_(?:rsa|ed25519|ecdsa)\b|/etc/(?:passwd|shadow)\b"
)
_SECRET_VARS = re.compile(r"^(?:HF_TOKEN|HUGGING_FACE_HUB_TOKEN|AWS_SECRET_ACCESS_KEY|\w*API_KEY)$")
_ENCODED = re.compile(r"^(?:[A-Za-z0-9+/]{4}){64,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
_HEXBLOB = re.compile(r"^(?:[0-9a-fA-F]{2}){128,}$")

#: ``name -> index`` of the destination argument of calls that write files.
_WRITE_TARGETS = {
    "shutil.copy": 1,
    "shutil.copy2": 1,
    "shutil.copyfile": 1,
    "shutil.copytree": 1,
    "shutil.move": 1,
    "os.rename": 1,
    "os.replace": 1,
    "os.symlink": 1,
    "os.link": 1,
    "os.chmod": 0,
    "os.truncate": 0,
    "torch.save": 1,
    "numpy.save": 0,
    "numpy.savez": 0,
    "numpy.savez_compressed": 0,
    "joblib.dump": 1,
    "urllib.request.urlretrieve": 1,
}
#: Devices that only discard or show what is written.
_DISCARDS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "nul", "NUL"})

# -- environment

#: Variables that decide what the dynamic loader, the interpreter, pip or TLS trust: setting them
#: from model code hijacks every later process or import.
_HIJACK_VARS = re.compile(
    r"^(?:LD_\w+|DYLD_\w+|PYTHON(?:PATH|STARTUP|HOME|USERBASE|INSPECT|EXECUTABLE|BREAKPOINT"
    r"|PYCACHEPREFIX|PLATLIBDIR)|PATH|BASH_ENV|ENV|PERL5OPT|PERL5LIB|NODE_OPTIONS|RUBYOPT"
    r"|(?:HTTPS?|ALL|FTP|NO)_PROXY|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|SSL_CERT_(?:FILE|DIR)"
    r"|PIP_\w+|UV_\w+|HF_ENDPOINT|HF_HUB_ENDPOINT|GIT_\w+)$",
    re.IGNORECASE,
)
_ENVIRON = frozenset({"os.environ", "os.environb"})
_SYS_PATH_ADD = {"sys.path.insert": 1, "sys.path.append": 0, "site.addsitedir": 0}
_HUB_FETCH = frozenset(
    {
        "huggingface_hub.hf_hub_download",
        "huggingface_hub.snapshot_download",
        "huggingface_hub.file_download.hf_hub_download",
        "transformers.utils.cached_file",
        "transformers.utils.hub.cached_file",
    }
)


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?$")


@dataclass(frozen=True)
class CodeIssue:
    """One thing the code would do, with the line it is on: plain data."""

    rule: str
    severity: Severity
    title: str
    evidence: str
    line: int | None
    why: str
    remediation: str = (
        "do not run or import this code (no trust_remote_code=True); review it line by line, "
        "or use a model whose architecture ships with the library"
    )
    cwe: str | None = None


def analyse_python(source: str) -> list[CodeIssue]:
    """Every risky behaviour in ``source``; a syntax error is an issue (MLS-CODE-011)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        return [
            CodeIssue(
                rule="MLS-CODE-011",
                severity=Severity.MEDIUM,
                title="Python file does not parse",
                evidence=f"{type(exc).__name__}: {exc}",
                line=line,
                why="code that cannot be parsed cannot be reviewed; a different interpreter "
                "version may still run it",
            )
        ]
    except RecursionError:
        return [
            CodeIssue(
                rule="MLS-CODE-011",
                severity=Severity.HIGH,
                title="Python file is nested too deeply to analyse",
                evidence="the parser exceeded Python's recursion limit",
                line=None,
                why="machine-generated nesting this deep is obfuscation; it cannot be reviewed",
            )
        ]
    analyser = _Analyser(source, tree)
    try:
        analyser.visit(tree)
    except RecursionError:
        analyser.issues.append(
            CodeIssue(
                rule="MLS-CODE-011",
                severity=Severity.HIGH,
                title="Python file is nested too deeply to analyse",
                evidence="the analyser exceeded Python's recursion limit",
                line=None,
                why="machine-generated nesting this deep is obfuscation; it cannot be reviewed",
            )
        )
    return _nothing_of_note(analyser.issues)


def _nothing_of_note(issues: list[CodeIssue]) -> list[CodeIssue]:
    """A sensitive import is low beside other findings, and informational when the analysis found
    nothing the code does with it (``import os`` for ``os.path.join``)."""
    if any(i.rule != "MLS-CODE-012" and i.severity >= Severity.LOW for i in issues):
        return issues
    return [
        replace(
            issue,
            severity=Severity.INFO,
            why="the import alone does nothing, and nothing in the file runs commands, reaches "
            "the network or writes outside the model with it",
        )
        if issue.rule == "MLS-CODE-012"
        else issue
        for issue in issues
    ]


def issue_to_finding(issue: CodeIssue, location: Location) -> Finding:
    return Finding(
        rule=issue.rule,
        severity=issue.severity,
        category=CATEGORY,
        title=issue.title,
        location=Location(
            file=location.file,
            member=location.member,
            offset=location.offset,
            key_path=location.key_path,
            line=issue.line,
        ),
        evidence=issue.evidence,
        why=issue.why,
        remediation=issue.remediation,
        cwe=issue.cwe,
    )


def code_findings(source: str, location: Location) -> list[Finding]:
    return [issue_to_finding(issue, location) for issue in analyse_python(source)]


class _Analyser(ast.NodeVisitor):
    def __init__(self, source: str, tree: ast.AST) -> None:
        self.lines = source_lines(source)  # numbered as ast numbers them
        self.issues: list[CodeIssue] = []
        self.aliases: dict[str, str] = {}
        """Local name → the dotted name it was imported as."""
        self.star: list[str] = []
        """Modules imported with ``from m import *``: their names resolve as ``m.name``."""
        self.decoded: dict[str, str] = {}
        """Local name → the decoder whose result it holds."""
        self.depth = 0  # function nesting: 0 means the code runs at import
        self._seen: set[tuple[str, str, int | None]] = set()
        self.scopes: list[dict[str, Where]] = [{}]
        """Name → where it points, innermost scope last (module scope first)."""
        self.attributes: dict[str, Where] = {}
        """``self.<name>`` → where it points (set in one method, read in another)."""
        self.classes: list[str] = []
        # A framework entry point is only trusted to receive the model directory when the file
        # does not call it itself (with a path of its choosing).
        self.called = _called_names(tree)
        self.containers: dict[str, str] = {}
        """Name of a list / tuple / dict literal → a dangerous callable it holds."""
        self.truthy = _truthy_constants(tree)
        """Names assigned a truthy constant somewhere in the file (``TRUST = True``)."""
        self.visited = 0

    def visit(self, node: ast.AST) -> Any:
        # NodeVisitor.visit, counting: every node of the tree passes here, so a file of 10^6
        # statements is analysed under the scan's budgets (what a checkpoint raises goes
        # through the visitor untouched).
        self.visited += 1
        if not self.visited % CHECK_EVERY:
            checkpoint()
        return getattr(self, "visit_" + node.__class__.__name__, self.generic_visit)(node)

    # -- reporting

    def add(
        self,
        rule: str,
        severity: Severity,
        title: str,
        detail: str,
        node: ast.AST,
        why: str,
        cwe: str | None = None,
        remediation: str | None = None,
    ) -> None:
        line = getattr(node, "lineno", None)
        key = (rule, detail, line)
        if key in self._seen:
            return
        self._seen.add(key)
        code = self.lines[line - 1].strip() if line and 0 < line <= len(self.lines) else ""
        if len(code) > 160:
            code = code[:157] + "..."
        when = " (runs at import)" if self.depth == 0 else ""
        evidence = f"{detail}{when}" + (f": {code}" if code else "")
        issue = CodeIssue(rule, severity, title, evidence, line, why, cwe=cwe)
        if remediation is not None:
            issue = replace(issue, remediation=remediation)
        self.issues.append(issue)

    # -- scopes

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._nested(node, self._parameters(node))

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._nested(node, self._parameters(node))

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._alias_defaults(node.args)
        self._nested(node, {})

    def _alias_defaults(self, arguments: ast.arguments) -> None:
        """``def f(run=os.system)`` / ``lambda x=os.system: x(...)``: the default (evaluated at
        definition) is what the parameter calls unless the caller passes another."""
        positional = [*arguments.posonlyargs, *arguments.args]
        with_default = positional[len(positional) - len(arguments.defaults) :]
        pairs = list(zip(with_default, arguments.defaults, strict=True))
        keywords = zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
        pairs += [(a, d) for a, d in keywords if d is not None]
        for argument, default in pairs:
            ref = self.resolve(default)
            if ref and not ref.endswith("()") and _dangerous(ref):
                self.aliases[argument.arg] = ref

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._remember(node.target, node.value)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        # A class body runs at import, like module code; only its methods are deferred.
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()

    def _nested(self, node: ast.AST, scope: dict[str, Where]) -> None:
        self.depth += 1
        self.scopes.append(scope)
        self.generic_visit(node)
        self.scopes.pop()
        self.depth -= 1

    def _parameters(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, Where]:
        """The parameters a framework fills with the model directory (or a context holding it)."""
        self._alias_defaults(node.args)
        params = [a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)]
        in_class = bool(self.classes) and self.depth == 0
        own = params[1:] if in_class and params and params[0] in ("self", "cls") else params
        # Every parameter shadows a module-level name of the same spelling; only those the
        # framework fills with the model directory point anywhere known.
        scope: dict[str, Where] = dict.fromkeys(params, UNKNOWN)
        name = node.name
        entry = name not in self.called
        if name == "__init__" and in_class:
            entry = self.classes[-1] not in self.called
        if not entry or not own:
            return scope
        for param in own:
            if param in MODEL_FILE_PARAMS:
                scope[param] = Where("model", depth=1)
        if name in MODEL_DIR_ENTRY_POINTS:
            scope[own[0]] = Where("model")
        elif (name in CONTEXT_ENTRY_POINTS and in_class) or name == "load_context":
            scope[own[0]] = Where("context")
        elif name == "__init__" and in_class and self.classes[-1].endswith("Handler"):
            for param in own:
                if param in HANDLER_PARAMS:
                    scope[param] = Where("model")
        elif name.lstrip("_").startswith(("save", "export", "write")):
            for param in own:
                if param in CALLER_DIR_PARAMS:
                    scope[param] = Where("caller")
        return scope

    def bind(self, name: str, where: Where) -> None:
        self.scopes[-1][name] = where

    def lookup(self, name: str) -> Where:
        for scope in (self.scopes[-1], self.scopes[0]):
            if name in scope:
                return scope[name]
        return UNKNOWN

    # -- names

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            local = alias.asname or alias.name.split(".")[0]
            self.aliases[local] = alias.name if alias.asname else alias.name.split(".")[0]
            self._sensitive_import(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return  # relative imports stay inside the repository's own code
        for alias in node.names:
            if alias.name == "*":
                self.star.append(node.module)
                self._sensitive_import(node.module, node)
                continue
            self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            self._sensitive_import(f"{node.module}.{alias.name}", node)

    def _sensitive_import(self, dotted: str, node: ast.AST) -> None:
        root = dotted.split(".")[0]
        if root in _SENSITIVE_MODULES:
            self.add(
                "MLS-CODE-012",
                Severity.LOW,
                "code imports a module that can run commands, touch files or the network",
                f"import {dotted}",
                node,
                why="the import alone does nothing, but it is what the code can reach",
            )

    def resolve(self, node: ast.AST) -> str | None:
        """The dotted name an expression refers to, through aliases and reflective tricks."""
        if isinstance(node, ast.Name):
            if node.id == "__builtins__":
                return "builtins"
            if node.id not in self.aliases:
                # ``from os import *`` then ``system(...)``: the name is the module's.
                for module in self.star:
                    if _dangerous(f"{module}.{node.id}"):
                        return f"{module}.{node.id}"
            return _reroot(self.aliases.get(node.id, node.id))
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            if not base:
                return None
            dotted = f"{base}.{node.attr}"
            # ``class A: run = os.system`` then ``A.run(...)`` / ``self.run(...)``.
            if dotted in self.aliases:
                return self.aliases[dotted]
            return _reroot(dotted)
        if isinstance(node, ast.NamedExpr):
            return self.resolve(node.value)  # (run := os.system)(...)
        if isinstance(node, ast.Call):
            callee = self.resolve(node.func)
            literal = _literal_str(node.args[0]) if node.args else None
            if callee in _DYNAMIC_IMPORT and literal:
                return literal  # __import__("os") is the os module
            if callee in ("getattr", "builtins.getattr") and len(node.args) >= 2:
                base = self.resolve(node.args[0])
                name = _literal_str(node.args[1])
                if base and name:
                    return f"{base}.{name}"
            # Path(p).write_text, requests.Session().get: the call's result, by its maker's name.
            return f"{callee}()" if callee else None
        if isinstance(node, ast.Subscript):
            # __builtins__["exec"], globals()["eval"], vars(os)["system"]
            key = _literal_str(node.slice)
            container = node.value
            if key and isinstance(container, ast.Name) and container.id == "__builtins__":
                return f"builtins.{key}"
            if key and self.resolve(container) == "sys.modules":
                return key  # sys.modules["os"] is the os module
            if key and isinstance(container, ast.Attribute) and container.attr == "__dict__":
                base = self.resolve(container.value)
                return f"{base}.{key}" if base else None  # os.__dict__["system"]
            if isinstance(container, ast.Name) and container.id in self.containers:
                return self.containers[container.id]  # fs = [os.system]; fs[0](...)
            if key and isinstance(container, ast.Call):
                callee = self.resolve(container.func)
                if callee in ("globals", "locals", "builtins.globals"):
                    return self.aliases.get(key, key)
                if callee == "vars" and container.args:
                    base = self.resolve(container.args[0])
                    return f"{base}.{key}" if base else None
        return None

    # -- calls

    def visit_Call(self, node: ast.Call) -> None:
        name = self.resolve(node.func)
        if name is None and isinstance(node.func, ast.Attribute):
            # (Path.home() / "x").write_text(...): a method of a value the resolver cannot name
            # is still judged by the method.
            name = f"?.{node.func.attr}"
        if name is not None:
            self._judge_call(name, node)
        self._judge_keywords(name, node)
        self._judge_callbacks(node)
        self.generic_visit(node)

    def _judge_keywords(self, name: str | None, node: ast.Call) -> None:
        for keyword in node.keywords:
            if keyword.arg == "verify" and _is_const(keyword.value, False):
                self._insecure_tls(f"{name or 'call'}(..., verify=False)", node)
            elif keyword.arg == "trust_remote_code" and _turned_on(keyword.value, self.truthy):
                source = (
                    node.args[0] if node.args else _keyword(node, "pretrained_model_name_or_path")
                )
                where = self.where(source) if source is not None else UNKNOWN
                if where.kind != "model" and not is_local_text(where):
                    self.add(
                        "MLS-CODE-006",
                        Severity.HIGH,
                        "code loads another repository's code with trust_remote_code",
                        f"{name or 'call'}({describe(where)}, trust_remote_code=...)",
                        node,
                        why="trust_remote_code imports the Python files of the repository it "
                        "loads; that code is downloaded at run time and was never reviewed here",
                        cwe="CWE-829",
                    )

    def _judge_callbacks(self, node: ast.Call) -> None:
        """``Thread(target=os.system, args=...)``, ``map(exec, ...)``: a function passed, not
        called here, still runs."""
        for value in (*node.args, *(k.value for k in node.keywords)):
            if not isinstance(value, (ast.Name, ast.Attribute)):
                continue
            ref = self.resolve(value)
            if ref is None:
                continue
            if ref in _PROCESS or ref.startswith(_PROCESS_PREFIXES):
                self.add(
                    "MLS-CODE-002",
                    Severity.CRITICAL,
                    "code hands an operating-system command function to another call",
                    f"{ref} passed as a callback",
                    node,
                    why="the function receiving it (a thread, a pool, map) calls it; model code "
                    "has no reason to start processes",
                    cwe="CWE-78",
                )
            elif ref in _DYNAMIC_CODE:
                self.add(
                    "MLS-CODE-003",
                    Severity.HIGH,
                    "code hands exec/eval to another call",
                    f"{ref} passed as a callback",
                    node,
                    why="exec, eval and compile run code that is not in the file as written",
                    cwe="CWE-95",
                )

    def _judge_call(self, name: str, node: ast.Call) -> None:
        name = _VENDORED.sub("", name)
        if self._judge_environment(name, node) or self._judge_sys_path(name, node):
            return
        if name in _PROCESS or name.startswith(_PROCESS_PREFIXES):
            self.add(
                "MLS-CODE-002",
                Severity.CRITICAL,
                "code runs operating-system commands",
                f"call to {name}",
                node,
                why="model code has no reason to start processes; this runs whatever "
                "command it names with the user's privileges",
                cwe="CWE-78",
            )
            return
        if name.startswith(_IMPORT_STATE) and name.rsplit(".", 1)[1] in _MUTATORS:
            self._tampering(f"call to {name}", node)
            return
        if name in ("getattr", "builtins.getattr") and len(node.args) >= 2:
            base = self.resolve(node.args[0])
            if base and base.split(".")[0] in _SENSITIVE_MODULES and not _literal_str(node.args[1]):
                self.add(
                    "MLS-CODE-003",
                    Severity.HIGH,
                    "code looks up a function of a sensitive module by a computed name",
                    f"getattr({base}, <computed>)",
                    node,
                    why="reflective access with a computed name hides which function is called",
                    cwe="CWE-470",
                )
            return
        if name in _DYNAMIC_CODE:
            self._dynamic_code(name, node)
            return
        if name in ("operator.methodcaller", "operator.attrgetter") and node.args:
            method = _literal_str(node.args[0]) or ""
            if method.rsplit(".", 1)[-1] in _CALLED_BY_NAME:
                self.add(
                    "MLS-CODE-003",
                    Severity.HIGH,
                    "code reaches a dangerous function by its name",
                    f"{name}({method!r})",
                    node,
                    why="methodcaller and attrgetter call or fetch a function named by a string, "
                    "which hides the call (os.system, eval) from a reading of the code",
                    cwe="CWE-470",
                )
            return
        if name in _DYNAMIC_IMPORT or name.startswith(_IMPORT_MACHINERY):
            literal = _literal_str(node.args[0]) if node.args else None
            if literal is None or name.startswith(_IMPORT_MACHINERY):
                self.add(
                    "MLS-CODE-006",
                    Severity.HIGH,
                    "code imports a module whose name is computed at run time",
                    f"call to {name}",
                    node,
                    why="a computed import hides what is loaded from review, and loading code "
                    "from a file path runs whatever is there",
                    cwe="CWE-829",
                )
            return
        if name.startswith(_RUN_SOURCE_PREFIXES):
            self.add(
                "MLS-CODE-006",
                Severity.HIGH,
                "code runs another file or module as Python",
                f"call to {name}",
                node,
                why="runpy executes whatever the path or module name holds, under any file name "
                "(a .txt or a weights file is run as Python all the same), so the code that runs "
                "is not the code reviewed here",
                cwe="CWE-829",
            )
            return
        if name in _REMOTE_CODE:
            self.add(
                "MLS-CODE-006",
                Severity.HIGH,
                "code fetches and runs code from another repository",
                f"call to {name}",
                node,
                why="the code it loads is downloaded at run time from outside this repository "
                "and was never reviewed here",
                cwe="CWE-829",
            )
            return
        if name in ("ssl._create_unverified_context", "ssl._create_stdlib_context"):
            self._insecure_tls(f"call to {name}", node)
            return
        if name in _HUB_FETCH or name.endswith(".from_pretrained"):
            self._hub_fetch(name, node)
            return
        if name in _NETWORK or name.startswith(_NETWORK_PREFIXES):
            self.add(
                "MLS-CODE-004",
                Severity.HIGH,
                "code opens network connections",
                f"call to {name}",
                node,
                why="model code that talks to the network can download a second stage or "
                "send data (tokens, files, prompts) elsewhere",
                cwe="CWE-829",
            )
            return
        if name.startswith(_NATIVE_PREFIXES):
            self.add(
                "MLS-CODE-013",
                Severity.HIGH,
                "code loads or calls native code",
                f"call to {name}",
                node,
                why="ctypes reaches any function in any shared library, bypassing every "
                "Python-level control",
                cwe="CWE-111",
            )
            return
        if name in _DESERIALISE or self._unsafe_load(name, node):
            source: ast.AST | None = node.args[0] if node.args else None
            for keyword in ("f", "file", "filename", "fp", "filepath_or_buffer", "stream"):
                source = source or _keyword(node, keyword)
            # loads() takes the pickle itself, not a path: a bytes literal is an embedded payload.
            where = UNKNOWN if name.endswith("loads") else self.place(source)
            if where.kind in ("model", "relative") and name != "marshal.loads":
                self.add(
                    "MLS-CODE-015",
                    Severity.MEDIUM,
                    "code loads the model's own files with a loader that runs code",
                    f"call to {name} on {describe(where)}",
                    node,
                    why="the files it loads are in the model directory, where this gate scans "
                    "them; but the loader runs whatever pickle is there when it loads, so a file "
                    "swapped after the scan, or one the gate is told to skip, runs code",
                    cwe="CWE-502",
                    remediation="load tensors with torch.load(..., weights_only=True) or "
                    "safetensors; keep every file the code loads in the scanned directory",
                )
                return
            self.add(
                "MLS-CODE-007",
                Severity.HIGH,
                "code deserialises pickles",
                f"call to {name}" + (f" on {describe(where)}" if where is not UNKNOWN else ""),
                node,
                why="unpickling runs code from the data; model code that does it turns any "
                "file or request body it reads into a code-execution path",
                cwe="CWE-502",
            )
            return
        if name in ("setattr", "builtins.setattr", "delattr") and node.args:
            module = self.resolve(node.args[0])
            if module in ("builtins", "sys", "os", "importlib"):
                self._tampering(f"{name}({module}, ...)", node)
            return
        if name in _FILE_DELETE:
            self._file_write(f"call to {name} (deletes files)", node, _argument(node, 0))
            return
        if name in _FILE_WRITE or name in _WRITE_TARGETS:
            self._file_write(f"call to {name}", node, _argument(node, _WRITE_TARGETS.get(name, 0)))
            return
        target: ast.AST | None
        if name.endswith((".extractall", ".extract")) or name == "shutil.unpack_archive":
            # Unpacking an archive writes every member (tarfile, zipfile, shutil).
            index = 0 if name.endswith(".extractall") else 1
            target = _keyword(node, "path") or _keyword(node, "extract_dir")
            self._file_write(f"call to {name}", node, target or _argument(node, index))
            return
        if name.endswith((".write_text", ".write_bytes")):
            target = node.func.value if isinstance(node.func, ast.Attribute) else None
            self._file_write(f"call to {name}", node, target)
            return
        if name in _OPENERS or name in _PATH_OPENERS or name.endswith(".open"):
            mode = _open_mode(node, name)
            if mode is not None and any(c in mode for c in "wax+"):
                if name in _OPENERS or name in _PATH_OPENERS:
                    target = _argument(node, 0) or _keyword(node, "file")
                else:  # Path(...).open("w")
                    target = node.func.value if isinstance(node.func, ast.Attribute) else None
                self._file_write(f"{name}(..., {mode!r})", node, target)

    def _unsafe_load(self, name: str, node: ast.Call) -> bool:
        if name in ("torch.load", "torch.serialization.load"):
            weights_only = next(
                (kw.value for kw in node.keywords if kw.arg == "weights_only"), None
            )
            return not (isinstance(weights_only, ast.Constant) and weights_only.value is True)
        if name in ("numpy.load", "np.load"):
            return any(
                kw.arg == "allow_pickle"
                and (
                    (isinstance(kw.value, ast.Constant) and kw.value.value is True)
                    or (isinstance(kw.value, ast.Name) and kw.value.id in self.truthy)
                )
                for kw in node.keywords
            )
        if name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load"):
            loader = next((kw.value for kw in node.keywords if kw.arg == "Loader"), None)
            if loader is None and len(node.args) >= 2:
                loader = node.args[1]
            resolved = self.resolve(loader) if loader is not None else None
            return name != "yaml.load" or not (resolved and "Safe" in resolved)
        return False

    def _dynamic_code(self, name: str, node: ast.Call) -> None:
        arg = node.args[0] if node.args else None
        decoded = self._decoders_in(arg)
        if decoded:
            self.add(
                "MLS-CODE-001",
                Severity.CRITICAL,
                "code executes decoded data",
                f"{name}() of {decoded[0]}(...)",
                node,
                why="decoding a blob and executing it is how payloads hide from review; "
                "whatever is encoded runs with the user's privileges",
                cwe="CWE-94",
            )
            return
        self.add(
            "MLS-CODE-003",
            Severity.HIGH,
            "code executes dynamically built code",
            f"call to {name}",
            node,
            why="exec, eval and compile run code that is not in the file as written",
            cwe="CWE-95",
        )

    def _decoders_in(self, expr: ast.AST | None) -> list[str]:
        found = [d for d in (self.resolve(c.func) for c in _calls_in(expr)) if d in _DECODERS]
        if expr is not None:
            found += [
                self.decoded[n.id]
                for n in ast.walk(expr)
                if isinstance(n, ast.Name) and n.id in self.decoded
            ]
        return [d for d in found if d]

    def _file_write(self, detail: str, node: ast.AST, target: ast.AST | None) -> None:
        if target is not None and self.resolve(target) == "os.devnull":
            return  # writing to the null device discards output
        where = self.place(target)
        if where.text in _DISCARDS:
            return
        detail = f"{detail} to {describe(where)}"
        if CODE_FILE.search(where.leaf or where.text or ""):
            self.add(
                "MLS-CODE-017",
                Severity.HIGH,
                "code writes a file that something else will run",
                detail,
                node,
                why="a .py, .pth, shared library, shell script or shell profile written by model "
                "code is code planted for the next import, login or interpreter start",
                cwe="CWE-506",
            )
        elif where.kind == "outside":
            self.add(
                "MLS-CODE-016",
                Severity.HIGH,
                "code writes or deletes files outside the model directory",
                detail,
                node,
                why="model code has no business outside its own directory; writing there plants "
                "code or persistence (shell profiles, site-packages, SSH keys) or destroys data",
                cwe="CWE-73",
            )
        elif where.kind in ("model", "caller", "scratch"):
            self.add(
                "MLS-CODE-005",
                Severity.LOW,
                "code writes files inside its own, a temporary or a caller-chosen directory",
                detail,
                node,
                why="writing beside the model (caches, saved vocabularies) or to a temporary "
                "file is ordinary; it is listed so the review sees it",
                cwe="CWE-73",
            )
        else:
            self.add(
                "MLS-CODE-005",
                Severity.MEDIUM,
                "code writes or deletes files",
                detail,
                node,
                why="model code should only read its weights; a write to a path the source "
                "does not pin down can plant code (shell profiles, site-packages, .pth files) or "
                "destroy data",
                cwe="CWE-73",
            )

    def _insecure_tls(self, detail: str, node: ast.AST) -> None:
        self.add(
            "MLS-CODE-018",
            Severity.HIGH,
            "code turns off TLS certificate verification",
            detail,
            node,
            why="without certificate checks anyone on the network path can replace what is "
            "downloaded (weights, code) or read what is sent",
            cwe="CWE-295",
            remediation="do not run or import this code; downloads must verify certificates",
        )

    def _hub_fetch(self, name: str, node: ast.Call) -> None:
        source = node.args[0] if node.args else _keyword(node, "repo_id")
        if source is None:
            source = _keyword(node, "pretrained_model_name_or_path")
        where = self.where(source) if source is not None else UNKNOWN
        if where.kind != "text" or not _HUB_ID.match(where.text or ""):
            return  # the model's own directory, a local path, or a name the caller passes in
        self.add(
            "MLS-CODE-021",
            Severity.MEDIUM,
            "code fetches another Hub repository at run time",
            f"call to {name}({where.text!r})",
            node,
            why="the files of that repository are downloaded when the code runs and were not "
            "part of this scan; they can change after it",
            cwe="CWE-829",
            remediation="vendor the files into the scanned model directory, or pin the other "
            "repository by revision and scan it too",
        )

    def _judge_environment(self, name: str, node: ast.Call) -> bool:
        """``os.putenv`` and ``os.environ.update/setdefault/__setitem__``."""
        if name in ("os.putenv", "os.putenvb"):
            self._environment(node.args[0] if node.args else None, node)
            return True
        base, _, method = name.rpartition(".")
        if base not in _ENVIRON or method not in ("update", "setdefault", "__setitem__", "__ior__"):
            return False
        if method in ("setdefault", "__setitem__"):
            self._environment(node.args[0] if node.args else None, node)
            return True
        for keyword in node.keywords:
            if keyword.arg is None:  # update(**{...})
                self._environment_mapping(keyword.value, node)
            else:
                self._environment(ast.Constant(keyword.arg), node)
        for arg in node.args:
            self._environment_mapping(arg, node)
        return True

    def _environment_mapping(self, mapping: ast.AST, node: ast.AST) -> None:
        if isinstance(mapping, ast.Dict):
            for key in mapping.keys:
                self._environment(key, node)
        elif isinstance(mapping, ast.Call) and self.resolve(mapping.func) == "dict":
            for keyword in mapping.keywords:
                self._environment(ast.Constant(keyword.arg) if keyword.arg else None, node)
            for arg in mapping.args:
                self._environment_mapping(arg, node)
        else:
            self._environment(None, node)

    def _environment(self, key: ast.AST | None, node: ast.AST) -> None:
        literal = key.value if isinstance(key, ast.Constant) else None
        if isinstance(literal, bytes):
            literal = literal.decode("latin-1")
        if not isinstance(literal, str):
            self.add(
                "MLS-CODE-019",
                Severity.MEDIUM,
                "code sets environment variables whose names are computed",
                "environment variable <computed>",
                node,
                why="variables such as LD_PRELOAD and PYTHONPATH decide what every later "
                "process and import loads; a computed name hides which is set",
                cwe="CWE-427",
            )
        elif _HIJACK_VARS.match(literal.strip()):
            self.add(
                "MLS-CODE-019",
                Severity.HIGH,
                "code sets an environment variable that steers loaders or the interpreter",
                f"environment variable {literal!r}",
                node,
                why="LD_PRELOAD, PYTHONPATH, proxy, CA-bundle and pip variables decide what "
                "every later process and import loads and whom downloads trust",
                cwe="CWE-427",
            )

    def _judge_sys_path(self, name: str, node: ast.Call) -> bool:
        if name not in _SYS_PATH_ADD and name != "sys.path.extend":
            return False
        if name == "sys.path.extend":
            items: list[ast.AST | None] = (
                list(node.args[0].elts)
                if node.args and isinstance(node.args[0], (ast.List, ast.Tuple))
                else [None]
            )
        else:
            items = [_argument(node, _SYS_PATH_ADD[name])]
        for item in items:
            self._import_path(item, f"call to {name}", node)
        return True

    def _import_path(self, item: ast.AST | None, detail: str, node: ast.AST) -> None:
        where = self.place(item)
        if where.kind in ("model", "relative"):
            return  # importing its own sibling modules is how repository code is laid out
        severity = Severity.HIGH if where.kind == "outside" else Severity.MEDIUM
        self.add(
            "MLS-CODE-020",
            severity,
            "code adds a directory outside the model to the import path",
            f"{detail} with {describe(where)}",
            node,
            why="every later import may then load modules from that directory, which this scan "
            "never saw",
            cwe="CWE-427",
        )

    def _tampering(self, detail: str, node: ast.AST) -> None:
        self.add(
            "MLS-CODE-008",
            Severity.HIGH,
            "code tampers with builtins or the import system",
            detail,
            node,
            why="replacing builtins, sys.modules entries or import hooks changes what every "
            "other library in the process runs",
            cwe="CWE-94",
        )

    # -- where paths point

    def place(self, node: ast.AST | None) -> Where:
        """Where ``node`` points when used as a whole path (a constant is relative or absolute)."""
        if node is None:
            return UNKNOWN
        where = self.where(node)
        return from_text(where.text or "") if where.kind == "text" else where

    def where(self, node: ast.AST) -> Where:
        """Where the path (or file object) ``node`` evaluates to points."""
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            return Where("text", text=text, leaf=leaf_of(text))
        if isinstance(node, ast.Name):
            if node.id == "__file__":
                return Where("model", depth=1)
            return self.lookup(node.id)
        if isinstance(node, ast.Attribute):
            return self._where_attribute(node)
        if isinstance(node, ast.Subscript):
            base = self.resolve(node.value)
            if base in _ENVIRON:
                return Where("outside", why="a path from an environment variable")
            container = self.where(node.value)
            if container.kind == "context":
                return context_item(node.value, _literal_str(node.slice))
            # site.getsitepackages()[0], sys.path[0]: an element of a list of outside places.
            return container if container.kind == "outside" else UNKNOWN
        if isinstance(node, ast.Call):
            return self._where_call(node)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Div):
                return self._join([node.left, node.right])
            left, right = self.where(node.left), self.where(node.right)
            if isinstance(node.op, ast.Mod) and left.kind == "text":
                return from_text(left.text or "")
            if isinstance(node.op, ast.Add):
                return concatenate(left, right)
            return UNKNOWN
        if isinstance(node, ast.JoinedStr):
            return self._where_fstring(node)
        if isinstance(node, ast.IfExp):
            return either_of(self.where(node.body), self.where(node.orelse))
        if isinstance(node, ast.NamedExpr):
            return self.where(node.value)
        return UNKNOWN

    def _where_attribute(self, node: ast.Attribute) -> Where:
        if node.attr == "parent":
            return parent_of(self.where(node.value))
        if node.attr in ("artifacts", "system_properties") and (
            self.where(node.value).kind == "context"
        ):
            return replace(self.where(node.value), why=node.attr)
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            return self.attributes.get(node.attr, UNKNOWN)
        dotted = self.resolve(node)
        if dotted in OUTSIDE_NAMES:
            return Where("outside", why=OUTSIDE_NAMES[dotted])
        if dotted == "tempfile.tempdir":
            return Where("scratch")
        if node.attr in ("name", "stem", "suffix"):
            return self.where(node.value)  # a file object's .name is its path
        return UNKNOWN

    def _where_call(self, node: ast.Call) -> Where:
        name = self.resolve(node.func) or ""
        method = node.func.attr if isinstance(node.func, ast.Attribute) else ""
        receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
        # ``cog.Path`` and other imported pathlib subclasses join like pathlib.Path; a class of
        # the file's own named Path does not resolve to a dotted name and is not trusted.
        joiner = name in JOINERS or ("." in name and name.rsplit(".", 1)[1] in PATH_CLASSES)
        if joiner or (name.endswith(".joinpath") and receiver is not None):
            parts: list[ast.AST] = list(node.args)
            if not joiner and receiver is not None:
                parts.insert(0, receiver)
            return self._join(parts) if parts else Where("relative")
        if name in DIRNAME:
            return parent_of(self.where(node.args[0])) if node.args else UNKNOWN
        if name in SAME_PLACE or name in _OPENERS:
            return self.where(node.args[0]) if node.args else UNKNOWN
        if name in ENV_READS or name == "os.path.expandvars":
            return Where("outside", why="a path from an environment variable")
        if name == "os.path.expanduser" or method == "expanduser":
            source = node.args[0] if node.args else receiver
            inner = self.where(source) if source is not None else UNKNOWN
            if inner.kind == "text" and (inner.text or "").startswith("~"):
                return Where("outside", why="the home directory", leaf=inner.leaf)
            return inner
        if name in OUTSIDE_CALLS or name.endswith(".home"):
            return Where("outside", why=OUTSIDE_CALLS.get(name, "the home directory"))
        if name in ("os.getcwd", "pathlib.Path.cwd") or name.endswith(".cwd"):
            return Where("relative")
        if name.startswith(TEMPFILE_PREFIX):
            return Where("scratch")
        if receiver is not None:
            if method in SAME_PLACE_METHODS or method in (
                "open",
                "read",
                "read_bytes",
                "read_text",
            ):
                return self.where(receiver)
            if method == "format":
                base = self.where(receiver)
                return from_text(base.text or "") if base.kind == "text" else UNKNOWN
            # A serving framework's context: TorchServe's system_properties.get("model_dir").
            if method == "get" and node.args and self.where(receiver).kind == "context":
                return context_item(receiver, _literal_str(node.args[0]))
        return UNKNOWN

    def _where_fstring(self, node: ast.JoinedStr) -> Where:
        pieces = node.values
        if pieces and isinstance(pieces[0], ast.FormattedValue):
            base = self.where(pieces[0].value)
            rest = "".join(
                p.value if isinstance(p, ast.Constant) and isinstance(p.value, str) else "_"
                for p in pieces[1:]
            )
            return concatenate(base, Where("text", text=rest, leaf=leaf_of(rest)))
        text = "".join(
            p.value if isinstance(p, ast.Constant) and isinstance(p.value, str) else "_"
            for p in pieces
        )
        return from_text(text)

    def _join(self, parts: list[ast.AST]) -> Where:
        result: Where | None = None
        for part in parts:
            where = self.where(part)
            if where.kind == "text":
                text = where.text or ""
                result = (
                    from_text(text)
                    if result is None or ABSOLUTE.match(text)
                    else descend(result, text)
                )
            elif where.kind in DIRECTORIES or where.kind == "outside":
                result = where  # an absolute directory discards what came before it
            elif isinstance(part, ast.Starred):
                # *parts may hold an absolute component: outside if any known item is.
                spread = self.where(part.value)
                result = spread if spread.kind == "outside" else UNKNOWN
            elif result is None or any(
                isinstance(n, ast.Call) and self.resolve(n.func) not in SAME_PLACE
                for n in ast.walk(part)
            ):
                result = UNKNOWN  # a component computed by a call could be anything
            else:
                result = descend(result, "_")
        return result or UNKNOWN

    # -- assignments and constants

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._check_target(target, node)
            if isinstance(target, ast.Name):
                # ``code = base64.b64decode(blob)`` then ``exec(code)``: remember the decoding.
                decoders = self._decoders_in(node.value)
                if decoders:
                    self.decoded[target.id] = decoders[0]
            self._remember(target, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._check_target(node.target, node)
            self._remember(node.target, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_target(node.target, node)
        base = self.resolve(node.target)
        if base in _ENVIRON:
            self._environment_mapping(node.value, node)  # os.environ |= {...}
        elif base == "sys.path":
            self._import_path_items(node.value, "sys.path +=", node)
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        # ``for path in ("/etc/a", "/etc/b")``: the loop variable points where its worst item does.
        if isinstance(node.target, ast.Name):
            items = node.iter.elts if isinstance(node.iter, (ast.List, ast.Tuple, ast.Set)) else []
            self.bind(node.target.id, self._worst_item(items))
        self.generic_visit(node)

    def _worst_item(self, items: list[ast.expr]) -> Where:
        """A collection of paths, judged by its worst known item (outside), else unknown."""
        for item in items:
            value = item.value if isinstance(item, ast.Constant) else None
            if isinstance(value, str) and not (
                ABSOLUTE.match(value) or value.startswith("~") or ".." in value
            ):
                continue  # a relative constant never leaves (and vocabularies are long)
            place = self.place(item)
            if place.kind == "outside":
                return place
        return UNKNOWN

    def visit_With(self, node: ast.With) -> None:
        self._with_items(node.items)
        self.generic_visit(node)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self._with_items(node.items)
        self.generic_visit(node)

    def _with_items(self, items: list[ast.withitem]) -> None:
        for item in items:
            if item.optional_vars is not None:
                # ``with open(path, "rb") as fh``: the file object points where its path does.
                self._remember(item.optional_vars, item.context_expr)

    def _remember(self, target: ast.AST, value: ast.AST) -> None:
        """Bind where ``value`` points to ``target``, and aliases of sensitive callables."""
        if isinstance(target, ast.Name):
            self.bind(target.id, self.where(value))
            if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
                self.bind(target.id, self._worst_item(value.elts))
            if self.classes and self.depth == 0:
                self.attributes[target.id] = self.where(value)  # a class attribute: self.<name>
            if isinstance(value, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)):
                ref = self.resolve(value)
                # ``run = os.system``, ``m = __import__("os")``: later calls resolve through it.
                if ref and not ref.endswith("()") and _reachable(ref):
                    self.aliases[target.id] = ref
                    if self.classes and self.depth == 0:
                        # A class attribute: ``A.run(...)``, ``self.run(...)`` in its methods.
                        self.aliases[f"{self.classes[-1]}.{target.id}"] = ref
                        self.aliases[f"self.{target.id}"] = ref
            elements: list[ast.expr | None] = []
            if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
                elements = list(value.elts)
            elif isinstance(value, ast.Dict):
                elements = list(value.values)
            for element in elements:
                ref = self.resolve(element) if element is not None else None
                if ref and not ref.endswith("()") and _dangerous(ref):
                    self.containers[target.id] = ref
                    break
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            if target.value.id in ("self", "cls"):
                self.attributes[target.attr] = self.where(value)
        elif isinstance(target, (ast.Tuple, ast.List)) and (
            isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts)
        ):
            # ``a, b = os.system, 1``: element by element.
            for element, item in zip(target.elts, value.elts, strict=True):
                self._remember(element, item)
        elif isinstance(target, (ast.Tuple, ast.List)):
            where = self.where(value)
            for element in target.elts:
                if isinstance(element, ast.Name):
                    # ``fd, name = tempfile.mkstemp()``: every part comes from the same place.
                    self.bind(element.id, where if where.kind == "scratch" else UNKNOWN)

    def _import_path_items(self, value: ast.AST, detail: str, node: ast.AST) -> None:
        items = value.elts if isinstance(value, (ast.List, ast.Tuple)) else [None]
        for item in items:
            self._import_path(item, detail, node)

    def _check_target(self, target: ast.AST, node: ast.AST) -> None:
        if isinstance(target, ast.Attribute):
            base = self.resolve(target.value)
            if base == "builtins":
                self._tampering(f"assignment to {base}.{target.attr}", node)
            elif base == "sys" and target.attr in ("meta_path", "path_hooks", "modules"):
                self._tampering(f"assignment to sys.{target.attr}", node)
            elif base == "sys" and target.attr == "path" and isinstance(node, ast.Assign):
                self._import_path_items(node.value, "assignment to sys.path", node)
            elif base == "ssl" and target.attr == "_create_default_https_context":
                self._insecure_tls("assignment to ssl._create_default_https_context", node)
            elif (
                target.attr == "verify"
                and isinstance(node, ast.Assign)
                and _is_const(node.value, False)
            ):
                self._insecure_tls("assignment of verify = False", node)
        elif isinstance(target, ast.Subscript):
            base = self.resolve(target.value)
            if base in ("sys.modules", "builtins", "builtins.__dict__"):
                self._tampering(f"assignment to {base}[...]", node)
            elif base in _ENVIRON:
                self._environment(target.slice, node)
            elif base == "sys.path" and isinstance(node, ast.Assign):
                self._import_path_items(node.value, "assignment to sys.path[...]", node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, str):
            if _SECRETS.search(value):
                self.add(
                    "MLS-CODE-014",
                    Severity.HIGH,
                    "code refers to credential files",
                    f"string {value[:80]!r}",
                    node,
                    why="model code has no reason to read SSH keys, cloud credentials or "
                    "tokens; this is how credentials are stolen",
                    cwe="CWE-522",
                )
            elif _SECRET_VARS.match(value):
                self.add(
                    "MLS-CODE-014",
                    Severity.MEDIUM,
                    "code reads a credential environment variable",
                    f"string {value!r}",
                    node,
                    why="a token read by model code can be sent anywhere",
                    cwe="CWE-522",
                )
            elif len(value) >= 256 and (_ENCODED.match(value) or _HEXBLOB.match(value)):
                self._encoded(len(value), node)
        elif isinstance(value, bytes) and len(value) >= 256:
            text = value.decode("latin-1")
            if _ENCODED.match(text) or _HEXBLOB.match(text):
                self._encoded(len(value), node)

    def _encoded(self, size: int, node: ast.AST) -> None:
        self.add(
            "MLS-CODE-009",
            Severity.MEDIUM,
            "code embeds a long encoded blob",
            f"{size}-character base64/hex constant",
            node,
            why="encoded blobs in source code are how payloads are hidden from review",
            cwe="CWE-506",
        )


def _literal_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _calls_in(node: ast.AST | None) -> Iterator[ast.Call]:
    if node is None:
        return
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            yield child


def _open_mode(node: ast.Call, name: str) -> str | None:
    if name == "os.open":
        flags = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}
        return "w" if flags & {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC"} else None
    mode = next((kw.value for kw in node.keywords if kw.arg == "mode"), None)
    if mode is None and len(node.args) >= 2:
        mode = node.args[1]
    if mode is None and node.args and name.endswith(".open") and name not in _OPENERS:
        # Path(...).open("w"): the mode is the first argument, when it spells a mode at all
        # (Image.open("cat.png") opens a file named with an "a" for reading).
        mode = node.args[0]
    text = _literal_str(mode)
    return text if text is not None and _MODE.match(text) else None


def _argument(node: ast.Call, index: int) -> ast.AST | None:
    if len(node.args) > index and not isinstance(node.args[index], ast.Starred):
        return node.args[index]
    # The destination by keyword: shutil's dst, open's file, torch.save's f.
    for name in ("dst", "file", "f", "filename", "path", "fname"):
        value = _keyword(node, name)
        if value is not None:
            return value
    return None


def _keyword(node: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def _is_const(node: ast.AST, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def _called_names(tree: ast.AST) -> frozenset[str]:
    """Names of the functions and classes the file may call itself: ``f(...)``,
    ``self.f(...)``, ``cls.f(...)``, and any string constant (``globals()["f"](...)``).
    ``super().f(...)`` and ``OtherClass.f(...)`` call someone else's ``f``."""
    names: set[str] = set()
    for node in watched(ast.walk(tree)):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                names.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                receiver = node.func.value
                if isinstance(receiver, ast.Name) and receiver.id in ("self", "cls"):
                    names.add(node.func.attr)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.isidentifier()
        ):
            names.add(node.value)
    return frozenset(names)


def _turned_on(value: ast.AST, truthy: frozenset[str] = frozenset()) -> bool:
    """``trust_remote_code=<value>``: on unless a false constant, or a variable passed through
    (the caller's decision, judged where the caller sets it). A name this file itself sets to a
    truthy constant (``TRUST = True`` ... ``trust_remote_code=TRUST``) is on."""
    if isinstance(value, ast.Constant):
        return bool(value.value)
    if isinstance(value, ast.Name):
        return value.id in truthy
    if isinstance(value, ast.Attribute):
        return value.attr in truthy
    return True


def _reroot(dotted: str) -> str:
    """``torch.os.system`` → ``os.system``, ``posix.system`` → ``os.system``: a module reached
    through another module's namespace is that module."""
    parts = dotted.split(".")
    if parts[0] in _OS_ALIASES:
        return ".".join(["os", *parts[1:]])
    for index in range(1, len(parts) - 1):
        if parts[index] in _REEXPORTED:
            return ".".join(parts[index:])
        if parts[index] in _OS_ALIASES:
            return ".".join(["os", *parts[index + 1 :]])
    return dotted


#: Function names a string-keyed caller (operator.methodcaller) must not reach.
_CALLED_BY_NAME = frozenset(
    {
        "system",
        "popen",
        "exec",
        "eval",
        "compile",
        "spawnl",
        "spawnv",
        "execv",
        "execve",
        "Popen",
        "run",
        "call",
        "check_call",
        "check_output",
        "getoutput",
        "load",
        "loads",
        "__import__",
        "import_module",
        "urlopen",
        "rmtree",
        "remove",
        "unlink",
    }
)


def _truthy_constants(tree: ast.AST) -> frozenset[str]:
    """Names (and ``obj.attr`` attributes, by attribute name) assigned a truthy constant."""
    names: set[str] = set()
    for node in watched(ast.walk(tree)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if not (isinstance(value, ast.Constant) and value.value):
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                names.add(target.id)
            elif isinstance(target, ast.Attribute):
                names.add(target.attr)
    return frozenset(names)


def _reachable(dotted: str) -> bool:
    """Whether ``dotted`` names something the judge cares about (worth remembering as alias)."""
    root = dotted.split(".")[0]
    return (
        root in _SENSITIVE_MODULES
        or root in ("exec", "eval", "compile", "getattr", "open")
        or (_dangerous(dotted))
    )


def _dangerous(dotted: str) -> bool:
    return (
        dotted in _PROCESS
        or dotted.startswith(_PROCESS_PREFIXES)
        or dotted in _DYNAMIC_CODE
        or dotted in _DYNAMIC_IMPORT
        or dotted in _DESERIALISE
        or dotted in _NETWORK
        or dotted.startswith(_NETWORK_PREFIXES)
        or dotted.startswith(_NATIVE_PREFIXES)
        or dotted.startswith(_RUN_SOURCE_PREFIXES)
        or dotted in _FILE_WRITE
        or dotted in _FILE_DELETE
    )
