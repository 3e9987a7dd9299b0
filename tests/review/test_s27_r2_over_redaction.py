"""R2 review: over-redaction. A Slack webhook URL in CI's environment registers each of its
path segments as a secret, so the word 'services' (8 characters: the floor) is masked in every
report: a model card's text in the BOM, an advisory's summary, a package description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_mlsupply.redaction import (
    forget_registered_secrets,
    redact_text,
    register_environment,
)


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    forget_registered_secrets()
    yield
    forget_registered_secrets()


def test_a_slack_webhook_in_the_environment_masks_its_key_and_not_the_word_services() -> None:
    register_environment(
        {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/k3yk3yk3yk3y"}
    )
    card = "Intended use: customer services chat; not for medical advice."
    assert redact_text(card) == card
    assert redact_text("posted to .../k3yk3yk3yk3y") == "posted to .../****"
