"""The resource table against Catena's OpenAPI spec: every path, filter and field it names is one the spec defines."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from catena_airflow.client import CatenaClient
from catena_airflow.ingest.telematics_resources import (
    TELEMATICS_RESOURCES,
    VEHICLE_LOCATIONS,
    TelematicsResource,
    resources_for_scopes,
    resources_named,
)

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "data/catena-openapi/telematics.yaml").read_text())
#: Query parameters of each spec path that filter on a time, whatever the record field.
TIME_PARAMS = {"from_datetime", "to_datetime", "start_date", "end_date", "updated_after", "updated_since"}


def _get(definition: TelematicsResource) -> dict:
    return SPEC["paths"][definition.path]["get"]


def _query_params(definition: TelematicsResource) -> set[str]:
    return {p["name"] for p in _get(definition)["parameters"] if p.get("in") == "query"}


def _item_properties(definition: TelematicsResource) -> set[str]:
    schema = _get(definition)["responses"]["200"]["content"]["application/json"]["schema"]
    page_name = schema["$ref"].rsplit("/", 1)[-1]
    item_ref = SPEC["components"]["schemas"][page_name]["properties"]["items"]["items"]["$ref"]
    return set(SPEC["components"]["schemas"][item_ref.rsplit("/", 1)[-1]]["properties"])


RESOURCE_IDS = [r.name for r in TELEMATICS_RESOURCES]


@pytest.mark.parametrize("definition", TELEMATICS_RESOURCES, ids=RESOURCE_IDS)
def test_every_filter_sent_is_one_the_spec_defines_for_the_path(definition):
    sent = {"fleet_ids", "size", "cursor", *definition.params}
    if definition.time_filter is not None:
        sent |= {definition.time_filter.from_param, definition.time_filter.to_param}
    assert sent <= _query_params(definition)


@pytest.mark.parametrize("definition", TELEMATICS_RESOURCES, ids=RESOURCE_IDS)
def test_a_time_filter_is_used_exactly_where_the_spec_has_one(definition):
    defined = _query_params(definition) & TIME_PARAMS
    used = (
        set()
        if definition.time_filter is None
        else {definition.time_filter.from_param, definition.time_filter.to_param}
    )
    assert used == defined


@pytest.mark.parametrize("definition", TELEMATICS_RESOURCES, ids=RESOURCE_IDS)
def test_cursor_and_primary_key_are_fields_of_the_spec_record(definition):
    properties = _item_properties(definition)
    assert {definition.cursor, definition.primary_key, "fleet_id", *definition.json_columns} <= properties
    assert (definition.primary_key, definition.write_disposition) == ("id", "merge")


@pytest.mark.parametrize("definition", TELEMATICS_RESOURCES, ids=RESOURCE_IDS)
def test_the_client_method_reads_the_path_and_takes_the_filters(definition, requests_mock):
    method = getattr(CatenaClient, definition.list_method)
    accepted = set(inspect.signature(method).parameters)
    assert {"fleet_ids", "size", *definition.params} <= accepted
    if definition.time_filter is not None:
        assert {definition.time_filter.from_param, definition.time_filter.to_param} <= accepted
    requests_mock.post("http://catena.test/token", json={"access_token": "t", "expires_in": 3600})
    route = requests_mock.get(f"http://catena.test{definition.path}", json={"items": [], "next_page": None})
    client = CatenaClient(
        client_id="i", client_secret="s", api_url="http://catena.test", auth_url="http://catena.test/token"
    )
    getattr(client, definition.list_method)(fleet_ids=["f"]).all()
    assert route.called


def test_location_history_asks_for_every_point_not_the_latest_only():
    assert VEHICLE_LOCATIONS.params["only_latest"] is False


def test_names_are_unique_and_selectable():
    assert len(set(RESOURCE_IDS)) == len(RESOURCE_IDS)
    assert resources_named(None) == TELEMATICS_RESOURCES
    assert [r.name for r in resources_named(["vehicle_locations"])] == ["vehicle_locations"]
    with pytest.raises(ValueError, match="unknown telematics resource"):
        resources_named(["trailers"])


def test_resources_for_scopes_reads_only_what_the_agreement_grants():
    assert [r.name for r in resources_for_scopes({"vehicle": "read"})] == ["vehicles"]
    assert [r.name for r in resources_for_scopes({"vehicle": "read", "vehicle_location": None})] == ["vehicles"]
    assert resources_for_scopes({}) == ()
    assert resources_for_scopes(None) == ()


def test_every_scope_is_a_resource_the_orgs_spec_enumerates():
    orgs = yaml.safe_load((Path(__file__).resolve().parents[2] / "data/catena-openapi/orgs.yaml").read_text())
    enum = set(orgs["components"]["schemas"]["ResourceEnum"]["enum"])
    assert {r.scope for r in TELEMATICS_RESOURCES} <= enum
