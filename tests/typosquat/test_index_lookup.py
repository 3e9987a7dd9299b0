"""The index lookup: requests against a loopback server speaking the package index's JSON API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_mlsupply.redaction import redact_url
from pytest_mlsupply.typosquat.index import IndexClient, IndexLookupError, json_api_base
from tests.typosquat.index_server import FakeIndex, closed_port_url, serve


@pytest.fixture
def index() -> Iterator[FakeIndex]:
    with serve(FakeIndex(published={"requests", "torch"})) as running:
        yield running


def test_a_published_project_exists(index: FakeIndex) -> None:
    assert IndexClient().exists("requests", index.url) is True
    assert index.requests == ["/pypi/requests/json"]


def test_a_project_the_index_answers_404_for_does_not_exist(index: FakeIndex) -> None:
    assert IndexClient().exists("reqeusts", index.url) is False


def test_pips_index_url_is_turned_into_the_json_api_root(index: FakeIndex) -> None:
    assert IndexClient().exists("torch", f"{index.url}/simple/") is True
    assert index.requests == ["/pypi/torch/json"]


def test_pypi_is_asked_when_the_requirement_names_no_index() -> None:
    assert json_api_base(None) == "https://pypi.org"


def test_each_name_is_asked_once_per_client(index: FakeIndex) -> None:
    client = IndexClient()

    answers = [client.exists("torch", index.url), client.exists("nothere", index.url)] * 3

    assert answers == [True, False] * 3
    assert index.requests == ["/pypi/torch/json", "/pypi/nothere/json"]


def test_a_server_error_is_an_error_naming_the_status_never_an_answer(index: FakeIndex) -> None:
    index.status = 500

    with pytest.raises(IndexLookupError, match=r"/pypi/torch/json answered HTTP 500"):
        IndexClient().exists("torch", index.url)


def test_an_error_is_not_remembered_as_an_answer(index: FakeIndex) -> None:
    client = IndexClient()
    index.status = 503
    with pytest.raises(IndexLookupError):
        client.exists("torch", index.url)

    index.status = None

    assert client.exists("torch", index.url) is True


def test_a_body_that_is_not_json_is_an_error(index: FakeIndex) -> None:
    index.body = b"<html>maintenance</html>"

    with pytest.raises(IndexLookupError, match="answered 200 but not with JSON"):
        IndexClient().exists("torch", index.url)


def test_json_without_the_apis_info_object_is_an_error(index: FakeIndex) -> None:
    index.body = b'{"projects": []}'

    with pytest.raises(IndexLookupError, match="without the JSON API's 'info' object"):
        IndexClient().exists("torch", index.url)


def test_an_index_that_is_down_is_an_error() -> None:
    with pytest.raises(
        IndexLookupError, match=r"cannot reach http://127\.0\.0\.1:\d+/pypi/torch/json"
    ):
        IndexClient().exists("torch", closed_port_url())


def test_an_index_slower_than_the_timeout_is_an_error(index: FakeIndex) -> None:
    index.delay = 1.0

    with pytest.raises(IndexLookupError, match=r"cannot reach .*ReadTimeout"):
        IndexClient(timeout=0.2).exists("torch", index.url)


def test_credentials_in_an_index_url_never_reach_a_message() -> None:
    down = closed_port_url().replace("http://", "http://build:s3cret-token@")

    with pytest.raises(IndexLookupError) as raised:
        IndexClient().exists("torch", f"{down}/simple")

    assert "s3cret-token" not in str(raised.value)
    assert "build:****@127.0.0.1" in str(raised.value)
    assert redact_url("https://pypi.org/pypi/x/json") == "https://pypi.org/pypi/x/json"
