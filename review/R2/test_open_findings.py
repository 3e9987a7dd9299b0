"""Review R2 (attacks 3 and 4): reproducers of findings NOT fixed on s26-R2. Each test FAILS
on the branch today and states the behaviour that would make it pass.

Run: PYTHONPATH=$PWD python -m pytest -p no:randomly review/R2 (outside testpaths on purpose).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pytest_mlsupply.baseline import fingerprint
from pytest_mlsupply.engines.project_code import analyse_source
from pytest_mlsupply.sources.code import find_code_files

UNSAFE = "import torch\nstate = torch.load('ckpt.pt')\n"


def subjects(root: Path) -> list[str]:
    return [f.subject for f in find_code_files([root / "src"], root=root)]


def test_f1_a_stray_pyvenv_cfg_hides_a_whole_importable_package(tmp_path: Path) -> None:
    # One empty file makes the walk take src/app for a virtual environment: src/app/load.py is
    # never checked, no item, no error, nothing in the matrix (`from app import load` works).
    (tmp_path / "src" / "app").mkdir(parents=True)
    (tmp_path / "src" / "app" / "load.py").write_text(UNSAFE)
    (tmp_path / "src" / "app" / "pyvenv.cfg").write_text("")
    (tmp_path / "src" / "main.py").write_text("from app import load\n")
    assert "src/app/load.py" in subjects(tmp_path)


def test_f2_importable_directories_named_node_modules_or_pycache_are_skipped(
    tmp_path: Path,
) -> None:
    # `import node_modules.loader` and `import __pycache__.loader` are valid namespace imports.
    for skipped in ("node_modules", "__pycache__"):
        (tmp_path / "src" / skipped).mkdir(parents=True)
        (tmp_path / "src" / skipped / "loader.py").write_text(UNSAFE)
    (tmp_path / "src" / "main.py").write_text("x = 1\n")
    assert subjects(tmp_path) == [
        "src/__pycache__/loader.py",
        "src/main.py",
        "src/node_modules/loader.py",
    ]


def test_f3_a_symlinked_package_directory_is_skipped_in_silence(tmp_path: Path) -> None:
    # src/models -> ../shared/models: `import models.m` runs shared/models/m.py, never checked.
    (tmp_path / "shared" / "models").mkdir(parents=True)
    (tmp_path / "shared" / "models" / "m.py").write_text(UNSAFE)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("import models.m\n")
    (tmp_path / "src" / "models").symlink_to(tmp_path / "shared" / "models")
    assert "src/models/m.py" in subjects(tmp_path)


def test_f4_the_baseline_fingerprint_ignores_a_long_calls_tail() -> None:
    # The evidence quotes 160 characters; a baseline entry accepting the first call also
    # accepts the second (same file, line, column, rule, title, evidence).
    def finding(module: str) -> tuple[object, str]:
        source = (
            "import torch\nstate = torch.load(\n"
            "    os.path.join(CHECKPOINT_DIRECTORY_OF_THE_TRUSTED_INTERNAL_MODELS, 'team', "
            "'resnet', 'v1', 'weights', 'final', 'epoch_90', 'x'),\n"
            f"    map_location='cpu',\n    pickle_module={module},\n)\n"
        )
        (f,) = analyse_source(source, file="src/load.py").findings
        return f.location, fingerprint(f.title, f.evidence)

    assert finding("pickle") != finding("attacker_module")


def test_f5_a_file_name_with_a_newline_forges_lines_in_the_pytest_summary(tmp_path: Path) -> None:
    # The item is named code[<subject>] raw: a file named "a\nPASSED mlsupply.yaml::code[x].py"
    # prints a line that starts with PASSED in the short test summary, and ESC sequences in a
    # name drive the terminal (the matrix Markdown keeps the ESC too).
    src = tmp_path / "src"
    src.mkdir()
    (src / "a\nPASSED mlsupply.yaml::code[src\x1b[32m.evil.py].py").write_text(UNSAFE)
    (tmp_path / "mlsupply.yaml").write_text(
        textwrap.dedent(
            """\
            version: 1
            project: {name: p, version: 1.0.0}
            code: {paths: [src/]}
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--mlsupply", "-p", "no:cacheprovider", "-rA"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = run.stdout.splitlines()
    assert not [line for line in lines if line.startswith("PASSED mlsupply.yaml::code[")]
    assert "\x1b" not in run.stdout
    markdown = (tmp_path / "build" / "mlsupply-matrix.md").read_text()
    assert "\x1b" not in markdown



def test_f6_a_test_file_pattern_also_excludes_directories_named_like_tests() -> None:
    # `*` crosses `/`: `**/test_*.py`, written to leave out test modules, also leaves out
    # every file under a directory whose name starts with test_ (src/test_helpers/loader.py,
    # imported by production code, is never checked, with no item and no error).
    from pytest_mlsupply.sources.code import excluded

    assert excluded("src/app/test_load.py", ["**/test_*.py"])
    assert not excluded("src/test_helpers/loader.py", ["**/test_*.py"])
