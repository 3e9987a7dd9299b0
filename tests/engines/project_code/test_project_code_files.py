"""Files: notebooks cell by cell, encodings, and failing closed on what cannot be read."""

from __future__ import annotations

import hashlib
import json
import os
import sysconfig
from pathlib import Path

import pytest

from pytest_mlsupply.engines.project_code import CodeAnalysis, analyse_file, analyse_source


def notebook(path: Path, cells: list[tuple[str, object]], nbformat: int = 4) -> Path:
    document = {
        "nbformat": nbformat,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": kind, "metadata": {}, "source": source, "outputs": []}
            for kind, source in cells
        ],
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_python_file_is_read_and_judged(tmp_path: Path) -> None:
    path = tmp_path / "load.py"
    path.write_text("import torch\ntorch.load('m')\n", encoding="utf-8")
    analysis = analyse_file(path, display="src/load.py")
    assert analysis.error is None
    (finding,) = analysis.findings
    assert finding.location.file == "src/load.py"


def test_a_pep_263_encoding_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "latin.py"
    path.write_bytes(b"# -*- coding: latin-1 -*-\nimport torch\nname = '\xe9'; torch.load(name)\n")
    analysis = analyse_file(path, display="latin.py")
    assert analysis.error is None
    (finding,) = analysis.findings
    assert "name = '\u00e9'" in finding.evidence


def test_a_file_that_is_not_utf8_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_bytes(b"import torch\nx = '\xff\xfe'\n")
    analysis = analyse_file(path, display="src/bad.py")
    assert analysis.findings == []
    assert analysis.error is not None
    assert analysis.error.startswith("src/bad.py: ")
    assert "fix:" in analysis.error


def test_a_syntax_error_is_an_error_with_its_line() -> None:
    analysis = analyse_source("import torch\n\ndef broken(:\n", file="src/x.py")
    assert analysis.findings == []
    assert analysis.error is not None
    assert analysis.error.startswith("src/x.py: line 3: ")
    assert "fix:" in analysis.error


def test_a_null_byte_is_an_error_naming_its_line_not_an_exception() -> None:
    analysis = analyse_source("import os\n\nx = 1\0\n", file="x.py")
    assert analysis.error is not None
    assert analysis.error.startswith("x.py: line 3: ")
    assert "None" not in analysis.error


def test_a_file_nested_too_deeply_is_an_error_not_an_exception() -> None:
    analysis = analyse_source("x = " + "(" * 5000 + "1" + ")" * 5000 + "\n", file="deep.py")
    assert analysis.error is not None
    assert analysis.error.startswith("deep.py: ")


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    analysis = analyse_file(tmp_path / "gone.py", display="gone.py")
    assert analysis.error is not None
    assert analysis.error.startswith("gone.py: cannot be read")
    assert analysis.sha256 is None


def test_the_digest_is_of_the_bytes_judged_even_when_they_do_not_parse(tmp_path: Path) -> None:
    for name, data in (("ok.py", b"import torch\ntorch.load('m')\n"), ("bad.py", b"def (\n")):
        path = tmp_path / name
        path.write_bytes(data)
        analysis = analyse_file(path, display=name)
        assert analysis.sha256 == hashlib.sha256(data).hexdigest()


def test_a_notebook_is_judged_cell_by_cell_with_cell_numbers(tmp_path: Path) -> None:
    path = notebook(
        tmp_path / "n.ipynb",
        [
            ("markdown", "# Loading"),
            ("code", ["import torch as t\n", "%matplotlib inline\n"]),
            ("code", "!pip install torch\nstate = t.load('m.pt')\n"),
        ],
    )
    analysis = analyse_file(path, display="notebooks/n.ipynb")
    assert analysis.error is None
    (finding,) = analysis.findings
    assert (finding.location.cell, finding.location.line, finding.location.column) == (3, 2, 9)
    assert "torch.load resolved from 't.load'" in finding.evidence


def test_a_suppression_in_a_notebook_names_its_cell(tmp_path: Path) -> None:
    path = notebook(
        tmp_path / "n.ipynb",
        [
            (
                "code",
                "import pickle\npickle.load(f)  # mlsupply: ignore[MLS-LOAD-002] -- test data\n",
            )
        ],
    )
    (finding,) = analyse_file(path, display="n.ipynb").findings
    assert finding.accepted is not None
    assert finding.accepted.source == "n.ipynb:cell 1:2"


