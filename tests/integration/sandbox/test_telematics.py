"""The telematics service against Catena's newest spec: every resource's pages validate against its schema
with every parameter the operation defines, and the documented rules hold (scopes, 45-day windows, size
limits, filters, cursors, records that change and disappear over sandbox time)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from catena_sandbox.telematics.resources import RESOURCES
from tests.integration.sandbox.helpers import invite
from tests.integration.sandbox.openapi_schemas import spec

pytestmark = pytest.mark.integration

API = "/v2/telematics/"
LISTS = [r.path for r in RESOURCES if r.kind != "child"]
EVERY_SCOPE = spec("orgs").raw_schemas["ResourceEnum"]["enum"]


def _connected(sandbox: Any, fleet_ref: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sandbox.api("GET", "/v2/integrations/connections", params={"fleet_refs": fleet_ref}).json()["items"]
        agreements = sandbox.api("GET", "/v2/orgs/share-agreements", params={"size": 100}).json()["items"]
        if found and any(a["fleet_id"] == found[0]["fleet_id"] and a["status"] == "active" for a in agreements):
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"{fleet_ref} did not connect")


@pytest.fixture(scope="module")
def world(sandbox_factory) -> Iterator[dict[str, Any]]:
    """Three fleets: one sharing every resource, one with the default scopes, one sharing vehicles only."""
    sandbox = sandbox_factory()
    try:
        invite(sandbox, "TELE-ALL", permissions=dict.fromkeys(EVERY_SCOPE, "read"))
        invite(sandbox, "TELE-DEFAULT")
        invite(sandbox, "TELE-VEHICLES", permissions={"vehicle": "read_write"})
        connections = {ref: _connected(sandbox, ref) for ref in ("TELE-ALL", "TELE-DEFAULT", "TELE-VEHICLES")}
        yield {"sandbox": sandbox, "connections": connections, "now": datetime.now(UTC)}
    finally:
        sandbox_factory.stop(sandbox)


def get(world: dict[str, Any], path: str, **params: Any) -> Any:
    return world["sandbox"].api("GET", path, params=params)


def body(world: dict[str, Any], path: str, **params: Any) -> dict[str, Any]:
    response = get(world, path, **params)
    assert response.status_code == 200, response.text
    return response.json()


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def schema_errors(path: str, status: int, payload: Any) -> list[str]:
    document = spec("telematics")
    return document.errors(document.response_schema("GET", path, status), payload)


def defined(path: str) -> set[str]:
    return {p["name"] for p in spec("telematics").paths[path]["get"].get("parameters", []) if p["in"] == "query"}


def pinned(path: str, world: dict[str, Any], days: float = 1) -> dict[str, str]:
    """A closed window (where the operation has one): rows arriving meanwhile cannot shift the pages."""
    if "processing_date" in defined(path):  # a day's aggregates: yesterday's is complete
        return {"processing_date": (world["now"] - timedelta(days=1)).date().isoformat()}
    if "from_datetime" not in defined(path):
        return {}
    end = world["now"]
    return {"from_datetime": (end - timedelta(days=days)).isoformat(), "to_datetime": end.isoformat()}


def variants(path: str, world: dict[str, Any]) -> list[dict[str, Any]]:
    names = defined(path)
    fleet = world["connections"]["TELE-ALL"]["fleet_id"]
    window = pinned(path, world)
    out: list[dict[str, Any]] = [window, {"fleet_ids": fleet, "include_source_data": "true", "size": 200, **window}]
    if "only_latest" in names:
        out.append({"fleet_ids": fleet, "only_latest": "false", "size": 200, **window})
    if "from_datetime" in names:
        out.append({**pinned(path, world, days=45), "size": 200})
    if "sort_order" in names:
        out.append({"fleet_ids": fleet, "sort_order": "desc", "size": 200, "only_latest": "false", **window})
    return out


@pytest.mark.parametrize("path", LISTS)
def test_every_page_matches_the_schema_under_every_parameter(world: dict[str, Any], path: str) -> None:
    for params in variants(path, world):
        first = body(world, path, **params)
        assert schema_errors(path, 200, first) == [], f"{path} {params}"
        if first["next_page"]:
            second = body(world, path, **params, cursor=first["next_page"])
            assert schema_errors(path, 200, second) == [], f"{path} {params} page 2"
            assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}


@pytest.mark.parametrize("path", LISTS)
def test_the_fleet_sharing_everything_has_rows_of_every_resource(world: dict[str, Any], path: str) -> None:
    fleet = world["connections"]["TELE-ALL"]["fleet_id"]
    params = {"fleet_ids": fleet, "only_latest": "false", **pinned(path, world, days=8)}
    page = body(world, path, **params)
    assert page["total"] > 0 and page["items"]
    assert {item["fleet_id"] for item in page["items"]} == {fleet}
    if "include_source_data" in defined(path):
        assert not any(item["source_data"] for item in page["items"])  # only when include_source_data is set
        assert all(i["source_data"] for i in body(world, path, **params, include_source_data="true")["items"])


def test_scopes_limit_what_each_fleet_shares(world: dict[str, Any]) -> None:
    """Data of a resource is visible only where the fleet's active share agreement grants its scope."""
    only_vehicles = world["connections"]["TELE-VEHICLES"]["fleet_id"]
    default = world["connections"]["TELE-DEFAULT"]["fleet_id"]
    assert body(world, API + "vehicles", fleet_ids=only_vehicles)["total"] > 0
    for path in (API + "vehicle-locations", API + "users", API + "hos-events", API + "trailers"):
        assert body(world, path, fleet_ids=only_vehicles, only_latest="false")["total"] == 0, path
    # the default agreement (Catena's observed default scopes) grants HOS events but not messages
    assert body(world, API + "hos-events", fleet_ids=default)["total"] > 0
    for path in (API + "messages", API + "engine-statuses", API + "fuel-transactions"):
        assert body(world, path, fleet_ids=default, only_latest="false")["total"] == 0, path


