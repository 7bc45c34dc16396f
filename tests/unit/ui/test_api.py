"""The dashboard's JSON API through Airflow's real app: authentication, and content for a known inbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from catena_airflow.inbox import Stage
from tests.unit.ui.seeding import API_PATHS, ONBOARDING_DAG_ID, SECRETS


@pytest.mark.parametrize("path", API_PATHS)
def test_every_endpoint_rejects_requests_without_a_token(airflow_client, inbox_store, path):
    response = airflow_client.get(path)
    assert response.status_code == 401
    assert "items" not in response.text


@pytest.mark.parametrize("path", API_PATHS)
def test_every_endpoint_rejects_a_forged_token(airflow_client, inbox_store, path):
    # Airflow's own convention: a token that does not verify is 403 "Invalid JWT token".
    response = airflow_client.get(path, headers={"Authorization": "Bearer not.a.jwt"})
    assert response.status_code == 403


def test_an_expired_token_is_rejected(airflow_client, airflow_app, inbox_store):
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    token = get_auth_manager().generate_jwt(
        SimpleAuthManagerUser(username="admin", role="admin"), expiration_time_in_seconds=-60
    )
    response = airflow_client.get("/catena/api/fleets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


@pytest.mark.parametrize("path", API_PATHS)
def test_the_airflow_ui_session_cookie_authenticates(airflow_client, admin_token, seeded, path):
    response = airflow_client.get(path, cookies={"_token": admin_token})
    assert response.status_code == 200, response.text


def test_funnel_counts_each_stage_reached(airflow_client, auth_headers, seeded):
    funnel = airflow_client.get("/catena/api/funnel", headers=auth_headers).json()
    counts = {s["stage"]: s["count"] for s in funnel["stages"]}
    # 6 invited; viewed by acme, bravo, charlie, delta; acme and bravo went all the way.
    assert counts == {
        "invited": 6,
        "viewed": 4,
        "accepted": 2,
        "share_agreement": 2,
        "connection": 2,
        "connected": 2,
    }
    assert funnel["total"] == 6
    assert funnel["failures"] == {"declined": 1, "deleted": 0, "expired": 0}
    assert funnel["in_progress"] == 3
    viewed = next(s for s in funnel["stages"] if s["stage"] == "viewed")
    assert viewed["conversion_from_previous"] == pytest.approx(4 / 6, abs=1e-4)
    assert funnel["stages"][0]["conversion_from_previous"] is None


def test_funnel_time_window_counts_only_recent_invitations(airflow_client, auth_headers, seeded):
    funnel = airflow_client.get("/catena/api/funnel", params={"window": "24h"}, headers=auth_headers).json()
    # Only echo (1 hour old) and foxtrot (10 minutes old) were invited within the last day.
    assert funnel["total"] == 2
    assert funnel["stages"][0]["count"] == 2
    assert funnel["stages"][-1]["count"] == 0
    assert funnel["since"] is not None


def test_funnel_rejects_an_unknown_window(airflow_client, auth_headers, seeded):
    response = airflow_client.get("/catena/api/funnel", params={"window": "2w"}, headers=auth_headers)
    assert response.status_code == 422


def _fleets(client, headers, **params):
    response = client.get("/catena/api/fleets", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_fleets_table_row_content(airflow_client, auth_headers, seeded):
    page = _fleets(airflow_client, auth_headers, search="acme")
    assert page["total"] == 1
    row = page["items"][0]
    fleet = seeded.connected
    assert row["fleet_ref"] == "acme-freight"
    assert row["invitation_id"] == fleet.invitation_id
    assert row["fleet_id"] == fleet.fleet_id
    assert row["stage"] == "connected"
    assert set(row["stage_times"]) >= {"invited", "viewed", "accepted", "share_agreement", "connection", "connected"}
    assert row["seconds_in_stage"] >= int(timedelta(days=2).total_seconds()) - 5
    assert row["magic_link"] == f"https://connect.catenatelematics.com/?invite={fleet.invitation_id}"
    assert row["dag_run"] == {
        "dag_id": ONBOARDING_DAG_ID,
        "run_id": fleet.run_id,
        "url": f"/dags/{ONBOARDING_DAG_ID}/runs/{fleet.run_id}",
        "state": None,  # no such run in this metadata database
    }
    assert row["health"]["stale_connections"] == [seeded.stale_connection_id]
    assert row["health"]["deactivated_schedules"] == [seeded.deactivated_schedule_id]
    assert row["health"]["failed_executions"] == 1
    assert row["health"]["status"] == "attention"
    assert row["stuck"] is False  # connected: finished, never stuck


def test_fleets_show_decline_reason_and_healthy_fleets(airflow_client, auth_headers, seeded):
    declined = _fleets(airflow_client, auth_headers, stage="declined")
    assert [r["fleet_ref"] for r in declined["items"]] == ["charlie-haulage"]
    assert declined["items"][0]["decline_reason"] == "Already using another provider"
    healthy = _fleets(airflow_client, auth_headers, search="bravo")["items"][0]
    assert healthy["health"] == {
        "stale_connections": [],
        "deactivated_schedules": [],
        "failed_executions": 0,
        "last_failure_at": None,
        "status": "ok",
    }


def test_a_fleet_invited_again_shows_its_attempts_in_order(airflow_client, auth_headers, seeded, inbox_store):
    declined = seeded.declined
    assert _fleets(airflow_client, auth_headers, search="charlie")["items"][0]["attempts"] == []
    # The fleet is invited again: Catena refreshes the declined invitation (same id, active again).
    onboarding = inbox_store.get_onboarding(declined.invitation_id)
    again = datetime.now(UTC)
    inbox_store.register_invitation(
        {"id": declined.invitation_id, "fleet_ref": declined.fleet_ref, "status": "active"}, new_attempt_at=again
    )
    # And a new invitation (Catena makes one after an expiry) for the same ref.
    later = {"id": "inv-charlie-3", "fleet_ref": declined.fleet_ref, "status": "active", "created_at": again}
    inbox_store.register_invitation(later)

    rows = {r["invitation_id"]: r for r in _fleets(airflow_client, auth_headers, search="charlie")["items"]}

    row = rows[declined.invitation_id]
    assert (row["stage"], row["decline_reason"]) == ("invited", None)
    trail = [(a["invitation_id"], a["number"], a["stage"], a["current"]) for a in row["attempts"]]
    assert trail == [
        (declined.invitation_id, 1, "declined", False),
        (declined.invitation_id, 2, "invited", True),
        ("inv-charlie-3", 1, "invited", False),
    ]
    assert row["attempts"][0]["started_at"] == onboarding.stage_times[Stage.INVITED].isoformat().replace("+00:00", "Z")
    assert [a["current"] for a in rows["inv-charlie-3"]["attempts"]] == [False, False, True]


def test_fleets_filter_by_stage_and_count_per_stage(airflow_client, auth_headers, seeded):
    page = _fleets(airflow_client, auth_headers, stage="connected")
    assert sorted(r["fleet_ref"] for r in page["items"]) == ["acme-freight", "bravo-logistics"]
    assert page["total"] == 2
    assert page["stage_counts"]["connected"] == 2
    assert page["stage_counts"]["invited"] == 1
    assert page["stage_counts"]["sent"] == 1
    assert page["stage_counts"]["viewed"] == 1
    assert page["stage_counts"]["declined"] == 1
    assert sum(page["stage_counts"].values()) == 6


def test_fleets_paging(airflow_client, auth_headers, seeded):
    first = _fleets(airflow_client, auth_headers, limit=4, offset=0)
    second = _fleets(airflow_client, auth_headers, limit=4, offset=4)
    assert first["total"] == second["total"] == 6
    assert len(first["items"]) == 4 and len(second["items"]) == 2
    refs = [r["fleet_ref"] for r in first["items"] + second["items"]]
    assert sorted(refs) == sorted(f.fleet_ref for f in seeded.all)


def test_fleets_paging_limits_are_validated(airflow_client, auth_headers, seeded):
    assert airflow_client.get("/catena/api/fleets?limit=0", headers=auth_headers).status_code == 422
    assert airflow_client.get("/catena/api/fleets?limit=501", headers=auth_headers).status_code == 422
    assert airflow_client.get("/catena/api/fleets?offset=-1", headers=auth_headers).status_code == 422
    assert airflow_client.get(f"/catena/api/fleets?offset={2**65}", headers=auth_headers).status_code == 422
    beyond = airflow_client.get(f"/catena/api/fleets?offset={2**31 - 1}", headers=auth_headers)
    assert beyond.status_code == 200 and beyond.json()["items"] == []
    assert airflow_client.get("/catena/api/fleets?stage=bogus", headers=auth_headers).status_code == 422


def test_stuck_fleets_are_flagged_with_their_reason(airflow_client, auth_headers, seeded):
    page = _fleets(airflow_client, auth_headers, stuck="true")
    reasons = {r["fleet_ref"]: r["stuck_reasons"] for r in page["items"]}
    # delta was viewed two days ago (threshold 24h); echo expires within the 24h warning window.
    assert reasons == {"delta-transport": ["no_progress"], "echo-carriers": ["expiring"]}
    assert page["total"] == 2
    assert all(r["stuck"] for r in page["items"])
    everything = {r["fleet_ref"]: r["stuck"] for r in _fleets(airflow_client, auth_headers)["items"]}
    assert everything["foxtrot-fleet"] is False
    assert everything["charlie-haulage"] is False  # declined: finished


def test_stuck_threshold_is_configurable(airflow_client, auth_headers, seeded, monkeypatch):
    # Three days: delta (viewed 2 days ago) is no longer stuck; a 30-minute expiry warning spares echo.
    monkeypatch.setenv("AIRFLOW__CATENA__DASHBOARD_STUCK_AFTER_MINUTES", str(3 * 24 * 60))
    monkeypatch.setenv("AIRFLOW__CATENA__DASHBOARD_EXPIRY_WARNING_MINUTES", "30")
    page = airflow_client.get("/catena/api/fleets/stuck", headers=auth_headers).json()
    assert page["total"] == 0
    assert page["stuck_after_seconds"] == 3 * 24 * 3600
    config = airflow_client.get("/catena/api/config", headers=auth_headers).json()
    assert config["expiry_warning_seconds"] == 1800


def test_alerts_list_open_stale_connections_and_deactivated_schedules(airflow_client, auth_headers, seeded):
    alerts = airflow_client.get("/catena/api/alerts", headers=auth_headers).json()
    assert alerts["total"] == 2
    by_kind = {a["kind"]: a for a in alerts["items"]}
    assert by_kind["stale_connection"]["connection_id"] == seeded.stale_connection_id
    assert by_kind["stale_connection"]["fleet_ref"] == "acme-freight"
    assert by_kind["deactivated_schedule"]["schedule_id"] == seeded.deactivated_schedule_id
    assert by_kind["deactivated_schedule"]["invitation_id"] == seeded.connected.invitation_id


def test_a_reactivated_connection_closes_its_alert(airflow_client, auth_headers, seeded, inbox_store):
    inbox_store.record_observation(
        seeded.connected.invitation_id, connection_statuses={seeded.stale_connection_id: "active"}
    )
    alerts = airflow_client.get("/catena/api/alerts", headers=auth_headers).json()
    assert [a["kind"] for a in alerts["items"]] == ["deactivated_schedule"]


def test_webhook_health(airflow_client, auth_headers, seeded):
    health = airflow_client.get("/catena/api/webhooks/health", headers=auth_headers).json()
    assert health["signature_failures"] == 2
    assert health["signature_failures_last_hour"] == 2
    assert health["duplicates_dropped"] == 1
    assert health["events_total"] == 17  # every stored event (8 acme, 5 bravo, 2 charlie, 1 delta, 1 echo)
    assert len(health["events_per_hour"]) == 24
    last = datetime.fromisoformat(health["last_event_at"])
    assert timedelta(minutes=29) < datetime.now(UTC) - last < timedelta(minutes=40)  # echo's "sent"


def test_empty_inbox_gives_an_empty_dashboard(airflow_client, auth_headers, inbox_store):
    funnel = airflow_client.get("/catena/api/funnel", headers=auth_headers).json()
    assert funnel["total"] == 0
    assert all(s["count"] == 0 and s["conversion_from_start"] is None for s in funnel["stages"])
    assert _fleets(airflow_client, auth_headers)["items"] == []
    health = airflow_client.get("/catena/api/webhooks/health", headers=auth_headers).json()
    assert health["last_event_at"] is None


def test_no_secret_in_any_response(airflow_client, auth_headers, admin_token, seeded):
    # The accepted invitations carried pre-registration tokens; the subscription has a signing secret.
    bodies = [airflow_client.get(path, headers=auth_headers).text for path in API_PATHS]
    bodies.append(airflow_client.get("/catena/api/fleets", params={"stuck": "true"}, headers=auth_headers).text)
    for body in bodies:
        for secret in (*SECRETS, admin_token):
            assert secret not in body
        assert "pre_registration" not in body
