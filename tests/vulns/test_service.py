"""The online databases, driven through pip-audit against loopback OSV and PyPI servers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.vulns.model import DatabaseError
from pytest_mlsupply.vulns.service import ServiceDatabase

from .records import REQUESTS_GHSA, REQUESTS_PYSEC, TORCH_WEIGHTS_ONLY, withdrawn
from .servers import AdvisoryServer, advisory_server


@pytest.fixture
def server() -> Iterator[AdvisoryServer]:
    with advisory_server(
        AdvisoryServer(
            records=[TORCH_WEIGHTS_ONLY, REQUESTS_PYSEC, REQUESTS_GHSA],
            known={("torch", "2.5.1"), ("torch", "2.6.0"), ("requests", "2.19.0")},
        )
    ) as running:
        yield running


def osv(server: AdvisoryServer, tmp_path: Path, timeout: float = 5.0) -> ServiceDatabase:
    return ServiceDatabase("osv", server.url, tmp_path / "cache", timeout=timeout)


def pypi(server: AdvisoryServer, tmp_path: Path, timeout: float = 5.0) -> ServiceDatabase:
    return ServiceDatabase("pypi", server.url, tmp_path / "cache", timeout=timeout)


def test_osv_service_reports_the_torch_load_advisory_rated_by_its_cvss4_vector(
    server: AdvisoryServer, tmp_path: Path
) -> None:
    (advisory,) = osv(server, tmp_path).lookup("torch", "2.5.1")
    assert advisory.id == "GHSA-53q9-r3pm-6pq6" or "GHSA-53q9-r3pm-6pq6" in advisory.aliases
    assert "CVE-2025-32434" in {advisory.id, *advisory.aliases}
    assert advisory.fixed == ("2.6.0",)
    assert advisory.rating.method == "CVSSv4"
    assert advisory.rating.severity == "critical"
    assert advisory.rating.score == "9.3"
    assert advisory.summary.startswith("PyTorch: `torch.load`")
    assert advisory.url
    assert advisory.url.endswith("GHSA-53q9-r3pm-6pq6")
    assert advisory.source == "osv"
    assert ("POST", "/v1/query") in server.requests


def test_osv_service_finds_nothing_for_the_fixed_release(
    server: AdvisoryServer, tmp_path: Path
) -> None:
    assert osv(server, tmp_path).lookup("torch", "2.6.0") == []


def test_records_that_alias_each_other_are_one_advisory_with_every_id(
    server: AdvisoryServer, tmp_path: Path
) -> None:
    (advisory,) = osv(server, tmp_path).lookup("requests", "2.19.0")
    ids = {advisory.id, *advisory.aliases}
    assert ids == {"PYSEC-2018-28", "CVE-2018-18074", "GHSA-x84v-xcm2-53pg"}
    assert advisory.fixed == ("2.20.0",)
    # PYSEC's record has no vector; GitHub's alias of it does, and the vector is what counts.
    assert advisory.rating.method == "CVSSv31"
    assert advisory.rating.severity == "high"


def test_a_withdrawn_record_is_not_reported(tmp_path: Path) -> None:
    with advisory_server(AdvisoryServer(records=[withdrawn(TORCH_WEIGHTS_ONLY)])) as running:
        assert osv(running, tmp_path).lookup("torch", "2.5.1") == []


def test_pypi_service_reports_advisories_from_the_release_json_at_the_mirror(
    server: AdvisoryServer, tmp_path: Path
) -> None:
    (advisory,) = pypi(server, tmp_path).lookup("torch", "2.5.1")
    assert "GHSA-53q9-r3pm-6pq6" in {advisory.id, *advisory.aliases}
    assert advisory.fixed == ("2.6.0",)
    assert advisory.source == "pypi"
    # PyPI's JSON API carries no vector: unrated means high, said to be a default.
    assert (advisory.rating.severity, advisory.rating.source) == ("high", "default")
    # pip-audit builds https://pypi.org/pypi/... URLs; the mirror is what answered them.
    assert ("GET", "/pypi/torch/2.5.1/json") in server.requests


def test_pypi_service_cannot_audit_a_release_the_index_does_not_know(
    server: AdvisoryServer, tmp_path: Path
) -> None:
    with pytest.raises(
        DatabaseError, match=r"acme-internal==1\.0 cannot be audited.*service: offline"
    ):
        pypi(server, tmp_path).lookup("acme-internal", "1.0")


@pytest.mark.parametrize("service", ["osv", "pypi"])
@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("500", "it answered HTTP 500"),
        ("malformed", "malformed"),
        ("wrong-shape", "malformed"),
    ],
)
def test_a_failing_service_is_an_error_that_says_how_to_go_offline(
    service: str, mode: str, reason: str, tmp_path: Path
) -> None:
    with advisory_server(
        AdvisoryServer(records=[TORCH_WEIGHTS_ONLY], known={("torch", "2.5.1")}, mode=mode)
    ) as running:
        database = ServiceDatabase(service, running.url, tmp_path, timeout=5)  # type: ignore[arg-type]
        with pytest.raises(DatabaseError) as caught:
            database.lookup("torch", "2.5.1")
    message = str(caught.value)
    assert reason in message
    assert "torch==2.5.1 could not be audited" in message
    assert "service: offline" in message


@pytest.mark.parametrize("service", ["osv", "pypi"])
def test_a_service_that_is_down_is_an_error(service: str, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free now, and nothing listens on it below
    database = ServiceDatabase(service, f"http://127.0.0.1:{port}", tmp_path, timeout=5)  # type: ignore[arg-type]
    with pytest.raises(DatabaseError, match="it cannot be reached"):
        database.lookup("torch", "2.5.1")


@pytest.mark.parametrize("service", ["osv", "pypi"])
def test_a_service_slower_than_the_timeout_is_an_error(service: str, tmp_path: Path) -> None:
    with advisory_server(
        AdvisoryServer(
            records=[TORCH_WEIGHTS_ONLY], known={("torch", "2.5.1")}, mode="slow", delay=2
        )
    ) as running:
        database = ServiceDatabase(service, running.url, tmp_path, timeout=0.3)  # type: ignore[arg-type]
        with pytest.raises(DatabaseError, match="did not answer in time"):
            database.lookup("torch", "2.5.1")


def test_the_state_names_the_service_the_endpoint_and_the_day(tmp_path: Path) -> None:
    a = ServiceDatabase("osv", "http://127.0.0.1:1/", tmp_path)
    b = ServiceDatabase("pypi", None, tmp_path)
    assert a.state.startswith("osv:http://127.0.0.1:1:")
    assert b.state.startswith("pypi:https://pypi.org:")
    assert a.state.rsplit(":", 1)[1] == b.state.rsplit(":", 1)[1]  # the same UTC day


def test_a_version_that_is_not_pep440_is_an_error_not_a_pass(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="not a PEP 440 version"):
        ServiceDatabase("osv", "http://127.0.0.1:1", tmp_path).lookup("torch", "latest")


def test_a_service_that_cannot_be_reached_is_not_asked_again_for_every_dependency(
    tmp_path: Path,
) -> None:
    with advisory_server(
        AdvisoryServer(records=[TORCH_WEIGHTS_ONLY], mode="slow", delay=2)
    ) as running:
        database = osv(running, tmp_path, timeout=0.3)
        with pytest.raises(DatabaseError, match="did not answer in time"):
            database.lookup("torch", "2.5.1")
        asked = len(running.requests)
        with pytest.raises(
            DatabaseError, match=r"did not answer in time \(earlier in this session\)"
        ):
            database.lookup("numpy", "2.1.0")
        assert len(running.requests) == asked


def test_a_service_that_answered_an_error_is_asked_again(tmp_path: Path) -> None:
    with advisory_server(AdvisoryServer(records=[TORCH_WEIGHTS_ONLY], mode="500")) as running:
        database = osv(running, tmp_path)
        with pytest.raises(DatabaseError, match="HTTP 500"):
            database.lookup("torch", "2.5.1")
        running.mode = "ok"
        assert database.lookup("torch", "2.6.0") == []


def test_an_upgrade_the_index_never_published_does_not_turn_findings_into_an_error(
    tmp_path: Path,
) -> None:
    from pytest_mlsupply.checks.dependency_vulnerabilities import _smallest_upgrade

    # The advisory names 2.6.0 as fixed, but the PyPI mirror knows only 2.5.1 and 2.7.0.
    record = {
        **TORCH_WEIGHTS_ONLY,
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "torch"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.6.0"}]}
                ],
            }
        ],
    }
    with advisory_server(
        AdvisoryServer(records=[record], known={("torch", "2.5.1"), ("torch", "2.7.0")})
    ) as running:
        database = pypi(running, tmp_path)
        advisories = database.lookup("torch", "2.5.1")
        assert advisories
        assert _smallest_upgrade(database, "torch", "2.5.1", advisories) is None


def test_a_local_build_is_audited_as_its_public_release_by_both_services(
    tmp_path: Path,
) -> None:
    last_affected = {
        "id": "GHSA-last-affected",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "torch"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"last_affected": "2.5.1"}],
                    }
                ],
            }
        ],
    }
    with advisory_server(
        AdvisoryServer(records=[last_affected], known={("torch", "2.5.1")})
    ) as running:
        by_osv = osv(running, tmp_path).lookup("torch", "2.5.1+cpu")
        by_pypi = pypi(running, tmp_path).lookup("torch", "2.5.1+cpu")

    assert [a.id for a in by_osv] == ["GHSA-last-affected"]
    assert [a.id for a in by_pypi] == ["GHSA-last-affected"]
    assert by_osv[0].version == "2.5.1+cpu"


@pytest.mark.parametrize(
    "change",
    [{"schema_version": "2.0.0"}, {"affected": None}],
    ids=["schema-2", "no-affected"],
)
def test_an_osv_record_pip_audit_drops_is_an_error_not_a_pass(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    # pip-audit skips (with a log line) a record of another schema major or without
    # `affected`: the release would pass although the service said it is affected.
    served = {**TORCH_WEIGHTS_ONLY, **change}
    with advisory_server(
        AdvisoryServer(records=[TORCH_WEIGHTS_ONLY], known={("torch", "2.5.1")})
    ) as running:
        running.records[:] = [served]
        running.matching = lambda name, version: [served]  # type: ignore[method-assign]
        with pytest.raises(DatabaseError) as caught:
            osv(running, tmp_path).lookup("torch", "2.5.1")

    assert "a record pip-audit cannot read" in str(caught.value)
    assert "GHSA-53q9-r3pm-6pq6" in str(caught.value)


def test_a_paginated_osv_answer_is_an_error_not_a_partial_pass(tmp_path: Path) -> None:
    with (
        advisory_server(
            AdvisoryServer(records=[TORCH_WEIGHTS_ONLY], known={("torch", "2.5.1")}, mode="paged")
        ) as running,
        pytest.raises(DatabaseError) as caught,
    ):
        osv(running, tmp_path).lookup("torch", "2.5.1")

    assert "next_page_token" in str(caught.value)
