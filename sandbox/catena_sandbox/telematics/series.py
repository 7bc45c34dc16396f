"""Lazy, ordered time series: rows are (lane, tick) pairs, counted and sliced by arithmetic, never stored.

A lane is one entity's rows of one resource on one connection: a row every ``interval`` seconds from its first
tick (inclusive) to its end (exclusive; ``None`` while the entity lives). Rows are ordered by tick, then by
lane order, so ``occurred_at`` ascends and a page is found by a binary search over ticks: paging a million
rows costs the rows of the page, whatever the offset.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from catena_sandbox.state import Connection
from catena_sandbox.telematics.world import Thing


@dataclass(frozen=True)
class Lane:
    connection: Connection
    thing: Thing
    slot: int
    first: int  # first tick
    end: int | None  # tick after the last one; None: open


def tick_at_or_after(moment: datetime, interval: int) -> int:
    return math.ceil(moment.timestamp() / interval)


def tick_time(tick: int, interval: int) -> datetime:
    return datetime.fromtimestamp(tick * interval, UTC)


class Series:
    """The rows of ``lanes`` with ticks in ``[lo, hi)``, in (tick, lane) order."""

    def __init__(self, lanes: Sequence[Lane], lo: int, hi: int) -> None:
        self._spans: list[tuple[int, int, Lane]] = []
        for lane in lanes:
            start, stop = max(lo, lane.first), hi if lane.end is None else min(hi, lane.end)
            if start < stop:
                self._spans.append((start, stop, lane))
        self.lo, self.hi = lo, hi
        self.total = self.count_before(hi)

    def count_before(self, tick: int) -> int:
        return sum(min(tick, stop) - start for start, stop, _ in self._spans if start < tick)

    def _alive(self, tick: int) -> list[Lane]:
        return [lane for start, stop, lane in self._spans if start <= tick < stop]

    def _tick_of(self, offset: int) -> int:
        """The tick holding row ``offset``: the smallest T with count_before(T + 1) > offset."""
        low, high = self.lo, self.hi - 1
        while low < high:
            middle = (low + high) // 2
            if self.count_before(middle + 1) > offset:
                high = middle
            else:
                low = middle + 1
        return low

    def slice(self, offset: int, count: int) -> list[tuple[Lane, int]]:
        """Rows ``offset`` .. ``offset + count - 1`` in ascending order."""
        if count <= 0 or offset >= self.total:
            return []
        tick = self._tick_of(offset)
        skip = offset - self.count_before(tick)
        out: list[tuple[Lane, int]] = []
        while len(out) < count and tick < self.hi:
            alive = self._alive(tick)
            if not alive:
                later = [start for start, _, _ in self._spans if start > tick]
                if not later:
                    break
                tick = min(later)
                continue
            for lane in alive[skip:]:
                out.append((lane, tick))
                if len(out) == count:
                    break
            skip = 0
            tick += 1
        return out

    def page(self, offset: int, count: int, *, descending: bool) -> list[tuple[Lane, int]]:
        if not descending:
            return self.slice(offset, count)
        stop = self.total - offset
        start = max(0, stop - count)
        return list(reversed(self.slice(start, stop - start))) if stop > 0 else []


def latest_rows(lanes: Sequence[Lane], now_tick: int) -> list[tuple[Lane, int]]:
    """The newest row of each lane at or before ``now_tick``, ordered like a series (tick, then lane)."""
    rows: list[tuple[int, int, Lane]] = []
    for order, lane in enumerate(lanes):
        last = now_tick if lane.end is None else min(now_tick, lane.end - 1)
        if last >= lane.first:
            rows.append((last, order, lane))
    rows.sort(key=lambda item: (item[0], item[1]))
    return [(lane, tick) for tick, _, lane in rows]


def materialize(series: Series, limit: int) -> list[tuple[Lane, int]] | None:
    """Every row of ``series``, or ``None`` when there are more than ``limit``."""
    return None if series.total > limit else series.slice(0, series.total)
