"""Private repositories: HF_TOKEN opens them, its absence is explained, and it never leaks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from pytest_mlsupply.checks.artifact_hub import CHECK as HUB_CHECK
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.manifest.model import HubRef, ModelDecl, Span
from pytest_mlsupply.redaction import scrub
from pytest_mlsupply.sources.hub import HubResolutionError, HubSettings, resolve_hub
from pytest_mlsupply.sources.resolve import resolve_model
from tests.hub.conftest import context_for
from tests.hub.server import FakeHub

TOKEN = "hf_PrivateTokenValue0123456789abcdefXYZ"
FILES = {"config.json": b"{}", "model.safetensors": b"\x00" * 32}


@pytest.fixture
def private_commit(hub_env: FakeHub) -> str:
    return hub_env.add_repo("acme/secret-bert", private=True, token=TOKEN).commit(FILES)


def model(commit: str) -> ModelDecl:
    return ModelDecl(
        name="secret",
        span=Span(Path("mlsupply.yaml"), 1, 1),
        source=HubRef("model", "acme/secret-bert", commit),
    )


def test_a_private_repo_resolves_with_hf_token_and_the_cdn_never_sees_it(
    hub_env: FakeHub, private_commit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)

    resolved = resolve_model(model(private_commit))

    assert resolved.error is None
    assert [f.relpath for f in resolved.files] == ["config.json", "model.safetensors"]
    hub_requests = hub_env.requests_to("hub")
    assert hub_requests
    assert all(r.authorization == f"Bearer {TOKEN}" for r in hub_requests)
    cdn_requests = hub_env.requests_to("cdn")
    assert cdn_requests
    assert all(r.authorization is None for r in cdn_requests)
    ctx = context_for(resolved, ContentCache())
    outcomes = [HUB_CHECK.run(f, ctx) for f in resolved.files]
    everything = (
        repr(resolved)
        + str(resolved)
        + json.dumps(
            [{"findings": [x.to_dict() for x in o.findings], "facts": o.facts} for o in outcomes],
            default=str,
        )
    )
    assert TOKEN not in everything


def test_a_private_repo_without_a_token_says_to_set_hf_token(
    hub_env: FakeHub, private_commit: str
) -> None:
    resolved = resolve_model(model(private_commit))

    assert resolved.error is not None
    assert "private or gated; if it is, set HF_TOKEN to a read token with access" in resolved.error


def test_a_wrong_token_is_reported_as_lacking_access_without_printing_it(
    hub_env: FakeHub, private_commit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "hf_WrongTokenValue9876543210zyxwvu"
    monkeypatch.setenv("HF_TOKEN", wrong)

    with pytest.raises(HubResolutionError) as caught:
        resolve_hub(HubRef("model", "acme/secret-bert", private_commit))

    message = str(caught.value)
    assert "the token in use (HTTP 401) has no read access" in message
    assert wrong not in message
    assert wrong not in repr(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_token_echoed_back_by_the_server_is_scrubbed_from_the_error(
    hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = hub_env.add_repo("acme/echo")
    commit = repo.commit(FILES)
    repo.echo_authorization = 400
    monkeypatch.setenv("HF_TOKEN", TOKEN)

    with pytest.raises(HubResolutionError) as caught:
        resolve_hub(HubRef("model", "acme/echo", commit))

    message = str(caught.value)
    assert "bad Bearer ****" in message  # the server's message is kept, minus the secret
    assert TOKEN not in message


def test_an_explicit_token_is_used_and_kept_out_of_the_settings_repr(
    hub_env: FakeHub, private_commit: str, hf_cache: Path
) -> None:
    settings = HubSettings(
        endpoint=hub_env.endpoint, cache_dir=hf_cache, offline=False, token=TOKEN
    )

    snapshot = resolve_hub(HubRef("model", "acme/secret-bert", private_commit), settings=settings)

    assert snapshot.online
    assert TOKEN not in repr(settings)
    assert TOKEN not in repr(snapshot)
    assert TOKEN not in json.dumps(
        [dataclasses.asdict(m) for m in snapshot.files.values()], default=str
    )


def test_scrub_replaces_every_secret_longest_first() -> None:
    assert scrub("a hf_abc and hf_abcdef", ["hf_abc", "hf_abcdef", ""]) == "a **** and ****"
