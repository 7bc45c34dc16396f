"""Ids of time-series rows that say where the row comes from, so a row is found by its id without a store.

Layout (a version-8 UUID): 32 bits of a hash of (resource, connection), 16 bits of lane (entity index and
slot), the version nibble, 64 bits holding the variant and the tick.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from functools import lru_cache


@lru_cache(maxsize=65_536)
def source_hash(resource: str, connection_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{resource}:{connection_id}".encode()).digest()[:4], "big")


def row_id(resource: str, connection_id: str, lane: int, tick: int) -> str:
    value = (
        source_hash(resource, connection_id) << 96
        | (lane & 0xFFFF) << 80
        | 0x8 << 76
        | 0x8 << 60  # RFC 4122 variant
        | (tick & ((1 << 60) - 1))
    )
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass(frozen=True)
class Decoded:
    source: int
    lane: int
    tick: int


def decode(row: str) -> Decoded | None:
    try:
        value = uuid.UUID(row).int
    except ValueError:
        return None
    if (value >> 76) & 0xF != 0x8 or (value >> 60) & 0xF != 0x8:
        return None
    return Decoded(source=value >> 96, lane=(value >> 80) & 0xFFFF, tick=value & ((1 << 60) - 1))
