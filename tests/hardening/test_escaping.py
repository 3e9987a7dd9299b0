"""Hostile names in every output: a file or archive member named to forge lines or drive a terminal.

A model directory holds files named ``a\\nPASSED x.bin``, ``\\x1b[31mred.pt``,
``tab\\tname.safetensors`` and a name that is not UTF-8, beside a zip whose member name holds a
NUL, a CR, a LF and an ESC and whose pickle passes ``os.system`` an ESC sequence; the project's
code has a file named like a forged summary line. One gate run (``pytest --mlsupply -rA
--junitxml``, with SARIF, HTML and the CI summary on) and ``mlsupply scan`` in each format are
read back: no output holds a raw ESC, NUL, CR or BEL or a line that starts with ``PASSED`` but is
not one of pytest's, each parses as its format, and each names every hostile file escaped (it is
reported, not dropped).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_mlsupply.printable import escaped_finding, one_line, printable, terminal_text
from pytest_mlsupply.results import Finding, Location, Severity
from tests.corpus.archives import RawMember, raw_zip

WORKTREE = Path(__file__).resolve().parents[2]
PYTEST = (sys.executable, "-m", "pytest")

#: What the terminal and a log must never receive from a name: each moves the cursor, recolours,
#: ends a string early or (CR) lets what follows overwrite the line.
RAW_CONTROLS = ("\x1b", "\x00", "\r", "\x07")

NEWLINE_NAME = "a\nPASSED x.bin"
ESC_NAME = "\x1b[31mred.pt"
TAB_NAME = "tab\ttname.safetensors"
NON_UTF8_NAME = b"bad\xff.pkl"
MEMBER_NAME = "nul\x00cr\rlf\nPASSED z\x1b[32m.pkl"
MARKUP_NAME = "<img src=x onerror=alert(1)>.pkl"
CODE_NAME = "a\nPASSED mlsupply.yaml::code[src\x1b[32m.evil.py].py"

#: The subjects every report names them by (``pytest_mlsupply.printable.printable``).
ESCAPED_SUBJECTS = (
    "m/a\\nPASSED x.bin",
    "m/\\x1b[31mred.pt",
    "m/tab\\ttname.safetensors",
    "m/bad\\xff.pkl",
    "src/a\\nPASSED mlsupply.yaml::code[src\\x1b[32m.evil.py].py",
)
ESCAPED_MEMBER = "nul\\x00cr\\rlf\\nPASSED z\\x1b[32m.pkl"


def _reduce_pickle(argument: str) -> bytes:
    """PROTO 2, GLOBAL os.system, BINUNICODE ``argument``, TUPLE1, REDUCE, STOP: built by hand,
    never loaded."""
    data = argument.encode()
    return b"\x80\x02cos\nsystem\nX" + len(data).to_bytes(4, "little") + data + b"\x85R."


def _hostile_project(root: Path) -> Path:
    models = root / "models" / "m"
    models.mkdir(parents=True)
    (models / NEWLINE_NAME).write_bytes(_reduce_pickle("\x1b[2J\nPASSED y"))
    (models / ESC_NAME).write_bytes(_reduce_pickle("echo"))
    (models / MARKUP_NAME).write_bytes(b"not a pickle")
    (models / TAB_NAME).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (models / os.fsdecode(NON_UTF8_NAME)).write_bytes(_reduce_pickle("x"))
    bundle = raw_zip([RawMember(MEMBER_NAME, _reduce_pickle("\x1b]0;title\x07"))])
    (models / "bundle.zip").write_bytes(bundle)
    (root / "src").mkdir()
    (root / "src" / CODE_NAME).write_text("import torch\ntorch.load('x')\n")
    (root / "mlsupply.yaml").write_text(
        textwrap.dedent(
            """\
            version: 1
            project: {name: hostile, version: 1.0.0}
            models:
              - {name: m, path: models/m}
            code: {paths: [src/]}
            output: {sarif: build/gate.sarif, html: build/report.html}
            """
        )
    )
    return root


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(WORKTREE), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@dataclass(frozen=True)
class Gate:
    root: Path
    stdout: str
    returncode: int

    def text(self, relative: str) -> str:
        return (self.root / relative).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Gate:
    """One gate run over the hostile project, read by every test of its outputs."""
    root = _hostile_project(tmp_path_factory.mktemp("hostile"))
    summary = root / "step-summary.md"
    run = subprocess.run(
        [*PYTEST, "--mlsupply", "-p", "no:cacheprovider", "-rA", "--junitxml", "build/junit.xml"],
        cwd=root,
        env=_environment(GITHUB_STEP_SUMMARY=str(summary)),
        capture_output=True,
        check=False,
    )
    # Bytes decoded strictly: a surrogate or a stray byte in the terminal output fails here.
    return Gate(root, run.stdout.decode("utf-8") + run.stderr.decode("utf-8"), run.returncode)


def _assert_clean(text: str, where: str) -> None:
    raw = [repr(c) for c in RAW_CONTROLS if c in text]
    assert not raw, f"{where} holds raw {', '.join(raw)}"
    forged = [line for line in text.splitlines() if line.lstrip().startswith("PASSED ")]
    pytest_own = [line for line in forged if line.startswith("PASSED mlsupply.yaml::")]
    assert forged == pytest_own, f"{where} holds forged lines: {forged}"


def _strings(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield key
            yield from _strings(value)
    elif isinstance(document, list):
        for value in document:
            yield from _strings(value)
    elif isinstance(document, str):
        yield document


def _assert_json_clean(document: Any, where: str) -> None:
    # JSON would escape a raw ESC as \u001b, but a reader that prints the value gets it back.
    for value in _strings(document):
        assert value.replace("\n", "").isprintable(), f"{where} holds {value!r}"


# -- the escaping home --------------------------------------------------------------------


def _read_back(shown: str) -> str:
    """The inverse of :func:`printable`, written here independently: the name a subject
    stands for (a raw byte as its ``os.fsdecode`` surrogate)."""
    out: list[str] = []
    i = 0
    singles = {"\\": "\\", "n": "\n", "t": "\t", "r": "\r"}
    while i < len(shown):
        char = shown[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        kind = shown[i + 1]
        if kind in singles:
            out.append(singles[kind])
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}[kind]
        code = int(shown[i + 2 : i + 2 + width], 16)
        out.append(chr(0xDC00 + code if kind == "x" and code >= 0x80 else code))
        i += 2 + width
    return "".join(out)


names = st.text(
    st.one_of(
        st.characters(codec=None),
        st.sampled_from("\\\n\r\t\x00\x1b\x7f\x85\xff\u200b\u2028\ud800\udc80\udcff"),
    )
)


@given(names)
def test_a_printable_name_reads_back_as_the_one_name_it_stands_for(name: str) -> None:
    shown = printable(name)
    assert shown.isprintable()
    shown.encode("utf-8")  # writable by every report: no surrogate survives
    assert _read_back(shown) == name


def test_a_name_and_its_escape_typed_out_are_printed_apart() -> None:
    assert printable("a\nb") != printable("a\\nb")
    assert printable("\xff") != printable("\udcff")  # U+00FF and the byte FF
    assert printable("bad\udcff.pkl") == "bad\\xff.pkl"
    assert printable("mod\u00e8le.pt") == "mod\u00e8le.pt"


def test_terminal_text_keeps_its_own_line_breaks_and_escapes_a_carriage_return() -> None:
    text = terminal_text("first\nsecond\rPASSED x\x1b[2J")
    assert text == "first\nsecond\\rPASSED x\\x1b[2J"
    assert one_line("a\nb\x00") == "a\\nb\\x00"
    assert one_line("C:\\models") == "C:\\models"  # free text: backslashes left alone


def test_a_finding_leaves_the_check_runner_with_its_artifact_text_escaped() -> None:
    finding = Finding(
        rule="MLS-PKL-002",
        severity=Severity.CRITICAL,
        category="unsafe-deserialization",
        title="pickle calls os.system",
        location=Location(file="m/x.zip", member="a\nb", key_path="k\x1b"),
        evidence="arguments ('\x1b[2J\nPASSED y')",
        remediation="pin it as bad\udcff.pkl",
    )
    escaped = escaped_finding(finding)
    assert escaped.evidence == "arguments ('\\x1b[2J\\nPASSED y')"
    assert escaped.location.member == "a\\nb"
    assert escaped.location.key_path == "k\\x1b"
    assert escaped.remediation == "pin it as bad\\udcff.pkl"
    assert escaped_finding(escaped) == escaped  # applied twice, nothing changes


# -- the gate's outputs -------------------------------------------------------------------


def test_the_gate_reports_every_hostile_file_and_fails_on_its_findings(gate: Gate) -> None:
    assert gate.returncode == 1, gate.stdout[-3000:]
    assert "internal error" not in gate.stdout


def test_the_terminal_shows_no_raw_control_character_nor_a_forged_line(gate: Gate) -> None:
    _assert_clean(gate.stdout, "the terminal")
    for subject in ESCAPED_SUBJECTS:
        assert subject in gate.stdout
    assert ESCAPED_MEMBER in gate.stdout
    # The pickle's argument, as evidence: escaped on its one line.
    assert "arguments ('\\x1b[2J\\nPASSED y')" in gate.stdout


def test_the_short_summary_names_each_item_on_one_line(gate: Gate) -> None:
    summary = gate.stdout.split("short test summary info", 1)[1]
    assert "PASSED mlsupply.yaml::artifact[m/tab\\ttname.safetensors::sha256]" in summary
    assert "FAILED mlsupply.yaml::artifact[m/a\\nPASSED x.bin::scan]" in summary


def test_junitxml_parses_and_holds_no_raw_control_character(gate: Gate) -> None:
    text = gate.text("build/junit.xml")
    _assert_clean(text, "junit.xml")
    cases = ET.fromstring(text).iter("testcase")
    names = {case.get("name", "") for case in cases}
    assert "artifact[m/\\x1b[31mred.pt::scan]" in names
    assert "code[src/a\\nPASSED mlsupply.yaml::code[src\\x1b[32m.evil.py].py]" in names


def test_the_matrix_markdown_keeps_each_name_in_its_cell(gate: Gate) -> None:
    text = gate.text("build/mlsupply-matrix.md")
    _assert_clean(text, "the Markdown matrix")
    # No HTML tag where the Markdown is rendered: a name is literal inside a code span only.
    outside_code = re.sub(r"(`+).*?\1", "", text)
    assert "<img" not in outside_code
    assert "`m/<img src=x onerror=alert(1)>.pkl`" in text
    # Inline text escapes its backslashes for Markdown: `\\x1b` renders as `\x1b`.
    assert "m/\\\\x1b\\[31mred.pt" in text or "m/\\x1b[31mred.pt" in text
    assert "a\\\\nPASSED x.bin" in text or "`m/a\\nPASSED x.bin`" in text
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.rstrip().endswith("|"), f"a table row broken in two: {line!r}"


def test_the_ci_summary_holds_no_raw_control_character(gate: Gate) -> None:
    text = gate.text("step-summary.md")
    _assert_clean(text, "the CI summary")
    assert "supply-chain gate failed" in text


@pytest.mark.parametrize(
    "relative", ["build/ml-bom.cdx.json", "build/mlsupply-matrix.json", "build/gate.sarif"]
)
def test_a_json_report_holds_no_control_character_in_any_string(gate: Gate, relative: str) -> None:
    text = gate.text(relative)
    _assert_clean(text, relative)
    document = json.loads(text)
    _assert_json_clean(document, relative)
    values = {unquote(value) for value in _strings(document)}  # SARIF names files by URI
    found = [s for s in ESCAPED_SUBJECTS[:4] if any(s in v or s[2:] in v for v in values)]
    assert found == list(ESCAPED_SUBJECTS[:4])


def test_sarif_uris_are_percent_encoded_subjects(gate: Gate) -> None:
    document = json.loads(gate.text("build/gate.sarif"))
    uris = {
        location["physicalLocation"]["artifactLocation"]["uri"]
        for run in document["runs"]
        for result in run["results"]
        for location in result["locations"]
    }
    for uri in uris:
        assert re.fullmatch(r"[A-Za-z0-9\-._~%/]+", uri), uri
    assert quote("models/m/a\\nPASSED x.bin") in uris
    assert quote("models/m/bad\\xff.pkl") in uris


def test_the_html_report_escapes_each_name_and_shows_no_control_character(gate: Gate) -> None:
    text = gate.text("build/report.html")
    _assert_clean(text, "the HTML report")
    assert "m/\\x1b[31mred.pt" in text
    assert "m/a\\nPASSED x.bin" in text
    assert "<img src=x" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;.pkl" in text


def test_under_xdist_a_worker_sends_a_name_that_is_not_utf8_escaped(tmp_path: Path) -> None:
    # The worker sends each report (and the file's hashing time, shown with -v) to the
    # controller as UTF-8: a raw surrogate in it killed the worker (INTERNALERROR).
    root = _hostile_project(tmp_path)
    run = subprocess.run(
        [*PYTEST, "--mlsupply", "-p", "no:cacheprovider", "-rA", "-v", "-n", "2"],
        cwd=root,
        env=_environment(MLSUPPLY_PROGRESS_MIN_BYTES="0"),
        capture_output=True,
        check=False,
    )
    out = run.stdout.decode("utf-8") + run.stderr.decode("utf-8")
    assert run.returncode == 1, out[-3000:]
    assert "INTERNALERROR" not in out
    _assert_clean(out, "the terminal under xdist")
    assert "FAILED mlsupply.yaml::artifact[m/bad\\xff.pkl::scan]" in out
    assert re.search(r"hashed \S*/models/m/bad\\xff\.pkl: ", out), out[-3000:]


# -- mlsupply scan ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _hostile_project(tmp_path_factory.mktemp("scan")) / "models" / "m"


def _scan(models: Path, *options: str) -> str:
    run = subprocess.run(
        [sys.executable, "-m", "pytest_mlsupply.cli", "scan", str(models), *options],
        cwd=models.parent,
        env=_environment(),
        capture_output=True,
        check=False,
    )
    assert run.returncode == 1, run.stderr.decode("utf-8", "replace")[-2000:]
    return run.stdout.decode("utf-8") + run.stderr.decode("utf-8")


def test_mlsupply_scan_text_names_each_file_escaped_on_its_own_line(hostile_models: Path) -> None:
    out = _scan(hostile_models, "--quiet")
    _assert_clean(out, "mlsupply scan")
    for subject in ("a\\nPASSED x.bin", "\\x1b[31mred.pt", "bad\\xff.pkl", ESCAPED_MEMBER):
        assert subject in out


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_mlsupply_scan_json_and_sarif_hold_no_control_character(
    hostile_models: Path, fmt: str
) -> None:
    out = _scan(hostile_models, "--quiet", "--format", fmt)
    _assert_clean(out, f"mlsupply scan --format {fmt}")
    document = json.loads(out)
    _assert_json_clean(document, f"mlsupply scan --format {fmt}")
    assert any("bad\\xff.pkl" in unquote(value) for value in _strings(document))
