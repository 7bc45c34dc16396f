"""Operational handlers: events read from a real inbox, state in the same inbox, Catena faked."""

from __future__ import annotations

import uuid
from typing import ClassVar

import pytest
from airflow.sdk import BaseNotifier
from airflow.sdk.exceptions import AirflowException

from catena_airflow.operators.operations import (
    CatenaHandleConnectionEventsOperator,
    CatenaHandleExecutionFailuresOperator,
    CatenaReactivateSchedulesOperator,
)
from catena_airflow.ui.alerts import open_alerts
from tests.unit.airflow_layer import CATENA_URL, invitation_json, onboard, page, webhook

NOTIFIER = "tests.unit.operators.test_operations.RecordingNotifier"


class RecordingNotifier(BaseNotifier):
    """A notifier of the test's own, configured by dotted path like any deployment's notifier."""

    template_fields = ("text",)
    sent: ClassVar[list[dict]] = []

    def __init__(self, *, text: str = "{{ catena_alert.text }}", channel: str = "#ops") -> None:
        super().__init__()
        self.text = text
        self.channel = channel

    def notify(self, context):
        self.sent.append({"text": self.text, "channel": self.channel, "alert": context["catena_alert"]})


@pytest.fixture(autouse=True)
def sent():
    RecordingNotifier.sent.clear()
    return RecordingNotifier.sent


@pytest.fixture
def connected(inbox):
    invitation = invitation_json(fleet_ref="stale-acme")
    inbox.register_invitation(invitation)
    onboard(inbox, invitation, "fleet-1", "conn-1")
    return invitation


CONNECTIONS = f"{CATENA_URL}/v2/integrations/connections"


def connections(status: str) -> dict:
    return page([{"id": "conn-1", "fleet_id": "fleet-1", "status": status}])


CONNECTION = f"{CONNECTIONS}/conn-1"


def connection_is(catena_api, status: str):
    return catena_api.get(CONNECTION, json={"id": "conn-1", "fleet_id": "fleet-1", "status": status})


def test_stale_connection_pauses_ingestion_and_sends_the_magic_link(inbox, connected, sent, catena_api):
    catena_api.get(CONNECTIONS, json=connections("stale"))
    connection_is(catena_api, "stale")
    webhook(
        inbox, "connection.staled", id="conn-1", source_name="samsara", fleet_id="fleet-1", tsp_id="t", status="stale"
    )
    op = CatenaHandleConnectionEventsOperator(task_id="conn", notifier=NOTIFIER, notifier_kwargs={"channel": "#fleet"})
    result = op.execute({})
    assert result["staled"] == ["fleet-1"]
    status = inbox.get_fleet_status("fleet-1")
    assert (status.status, status.ingestion_paused, status.fleet_ref) == ("stale", True, "stale-acme")
    assert len(sent) == 1
    assert connected["magic_link"] in sent[0]["text"]
    assert sent[0]["channel"] == "#fleet"
    # Handled once: a second run (another doorbell) finds nothing new.
    assert CatenaHandleConnectionEventsOperator(task_id="conn", notifier=NOTIFIER).execute({})["handled"] == 0

    catena_api.get(CONNECTIONS, json=connections("active"))  # re-authenticated, then a new connection event
    webhook(
        inbox, "connection.created", id="conn-1", source_name="samsara", fleet_id="fleet-1", tsp_id="t", status="active"
    )
    again = CatenaHandleConnectionEventsOperator(task_id="conn", notifier=NOTIFIER).execute({})
    assert again["recovered"] == ["fleet-1"]
    assert inbox.get_fleet_status("fleet-1").ingestion_paused is False


def test_a_late_connection_created_does_not_end_the_pause(inbox, connected, sent, catena_api):
    catena_api.get(CONNECTIONS, json=connections("stale"))
    connection_is(catena_api, "stale")
    webhook(
        inbox, "connection.staled", id="conn-1", source_name="samsara", fleet_id="fleet-1", tsp_id="t", status="stale"
    )
    # Webhooks are unordered: the onboarding's connection.created may arrive after connection.staled.
    webhook(
        inbox, "connection.created", id="conn-1", source_name="samsara", fleet_id="fleet-1", tsp_id="t", status="active"
    )
    result = CatenaHandleConnectionEventsOperator(task_id="conn", notifier=NOTIFIER).execute({})
    assert (result["staled"], result["recovered"]) == (["fleet-1"], [])
    assert inbox.get_fleet_status("fleet-1").ingestion_paused is True


