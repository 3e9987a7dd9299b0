"""R2 review: URL credentials whose password holds a raw '@'."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_mlsupply.redaction import (
    forget_registered_secrets,
    redact_text,
    register_credentials_in,
    register_url,
)


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    forget_registered_secrets()
    yield
    forget_registered_secrets()


def test_a_password_with_an_at_sign_is_masked_whole_by_the_url_pattern() -> None:
    text = "GET https://build:abc@defghijk-tail@pypi.acme.internal/simple failed"
    assert redact_text(text) == "GET https://build:****@pypi.acme.internal/simple failed"


def test_a_manifest_url_whose_password_holds_an_at_sign_registers_the_whole_password() -> None:
    register_credentials_in('url: "https://audit:xy@z-longer-secret@osv.internal"')
    assert redact_text("error: xy@z-longer-secret rejected") == "error: **** rejected"


def test_two_urls_on_one_line_keep_their_hosts() -> None:
    text = "https://a:pw1@one.example/x and https://b:pw2@two.example/y"
    assert redact_text(text) == "https://a:****@one.example/x and https://b:****@two.example/y"


def test_a_query_secret_after_the_first_parameter_is_masked_in_its_html_spelling() -> None:
    url = "https://cdn.example/m.bin?Expires=1&amp;Signature=SIGVALUE123&amp;Key-Pair-Id=K"
    assert redact_text(url) == (
        "https://cdn.example/m.bin?Expires=1&amp;Signature=****&amp;Key-Pair-Id=K"
    )


def test_a_query_secret_after_the_first_parameter_is_masked_in_a_json_island() -> None:
    url = '"https://blob.example/m.bin?sv=2020\\u0026sig=SIGVALUE123\\u0026se=x"'
    assert redact_text(url) == '"https://blob.example/m.bin?sv=2020\\u0026sig=****\\u0026se=x"'


def test_a_json_string_whose_text_looks_like_a_credential_still_parses_once_redacted() -> None:
    import json

    for name in ('m/authorization=x".pkl', 'm/w?token=y".pkl', "Authorization: abc\\"):
        document = json.dumps({"name": name, "next": "kept"})
        assert json.loads(redact_text(document))["next"] == "kept", name


def test_an_xml_element_whose_text_looks_like_an_authorization_header_keeps_its_end_tag() -> None:
    import xml.etree.ElementTree as ET

    text = "<c><name>m/authorization=z.pkl</name><n>kept</n></c>"
    assert ET.fromstring(redact_text(text)).find("n").text == "kept"


def test_a_registered_token_is_masked_in_the_markdown_reports_escaped_spelling() -> None:
    from pytest_mlsupply.redaction import register_secret

    register_secret("ghs_0123456789abcdef01234567")
    assert redact_text("error: ghs\\_0123456789abcdef01234567 rejected") == "error: **** rejected"


def test_an_unregistered_hf_token_is_masked_in_the_markdown_reports_escaped_spelling() -> None:
    text = "hub said: hf\\_0123456789abcdef0123456789abcdef01 is invalid"
    assert redact_text(text) == "hub said: **** is invalid"


def test_an_authorization_value_is_masked_whole_across_a_markdown_escape() -> None:
    text = "rejected request with Authorization: Bearer hf\\_abc123def456 sent"
    assert redact_text(text) == "rejected request with Authorization: Bearer **** sent"


def test_a_percent_encoded_password_is_masked_as_written_and_as_the_client_sends_it() -> None:
    register_url("https://ci:s3cr%40tP%2Fss@index.example/simple")
    # A client decodes it: an error quoting the decoded password must not show it either.
    said = redact_text("401 for user ci with password s3cr@tP/ss; url s3cr%40tP%2Fss")
    assert "s3cr@tP/ss" not in said
    assert "s3cr%40tP%2Fss" not in said
