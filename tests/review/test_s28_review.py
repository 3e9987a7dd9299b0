"""Review of s28: the pickle machine's fast paths and the engine loops' budget checkpoints.

Each test is a hole found by the review: a small file that kept the scanner busy, with no
checkpoint reached, far past ``policy.limits.scan_seconds``.
"""

from __future__ import annotations

import json
import re
import struct
import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_mlsupply.engines.budget import ScanLimits
from pytest_mlsupply.engines.formats import code, safetensors
from pytest_mlsupply.engines.formats.numpy import _split_fields
from pytest_mlsupply.engines.scanner import ScanPolicy, scan_file


def _scan_seconds(path: Path, seconds: float) -> tuple[float, list[str]]:
    started = time.monotonic()
    report = scan_file(path, path.name, ScanPolicy(limits=ScanLimits(scan_seconds=seconds)))
    elapsed = time.monotonic() - started
    return elapsed, [f.evidence for f in report.findings if f.rule == "MLS-LIM-001"]


def test_a_safetensors_header_naming_many_tensors_twice_is_read_in_linear_time(
    tmp_path: Path,
) -> None:
    # 40,000 names, each given twice (4.6 MB): the duplicate search tested each repeated name
    # against a list of those found so far, then read the whole header once per name, with no
    # checkpoint in the first: about 15 s before the scan's budget was even looked at.
    names = [f"k{i}" for i in range(40_000)]
    entry = '{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
    header = ("{" + ",".join(f'"{name}":{entry}' for name in names + names) + "}").encode()
    header += b" " * (-len(header) % 8)
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    elapsed, stops = _scan_seconds(path, 1)
    assert elapsed < 5, (elapsed, stops)


def test_an_hdf5_file_of_many_unterminated_keras_configs_is_stopped_near_its_budget(
    tmp_path: Path,
) -> None:
    # A file naming model_config in no attribute message the reader knows, then 100 objects
    # that open with Keras' first key and never close: each is decoded from its '{' to the end
    # of the file (windows of 64 KiB, 1 MiB, 16 MiB...). The search checked the budgets at
    # every hit, but the guard reads its clock at every 64th check: 64 decodes of megabytes
    # ran between two readings, about 15 s past scan_seconds=1 for this 6 MB file.
    group = b'{"class_name":[' + b"1," * 30_000
    path = tmp_path / "model.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(56) + b"model_config\x00" + group * 100)
    elapsed, stops = _scan_seconds(path, 1)
    [stop] = stops
    assert stop.startswith("scan stopped after"), stop
    assert elapsed < 5, (elapsed, stops)


def test_a_npy_header_of_many_comma_separated_fields_is_read_in_linear_time(
    tmp_path: Path,
) -> None:
    # 'f8,f8,...' (120 KB, 40,000 fields): the split at commas outside a subarray shape was a
    # regex lookahead that scanned from every comma to the end of the string, quadratic and
    # with no checkpoint (a 1 MB header, the cap, took minutes; this one about 14 s).
    descr = ",".join(["f8"] * 40_000)
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}".encode()
    header += b" " * (-(12 + len(header) + 1) % 64) + b"\n"
    path = tmp_path / "record.npy"
    path.write_bytes(b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header)
    elapsed, stops = _scan_seconds(path, 1)
    assert elapsed < 4, (elapsed, stops)


@settings(max_examples=2000)
@given(st.text(alphabet="(),f8 ", max_size=16))
def test_the_npy_field_split_cuts_where_the_lookahead_regex_did(descr: str) -> None:
    assert _split_fields(descr) == re.split(r",(?![^(]*\))", descr)


# -- shell shapes: the regular expressions replaced, and what they are held to