def test_time_windows_over_45_days_are_refused(world: dict[str, Any]) -> None:
    end = world["now"]
    longest = {"from_datetime": (end - timedelta(days=45)).isoformat(), "to_datetime": end.isoformat()}
    for path in (API + "vehicle-locations", API + "hos-events", API + "messages"):
        assert get(world, path, only_latest="false", **longest).status_code == 200
        over = {**longest, "from_datetime": (end - timedelta(days=45, seconds=1)).isoformat()}
        refused = get(world, path, only_latest="false", **over)
        assert refused.status_code == 400
        assert refused.json()["code"] == 400 and "45 days" in refused.json()["detail"]
        assert schema_errors(path, 400, refused.json()) == []
        reversed_window = {"from_datetime": end.isoformat(), "to_datetime": (end - timedelta(hours=1)).isoformat()}
        assert get(world, path, only_latest="false", **reversed_window).status_code == 400
    # only_latest (the default) answers the latest point per vehicle, whatever the window
    assert (
        get(world, API + "vehicle-locations", **{**longest, "from_datetime": "2020-01-01T00:00:00Z"}).status_code == 200
    )


def test_size_limits_are_the_operations_own(world: dict[str, Any]) -> None:
    assert get(world, API + "hos-events", size=500).status_code == 200
    assert get(world, API + "hos-events", size=501).status_code == 422  # the spec's LargeObjectCursorPage
    assert get(world, API + "engine-logs", size=1000).status_code == 200
    assert get(world, API + "engine-logs", size=1001).status_code == 422
    assert get(world, API + "engine-logs", size=0).status_code == 422


def test_a_minute_of_locations_per_vehicle_paged_lazily(world: dict[str, Any]) -> None:
    """A week of one-minute points per vehicle; pages of any size and offset are consistent slices."""
    connection = world["connections"]["TELE-ALL"]
    fleet = connection["fleet_id"]
    vehicles = body(world, API + "vehicles", fleet_ids=fleet)["total"]
    end = datetime.fromisoformat(connection["created_at"]).replace(second=0, microsecond=0)
    window = {"from_datetime": (end - timedelta(days=2)).isoformat(), "to_datetime": end.isoformat()}
    params = {"fleet_ids": fleet, "only_latest": "false", **window}
    big = body(world, API + "vehicle-locations", **params, size=1000)
    assert big["total"] == vehicles * 2 * 24 * 60
    half = body(world, API + "vehicle-locations", **params, size=500)
    rest = body(world, API + "vehicle-locations", **params, size=500, cursor=half["next_page"])
    assert [i["id"] for i in half["items"] + rest["items"]] == [i["id"] for i in big["items"]]
    times = [i["occurred_at"] for i in big["items"]]
    assert times == sorted(times) and times[0] >= window["from_datetime"].replace("+00:00", "")
    latest = body(world, API + "vehicle-locations", fleet_ids=fleet)
    assert latest["total"] == len({i["vehicle_id"] for i in latest["items"]})


