"""The manifest loader: typed values from a valid mlsupply.yaml, exact positions for every problem."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from pytest_mlsupply.manifest import loader
from pytest_mlsupply.manifest.errors import ManifestError, Problem
from pytest_mlsupply.manifest.loader import card_fields, load_manifest, parse_manifest
from pytest_mlsupply.manifest.model import (
    CardDecl,
    HubRef,
    LicensePolicy,
    Manifest,
    Policy,
    SignatureDecl,
)
from pytest_mlsupply.reports.bom import hub_purl
from pytest_mlsupply.results import Severity

COMMIT = "3f2a9c0e4b1d7a6c5e8f9a0b1c2d3e4f5a6b7c8d"
PIN = "sha256:" + "ab" * 32


@pytest.fixture(
    autouse=True,
    params=[
        pytest.param(
            "libyaml",
            marks=pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml"),
        ),
        "pure-python",
    ],
)
def composer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test of this file runs with both YAML composers: the C one (used when present)
    and the pure-Python fallback; positions and messages must not depend on which ran."""
    name: str = request.param
    monkeypatch.setattr(
        loader, "COMPOSER", yaml.CSafeLoader if name == "libyaml" else yaml.SafeLoader
    )
    return name


def test_the_c_composer_is_used_when_pyyaml_has_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the module as imported, not as the fixture set it
    expected = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    assert loader.COMPOSER is expected


def _parse(tmp_path: Path, text: str) -> Manifest:
    return parse_manifest(textwrap.dedent(text), tmp_path / "mlsupply.yaml")


def problems_of(tmp_path: Path, text: str) -> list[Problem]:
    with pytest.raises(ManifestError) as info:
        _parse(tmp_path, text)
    return info.value.problems


def only_problem(tmp_path: Path, text: str) -> Problem:
    found = problems_of(tmp_path, text)
    assert len(found) == 1, [p.render() for p in found]
    problem = found[0]
    assert problem.file == tmp_path / "mlsupply.yaml"
    assert problem.message
    assert problem.fix, f"no fix offered for: {problem.render()}"
    return problem


def where(problem: Problem) -> tuple[int, int, str]:
    return problem.line, problem.column, problem.key_path


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "models" / "m"
    directory.mkdir(parents=True)
    return directory


# -- YAML and the top level ------------------------------------------------------------------


def test_a_yaml_syntax_error_names_the_position_of_the_bad_token(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\nkey: value: other\n")

    assert where(problem) == (2, 11, "")
    assert "YAML syntax error" in problem.message
    assert "mapping values are not allowed" in problem.message


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"]
)
def test_an_empty_manifest_is_reported_at_its_first_line(tmp_path: Path, text: str) -> None:
    problem = only_problem(tmp_path, text)

    assert where(problem) == (1, 1, "")
    assert "empty" in problem.message
    assert "version: 1" in problem.fix


def test_a_top_level_list_is_rejected_as_not_a_mapping(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "- version: 1\n- models: []\n")

    assert where(problem) == (1, 1, "")
    assert problem.message == "expected a mapping, got a list"


def test_a_top_level_scalar_is_rejected_as_not_a_mapping(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "just some words\n")

    assert where(problem) == (1, 1, "")
    assert problem.message == "expected a mapping, got str 'just some words'"


def test_a_missing_version_is_reported_against_the_top_mapping(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "project: {name: x}\nmodels: []\n")

    assert where(problem) == (1, 1, "version")
    assert problem.message == "missing schema version"
    assert "version: 1" in problem.fix


def test_an_unsupported_version_is_reported_at_its_value(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "project: {name: x}\nversion: 2\n")

    assert where(problem) == (2, 10, "version")
    assert problem.message == "unsupported schema version '2'"
    assert problem.fix == "write `version: 1`"


def test_a_quoted_version_is_not_the_integer_one(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, 'version: "1"\n')

    assert where(problem) == (1, 10, "version")