def test_a_fleet_that_re_authenticated_is_noticed_through_catena(inbox, connected, sent, catena_api):
    route = catena_api.get(CONNECTIONS, json=connections("stale"))
    connection_is(catena_api, "stale")
    webhook(
        inbox, "connection.staled", id="conn-1", source_name="samsara", fleet_id="fleet-1", tsp_id="t", status="stale"
    )
    CatenaHandleConnectionEventsOperator(task_id="conn", notifier=NOTIFIER).execute({})
    still = CatenaHandleConnectionEventsOperator(task_id="conn", notifier=NOTIFIER).execute({})
    assert (still["recovered"], route.last_request.qs["fleet_ids"]) == ([], ["fleet-1"])
    catena_api.get(CONNECTIONS, json=connections("active"))  # no event: Catena has none for re-authentication
    back = CatenaHandleConnectionEventsOperator(task_id="conn", notifier=NOTIFIER).execute({})
    assert back["recovered"] == ["fleet-1"]
    assert inbox.get_fleet_status("fleet-1").status == "active"
    assert [s["alert"]["kind"] for s in sent] == ["connection_stale", "connection_recovered"]


def test_the_notifier_comes_from_the_airflow_variable_by_default(inbox, connected, sent, monkeypatch, catena_api):
    catena_api.get(CONNECTIONS, json=connections("stale"))
    connection_is(catena_api, "stale")
    monkeypatch.setenv("AIRFLOW_VAR_CATENA_NOTIFIER", NOTIFIER)
    webhook(
        inbox, "connection.staled", id="conn-1", source_name="samsara", fleet_id="fleet-1", tsp_id="t", status="stale"
    )
    CatenaHandleConnectionEventsOperator(task_id="conn").execute({})
    assert [s["alert"]["kind"] for s in sent] == ["connection_stale"]


def test_the_default_notifier_logs(inbox, connected, caplog, monkeypatch, catena_api):
    catena_api.get(CONNECTIONS, json=connections("stale"))
    connection_is(catena_api, "stale")
    monkeypatch.delenv("AIRFLOW_VAR_CATENA_NOTIFIER", raising=False)
    webhook(
        inbox, "connection.staled", id="conn-1", source_name="samsara", fleet_id="fleet-1", tsp_id="t", status="stale"
    )
    with caplog.at_level("WARNING", logger="catena_airflow.notifications.catena"):
        CatenaHandleConnectionEventsOperator(task_id="conn", notifier=None).execute({})
    assert "telematics connection is stale" in caplog.text
    assert connected["magic_link"] in caplog.text


def failed(inbox, n: int) -> None:
    for _ in range(n):
        webhook(
            inbox,
            "execution.failed",
            id=str(uuid.uuid4()),
            schedule_id="sched-1",
            connection_id="conn-1",
            fleet_id="fleet-1",
            status="failed",
            resource="vehicle_location",
            source_name="samsara",
            created_at="2026-01-01T00:00:00Z",
            updated_at="2026-01-01T00:00:00Z",
        )


def test_execution_failures_are_recorded_and_alert_when_they_keep_coming(inbox, connected, sent):
    failed(inbox, 2)
    first = CatenaHandleExecutionFailuresOperator(task_id="exec", notifier=NOTIFIER, alert_threshold=3).execute({})
    assert (first["recorded"], first["alerted"], sent) == (2, [], [])
    failed(inbox, 1)
    second = CatenaHandleExecutionFailuresOperator(task_id="exec", notifier=NOTIFIER, alert_threshold=3).execute({})
    assert second["alerted"] == ["sched-1"]
    assert inbox.count_execution_failures("sched-1") == 3
    assert sent[0]["alert"]["fleet_ref"] == "stale-acme"