def test_region_segments_are_a_vehicles_day(world: dict[str, Any]) -> None:
    """One segment per vehicle and UTC day; yesterday's is complete (a location a minute: 1,440)."""
    fleet = world["connections"]["TELE-ALL"]["fleet_id"]
    vehicles = body(world, API + "vehicles", fleet_ids=fleet)["items"]
    day = pinned(API + "vehicle-region-segments", world)
    segments = body(world, API + "vehicle-region-segments", fleet_ids=fleet, **day)["items"]
    assert sorted(s["vehicle_id"] for s in segments) == sorted(v["id"] for v in vehicles)  # deletions come later
    for segment in segments:
        assert segment["processing_date"] == day["processing_date"]
        assert segment["location_count"] == 1440 and segment["segment_start_time"].startswith(day["processing_date"])
    assert get(world, API + "vehicle-region-segments", fleet_ids=fleet).status_code == 422  # the date is required


def test_filters_select_what_they_name(world: dict[str, Any]) -> None:
    fleet = world["connections"]["TELE-ALL"]
    vehicle = body(world, API + "vehicles", fleet_ids=fleet["fleet_id"])["items"][0]
    window = {**pinned(API + "vehicle-locations", world), "only_latest": "false", "size": 100}
    located = body(world, API + "vehicle-locations", vehicle_ids=vehicle["id"], **window)
    assert located["items"] and {i["vehicle_id"] for i in located["items"]} == {vehicle["id"]}
    driver = located["items"][0]["driver_id"]
    assert body(world, API + "vehicle-locations", driver_ids=driver, **window)["total"] == located["total"]
    assert body(world, API + "vehicles", connection_id=fleet["id"])["total"] > 0
    assert ids(body(world, API + "vehicles", source_ids=vehicle["source_id"])["items"]) == [vehicle["id"]]
    assert ids(body(world, API + "vehicles", vehicle_ids=vehicle["id"])["items"]) == [vehicle["id"]]
    by_ref = body(world, API + "vehicles", fleet_refs="TELE-ALL")["items"]
    assert ids(by_ref) == ids(body(world, API + "vehicles", fleet_ids=fleet["fleet_id"])["items"])
    drivers = body(world, API + "users", fleet_ids=fleet["fleet_id"], is_driver="true")["items"]
    assert drivers and all(u["is_driver"] for u in drivers)
    assert not any(u["is_driver"] for u in body(world, API + "users", is_driver="false")["items"])
    hos = pinned(API + "hos-events", world)
    events = body(world, API + "hos-events", fleet_ids=fleet["fleet_id"], event_type_codes="1", size=500, **hos)
    assert all(e["event_type_code"] == "1" for e in events["items"])
    sent = body(world, API + "messages", sender_ids=driver, size=100, **pinned(API + "messages", world))["items"]
    assert sent and {m["sender_id"] for m in sent} == {driver}
    dvir = pinned(API + "dvir-logs", world)
    log = body(world, API + "dvir-logs", fleet_ids=fleet["fleet_id"], **dvir)["items"][0]
    defects = body(world, API + "dvir-logs/defects", dvir_log_ids=log["id"], **dvir)["items"]
    assert defects and {d["dvir_log_id"] for d in defects} == {log["id"]}
    assert ids(body(world, API + f"dvir-logs/{log['id']}/defects")["items"]) == ids(defects)


def test_sorting_follows_sort_by_and_sort_order(world: dict[str, Any]) -> None:
    fleet = world["connections"]["TELE-ALL"]["fleet_id"]
    params = {"fleet_ids": fleet, "size": 1000, **pinned(API + "engine-logs", world)}
    ascending = body(world, API + "engine-logs", **params)["items"]
    descending = body(world, API + "engine-logs", **params, sort_order="desc")["items"]
    assert [i["id"] for i in descending] == [i["id"] for i in reversed(ascending)]
    by_code = [
        i["fault_code_description"]
        for i in body(world, API + "engine-logs", **params, sort_by="fault_code_description")["items"]
    ]
    present = [code for code in by_code if code is not None]
    assert present == sorted(present) and by_code[: len(present)] == present  # nulls last
    assert get(world, API + "engine-logs", sort_by="no_such_field").status_code == 400