def test_an_unknown_top_level_key_suggests_the_closest_known_key(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\nmodles: []\n")

    assert where(problem) == (2, 1, "modles")
    assert problem.message == "unknown key 'modles'"
    assert problem.fix == "did you mean 'models'?"


def test_an_unknown_key_with_no_close_match_lists_the_allowed_keys(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\nzzzz: 1\n")

    assert problem.fix.startswith("allowed keys here: version, project, policy, models")


def test_an_unknown_nested_key_carries_its_dotted_key_path(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\npolicy:\n  failon: high\n")

    assert where(problem) == (3, 3, "policy.failon")
    assert problem.message == "unknown key 'failon'"
    assert problem.fix == "did you mean 'fail_on'?"


def test_a_duplicate_yaml_key_is_reported_at_its_second_occurrence(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\nproject: {name: a}\nproject: {name: b}\n")

    assert where(problem) == (3, 1, "project")
    assert problem.message == "duplicate key 'project'"
    assert "remove one" in problem.fix


# -- types and enums -------------------------------------------------------------------------


def test_models_given_as_a_mapping_is_a_type_error(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\nmodels: {}\n")

    assert where(problem) == (2, 9, "models")
    assert problem.message == "expected a list, got a mapping"
    assert problem.fix.startswith("write it as a list")


def test_model_files_given_as_a_list_is_a_type_error(tmp_path: Path, model_dir: Path) -> None:
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        models:
          - name: m
            path: models/m
            files: [a]
        """,
    )

    assert where(problem) == (5, 12, "models[0].files")
    assert problem.message == "expected a mapping, got a list"
    assert "sha256:" in problem.fix


def test_a_quoted_yes_is_not_a_boolean(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, 'version: 1\npolicy:\n  require_pins: "yes"\n')

    assert where(problem) == (3, 17, "policy.require_pins")
    assert problem.message == "expected true or false, got str 'yes'"
    assert problem.fix == "write true or false"


def test_a_fail_on_outside_the_severity_choices_is_rejected(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\npolicy:\n  fail_on: severe\n")

    assert where(problem) == (3, 12, "policy.fail_on")
    assert problem.message == "'severe' is not one of: critical, high, medium, low"
    assert problem.fix.endswith("write one of: critical, high, medium, low")


def test_a_misspelt_fail_on_gets_a_suggestion(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\npolicy:\n  fail_on: hihg\n")

    assert problem.fix.startswith("did you mean 'high'? ")


def test_info_is_not_a_threshold_a_user_may_choose(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\npolicy: {fail_on: info}\n")

    assert problem.key_path == "policy.fail_on"


def test_an_allowed_global_without_a_module_is_rejected(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\npolicy: {allow_globals: [MyModel]}\n")

    assert problem.key_path == "policy.allow_globals[0]"
    assert "dotted" in problem.message


# -- hub references --------------------------------------------------------------------------


def test_a_branch_revision_is_mutable_and_the_fix_asks_for_the_commit(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        models:
          - name: m
            source: hf://org/name@main
        """,
    )

    assert where(problem) == (4, 13, "models[0].source")
    assert "mutable" in problem.message
    assert "'main'" in problem.message
    assert "40-hex commit" in problem.fix
    assert "hf://org/name@" in problem.fix


def test_a_short_commit_is_as_mutable_as_a_branch(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, "version: 1\nmodels: [{name: m, source: 'hf://org/name@3f2a9c0'}]\n"
    )

    assert problem.key_path == "models[0].source"
    assert "mutable" in problem.message


def test_a_source_without_a_revision_asks_for_a_pinned_commit(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        models:
          - name: m
            source: hf://org/name
        """,
    )

    assert where(problem) == (4, 13, "models[0].source")
    assert problem.message == "'hf://org/name' has no revision"
    assert problem.fix == "pin the commit: hf://org/name@<40-hex commit sha>"


def test_a_dataset_scheme_is_not_accepted_for_a_model(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, f"version: 1\nmodels: [{{name: m, source: 'hf-datasets://org/d@{COMMIT}'}}]\n"
    )

    assert problem.key_path == "models[0].source"
    assert problem.message.endswith("is not a hf:// reference")


def test_a_forty_hex_revision_is_accepted_and_lowercased(tmp_path: Path) -> None:
    manifest = _parse(
        tmp_path,
        f"""\
        version: 1
        models:
          - name: m
            source: hf://Org/Name@{COMMIT.upper()}
        """,
    )

    (model,) = manifest.models
    assert model.source == HubRef(repo_type="model", repo_id="Org/Name", revision=COMMIT)
    assert model.path is None
    assert hub_purl(model.source.repo_id, model.source.revision).to_string() == (
        f"pkg:huggingface/org/name@{COMMIT}"
    )
    assert model.source.uri == f"hf://Org/Name@{COMMIT}"


def test_require_pins_false_accepts_a_branch_revision(tmp_path: Path) -> None:
    manifest = _parse(
        tmp_path,
        """\
        version: 1
        policy: {require_pins: false}
        models:
          - name: m
            source: hf://org/name@main
        """,
    )

    assert manifest.models[0].source == HubRef("model", "org/name", "main")
    assert manifest.policy.require_pins is False


# -- source and path -------------------------------------------------------------------------


def test_a_model_with_both_source_and_path_is_reported_at_the_entry(
    tmp_path: Path, model_dir: Path
) -> None:
    problem = only_problem(
        tmp_path,
        f"""\
        version: 1
        models:
          - name: m
            source: hf://org/name@{COMMIT}
            path: models/m
        """,
    )

    assert where(problem) == (3, 5, "models[0]")
    assert problem.message == "declare exactly one of `source:` and `path:`"
    assert "hf://org/name@<commit>" in problem.fix


def test_a_model_with_neither_source_nor_path_is_reported_at_the_entry(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\nmodels:\n  - name: m\n    license: mit\n")

    assert where(problem) == (3, 5, "models[0]")
    assert problem.message == "declare exactly one of `source:` and `path:`"


def test_a_dataset_with_neither_source_nor_path_suggests_the_dataset_scheme(
    tmp_path: Path,
) -> None:
    problem = only_problem(tmp_path, "version: 1\ndatasets:\n  - name: d\n")

    assert where(problem) == (3, 5, "datasets[0]")
    assert "hf-datasets://" in problem.fix


def test_a_missing_local_path_names_the_path_it_looked_for(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        models:
          - name: m
            path: models/nope
        """,
    )

    assert where(problem) == (4, 11, "models[0].path")
    assert "'models/nope' does not exist" in problem.message
    assert str(tmp_path / "models" / "nope") in problem.message
    assert str(tmp_path) in problem.fix


def test_a_path_that_is_a_file_is_not_a_model_directory(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0")
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        models:
          - name: m
            path: weights.bin
        """,
    )

    assert where(problem) == (4, 11, "models[0].path")
    assert problem.message == f"{tmp_path / 'weights.bin'} is not a directory"
    assert "directory" in problem.fix


# -- names -----------------------------------------------------------------------------------


def test_a_model_name_declared_twice_is_reported_at_the_second_name(
    tmp_path: Path, model_dir: Path
) -> None:
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        models:
          - name: m
            path: models/m
          - name: m
            path: models/m
        """,
    )

    assert where(problem) == (5, 11, "models[1].name")
    assert problem.message == "name 'm' is declared twice"
    assert "unique" in problem.fix


def test_a_name_with_a_slash_is_invalid_because_it_appears_in_test_ids(
    tmp_path: Path, model_dir: Path
) -> None:
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        models:
          - name: a/b
            path: models/m
        """,
    )

    assert where(problem) == (3, 11, "models[0].name")
    assert "'a/b' is not a valid name" in problem.message
    assert "letters, digits" in problem.fix


def test_a_model_without_a_name_is_reported_at_the_entry(tmp_path: Path, model_dir: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\nmodels:\n  - path: models/m\n")

    assert where(problem) == (3, 5, "models[0].name")
    assert problem.message == "missing name"


# -- file pins -------------------------------------------------------------------------------


def test_a_pin_that_is_not_a_sha256_digest_is_rejected(tmp_path: Path, model_dir: Path) -> None:
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        models:
          - name: m
            path: models/m
            files:
              model.bin: "sha256:abc"
        """,
    )

    assert where(problem) == (6, 18, "models[0].files.model.bin")
    assert problem.message == "'sha256:abc' is not a sha256 pin"
    assert "64 hex" in problem.fix


@pytest.mark.parametrize("rel", ["../x", "/etc/passwd", "a/../../x", "a\\b"])
def test_a_pinned_path_outside_the_model_is_rejected(
    tmp_path: Path, model_dir: Path, rel: str
) -> None:
    problem = only_problem(
        tmp_path,
        f"""\
        version: 1
        models:
          - name: m
            path: models/m
            files:
              '{rel}': "{PIN}"
        """,
    )

    assert problem.line == 6
    assert problem.key_path == f"models[0].files.{rel}"
    assert problem.message == f"{rel!r} is not a path inside the model"
    assert "relative to the model directory" in problem.fix


def test_pins_are_lowercased(tmp_path: Path, model_dir: Path) -> None:
    manifest = _parse(
        tmp_path,
        f"""\
        version: 1
        models:
          - name: m
            path: models/m
            files: {{model.bin: "sha256:{"AB" * 32}"}}
        """,
    )

    assert manifest.models[0].files == {"model.bin": PIN}


def test_a_file_pinned_twice_is_a_duplicate_key(tmp_path: Path, model_dir: Path) -> None:
    problem = only_problem(
        tmp_path,
        f"""\
        version: 1
        models:
          - name: m
            path: models/m
            files:
              a.bin: "{PIN}"
              a.bin: "{PIN}"
        """,
    )

    assert where(problem) == (7, 7, "models[0].files.a.bin")
    assert problem.message == "duplicate key 'a.bin'"


# -- references between sections ------------------------------------------------------------


def test_a_dataset_a_model_uses_must_be_declared(tmp_path: Path, model_dir: Path) -> None:
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        models:
          - name: m
            path: models/m
            datasets: [reviews]
        """,
    )

    assert (problem.line, problem.key_path) == (5, "models[0].datasets[0]")
    assert problem.message == "dataset 'reviews' is not declared"
    assert "top-level `datasets:`" in problem.fix


def test_an_undeclared_dataset_is_reported_at_its_own_entry(
    tmp_path: Path, model_dir: Path
) -> None:
    (tmp_path / "data").mkdir()
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        datasets:
          - {name: reviews, path: data}
        models:
          - name: m
            path: models/m
            datasets:
              - reviews
              - other
        """,
    )

    assert where(problem) == (9, 9, "models[0].datasets[1]")


def test_an_unknown_card_field_suggests_the_closest_known_field(
    tmp_path: Path, model_dir: Path
) -> None:
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        models:
          - name: m
            path: models/m
            card: {require: [licence]}
        """,
    )

    assert (problem.line, problem.key_path) == (5, "models[0].card.require[0]")
    assert problem.message == "unknown card field 'licence'"
    assert problem.fix.startswith("did you mean 'license'? known fields: ")
    assert all(name in problem.fix for name in card_fields())


def test_an_unknown_card_field_is_reported_at_its_own_entry(
    tmp_path: Path, model_dir: Path
) -> None:
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        models:
          - name: m
            path: models/m
            card:
              require:
                - license
                - licence
        """,
    )

    assert where(problem) == (8, 11, "models[0].card.require[1]")


# -- requirements ----------------------------------------------------------------------------


def test_a_requirements_entry_with_two_sources_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("numpy==2.1.0\n")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    problem = only_problem(
        tmp_path,
        """\
        version: 1
        requirements:
          - file: requirements.txt
            pyproject: pyproject.toml
        """,
    )

    assert where(problem) == (3, 5, "requirements[0]")
    assert "exactly one of `file:`, `pyproject:`, `pylock:`, `environment:`" in problem.message
    assert "one list entry per source" in problem.fix


def test_an_environment_other_than_current_is_rejected(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\nrequirements:\n  - environment: previous\n")

    assert where(problem) == (3, 18, "requirements[0].environment")
    assert problem.message == "'previous' is not one of: current"
    assert "current" in problem.fix


def test_a_missing_requirements_file_names_the_file(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\nrequirements:\n  - file: reqs/missing.txt\n")

    assert where(problem) == (3, 11, "requirements[0].file")
    assert "'reqs/missing.txt' does not exist" in problem.message
    assert str(tmp_path / "reqs" / "missing.txt") in problem.message


def test_a_requirements_directory_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    problem = only_problem(tmp_path, "version: 1\nrequirements:\n  - pyproject: reqs\n")

    assert where(problem) == (3, 16, "requirements[0].pyproject")
    assert problem.message == f"{tmp_path / 'reqs'} is not a file"


def test_the_offline_vulnerability_service_needs_a_path(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "version: 1\nvulnerabilities: {service: offline}\n")

    assert where(problem) == (2, 18, "vulnerabilities.path")
    assert problem.message == "the offline service needs a path"
    assert "path:" in problem.fix


# -- reporting -------------------------------------------------------------------------------


def test_all_problems_are_reported_together_sorted_by_line(tmp_path: Path) -> None:
    # The loader reads policy before requirements and models; the report follows the file.
    found = problems_of(
        tmp_path,
        """\
        version: 1
        requirements:
          - environment: previous
        models: {}
        policy:
          fail_on: severe
          zzzz: 1
        """,
    )

    assert [where(p) for p in found] == [
        (3, 18, "requirements[0].environment"),
        (4, 9, "models"),
        (6, 12, "policy.fail_on"),
        (7, 3, "policy.zzzz"),
    ]


def test_the_error_message_renders_every_problem_under_a_count(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        _parse(tmp_path, "version: 2\nmodles: []\n")

    lines = str(info.value).splitlines()
    assert lines[0] == f"{tmp_path / 'mlsupply.yaml'} is invalid (2 problems):"
    assert lines[1] == f"{tmp_path / 'mlsupply.yaml'}:1:10: version: unsupported schema version '2'"
    assert lines[3] == f"{tmp_path / 'mlsupply.yaml'}:2:1: modles: unknown key 'modles'"


def test_a_problem_renders_as_file_line_column_key_message_then_fix() -> None:
    problem = Problem(Path("m.yaml"), 3, 5, "policy.fail_on", "bad value", "write high")

    assert problem.render() == "m.yaml:3:5: policy.fail_on: bad value\n    fix: write high"


def test_a_problem_without_key_or_fix_renders_on_one_line() -> None:
    assert Problem(Path("m.yaml"), 1, 1, "", "the manifest is empty").render() == (
        "m.yaml:1:1: the manifest is empty"
    )


def test_a_single_problem_is_counted_in_the_singular() -> None:
    error = ManifestError([Problem(Path("m.yaml"), 1, 1, "", "empty")])

    assert str(error).splitlines()[0] == "m.yaml is invalid (1 problem):"


# -- load_manifest ---------------------------------------------------------------------------


def test_load_manifest_resolves_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mlsupply.yaml").write_text("version: 1\n")
    monkeypatch.chdir(tmp_path)

    manifest = load_manifest(Path("mlsupply.yaml"))

    assert manifest.path == tmp_path / "mlsupply.yaml"
    assert manifest.root == tmp_path


def test_load_manifest_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path / "mlsupply.yaml")

    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (1, 1)
    assert problem.message.startswith("cannot read the manifest")


def test_load_manifest_reports_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "mlsupply.yaml").write_bytes(b"version: 1\nproject: {name: caf\xe9}\n")

    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path / "mlsupply.yaml")

    (problem,) = info.value.problems
    assert "not UTF-8" in problem.message
    assert problem.fix == "save the file as UTF-8"


# -- defaults and typed values ---------------------------------------------------------------


def test_a_minimal_manifest_gets_the_documented_defaults(tmp_path: Path) -> None:
    project = tmp_path / "sentiment-service"
    project.mkdir()

    manifest = parse_manifest("version: 1\n", project / "mlsupply.yaml")

    assert manifest.version == 1
    assert manifest.project_name == "sentiment-service"
    assert manifest.project_version is None
    assert manifest.policy == Policy()
    assert manifest.policy.fail_on is Severity.HIGH
    assert manifest.policy.require_pins is True
    assert manifest.policy.pickle == "default-deny"
    assert manifest.output.bom == project / "build" / "ml-bom.cdx.json"
    assert manifest.output.matrix == project / "build" / "mlsupply-matrix"
    assert manifest.output.bom_xml is None
    assert manifest.output.sarif is None
    assert (manifest.models, manifest.datasets, manifest.requirements) == ((), (), ())
    assert (manifest.vulnerabilities, manifest.code, manifest.monitor) == ({}, None, {})


def test_empty_sections_are_the_same_as_absent_ones(tmp_path: Path) -> None:
    manifest = _parse(tmp_path, "version: 1\nproject:\npolicy:\nmodels:\nrequirements:\n")

    assert manifest.policy == Policy()
    assert manifest.project_name == tmp_path.name
    assert manifest.models == ()
    assert manifest.requirements == ()


def _write_full_project(root: Path) -> None:
    for directory in (
        "models/sentiment",
        "data/reviews",
        "keys",
        "reports",
        "deploy",
        "src",
        "osv",
    ):
        (root / directory).mkdir(parents=True, exist_ok=True)
    for file in (
        "models/sentiment/model.sig",
        "keys/release.pub",
        "keys/cert.pem",
        "reports/eval.json",
        "deploy/manifest.yaml",
        "requirements.txt",
        "pyproject.toml",
    ):
        (root / file).write_text("x\n")


FULL_MANIFEST = f"""\
version: 1
project: {{name: sentiment-service, version: 1.0.0}}
policy:
  fail_on: medium
  pickle: denylist
  require_pins: true
  allow_globals: [mypackage.models.MyModel]
  licenses: {{allow: [apache-2.0, mit], deny_restrictions: [non-commercial]}}
models:
  - name: sentiment
    path: models/sentiment
    files: {{model.safetensors: "{PIN}", tokenizer/vocab.txt: "{PIN}"}}
    license: apache-2.0
    description: Binary sentiment classifier.
    card: {{path: CARD.md, require: [license, evaluation]}}
    datasets: [reviews, hub-reviews]
    signature: {{path: models/sentiment/model.sig, certificate_chain: [keys/release.pub], certificate: keys/cert.pem}}
    lineage: {{base_model: "hf://google-bert/bert-base-uncased@{COMMIT}"}}
    promotion: {{evaluation: reports/eval.json, deploy: deploy/manifest.yaml}}
  - name: hub-model
    source: hf://acme/sentiment-bert@{COMMIT}
datasets:
  - name: reviews
    path: data/reviews
    license: cc-by-4.0
    pii: none
    description: Twenty labelled English reviews.
  - name: hub-reviews
    source: hf-datasets://acme/reviews@{COMMIT}
requirements:
  - file: requirements.txt
  - pyproject: pyproject.toml
  - environment: current
vulnerabilities: {{service: offline, url: https://osv.example, path: osv}}
code: {{paths: [src], exclude: ["src/legacy/*", "*_test.py"]}}
monitor: {{models: [acme/sentiment-bert], orgs: [acme], dependencies: [numpy]}}
output: {{bom: out/bom.json, bom_xml: out/bom.xml, matrix: out/matrix, sarif: out/gate.sarif}}
"""


def test_a_manifest_using_every_key_parses_into_typed_values(tmp_path: Path) -> None:
    _write_full_project(tmp_path)

    manifest = _parse(tmp_path, FULL_MANIFEST)

    assert (manifest.project_name, manifest.project_version) == ("sentiment-service", "1.0.0")
    assert manifest.policy == Policy(
        fail_on=Severity.MEDIUM,
        pickle="denylist",
        require_pins=True,
        allow_globals=("mypackage.models.MyModel",),
        licenses=LicensePolicy(allow=("apache-2.0", "mit"), deny_restrictions=("non-commercial",)),
    )
    local, hub = manifest.models
    assert local.name == "sentiment"
    assert (local.span.line, local.span.column) == (10, 5)
    assert local.path == tmp_path / "models" / "sentiment"
    assert local.source is None
    assert local.source_text == str(tmp_path / "models" / "sentiment")
    assert local.files == {"model.safetensors": PIN, "tokenizer/vocab.txt": PIN}
    assert (local.license, local.description) == ("apache-2.0", "Binary sentiment classifier.")
    assert local.card == CardDecl(path="CARD.md", require=("license", "evaluation"), declared=True)
    assert local.datasets == ("reviews", "hub-reviews")
    assert local.signature == SignatureDecl(
        path=tmp_path / "models" / "sentiment" / "model.sig",
        certificate_chain=(tmp_path / "keys" / "release.pub",),
        certificate=tmp_path / "keys" / "cert.pem",
    )
    assert local.base_model == f"hf://google-bert/bert-base-uncased@{COMMIT}"
    assert local.promotion is not None
    assert (local.promotion.evaluation, local.promotion.approval, local.promotion.deploy) == (
        tmp_path / "reports" / "eval.json",
        None,
        tmp_path / "deploy" / "manifest.yaml",
    )
    assert hub.name == "hub-model"
    assert hub.source == HubRef("model", "acme/sentiment-bert", COMMIT)
    assert hub_purl(hub.source.repo_id, hub.source.revision).to_string() == (
        f"pkg:huggingface/acme/sentiment-bert@{COMMIT}"
    )
    assert hub.source_text == f"hf://acme/sentiment-bert@{COMMIT}"
    assert hub.card == CardDecl()

    reviews, hub_reviews = manifest.datasets
    assert reviews.path == tmp_path / "data" / "reviews"
    assert (reviews.license, reviews.pii) == ("cc-by-4.0", "none")
    assert reviews.description == "Twenty labelled English reviews."
    assert hub_reviews.source == HubRef("dataset", "acme/reviews", COMMIT)
    assert hub_reviews.source.uri == f"hf-datasets://acme/reviews@{COMMIT}"

    assert [(r.kind, r.path, r.span.line) for r in manifest.requirements] == [
        ("file", tmp_path / "requirements.txt", 31),
        ("pyproject", tmp_path / "pyproject.toml", 32),
        ("environment", None, 33),
    ]
    assert manifest.vulnerabilities == {
        "service": "offline",
        "url": "https://osv.example",
        "path": tmp_path / "osv",
    }
    assert manifest.code is not None
    assert manifest.code.paths == (tmp_path / "src",)
    assert manifest.code.exclude == ("src/legacy/*", "*_test.py")
    assert manifest.code.path_texts == ("src",)
    assert manifest.monitor == {
        "models": ("acme/sentiment-bert",),
        "orgs": ("acme",),
        "dependencies": ("numpy",),
    }
    assert manifest.output.bom == tmp_path / "out" / "bom.json"
    assert manifest.output.bom_xml == tmp_path / "out" / "bom.xml"
    assert manifest.output.matrix == tmp_path / "out" / "matrix"
    assert manifest.output.sarif == tmp_path / "out" / "gate.sarif"


def test_a_manifest_below_the_working_directory_is_rendered_relative_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    problem = Problem(tmp_path / "svc" / "mlsupply.yaml", 2, 1, "modles", "unknown key 'modles'")

    assert problem.render() == "svc/mlsupply.yaml:2:1: modles: unknown key 'modles'"
    assert (
        str(ManifestError([problem])).splitlines()[0] == "svc/mlsupply.yaml is invalid (1 problem):"
    )


def test_pickle_formats_accepts_deny_and_scan_and_names_both_otherwise(tmp_path: Path) -> None:
    manifest = parse_manifest(
        "version: 1\npolicy: {pickle_formats: scan}\n", tmp_path / "mlsupply.yaml"
    )
    assert manifest.policy.pickle_formats == "scan"
    assert (
        parse_manifest("version: 1\n", tmp_path / "mlsupply.yaml").policy.pickle_formats == "deny"
    )
    problem = only_problem(tmp_path, "version: 1\npolicy:\n  pickle_formats: allow\n")
    assert (problem.line, problem.column, problem.key_path) == (3, 19, "policy.pickle_formats")
    assert "deny, scan" in problem.fix


def test_a_manifest_nested_too_deeply_is_a_manifest_error_not_a_crash(tmp_path: Path) -> None:
    text = "version: 1\nmonitor: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, tmp_path / "mlsupply.yaml")
    assert "nested too deeply" in caught.value.problems[0].message
