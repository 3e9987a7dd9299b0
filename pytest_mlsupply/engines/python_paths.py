"""Where a path expression in model code points: inside the model directory, or outside it.

The Python analyser (:mod:`pytest_mlsupply.engines.python_ast`) judges writes and loads by their
destination. This module holds the vocabulary it judges with: :class:`Where` (a place, as far
as the source shows), the names that make or move paths (``os.path.join``, ``pathlib.Path``,
``dirname``, ``expanduser``, ``tempfile``), the framework entry points whose parameters are the
model directory, and the pure arithmetic of joining, climbing and concatenating places.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace

__all__ = [
    "ABSOLUTE",
    "CALLER_DIR_PARAMS",
    "CODE_FILE",
    "CONTEXT_ENTRY_POINTS",
    "DIRECTORIES",
    "DIRNAME",
    "ENV_READS",
    "HANDLER_PARAMS",
    "JOINERS",
    "MODEL_DIR_ENTRY_POINTS",
    "MODEL_FILE_PARAMS",
    "OUTSIDE_CALLS",
    "OUTSIDE_NAMES",
    "PATH_CLASSES",
    "SAME_PLACE",
    "SAME_PLACE_METHODS",
    "TEMPFILE_PREFIX",
    "UNKNOWN",
    "Where",
    "concatenate",
    "context_item",
    "descend",
    "describe",
    "either_of",
    "from_text",
    "is_local_text",
    "leaf_of",
    "parent_of",
]


#: Functions that join path components (a later absolute component discards the earlier ones).
JOINERS = frozenset(
    {
        "os.path.join",
        "posixpath.join",
        "ntpath.join",
        "pathlib.Path",
        "pathlib.PurePath",
        "pathlib.PosixPath",
        "pathlib.PurePosixPath",
        "pathlib.WindowsPath",
        "pathlib.PureWindowsPath",
    }
)
PATH_CLASSES = frozenset({"Path", "PurePath", "PosixPath", "PurePosixPath"})
DIRNAME = frozenset({"os.path.dirname", "posixpath.dirname", "ntpath.dirname"})
#: Functions and methods that return the same place in another spelling.
SAME_PLACE = frozenset(
    {
        "os.path.abspath",
        "os.path.realpath",
        "os.path.normpath",
        "os.path.normcase",
        "os.fspath",
        "os.fsencode",
        "os.fsdecode",
        "str",
        "bytes",
    }
)
SAME_PLACE_METHODS = frozenset(
    {"resolve", "absolute", "with_suffix", "with_name", "with_stem", "as_posix", "encode"}
)
ENV_READS = frozenset(
    {"os.getenv", "os.getenvb", "os.environ.get", "os.environb.get", "os.environ.pop"}
)
#: Directories of the interpreter and the user: writing there plants code or persistence.
OUTSIDE_CALLS = {
    "pathlib.Path.home": "the home directory",
    "os.path.expanduser": "the home directory",
    "site.getsitepackages": "site-packages",
    "site.getusersitepackages": "site-packages",
    "sysconfig.get_path": "an interpreter directory",
    "sysconfig.get_paths": "an interpreter directory",
}
OUTSIDE_NAMES = {
    "sys.prefix": "the interpreter's prefix",
    "sys.exec_prefix": "the interpreter's prefix",
    "sys.base_prefix": "the interpreter's prefix",
    "site.USER_SITE": "site-packages",
    "site.USER_BASE": "the user's Python directory",
    "sys.executable": "the interpreter",
}
#: Entry points whose first argument (after self/cls) is the model directory, by the contract of
#: the framework that calls them: SageMaker, MLflow, transformers.
MODEL_DIR_ENTRY_POINTS = frozenset({"model_fn", "_load_pyfunc", "from_pretrained"})
#: Entry points handed a context object whose artifacts / model_dir are the model's files.
CONTEXT_ENTRY_POINTS = frozenset({"load_context", "initialize"})
#: ``EndpointHandler.__init__(self, path)``: Inference Endpoints passes the repository directory.
HANDLER_PARAMS = frozenset({"path", "model_dir", "model_path", "model_name_or_path"})
#: Tokenizer and model file arguments that transformers resolves inside the repository.
MODEL_FILE_PARAMS = frozenset(
    {"vocab_file", "merges_file", "tokenizer_file", "spm_file", "sp_model_file", "vocab_path"}
)
#: ``save_vocabulary(self, save_directory)``: the directory the caller chose for output.
CALLER_DIR_PARAMS = frozenset(
    {"save_directory", "save_dir", "save_path", "output_dir", "output_path", "out_dir"}
)
#: File names whose writing plants code or persistence wherever they land.
CODE_FILE = re.compile(
    r"(?:\.(?:py|pyc|pyw|pth|so|dylib|dll|sh|bash|zsh|ps1|bat|cmd|desktop|service|plist)"
    r"|(?:^|[/\\])\.?(?:bashrc|bash_profile|profile|zshrc|zprofile|login|authorized_keys"
    r"|sitecustomize|usercustomize|crontab|rc\.local))$",
    re.IGNORECASE,
)
TEMPFILE_PREFIX = "tempfile."


@dataclass(frozen=True)
class Where:
    """Where a path expression points, as far as the source shows.

    ``kind``: ``model`` (inside the model directory, ``depth`` components below it), ``caller``
    (a directory a ``save_*`` method is handed), ``scratch`` (a temporary file), ``relative``
    (relative to the working directory), ``outside`` (``why`` says where), ``text`` (a constant
    string, ``text``), ``context`` (a serving framework's context object) or ``unknown``.
    """

    kind: str
    depth: int = 0
    why: str = ""
    text: str | None = None
    leaf: str = ""
    """The last constant component, which names the file written."""


UNKNOWN = Where("unknown")
#: The longest path text followed (Windows' long paths: 32,767 characters; Linux: 4,096).
MAX_TEXT = 1 << 15
DIRECTORIES = frozenset({"model", "caller", "scratch", "relative"})
ABSOLUTE = re.compile(r"^(?:[/\\]|[A-Za-z]:[/\\]|\\\\)")


def context_item(receiver: ast.AST, key: str | None) -> Where:
    if key == "model_dir":
        return Where("model")
    if isinstance(receiver, ast.Attribute) and receiver.attr == "artifacts":
        return Where("model", depth=1)
    return UNKNOWN


def is_local_text(where: Where) -> bool:
    text = where.text or ""
    return (
        where.kind == "text" and (text in (".", "./") or text.startswith("./")) and ".." not in text
    )


def leaf_of(text: str) -> str:
    return re.split(r"[/\\]", text.rstrip("/\\"))[-1] if text else ""


def from_text(text: str) -> Where:
    """A constant used as a whole path."""
    if ABSOLUTE.match(text):
        return Where(
            "outside", why=f"the absolute path {text[:80]!r}", text=text, leaf=leaf_of(text)
        )
    if text.startswith("~"):
        return Where("outside", why="the home directory", text=text, leaf=leaf_of(text))
    return descend(Where("relative"), text)


def descend(base: Where, text: str) -> Where:
    """``base`` joined with the relative ``text``: ``..`` climbs, and above the base is outside."""
    if base.kind not in DIRECTORIES:
        if base.kind in ("outside", "unknown"):
            # The file name still says what is written (x.pth below a computed directory).
            return replace(base, leaf=leaf_of(text) or base.leaf)
        return base
    depth = base.depth
    for part in re.split(r"[/\\]", text):
        if part == "..":
            depth -= 1
            if depth < 0:
                return Where(
                    "outside", why=f"a path that climbs out of its directory ({text[:60]!r})"
                )
        elif part not in ("", "."):
            depth += 1
    return replace(base, depth=depth, leaf=leaf_of(text) or base.leaf)


def parent_of(where: Where) -> Where:
    """The parent directory: above the model directory itself is outside it."""
    if where.kind in DIRECTORIES:
        if where.depth == 0 and where.kind != "relative":
            return Where("outside", why=f"the parent of the {where.kind} directory")
        return replace(where, depth=max(where.depth - 1, 0), leaf="")
    return where if where.kind == "outside" else UNKNOWN


def concatenate(left: Where, right: Where) -> Where:
    """``left + right`` (or an f-string): a suffix on a file, a sub-path, or a sibling."""
    if left.kind == "text" and right.kind == "text":
        # Kept to MAX_TEXT characters: no system opens a longer path, and ``p = p + p``
        # forty times over would otherwise be a terabyte string (its prefix says where it is).
        head = (left.text or "")[:MAX_TEXT]
        text = head + (right.text or "")[: MAX_TEXT - len(head)]
        return Where("text", text=text, leaf=leaf_of(text))
    if left.kind == "text":
        return (
            from_text((left.text or "") + "_")
            if ABSOLUTE.match(left.text or "") or (left.text or "").startswith("~")
            else UNKNOWN
        )
    if left.kind in DIRECTORIES and right.kind == "text":
        text = right.text or ""
        if text.startswith(("/", "\\")):
            return descend(left, text)
        if left.depth == 0 and left.kind != "relative":
            # model_dir + "_evil": a sibling of the model directory, not a file inside it.
            return Where("outside", why=f"a sibling of the {left.kind} directory")
        return descend(replace(left, depth=left.depth - 1), "_" + text)
    if left.kind == "outside":
        return left
    if left.kind == "unknown" and right.kind == "text" and re.search(r"[/\\]", right.text or ""):
        # f"{computed}/evil.pth": a file name below a directory the source does not pin down.
        return replace(UNKNOWN, leaf=leaf_of(right.text or ""))
    return UNKNOWN


def either_of(a: Where, b: Where) -> Where:
    for where in (a, b):
        if where.kind == "outside":
            return where
    return a if a == b else UNKNOWN


def describe(where: Where) -> str:
    if where.kind == "model":
        return "a path inside the model directory"
    if where.kind == "caller":
        return "the directory the caller chose"
    if where.kind == "scratch":
        return "a temporary file"
    if where.kind == "relative":
        return "a path relative to the working directory"
    if where.kind == "outside":
        return where.why
    if where.kind == "text":
        return repr((where.text or "")[:80])
    return "a path the source does not pin down"
