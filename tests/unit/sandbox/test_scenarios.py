from __future__ import annotations

import pytest

from catena_sandbox.scenarios import scenario_of


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
    ],
)
def test_fleet_ref_prefix_picks_the_scenario(fleet_ref: str, scenario: str) -> None:
    assert scenario_of(fleet_ref) == scenario
