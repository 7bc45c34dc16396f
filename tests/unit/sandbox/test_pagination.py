from __future__ import annotations

from urllib.parse import quote

import pytest

from catena_sandbox.errors import CatenaError
from catena_sandbox.pagination import decode_cursor, encode_cursor, page


def test_cursor_round_trip_even_when_encoded_again() -> None:
    cursor = encode_cursor(600)
    assert "%3D" in cursor or "=" not in cursor  # URL-encoded base64, like Catena's
    assert decode_cursor(cursor) == decode_cursor(quote(cursor, safe="")) == 600


@pytest.mark.parametrize("bad", ["garbage", "e30=", "eyJvIjogLTF9"])  # not base64 JSON / no offset / negative
def test_bad_cursors_are_400(bad: str) -> None:
    with pytest.raises(CatenaError) as info:
        decode_cursor(bad)
    assert info.value.status_code == 400


def test_pages_walk_the_items_once() -> None:
    items = list(range(7))
    first = page(items, cursor=None, size=3, render=lambda n: {"n": n}, with_total=True)
    assert [i["n"] for i in first["items"]] == [0, 1, 2] and first["total"] == 7 and first["previous_page"] is None
    second = page(items, cursor=first["next_page"], size=3, render=lambda n: {"n": n}, with_total=False)
    assert "total" not in second and [i["n"] for i in second["items"]] == [3, 4, 5]
    last = page(items, cursor=second["next_page"], size=3, render=lambda n: {"n": n}, with_total=True)
    assert [i["n"] for i in last["items"]] == [6] and last["next_page"] is None
    back = page(items, cursor=last["previous_page"], size=3, render=lambda n: {"n": n}, with_total=True)
    assert [i["n"] for i in back["items"]] == [3, 4, 5]


@pytest.mark.parametrize("size", [0, 1001])
def test_size_outside_1_to_1000_is_422(size: int) -> None:
    with pytest.raises(CatenaError) as info:
        page([], cursor=None, size=size, render=dict, with_total=True)
    assert info.value.status_code == 422 and info.value.detail[0]["path"] == "query.size"