def test_undefined_parameters_are_ignored(world: dict[str, Any]) -> None:
    fleet = world["connections"]["TELE-ALL"]["fleet_id"]
    end = world["now"].isoformat()
    params = {"fleet_ids": fleet, "only_latest": "false", "size": 300, **pinned(API + "vehicle-locations", world)}
    plain = body(world, API + "vehicle-locations", **params)
    noisy = body(world, API + "vehicle-locations", **params, sort_by="speed", updated_after=end, deleted="false")
    assert [i["id"] for i in noisy["items"]] == [i["id"] for i in plain["items"]]


def test_records_change_and_disappear_over_sandbox_time(world: dict[str, Any]) -> None:
    """At speed 3600 a sandbox day is 24 s: over a week of history some rows were corrected, some deleted
    (and stay listed with deleted_at, which is how Catena says a record is gone)."""
    fleet = world["connections"]["TELE-ALL"]["fleet_id"]
    end = world["now"]
    params = {"fleet_ids": fleet, "only_latest": "false", "size": 1000}
    params |= {"from_datetime": (end - timedelta(days=6)).isoformat(), "to_datetime": end.isoformat()}
    changed = deleted = 0
    page = body(world, API + "vehicle-locations", **params)
    for _ in range(10):
        changed += sum(i["updated_at"] > i["created_at"] for i in page["items"])
        deleted += sum(i["deleted_at"] is not None for i in page["items"])
        page = body(world, API + "vehicle-locations", **params, cursor=page["next_page"])
    assert changed > 0 and deleted > 0
    for item in page["items"]:
        assert item["updated_at"] >= item["created_at"]
        if item["deleted_at"]:
            assert item["updated_at"] >= item["deleted_at"]


def test_the_admin_api_changes_exactly_the_records_it_names(world: dict[str, Any]) -> None:
    """``POST /sandbox/telematics/changes``: 1 % of a fleet's locations of a day corrected now, and a
    partner re-reading the day finds exactly those with the new ``updated_at``."""
    connection = world["connections"]["TELE-ALL"]
    # rows an hour old or more: their own changes (at most 72 s after them at speed 3600) are all done
    end = datetime.fromisoformat(connection["created_at"]).replace(second=0, microsecond=0) - timedelta(hours=1)
    window = {"from_datetime": (end - timedelta(days=1)).isoformat(), "to_datetime": end.isoformat()}
    params = {"fleet_ids": connection["fleet_id"], "only_latest": "false", "size": 1000, **window}
    changed = world["sandbox"].admin(
        "POST", "/telematics/changes", json={"fleet_ids": [connection["fleet_id"]], "fraction": 0.01, **window}
    )
    assert changed.status_code == 200, changed.text
    answer = changed.json()
    total = body(world, API + "vehicle-locations", **params)["total"]
    assert answer["changed"] == len(answer["ids"]) == -(-total // 100)
    stamp = datetime.fromisoformat(answer["at"])
    seen: list[dict[str, Any]] = []
    page = body(world, API + "vehicle-locations", **params)
    while True:
        seen.extend(page["items"])
        if not page["next_page"]:
            break
        page = body(world, API + "vehicle-locations", **params, cursor=page["next_page"])
    updated_now = {i["id"] for i in seen if datetime.fromisoformat(i["updated_at"]) == stamp}
    assert updated_now == set(answer["ids"])

    deleted = (
        world["sandbox"]
        .admin(
            "POST",
            "/telematics/changes",
            json={"resource": "vehicles", "fleet_ids": [connection["fleet_id"]], "fraction": 1, "delete": True},
        )
        .json()
    )
    vehicles = body(world, API + "vehicles", fleet_ids=connection["fleet_id"])["items"]
    assert {v["id"] for v in vehicles} == set(deleted["ids"])
    assert all(v["deleted_at"] is not None for v in vehicles)
    later = {"from_datetime": deleted["at"], "to_datetime": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()}
    assert (
        body(world, API + "vehicle-locations", fleet_ids=connection["fleet_id"], only_latest="false", **later)["total"]
        == 0
    )  # deleted vehicles report no more locations
    refused = world["sandbox"].admin("POST", "/telematics/changes", json={"resource": "nothing"})
    assert refused.status_code == 400