def test_an_operator_holds_only_its_configuration_and_each_run_reports_its_own(inbox, connected, sent):
    op = CatenaHandleExecutionFailuresOperator(task_id="exec", notifier=NOTIFIER, alert_threshold=3)
    configured = set(vars(op))
    failed(inbox, 2)
    assert (op.execute({})["recorded"], op.execute({})["recorded"]) == (2, 0)  # the same object, run twice
    # No stores, notifier, context or counters left on it: only the cached hook (and Airflow's logger).
    assert set(vars(op)) - configured <= {"hook", "_cached_logger"}


SCHEDULE = f"{CATENA_URL}/v2/integrations/connections/conn-1/schedules/sched-1"


def deactivated(inbox) -> None:
    webhook(
        inbox,
        "schedule.deactivated",
        id="sched-1",
        connection_id="conn-1",
        resource="vehicle_location",
        execution_interval_seconds=60,
        status="inactive",
        consecutive_error_threshold=3,
        max_concurrent_executions=1,
    )


def schedule(status: str) -> dict:
    return {"id": "sched-1", "connection_id": "conn-1", "resource": "vehicle_location", "status": status}


EXECUTIONS = f"{SCHEDULE}/executions"


def went_stale(inbox) -> None:
    webhook(
        inbox, "connection.staled", id="conn-1", source_name="samsara", fleet_id="fleet-1", tsp_id="t", status="stale"
    )


def test_the_same_failure_delivered_twice_counts_once(inbox, connected, sent):
    """One execution.failed delivered to an org-wide and a callback_url subscription: two envelope ids."""
    record = {
        "id": "exec-1",
        "schedule_id": "sched-1",
        "connection_id": "conn-1",
        "fleet_id": "fleet-1",
        "status": "failed",
        "resource": "vehicle_location",
        "source_name": "samsara",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
    }
    webhook(inbox, "execution.failed", **record)
    webhook(inbox, "execution.failed", **record)
    result = CatenaHandleExecutionFailuresOperator(task_id="exec", notifier=NOTIFIER).execute({})
    assert (result["handled"], result["recorded"]) == (2, 1)
    assert inbox.count_execution_failures("sched-1") == 1
    assert inbox.get_onboarding(connected["id"]).schedules["sched-1"].failed_executions == 1


def test_a_schedule_whose_connection_went_stale_and_is_back_is_reactivated(inbox, connected, catena_api, sent):
    went_stale(inbox)
    deactivated(inbox)
    connection_is(catena_api, "active")
    activate = catena_api.post(f"{SCHEDULE}/activate", json=schedule("active"))
    # Read once before acting (still inactive), then once per activation attempt.
    catena_api.get(
        SCHEDULE, [{"json": schedule("inactive")}, {"json": schedule("inactive")}, {"json": schedule("active")}]
    )
    result = CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, backoff=0).execute({})
    assert (result["reactivated"], result["held"]) == (["sched-1"], [])
    assert activate.call_count == 2  # verified inactive once, so it tried again
    assert [s["alert"]["kind"] for s in sent] == ["schedule_reactivated"]
    # The dashboard's view follows: Catena sends no event for a reactivation.
    assert inbox.get_onboarding(connected["id"]).schedules["sched-1"].status == "active"
    assert inbox.paused_resources("fleet-1") == {}


def test_a_schedule_whose_connection_is_still_stale_waits_for_it_with_its_resource_paused(
    inbox, connected, catena_api, sent
):
    went_stale(inbox)
    deactivated(inbox)
    connection_is(catena_api, "stale")
    catena_api.get(SCHEDULE, json=schedule("inactive"))
    activate = catena_api.post(f"{SCHEDULE}/activate", json=schedule("active"))
    result = CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, backoff=0).execute({})
    assert (result["reactivated"], result["held"], activate.called) == ([], ["sched-1"], False)
    assert list(inbox.paused_resources("fleet-1")) == ["vehicle_location"]
    assert "waits for the fleet" in sent[0]["text"]

    connection_is(catena_api, "active")  # the fleet re-authenticated: no event for that
    catena_api.get(SCHEDULE, json=schedule("active"))
    later = CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, backoff=0).execute({})
    assert later["reactivated"] == ["sched-1"]
    assert inbox.paused_resources("fleet-1") == {}


