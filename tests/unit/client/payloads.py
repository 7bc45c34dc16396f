"""Wire payloads shaped after catena-api.md §2-3 (field tables and observed responses), shared by tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Reference signature vectors computed independently from Catena's documented formula (copied
#: unchanged from the shared research folder, so no test depends on anything outside the repository).
WEBHOOK_VECTORS: list[dict[str, str]] = json.loads(
    (Path(__file__).parents[2] / "data" / "catena-webhook-vectors.json").read_text()
)["vectors"]

INVITATION_ID = "019c776d-80e5-766d-8f00-00000000000a"
FLEET_ID = "019c776d-80e5-766d-8f00-0000000000f1"
PARTNER_ID = "019c776d-80e5-766d-8f00-0000000000a2"
CONNECTION_ID = "019c776d-80e5-766d-8f00-0000000000c1"
SCHEDULE_ID = "019c776d-80e5-766d-8f00-00000000005e"
WEBHOOK_ID = "019d0000-0000-7000-8000-000000000001"
PRE_REGISTRATION_ACCESS = "eyJpre-registration-access-token-value"
PRE_REGISTRATION_REFRESH = "eyJpre-registration-refresh-token-value"


def invitation(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": INVITATION_ID,
        "created_at": "2026-02-19T19:43:11.077916Z",
        "magic_link": f"https://connect.catenatelematics.com/?invite={INVITATION_ID}",
        "expires_at": "2026-02-20T19:43:11.077916Z",
        "expires_in_hours": 24,
        "status": "active",
        "fleet_name": "Acme Freight",
        "partner_provided_fleet_name": "Acme Freight",
        "accepted_at": None,
        "declined_at": None,
        "decline_reason": None,
        "pre_registration_access_token": None,
        "pre_registration_refresh_token": None,
        "callback_url": None,
        "success_redirect_url": "https://partner.example/onboarded",
        "failure_redirect_url": "https://partner.example/failed",
        "limit_tsps": ["samsara", "geotab"],
        "fleet_id": None,
        "fleet_ref": "FLEET-42",
        "partner_id": PARTNER_ID,
        "partner_slug": "acme-logistics",
        "permissions": {"vehicle": "read", "vehicle_location": "read_write"},
        "fleet_email": None,
        "fleet_regulatory_id": None,
        "fleet_regulatory_id_type": None,
        "fleet_phone": None,
        "fleet_website": None,
        "fleet_country_code": "USA",
        "partner_provided_fleet_email": None,
        "partner_provided_fleet_country_code": None,
    }
    body.update(overrides)
    return body


def accepted_invitation() -> dict[str, Any]:
    return invitation(
        status="accepted",
        accepted_at="2026-02-19T20:01:00.000001Z",
        fleet_id=FLEET_ID,
        pre_registration_access_token=PRE_REGISTRATION_ACCESS,
        pre_registration_refresh_token=PRE_REGISTRATION_REFRESH,
    )


def share_agreement(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "019c776d-80e5-766d-8f00-0000000000a1",
        "fleet_id": FLEET_ID,
        "partner_id": PARTNER_ID,
        "fleet_ref": "FLEET-42",
        "invitation_id": INVITATION_ID,
        "status": "active",
        "effective_date": "2026-02-19T20:01:00.000001Z",
        "expiration_date": None,
        "scopes": {"vehicle": "read_write", "vehicle_location": "read_write", "hos_event": "read"},
    }
    body.update(overrides)
    return body


def fleet(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": FLEET_ID,
        "name": f"Fleet {INVITATION_ID}",
        "description": None,
        "websites": ["https://placeholder.example"],
        "country_code": "USA",
        "created_at": "2026-02-19T20:01:00.000001Z",
        "updated_at": "2026-02-19T20:01:00.000001Z",
        "invitation_id": INVITATION_ID,
        "fleet_ref": "FLEET-42",
    }
    body.update(overrides)
    return body


def connection(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": CONNECTION_ID,
        "created_at": "2026-02-19T20:05:00.000001Z",
        "updated_at": "2026-02-19T20:05:00.000001Z",
        "fleet_id": FLEET_ID,
        "fleet_ref": "FLEET-42",
        "tsp_id": "019c776d-80e5-766d-8f00-0000000000d1",
        "source_name": "catena_simulator",
        "credentials": {"api_key": "*****", "url": None, "user_id": None},
        "status": "active",
        "description": None,
    }
    body.update(overrides)
    return body


def schedule(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": SCHEDULE_ID,
        "connection_id": CONNECTION_ID,
        "resource": "vehicle_location",
        "execution_interval_seconds": 600,
        "status": "active",
        "consecutive_error_count": 0,
        "consecutive_error_threshold": 15,
        "max_concurrent_executions": 1,
        "cursor": None,
        "last_data_at": "2026-02-19T21:00:00Z",
    }
    body.update(overrides)
    return body


def execution(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "019c776d-80e5-766d-8f00-0000000000e1",
        "created_at": "2026-02-19T21:00:00Z",
        "updated_at": "2026-02-19T21:00:03Z",
        "schedule_id": SCHEDULE_ID,
        "connection_id": CONNECTION_ID,
        "fleet_id": FLEET_ID,
        "status": "success",
        "source_name": "catena_simulator",
        "resource": "vehicle_location",
        "cursor": None,
        "response": {"records": 12},
        "last_data_at": "2026-02-19T21:00:00Z",
    }
    body.update(overrides)
    return body


def webhook(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": WEBHOOK_ID,
        "url": "https://catena.example.net/*****",
        "event_name": "fleet_connection.created",
        "filters": None,
        "secret": "*****",
        "status": "active",
        "created_at": "2026-03-01T11:00:00Z",
        "updated_at": "2026-03-01T11:00:00Z",
    }
    body.update(overrides)
    return body


def webhook_log(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "created_at": "2026-03-01T12:00:05.5Z",
        "webhook_id": WEBHOOK_ID,
        "message_id": "019d0000-0000-7000-8000-0000000000aa",
        "event_name": "fleet_connection.created",
        "status": "failed",
        "status_code": 503,
        "error_message": "Service Unavailable",
        "response_time_ms": 120,
    }
    body.update(overrides)
    return body


def webhook_metrics() -> dict[str, Any]:
    window = {"6h": 105, "24h": 420, "7d": 3000, "14d": 6500}
    return {
        "webhook_id": WEBHOOK_ID,
        "http_attempts": window,
        "http_success_attempts": {"6h": 100, "24h": 400, "7d": 2800, "14d": 6000},
        "http_failure_attempts": {"6h": 5, "24h": 20, "7d": 200, "14d": 500},
        "message_count": {"6h": 100, "24h": 400, "7d": 2800, "14d": 6000},
        "message_success_count": {"6h": 98, "24h": 390, "7d": 2700, "14d": 5800},
        "success_rate": {"6h": 98, "24h": 97, "7d": 96, "14d": None},
        "avg_response_time_ms": {"6h": 150, "24h": 160, "7d": 155, "14d": 158},
        "ewma_success_rate": 0.98,
        "dlq_count": 5,
    }


def vehicle(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "019c776d-80e5-766d-8f00-00000000007e",
        "fleet_id": FLEET_ID,
        "fleet_ref": "FLEET-42",
        "connection_id": CONNECTION_ID,
        "tsp_id": "019c776d-80e5-766d-8f00-0000000000d1",
        "tsp_slug": "catena-simulator",
        "source_name": "catena_simulator",
        "source_id": "veh-1",
        "source_data": {},
        "source_data_hash": "3f2a",
        "created_at": "2026-02-19T21:00:00Z",
        "updated_at": "2026-02-19T21:00:00Z",
        "deleted_at": None,
        "occurred_at": "2026-02-19T21:00:00Z",
        "execution_id": "019c776d-80e5-766d-8f00-0000000000e1",
        "schedule_id": SCHEDULE_ID,
        "extras": None,
        "vehicle_name": "Truck 7",
        "vin": "1FUJGLDR12LM12345",
        "model_year": 2021,
        "status": "IN_SERVICE",
        "vehicle_groups": {"region": "west"},
    }
    body.update(overrides)
    return body


def vehicle_location(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = vehicle(id="019c776d-80e5-766d-8f00-00000000001e")
    for key in ("vehicle_name", "vin", "model_year", "status", "vehicle_groups"):
        body.pop(key)
    body.update(
        {
            "vehicle_id": "019c776d-80e5-766d-8f00-00000000007e",
            "driver_id": None,
            "location": {"type": "Point", "coordinates": [-122.4194, 37.7749], "bbox": None},
            "h3_index_11": 627065677417750527,
            "speed": 13.4,
            "speed_unit": "m/s",
            "inferred_address": {"city": "San Francisco", "province": "CA", "country_code": "USA"},
        }
    )
    body.update(overrides)
    return body


def page(items: list[dict[str, Any]], *, next_page: str | None = None, total: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "items": items,
        "current_page": "Pg%3D%3D",
        "current_page_backwards": "PA%3D%3D",
        "previous_page": None,
        "next_page": next_page,
    }
    if total is not None:
        body["total"] = total
    return body


def envelope(event_name: str, records: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": "1.0",
        "event_name": event_name,
        "webhook_id": WEBHOOK_ID,
        "timestamp": "2026-03-01T12:00:05.123456Z",
        "id": "019d0000-0000-7000-8000-0000000000aa",
        "delivery_attempt": 1,
        "data": records,
    }
    body.update(overrides)
    return body
