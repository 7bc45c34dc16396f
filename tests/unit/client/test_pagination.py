from __future__ import annotations

import pytest

from catena_airflow.client import CatenaError, Invitation
from tests.unit.client import payloads
from tests.unit.client.conftest import API, api_calls, query_of

URL = f"{API}/v2/orgs/invitations"


def _pages(requests_mock, *pages):
    """Serve ``pages`` in order for the invitation list, each with cursor ``c<n>`` to the next."""
    responses = []
    for number, ids in enumerate(pages, start=1):
        next_page = f"c{number}%3D" if number < len(pages) else None
        items = [payloads.invitation(id=item_id) for item_id in ids]
        responses.append({"json": payloads.page(items, next_page=next_page, total=sum(map(len, pages)))})
    return requests_mock.get(URL, responses)


def test_items_follow_next_page_until_null(client, requests_mock):
    _pages(requests_mock, ["a", "b"], ["c"], ["d", "e"])
    assert [invitation.id for invitation in client.list_invitations(size=2)] == ["a", "b", "c", "d", "e"]
    cursors = [query_of(request).get("cursor") for request in api_calls(requests_mock)]
    assert cursors == [None, ["c1%3D"], ["c2%3D"]]  # opaque cursors sent back verbatim
    assert all(query_of(request)["size"] == ["2"] for request in api_calls(requests_mock))


def test_empty_string_next_page_ends_the_walk(client, requests_mock):
    requests_mock.get(URL, json=payloads.page([payloads.invitation()], next_page=""))
    assert len(client.list_invitations().all()) == 1
    assert len(api_calls(requests_mock)) == 1


def test_observed_empty_page(client, requests_mock):
    requests_mock.get(
        URL,
        json={
            "items": [],
            "total": 0,
            "current_page": "Pg%3D%3D",
            "current_page_backwards": "PA%3D%3D",
            "previous_page": None,
            "next_page": None,
        },
    )
    assert client.list_invitations().all() == []


def test_paginator_is_lazy(client, requests_mock):
    mock = _pages(requests_mock, ["a"])
    paginator = client.list_invitations(fleet_ref="FLEET-42")
    assert mock.call_count == 0
    next(iter(paginator))
    assert mock.call_count == 1


def test_pages_expose_cursors_for_checkpointing_and_resume(client, requests_mock):
    _pages(requests_mock, ["a"], ["b"], ["c"])
    pages = client.list_invitations().pages()
    first = next(pages)
    assert [i.id for i in first.items] == ["a"] and first.next_page == "c1%3D" and first.total == 3
    assert isinstance(first.items[0], Invitation)

    requests_mock.reset_mock()
    requests_mock.get(
        URL,
        [
            {"json": payloads.page([payloads.invitation(id="b")], next_page="c2%3D")},
            {"json": payloads.page([payloads.invitation(id="c")])},
        ],
    )
    resumed = [page.items[0].id for page in client.list_invitations().pages(cursor=first.next_page)]
    assert resumed == ["b", "c"]
    assert query_of(api_calls(requests_mock)[0])["cursor"] == ["c1%3D"]


def test_first_page_is_one_request(client, requests_mock):
    mock = _pages(requests_mock, ["a"], ["b"])
    assert client.list_invitations().first_page().next_page == "c1%3D"
    assert mock.call_count == 1


def test_repeated_cursor_is_a_loop_error(client, requests_mock):
    looping = {"json": payloads.page([payloads.invitation()], next_page="same")}
    requests_mock.get(URL, [looping, looping, looping])
    with pytest.raises(CatenaError, match="pagination loop"):
        client.list_invitations().all()


def test_resuming_cursor_handed_back_again_is_a_loop_error(client, requests_mock):
    requests_mock.get(URL, json=payloads.page([payloads.invitation()], next_page="saved"))
    with pytest.raises(CatenaError, match="pagination loop"):
        list(client.list_invitations().pages(cursor="saved"))