_CURL_PIPE = re.compile(r"\b(?:curl|wget|fetch)\b[^\n|;]*\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b")
_REVERSE = re.compile(r"/dev/(?:tcp|udp)/|\bnc(?:at)?\b[^\n]*\s-[a-z]*e\b|\bbash\s+-i\b|\bsocat\b")
_DECODE = re.compile(r"\bbase64\s+(?:-d|--decode)\b[^\n]*\|\s*(?:ba|z|da)?sh\b|\beval\s+\"?\$\(")
_PERSIST = re.compile(r"\bcrontab\b|authorized_keys|>>?\s*~?/?[^\s]*\.(?:bashrc|profile|zshrc)\b")
_ST_SHELL = re.compile(
    r"(?:curl|wget)\s+[^|;]*\|\s*(?:ba|z|da)?sh\b|\b(?:ba|z)?sh\s+-c\s|/dev/tcp/"
)

_WORDS = [
    "curl",
    "wget",
    "fetch",
    "sh",
    "bash",
    "zsh",
    "sudo",
    "nc",
    "ncat",
    "-e",
    "-xe",
    "-i",
    "base64",
    "-d",
    "--decode",
    "eval",
    '"$(',
    "$(",
    ">",
    ">>",
    "~/",
    "/",
    ".bashrc",
    ".profile",
    ".zshrc",
    "x",
    "e",
    "|",
    ";",
    " ",
    "  ",
    "\t",
    "crontab",
    "-c",
    "/dev/tcp/",
]
_LINE = st.lists(st.sampled_from(_WORDS), max_size=12).map("".join)


@settings(max_examples=3000)
@given(_LINE)
def test_the_shell_script_shapes_match_the_lines_their_regular_expressions_matched(
    line: str,
) -> None:
    for index, pattern in ((0, _CURL_PIPE), (1, _REVERSE), (2, _DECODE), (5, _PERSIST)):
        shape, _, what = code._SHELL_PATTERNS[index]
        assert bool(shape.search(line)) == bool(pattern.search(line)), (what, line)


@settings(max_examples=3000)
@given(st.lists(st.sampled_from([*_WORDS, "\n"]), max_size=12).map("".join))
def test_the_safetensors_shell_shape_matches_the_values_its_regular_expression_matched(
    value: str,
) -> None:
    shape = next(p for p, label in safetensors._CODE_PATTERNS if label == "shell command")
    assert bool(shape.search(value)) == bool(_ST_SHELL.search(value)), value


def test_a_shell_script_line_of_repeated_words_is_searched_in_linear_time(
    tmp_path: Path,
) -> None:
    # One line of 'curl ' (or 'nc ', or '>') 100 KB long: the patterns scanned from every
    # word to the end of the line, inside one re call (no checkpoint): the '>' line took
    # over a minute, a 1 MB line hours.
    for index, word in enumerate(["curl ", "nc ", "base64 -d ", ">"]):
        path = tmp_path / f"prepare{index}.sh"
        path.write_text("#!/bin/sh\n" + word * (100_000 // len(word)) + "\n")
        elapsed, stops = _scan_seconds(path, 1)
        assert elapsed < 4, (word, elapsed, stops)


def test_a_safetensors_metadata_value_of_repeated_curl_is_searched_in_linear_time(
    tmp_path: Path,
) -> None:
    # A 200 KB metadata value of 'curl ' (a 1 MB one took about 20 minutes, in one re call).
    header = json.dumps({"__metadata__": {"note": "curl " * 40_000}}).encode()
    header += b" " * (-len(header) % 8)
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    elapsed, stops = _scan_seconds(path, 1)
    assert elapsed < 4, (elapsed, stops)


def test_a_yaml_config_of_many_targets_interpolating_a_key_written_last_is_read_in_linear_time(
    tmp_path: Path,
) -> None:
    # 1,000 Hydra targets '${x.y}' (25 KB) with x.y written at the end: each target's
    # interpolation walked every scalar of the stream to find x.y, and the YAML engine has no
    # checkpoint: 25 s ('scan took'), 4,000 targets 400 s.
    lines = ["items:"]
    for i in range(1000):
        lines += ["  - _target_: ${x.y}", f"    name: n{i}"]
    lines += ["x:", "  y: torch.nn.Linear"]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    elapsed, stops = _scan_seconds(path, 1)
    assert elapsed < 4, (elapsed, stops)
