"""Lazy series arithmetic against brute force: counts, slices at any offset, both orders, latest rows."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from catena_sandbox.state import Connection
from catena_sandbox.telematics.series import Lane, Series, latest_rows
from catena_sandbox.telematics.world import fleet_of

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def connection(n: int) -> Connection:
    return Connection(
        id=f"00000000-0000-4000-8000-{n:012d}",
        fleet_id=f"10000000-0000-4000-8000-{n:012d}",
        fleet_ref=f"F-{n}",
        tsp_id="20000000-0000-4000-8000-000000000000",
        source_name="samsara",
        status="active",
        description=None,
        created_at=NOW,
        updated_at=NOW,
    )


def random_lanes(rng: random.Random) -> list[Lane]:
    lanes = []
    for n in range(rng.randint(1, 4)):
        for thing in fleet_of(connection(n).fleet_id).vehicles:
            first = rng.randint(0, 30)
            end = rng.choice([None, first + rng.randint(0, 40)])
            lanes.append(Lane(connection(n), thing, 0, first, end))
    return lanes


def brute(lanes: list[Lane], lo: int, hi: int) -> list[tuple[Lane, int]]:
    return [
        (lane, tick)
        for tick in range(lo, hi)
        for lane in lanes
        if lane.first <= tick < hi and (lane.end is None or tick < lane.end) and tick >= lo
    ]


@pytest.mark.parametrize("seed", range(40))
def test_slices_equal_brute_force_at_every_offset(seed: int) -> None:
    rng = random.Random(seed)
    lanes = random_lanes(rng)
    lo, hi = rng.randint(0, 20), rng.randint(20, 60)
    expected = brute(lanes, lo, hi)
    series = Series(lanes, lo, hi)
    assert series.total == len(expected)
    for size in (1, 3, 17):
        for offset in range(0, len(expected) + 2, max(1, size // 2)):
            assert series.page(offset, size, descending=False) == expected[offset : offset + size]
            assert series.page(offset, size, descending=True) == expected[::-1][offset : offset + size]


def test_an_empty_range_has_no_rows() -> None:
    lanes = random_lanes(random.Random(1))
    assert Series(lanes, 10, 10).total == 0
    assert Series(lanes, 10, 10).page(0, 5, descending=False) == []


def test_latest_rows_are_each_lanes_last_tick_before_now() -> None:
    things = fleet_of(connection(0).fleet_id).vehicles
    lanes = [Lane(connection(0), things[0], 0, 0, None), Lane(connection(0), things[1], 0, 0, 5)]
    lanes.append(Lane(connection(0), things[2], 0, 50, None))  # starts after now: no row yet
    assert latest_rows(lanes, 10) == [(lanes[1], 4), (lanes[0], 10)]
