"""The resource table against Catena's OpenAPI spec: every path, filter and field it names is one the spec defines."""

from __future__ import annotations

import inspect
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from catena_airflow.client import CatenaClient
from catena_airflow.ingest.telematics_resources import (
    TELEMATICS_RESOURCES,
    VEHICLE_LOCATIONS,
    DayFilter,
    TelematicsResource,
    TimeFilter,
    resources_for_scopes,
    resources_named,
)

SPEC_DIR = Path(__file__).resolve().parents[2] / "data/catena-openapi"
SPEC = yaml.safe_load((SPEC_DIR / "telematics.yaml").read_text())
ORGS = yaml.safe_load((SPEC_DIR / "orgs.yaml").read_text())
#: Query parameters of each spec path that filter on a time, whatever the record field. hos-events'
#: active_from_datetime / active_to_datetime select by duration overlap, not by a cursor: not counted.
TIME_PARAMS = {
    "from_datetime",
    "to_datetime",
    "start_date",
    "end_date",
    "updated_after",
    "updated_since",
    "processing_date",
}


def _time_params(definition: TelematicsResource) -> set[str]:
    """The query parameters the definition's time filter sends."""
    time_filter = definition.time_filter
    if time_filter is None:
        return set()
    if isinstance(time_filter, DayFilter):
        return {time_filter.param}
    return {time_filter.from_param, time_filter.to_param}


def _get(definition: TelematicsResource) -> dict:
    return SPEC["paths"][definition.path]["get"]


def _query_params(definition: TelematicsResource) -> set[str]:
    return set(_query_param_specs(definition))


def _query_param_specs(definition: TelematicsResource) -> dict[str, dict]:
    return {p["name"]: p for p in _get(definition)["parameters"] if p.get("in") == "query"}


def _fleet_data_list_paths() -> set[str]:
    """Spec paths that list a fleet's data: take ``fleet_ids``, no path parameter, not analytics or ref-*."""
    return {
        path
        for path, operations in SPEC["paths"].items()
        if "get" in operations
        and "{" not in path
        and "/analytics/" not in path
        and not path.removeprefix("/v2/telematics/").startswith("ref-")
        and "fleet_ids" in {p["name"] for p in operations["get"].get("parameters", [])}
    }


def _item_schema(definition: TelematicsResource) -> dict:
    schema = _get(definition)["responses"]["200"]["content"]["application/json"]["schema"]
    page_name = schema["$ref"].rsplit("/", 1)[-1]
    item_ref = SPEC["components"]["schemas"][page_name]["properties"]["items"]["items"]["$ref"]
    return SPEC["components"]["schemas"][item_ref.rsplit("/", 1)[-1]]


def _item_properties(definition: TelematicsResource) -> set[str]:
    return set(_item_schema(definition)["properties"])


RESOURCE_IDS = [r.name for r in TELEMATICS_RESOURCES]


@pytest.mark.parametrize("definition", TELEMATICS_RESOURCES, ids=RESOURCE_IDS)
def test_every_filter_sent_is_one_the_spec_defines_for_the_path(definition):
    sent = {"fleet_ids", "size", "cursor", *definition.params, *_time_params(definition)}
    assert sent <= _query_params(definition)


@pytest.mark.parametrize("definition", TELEMATICS_RESOURCES, ids=RESOURCE_IDS)
def test_a_time_filter_is_used_exactly_where_the_spec_has_one(definition):
    assert _time_params(definition) == _query_params(definition) & TIME_PARAMS


@pytest.mark.parametrize("definition", TELEMATICS_RESOURCES, ids=RESOURCE_IDS)
def test_cursor_and_primary_key_are_fields_of_the_spec_record(definition):
    properties = _item_properties(definition)
    assert {definition.cursor, definition.primary_key, "fleet_id", *definition.json_columns} <= properties
    assert (definition.primary_key, definition.write_disposition) == ("id", "merge")


@pytest.mark.parametrize("definition", TELEMATICS_RESOURCES, ids=RESOURCE_IDS)
def test_the_client_reads_the_path_with_the_filters(definition, requests_mock):
    requests_mock.post("http://catena.test/token", json={"access_token": "t", "expires_in": 3600})
    route = requests_mock.get(f"http://catena.test{definition.path}", json={"items": [], "next_page": None})
    client = CatenaClient(
        client_id="i", client_secret="s", api_url="http://catena.test", auth_url="http://catena.test/token"
    )
    if definition.list_method is None:
        list_page = client.list_telematics
        filters = {"path": definition.path}
    else:
        list_page = getattr(client, definition.list_method)
        accepted = set(inspect.signature(list_page).parameters)
        assert {"fleet_ids", "size", *definition.params} <= accepted
        assert _time_params(definition) <= accepted
        filters = {}
    list_page(fleet_ids=["f"], **filters, **definition.params).all()
    assert route.called
    assert route.last_request.qs["fleet_ids"] == ["f"]