def test_unexplained_failures_are_left_to_a_person_with_the_last_executions(inbox, connected, catena_api, sent):
    deactivated(inbox)
    connection_is(catena_api, "active")
    failed_execution = {
        "id": "exec-9",
        "schedule_id": "sched-1",
        "connection_id": "conn-1",
        "fleet_id": "fleet-1",
        "status": "failed",
        "source_name": "samsara",
        "resource": "vehicle_location",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:05:00Z",
    }
    catena_api.get(EXECUTIONS, json=page([failed_execution]))
    catena_api.get(SCHEDULE, json=schedule("inactive"))
    activate = catena_api.post(f"{SCHEDULE}/activate", json=schedule("active"))
    result = CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, backoff=0).execute({})
    assert (result["reactivated"], result["held"], activate.called) == ([], ["sched-1"], False)
    assert "exec-9 failed at 2026-01-01T00:05:00" in sent[0]["text"]
    assert '"reactivate_schedule_ids": ["sched-1"]' in sent[0]["text"]
    assert inbox.get_schedule_hold("sched-1").state == "needs_decision"

    catena_api.get(SCHEDULE, json=schedule("active"))
    decided = CatenaReactivateSchedulesOperator(
        task_id="sched", notifier=NOTIFIER, backoff=0, reactivate='["sched-1"]'
    ).execute({})
    assert decided["reactivated"] == ["sched-1"] and activate.called
    assert inbox.paused_resources("fleet-1") == {}


def test_reactivations_are_bounded(inbox, connected, catena_api, sent):
    went_stale(inbox)
    connection_is(catena_api, "active")
    catena_api.post(f"{SCHEDULE}/activate", json=schedule("active"))
    # Each round: inactive when the deactivation is handled, active once reactivated.
    catena_api.get(SCHEDULE, [{"json": schedule(s)} for s in ("inactive", "active") * 2 + ("inactive",)])
    outcomes = []
    for _ in range(3):
        deactivated(inbox)
        outcomes.append(
            CatenaReactivateSchedulesOperator(
                task_id="sched", notifier=NOTIFIER, backoff=0, max_reactivations=2
            ).execute({})
        )
    assert [(o["reactivated"], o["held"]) for o in outcomes] == [
        (["sched-1"], []),
        (["sched-1"], []),
        ([], ["sched-1"]),
    ]
    assert inbox.get_schedule_hold("sched-1").state == "needs_decision"


def test_a_schedule_not_held_cannot_be_reactivated_by_hand(inbox, catena_api):
    with pytest.raises(AirflowException, match="not deactivated"):
        CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, reactivate=["sched-7"]).execute({})


def test_a_schedule_that_stays_inactive_fails_loudly_and_is_retried_next_run(inbox, connected, catena_api, sent):
    went_stale(inbox)
    deactivated(inbox)
    connection_is(catena_api, "active")
    catena_api.post(f"{SCHEDULE}/activate", json=schedule("inactive"))
    catena_api.get(SCHEDULE, json=schedule("inactive"))
    with pytest.raises(AirflowException, match="Could not reactivate schedule sched-1"):
        CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, attempts=2, backoff=0).execute({})
    assert [s["alert"]["severity"] for s in sent] == ["error"]
    catena_api.get(SCHEDULE, [{"json": schedule("inactive")}, {"json": schedule("active")}])
    retry = CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, backoff=0).execute({})
    assert retry["reactivated"] == ["sched-1"]


def test_one_staleness_delivered_twice_alerts_once(inbox, connected, catena_api, sent):
    """Two subscriptions (org-wide and callback_url) may deliver it under two envelope ids."""
    catena_api.get(CONNECTIONS, json=connections("stale"))
    connection_is(catena_api, "stale")
    went_stale(inbox)
    went_stale(inbox)
    result = CatenaHandleConnectionEventsOperator(task_id="conn", notifier=NOTIFIER).execute({})
    assert (result["handled"], result["staled"]) == (3, ["fleet-1"])  # and the onboarding's connection.created
    assert [s["alert"]["kind"] for s in sent] == ["connection_stale"]


