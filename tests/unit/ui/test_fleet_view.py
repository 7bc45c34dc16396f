"""The dashboard's rules for one onboarding: reached stages, stuck, health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from catena_airflow.inbox.models import ConnectionStatus, Onboarding, ScheduleStatus, Stage
from catena_airflow.ui.fleet_view import fleet_health, reached_stages, stuck_reasons
from catena_airflow.ui.settings import DashboardSettings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SETTINGS = DashboardSettings(stuck_after=timedelta(hours=24), expiry_warning=timedelta(hours=6))


def onboarding(stage: Stage, *, entered_ago: timedelta, expires_in: timedelta = timedelta(days=7), **kw) -> Onboarding:
    times = {Stage.INVITED: NOW - entered_ago - timedelta(hours=1), stage: NOW - entered_ago}
    return Onboarding(
        invitation_id="inv-1", stage=stage, stage_times=times, expires_at=NOW + expires_in, created_at=NOW, **kw
    )


@pytest.mark.parametrize(
    ("stage", "entered_ago", "expires_in", "expected"),
    [
        (Stage.VIEWED, timedelta(hours=25), timedelta(days=7), ["no_progress"]),
        (Stage.VIEWED, timedelta(hours=23), timedelta(days=7), []),
        (Stage.INVITED, timedelta(hours=1), timedelta(hours=5), ["expiring"]),
        (Stage.SENT, timedelta(hours=30), timedelta(hours=1), ["no_progress", "expiring"]),
        # Expiry stops mattering once the fleet accepted.
        (Stage.ACCEPTED, timedelta(hours=1), timedelta(hours=1), []),
        (Stage.SHARE_AGREEMENT, timedelta(days=2), timedelta(days=7), ["no_progress"]),
        # Finished onboardings are never stuck.
        (Stage.CONNECTED, timedelta(days=30), timedelta(hours=1), []),
        (Stage.DECLINED, timedelta(days=30), timedelta(hours=1), []),
    ],
)
def test_stuck_reasons(stage, entered_ago, expires_in, expected):
    assert (
        stuck_reasons(onboarding(stage, entered_ago=entered_ago, expires_in=expires_in), now=NOW, settings=SETTINGS)
        == expected
    )


def test_reached_stages_fill_the_gaps_before_the_furthest_stage():
    connected = Onboarding(invitation_id="i", stage=Stage.CONNECTED, stage_times={Stage.CONNECTED: NOW})
    assert reached_stages(connected) == set(Stage) - {Stage.DECLINED, Stage.EXPIRED, Stage.DELETED}
    declined = Onboarding(invitation_id="i", stage=Stage.DECLINED, stage_times={Stage.VIEWED: NOW, Stage.DECLINED: NOW})
    assert reached_stages(declined) == {Stage.INVITED, Stage.SENT, Stage.VIEWED}


def test_health():
    fresh = onboarding(Stage.ACCEPTED, entered_ago=timedelta(hours=1))
    assert fleet_health(fresh).status == "unknown"
    fine = onboarding(
        Stage.CONNECTED,
        entered_ago=timedelta(hours=1),
        connections={"c1": ConnectionStatus(connection_id="c1", status="active")},
        schedules={"s1": ScheduleStatus(schedule_id="s1", status="active")},
    )
    assert fleet_health(fine).status == "ok"
    failing = onboarding(
        Stage.CONNECTED,
        entered_ago=timedelta(hours=1),
        connections={"c1": ConnectionStatus(connection_id="c1", status="stale")},
        schedules={
            "s1": ScheduleStatus(schedule_id="s1", status="inactive", failed_executions=2, last_failure_at=NOW),
            "s2": ScheduleStatus(schedule_id="s2", failed_executions=1, last_failure_at=NOW - timedelta(hours=1)),
        },
    )
    health = fleet_health(failing)
    assert health.status == "attention"
    assert health.stale_connections == ["c1"]
    assert health.deactivated_schedules == ["s1"]
    assert health.failed_executions == 3
    assert health.last_failure_at == NOW


def test_invalid_threshold_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CATENA__DASHBOARD_STUCK_AFTER_MINUTES", "0")
    with pytest.raises(ValueError, match="dashboard_stuck_after_minutes must be a positive number"):
        DashboardSettings.from_airflow_config()
