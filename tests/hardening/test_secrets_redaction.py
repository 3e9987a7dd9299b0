"""The redactor itself, and each sink that calls it: what is replaced, how, and what is kept."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from html import escape
from io import StringIO
from pathlib import Path

import pytest

from pytest_mlsupply.redaction import (
    MARKER,
    RedactingFilter,
    RedactingStream,
    forget_registered_secrets,
    redact_data,
    redact_text,
    redact_url,
    register_environment,
    register_secret,
    register_webhook,
)
from pytest_mlsupply.reports.atomic import write_atomic, write_private


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    forget_registered_secrets()
    yield
    forget_registered_secrets()


def unique(prefix: str = "v") -> str:
    return prefix + secrets.token_hex(10)


def test_a_registered_value_is_replaced_wherever_it_appears() -> None:
    value = unique()
    register_secret(value)

    assert redact_text(f"a{value}b and ({value})") == f"a{MARKER}b and ({MARKER})"


def test_a_registered_value_is_replaced_in_its_json_and_html_spellings_too() -> None:
    value = 'pa"ss&<word>' + secrets.token_hex(4)
    register_secret(value)

    assert value not in redact_text(json.dumps({"k": value}))
    assert json.dumps(value)[1:-1] not in redact_text(json.dumps({"k": value}))
    assert escape(value) not in redact_text(f"<td>{escape(value)}</td>")
    assert redact_text(f"<td>{escape(value)}</td>") == f"<td>{MARKER}</td>"


def test_values_too_short_to_be_told_from_ordinary_words_are_not_registered() -> None:
    register_secret("pass")

    assert redact_text("tests passed") == "tests passed"


def test_url_credentials_are_masked_as_pip_masks_them_and_then_known_everywhere() -> None:
    password = unique("s3cr3t-")

    assert redact_url(f"https://build:{password}@pypi.acme.internal/simple") == (
        f"https://build:{MARKER}@pypi.acme.internal/simple"
    )
    # Registered by the masking: the bare value is caught where no URL surrounds it.
    assert redact_text(f"login failed for {password}") == f"login failed for {MARKER}"


def test_a_token_alone_in_a_url_is_masked_whole() -> None:
    token = unique("tok")

    assert redact_url(f"https://{token}@git.example/acme.git") == (
        f"https://{MARKER}@git.example/acme.git"
    )


def test_an_authorization_header_keeps_its_name_and_scheme_and_loses_its_value() -> None:
    text = (
        "sent Authorization: Bearer abc.def-123 and {'authorization': 'Basic dXNlcjpwYXNz'} "
        "and Proxy-Authorization: Digest rsp"
    )

    assert redact_text(text) == (
        f"sent Authorization: Bearer {MARKER} and {{'authorization': 'Basic {MARKER}'}} "
        f"and Proxy-Authorization: Digest {MARKER}"
    )


def test_a_bearer_token_outside_a_header_is_masked() -> None:
    assert redact_text("header was Bearer eyJhbGciOi.x-y_z") == f"header was Bearer {MARKER}"


def test_a_hugging_face_token_nobody_registered_is_caught_by_its_shape() -> None:
    token = "hf_" + "aB3" * 12

    assert redact_text(f"token={token}!") == f"token={MARKER}!"
    # The head a repr cut short, too ("hf_aB3aB3aB3...").
    assert redact_text(f"'{token[:12]}...{token[-6:]}'") == f"'{MARKER}...{token[-6:]}'"
    # Names that merely start like one are left alone.
    assert redact_text("hf_transfer and hf_hub_download") == "hf_transfer and hf_hub_download"


def test_credential_like_query_values_are_masked_and_the_rest_of_the_url_kept() -> None:
    url = "https://blob.example/x.bin?sv=2024&sig=AbC%2Fdef&token=t0k3n#frag"

    assert redact_text(url) == (
        f"https://blob.example/x.bin?sv=2024&sig={MARKER}&token={MARKER}#frag"
    )


def test_a_webhook_urls_path_and_query_are_secret() -> None:
    key = unique()
    register_webhook(f"https://hooks.slack.com/services/T0001/B0002/{key}")

    assert redact_text(f"posting to https://hooks.slack.com/services/T0001/B0002/{key}") == (
        f"posting to https://hooks.slack.com{MARKER}"
    )
    # A part of the path alone (a log that split the URL) is caught too.
    assert redact_text(f"key {key}") == f"key {MARKER}"


def test_the_environment_registers_hf_tokens_the_token_file_index_urls_and_named_secrets(
    tmp_path: Path,
) -> None:
    planted = {name: unique(name.lower()) for name in ("hf", "hub", "file", "pip", "ci", "hook")}
    token_file = tmp_path / "token"
    token_file.write_text(planted["file"] + "\n")
    register_environment(
        {
            "HF_TOKEN": planted["hf"],
            "HUGGING_FACE_HUB_TOKEN": planted["hub"],
            "HF_TOKEN_PATH": str(token_file),
            "PIP_EXTRA_INDEX_URL": f"https://a.example https://u:{planted['pip']}@b.example/simple",
            "GITHUB_TOKEN": planted["ci"],
            "TEAMS_WEBHOOK_URL": f"https://acme.webhook.office.com/webhookb2/{planted['hook']}",
            "HOME": "/home/someone-with-a-long-name",
        }
    )

    text = " ".join(planted.values()) + " /home/someone-with-a-long-name"
    assert redact_text(text) == " ".join([MARKER] * len(planted)) + (
        " /home/someone-with-a-long-name"
    )


def test_the_token_file_is_found_where_huggingface_hub_keeps_it(tmp_path: Path) -> None:
    token = unique("hf_")
    (tmp_path / "hf-home").mkdir()
    (tmp_path / "hf-home" / "token").write_text(token)

    register_environment({"HF_HOME": str(tmp_path / "hf-home")})

    assert redact_text(token) == MARKER


def test_redaction_is_idempotent() -> None:
    register_secret(unique())
    once = redact_text(
        "https://u:p@h/simple Authorization: Bearer abcdefgh hf_" + "x1" * 16 + " ?sig=abc"
    )

    assert redact_text(once) == once


def test_bytes_are_redacted_and_bytes_that_are_not_utf8_kept() -> None:
    value = unique()
    register_secret(value)

    assert redact_data(b"\xff\xfe " + value.encode() + b" \x00") == (
        b"\xff\xfe " + MARKER.encode() + b" \x00"
    )
    untouched = b"\x89PNG\r\n\x1a\n\xff"
    assert redact_data(untouched) is untouched


def test_every_report_the_atomic_writer_writes_is_redacted(tmp_path: Path) -> None:
    value = unique()
    register_secret(value)

    write_atomic(tmp_path / "report.json", json.dumps({"error": f"failed with {value}"}))
    write_atomic(tmp_path / "report.bin", f"raw {value}".encode())

    assert json.loads((tmp_path / "report.json").read_text()) == {"error": f"failed with {MARKER}"}
    assert (tmp_path / "report.bin").read_bytes() == f"raw {MARKER}".encode()


def test_every_cache_entry_the_private_writer_writes_is_redacted(tmp_path: Path) -> None:
    value = unique()
    register_secret(value)

    write_private(tmp_path / "entry.json", f'{{"why": "{value}"}}', prefix=".tmp-", suffix=".json")

    assert (tmp_path / "entry.json").read_text() == f'{{"why": "{MARKER}"}}'


def test_a_log_record_is_redacted_in_its_message_arguments_and_traceback() -> None:
    value = unique()
    register_secret(value)
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger(f"tests.secrets.{unique()}")
    log.addHandler(handler)
    log.propagate = False

    log.warning("token %s", value)
    try:
        raise RuntimeError(f"server said {value}")
    except RuntimeError:
        log.exception("failed")

    written = stream.getvalue()
    assert value not in written
    assert f"token {MARKER}" in written
    assert f"RuntimeError: server said {MARKER}" in written


def test_a_redacting_stream_redacts_each_write_and_passes_the_rest_through() -> None:
    value = unique()
    register_secret(value)
    inner = StringIO()
    stream = RedactingStream(inner)

    print(f"error: {value}", file=stream)  # type: ignore[arg-type]
    stream.flush()

    assert inner.getvalue() == f"error: {MARKER}\n"
    assert stream.getvalue() == inner.getvalue()


def test_credentials_in_the_manifests_urls_are_known_once_it_is_loaded(tmp_path: Path) -> None:
    from pytest_mlsupply.manifest.loader import load_manifest

    password = unique("osv-")
    manifest = tmp_path / "mlsupply.yaml"
    manifest.write_text(
        f'version: 1\nvulnerabilities: {{service: osv, url: "https://ci:{password}@osv.internal"}}\n'
    )

    load_manifest(manifest)

    assert redact_text(f"OSV said: bad password {password}") == f"OSV said: bad password {MARKER}"


def test_a_shortened_repr_shows_neither_the_head_nor_the_tail_of_a_registered_value() -> None:
    token = "ghs_71e0a985b2c3d4e5f60718293a4b5c730bc6d1e1dac"
    register_secret(token)
    shown = "assert 'ghs_71e0a985...730bc6d1e1dac' == 'other'"
    assert redact_text(shown) == "assert '****...****' == 'other'"
    # Pieces of other words beside an ellipsis are left alone.
    assert redact_text("loading weights... done...") == "loading weights... done..."
