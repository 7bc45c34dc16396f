"""Reading a webhook body within limits: compressed size while streaming, decompressed size while inflating."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

#: Catena's bodies are a few KiB; telematics batches stay far below this.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_DECOMPRESSED_BYTES = 16 * 1024 * 1024


class BodyTooLarge(Exception):
    """The compressed or the decompressed body exceeds its limit (answered with 413)."""


class BadEncoding(Exception):
    """The body is not valid gzip (answered with 400)."""


class UnsupportedEncoding(Exception):
    """A ``Content-Encoding`` other than gzip or identity (answered with 415)."""


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """Collect the request body, stopping as soon as it exceeds ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"body exceeds {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The uncompressed body. ``gzip`` is Catena's encoding; no header (or ``identity``) means plain JSON."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        if len(body) > limit:
            raise BodyTooLarge(f"body exceeds {limit} bytes")
        return body
    if encoding not in ("gzip", "x-gzip"):
        raise UnsupportedEncoding(encoding)
    return gunzip_limited(body, limit)


def gunzip_limited(data: bytes, limit: int) -> bytes:
    """Inflate gzip (all members) without ever holding more than ``limit`` + 1 output bytes: no gzip bombs."""
    out: list[bytes] = []
    size = 0
    remaining = data
    while True:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(remaining, limit - size + 1)
        except zlib.error as exc:
            raise BadEncoding("invalid gzip body") from exc
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"decompressed body exceeds {limit} bytes")
        out.append(chunk)
        if not inflater.eof:
            # Output stopped below the cap only because the input ran out: a truncated stream.
            raise BadEncoding("truncated gzip body")
        remaining = inflater.unused_data
        if not remaining.strip(b"\x00"):
            return b"".join(out)
