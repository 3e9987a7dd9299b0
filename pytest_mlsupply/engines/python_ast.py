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
* dynamic imports with computed names: high; file writes and deletions, long encoded strings:
  medium; imports of sensitive modules alone: low.

Every issue carries the line it was found on; module-level code (run at import) says so.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

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
}
_PROCESS_PREFIXES = ("os.exec", "os.spawn", "subprocess.", "asyncio.create_subprocess")
_DYNAMIC_CODE = {"exec", "eval", "compile", "builtins.exec", "builtins.eval", "builtins.compile"}
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
_NETWORK = {"urllib.urlopen", "webbrowser.open", "webbrowser.open_new", "webbrowser.open_new_tab"}
# torch.utils.cpp_extension compiles and loads C++/CUDA from the repository.
_NATIVE_PREFIXES = ("ctypes.", "cffi.", "_ctypes.", "torch.utils.cpp_extension.")
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
    "shelve.open",
    "jsonpickle.decode",
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
_IMPORT_MACHINERY = ("importlib.util.spec_from_file_location", "importlib.machinery.")
_OPENERS = frozenset({"open", "builtins.open", "io.open", "codecs.open", "os.open"})
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
}
_SECRETS = re.compile(
    r"(?:~|\$HOME|/home/\w+|/root)?/?\.(?:ssh/|aws/credentials|netrc|docker/config\.json"
    r"|git-credentials|kube/config|huggingface/token|cache/huggingface/token)"
    r"|\bid_(?:rsa|ed25519|ecdsa)\b|/etc/(?:passwd|shadow)\b"
)
_SECRET_VARS = re.compile(r"^(?:HF_TOKEN|HUGGING_FACE_HUB_TOKEN|AWS_SECRET_ACCESS_KEY|\w*API_KEY)$")
_ENCODED = re.compile(r"^(?:[A-Za-z0-9+/]{4}){64,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$")
_HEXBLOB = re.compile(r"^(?:[0-9a-fA-F]{2}){128,}$")


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
    analyser = _Analyser(source)
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
    return analyser.issues


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
    def __init__(self, source: str) -> None:
        self.lines = source.splitlines()
        self.issues: list[CodeIssue] = []
        self.aliases: dict[str, str] = {}
        """Local name → the dotted name it was imported as."""
        self.decoded: dict[str, str] = {}
        """Local name → the decoder whose result it holds."""
        self.depth = 0  # function nesting: 0 means the code runs at import
        self._seen: set[tuple[str, str, int | None]] = set()

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
        self.issues.append(CodeIssue(rule, severity, title, evidence, line, why, cwe=cwe))

    # -- scopes

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._nested(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._nested(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._nested(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        # A class body runs at import, like module code; only its methods are deferred.
        self.generic_visit(node)

    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

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
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
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
        if name is not None:
            self._judge_call(name, node)
        self.generic_visit(node)

    def _judge_call(self, name: str, node: ast.Call) -> None:
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
            self.add(
                "MLS-CODE-007",
                Severity.HIGH,
                "code deserialises pickles",
                f"call to {name}",
                node,
                why="unpickling runs code from the data; model code that does it turns any "
                "file it reads into a code-execution path",
                cwe="CWE-502",
            )
            return
        if name in ("setattr", "builtins.setattr", "delattr") and node.args:
            target = self.resolve(node.args[0])
            if target in ("builtins", "sys", "os", "importlib"):
                self._tampering(f"{name}({target}, ...)", node)
            return
        if name in _FILE_DELETE:
            self._file_write(f"call to {name} (deletes files)", node)
            return
        if name in _FILE_WRITE or name.endswith((".write_text", ".write_bytes")):
            self._file_write(f"call to {name}", node)
            return
        if name in _OPENERS or name.endswith(".open"):
            mode = _open_mode(node, name)
            if mode is not None and any(c in mode for c in "wax+"):
                self._file_write(f"{name}(..., {mode!r})", node)

    def _unsafe_load(self, name: str, node: ast.Call) -> bool:
        if name == "torch.load":
            weights_only = next(
                (kw.value for kw in node.keywords if kw.arg == "weights_only"), None
            )
            return not (isinstance(weights_only, ast.Constant) and weights_only.value is True)
        if name in ("numpy.load", "np.load"):
            return any(
                kw.arg == "allow_pickle"
                and isinstance(kw.value, ast.Constant)
                and kw.value.value is True
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

    def _file_write(self, detail: str, node: ast.AST) -> None:
        self.add(
            "MLS-CODE-005",
            Severity.MEDIUM,
            "code writes or deletes files",
            detail,
            node,
            why="model code should only read its weights; writing files can plant code "
            "(shell profiles, site-packages, .pth files) or destroy data",
            cwe="CWE-73",
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

    # -- assignments and constants

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._check_target(target, node)
            if isinstance(target, ast.Name):
                # ``code = base64.b64decode(blob)`` then ``exec(code)``: remember the decoding.
                decoders = self._decoders_in(node.value)
                if decoders:
                    self.decoded[target.id] = decoders[0]
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._check_target(node.target, node)
        self.generic_visit(node)

    def _check_target(self, target: ast.AST, node: ast.AST) -> None:
        if isinstance(target, ast.Attribute):
            base = self.resolve(target.value)
            if base == "builtins":
                self._tampering(f"assignment to {base}.{target.attr}", node)
            elif base == "sys" and target.attr in ("meta_path", "path_hooks", "modules"):
                self._tampering(f"assignment to sys.{target.attr}", node)
        elif isinstance(target, ast.Subscript):
            base = self.resolve(target.value)
            if base in ("sys.modules", "builtins", "builtins.__dict__"):
                self._tampering(f"assignment to {base}[...]", node)

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
        # Path(...).open("w"): the mode is the first argument.
        mode = node.args[0]
    return _literal_str(mode)
