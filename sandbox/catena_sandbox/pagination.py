"""Catena's cursor pages: opaque, URL-encoded base64 cursors (an offset inside), ``total`` where Catena has it."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, unquote

from catena_sandbox.errors import CatenaError

DEFAULT_SIZE = 300
MAX_SIZE = 1000


def encode_cursor(offset: int, *, backwards: bool = False) -> str:
    payload = json.dumps({"o": offset, "b": int(backwards)}, separators=(",", ":")).encode()
    return quote(base64.b64encode(payload).decode(), safe="")


def decode_cursor(cursor: str) -> int:
    """Offset in a cursor; 400 when it is not one of ours. Accepts it URL-encoded once, twice or not at all."""
    text = cursor
    for _ in range(3):
        if "%" not in text:
            break
        text = unquote(text)
    try:
        payload = json.loads(base64.b64decode(text, validate=True))
        offset = int(payload["o"])
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise CatenaError(400, "Invalid cursor") from exc
    if offset < 0:
        raise CatenaError(400, "Invalid cursor")
    return offset


def check_size(size: int, maximum: int = MAX_SIZE) -> int:
    if not 1 <= size <= maximum:
        raise CatenaError(
            422,
            [
                {
                    "path": "query.size",
                    "input": str(size),
                    "message": f"size must be between 1 and {maximum}",
                    "error_type": "value_error",
                }
            ],
        )
    return size


def page(
    items: Sequence[Any],
    *,
    cursor: str | None,
    size: int,
    render: Callable[[Any], dict[str, Any]],
    with_total: bool,
) -> dict[str, Any]:
    """One page of ``items`` (already filtered and ordered) in Catena's envelope."""
    check_size(size)
    offset = decode_cursor(cursor) if cursor else 0
    chunk = [render(item) for item in items[offset : offset + size]]
    return envelope(chunk, offset=offset, size=size, total=len(items), with_total=with_total)


def envelope(chunk: list[Any], *, offset: int, size: int, total: int, with_total: bool) -> dict[str, Any]:
    """Catena's page envelope around ``chunk``, the items from ``offset`` of ``total``."""
    end = offset + len(chunk)
    body: dict[str, Any] = {"items": chunk}
    if with_total:
        body["total"] = total
    body["current_page"] = encode_cursor(offset)
    body["current_page_backwards"] = encode_cursor(offset, backwards=True)
    body["previous_page"] = encode_cursor(max(offset - size, 0)) if offset > 0 else None
    body["next_page"] = encode_cursor(end) if end < total else None
    return body