def test_a_late_staleness_of_a_connection_catena_reports_active_changes_nothing(inbox, connected, catena_api, sent):
    connection_is(catena_api, "active")
    went_stale(inbox)
    result = CatenaHandleConnectionEventsOperator(task_id="conn", notifier=NOTIFIER).execute({})
    assert (result["staled"], sent) == ([], [])
    assert inbox.get_fleet_status("fleet-1") is None


def test_one_deactivation_delivered_twice_is_handled_once(inbox, connected, catena_api, sent):
    deactivated(inbox)
    deactivated(inbox)
    connection_is(catena_api, "active")
    catena_api.get(EXECUTIONS, json=page([]))
    catena_api.get(SCHEDULE, json=schedule("inactive"))
    result = CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, backoff=0).execute({})
    assert (result["handled"], result["held"]) == (2, ["sched-1"])
    assert [s["alert"]["kind"] for s in sent] == ["schedule_deactivated"]


def test_a_late_deactivation_of_a_schedule_catena_reports_active_changes_nothing(inbox, connected, catena_api, sent):
    deactivated(inbox)
    catena_api.get(SCHEDULE, json=schedule("active"))
    result = CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, backoff=0).execute({})
    assert (result["reactivated"], result["held"], sent) == ([], [], [])
    assert inbox.paused_resources("fleet-1") == {}


def alert_kinds(inbox, invitation) -> list[str]:
    """What the dashboard's alert list shows for this fleet (ui/alerts.py over the inbox's view)."""
    return [alert.kind for alert in open_alerts([inbox.get_onboarding(invitation["id"])])]


def test_the_dashboard_alert_ends_when_catena_reports_a_late_deactivated_schedule_active(
    inbox, connected, catena_api, sent
):
    deactivated(inbox)
    assert alert_kinds(inbox, connected) == ["deactivated_schedule"]
    catena_api.get(SCHEDULE, json=schedule("active"))
    CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, backoff=0).execute({})
    assert alert_kinds(inbox, connected) == []


def test_the_dashboard_alert_ends_when_a_person_reactivated_in_catena(inbox, connected, catena_api, sent):
    deactivated(inbox)
    connection_is(catena_api, "active")
    catena_api.get(EXECUTIONS, json=page([]))
    catena_api.get(SCHEDULE, json=schedule("inactive"))
    CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, backoff=0).execute({})
    assert inbox.get_schedule_hold("sched-1").state == "needs_decision"
    assert alert_kinds(inbox, connected) == ["deactivated_schedule"]

    catena_api.get(SCHEDULE, json=schedule("active"))  # reactivated in Catena's own UI: no event for that
    later = CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, backoff=0).execute({})
    assert later["reactivated"] == ["sched-1"]
    assert inbox.get_schedule_hold("sched-1").state == "reactivated"
    assert inbox.paused_resources("fleet-1") == {}
    assert alert_kinds(inbox, connected) == []


def test_the_dashboard_alert_ends_with_a_reactivation_by_the_dag(inbox, connected, catena_api, sent):
    went_stale(inbox)
    deactivated(inbox)
    connection_is(catena_api, "active")
    catena_api.post(f"{SCHEDULE}/activate", json=schedule("active"))
    catena_api.get(SCHEDULE, [{"json": schedule("inactive")}, {"json": schedule("active")}])
    CatenaReactivateSchedulesOperator(task_id="sched", notifier=NOTIFIER, backoff=0).execute({})
    assert "deactivated_schedule" not in alert_kinds(inbox, connected)


def test_notifier_kwargs_that_did_not_render_to_a_mapping_fail_naming_the_field(inbox):
    """A DAG without render_template_as_native_obj leaves "{{ params.notifier_kwargs }}" as text."""
    from airflow.sdk.exceptions import AirflowFailException

    op = CatenaHandleConnectionEventsOperator(task_id="conn", notifier=NOTIFIER, notifier_kwargs="{'channel': '#x'}")
    with pytest.raises(AirflowFailException, match="notifier_kwargs must render to a mapping"):
        op.execute({})
