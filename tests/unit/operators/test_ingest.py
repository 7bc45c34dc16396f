from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from catena_airflow.assets import TELEMATICS_ALIAS, telematics_asset
from catena_airflow.operators.ingest import CatenaIngestFleetOperator, duration_of
from tests.unit.airflow_layer import CATENA_URL, invitation_json, page, warehouse_ids


def agreement(
    fleet_id: str = "f1", fleet_ref: str | None = "acme-1", status: str = "active", scopes: dict | None = None
) -> dict:
    return {
        "id": f"sa-{fleet_id}-{fleet_ref}",
        "fleet_id": fleet_id,
        "partner_id": "p",
        "fleet_ref": fleet_ref,
        "status": status,
        "effective_date": "2026-11-27T09:00:00Z",
        "expiration_date": None,
        "scopes": scopes or {"vehicle": "read"},
    }


SENSOR_XCOM = {"fleet_id": "f1", "fleet_ref": "acme-1", "invitation_id": "inv-1", "connection_ids": ["c1"]}


class OutletEvents(dict):
    """What Airflow hands a task as ``outlet_events``: one accessor per outlet, alias events collected by ``add``."""

    def __missing__(self, key):
        accessor = self[key] = AliasAccessor()
        return accessor


class AliasAccessor:
    def __init__(self) -> None:
        self.added: list[tuple[str, dict]] = []

    def add(self, asset, extra=None) -> None:
        self.added.append((asset.uri, extra or {}))


def test_ingests_the_fleet_from_the_sensor_xcom(catena_api, inbox, warehouse):
    # A Catena that ignores the fleet_id filter: only f1's own agreement may count.
    catena_api.get(
        f"{CATENA_URL}/v2/orgs/share-agreements", json=page([agreement("f2", "other"), agreement("f1", "acme-1")])
    )
    catena_api.get(
        f"{CATENA_URL}/v2/telematics/vehicles", json=page([{"id": "v1", "fleet_id": "f1", "vehicle_name": "T1"}])
    )
    locations = catena_api.get(
        f"{CATENA_URL}/v2/telematics/vehicle-locations",
        json=page([{"id": "l1", "fleet_id": "f1", "occurred_at": "2026-11-27T10:00:00Z", "location": None}]),
    )
    op = CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id=SENSOR_XCOM)
    outlet_events = OutletEvents()
    result = op.execute({"outlet_events": outlet_events})
    assert result["fleet_id"] == "f1"
    # The agreement grants vehicles only: locations are neither read nor loaded.
    assert result["resources"] == {"vehicles": {"rows": 1}}
    assert warehouse_ids(warehouse, "vehicles", "f1") == {"v1"}
    assert warehouse_ids(warehouse, "vehicle_locations", "f1") == set()
    assert not locations.called
    assert outlet_events[TELEMATICS_ALIAS].added == [
        ("catena://telematics/vehicles", {"fleet_id": "f1", "fleet_ref": "acme-1", "rows": 1})
    ]
    (sync,) = inbox.resource_syncs(["f1"])["f1"]
    assert (sync.resource, sync.rows_loaded, sync.fleet_ref) == ("vehicles", 1, "acme-1")
    assert op.retries == 3 and op.retry_exponential_backoff


def test_paused_fleet_is_skipped(catena_api, inbox, warehouse):  # before any call to Catena
    inbox.set_fleet_status("f1", status="stale", ingestion_paused=True, reason="connection c1 is stale")
    route = catena_api.get(f"{CATENA_URL}/v2/telematics/vehicles", json=page([]))
    with pytest.raises(AirflowSkipException, match="paused: connection c1 is stale"):
        CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id="f1").execute({})
    assert not route.called


def test_missing_fleet_id_fails_clearly():
    with pytest.raises(AirflowFailException, match="fleet_id must be"):
        CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id={"status": "connected"}).execute({})


@pytest.mark.parametrize(
    ("agreements", "invitation", "problem"),
    [
        ([agreement("f1", "someone-else")], None, "shared under fleet_ref someone-else"),
        ([agreement("f1", "acme-1", status="cancelled")], None, "no active share agreement"),
        ([agreement("f2", "acme-1")], None, "no active share agreement"),
        ([agreement("f1", None)], {"fleet_id": "f9", "fleet_ref": "acme-1"}, "accepted by fleet f9"),
        ([agreement("f1", None)], {"fleet_id": None, "fleet_ref": "acme-1"}, "does not show"),
    ],
)
def test_a_fleet_that_is_not_the_onboardings_is_not_copied(
    catena_api, inbox, warehouse, agreements, invitation, problem
):
    catena_api.get(f"{CATENA_URL}/v2/orgs/share-agreements", json=page(agreements))
    catena_api.get(f"{CATENA_URL}/v2/orgs/invitations/inv-1", json=invitation_json("inv-1", **(invitation or {})))
    data = catena_api.get(f"{CATENA_URL}/v2/telematics/vehicles", json=page([]))
    with pytest.raises(AirflowFailException, match=problem):
        CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id=SENSOR_XCOM).execute({})
    assert not data.called
    assert not warehouse.exists()


def test_an_agreement_without_fleet_ref_is_proven_by_the_onboardings_invitation(catena_api, inbox, warehouse):
    catena_api.get(f"{CATENA_URL}/v2/orgs/share-agreements", json=page([agreement("f1", None)]))
    catena_api.get(
        f"{CATENA_URL}/v2/orgs/invitations/inv-1",
        json=invitation_json("inv-1", status="accepted", fleet_id="f1", fleet_ref="acme-1"),
    )
    catena_api.get(f"{CATENA_URL}/v2/telematics/vehicles", json=page([{"id": "v1", "fleet_id": "f1"}]))
    catena_api.get(f"{CATENA_URL}/v2/telematics/vehicle-locations", json=page([]))
    result = CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id=SENSOR_XCOM).execute({})
    assert result["resources"]["vehicles"]["rows"] == 1


