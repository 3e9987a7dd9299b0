"""Inputs the fuzzers (and the hostile inputs written alongside them) broke a parser with, each
held to the fuzz property: a documented outcome, in time, with nothing run."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.vulns.model import DatabaseError
from pytest_mlsupply.vulns.offline import OfflineDatabase
from tests.fuzz.targets import TARGETS, run_case

_HUGE = "9" * 5000  # past Python's 4,300-digit limit on int("...")


def _record(fixed: str = "2.6.0", versions: tuple[str, ...] = ()) -> bytes:
    return json.dumps(
        {
            "id": "GHSA-fuzz",
            "affected": [
                {
                    "package": {"ecosystem": "PyPI", "name": "torch"},
                    "ranges": [
                        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                    ],
                    "versions": list(versions),
                }
            ],
        }
    ).encode()


def _snapshot(tmp_path: Path, record: bytes) -> OfflineDatabase:
    (tmp_path / "osv").mkdir()
    (tmp_path / "osv" / "GHSA-fuzz.json").write_bytes(record)
    return OfflineDatabase(tmp_path / "osv")


def test_an_osv_record_nested_too_deeply_fails_the_database_naming_the_file(
    tmp_path: Path,
) -> None:
    database = _snapshot(tmp_path, b"[" * 100_000)

    with pytest.raises(DatabaseError, match=r"GHSA-fuzz\.json: .*nested too deeply"):
        database.lookup("torch", "2.5.1")


def test_a_fixed_version_of_thousands_of_digits_widens_the_range_instead_of_crashing(
    tmp_path: Path,
) -> None:
    database = _snapshot(tmp_path, _record(fixed=_HUGE, versions=(_HUGE,)))

    (advisory,) = database.lookup("torch", "99.0")  # no end: every later release is affected

    assert advisory.id == "GHSA-fuzz"
    assert "not a PEP 440 version" in advisory.details


def test_an_asked_version_of_thousands_of_digits_is_an_error_not_a_crash(tmp_path: Path) -> None:
    database = _snapshot(tmp_path, _record())

    with pytest.raises(DatabaseError, match="is not a PEP 440 version"):
        database.lookup("torch", _HUGE)


@pytest.mark.parametrize(
    ("target", "data"),
    [
        ("osv", b"[" * 100_000),
        ("osv", _record(fixed=_HUGE)),
        ("hf-json", b'{"a":' * 100_000),
        ("requirements", f"torch=={_HUGE}\n".encode()),
        ("manifest", f"version: 1\nproject: {{name: a, version: {_HUGE}}}\n".encode()),
    ],
)
def test_deep_nesting_and_huge_numbers_hold_the_fuzz_property(target: str, data: bytes) -> None:
    run_case(TARGETS[target], (TARGETS[target].names[0], data))


#: The smallest .npy header tokenize.untokenize raised ValueError on ("start (1,2) precedes
#: previous end (2,0)"): not a literal, so numpy's Python 2 filter runs, and the error escaped
#: identification (identify_npy, claim_npz for each member of a zip). numpy refuses it too.
_UNTOKENIZABLE_NPY = b"\x93NUMPY\x01\x00\x02\x00\r " + bytes(8)


def test_a_npy_header_that_tokenize_cannot_rebuild_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "weights.npy"
    path.write_bytes(_UNTOKENIZABLE_NPY)

    report = scan_file(path, "weights.npy")

    assert report.errors == ["weights.npy: .npy header does not parse as a literal"]
    with pytest.raises(ValueError, match="precedes previous end"):
        np.load(path)  # numpy's own filter fails the same way: it cannot load this file


def test_an_npz_member_whose_header_tokenize_cannot_rebuild_is_no_crash(tmp_path: Path) -> None:
    path = tmp_path / "weights.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("w.npy", _UNTOKENIZABLE_NPY)

    report = scan_file(path, "weights.npz")

    assert report.errors == ["weights.npz, member w.npy: .npy header does not parse as a literal"]
    run_case(TARGETS["numpy"], ("weights.npz", path.read_bytes()))


#: The long run's 7z case (seed 0): a member's last-write time past year 9999, which py7zr's
#: listing turns into a datetime and raised OverflowError out of the scanner.
_SEVEN_ZIP_FAR_FUTURE = bytes.fromhex(
    "377abcaf271c0004dabedc2ec100000000000000140000000000000091a4c8f5409bf0304504211e9eecc1e8"
    "704b18894498ffffffff469e46ba998ace9dab2f8d498140b5d55ccad5bd1e9b07509542caf146480e708a0e"
    "95ca70e7bee25c77d801f52911c53ffb2d7a76a6b12e802c01006c010406000109500a010b72958400070b01"
    "00022406f1070112530fae0889b70abcb3d72376d21c24de4ae22121011801000c484400080a01504b69ac00"
    "0005011115006d006f00640065006c002e0070006b006c000000140a0100c08b6bc9ffffffff150601002080"
    "808100000017065001097100070b010001212101180c6d0000"
)


def test_a_7z_member_dated_past_year_9999_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "model.7z"
    path.write_bytes(_SEVEN_ZIP_FAR_FUTURE)

    report = scan_file(path, "model.7z")

    assert report.errors == [
        "model.7z: 7z archive cannot be listed: OverflowError: date value out of range"
    ]
    run_case(TARGETS["7z"], ("model.7z", _SEVEN_ZIP_FAR_FUTURE))


#: Another of the long run's 7z cases: attributes that make a member both a directory and a
#: file, which py7zr's listing raised ValueError on.
_SEVEN_ZIP_DIRECTORY_AND_FILE = bytes.fromhex(
    "377abcaf271c0004dabedc2ec100000000000000140000000000000091a4c8f5409bf0304504211e9eecc1e8"
    "704b18894498de51e2d0469e46ba998ace9dab2f8d498140b5d55ccad5bd1e9b07509542caf146480e708a0e"
    "95ca70e7bee25c77d801f52911c53ffb2d7a76a6b12e802c01006c010406000109500a010b72958400070b01"
    "00022406f1070112530fae0889b70abcb3d72376d21c24de4ae22121011801000c484400080a01504b69ac00"
    "0005011115006d006f00640065006c002e0070006b006c000000140a0100c08b6bc9fc83dd01150601003880"
    "808100000017065001097100070b010001212101180c6d0000"
)


def test_a_7z_member_both_directory_and_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "model.7z"
    path.write_bytes(_SEVEN_ZIP_DIRECTORY_AND_FILE)

    (error,) = scan_file(path, "model.7z").errors

    assert error.startswith("model.7z: 7z archive cannot be listed: ValueError: At most one of")


def test_a_json_string_of_name_characters_is_searched_for_escape_text_in_linear_time() -> None:
    # A config key of 300,000 "i"s (the fuzzer's was "gradient_checkpointiii..."): the
    # GLOBAL-line pattern was tried from each "i" to the end of the run and back (100 kB took
    # 27 s, 300 kB 99 s). The case limit of run_case is the hang detector.
    key = "gradient_checkpoint" + "i" * 300_000
    run_case(TARGETS["hf-json"], ("config.json", json.dumps({key: False}).encode()))


def test_escape_text_of_a_global_line_is_still_found_inside_a_word_run(tmp_path: Path) -> None:
    # The pattern now starts at a run of name characters: a GLOBAL line whose "c" sits inside
    # one ("...\\ncos\\nsystem\\n", the "n" of the escape before it) is found as before.
    payload = "(dp0\\ncos\\nsystem\\n(S'true'\\ntR."
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"note": payload}))
    report = scan_file(path, "config.json")
    assert any("os.system" in f.evidence or "system" in f.title for f in report.findings), [
        (f.rule, f.title, f.evidence) for f in report.findings
    ]


def test_a_diffusers_index_naming_a_component_too_long_for_the_file_system_is_scanned() -> None:
    # model_index.json names the folders beside it: a name past NAME_MAX made pathlib raise
    # ENAMETOOLONG out of the scanner (pathlib ignores only "no such file" and the like).
    component = "safety_checker" + "checker" * 200
    index = {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": "0.30.0",
        component: ["stable_diffusion", "StableDiffusionSafetyChecker"],
        "tokenizer": ["transformers" + "s" * 300, "CLIPTokenizer"],
    }
    run_case(TARGETS["hf-json"], ("model_index.json", json.dumps(index).encode()))


def test_a_hydra_target_of_a_hundred_thousand_dotted_segments_is_judged_in_linear_time() -> None:
    # The import policy joined every prefix of the name to look it up (and copied every tail):
    # quadratic in the segments of a `_target_` an attacker wrote (500 kB: over 20 s).
    target = "builtins." + "opes." * 100_000 + "system"
    document = {"encoder": {"_target_": target}}
    run_case(TARGETS["hf-json"], ("model_config.json", json.dumps(document).encode()))


def test_a_requirements_line_of_a_hundred_thousand_spaces_is_read_in_linear_time() -> None:
    # pip's comment pattern ``(^|\s+)(#.*)$``, which pip-requirements-parser splits each line
    # with, is tried by the regex engine from every space of a run and back to its end: the
    # long fuzz run's "-r" and 100,000 spaces took over 20 s. The case limit is the hang detector.
    run_case(TARGETS["requirements"], ("requirements.txt", b"-r" + b" " * 100_000))
    run_case(
        TARGETS["requirements"], ("requirements.txt", b"torch==2.5.1" + b" " * 100_000 + b"x #c")
    )


@pytest.mark.parametrize(
    "data",
    [b"[" * 100_000, b"numpy==2.4.6\n" + b"[" * 100_000 + b"]", b"s6\n" * 100_000],
    ids=["brackets", "brackets-closed", "lines"],
)
def test_a_requirements_file_of_brackets_or_of_a_hundred_thousand_lines_is_read_in_time(
    data: bytes,
) -> None:
    # pip's extras pattern ``^(.+)(\[[^\]]+\])$`` is tried from every "[" to the end (100,000
    # took over 20 s), and the parser takes about a millisecond a line (100,000 lines: over a
    # minute; now refused past MAX_LINES). The case limit is the hang detector.
    run_case(TARGETS["requirements"], ("requirements.txt", data))


def test_a_pickle_importing_one_name_fifty_thousand_times_is_judged_in_time() -> None:
    # Each GLOBAL was judged anew in every reading (the allowlist's families tried one by one):
    # 50,000 imports of one name took over 20 s. A verdict depends on the name alone.
    data = b"\x80\x02" + b"cp7\n0cp7\n0" * 50_000 + b"N."
    run_case(TARGETS["pickle"], ("model.pkl", data))


def test_a_pickle_of_a_hundred_thousand_distinct_imports_makes_a_small_report() -> None:
    # 100,000 findings of one rule made a 91 MB report; past the cap they are counted in one.
    data = b"\x80\x02" + b"".join(b"cm%d\nf\n0" % i for i in range(100_000)) + b"N."
    run_case(TARGETS["pickle"], ("model.pkl", data))


def test_a_requirement_bounded_by_a_version_of_sixty_thousand_digits_is_an_error() -> None:
    # packaging parses the specifier, then raises ValueError (Python's int digit limit) when
    # the requirement is printed or compared: it escaped the reader (found by the long run).
    data = b"requests[socks]>=2.31,<" + b"3" * 65_000 + b"\n"
    run_case(TARGETS["requirements"], ("requirements.txt", data))


def test_a_manifest_naming_a_file_too_long_for_the_file_system_is_a_manifest_error() -> None:
    # pathlib's exists() ignores "no such file" but raises ENAMETOOLONG: it escaped the loader.
    manifest = "version: 1\nrequirements:\n  - file: " + "reque" * 200 + "rements.txt\n"
    run_case(TARGETS["manifest"], ("mlsupply.yaml", manifest.encode()))


def test_persistent_ids_of_persistent_ids_five_thousand_deep_are_described_in_bounds() -> None:
    # BINPERSID of the previous BINPERSID's result, 5,000 times: describing the id walked the
    # chain to its end (RecursionError; the long run found it inside an .xz stream).
    run_case(TARGETS["pickle"], ("model.pkl", b"\x80\x02N" + b"Q" * 5000 + b"."))


@pytest.mark.parametrize("key", ["version", "threshold", "scan_seconds"])
def test_a_manifest_number_of_a_hundred_thousand_digits_is_a_manifest_error(key: str) -> None:
    # int() of the scalar raised ValueError (Python's 4,300-digit limit) out of the loader.
    huge = "1" * 100_000
    manifest = {
        "version": f"version: {huge}\n",
        "threshold": "version: 1\nmodels:\n  - {name: m, path: m, attestation: {keys: [k.pub], "
        "threshold: " + huge + "}}\n",
        "scan_seconds": "version: 1\npolicy: {limits: {scan_seconds: " + huge + "}}\n",
    }[key]
    run_case(TARGETS["manifest"], ("mlsupply.yaml", manifest.encode()))
