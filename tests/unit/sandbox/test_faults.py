from __future__ import annotations

import pytest

from catena_sandbox.faults import FaultState
from catena_sandbox.settings import FaultSettings


def test_off_by_default_means_no_fault() -> None:
    state = FaultState(FaultSettings(), seed=1)
    assert [state.api_fault() for _ in range(100)] == [None] * 100
    assert state.delivery_delay() == 0.0


def test_a_5xx_burst_has_its_length_then_stops() -> None:
    state = FaultState(FaultSettings(rate_5xx=1.0, burst_5xx_length=4), seed=1)
    assert state.api_fault() == 500
    state.update({"rate_5xx": 0.0})
    assert [state.api_fault() for _ in range(4)] == [500, 500, 500, None]


def test_rates_are_roughly_honoured() -> None:
    state = FaultState(FaultSettings(rate_429=0.3), seed=7)
    hits = sum(state.api_fault() == 429 for _ in range(2000))
    assert 450 < hits < 750


def test_reorder_and_jitter_delay_deliveries() -> None:
    state = FaultState(FaultSettings(reorder_rate=1.0, reorder_delay=0.5, jitter_seconds=0.1), seed=3)
    delays = [state.delivery_delay() for _ in range(50)]
    assert all(0.5 <= d < 0.6 for d in delays) and len(set(delays)) > 1


def test_restore_and_clear() -> None:
    start = FaultSettings(duplicate_rate=0.2)
    state = FaultState(start)
    state.update({"rate_429": 0.5})
    assert state.restore() == start
    assert state.clear() == FaultSettings()


@pytest.mark.parametrize("changes", [{"rate_429": -0.1}, {"duplicate_rate": 1.1}, {"burst_5xx_length": 0}, {"x": 1}])
def test_invalid_settings_are_refused(changes: dict) -> None:
    with pytest.raises(ValueError):
        FaultSettings().updated(changes)
