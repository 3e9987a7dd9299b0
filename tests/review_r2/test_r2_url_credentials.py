"""R2 review: URL credentials whose password holds a raw '@'."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_mlsupply.redaction import (
    forget_registered_secrets,
    redact_text,
    register_credentials_in,
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
