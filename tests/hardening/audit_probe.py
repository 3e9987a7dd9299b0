"""An audit hook that records what happens inside the scanner, for the audit-hook proof.

Installed in a subprocess (an audit hook cannot be removed): by the engine driver of
``test_audit_hook.py``, or as a pytest plugin (``-p tests.hardening.audit_probe``) for the real
``pytest --mlsupply`` flow. It records, as JSON lines in the file ``$MLSUPPLY_AUDIT_LOG`` names,
every watched audit event raised while a scanner entry point (``scan_file``, ``scan_open``,
``scan_blob``) or a check item's ``runtest`` is on the calling thread's stack, and every module
the import system is asked to find there. The tests judge the records; this module only
records (and, run as ``python -m tests.hardening.audit_probe TREE OUT``, scans a tree).

Why each piece:

* ``sys.addaudithook`` sees ``exec``/``eval``, ``compile``, ``import`` (through ``__import__``
  and the ``import`` statement), ``subprocess.Popen``, ``os.system``/``exec``/``spawn``/
  ``posix_spawn``/``fork``, ``socket.*``, ``pickle.find_class``, ``marshal.*`` and ``ctypes.*``
  whichever code raises them.
* ``importlib.import_module`` raises no ``import`` audit event (it goes through
  ``importlib._bootstrap`` in Python, not the C ``__import__``), so a finder first on
  ``sys.meta_path`` records every name the import system looks up: no import route is missed.
* A thread started in scope inherits it (the probe wraps ``threading``'s thread starter: 3.11
  raises no audit event for a new thread), so work handed to a thread is seen too.
* Scope is decided by walking the stack for the entry points' code (by file and function name,
  so the probe imports nothing of the package and cannot change what it observes).
* The import system itself raises ``exec`` (a module's body), ``marshal.loads`` (its ``.pyc``),
  ``compile`` (a ``.py`` without a cache) and ``ctypes.dlopen`` (a C library a dependency
  loads); those are marked ``in_import`` when the import system's ``_load_unlocked`` sits
  between the event and the scanner: the code run is that of a module whose name an ``import``
  record already shows, so the name is what is judged.
* ``importlib.util.find_spec`` of a top-level name asks the finders and loads nothing (the
  pickle engine asks whether a global's package exists here): recorded as ``import.lookup``,
  told apart from an import by the import system's ``_find_and_load`` on the stack.
* ``ast.parse`` raises ``compile`` too, with the source the scanner analyses. The audit event
  carries no flags, so the probe reads them from the caller frame: a ``compile`` whose direct
  Python caller is ``ast.parse`` with ``PyCF_ONLY_AST`` in its ``flags`` builds a tree and no
  code object; it is marked ``ast_only``. Any other ``compile`` is compilation to code.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import threading
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, TextIO

LOG_VARIABLE = "MLSUPPLY_AUDIT_LOG"

#: (file suffix, function name) of the code whose dynamic extent is "inside the scanner".
SCANNER_ENTRIES = frozenset(
    {
        ("pytest_mlsupply/engines/scanner.py", "scan_file"),
        ("pytest_mlsupply/engines/scanner.py", "scan_open"),
        ("pytest_mlsupply/engines/scanner.py", "scan_blob"),
        ("pytest_mlsupply/engines/blob.py", "scan_blob"),
    }
)
#: A check item's run: what ``pytest --mlsupply`` does for a model's files beyond the scan.
ITEM_ENTRIES = frozenset({("pytest_mlsupply/plugin/items.py", "runtest")})

#: Events nothing in scope may raise, not even a module being loaded.
NEVER = (
    "subprocess.",
    "os.system",
    "os.exec",
    "os.spawn",
    "os.posix_spawn",
    "os.fork",
    "os.forkpty",
    "os.startfile",
    "pty.spawn",
    "socket.",
    "pickle.find_class",
    "code.__new__",
    "cpython.run_",
    "urllib.Request",
    "http.client.",
    "webbrowser.open",
)
#: Events only the import system may raise while it loads a module whose name was judged:
#: its body (exec), its .pyc (marshal), its source (compile), its C library (ctypes).
LOADING_ONLY = ("exec", "compile", "marshal.", "ctypes.")
#: Audit events (exact names, or prefixes ending in ".") the proof watches.
WATCHED = ("import", *LOADING_ONLY, *NEVER)

_BOOTSTRAP = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")
_PARSE_CODE = ast.parse.__code__
_state = threading.local()
_log: TextIO | None = None
_extra_tokens: tuple[str, ...] = ()


def _watched(event: str) -> bool:
    return any(event == w or (w.endswith(".") and event.startswith(w)) for w in WATCHED)


def _scope(frame: FrameType | None) -> tuple[str | None, bool, bool]:
    """The innermost entry point on the stack ("scanner" or "item", None outside both);
    whether a module body is being loaded between the event and that entry point (the import
    system's ``_load_unlocked``); and whether a module is being imported at all
    (``_find_and_load``: a bare ``importlib.util.find_spec`` looks a name up and loads nothing).
    """
    loading = importing = False
    while frame is not None:
        code = frame.f_code
        if code.co_filename in _BOOTSTRAP:
            loading = loading or code.co_name == "_load_unlocked"
            importing = importing or code.co_name == "_find_and_load"
        else:
            path = code.co_filename.replace(os.sep, "/")
            for suffix, name in SCANNER_ENTRIES:
                if code.co_name == name and path.endswith(suffix):
                    return "scanner", loading, importing
            for suffix, name in ITEM_ENTRIES:
                if code.co_name == name and path.endswith(suffix):
                    return "item", loading, importing
        frame = frame.f_back
    # A thread started in scope inherits it: its stack starts afresh, its work is the scan's.
    return getattr(_state, "inherited", None), loading, importing


def _where(frame: FrameType | None, depth: int = 6) -> list[str]:
    """The innermost frames outside the import system, as ``file:line function``: where a
    record came from, for the reader of a failure."""
    where: list[str] = []
    while frame is not None and len(where) < depth:
        if frame.f_code.co_filename not in _BOOTSTRAP:
            where.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        frame = frame.f_back
    return where


def _ast_only(frame: FrameType | None) -> bool:
    """The ``compile`` event was raised by ``ast.parse`` asking for a tree, not for code."""
    if frame is None or frame.f_code is not _PARSE_CODE:
        return False
    flags = frame.f_locals.get("flags", 0)
    return isinstance(flags, int) and bool(flags & ast.PyCF_ONLY_AST)


def _detail(event: str, args: tuple[Any, ...]) -> str:
    if event == "compile":
        return f"filename={args[1]!r}" if len(args) > 1 else ""
    if event == "exec" and args and hasattr(args[0], "co_filename"):
        return f"code from {args[0].co_filename!r}"
    if event == "import" and args:
        return repr(args[0])
    if event.startswith("marshal."):
        return f"{len(args[0]) if args and isinstance(args[0], bytes | bytearray) else '?'} bytes"
    return repr(args)[:500]


def _write(record: dict[str, Any]) -> None:
    if _log is not None:
        _log.write(json.dumps(record) + "\n")
        _log.flush()


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if getattr(_state, "busy", False):
        return  # an event the hook itself raises (sys._getframe, the log's write)
    # Every event is looked at for planted names: an unexpected route (an open() of a path a
    # pickle named, a find_class) still shows the token. The rest only when watched.
    watched = _watched(event)
    token_seen = bool(_extra_tokens) and not watched and any(t in repr(args) for t in _extra_tokens)
    if not watched and not token_seen:
        return
    _state.busy = True
    try:
        caller = sys._getframe(1)
        scope, in_import, _ = _scope(caller)
        if scope is None:
            return
        _write(
            {
                "event": event,
                "scope": scope,
                "detail": _detail(event, args),
                "in_import": in_import,
                "ast_only": event == "compile" and _ast_only(caller),
                "name": args[0]
                if event == "import" and args and isinstance(args[0], str)
                else None,
                "pid": os.getpid(),
                "where": _where(caller),
            }
        )
    finally:
        _state.busy = False


class RecordingFinder:
    """First on ``sys.meta_path``: records each module name looked up in scope, finds none."""

    @classmethod
    def find_spec(
        cls, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if getattr(_state, "busy", False):
            return None
        _state.busy = True
        try:
            caller = sys._getframe(1)
            scope, in_import, importing = _scope(caller)
            if scope is not None:
                _write(
                    {
                        "event": "import.find_spec" if importing else "import.lookup",
                        "scope": scope,
                        "detail": fullname,
                        "in_import": in_import,
                        "ast_only": False,
                        "name": fullname,
                        "pid": os.getpid(),
                        "where": _where(caller),
                    }
                )
        finally:
            _state.busy = False
        return None


def _start_in_scope(start: Any) -> Any:
    """Wrap threading's thread starter: a thread started while a scope is on the stack runs
    with that scope, so work a scanner hands to a thread (a pool, a reader) is still seen.
    (Python 3.11 raises no audit event when a thread starts; 3.13 does.)"""

    def starter(function: Any, *args: Any, **kwargs: Any) -> Any:
        _state.busy = True
        try:
            scope = _scope(sys._getframe(1))[0]
        finally:
            _state.busy = False
        if scope is None:
            return start(function, *args, **kwargs)

        def run(*inner: Any, **named: Any) -> Any:
            _state.inherited = scope
            return function(*inner, **named)

        _write(
            {
                "event": "thread.start",
                "scope": scope,
                "detail": repr(function)[:200],
                "in_import": False,
                "ast_only": False,
                "name": None,
                "pid": os.getpid(),
                "where": _where(sys._getframe(1)),
            }
        )
        return start(run, *args, **kwargs)

    return starter


def install(log_path: str, tokens: Sequence[str] = ()) -> None:
    """Start recording into ``log_path`` (appended: several processes may share it)."""
    global _log, _extra_tokens
    _log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - open for the process's life
    _extra_tokens = tuple(tokens)
    sys.meta_path.insert(0, RecordingFinder)
    for starter in ("_start_new_thread", "_start_joinable_thread"):  # 3.11-3.12, 3.13+
        if hasattr(threading, starter):
            setattr(threading, starter, _start_in_scope(getattr(threading, starter)))
    sys.addaudithook(_hook)


# As a pytest plugin (-p tests.hardening.audit_probe): install at import, before any item runs.
if os.environ.get(LOG_VARIABLE):
    install(
        os.environ[LOG_VARIABLE],
        [t for t in os.environ.get("MLSUPPLY_AUDIT_TOKENS", "").split(",") if t],
    )


def scan_tree(root: Path, out: Path) -> None:
    """The engine driver: ``scan_file`` on every file below ``root`` (sorted), and a summary of
    each report in ``out`` (JSON), so the test sees that the scans ran and what they found."""
    from pytest_mlsupply.engines.scanner import scan_file

    summary: dict[str, Any] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        subject = path.relative_to(root).as_posix()
        report = scan_file(path, subject)
        summary[subject] = {
            "rules": sorted({f.rule for f in report.findings}),
            "errors": report.errors,
            "text": "\n".join(f.render() for f in report.findings),
        }
    out.write_text(json.dumps(summary))


if __name__ == "__main__":
    scan_tree(Path(sys.argv[1]), Path(sys.argv[2]))
