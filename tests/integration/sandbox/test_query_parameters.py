"""Every list endpoint honours only the query parameters its spec operation defines and ignores any other.

A real FastAPI service answers an undefined query parameter as if it were absent: no 4xx and no
filtering. Each case below calls one list endpoint of a sandbox holding several fleets, once plainly and
once with plausible filters the spec does not define, chosen so that honouring them would drop items;
both answers must list the same items. (``test_openapi_contract`` checks the declared parameters.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.integration.sandbox.helpers import ONBOARDING_FAMILIES, OPERATION_FAMILIES, invite, records, subscribe
from tests.integration.sandbox.receiver import Receiver

pytestmark = pytest.mark.integration

CONN = "/v2/integrations/connections"
HOOKS = "/v2/notifications/webhooks"
WINDOW = {"only_latest": "false", "from_datetime": "{window_start}", "to_datetime": "{window_end}"}


@dataclass(frozen=True)
class ListCase:
    path: str
    undefined: dict[str, str]  # filters the spec does not define for this operation (values from the world)
    defined: dict[str, Any] = field(default_factory=dict)  # spec parameters sent both times
    key: Callable[[dict[str, Any]], Any] = lambda item: item["id"]
    auth: bool = True

    @property
    def id(self) -> str:
        return f"{self.path} ?{'&'.join(self.undefined)}"


CASES = [
    ListCase(
        "/v2/orgs/invitations",
        {"status": "declined", "fleet_id": "{alpha_fleet_id}", "invitation_id": "{alpha_invitation_id}"},
    ),
    ListCase(
        "/v2/orgs/share-agreements",
        {"invitation_id": "{alpha_invitation_id}", "fleet_ids": "{alpha_fleet_id}", "status": "paused"},
    ),
    ListCase("/v2/orgs/share_agreements", {"invitation_id": "{alpha_invitation_id}", "fleet_refs": "ALPHA-1"}),
    ListCase("/v2/orgs/fleets", {"fleet_ref": "ALPHA-1", "fleet_id": "{alpha_fleet_id}", "name": "Alpha"}),
    ListCase("/v2/orgs/tsps", {"conn_type": "oauth2", "name": "Samsara", "id": "{tsp_id}"}, auth=False),
    ListCase(
        CONN,
        {"fleet_id": "{alpha_fleet_id}", "fleet_ref": "ALPHA-1", "status": "stale", "source_name": "geotab"},
    ),
    ListCase(
        CONN + "/data-freshness",
        {"resource": "vehicle", "connection_id": "{alpha_connection_id}", "fleet_id": "{alpha_fleet_id}"},
        key=lambda row: row["schedule_id"],
    ),
    ListCase(
        CONN + "/{failing_connection_id}/schedules",
        {"status": "inactive", "execution_interval_seconds": "60", "schedule_id": "{failing_schedule_id}"},
    ),
    ListCase(
        CONN + "/{failing_connection_id}/schedules/{failing_schedule_id}/executions",
        {"status": "failed", "execution_id": "{failed_execution_id}"},
    ),
    ListCase("/v2/integrations/tsps", {"slug": "samsara", "source_name": "samsara"}, key=lambda t: t["tsp_id"]),
    ListCase(HOOKS, {"url": "{receiver_url}", "fleet_refs": "ALPHA-1", "webhook_id": "{webhook_id}"}),
    ListCase(
        HOOKS + "/{logged_webhook_id}/logs",
        {"message_id": "{logged_message_id}", "status_code": "202", "event_name": "vehicle.added"},
        key=lambda log: (log["message_id"], log["created_at"]),
    ),
    ListCase(
        "/v2/telematics/vehicles",
        {"vehicle_id": "{vehicle_id}", "fleet_id": "{alpha_fleet_id}", "from_datetime": "{window_end}"},
    ),
    ListCase(
        "/v2/telematics/vehicle-locations",
        {"sort_order": "desc", "sort_by": "speed", "source_ids": "{location_source_id}", "vehicle_id": "{vehicle_id}"},
        defined={**WINDOW, "size": 1000},
    ),
]


@pytest.fixture(scope="module")
def world(sandbox_factory) -> Iterator[dict[str, Any]]:
    """Several fleets in different states, so that any honoured undefined filter would drop some items."""
    sandbox = sandbox_factory()
    receiver = Receiver()
    try:
        subscribe(sandbox, receiver, *ONBOARDING_FAMILIES, *OPERATION_FAMILIES)
        refs = {"ALPHA-1": {"limit_tsps": ["geotab"], "fleet_name": "Alpha"}, "BRAVO-2": {}, "failing-q": {}}
        refs.update({"decline-q": {}, "manual-q": {"expires_in_hours": 672}})
        invitations = {ref: invite(sandbox, ref, **extra) for ref, extra in refs.items()}
        receiver.wait_for(
            lambda r: (
                len(r.events("fleet_connection.created")) == 3
                and bool(r.events("schedule.deactivated"))
                and bool(r.events("invitation.declined"))
            ),
            timeout=30,
        )
        sandbox.wait_idle()
        alpha = sandbox.http.get(f"{sandbox.base_url}/v2/orgs/invitations/{invitations['ALPHA-1']['id']}").json()
        links = records(receiver, "fleet_connection.created")
        alpha_connection = next(r for r in links if r["fleet_id"] == alpha["fleet_id"])
        deactivated = records(receiver, "schedule.deactivated")[0]
        [logged] = subscribe(sandbox, receiver, "vehicle.added")
        emit = {"event_name": "vehicle.added", "data": [{"n": 1}], "count": 3}
        sandbox.admin("POST", "/events", json=emit).raise_for_status()
        sandbox.wait_idle()
        connected = sandbox.api("GET", CONN + f"/{alpha_connection['connection_id']}").json()["created_at"]
        window_end = datetime.fromisoformat(connected)  # the synthetic track: a point a minute before this
        window_start = (window_end - timedelta(hours=2)).isoformat()
        window_end = window_end.isoformat()
        params = {"only_latest": "false", "to_datetime": window_end, "fleet_ids": alpha["fleet_id"], "size": 5}
        location = sandbox.api("GET", "/v2/telematics/vehicle-locations", params=params).json()["items"][0]
        yield {
            "sandbox": sandbox,
            "alpha_invitation_id": alpha["id"],
            "alpha_fleet_id": alpha["fleet_id"],
            "alpha_connection_id": alpha_connection["connection_id"],
            "failing_connection_id": deactivated["connection_id"],
            "failing_schedule_id": deactivated["id"],
            "failed_execution_id": records(receiver, "execution.failed")[0]["id"],
            "tsp_id": sandbox.http.get(sandbox.base_url + "/v2/orgs/tsps").json()[0]["id"],
            "receiver_url": receiver.url,
            "webhook_id": logged["id"],
            "logged_webhook_id": logged["id"],
            "logged_message_id": receiver.events("vehicle.added")[0]["id"],
            "vehicle_id": sandbox.api("GET", "/v2/telematics/vehicles").json()["items"][0]["id"],
            "window_start": window_start,
            "window_end": window_end,
            "location_source_id": location["source_id"],
        }
    finally:
        receiver.close()
        sandbox_factory.stop(sandbox)


def listed(world: dict[str, Any], case: ListCase, params: dict[str, Any]) -> list[Any]:
    sandbox = world["sandbox"]
    url = sandbox.base_url + case.path.format(**world)
    values = {name: str(value).format(**world) for name, value in params.items()}
    headers = {"Authorization": f"Bearer {sandbox.token()}"} if case.auth else {}
    response = sandbox.http.get(url, params=values, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    return [case.key(item) for item in (body if isinstance(body, list) else body["items"])]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_an_undefined_filter_is_ignored(world: dict[str, Any], case: ListCase) -> None:
    plain = listed(world, case, case.defined)
    assert len(plain) >= 2, "the world must give the filter something to drop"
    assert listed(world, case, {**case.defined, **case.undefined}) == plain
    for name, value in case.undefined.items():
        assert listed(world, case, {**case.defined, name: value}) == plain, f"?{name} filtered"


def test_share_agreements_ignore_invitation_id(world: dict[str, Any]) -> None:
    """The filter older specs had: the newest defines none, so every agreement of the partner comes back."""
    sandbox = world["sandbox"]
    every = sandbox.api("GET", "/v2/orgs/share-agreements").json()
    filtered = sandbox.api(
        "GET", "/v2/orgs/share-agreements", params={"invitation_id": world["alpha_invitation_id"]}
    ).json()
    assert every["total"] == filtered["total"] == 3
    assert [a["id"] for a in filtered["items"]] == [a["id"] for a in every["items"]]


def test_defined_filters_still_filter(world: dict[str, Any]) -> None:
    """The counterpart: the parameters the specs define do narrow the lists (so the cases above can fail)."""
    sandbox = world["sandbox"]
    fleet_id = world["alpha_fleet_id"]
    assert sandbox.api("GET", "/v2/orgs/share-agreements", params={"fleet_id": fleet_id}).json()["total"] == 1
    assert len(sandbox.api("GET", CONN, params={"fleet_ids": fleet_id}).json()["items"]) == 1
    assert sandbox.api("GET", "/v2/orgs/invitations", params={"fleet_ref": "ALPHA-1"}).json()["total"] == 1
    schedules = CONN + f"/{world['failing_connection_id']}/schedules"
    assert len(sandbox.api("GET", schedules, params={"resource": "vehicle"}).json()["items"]) == 1
    assert len(sandbox.api("GET", HOOKS, params={"event_name": "vehicle.added"}).json()["items"]) == 1
