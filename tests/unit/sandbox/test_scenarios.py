from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catena_sandbox.scenarios import behaviour_of, scenario_of
from catena_sandbox.state import Invitation


@pytest.mark.parametrize(
    ("fleet_ref", "scenario"),
    [
        ("ACME-42", "happy"),
        ("acme", "happy"),
        ("reuse-1", "reuse"),
        ("DECLINE-x", "decline"),
        ("expire-1", "expire"),
        ("manual-9", "manual"),
        ("stale-3", "stale"),
        ("failing-2", "failing"),
        ("staleness-1", "happy"),
        ("decline-once-1", "decline-once"),
        ("EXPIRE-ONCE-x", "expire-once"),
        ("decline-oncer-1", "decline"),
        ("expire-once", "expire"),  # no dash after "once": the plain prefix
    ],
)
def test_fleet_ref_prefix_picks_the_scenario(fleet_ref: str, scenario: str) -> None:
    assert scenario_of(fleet_ref) == scenario


def invitation(fleet_ref: str, **fields: object) -> Invitation:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    return Invitation(
        id="i",
        created_at=now,
        expires_at=now,
        expires_in_hours=1,
        fleet_ref=fleet_ref,
        scenario=scenario_of(fleet_ref),
        **fields,
    )


def test_once_scenarios_fail_the_first_attempt_only() -> None:
    assert behaviour_of(invitation("decline-once-1", scenario_runs=1)) == "decline"
    assert behaviour_of(invitation("decline-once-1", scenario_runs=2)) == "happy"  # after a refresh
    assert behaviour_of(invitation("expire-once-1", first_for_fleet_ref=True)) == "expire"
    assert behaviour_of(invitation("expire-once-1", first_for_fleet_ref=False)) == "happy"  # a new invitation
    assert behaviour_of(invitation("decline-1", scenario_runs=2)) == "decline"  # the plain one declines every time
