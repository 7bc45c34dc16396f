"""Every endpoint the sandbox serves, checked against Catena's published OpenAPI schemas.

Each case calls the real sandbox process and validates the response body with jsonschema against the
schema the spec gives for that operation and status code ($refs resolved in the spec's components).
Webhook envelopes received during the run are checked against the event schemas of the notifications
spec. Validation is strict: a field the schema does not define fails (``openapi_schemas``, with its one
allowance list). A last test makes sure no served endpoint is left out and none is missing from
Catena's specs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from catena_sandbox.telematics.resources import BY_PATH
from catena_sandbox.variations import KNOBS
from tests.integration.sandbox.helpers import invite, records, subscribe, wait_connected
from tests.integration.sandbox.openapi_schemas import event_schema_name, spec
from tests.integration.sandbox.receiver import Receiver

pytestmark = pytest.mark.integration

TOKEN = "/protocol/openid-connect/token"
REVOKE = "/protocol/openid-connect/revoke"
REALM = "/realms/catena"
SA = "/v2/orgs/share-agreements"
CONN = "/v2/integrations/connections"
HOOKS = "/v2/notifications/webhooks"
SERVED_TELEMATICS = frozenset(BY_PATH)
ALL_FAMILIES = (
    "invitation.*",
    "share_agreement.*",
    "connection.*",
    "fleet_connection.*",
    "execution.*",
    "schedule.*",
    "webhook.*",
)


@dataclass(frozen=True)
class Case:
    spec: str
    method: str
    path: str  # the spec's path template
    status: int
    url: str | None = None  # the served URL template when it differs from the spec's (underscore spelling)
    json: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    form: dict[str, str] | None = None
    auth: bool = True
    faults: dict[str, float] | None = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.url or self.path} {self.status}"


CREDENTIALS = {"client_id": "sandbox", "client_secret": "sandbox-secret"}
# Every telematics list the sandbox serves (a path with no parameter); test_every_served_endpoint_... below
# fails if one is missing.
TELEMATICS_LISTS = sorted(
    path
    for path, operations in spec("telematics").paths.items()
    if "get" in operations and "{" not in path and path in SERVED_TELEMATICS
)
REQUIRED = {"/v2/telematics/vehicle-region-segments": {"processing_date": datetime.now(UTC).date().isoformat()}}
ATTACHMENTS_OF_UNKNOWN = "/v2/telematics/hos-events/{unknown_id}/attachments"
OVER_45_DAYS = {"from_datetime": "2026-01-01T00:00:00Z", "to_datetime": "2026-02-15T00:00:01Z"}
CASES = [
    # authentication (paths relative to /realms/catena)
    Case("authentication", "POST", TOKEN, 200, form={"grant_type": "client_credentials", **CREDENTIALS}),
    Case(
        "authentication",
        "POST",
        TOKEN,
        401,
        form={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    ),
    Case("authentication", "POST", REVOKE, 200, form={"token": "{revocable_token}", **CREDENTIALS}),
    # orgs: invitations
    Case("orgs", "GET", "/v2/orgs/invitations", 200),
    Case("orgs", "GET", "/v2/orgs/invitations", 401, auth=False),
    Case("orgs", "GET", "/v2/orgs/invitations", 429, faults={"rate_429": 1.0}),
    Case("orgs", "POST", "/v2/orgs/invitations", 201, json={"fleet_ref": "manual-new", "fleet_name": "New Fleet"}),
    Case("orgs", "POST", "/v2/orgs/invitations", 200, json={"fleet_ref": "CONTRACT-1"}),
    Case("orgs", "POST", "/v2/orgs/invitations", 422, json={"fleet_ref": "no/slashes"}),
    Case("orgs", "GET", "/v2/orgs/invitations/{invitation_id}", 200, auth=False),
    Case("orgs", "GET", "/v2/orgs/invitations/{invitation_id}", 404, url="/v2/orgs/invitations/{unknown_id}"),
    Case("orgs", "DELETE", "/v2/orgs/invitations/{invitation_id}", 204, url="/v2/orgs/invitations/{deletable_id}"),
    Case("orgs", "DELETE", "/v2/orgs/invitations/{invitation_id}", 409),
    Case(
        "orgs",
        "POST",
        "/v2/orgs/invitations/{invitation_id}/accept",
        200,
        url="/v2/orgs/invitations/{accept_id}/accept",
        json={},
    ),
    Case(
        "orgs",
        "POST",
        "/v2/orgs/invitations/{invitation_id}/decline",
        200,
        url="/v2/orgs/invitations/{decline_id}/decline",
        json={"decline_reason": "no"},
    ),
    # orgs: share agreements, both spellings
    Case("orgs", "GET", SA, 200),
    Case("orgs", "GET", SA, 200, url="/v2/orgs/share_agreements"),
    Case("orgs", "GET", SA + "/{share_agreement_id}", 200),
    Case("orgs", "GET", SA + "/{share_agreement_id}", 200, url="/v2/orgs/share_agreements/{share_agreement_id}"),
    Case("orgs", "PATCH", SA + "/{share_agreement_id}", 200, json={"fleet_ref": "CONTRACT-1"}),
    Case(
        "orgs",
        "PATCH",
        SA + "/{share_agreement_id}",
        200,
        url="/v2/orgs/share_agreements/{share_agreement_id}",
        json={},
    ),
    Case("orgs", "POST", SA + "/{share_agreement_id}/pause", 200),
    Case(
        "orgs",
        "POST",
        SA + "/{share_agreement_id}/pause",
        200,
        url="/v2/orgs/share_agreements/{share_agreement_id}/pause",
    ),
    Case("orgs", "POST", SA + "/{share_agreement_id}/activate", 200),
    Case(
        "orgs",
        "POST",
        SA + "/{share_agreement_id}/activate",
        200,
        url="/v2/orgs/share_agreements/{share_agreement_id}/activate",
    ),
    Case("orgs", "POST", SA + "/{share_agreement_id}/cancel", 200, url=SA + "/{cancel_agreement_id}/cancel"),
    Case(
        "orgs",
        "POST",
        SA + "/{share_agreement_id}/cancel",
        200,
        url="/v2/orgs/share_agreements/{cancel_agreement_id_2}/cancel",
    ),
    Case("orgs", "DELETE", SA + "/{share_agreement_id}", 204, url=SA + "/{delete_agreement_id}"),
    Case("orgs", "DELETE", SA + "/{share_agreement_id}", 204, url="/v2/orgs/share_agreements/{delete_agreement_id_2}"),
    # orgs: fleets and TSPs
    Case("orgs", "GET", "/v2/orgs/fleets", 200),
    Case("orgs", "GET", "/v2/orgs/fleets/{fleet_id}", 200),
    Case("orgs", "GET", "/v2/orgs/tsps", 200, auth=False),
    Case("orgs", "GET", "/v2/orgs/tsps/{tsp_id}", 200, auth=False),
    # integrations
    Case("integrations", "GET", CONN, 200),
    Case("integrations", "GET", CONN + "/data-freshness", 200),
    Case("integrations", "GET", CONN + "/{connection_id}", 200),
    Case("integrations", "GET", CONN + "/{connection_id}", 404, url=CONN + "/{unknown_id}"),
    Case("integrations", "GET", CONN + "/{connection_id}/schedules", 200),
    Case("integrations", "GET", CONN + "/{connection_id}/schedules/{schedule_id}", 200),
    Case("integrations", "POST", CONN + "/{connection_id}/schedules/{schedule_id}/activate", 200),
    Case("integrations", "POST", CONN + "/{connection_id}/schedules/activate-schedules", 200),
    Case("integrations", "GET", CONN + "/{connection_id}/schedules/{schedule_id}/executions", 200),
    Case("integrations", "GET", "/v2/integrations/tsps", 200, auth=False),
    Case("integrations", "GET", "/v2/integrations/tsps/{tsp_id}", 200, auth=False),
    Case("integrations", "GET", CONN, 500, faults={"rate_5xx": 1.0, "burst_5xx_length": 1}),
    # notifications
    Case("notifications", "GET", HOOKS, 200),
    Case("notifications", "POST", HOOKS, 200, json={"url": "https://p.example.com/a", "event_name": "user.added"}),
    Case("notifications", "POST", HOOKS, 200, json={"url": "https://p.example.com/a", "event_name": "vehicle.*"}),
    Case("notifications", "POST", HOOKS, 409, json={"url": "https://p.example.com/a", "event_name": "user.added"}),
    Case("notifications", "POST", HOOKS, 422, json={"url": "https://p.example.com/a", "event_name": "nope"}),
    Case("notifications", "GET", HOOKS + "/{webhook_id}", 200),
    Case("notifications", "PATCH", HOOKS + "/{webhook_id}", 200, json={"secret": "a-rotated-secret"}),
    Case("notifications", "DELETE", HOOKS + "/{webhook_id}", 204, url=HOOKS + "/{deletable_webhook_id}"),
    Case("notifications", "POST", HOOKS + "/{webhook_id}/pause", 200),
    Case("notifications", "POST", HOOKS + "/{webhook_id}/activate", 200),
    Case("notifications", "GET", HOOKS + "/{webhook_id}/metrics", 200),
    Case("notifications", "GET", HOOKS + "/{webhook_id}/logs", 200),
    Case("notifications", "POST", HOOKS + "/{webhook_id}/replay", 202),
    # telematics
    *(Case("telematics", "GET", path, 200, params=REQUIRED.get(path, {})) for path in TELEMATICS_LISTS),
    *(
        Case("telematics", "GET", path, 200, params={"only_latest": "false", "size": 20, **REQUIRED.get(path, {})})
        for path in TELEMATICS_LISTS
    ),
    Case("telematics", "GET", "/v2/telematics/vehicle-region-segments", 422),  # processing_date is required
    Case("telematics", "GET", "/v2/telematics/vehicles/{vehicle_id}", 200),
    Case("telematics", "GET", "/v2/telematics/users/{user_id}", 200),
    Case("telematics", "GET", "/v2/telematics/trailers/{trailer_id}", 200),
    Case("telematics", "GET", "/v2/telematics/trailers/{trailer_id}", 404, url="/v2/telematics/trailers/{unknown_id}"),
    Case("telematics", "GET", "/v2/telematics/hos-events/{hos_event_id}/attachments", 200),
    Case("telematics", "GET", "/v2/telematics/hos-events/{hos_event_id}/attachments", 404, url=ATTACHMENTS_OF_UNKNOWN),
    Case("telematics", "GET", "/v2/telematics/dvir-logs/{dvir_log_id}/defects", 200),
    Case("telematics", "GET", "/v2/telematics/vehicle-locations", 400, params={"cursor": "not-a-cursor"}),
    Case("telematics", "GET", "/v2/telematics/hos-events", 422, params={"size": 501}),
    Case("telematics", "GET", "/v2/telematics/engine-logs", 400, params=OVER_45_DAYS),
]


def pinned_phases() -> list[dict[str, str]]:
    """Variation settings that, one after the other, give every knob each of its values."""
    width = max(len(knob.values) for knob in KNOBS.values())
    return [{name: knob.values[min(i, len(knob.values) - 1)] for name, knob in KNOBS.items()} for i in range(width)]


@pytest.fixture(scope="module")
def world(sandbox_factory) -> Iterator[dict[str, Any]]:
    """A sandbox with every kind of resource and event, and the ids the cases need.

    First one fleet onboards per pinned variation phase (so the envelopes checked below include every
    value of every knob), then the rest under ``vary``.
    """
    sandbox = sandbox_factory()
    receiver = Receiver()
    try:
        subscribe(sandbox, receiver, *ALL_FAMILIES)
        ids: dict[str, Any] = {"sandbox": sandbox, "receiver": receiver}
        for index, phase in enumerate(pinned_phases()):
            sandbox.admin("PUT", "/variations", json=phase).raise_for_status()
            pinned = invite(sandbox, f"CONTRACT-V{index}", callback_url=receiver.url.replace("/hooks", "/cb"))
            wait_connected(sandbox, receiver, pinned["id"])
        sandbox.admin("DELETE", "/variations").raise_for_status()
        invitations = {}
        for ref, extra in (
            ("CONTRACT-1", {"fleet_email": "ops@contract.example.com", "callback_url": receiver.url}),
            ("CONTRACT-2", {}),
            ("CONTRACT-3", {}),
            ("CONTRACT-4", {}),
            ("CONTRACT-5", {}),
            ("failing-contract", {}),
            ("stale-contract", {}),
            ("decline-contract", {}),
            ("expire-contract", {"expires_in_hours": 1}),
            ("manual-del", {}),
            ("manual-acc", {}),
            ("manual-dec", {}),
        ):
            invitations[ref] = invite(sandbox, ref, **extra)
        connected = ("CONTRACT-1", "CONTRACT-2", "CONTRACT-3", "CONTRACT-4", "CONTRACT-5", "failing-contract")
        fleets = {
            ref: wait_connected(sandbox, receiver, invitations[ref]["id"]) for ref in (*connected, "stale-contract")
        }
        receiver.wait_for_events(
            "schedule.deactivated", "connection.staled", "invitation.declined", "invitation.expired", timeout=30
        )
        sandbox.wait_idle()
        # By fleet id: a share agreement's fleet_ref may be null (a variation).
        agreements = {a["fleet_id"]: a["id"] for a in sandbox.api("GET", SA, params={"size": 100}).json()["items"]}
        deactivated = records(receiver, "schedule.deactivated")[0]
        vehicles = sandbox.api("GET", "/v2/telematics/vehicles").json()["items"]
        telematics = telematics_ids(sandbox)
        extra_hook = sandbox.api(
            "POST", HOOKS, json={"url": "https://p.example.com/z", "event_name": "user.removed"}
        ).json()
        ids.update(
            invitation_id=invitations["CONTRACT-1"]["id"],
            deletable_id=invitations["manual-del"]["id"],
            accept_id=invitations["manual-acc"]["id"],
            decline_id=invitations["manual-dec"]["id"],
            unknown_id="019d0000-0000-7000-8000-000000000000",
            share_agreement_id=agreements[fleets["CONTRACT-1"]],
            cancel_agreement_id=agreements[fleets["CONTRACT-2"]],
            cancel_agreement_id_2=agreements[fleets["CONTRACT-3"]],
            delete_agreement_id=agreements[fleets["CONTRACT-4"]],
            delete_agreement_id_2=agreements[fleets["CONTRACT-5"]],
            fleet_id=fleets["CONTRACT-1"],
            connection_id=deactivated["connection_id"],
            schedule_id=deactivated["id"],
            webhook_id=records(receiver, "webhook.created")[0]["id"],
            deletable_webhook_id=extra_hook["id"],
            vehicle_id=vehicles[0]["id"],
            **telematics,
            tsp_id=sandbox.http.get(sandbox.base_url + "/v2/orgs/tsps").json()[0]["id"],
            revocable_token=sandbox.http.post(
                sandbox.base_url + REALM + TOKEN, data={"grant_type": "client_credentials", **CREDENTIALS}
            ).json()["access_token"],
        )
        yield ids
    finally:
        receiver.close()
        sandbox_factory.stop(sandbox)


def telematics_ids(sandbox: Any) -> dict[str, str]:
    """A user, a trailer, a DVIR log and a HOS event that has an attachment (about one in four has)."""
    api = "/v2/telematics/"
    hos_events = sandbox.api("GET", api + "hos-events", params={"size": 500}).json()["items"]
    with_attachment = next(
        event["id"]
        for event in hos_events
        if sandbox.api("GET", api + f"hos-events/{event['id']}/attachments").json()["items"]
    )
    return {
        "user_id": sandbox.api("GET", api + "users").json()["items"][0]["id"],
        "trailer_id": sandbox.api("GET", api + "trailers").json()["items"][0]["id"],
        "dvir_log_id": sandbox.api("GET", api + "dvir-logs").json()["items"][0]["id"],
        "hos_event_id": with_attachment,
    }


def call(world: dict[str, Any], case: Case):
    sandbox = world["sandbox"]
    template = case.url or case.path
    if case.spec == "authentication":
        template = REALM + template
    url = sandbox.base_url + template.format(**world)
    headers = {"Authorization": f"Bearer {sandbox.token()}"} if case.auth else {}
    form = {k: v.format(**world) for k, v in case.form.items()} if case.form is not None else None
    if case.faults:
        sandbox.admin("PUT", "/faults", json=case.faults).raise_for_status()
    try:
        return sandbox.http.request(
            case.method, url, headers=headers, json=case.json, params=case.params, data=form, timeout=10
        )
    finally:
        if case.faults:
            sandbox.admin("DELETE", "/faults").raise_for_status()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_response_matches_catena_schema(world: dict[str, Any], case: Case) -> None:
    response = call(world, case)
    assert response.status_code == case.status, response.text
    document = spec(case.spec)
    schema = document.response_schema(case.method, case.path, case.status)
    if case.status == 204 or schema is None or (schema == {} and not response.content):
        assert response.content in (b"", b"{}"), "an operation without a response schema answers with no body"
        return
    errors = document.errors(schema, response.json())
    assert errors == [], f"{case.id} does not match Catena's schema:\n" + "\n".join(errors[:20])


VARIED_READS = [c for c in CASES if c.method == "GET" and c.status == 200 and c.path.startswith((SA, CONN, HOOKS))]


@pytest.mark.parametrize("phase", pinned_phases(), ids=lambda phase: "-".join(sorted(set(phase.values()))))
def test_varied_reads_match_catena_schema_in_every_variation(world: dict[str, Any], phase: dict[str, str]) -> None:
    """The REST reads that variations change, with every knob pinned to each of its values in turn."""
    sandbox = world["sandbox"]
    sandbox.admin("PUT", "/variations", json=phase).raise_for_status()
    try:
        for case in VARIED_READS:
            response = call(world, case)
            assert response.status_code == 200, response.text
            document = spec(case.spec)
            errors = document.errors(document.response_schema("GET", case.path, 200), response.json())
            assert errors == [], f"{case.id} under {phase}:\n" + "\n".join(errors[:20])
    finally:
        sandbox.admin("DELETE", "/variations").raise_for_status()


def test_webhook_envelopes_match_event_schemas(world: dict[str, Any]) -> None:
    receiver: Receiver = world["receiver"]
    document = spec("notifications")
    schemas = document.components["schemas"]
    checked = set()
    for envelope in receiver.events():
        name = event_schema_name(envelope["event_name"])
        if name not in schemas:  # webhook.activated/paused: documented events without a published schema
            assert envelope["event_name"] in ("webhook.activated", "webhook.paused")
            continue
        errors = document.errors({"$ref": f"#/components/schemas/{name}"}, envelope)
        assert errors == [], f"{envelope['event_name']}: " + "\n".join(errors[:10])
        checked.add(envelope["event_name"])
    assert checked >= {
        "invitation.created",
        "invitation.sent",
        "invitation.viewed",
        "invitation.accepted",
        "invitation.declined",
        "invitation.expired",
        "share_agreement.created",
        "connection.created",
        "connection.staled",
        "fleet_connection.created",
        "execution.failed",
        "schedule.deactivated",
        "webhook.created",
    }


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_served_endpoint_is_in_catenas_specs_and_checked(world: dict[str, Any]) -> None:
    sandbox = world["sandbox"]
    served = sandbox.http.get(sandbox.base_url + "/openapi.json").json()["paths"]
    checked = {(c.method, _shape(c.url or c.path)) for c in CASES}
    missing, unknown = [], []
    for path, operations in served.items():
        if not path.startswith(("/v2/", REALM)):
            continue  # the sandbox's own admin API and Connect page
        for method in operations:
            method = method.upper()
            spec_path = path.replace("/share_agreements", "/share-agreements").removeprefix(REALM)
            service = "authentication" if path.startswith(REALM) else path.split("/")[2]
            if not spec(service).has(method, spec_path):
                unknown.append(f"{method} {path}")
            if (method, _shape(path.removeprefix(REALM))) not in checked:
                missing.append(f"{method} {path}")
    assert unknown == [], "served but not in Catena's specs"
    assert missing == [], "served but not checked by a contract case"


def test_served_query_parameters_are_the_specs_own(world: dict[str, Any]) -> None:
    """No served operation declares a query parameter its spec operation lacks (undefined ones are ignored)."""
    sandbox = world["sandbox"]
    served = sandbox.http.get(sandbox.base_url + "/openapi.json").json()["paths"]
    extra = []
    for path, operations in served.items():
        if not path.startswith("/v2/"):
            continue
        spec_path = path.replace("/share_agreements", "/share-agreements")
        document = spec(path.split("/")[2])
        for method, operation in operations.items():
            ours = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            theirs = {
                p["name"] for p in document.paths[spec_path][method].get("parameters", []) if p.get("in") == "query"
            }
            extra.extend(f"{method.upper()} {path} ?{name}" for name in sorted(ours - theirs))
    assert extra == [], "query parameters Catena's spec does not define"
