"""Contract test: the client against Catena's published OpenAPI specs.

The specs are copied unchanged into ``tests/data/catena-openapi/`` (see its README for sources and
hashes). Checked here:

* every request the client makes (method, path, query parameter names) is an operation of a spec;
* every response model accepts an instance built from its spec schema's required properties, and
  the spec's own examples (component examples and the 74 webhook event examples);
* the client requires no field the spec leaves optional, except where noted below;
* request models send only properties the spec declares, except where noted below.

Disagreements between the specs and the client, on purpose:

* Share-agreement path: the spec serves ``/v2/orgs/share-agreements`` (the client's default); the
  older SDK spec and a real probe used ``share_agreements``, which the client still offers
  (``share_agreements_path``) but which no spec here contains.
* ``Webhook`` (create response) does not list ``id`` as required; the client requires it, since a
  subscription without an id cannot be managed (every observed response carries it).
* ``WebhookUpdate`` lists only ``url``, ``filters``, ``secret``; older docs also PATCH ``status``,
  which the client allows.
* Event records require only their identifiers (and ``status``) although the event schemas
  require more, so a signed event with a missing field is still stored (see ``client/events.py``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests_mock as requests_mock_module
import yaml

from catena_airflow.client import CatenaClient
from catena_airflow.client.events import WebhookEnvelope, record_model_for
from catena_airflow.client.models import (
    CatenaModel,
    Connection,
    Execution,
    Fleet,
    Invitation,
    InvitationCreate,
    Schedule,
    ShareAgreement,
    TelematicsRecord,
    Token,
    Vehicle,
    VehicleLocation,
    WebhookCreate,
    WebhookLog,
    WebhookMetrics,
    WebhookSubscription,
    WebhookUpdate,
)
from tests.unit.client import payloads
from tests.unit.client.conftest import API, AUTH

SPECS = Path(__file__).parents[2] / "data" / "catena-openapi"
SPEC_NAMES = ("authentication", "orgs", "integrations", "notifications", "telematics")
AUTH_SERVER_PREFIX = "/realms/catena"  # authentication.yaml paths are relative to it
METHODS = ("get", "post", "put", "patch", "delete")


@cache
def spec(name: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (SPECS / f"{name}.yaml").open() as handle:
        return yaml.load(handle, Loader=loader)


def as_json(value: Any) -> Any:
    """YAML turns unquoted dates into ``date`` objects; on the wire they are strings."""
    return json.loads(json.dumps(value, default=str))


def schema(name: str, component: str) -> dict[str, Any]:
    return spec(name)["components"]["schemas"][component]


# --------------------------------------------------------------------------- instance generation


def instance_from(document: dict[str, Any], node: Any, *, depth: int = 0) -> Any:
    """A value satisfying ``node`` built from required properties only (the least a server may send)."""
    node = _deref(document, node)
    for combinator in ("allOf", "anyOf", "oneOf"):
        if combinator in node:
            return instance_from(document, node[combinator][0], depth=depth)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        required = node.get("required", [])
        return {key: instance_from(document, node["properties"][key], depth=depth + 1) for key in required}
    if kind == "array":
        return [instance_from(document, node.get("items", {}), depth=depth + 1)] if depth < 4 else []
    if kind == "integer":
        return int(node.get("minimum", 1))
    if kind == "number":
        return float(node.get("minimum", 1.0))
    if kind == "boolean":
        return True
    if kind == "string":
        return {
            "uuid": "019d0000-0000-7000-8000-000000000001",
            "date-time": "2026-03-01T12:00:00Z",
            "date": "2026-03-01",
            "uri": "https://example.com/x",
            "email": "ops@example.com",
        }.get(node.get("format"), "USA" if node.get("pattern") == r"^\w{3}$" else "text")
    if "additionalProperties" in node:
        return {}
    return "text"  # an untyped schema ({}) accepts anything; Catena sends strings there (masked url/secret)


def _deref(document: dict[str, Any], node: Any) -> dict[str, Any]:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node if isinstance(node, dict) else {}


# --------------------------------------------------------------------------- operations


def spec_operations() -> dict[tuple[str, str], tuple[str, re.Pattern[str], set[str]]]:
    """``(METHOD, templated path) -> (spec name, path regex, query parameter names)``."""
    operations = {}
    for name in SPEC_NAMES:
        document = spec(name)
        prefix = AUTH_SERVER_PREFIX if name == "authentication" else ""
        for path, item in document["paths"].items():
            for method in METHODS:
                if method not in item:
                    continue
                params = [_deref(document, p) for p in item[method].get("parameters", []) + item.get("parameters", [])]
                query = {p["name"] for p in params if p.get("in") == "query"}
                pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(prefix + path)) + "$")
                operations[(method.upper(), prefix + path)] = (name, pattern, query)
    return operations


def find_operation(method: str, path: str):
    for (op_method, template), (name, pattern, query) in spec_operations().items():
        if op_method == method and pattern.match(path):
            return template, name, query
    return None


def exercise_every_endpoint(client: CatenaClient) -> None:
    """Calls each public client method once, with every filter it offers."""
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    client.fetch_token()
    client.create_invitation(fleet_ref="F")
    client.get_invitation("i1")
    client.list_invitations(fleet_ref="F", size=10).all()
    client.delete_invitation("i1")
    client.list_share_agreements(fleet_id="f", fleet_ref="F", status="active", size=10).all()
    client.get_share_agreement("sa1")
    client.list_fleets(fleet_refs=["F"], size=10).all()
    client.get_fleet("f1")
    client.list_connections(tsp_id="t", fleet_ids=["f"], fleet_refs=["F"], size=10).all()
    client.get_connection("c1")
    client.list_schedules("c1", resource="vehicle", size=10).all()
    client.get_schedule("c1", "s1")
    client.activate_schedule("c1", "s1")
    client.list_executions("c1", "s1", size=10).all()
    client.create_webhook_subscription(url="https://p.example/h", event_name="invitation.*")
    client.list_webhook_subscriptions(event_name="invitation.accepted", status="active", size=10).all()
    client.get_webhook_subscription("w1")
    client.update_webhook_subscription("w1", secret="a-new-secret-123")
    client.delete_webhook_subscription("w1")
    client.activate_webhook_subscription("w1")
    client.pause_webhook_subscription("w1")
    client.list_webhook_logs("w1", start_date=moment, end_date=moment, status="failed", size=10).all()
    client.get_webhook_metrics("w1")
    client.replay_webhook_subscription("w1")
    client.list_vehicles(
        fleet_ids=["f"],
        fleet_refs=["F"],
        connection_id="c",
        vehicle_ids=["v"],
        source_ids=["s"],
        include_source_data=True,
        sort_by="updated_at",
        sort_order="asc",
        size=10,
    ).all()
    client.get_vehicle("v1", include_source_data=True)
    client.list_vehicle_locations(
        only_latest=False,
        fleet_ids=["f"],
        fleet_refs=["F"],
        connection_id="c",
        from_datetime=moment,
        to_datetime=moment,
        driver_ids=["d"],
        vehicle_ids=["v"],
        include_source_data=True,
        size=10,
    ).all()
    client.list_telematics(
        "/v2/telematics/trailer-statuses",
        only_latest=False,
        fleet_ids=["f"],
        fleet_refs=["F"],
        connection_id="c",
        from_datetime=moment,
        to_datetime=moment,
        trailer_ids=["t"],
        include_source_data=True,
        size=10,
    ).all()


@pytest.fixture
def recorded_requests(client, requests_mock):
    def respond(request, context):
        path = request.path
        if request.url.startswith(AUTH):
            return {"access_token": "t", "expires_in": 3600}
        if request.method == "DELETE" or path.endswith("/replay"):
            context.status_code = 204 if request.method == "DELETE" else 202
            return {}
        bodies = {
            "/v2/notifications/webhooks/w1/metrics": payloads.webhook_metrics(),
            "/v2/integrations/connections/c1/schedules/s1": payloads.schedule(),
            "/v2/integrations/connections/c1/schedules/s1/activate": payloads.schedule(),
        }
        if path in bodies:
            return bodies[path]
        if request.method == "GET" and path.rstrip("/").split("/")[-1] in {
            "invitations",
            "share-agreements",
            "fleets",
            "connections",
            "schedules",
            "executions",
            "webhooks",
            "logs",
            "vehicles",
            "vehicle-locations",
            "trailer-statuses",
        }:
            return payloads.page([])
        single = {
            "invitations": payloads.invitation(),
            "share-agreements": payloads.share_agreement(),
            "fleets": payloads.fleet(),
            "connections": payloads.connection(),
            "webhooks": payloads.webhook(),
            "vehicles": payloads.vehicle(),
        }
        for segment, body in single.items():
            if f"/{segment}" in path:
                return body
        raise AssertionError(f"unexpected request {request.method} {path}")

    requests_mock.register_uri(requests_mock_module.ANY, requests_mock_module.ANY, json=respond)
    exercise_every_endpoint(client)
    return requests_mock.request_history


def test_every_client_request_is_a_spec_operation(recorded_requests):
    missing, unknown_query = [], []
    for request in recorded_requests:
        path = request.path if not request.url.startswith(AUTH) else AUTH.split("auth.catena.test")[1]
        found = find_operation(request.method, path)
        if found is None:
            missing.append(f"{request.method} {path}")
            continue
        _, _, query = found
        sent = {key for key in request.qs} - {"cursor"}
        unknown_query.extend(f"{request.method} {path}?{key}" for key in sent - {q.lower() for q in query})
    assert missing == []
    assert unknown_query == []
    assert len(recorded_requests) >= 28


def test_default_share_agreement_spelling_is_in_the_spec_and_the_other_is_not():
    assert find_operation("GET", "/v2/orgs/share-agreements") is not None
    assert find_operation("GET", "/v2/orgs/share_agreements") is None
    assert CatenaClient(client_id="c", client_secret="s", api_url=API, auth_url=AUTH).share_agreements_path == (
        "share-agreements"
    )


# --------------------------------------------------------------------------- models

RESPONSE_MODELS: list[tuple[type[CatenaModel], str, str]] = [
    (Token, "authentication", "TokenResponse"),
    (Invitation, "orgs", "InvitationRead"),
    (ShareAgreement, "orgs", "ShareAgreementRead"),
    (Fleet, "orgs", "FleetRead"),
    (Connection, "integrations", "ConnectionRead"),
    (Schedule, "integrations", "ScheduleRead"),
    (Execution, "integrations", "ExecutionRead"),
    (WebhookSubscription, "notifications", "WebhookRead"),
    (WebhookSubscription, "notifications", "Webhook"),
    (WebhookLog, "notifications", "WebhookLogRead"),
    (WebhookMetrics, "notifications", "WebhookMetrics"),
    (Vehicle, "telematics", "VehicleRead"),
    (VehicleLocation, "telematics", "VehicleLocationRead"),
]


def _telematics_list_items() -> list[str]:
    """The record schema of every telematics list endpoint (what ``list_telematics`` parses)."""
    telematics = spec("telematics")
    names = set()
    for path, operations in telematics["paths"].items():
        response = operations.get("get", {}).get("responses", {}).get("200", {})
        page_ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
        page = telematics["components"]["schemas"].get(page_ref.rsplit("/", 1)[-1], {})
        item_ref = page.get("properties", {}).get("items", {}).get("items", {}).get("$ref")
        if "{" not in path and item_ref and "/analytics/" not in path and "/ref-" not in path:
            names.add(item_ref.rsplit("/", 1)[-1])
    return sorted(names)


RESPONSE_MODELS += [(TelematicsRecord, "telematics", name) for name in _telematics_list_items()]
#: Fields the client requires although the spec schema does not (see the module docstring).
STRICTER_THAN_SPEC = {("Webhook", "id")}


def _ids(cases):
    return [f"{model.__name__}-{component}" for model, _, component in cases]


@pytest.mark.parametrize(("model", "spec_name", "component"), RESPONSE_MODELS, ids=_ids(RESPONSE_MODELS))
def test_model_accepts_instance_from_required_properties(model, spec_name, component):
    instance = instance_from(spec(spec_name), schema(spec_name, component))
    for key, _ in STRICTER_THAN_SPEC:
        if key == component:
            instance.setdefault("id", "019d0000-0000-7000-8000-000000000001")
    parsed = model.model_validate(instance)
    assert set(parsed.to_wire(exclude_unset=True)) == set(instance)


@pytest.mark.parametrize(("model", "spec_name", "component"), RESPONSE_MODELS, ids=_ids(RESPONSE_MODELS))
def test_model_requires_nothing_the_spec_leaves_optional(model, spec_name, component):
    spec_required = set(schema(spec_name, component).get("required", []))
    ours = {(field.alias or name) for name, field in model.model_fields.items() if field.is_required()} - {
        name for comp, name in STRICTER_THAN_SPEC if comp == component
    }
    assert ours <= spec_required


@pytest.mark.parametrize(("model", "spec_name", "component"), RESPONSE_MODELS, ids=_ids(RESPONSE_MODELS))
def test_model_accepts_the_spec_example(model, spec_name, component):
    example = schema(spec_name, component).get("example")
    if not example:
        pytest.skip(f"{component} has no example in the spec")
    # Some spec examples omit their own required fields: fill those from the generated instance,
    # so what is tested is that every value the example shows is accepted.
    required = instance_from(spec(spec_name), schema(spec_name, component))
    if (component, "id") in STRICTER_THAN_SPEC:
        required.setdefault("id", "019d0000-0000-7000-8000-000000000001")
    parsed = model.model_validate({**required, **as_json(example)})
    assert set(as_json(example)) <= set(parsed.to_wire())


@pytest.mark.parametrize(
    ("model", "spec_name", "component", "allowed_extra"),
    [
        (InvitationCreate, "orgs", "InvitationCreate", set()),
        (WebhookCreate, "notifications", "WebhookCreate", set()),
        (WebhookUpdate, "notifications", "WebhookUpdate", {"status"}),
    ],
)
def test_request_models_send_only_spec_properties(model, spec_name, component, allowed_extra):
    spec_schema = schema(spec_name, component)
    assert set(model.model_fields) - allowed_extra <= set(spec_schema["properties"])
    assert {n for n, f in model.model_fields.items() if f.is_required()} == set(spec_schema.get("required", []))


def test_invitation_create_limits_match_the_spec():
    props = schema("orgs", "InvitationCreate")["properties"]
    assert (props["expires_in_hours"]["minimum"], props["expires_in_hours"]["maximum"]) == (1, 672)
    assert props["fleet_website"]["maxLength"] == 2083


def test_webhook_create_response_is_one_or_a_list():
    response = schema("notifications", "Response_Create_Webhook_Subscription")
    assert [branch.get("type", "object") for branch in response["anyOf"]] == ["object", "array"]


# --------------------------------------------------------------------------- webhook events


def _event_schemas() -> list[tuple[str, dict[str, Any]]]:
    schemas = spec("notifications")["components"]["schemas"]
    return sorted(
        (name, body)
        for name, body in schemas.items()
        if isinstance(body, dict) and {"webhook_id", "data"} <= set(body.get("properties", {}))
    )


EVENT_SCHEMAS = _event_schemas()


def test_spec_has_event_schemas():
    assert len(EVENT_SCHEMAS) >= 70


@pytest.mark.parametrize(("component", "body"), EVENT_SCHEMAS, ids=[name for name, _ in EVENT_SCHEMAS])
def test_envelope_and_records_accept_every_event_example(component, body):
    example = as_json(body.get("example"))
    assert example, f"{component} has no example"
    envelope = WebhookEnvelope.model_validate(example)
    event_name = envelope.event_name or _event_name_from_schema(body)
    model = record_model_for(event_name)
    records = [model.model_validate(item) for item in envelope.data]
    assert len(records) == len(example["data"])


def _event_name_from_schema(body: dict[str, Any]) -> str:
    return str(body["properties"]["event_name"].get("default", ""))