def test_magics_shell_lines_and_help_are_blanked_keeping_line_numbers(tmp_path: Path) -> None:
    path = notebook(
        tmp_path / "n.ipynb",
        [
            (
                "code",
                "%load_ext autoreload\nfiles = !ls\ntorch?\nif True:\n    !echo hi\n"
                "import torch\ntorch.load('m')\n",
            ),
            ("code", "%%bash\necho $(python -c 'import pickle; pickle.load(f)')\n"),
            ("code", "%%time\nimport pickle\npickle.loads(b)\n"),
        ],
    )
    analysis = analyse_file(path, display="n.ipynb")
    assert analysis.error is None
    assert [(f.rule, f.location.cell, f.location.line) for f in analysis.findings] == [
        ("MLS-LOAD-001", 1, 7),
        ("MLS-LOAD-002", 3, 3),
    ]


def test_a_notebook_cell_that_does_not_parse_is_an_error_naming_the_cell(tmp_path: Path) -> None:
    path = notebook(tmp_path / "n.ipynb", [("code", "x = 1"), ("code", "def (:\n")])
    analysis = analyse_file(path, display="n.ipynb")
    assert analysis.findings == []
    assert analysis.error is not None
    assert analysis.error.startswith("n.ipynb: cell 2: line 1: ")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('{"nbformat": 4, "cells": [], "cells": []}', "duplicate"),
        ("[]", "no 'cells' list"),
        (json.dumps({"nbformat": 3, "cells": []}), "nbformat 3"),
        (json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": 5}]}), "cell 1"),
    ],
)
def test_a_notebook_that_is_not_nbformat_4_json_is_an_error(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_text(text, encoding="utf-8")
    analysis = analyse_file(path, display="bad.ipynb")
    assert analysis.error is not None
    assert analysis.error.startswith("bad.ipynb: ")
    assert problem in analysis.error
    assert "fix:" in analysis.error


def test_the_standard_library_is_analysed_without_an_exception() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.rglob("*.py") if "site-packages" not in p.parts)
    sample = files[:: max(1, len(files) // 300)]
    assert len(sample) >= 200
    for path in sample:
        analysis = analyse_file(path, display=path.name)
        assert isinstance(analysis, CodeAnalysis)
        assert analysis.error is None or analysis.error.startswith(path.name)


def test_a_byte_order_mark_is_no_code(tmp_path: Path) -> None:
    path = tmp_path / "bom.py"
    path.write_bytes(b"\xef\xbb\xbfimport pickle\npickle.loads(b)\n")
    from_file = analyse_file(path, display="bom.py")
    from_text = analyse_source(path.read_text(encoding="utf-8"), file="bom.py")
    assert [f.rule for f in from_file.findings] == ["MLS-LOAD-002"]
    assert [f.rule for f in from_text.findings] == ["MLS-LOAD-002"]


def test_a_line_ending_in_a_question_mark_after_code_is_still_code(tmp_path: Path) -> None:
    path = notebook(tmp_path / "n.ipynb", [("code", "import pickle\npickle.loads(b)  # why?\n")])
    assert [f.rule for f in analyse_file(path, display="n.ipynb").findings] == ["MLS-LOAD-002"]


def test_a_notebook_nested_too_deeply_is_an_error_not_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "deep.ipynb"
    path.write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    analysis = analyse_file(path, display="deep.ipynb")
    assert analysis.error is not None
    assert analysis.error.startswith("deep.ipynb: ")


def test_a_file_not_in_its_declared_encoding_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_bytes(b"x = 1\ny = 2\nz = '\xff'\n")
    analysis = analyse_file(path, display="bad.py")
    assert analysis.error is not None
    assert analysis.error.startswith("bad.py: line 3: not valid utf-8")


def test_the_evidence_quotes_the_flagged_line_whatever_other_line_breaks_a_string_holds() -> None:
    # str.splitlines breaks at \x0c, \x1c and \u2028; Python's line numbers do not.
    source = 'import torch\nx = "a\x0cb\u2028c"  # \x1c harmless\ntorch.load(p)\n'
    (finding,) = analyse_source(source, file="a.py").findings
    assert finding.location.line == 3
    assert finding.evidence.startswith("`torch.load(p)`")


def test_a_named_pipe_is_an_error_and_never_blocks_the_read(tmp_path: Path) -> None:
    pipe = tmp_path / "loader.py"
    os.mkfifo(pipe)  # no writer: a blocking open would wait forever
    analysis = analyse_file(pipe, display="src/loader.py")
    assert analysis.findings == []
    assert analysis.error is not None
    assert analysis.error.startswith("src/loader.py: not a regular file")


def test_a_link_to_a_device_is_an_error_not_read_as_source(tmp_path: Path) -> None:
    link = tmp_path / "empty.py"
    link.symlink_to("/dev/null")  # reads as an empty module: a pass, were devices read
    analysis = analyse_file(link, display="src/empty.py")
    assert analysis.error is not None
    assert "not a regular file" in analysis.error


@pytest.mark.parametrize(
    "source",
    [
        "import torch\n%time model = torch.load('ckpt.pt')\n",
        "import torch\nmodel = %time torch.load('ckpt.pt')\n",
        "import torch\n%timeit -n 10 -r 3 torch.load('ckpt.pt')\n",
        "import torch\n%prun -s cumulative torch.load('ckpt.pt')\n",
        "import torch\nif True:\n    %time torch.load('ckpt.pt')\n",
        "%%timeit -n 3 import torch; torch.load('ckpt.pt')\npass\n",
        "%%python3\nimport torch\ntorch.load('ckpt.pt')\n",
        "%%script python3 --bg\nimport torch\ntorch.load('ckpt.pt')\n",
        # Review R3: %time hands its statement to IPython's transformer again, and %debug,
        # memory_profiler's %memit and line_profiler's %lprun run one too.
        "import torch\n%time %time model = torch.load('ckpt.pt')\n",
        "import torch\nif True:\n    %time %timeit -n 3 torch.load('ckpt.pt')\n",
        "import torch\n%time m = %time torch.load('ckpt.pt')\n",
        "import torch\n%debug -b load.py:3 torch.load('ckpt.pt')\n",
        "import torch\n%memit torch.load('ckpt.pt')\n",
        "import torch\n%lprun -f torch.load torch.load('ckpt.pt')\n",
    ],
)
def test_python_a_magic_runs_is_judged_as_python(tmp_path: Path, source: str) -> None:
    # IPython runs each of these torch.load calls; blanking the magic's line hid them.
    path = notebook(tmp_path / "n.ipynb", [("code", source)])
    analysis = analyse_file(path, display="n.ipynb")
    assert analysis.error is None
    assert [f.rule for f in analysis.findings] == ["MLS-LOAD-001"]


def test_a_magic_statement_keeps_its_columns(tmp_path: Path) -> None:
    path = notebook(tmp_path / "n.ipynb", [("code", "import torch\n%time m = torch.load(p)\n")])
    (finding,) = analyse_file(path, display="n.ipynb").findings
    assert (finding.location.line, finding.location.column) == (2, 11)


def test_a_magic_looking_line_inside_a_string_is_the_strings_text(tmp_path: Path) -> None:
    # IPython escapes only a statement's first token: this cell runs torch.load, and blanking
    # the middle line made the engine see one harmless string.
    source = 'import torch\ns = """\n%"""; model = torch.load(p); t = """\n"""\n'
    path = notebook(tmp_path / "n.ipynb", [("code", source)])
    analysis = analyse_file(path, display="n.ipynb")
    assert analysis.error is None
    assert [(f.rule, f.location.line) for f in analysis.findings] == [("MLS-LOAD-001", 3)]


def test_more_magic_looking_string_lines_than_the_restore_bound_hide_nothing(
    tmp_path: Path,
) -> None:
    # Review R3: past 200 lines given back the rest stayed blanked, so 201 decoys in a string
    # hid the torch.load IPython runs. Past the bound the cell is judged as written.
    decoys = "%decoy\n" * 201
    source = f'import torch\ns = """\n{decoys}%"""; model = torch.load(p); t = """\n"""\n'
    path = notebook(tmp_path / "n.ipynb", [("code", source)])
    analysis = analyse_file(path, display="n.ipynb")
    assert analysis.error is None
    assert [(f.rule, f.location.line) for f in analysis.findings] == [("MLS-LOAD-001", 204)]


def test_percent_lines_of_a_multi_line_string_stay_text_and_real_magics_are_blanked(
    tmp_path: Path,
) -> None:
    source = 'q = """\n%s\n!x\n"""\n%matplotlib inline\nfiles = !ls\n%time x = 1\n%time !ls\n'
    path = notebook(tmp_path / "n.ipynb", [("code", source)])
    analysis = analyse_file(path, display="n.ipynb")
    assert analysis.error is None
    assert analysis.findings == []


def test_a_magic_continuing_a_statement_is_not_blanked_into_a_pass(tmp_path: Path) -> None:
    # IPython reads it as Python too (`f(1, % time 2)`): an error, never a pass.
    path = notebook(tmp_path / "n.ipynb", [("code", "x = f(1,\n%time 2)\n")])
    analysis = analyse_file(path, display="n.ipynb")
    assert analysis.error is not None
    assert "cell 1: line" in analysis.error
