"""Regenerate the terminal and error examples in the docs from real runs, or check that they match.

An example is a fenced block in a Markdown file preceded by a marker line naming it::

    <!-- example: manifest-errors -->
    ```
    mlsupply.yaml is invalid (4 problems):
    ...
    ```

Each name is produced here by a real run: a copy of ``example_project/`` (or a manifest written
here) in a scratch directory, ``pytest`` run in a subprocess with this checkout on the path, and
the part of the output the example shows cut out of it. What legitimately varies between runs is
normalised: the scratch directory (paths read relative to the project) and sha256 digests,
shortened to their first eight digits (a changed file's digest depends on the byte changed).
The session's duration is never part of an example. Nothing else is edited: a docs example that no longer matches what the plugin prints fails
``tests/test_doc_examples.py``.

    python scripts/update_doc_examples.py           # rewrite the examples in place
    python scripts/update_doc_examples.py --check   # exit 1 and show the diff if one is stale
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PROJECT = ROOT / "example_project"
#: The Markdown files that hold marked examples.
DOCS = (
    ROOT / "README.md",
    ROOT / "docs" / "configuration.md",
    ROOT / "docs" / "marker.md",
    ROOT / "docs" / "cli.md",
)
#: Terminal width the runs are made at (pytest's separators and progress column).
COLUMNS = 76

MARKER = re.compile(
    r"^<!-- example: (?P<name>[a-z0-9.-]+) -->\n(?P<fence>```[a-z]*)\n(?P<body>.*?)^```$",
    re.M | re.S,
)

#: The manifest of the configuration reference's error example (shown as written).
BROKEN_MANIFEST = """\
version: 1
project: {name: demo}
policy:
  fail_on: hgih
models:
  - name: sentiment
    source: hf://acme/sentiment-bert@main
    card: {require: [licence]}
    datasets: [reviews]
"""

#: The command the README's failing example runs first (a harmless pickle, made by pickle).
PICKLE_COMMAND = (
    "python -c \"import pickle; open('models/sentiment/extra.bin','wb')"
    ".write(pickle.dumps({'a': 1}, protocol=4))\""
)


class ExampleError(Exception):
    """A run did not print what an example shows (the plugin changed in a way to look at)."""


def run_pytest(project: Path, *args: str) -> str:
    """``pytest ARGS`` in ``project`` with this checkout's plugin; stdout and stderr."""
    return run_python(project, "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", *args)


def run_python(project: Path, module: str, *args: str) -> str:
    """``python -m MODULE ARGS`` in ``project`` with this checkout on the path; stdout and
    stderr, with the project's directory cut out of paths."""
    env = {
        **os.environ,
        "COLUMNS": str(COLUMNS),
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
        # Offline by construction, and no colour codes in the text.
        "HF_HUB_OFFLINE": "1",
        "NO_COLOR": "1",
        "PY_COLORS": "0",
    }
    for variable in ("GITHUB_STEP_SUMMARY", "PYTEST_ADDOPTS", "CI", "GITHUB_ACTIONS"):
        env.pop(variable, None)
    # This machine's package indexes are not the reader's: the `confusion` check would warn
    # about an extra index configured here (pip's files and PIP_*/UV_* variables).
    for variable in [v for v in env if v.startswith(("PIP_", "UV_"))]:
        del env[variable]
    env["PIP_CONFIG_FILE"] = os.devnull
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return (done.stdout + done.stderr).replace(str(project) + os.sep, "")


def copy_example_project(scratch: Path) -> Path:
    project = scratch / "example_project"
    shutil.copytree(
        EXAMPLE_PROJECT,
        project,
        ignore=shutil.ignore_patterns("build", ".pytest_cache", "__pycache__"),
    )
    return project


def normalise(lines: Sequence[str]) -> str:
    out = []
    for line in lines:
        out.append(re.sub(r"sha256:([0-9a-f]{8})[0-9a-f]{56}", r"sha256:\1…", line.rstrip()))
    return "\n".join(out)


def between(output: str, first: Callable[[str], bool], last: Callable[[str], bool]) -> list[str]:
    """The lines from the first matching ``first`` to the last after it matching ``last``
    (both included)."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if first(line)), None)
    if start is None:
        raise ExampleError(f"the run did not print the example's first line:\n{output}")
    ends = [i for i in range(start, len(lines)) if last(lines[i])]
    if not ends:
        raise ExampleError(f"the run did not print the example's last line:\n{output}")
    return lines[start : ends[-1] + 1]


def section(output: str, title: str) -> list[str]:
    """One failure section of pytest's output: its ``___ title ___`` header and its body."""
    lines = output.splitlines()
    header = next(
        (i for i, line in enumerate(lines) if line.startswith("_") and f" {title} " in line), None
    )
    if header is None:
        raise ExampleError(f"the run printed no section {title!r}:\n{output}")
    end = header + 1
    while end < len(lines) and not re.match(r"^[_=-]{3,} ", lines[end]):
        end += 1
    return lines[header:end]


# -- the examples -----------------------------------------------------------------------------


def gate_passes(scratch: Path) -> str:
    output = run_pytest(copy_example_project(scratch), "--mlsupply")
    lines = between(
        output,
        lambda line: line.startswith("tests/"),
        lambda line: line.startswith("wrote "),
    )
    return normalise(["$ pytest --mlsupply", *lines])


