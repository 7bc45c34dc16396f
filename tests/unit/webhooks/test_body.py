from __future__ import annotations

import asyncio
import gzip
import os
import tracemalloc
import zlib
from collections.abc import Callable

import pytest

from catena_airflow.webhooks.body import (
    BadEncoding,
    BodyTooLarge,
    UnsupportedEncoding,
    decode_body,
    gunzip_limited,
    read_limited,
)


async def _chunks(*parts: bytes):
    for part in parts:
        yield part


class _Endless:
    """A body stream that never ends; counts what the reader pulled."""

    def __init__(self) -> None:
        self.pulled = 0

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        self.pulled += 1
        return b"x" * 1024


def test_read_limited_collects_chunks():
    assert asyncio.run(read_limited(_chunks(b"ab", b"cd"), 4)) == b"abcd"


def test_read_limited_stops_early_on_a_huge_body():
    stream = _Endless()
    with pytest.raises(BodyTooLarge, match="body exceeds 10240 bytes"):
        asyncio.run(read_limited(stream, 10 * 1024))
    assert stream.pulled == 11  # stopped at the first chunk over the limit, not at the end


def test_gunzip_round_trip_and_multi_member():
    assert gunzip_limited(gzip.compress(b"hello"), 5) == b"hello"
    assert gunzip_limited(gzip.compress(b"he") + gzip.compress(b"llo"), 10) == b"hello"


def test_gzip_bomb_is_stopped_at_the_cap():
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MiB of zeros, ~64 KiB compressed
    assert len(bomb) < 100 * 1024
    with pytest.raises(BodyTooLarge):
        gunzip_limited(bomb, 1024 * 1024)


MiB = 1024 * 1024


def _gzip_of_zeros(size: int) -> bytes:
    """A gzip member of ``size`` zero bytes, compressed piece by piece so the test never holds them all."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [deflater.compress(bytes(min(MiB, size - start))) for start in range(0, size, MiB)]
    return b"".join([*parts, deflater.flush()])


def _peak_of(inflate: Callable[[], object]) -> int:
    """The most memory Python held while ``inflate()`` ran (it must raise BodyTooLarge)."""
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge):
            inflate()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_bomb_is_refused_without_inflating_it_in_memory():
    """Raising BodyTooLarge is not enough (inflating all 64 MiB and checking afterwards raises it too):
    inflating stops at the cap, so memory peaks at a small multiple of the cap (zlib's output blocks plus
    the bytes joined from them: ~2 MiB here), not at the bomb's size."""
    bomb = _gzip_of_zeros(64 * MiB)
    peak = _peak_of(lambda: decode_body(bomb, "gzip", MiB))
    assert peak < 4 * MiB, f"inflating a 64 MiB bomb under a 1 MiB cap peaked at {peak / MiB:.1f} MiB"


def test_a_bomb_in_a_later_member_is_stopped_at_what_is_left_of_the_cap():
    limit = 4 * MiB
    members = _gzip_of_zeros(limit - 16) + _gzip_of_zeros(64 * MiB)
    peak = _peak_of(lambda: gunzip_limited(members, limit))
    assert peak < 3 * limit, f"peaked at {peak / MiB:.1f} MiB under a {limit / MiB:.0f} MiB cap"


def test_cap_applies_across_members():
    with pytest.raises(BodyTooLarge):
        gunzip_limited(gzip.compress(b"a" * 6) + gzip.compress(b"b" * 6), 10)


@pytest.mark.parametrize("data", [b"not gzip", gzip.compress(b"hello world")[:-6], os.urandom(64)])
def test_invalid_or_truncated_gzip(data):
    with pytest.raises(BadEncoding, match=r"invalid gzip body|truncated gzip body"):
        gunzip_limited(data, 1024)


def test_invalid_and_truncated_gzip_are_told_apart():
    with pytest.raises(BadEncoding, match=r"^invalid gzip body$"):
        gunzip_limited(b"not gzip", 1024)
    with pytest.raises(BadEncoding, match=r"^truncated gzip body$"):
        gunzip_limited(gzip.compress(b"hello world")[:-6], 1024)


def test_zlib_or_raw_deflate_is_not_gzip():
    with pytest.raises(BadEncoding):
        gunzip_limited(zlib.compress(b"hello"), 1024)
    deflater = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    with pytest.raises(BadEncoding):
        gunzip_limited(deflater.compress(b"hello") + deflater.flush(), 1024)


def test_trailing_nul_padding_is_ignored_but_trailing_garbage_is_not():
    assert gunzip_limited(gzip.compress(b"hello") + b"\0" * 8, 5) == b"hello"
    for garbage in (b"XX", b"  ", b"junk"):
        with pytest.raises(BadEncoding):
            gunzip_limited(gzip.compress(b"hello") + garbage, 1024)


def test_the_limits_are_inclusive():
    assert gunzip_limited(gzip.compress(b"x" * 10), 10) == b"x" * 10
    with pytest.raises(BodyTooLarge, match=r"^decompressed body exceeds 9 bytes$"):
        gunzip_limited(gzip.compress(b"x" * 10), 9)
    assert decode_body(b"x" * 10, None, 10) == b"x" * 10


def test_content_encodings():
    assert decode_body(b"{}", None, 10) == b"{}"
    assert decode_body(b"{}", "identity", 10) == b"{}"
    assert decode_body(gzip.compress(b"{}"), "GZIP", 10) == b"{}"
    assert decode_body(gzip.compress(b"{}"), " x-gzip ", 10) == b"{}"
    assert decode_body(gzip.compress(b"{}"), "X-GZIP", 10) == b"{}"
    assert decode_body(b"{}", " Identity ", 10) == b"{}"
    with pytest.raises(BodyTooLarge, match=r"^body exceeds 10 bytes$"):
        decode_body(b"x" * 11, None, 10)
    with pytest.raises(UnsupportedEncoding, match=r"^br$"):
        decode_body(b"{}", "br", 10)
