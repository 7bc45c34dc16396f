"""Fault injection, off by default: 429s and 5xx bursts for API clients; duplicates, reordering, jitter."""

from __future__ import annotations

import pytest

from tests.integration.sandbox.helpers import records, subscribe
from tests.integration.sandbox.receiver import Receiver

pytestmark = pytest.mark.integration

WEBHOOKS = "/v2/notifications/webhooks"


def set_faults(sandbox, **changes) -> dict:
    response = sandbox.admin("PUT", "/faults", json=changes)
    assert response.status_code == 200, response.text
    return response.json()


def test_faults_are_off_by_default(sandbox) -> None:
    faults = sandbox.admin("GET", "/faults").json()
    assert faults["rate_429"] == 0 and faults["rate_5xx"] == 0 and faults["duplicate_rate"] == 0
    assert all(sandbox.api("GET", WEBHOOKS).status_code == 200 for _ in range(20))


def test_429_carries_retry_after_seconds(sandbox) -> None:
    set_faults(sandbox, rate_429=1.0, retry_after_seconds=7)
    response = sandbox.api("GET", WEBHOOKS)
    assert response.status_code == 429
    assert response.json() == {
        "code": 429,
        "message": "Too Many Requests",
        "detail": {"retry_after_seconds": 7, "message": response.json()["detail"]["message"]},
    }
    assert sandbox.admin("GET", "/health").status_code == 200  # the admin API is never faulted
    assert sandbox.admin("DELETE", "/faults").json()["rate_429"] == 0
    assert sandbox.api("GET", WEBHOOKS).status_code == 200


def test_5xx_burst_runs_its_length(sandbox) -> None:
    set_faults(sandbox, rate_5xx=1.0, burst_5xx_length=3)
    assert sandbox.api("GET", WEBHOOKS).status_code == 500
    set_faults(sandbox, rate_5xx=0.0)  # no new burst starts; the current one finishes
    assert [sandbox.api("GET", WEBHOOKS).status_code for _ in range(3)] == [500, 500, 200]


def test_bad_fault_values_are_refused(sandbox) -> None:
    assert sandbox.admin("PUT", "/faults", json={"rate_429": 2}).status_code == 400
    assert sandbox.admin("PUT", "/faults", json={"no_such_fault": 1}).status_code == 400
    assert sandbox.admin("GET", "/faults").json()["rate_429"] == 0


def test_duplicate_deliveries_share_the_event_id(sandbox, receiver: Receiver) -> None:
    subscribe(sandbox, receiver, "vehicle.added")
    set_faults(sandbox, duplicate_rate=1.0)
    sandbox.admin("POST", "/events", json={"event_name": "vehicle.added", "data": [{"n": 1}], "count": 3})
    sandbox.wait_idle()
    ids = [e["id"] for e in receiver.events()]
    assert len(ids) == 6 and len(set(ids)) == 3
    assert all(d.signature_valid for d in receiver.deliveries)


def test_reordering_lets_a_later_event_overtake(sandbox, receiver: Receiver) -> None:
    subscribe(sandbox, receiver, "vehicle.added")
    set_faults(sandbox, reorder_rate=1.0, reorder_delay=0.5)
    sandbox.admin("POST", "/events", json={"event_name": "vehicle.added", "data": [{"n": "first"}]})
    set_faults(sandbox, reorder_rate=0.0)
    sandbox.admin("POST", "/events", json={"event_name": "vehicle.added", "data": [{"n": "second"}]})
    sandbox.wait_idle()
    assert [r["n"] for r in records(receiver, "vehicle.added")] == ["second", "first"]


def test_jitter_still_delivers_everything(sandbox, receiver: Receiver) -> None:
    subscribe(sandbox, receiver, "vehicle.added")
    set_faults(sandbox, jitter_seconds=0.2)
    sandbox.admin("POST", "/events", json={"event_name": "vehicle.added", "data": [{"n": 1}], "count": 20})
    sandbox.wait_idle()
    assert len(receiver.deliveries) == 20 and all(d.signature_valid for d in receiver.deliveries)


def test_faults_from_flags_survive_reset(sandbox_factory) -> None:
    sandbox = sandbox_factory("--rate-429", "1", "--retry-after-seconds", "3")
    try:
        response = sandbox.api("GET", WEBHOOKS)
        assert response.status_code == 429 and response.json()["detail"]["retry_after_seconds"] == 3
        sandbox.admin("DELETE", "/faults")
        assert sandbox.api("GET", WEBHOOKS).status_code == 200
        sandbox.reset()  # back to the start-up flags
        assert sandbox.admin("GET", "/faults").json()["rate_429"] == 1.0
    finally:
        sandbox_factory.stop(sandbox)


def test_a_seed_makes_faults_repeatable(sandbox) -> None:
    def run() -> list[int]:
        set_faults(sandbox, rate_429=0.5, seed=42)
        statuses = [sandbox.api("GET", WEBHOOKS).status_code for _ in range(16)]
        sandbox.admin("DELETE", "/faults")
        return statuses

    first = run()
    assert 429 in first and 200 in first
    assert run() == first