def gate_fails_on_a_pickle(scratch: Path) -> str:
    import pickle

    project = copy_example_project(scratch)
    (project / "models" / "sentiment" / "extra.bin").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    output = run_pytest(project, "--mlsupply")
    lines = section(output, "mlsupply: artifact[sentiment/extra.bin::format]")
    return normalise([f"$ {PICKLE_COMMAND}", "$ pytest --mlsupply", *lines])


def manifest_errors_input(_scratch: Path) -> str:
    return BROKEN_MANIFEST.rstrip("\n")


def manifest_errors(scratch: Path) -> str:
    project = scratch / "demo"
    project.mkdir()
    (project / "mlsupply.yaml").write_text(BROKEN_MANIFEST)
    (project / "pytest.ini").write_text("[pytest]\n")
    output = run_pytest(project, "--mlsupply")
    lines = between(
        output,
        lambda line: line.startswith("mlsupply.yaml is invalid"),
        lambda line: line.startswith("    fix: declare it"),
    )
    return normalise(lines)


def marker_fails_on_a_changed_file(scratch: Path) -> str:
    project = copy_example_project(scratch)
    weights = project / "models" / "sentiment" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one byte of the last tensor: the file still parses, its pin does not hold
    weights.write_bytes(bytes(data))
    test = "test_the_verified_model_is_the_one_pinned_in_the_manifest"
    output = run_pytest(project, f"tests/test_verified_model.py::{test}")
    return normalise(section(output, test))


#: The project of docs/cli.md's ``mlsupply code`` example: a finding, a suppressed one in a
#: notebook, and a file that does not parse.
CODE_EXAMPLE_FILES = {
    "src/app/load.py": "import torch\n\n\ndef load(path):\n    return torch.load(path)\n",
    "src/app/broken.py": "def load(:\n",
    "notebooks/eval.ipynb": json.dumps(
        {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [
                {"cell_type": "markdown", "metadata": {}, "source": ["# Evaluation\n"]},
                {
                    "cell_type": "code",
                    "metadata": {},
                    "execution_count": None,
                    "outputs": [],
                    "source": [
                        "import torch\n",
                        "state = torch.load('ours.pt')  "
                        "# mlsupply: ignore[MLS-LOAD-001] -- our own checkpoint, built in CI\n",
                    ],
                },
            ],
        }
    ),
}


def code_cli_text(scratch: Path) -> str:
    project = scratch / "project"
    for name, text in CODE_EXAMPLE_FILES.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding="utf-8")
    output = run_python(project, "pytest_mlsupply.cli", "code", "src", "notebooks")
    return normalise(["$ mlsupply code src notebooks", *output.splitlines()])


EXAMPLES: dict[str, Callable[[Path], str]] = {
    "code-cli-text": code_cli_text,
    "gate-passes": gate_passes,
    "gate-fails-on-a-pickle": gate_fails_on_a_pickle,
    "manifest-errors.yaml": manifest_errors_input,
    "manifest-errors": manifest_errors,
    "marker-fails-on-a-changed-file": marker_fails_on_a_changed_file,
}


# -- updating and checking ----------------------------------------------------------------------


def produce(names: set[str]) -> dict[str, str]:
    """Each named example's body, from its run (each in its own scratch directory)."""
    bodies: dict[str, str] = {}
    for name in sorted(names):
        if name not in EXAMPLES:
            raise ExampleError(
                f"unknown example {name!r}: add it to EXAMPLES in scripts/update_doc_examples.py "
                f"or fix the marker (known: {', '.join(EXAMPLES)})"
            )
        with tempfile.TemporaryDirectory(prefix="mlsupply-doc-example-") as scratch:
            bodies[name] = EXAMPLES[name](Path(scratch))
    return bodies


def rewrite(text: str, bodies: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        return f"<!-- example: {name} -->\n{match['fence']}\n{bodies[name]}\n```"

    return MARKER.sub(replace, text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    parser.add_argument("files", nargs="*", type=Path, help="Markdown files (default: the docs)")
    args = parser.parse_args(argv)
    files = [path.resolve() for path in args.files] or list(DOCS)
    texts = {path: path.read_text(encoding="utf-8") for path in files}
    names = {match["name"] for text in texts.values() for match in MARKER.finditer(text)}
    try:
        bodies = produce(names)
    except ExampleError as exc:
        print(f"update_doc_examples: {exc}", file=sys.stderr)
        return 2
    stale = 0
    for path, text in texts.items():
        new = rewrite(text, bodies)
        if new == text:
            continue
        stale += 1
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        if args.check:
            diff = difflib.unified_diff(
                text.splitlines(), new.splitlines(), f"{shown} (docs)", f"{shown} (a real run)"
            )
            print("\n".join(diff))
        else:
            path.write_text(new, encoding="utf-8")
            print(f"updated {shown}")
    if args.check and stale:
        print(
            f"{stale} file(s) show examples that a real run no longer prints: run "
            "`python scripts/update_doc_examples.py` and review the diff",
            file=sys.stderr,
        )
        return 1
    print(f"doc examples: {len(names)} checked in {len(files)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
