"""YAML configs: python tags in every spelling, Hydra targets, parse failures, real configs clean."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from pytest_mlsupply.engines.formats import text as text_engine
from pytest_mlsupply.engines.formats import yaml_config
from pytest_mlsupply.engines.formats.yaml_config import (
    MAX_EVENTS,
    Mapping,
    Scalar,
    merged_pairs,
    read_yaml,
    string_scalars,
)
from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.results import Finding, Severity


def scan(tmp_path: Path, name: str, text: str) -> list[Finding]:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    report = scan_file(path, name)
    assert report.errors == []
    return report.findings


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


# --- python tags ------------------------------------------------------------------------------

SPELLINGS = {
    "shorthand": "a: !!python/object/apply:os.system [id]\n",
    "verbatim": "a: !<tag:yaml.org,2002:python/object/apply:os.system> [id]\n",
    "tag-directive": "%TAG !p! tag:yaml.org,2002:python/\n---\na: !p!object/apply:os.system [id]\n",
    "tag-directive-whole-prefix": (
        "%TAG !x! tag:yaml.org,2002:\n---\na: !x!python/object/apply:os.system [id]\n"
    ),
    "secondary-handle-redefined": (
        "%TAG !! tag:yaml.org,2002:python/\n---\na: !!object/apply:os.system [id]\n"
    ),
    "primary-handle-redefined": (
        "%TAG ! tag:yaml.org,2002:python/\n---\na: !object/apply:os.system [id]\n"
    ),
    "escaped-verbatim": "a: !<tag:yaml.org,2002:python/object/apply:o%73%2Esystem> [id]\n",
    "escaped-suffix": "a: !!python/object/apply:%6F%73.system [id]\n",
    "escaped-handle-body": "a: !!%70ython/object/apply:os.system [id]\n",
    "on-a-key": "? !!python/object/apply:os.system [id]\n: 1\n",
    "flow": "a: {b: [1, {c: !!python/object/apply:os.system [id]}]}\n",
    "second-document": "a: 1\n---\nb: !!python/object/apply:os.system [id]\n",
    "anchored": "a: &p !!python/object/apply:os.system [id]\nb: *p\n",
    "mapping-form": "a: !!python/object/new:os.system {args: [id]}\n",
    "on-a-mapping": "a: !!python/object:os.system {x: 1}\n",
    "name": "a: !!python/name:os.system ''\n",
    "module": "a: !!python/module:os ''\n",
    "case-variant": "a: !<tag:yaml.org,2002:Python/object/apply:os.system> [id]\n",
    "unknown-python-tag": "a: !!python/frobnicate:os.system [id]\n",
}


@pytest.mark.parametrize("text", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_every_spelling_of_a_python_tag_is_critical(tmp_path: Path, text: str) -> None:
    findings = [f for f in scan(tmp_path, "hparams.yaml", text) if f.rule == "MLS-YAML-001"]
    assert findings, text
    assert all(f.severity is Severity.CRITICAL for f in findings)


def test_the_tag_finding_names_the_callable_its_verdict_and_where_it_is(tmp_path: Path) -> None:
    [finding] = scan(
        tmp_path, "cfg.yaml", "model:\n  layers:\n    - !!python/object/apply:os.system [id]\n"
    )
    assert finding.title == "YAML python tag calls os.system"
    assert "dangerous" in finding.evidence
    assert finding.location.key_path == "model.layers[0]"
    assert finding.location.line == 3
    assert finding.cwe == "CWE-502"


def test_a_tag_on_a_key_is_located_as_the_key(tmp_path: Path) -> None:
    [finding] = scan(tmp_path, "cfg.yaml", "outer:\n  ? !!python/name:os.system k\n  : 1\n")
    assert finding.location.key_path == "outer.k (the key itself)"


def test_a_later_document_is_named_in_the_key_path(tmp_path: Path) -> None:
    [finding] = scan(tmp_path, "cfg.yaml", SPELLINGS["second-document"])
    assert finding.location.key_path == "(document 2) b"


def test_python_tags_in_a_renamed_text_file_are_found(tmp_path: Path) -> None:
    findings = scan(tmp_path, "notes.txt", "a: !!python/object/apply:os.system [id]\n")
    assert rules(findings) == {"MLS-YAML-001"}


def test_a_python_tag_before_a_syntax_error_still_counts(tmp_path: Path) -> None:
    text = "a: 1\n---\nb: !!python/object/apply:os.system [id]\n---\nc: [\n"
    assert rules(scan(tmp_path, "cfg.yaml", text)) == {"MLS-YAML-001", "MLS-YAML-004"}
    # Not a config position: the tag is still reported, the parse error is not.
    assert rules(scan(tmp_path, "notes.txt", text)) == {"MLS-YAML-001"}


@pytest.mark.parametrize("name", ["hparams.yaml", "training_args.txt"])
@pytest.mark.parametrize(
    "payload", ["b: !!python/name:os.system ''", "b: {_target_: builtins.exec}"]
)
def test_code_after_a_parse_error_that_libyaml_reads_past_is_high(
    tmp_path: Path, name: str, payload: str
) -> None:
    findings = scan(tmp_path, name, f"a:\t1\n{payload}\n")
    assert ("MLS-YAML-006", Severity.HIGH) in [(f.rule, f.severity) for f in findings]


def test_a_parse_error_with_nothing_after_it_is_only_a_parse_failure(tmp_path: Path) -> None:
    assert rules(scan(tmp_path, "hparams.yaml", "a:\t1\nb: [2\n")) == {"MLS-YAML-004"}


@pytest.mark.parametrize("name", ["hparams.yaml", "model.pkl"])
def test_a_text_pickle_followed_by_a_yaml_payload_is_read_as_yaml_too(
    tmp_path: Path, name: str
) -> None:
    text = "(dp0\n.\n---\nb: !!python/object/apply:os.system [id]\n"
    findings = scan(tmp_path, name, text)
    assert ("MLS-YAML-001", Severity.CRITICAL) in [(f.rule, f.severity) for f in findings]


def test_python_data_tags_are_low_and_custom_tags_medium(tmp_path: Path) -> None:
    findings = scan(tmp_path, "hparams.yaml", "betas: !!python/tuple [0.9, 0.99]\nx: !include a\n")
    severities = {f.rule: f.severity for f in findings}
    assert severities == {"MLS-YAML-002": Severity.LOW, "MLS-YAML-003": Severity.MEDIUM}


def test_standard_tags_and_the_non_specific_tag_are_fine(tmp_path: Path) -> None:
    text = "a: !!str 1\nb: !!binary aGVsbG8=\nc: ! 12\nd: !!set {x, y}\ne: !!float 1\n"
    assert scan(tmp_path, "cfg.yaml", text) == []


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf16_config_is_read_as_pyyaml_reads_it(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "hparams.yaml"
    text = "a: !!python/object/apply:os.system [id]\n"
    data = text.encode(encoding) if encoding == "utf-16" else b"\xfe\xff" + text.encode(encoding)
    path.write_bytes(data)
    report = scan_file(path, "hparams.yaml")
    assert report.formats == {"": "text"}
    assert [f.rule for f in report.findings] == ["MLS-YAML-001"]


def test_a_shebang_line_does_not_hide_a_yaml_payload(tmp_path: Path) -> None:
    findings = scan(tmp_path, "run.yaml", "#!/bin/false\na: !!python/object/apply:os.system [id]\n")
    assert {"MLS-CODE-010", "MLS-YAML-001"} <= rules(findings)


# --- parse failures and bounds -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["config.yaml", "data.yml", "MLmodel", "directive.txt"])
def test_a_config_that_does_not_parse_is_a_finding(tmp_path: Path, name: str) -> None:
    text = "%YAML 1.1\n---\na: [1, 2\n" if name == "directive.txt" else "a: [1, 2\n"
    [finding] = scan(tmp_path, name, text)
    assert finding.rule == "MLS-YAML-004"
    assert finding.severity is Severity.MEDIUM


def test_other_text_that_is_not_yaml_is_left_alone(tmp_path: Path) -> None:
    assert scan(tmp_path, "vocab.txt", '[PAD]\n!\n"\na: b: c\n') == []
    assert scan(tmp_path, "README.md", "---\nlicense: mit\n---\n# Hi!\n: not: yaml\n") == []


def test_the_event_cap_stops_reading_and_is_a_finding(tmp_path: Path) -> None:
    stream = read_yaml("[" + "1, " * 50 + "1]", max_events=10)
    assert stream.truncated
    assert stream.events == 11


def test_aliases_are_never_expanded(tmp_path: Path) -> None:
    # The "billion laughs" shape: a loader that expands it builds 10**9 strings.
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [
        f"{b}: &{b} [{', '.join(['*' + a] * 10)}]"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    started = time.monotonic()
    stream = read_yaml("\n".join(lines) + "\n")
    assert time.monotonic() - started < 2
    assert stream.error is None
    assert stream.events < 200


def test_a_huge_config_is_reported_not_passed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("k: v\n" * (1 << 20))
    report = scan_file(path, "big.yaml")
    assert rules(report.findings) == {"MLS-YAML-005"}
    assert MAX_EVENTS >= 1_000_000


def test_text_too_large_to_parse_is_reported_only_when_it_may_hold_a_python_tag(
    tmp_path: Path,
) -> None:
    filler = "word!\n" * (1 << 20)  # 6 MiB of text with exclamation marks, above the cap
    assert scan(tmp_path, "vocab.txt", filler) == []
    escaped = filler + "x: !!%70ython/object/apply:os.system [id]\n"
    assert rules(scan(tmp_path, "notes.txt", escaped)) == {"MLS-YAML-005"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('a: !!python/object/apply:os.system ["id"]\n', {"MLS-YAML-005"}),
        ("m: {_target_: builtins.exec}\n", {"MLS-YAML-005"}),
        ("plain words! and more words\n", set()),
    ],
)
def test_text_above_the_read_cap_is_reported_when_it_may_hold_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, expected: set[str]
) -> None:
    monkeypatch.setattr(text_engine, "MAX_SOURCE_BYTES", 1024)
    monkeypatch.setattr(yaml_config, "_CHUNK", 1000)  # the payload straddles two chunks
    filler = "# " + "x" * 97 + "\n"
    text = filler * 9 + "xxxxxxxx" + body + filler * 50
    assert rules(scan(tmp_path, "notes.txt", text)) == expected


# --- Hydra targets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["os.system", "builtins.exec", "subprocess.Popen", "builtins.open", "torch.load"]
)
def test_a_dangerous_target_is_critical(tmp_path: Path, target: str) -> None:
    [finding] = scan(tmp_path, "config.yaml", f"model:\n  _target_: {target}\n")
    assert finding.rule == "MLS-YAML-010"
    assert finding.severity is Severity.CRITICAL
    assert finding.location.key_path == "model._target_"


def test_every_duplicate_target_key_is_judged(tmp_path: Path) -> None:
    text = "_target_: torch.nn.Linear\n_target_: os.system\n"
    assert rules(scan(tmp_path, "config.yaml", text)) == {"MLS-YAML-010"}


def test_an_escaped_or_aliased_target_is_still_judged(tmp_path: Path) -> None:
    text = 'name: &t os.system\nm:\n  "\\x5ftarget_": *t\n'
    [finding] = scan(tmp_path, "config.yaml", text)
    assert finding.rule == "MLS-YAML-010"


def test_targets_inside_the_well_known_libraries_pass(tmp_path: Path) -> None:
    text = """\
    model: {_target_: nemo.collections.asr.models.EncDecCTCModel}
    optim: {_target_: torch.optim.AdamW, _partial_: true, lr: 0.001}
    sched: {_target_: transformers.get_cosine_schedule_with_warmup}
    """
    assert scan(tmp_path, "config.yaml", text) == []


@pytest.mark.parametrize(
    "target",
    [
        "mlflow.utils.process._exec_cmd",
        "sklearn.utils._testing.assert_run_python_script_without_output",
        "torch.testing._internal.common_utils.shell",
        "transformers.testing_utils.run_command",
        "accelerate.test_utils.testing.execute_subprocess_async",
        "keras.src.utils.python_utils.func_load",
        "keras.utils.python_utils.func_load",
    ],
)
def test_a_command_runner_inside_a_well_known_library_is_critical(
    tmp_path: Path, target: str
) -> None:
    [finding] = scan(tmp_path, "config.yaml", f"m:\n  _target_: {target}\n  cmd: [id]\n")
    assert (finding.rule, finding.severity) == ("MLS-YAML-010", Severity.CRITICAL)


@pytest.mark.parametrize(
    "target",
    [
        "torch.utils._config_module.install_config_module",
        "peft.testing.helpers.Thing",
        "keras.src.layers.Dense",
        "lightning.pytorch.cli.LightningCLI",
    ],
)
def test_a_private_or_testing_helper_of_a_well_known_library_is_high(
    tmp_path: Path, target: str
) -> None:
    [finding] = scan(tmp_path, "config.yaml", f"m:\n  _target_: {target}\n")
    assert (finding.rule, finding.severity) == ("MLS-YAML-016", Severity.HIGH)


@pytest.mark.parametrize("name", ["model_config.json", "hparams.txt", "config.yaml.bak"])
def test_a_condemned_target_in_a_file_not_named_yaml_is_critical(tmp_path: Path, name: str) -> None:
    text = '{"encoder": {"_target_": "builtins.open", "file": "x", "mode": "w"}}'
    [finding] = scan(tmp_path, name, text)
    assert (finding.rule, finding.severity) == ("MLS-YAML-010", Severity.CRITICAL)


def test_a_mild_target_in_a_file_not_named_yaml_is_left_to_yaml_configs(tmp_path: Path) -> None:
    text = '{"a": {"_target_": "my_project.Net"}, "b": {"_target_": "torch.nn.Linear"}}'
    assert scan(tmp_path, "model_config.json", text) == []


def test_a_python_tag_in_a_config_json_that_is_not_json_is_critical(tmp_path: Path) -> None:
    text = '{"architectures": ["Bert"], "hook": !!python/object/apply:os.system ["id"]}\n'
    findings = scan(tmp_path, "config.json", text)
    assert ("MLS-YAML-001", Severity.CRITICAL) in [(f.rule, f.severity) for f in findings]


@pytest.mark.parametrize(
    ("arguments", "severity"),
    [
        ("  checkpoint_path: last.ckpt\n", Severity.HIGH),
        ("  checkpoint_path: last.ckpt\n  weights_only: false\n", Severity.CRITICAL),
        ("  checkpoint_path: https://example.com/last.ckpt\n", Severity.CRITICAL),
    ],
)
def test_a_checkpoint_loading_target_is_high_and_critical_when_it_unpickles(
    tmp_path: Path, arguments: str, severity: Severity
) -> None:
    text = "m:\n  _target_: lightning.pytorch.LightningModule.load_from_checkpoint\n" + arguments
    [finding] = scan(tmp_path, "config.yaml", text)
    assert (finding.rule, finding.severity) == ("MLS-YAML-017", severity)


@pytest.mark.parametrize(
    "destination", ["site/evil.pth", "/home/u/.bashrc", "../up/x.csv", "pkg/__init__.py"]
)
def test_a_file_writer_aimed_at_code_or_outside_the_model_is_high(
    tmp_path: Path, destination: str
) -> None:
    text = f"m:\n  _target_: pandas.DataFrame.to_csv\n  _args_: [{{}}, {destination!r}]\n"
    [finding] = scan(tmp_path, "config.yaml", text)
    assert (finding.rule, finding.severity) == ("MLS-YAML-018", Severity.HIGH)


def test_an_unknown_target_is_medium_and_a_file_writer_too(tmp_path: Path) -> None:
    text = "a: {_target_: my_project.models.Net}\nb: {_target_: torch.save}\n"
    findings = scan(tmp_path, "config.yaml", text)
    assert [(f.rule, f.severity) for f in findings] == [("MLS-YAML-011", Severity.MEDIUM)] * 2


def test_a_resolver_target_is_judged_by_the_names_it_resolves(tmp_path: Path) -> None:
    dangerous = "a:\n  _target_: hydra.utils.get_method\n  path: builtins.eval\n"
    [finding] = scan(tmp_path, "config.yaml", dangerous)
    assert (finding.rule, finding.severity) == ("MLS-YAML-010", Severity.CRITICAL)
    opaque = "a:\n  _target_: hydra.utils.get_method\n  path: ${oc.env:WHAT}\n"
    [finding] = scan(tmp_path, "config.yaml", opaque)
    assert (finding.rule, finding.severity) == ("MLS-YAML-012", Severity.HIGH)


def test_an_interpolated_target_is_followed_to_the_key_it_names(tmp_path: Path) -> None:
    text = "names: {run: os.system, alias: '${names.run}'}\nm:\n  _target_: ${names.alias}\n"
    [finding] = scan(tmp_path, "config.yaml", text)
    assert (finding.rule, finding.severity) == ("MLS-YAML-010", Severity.CRITICAL)
    assert "names.alias -> names.run" in finding.evidence


@pytest.mark.parametrize("value", ["${oc.env:TARGET}", "os.${what}", "${..sibling}", "${nowhere}"])
def test_a_target_computed_at_resolution_is_high(tmp_path: Path, value: str) -> None:
    [finding] = scan(tmp_path, "config.yaml", f"m:\n  _target_: '{value}'\n  sibling: x\n")
    assert (finding.rule, finding.severity) == ("MLS-YAML-012", Severity.HIGH)


def test_a_target_that_is_not_a_string_cannot_be_judged(tmp_path: Path) -> None:
    [finding] = scan(tmp_path, "config.yaml", "a:\n  _target_: [os, system]\n")
    assert finding.rule == "MLS-YAML-013"


@pytest.mark.parametrize("key", ["target", "cls", "class_path"])
def test_older_target_keys_are_critical_only_when_the_name_is_dangerous(
    tmp_path: Path, key: str
) -> None:
    [finding] = scan(tmp_path, "model_config.yaml", f"{key}: subprocess.check_output\n")
    assert (finding.rule, finding.severity) == ("MLS-YAML-010", Severity.CRITICAL)
    benign = f"{key}: nemo.collections.asr.models.EncDecCTCModel\nx: {{{key}: my.Model}}\n"
    assert scan(tmp_path, "model_config.yaml", benign + "y: {target: labels}\n") == []


def test_a_target_told_to_trust_remote_code_is_high(tmp_path: Path) -> None:
    text = """\
    model:
      _target_: transformers.AutoModel.from_pretrained
      pretrained_model_name_or_path: someone/repo
      trust_remote_code: yes
    other: {_target_: transformers.AutoModel.from_pretrained, trust_remote_code: false}
    """
    [finding] = scan(tmp_path, "config.yaml", text)
    assert (finding.rule, finding.severity) == ("MLS-YAML-014", Severity.HIGH)
    assert finding.location.key_path == "model.trust_remote_code"


@pytest.mark.parametrize("value", ['"false"', "'no'", "!!str false", "|\n    false"])
def test_trust_remote_code_set_to_a_string_is_consent(tmp_path: Path, value: str) -> None:
    text = f"m:\n  _target_: transformers.AutoModel.from_pretrained\n  trust_remote_code: {value}\n"
    [finding] = scan(tmp_path, "config.yaml", text)
    assert (finding.rule, finding.severity) == ("MLS-YAML-014", Severity.HIGH)


@pytest.mark.parametrize("value", ["false", "no", "0", "~", '""'])
def test_trust_remote_code_set_to_a_false_value_is_not_reported(tmp_path: Path, value: str) -> None:
    text = f"m:\n  _target_: transformers.AutoModel.from_pretrained\n  trust_remote_code: {value}\n"
    assert scan(tmp_path, "config.yaml", text) == []


def test_trust_remote_code_in_the_arguments_a_target_passes_on_is_high(tmp_path: Path) -> None:
    text = "p:\n  _target_: transformers.pipeline\n  model_kwargs:\n    trust_remote_code: true\n"
    [finding] = scan(tmp_path, "config.yaml", text)
    assert finding.rule == "MLS-YAML-014"
    assert finding.location.key_path == "p.model_kwargs.trust_remote_code"


def test_trust_remote_code_beside_a_merged_target_is_high(tmp_path: Path) -> None:
    text = """\
    base: &base {_target_: transformers.AutoModel.from_pretrained}
    m:
      <<: *base
      trust_remote_code: true
    """
    [finding] = scan(tmp_path, "config.yaml", text)
    assert (finding.rule, finding.location.key_path) == ("MLS-YAML-014", "m.trust_remote_code")


def test_a_self_merging_mapping_terminates() -> None:
    stream = read_yaml("a: &a {<<: *a, b: 1}\n")
    [document] = stream.documents
    assert isinstance(document, Mapping)
    mapping = stream.resolve(document.pairs[0][1])
    assert isinstance(mapping, Mapping)
    assert [k.value for k, _ in merged_pairs(stream, mapping) if isinstance(k, Scalar)] == ["b"]


def test_an_aliased_target_mapping_is_reported_once_where_it_is_anchored(tmp_path: Path) -> None:
    text = "base: &b {_target_: os.system}\nuse: *b\nmerged: {<<: *b}\n"
    [finding] = scan(tmp_path, "config.yaml", text)
    assert finding.location.key_path == "base._target_"


def test_an_alias_resolves_as_the_composer_does_within_its_document(tmp_path: Path) -> None:
    text = (
        "a: &t torch.nn.Linear\n---\nm: {_target_: *t}\n---\nn: &t os.system\nm: {_target_: *t}\n"
    )
    findings = scan(tmp_path, "config.yaml", text)
    # Document 2 refers to an anchor of document 1: undefined there, so it is not a name.
    assert [(f.rule, f.location.key_path) for f in findings] == [
        ("MLS-YAML-013", "(document 2) m._target_"),
        ("MLS-YAML-010", "(document 3) m._target_"),
    ]


def test_a_self_referencing_alias_terminates() -> None:
    stream = read_yaml("a: &a [1, *a, {_target_: *a}]\n")
    assert stream.error is None
    assert [s.value for s in string_scalars(stream)] == ["1"]


def test_a_yaml_config_written_as_json_is_read_as_yaml_too(tmp_path: Path) -> None:
    text = '{"model": {"_target_": "os.system", "_args_": ["id"]}}'
    path = tmp_path / "config.yaml"
    path.write_text(text)
    report = scan_file(path, "config.yaml")
    assert report.formats == {"": "json"}
    assert [f.rule for f in report.findings] == ["MLS-YAML-010"]
    # Under a JSON name only a target the policy condemns is reported: OmegaConf.load reads
    # JSON whatever the file is called, but milder verdicts are for configs named as YAML.
    (tmp_path / "data.json").write_text(text)
    assert [f.rule for f in scan_file(tmp_path / "data.json", "data.json").findings] == [
        "MLS-YAML-010"
    ]
    (tmp_path / "data.json").write_text(text.replace("os.system", "my_project.Net"))
    assert scan_file(tmp_path / "data.json", "data.json").findings == []


def test_an_interpolation_through_an_eval_resolver_is_medium(tmp_path: Path) -> None:
    text = 'hidden: ${eval:\'__import__("os").system("id")\'}\nsize: ${oc.env:SIZE}\n'
    [finding] = scan(tmp_path, "config.yaml", text)
    assert (finding.rule, finding.severity) == ("MLS-YAML-015", Severity.MEDIUM)
    assert finding.location.key_path == "hidden"


# --- the scalar iterator -----------------------------------------------------------------------


def test_string_scalars_come_with_their_key_paths() -> None:
    stream = read_yaml("a:\n  b: [x, {c: 'y'}]\n  ? k\n  : z\nblob: !!binary aGk=\n")
    assert [(s.key_path, s.key, s.value) for s in string_scalars(stream)] == [
        ("a.b[0]", "0", "x"),
        ("a.b[1].c", "c", "y"),
        ("a.k", "k", "z"),
        ("blob", "blob", "aGk="),
    ]


# --- real configs, written by the real libraries ---------------------------------------------


@pytest.mark.needs("omegaconf")
def test_a_config_saved_by_omegaconf_is_clean(tmp_path: Path) -> None:
    from omegaconf import OmegaConf

    config = OmegaConf.create(
        {
            "model": {"_target_": "torch.nn.Linear", "in_features": 4, "out_features": 2},
            "data": {"paths": ["a.txt", "b.txt"], "batch_size": 8, "ratio": 0.5},
            "name": "${model._target_}",
        }
    )
    OmegaConf.save(config, tmp_path / "config.yaml")
    report = scan_file(tmp_path / "config.yaml", "config.yaml")
    assert report.findings == []
    assert report.errors == []


@pytest.mark.needs("pytorch_lightning", "torch")
def test_hparams_yaml_written_by_lightning_is_clean(tmp_path: Path) -> None:
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.loggers import CSVLogger

    class Tiny(pl.LightningModule):
        def __init__(self, hidden: int = 4, lr: float = 1e-3, betas: tuple[float, ...] = (0.9,)):
            super().__init__()
            self.save_hyperparameters()
            self.layer = torch.nn.Linear(2, hidden)

        def training_step(self, batch: list[torch.Tensor], index: int) -> torch.Tensor:
            return self.layer(batch[0]).sum()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=self.hparams["lr"])

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 2)))
    trainer = pl.Trainer(
        max_epochs=1,
        logger=CSVLogger(tmp_path),
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    with pytest.warns():  # Lightning warns about workers and the tiny dataset
        trainer.fit(Tiny(), data)
    [hparams] = tmp_path.rglob("hparams.yaml")
    assert "hidden: 4" in hparams.read_text()
    report = scan_file(hparams, "hparams.yaml")
    assert [f for f in report.findings if f.severity >= Severity.MEDIUM] == []
    assert report.errors == []