def test_a_resource_whose_schedule_is_held_deactivated_is_not_ingested(catena_api, inbox, warehouse):
    inbox.hold_schedule(
        "sched-1",
        connection_id="c1",
        state="needs_decision",
        reason="failing with the connection active",
        fleet_id="f1",
        resource="vehicle_location",
    )
    both = {"vehicle": "read", "vehicle_location": "read"}
    catena_api.get(f"{CATENA_URL}/v2/orgs/share-agreements", json=page([agreement(scopes=both)]))
    catena_api.get(f"{CATENA_URL}/v2/telematics/vehicles", json=page([{"id": "v1", "fleet_id": "f1"}]))
    locations = catena_api.get(f"{CATENA_URL}/v2/telematics/vehicle-locations", json=page([]))
    result = CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id=SENSOR_XCOM).execute({})
    assert list(result["resources"]) == ["vehicles"]
    assert not locations.called


def test_every_granted_resource_is_loaded_and_a_failure_is_in_the_ledger(catena_api, inbox, warehouse):
    both = {"vehicle": "read", "vehicle_location": "read_write"}
    catena_api.get(f"{CATENA_URL}/v2/orgs/share-agreements", json=page([agreement(scopes=both)]))
    catena_api.get(f"{CATENA_URL}/v2/telematics/vehicles", json=page([{"id": "v1", "fleet_id": "f1"}]))
    catena_api.get(f"{CATENA_URL}/v2/telematics/vehicle-locations", status_code=400, json={"detail": "bad"})
    with pytest.raises(Exception, match="400"):
        CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id=SENSOR_XCOM).execute({})
    syncs = {s.resource: s for s in inbox.resource_syncs(["f1"])["f1"]}
    assert set(syncs) == {"vehicles", "vehicle_locations"}
    assert all("400" in (s.last_error or "") and s.last_success_at is None for s in syncs.values())


def test_nothing_granted_is_a_skip_with_the_reason(catena_api, inbox, warehouse):
    catena_api.get(f"{CATENA_URL}/v2/orgs/share-agreements", json=page([agreement(scopes={"user": "read"})]))
    with pytest.raises(AirflowSkipException, match="grants user"):
        CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id=SENSOR_XCOM, catena_resources=["vehicles"]).execute(
            {}
        )


@pytest.mark.parametrize(("value", "days"), [("2", 2.0), (0.5, 0.5), (timedelta(hours=3), 0.125)])
def test_initial_lookback_is_a_timedelta_or_days(value, days):
    assert duration_of(value, name="initial_lookback", unit="days") == timedelta(days=days)


@pytest.mark.parametrize("value", ["soon", 0, "-1", float("nan"), timedelta(0)])
def test_a_bad_initial_lookback_names_the_field(value):
    with pytest.raises(AirflowFailException, match="initial_lookback"):
        duration_of(value, name="initial_lookback", unit="days")


def test_a_correction_window_may_be_zero_but_not_negative():
    assert duration_of("0", name="correction_window", unit="hours", allow_zero=True) == timedelta(0)
    assert duration_of(1.5, name="correction_window", unit="hours", allow_zero=True) == timedelta(minutes=90)
    with pytest.raises(AirflowFailException, match="correction_window must be zero or more"):
        duration_of(-1, name="correction_window", unit="hours", allow_zero=True)


def test_the_alias_is_an_outlet_even_when_outlets_are_given():
    # A mapped task gets outlets=[] from partial()'s defaults; its events would be dropped without the alias.
    assert CatenaIngestFleetOperator(task_id="a", fleet_id="f1", outlets=[]).outlets == [TELEMATICS_ALIAS]
    other = telematics_asset("mine")
    assert CatenaIngestFleetOperator(task_id="b", fleet_id="f1", outlets=[other]).outlets == [other, TELEMATICS_ALIAS]


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"catena_resources": ["vehicles", "vehicle_positions"]}, "catena_resources: unknown telematics resource"),
        ({"initial_lookback": "a week"}, "initial_lookback must be"),
        ({"correction_window": -1}, "correction_window must be zero or more"),
    ],
)
def test_arguments_a_retry_cannot_mend_fail_before_catena_is_asked(catena_api, inbox, warehouse, arguments, problem):
    agreements = catena_api.get(f"{CATENA_URL}/v2/orgs/share-agreements", json=page([agreement()]))
    with pytest.raises(AirflowFailException, match=problem):
        CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id=SENSOR_XCOM, **arguments).execute({})
    assert not agreements.called


def test_windows_default_to_the_catena_configuration(catena_api, inbox, warehouse, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CATENA__INITIAL_LOOKBACK_DAYS", "0.5")
    catena_api.get(
        f"{CATENA_URL}/v2/orgs/share-agreements", json=page([agreement(scopes={"vehicle_location": "read"})])
    )
    locations = catena_api.get(f"{CATENA_URL}/v2/telematics/vehicle-locations", json=page([]))
    CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id=SENSOR_XCOM).execute({"outlet_events": OutletEvents()})
    asked = locations.last_request.qs
    span = datetime.fromisoformat(asked["to_datetime"][0].upper()) - datetime.fromisoformat(
        asked["from_datetime"][0].upper()
    )
    assert span == timedelta(hours=12)
