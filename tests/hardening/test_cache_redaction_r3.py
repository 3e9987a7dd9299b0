"""Review R3: the caches redact their text on the way to disk (write_private), after the MAC was
computed over the text as it was: an answer that quotes a credential-looking URL is never a hit."""

from __future__ import annotations

from pathlib import Path

from pytest_mlsupply.vulns.cache import Answer, ResultCache
from pytest_mlsupply.vulns.model import Advisory

SECRET = b"k" * 32


def test_an_advisory_quoting_a_url_with_credentials_is_answered_from_the_cache_the_second_time(
    tmp_path: Path,
) -> None:
    # Advisories about credential leaks quote such URLs (pip, requests, urllib3 advisories do).
    advisory = Advisory(
        id="GHSA-0000-0000-0000",
        package="pip",
        version="21.0",
        details="pip logs an index URL such as https://user:password@example.com/simple",
    )
    asked: list[str] = []

    def compute() -> Answer:
        asked.append("pip")
        return Answer((advisory,), "21.1")

    cache = ResultCache(tmp_path / "cache", SECRET)
    cache.get_or_compute("pip", "21.0", "offline", compute)
    ResultCache(tmp_path / "cache", SECRET).get_or_compute("pip", "21.0", "offline", compute)

    assert asked == ["pip"]


def test_a_content_store_entry_quoting_a_url_with_credentials_is_a_hit_the_second_time(
    tmp_path: Path,
) -> None:
    from pytest_mlsupply.checks.content_store import ContentStore, FileIdentity

    model = tmp_path / "README.md"
    model.write_text("weights at https://user:password@example.com/files\n")
    identity = FileIdentity.of(model, model.stat())
    value = {"card": {"text": model.read_text()}}
    root = tmp_path / "store"

    ContentStore(root, secret=SECRET, fingerprint="f" * 64).save(identity, value)
    loaded = ContentStore(root, secret=SECRET, fingerprint="f" * 64).load(identity)

    assert loaded is not None
    assert "password" not in str(loaded)  # what is kept is the redacted text
