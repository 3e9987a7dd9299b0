"""Hugging Face JSON files: code the loaders import, chat templates, tokenizer anomalies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.results import Finding, Severity
from tests.corpus.hf_repo import BERT_ADDED, BERT_CONFIG, tokenizer_json
from tests.corpus.templates import CHATML, GEMMA


def scan(tmp_path: Path, name: str, content: Any) -> list[Finding]:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    report = scan_file(path, name)
    assert report.errors == []
    return report.findings


def token(token_id: int, content: str, special: bool = True) -> dict[str, Any]:
    return {"id": token_id, "content": content, "special": special}


def test_a_bert_config_is_clean(tmp_path: Path) -> None:
    assert scan(tmp_path, "config.json", BERT_CONFIG) == []


def test_auto_map_is_high_and_names_each_module_once(tmp_path: Path) -> None:
    config = {
        "auto_map": {
            "AutoConfig": "configuration_x.XConfig",
            "AutoModel": "modeling_x.XModel",
            "AutoModelForCausalLM": "modeling_x.XForCausalLM",
        }
    }
    findings = scan(tmp_path, "config.json", config)
    assert [(f.rule, f.severity) for f in findings] == [("MLS-CFG-001", Severity.HIGH)] * 2
    modeling = next(f for f in findings if "modeling_x" in f.evidence)
    assert "AutoModel → XModel" in modeling.evidence
    assert "AutoModelForCausalLM → XForCausalLM" in modeling.evidence


def test_auto_map_says_whether_the_module_is_in_the_repository(tmp_path: Path) -> None:
    (tmp_path / "modeling_x.py").write_text("class XModel: pass\n")
    config = {"auto_map": {"AutoModel": "modeling_x.XModel", "AutoConfig": "conf_x.C"}}
    findings = {f.evidence.split(" ")[1]: f for f in scan(tmp_path, "config.json", config)}
    assert "analysed by the code scanner" in findings["modeling_x.py"].evidence
    assert "fetches it from the hub" in findings["conf_x.py"].evidence


def test_auto_map_code_beside_the_config_is_medium_and_code_from_elsewhere_high(
    tmp_path: Path,
) -> None:
    # The module beside the config is scanned on its own item and judged by what it does.
    (tmp_path / "modeling_x.py").write_text("class XModel: pass\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "linked_x.py").write_text("class L: pass\n")
    (tmp_path / "linked_x.py").symlink_to(tmp_path / "elsewhere" / "linked_x.py")
    config = {
        "auto_map": {
            "AutoModel": "modeling_x.XModel",
            "AutoConfig": "conf_x.C",
            "AutoTokenizer": "linked_x.L",
        }
    }
    found = {f.evidence.split(" ")[1]: f.severity for f in scan(tmp_path, "config.json", config)}
    assert found == {
        "modeling_x.py": Severity.MEDIUM,
        "conf_x.py": Severity.HIGH,
        "linked_x.py": Severity.HIGH,
    }


def test_tokenizer_auto_map_lists_with_nulls_are_read(tmp_path: Path) -> None:
    config = {"auto_map": {"AutoTokenizer": ["tokenization_x.XTokenizer", None]}}
    [finding] = scan(tmp_path, "tokenizer_config.json", config)
    assert "tokenization_x.py" in finding.evidence


def test_code_from_another_repository_is_its_own_finding(tmp_path: Path) -> None:
    config = {"auto_map": {"AutoModel": "org/other--modeling.M"}}
    [finding] = scan(tmp_path, "config.json", config)
    assert (finding.rule, finding.location.key_path) == ("MLS-CFG-002", "auto_map.AutoModel")
    assert "org/other" in finding.evidence


def test_auto_map_in_a_renamed_file_is_still_found(tmp_path: Path) -> None:
    assert scan(tmp_path, "settings.json", {"auto_map": {"AutoModel": "m.M"}})[0].rule == (
        "MLS-CFG-001"
    )


def test_custom_pipelines_and_trust_remote_code_keys_are_reported(tmp_path: Path) -> None:
    config = {"custom_pipelines": {"ner": {"impl": "p.P"}}, "trust_remote_code": True}
    found = {(f.rule, f.severity) for f in scan(tmp_path, "config.json", config)}
    assert found == {("MLS-CFG-001", Severity.HIGH), ("MLS-CFG-006", Severity.MEDIUM)}


@pytest.mark.parametrize("value", ["BertTokenizerFast", "LlamaTokenizer"])
def test_a_plain_tokenizer_class_is_fine(tmp_path: Path, value: str) -> None:
    assert scan(tmp_path, "tokenizer_config.json", {"tokenizer_class": value}) == []


def test_a_dotted_tokenizer_class_is_medium(tmp_path: Path) -> None:
    [finding] = scan(tmp_path, "tokenizer_config.json", {"tokenizer_class": "evil.mod.Tok"})
    assert (finding.rule, finding.severity) == ("MLS-CFG-003", Severity.MEDIUM)


def test_chat_templates_are_analysed_in_string_and_list_forms(tmp_path: Path) -> None:
    config = {
        "chat_template": [
            {"name": "default", "template": CHATML},
            {"name": "rag", "template": "{{ cycler.__init__ }}"},
        ]
    }
    [finding] = scan(tmp_path, "tokenizer_config.json", config)
    assert finding.rule == "MLS-TPL-001"
    assert finding.location.key_path == "chat_template[1] ('rag')"


def test_every_duplicate_chat_template_key_is_analysed(tmp_path: Path) -> None:
    text = (
        '{"chat_template": "{{ lipsum.__globals__ }}", "chat_template": ' + json.dumps(GEMMA) + "}"
    )
    [finding] = scan(tmp_path, "tokenizer_config.json", text)
    assert finding.location.key_path == "chat_template (occurrence 1 of 2)"


def test_normal_added_tokens_are_clean(tmp_path: Path) -> None:
    assert scan(tmp_path, "tokenizer.json", tokenizer_json(BERT_ADDED)) == []


@pytest.mark.parametrize(
    ("content", "special", "severity"),
    [
        ("<|im_start|>\u202e", True, Severity.HIGH),
        ("[CLS]\u200b", True, Severity.HIGH),
        ("ok\u2066", False, Severity.MEDIUM),
        ("bell\x07", True, Severity.HIGH),
    ],
)
def test_invisible_and_bidi_characters_in_tokens_are_flagged(
    tmp_path: Path, content: str, special: bool, severity: Severity
) -> None:
    added = [*BERT_ADDED, token(30522, content, special)]
    [finding] = scan(tmp_path, "tokenizer.json", tokenizer_json(added))
    assert (finding.rule, finding.severity) == ("MLS-TOK-001", severity)
    assert finding.location.key_path == "added_tokens[5]"
    assert "U+" in finding.evidence


def test_a_very_long_token_is_medium(tmp_path: Path) -> None:
    added = [*BERT_ADDED, token(30522, "trigger " * 40, special=False)]
    [finding] = scan(tmp_path, "tokenizer.json", tokenizer_json(added))
    assert (finding.rule, finding.severity) == ("MLS-TOK-002", Severity.MEDIUM)


def test_a_role_marker_added_as_non_special_is_medium(tmp_path: Path) -> None:
    added = [*BERT_ADDED, token(30522, "<|im_start|>", special=False)]
    [finding] = scan(tmp_path, "tokenizer.json", tokenizer_json(added))
    assert finding.rule == "MLS-TOK-003"


def test_two_tokens_with_one_id_are_reported(tmp_path: Path) -> None:
    added = [*BERT_ADDED, token(101, "[EVIL]")]
    [finding] = scan(tmp_path, "tokenizer.json", tokenizer_json(added))
    assert finding.rule == "MLS-TOK-004"
    assert "id 101" in finding.evidence


def test_an_added_token_that_takes_a_vocabulary_id_is_reported(tmp_path: Path) -> None:
    added = [*BERT_ADDED, token(1996, "<backdoor>")]
    [finding] = scan(tmp_path, "tokenizer.json", tokenizer_json(added))
    assert finding.rule == "MLS-TOK-004"
    assert "'the'" in finding.evidence


def test_added_tokens_decoder_in_tokenizer_config_is_checked(tmp_path: Path) -> None:
    config = {"added_tokens_decoder": {"5": {"content": "<s>\u202d", "special": True}}}
    [finding] = scan(tmp_path, "tokenizer_config.json", config)
    assert finding.location.key_path == "added_tokens_decoder.5"


def test_generation_and_preprocessor_configs_are_benign(tmp_path: Path) -> None:
    assert scan(tmp_path, "generation_config.json", {"do_sample": True, "temperature": 0.6}) == []
    assert scan(tmp_path, "preprocessor_config.json", {"do_resize": True, "size": 224}) == []


def test_a_foreign_sentence_transformers_module_is_high(tmp_path: Path) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_X", "type": "custom.X"},
    ]
    [finding] = scan(tmp_path, "modules.json", modules)
    assert (finding.rule, finding.location.key_path) == ("MLS-CFG-004", "[1].type")


def test_a_config_that_does_not_parse_is_a_medium_finding(tmp_path: Path) -> None:
    [finding] = scan(tmp_path, "config.json", '{"hidden_size": 768,, }')
    assert (finding.rule, finding.severity) == ("MLS-CFG-005", Severity.MEDIUM)