@pytest.mark.parametrize("definition", TELEMATICS_RESOURCES, ids=RESOURCE_IDS)
def test_the_page_size_is_capped_where_the_spec_caps_it(definition):
    assert definition.max_page_size == _query_param_specs(definition)["size"]["schema"]["maximum"]


def test_location_history_asks_for_every_point_not_the_latest_only():
    assert VEHICLE_LOCATIONS.params["only_latest"] is False


@pytest.mark.parametrize("definition", TELEMATICS_RESOURCES, ids=RESOURCE_IDS)
def test_a_default_that_hides_history_is_overridden(definition):
    """``only_latest`` defaults to true where the spec has it: one row per thing, the history hidden."""
    only_latest = _query_param_specs(definition).get("only_latest")
    if only_latest is not None and only_latest["schema"].get("default") is True:
        assert definition.params.get("only_latest") is False
    required = {name for name, p in _query_param_specs(definition).items() if p.get("required")}
    assert required <= {*definition.params, *_time_params(definition)}


@pytest.mark.parametrize(
    "definition", [r for r in TELEMATICS_RESOURCES if isinstance(r.time_filter, TimeFilter)], ids=lambda r: r.name
)
def test_the_time_filter_is_the_cursor_and_the_window_the_spec_allows(definition):
    """The spec says which field each time filter applies to and how long a window may be: read from its text."""
    specs = _query_param_specs(definition)
    start = specs[definition.time_filter.from_param]["description"]
    end = specs[definition.time_filter.to_param]["description"]
    assert f"`{definition.cursor} >= {definition.time_filter.from_param}`" in start
    assert f"`{definition.cursor} < {definition.time_filter.to_param}`" in end
    days = definition.time_filter.max_window / timedelta(days=1)
    assert f"cannot exceed {days:g} days" in start and f"cannot exceed {days:g} days" in end


@pytest.mark.parametrize(
    "definition", [r for r in TELEMATICS_RESOURCES if isinstance(r.time_filter, DayFilter)], ids=lambda r: r.name
)
def test_a_day_filter_is_a_required_date_on_the_cursor_field(definition):
    """processing_date: one UTC day per call, the record's own field of the same name is the cursor."""
    param = _query_param_specs(definition)[definition.time_filter.param]
    assert param.get("required") is True and param["schema"]["format"] == "date"
    assert definition.cursor == definition.time_filter.param
    assert _item_schema(definition)["properties"][definition.cursor]["format"] == "date"


def test_every_fleet_data_list_of_the_spec_is_loaded():
    """ref-*, analytics and per-id paths are left out (the module docstring says why); every other list is read."""
    assert {r.path for r in TELEMATICS_RESOURCES} == _fleet_data_list_paths()


@pytest.mark.parametrize("definition", TELEMATICS_RESOURCES, ids=RESOURCE_IDS)
def test_json_columns_are_nested_values(definition):
    """Only objects and lists are kept whole; a scalar declared JSON would change its column type."""
    properties = _item_schema(definition)["properties"]
    schemas = SPEC["components"]["schemas"]
    for column in definition.json_columns:
        prop = properties[column]
        options = [prop, *prop.get("anyOf", []), *prop.get("allOf", [])]
        resolved = [schemas[o["$ref"].rsplit("/", 1)[-1]] if "$ref" in o else o for o in options]
        kinds = {o.get("type") for o in resolved} | {"object" for o in resolved if "properties" in o or "anyOf" in o}
        assert kinds & {"object", "array"}, column


def test_names_are_unique_and_selectable():
    assert len(set(RESOURCE_IDS)) == len(RESOURCE_IDS)
    assert resources_named(None) == TELEMATICS_RESOURCES
    assert [r.name for r in resources_named(["vehicle_locations"])] == ["vehicle_locations"]
    assert [r.name for r in resources_named(["trailers", "hos_events"])] == ["trailers", "hos_events"]
    with pytest.raises(ValueError, match="unknown telematics resource"):
        resources_named(["ref_timezones"])


def test_resources_for_scopes_reads_only_what_the_agreement_grants():
    assert [r.name for r in resources_for_scopes({"vehicle": "read"})] == ["vehicles"]
    assert [r.name for r in resources_for_scopes({"message": "read", "hos_event": "read_write"})] == [
        "hos_events",
        "messages",
        "group_messages",
    ]
    every = {scope: "read" for scope in ORGS["components"]["schemas"]["ResourceEnum"]["enum"]}
    assert resources_for_scopes(every) == TELEMATICS_RESOURCES
    assert [r.name for r in resources_for_scopes({"vehicle": "read", "vehicle_location": None})] == ["vehicles"]
    assert resources_for_scopes({}) == ()
    assert resources_for_scopes(None) == ()


@pytest.mark.parametrize("definition", TELEMATICS_RESOURCES, ids=RESOURCE_IDS)
def test_every_scope_is_a_resource_the_orgs_spec_enumerates(definition):
    assert definition.scope in ORGS["components"]["schemas"]["ResourceEnum"]["enum"]
