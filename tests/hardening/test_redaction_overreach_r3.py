"""Review R3: every written file is redacted (reports/atomic.py), after the BOM was validated and
before it is signed. A webhook URL in the environment registers each path segment as a secret, so
an ordinary word ("services", the path of every Slack webhook) is masked in every report: the BOM
misnames a dependency, and the attestation signs the misnamed BOM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_mlsupply.redaction import forget_registered_secrets, register_environment
from pytest_mlsupply.reports.atomic import write_atomic


@pytest.fixture
def slack_webhook_in_the_environment() -> Iterator[None]:
    register_environment(
        {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0123ABC/B0456DEF/xq9ZkP3mW7tR2sVb"}
    )
    yield
    forget_registered_secrets()


def test_a_webhook_in_the_environment_does_not_rename_a_dependency_in_the_written_bom(
    slack_webhook_in_the_environment: None, tmp_path: Path
) -> None:
    purl = "pkg:pypi/azure-cognitiveservices-speech@1.38.0"
    bom = {"components": [{"name": "azure-cognitiveservices-speech", "purl": purl}]}
    path = tmp_path / "ml-bom.cdx.json"

    write_atomic(path, json.dumps(bom))

    assert json.loads(path.read_text()) == bom


def test_the_webhook_token_itself_is_still_masked(
    slack_webhook_in_the_environment: None, tmp_path: Path
) -> None:
    path = tmp_path / "log.txt"
    write_atomic(
        path, "posted to https://hooks.slack.com/services/T0123ABC/B0456DEF/xq9ZkP3mW7tR2sVb"
    )
    assert "xq9ZkP3mW7tR2sVb" not in path.read_text()
