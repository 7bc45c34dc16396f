"""Every telematics resource a share agreement grants, loaded by dlt into DuckDB from the sandbox.

Real parts only: the sandbox process over HTTP, the project's CatenaClient, dlt, a DuckDB file. The fleet's
invitation asks for some scopes and not others; the resources loaded are the ones its share agreement
(as Catena reports it) grants. Each table is compared with what the API holds for the fleet, read with
plain HTTP requests (not the client), so a client bug cannot hide itself.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest

from catena_airflow.client import CatenaClient
from catena_airflow.ingest.dlt_pipeline import LoadSettings, load_fleet
from catena_airflow.ingest.telematics_resources import (
    TELEMATICS_RESOURCES,
    DayFilter,
    TelematicsResource,
    resources_for_scopes,
)

pytestmark = pytest.mark.integration

LOOKBACK = timedelta(days=2)

#: What the invitation asks for: entities, series at several cadences, a child-like list (DVIR defects),
#: and a scope that grants two resources (message: messages and group messages). The minute-by-minute
#: series (vehicle_location) is left out to keep the load small; it is tested in test_dlt_pipeline.py.
#: vehicle_region_segment is read one processing_date per call.
GRANTED = {
    "vehicle": "read",
    "user": "read",
    "trailer": "read_write",
    "hos_availability": "read",
    "trailer_status": "read",
    "hos_event": "read",
    "hos_daily_snapshot": "read",
    "dvir_log": "read",
    "dvir_log_defect": "read",
    "driver_vehicle_association": "read",
    "engine_log": "read",
    "message": "read",
    "vehicle_region_segment": "read",
}


class RecordingClient:
    """The real client, recording which paths each list call read."""

    def __init__(self, client: CatenaClient) -> None:
        self.client = client
        self.paths: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)

        typed = {r.list_method: r.path for r in TELEMATICS_RESOURCES if r.list_method}

        def call(*args: Any, **filters: Any) -> Any:
            self.paths.append(filters.get("path") or (args[0] if args else typed.get(name, name)))
            return method(*args, **filters)

        return call


def connect_fleet_with_scopes(client: CatenaClient, fleet_ref: str, permissions: dict[str, str]) -> tuple[str, dict]:
    """Invite ``fleet_ref`` asking for ``permissions``; its fleet id and the scopes of its share agreement."""
    invitation = client.create_invitation(
        fleet_ref=fleet_ref, fleet_name="Catalogue Fleet", expires_in_hours=24, permissions=permissions
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        fleet_id = client.get_invitation(invitation.id).fleet_id
        if fleet_id and client.list_vehicles(fleet_ids=[str(fleet_id)]).first_page().items:
            agreements = [a for a in client.list_share_agreements(fleet_id=str(fleet_id)).all() if a.status == "active"]
            if agreements:
                (agreement,) = agreements
                return str(fleet_id), {str(k): (v.value if v else None) for k, v in agreement.scopes.items()}
        time.sleep(0.1)
    raise AssertionError(f"{fleet_ref} was not connected within 60 s")


def api_ids(sandbox: Any, definition: TelematicsResource, fleet_id: str, start: datetime, end: datetime) -> set[str]:
    """The ids the API lists for the fleet, with plain HTTP: the window (or days) only where the spec has one."""
    base: dict[str, Any] = {"fleet_ids": fleet_id, "size": definition.max_page_size}
    base |= {k: str(v).lower() if isinstance(v, bool) else v for k, v in definition.params.items()}
    time_filter = definition.time_filter
    if time_filter is None:
        queries = [base]
    elif isinstance(time_filter, DayFilter):
        count = (end - timedelta(microseconds=1)).date() - start.date()
        queries = [
            {**base, time_filter.param: (start.date() + timedelta(days=i)).isoformat()} for i in range(count.days + 1)
        ]
    else:
        queries = [{**base, time_filter.from_param: start.isoformat(), time_filter.to_param: end.isoformat()}]
    ids: set[str] = set()
    for params in queries:
        while True:
            response = sandbox.api("GET", definition.path, params=params)
            response.raise_for_status()
            body = response.json()
            assert all(item["fleet_id"] == fleet_id for item in body["items"])
            ids |= {item["id"] for item in body["items"]}
            if not body.get("next_page"):
                break
            params = {**params, "cursor": body["next_page"]}
    return ids


def tables(database: str) -> dict[str, list[str] | None]:
    """The ids in each table of the ``catena`` dataset (dlt's own tables left out; child tables: None)."""
    with duckdb.connect(database, read_only=True) as conn:
        names = [
            name
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'catena'"
            ).fetchall()
            if not name.startswith("_dlt")
        ]
        return {
            name: None if "__" in name else [i for (i,) in conn.execute(f"SELECT id FROM catena.{name}").fetchall()]
            for name in names
        }


def test_every_granted_resource_is_loaded_and_nothing_else(sandbox, tmp_path):
    real = sandbox.catena_client()
    fleet_id, scopes = connect_fleet_with_scopes(real, f"cat-{uuid.uuid4().hex[:8]}", GRANTED)
    assert {k for k, v in scopes.items() if v} == set(GRANTED)  # the agreement grants what was asked
    resources = resources_for_scopes(scopes)
    granted = {r.name for r in resources}
    assert {"messages", "group_messages", "dvir_log_defects", "users", "trailers", "vehicle_region_segments"} <= granted
    not_granted = {r.name for r in TELEMATICS_RESOURCES} - granted
    assert {"vehicle_locations", "trailer_locations", "fuel_transactions", "vehicle_sensor_events"} <= not_granted

    database = str(tmp_path / "catena_data.duckdb")
    settings = LoadSettings(destination=f"duckdb:///{database}", pipelines_dir=tmp_path / "pipelines")
    client = RecordingClient(real)
    # The load ends in the past, so what Catena holds for its windows no longer grows.
    until = datetime.now(UTC) - timedelta(hours=1)
    loaded = load_fleet(
        client=client, fleet_id=fleet_id, settings=settings, resources=resources, until=until, initial_lookback=LOOKBACK
    )

    expected = {r.name: api_ids(sandbox, r, fleet_id, until - LOOKBACK, until) for r in resources}
    loaded_tables = tables(database)
    for name, ids in expected.items():
        assert sorted(loaded_tables.get(name) or []) == sorted(ids), name  # exactly those rows, each once
        assert loaded.rows.get(name, 0) == len(ids), name
    # Each granted resource has rows in two days (the sandbox's slowest of them, DVIRs and daily snapshots, is daily).
    assert [name for name, ids in expected.items() if not ids] == []
    # Nothing of a resource the agreement does not grant: no table, not even a request.
    assert not {t for t in loaded_tables if t.split("__")[0] in not_granted}
    read = set(client.paths)
    assert not {r.path for r in TELEMATICS_RESOURCES if r.name in not_granted} & read
    assert {r.path for r in resources if r.list_method is None} <= read
