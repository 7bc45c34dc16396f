"""Catena's API answering 429s and 5xx bursts (the sandbox's own fault injection, over real HTTP).

Within the retry budget the client, the invitation operator and the ingestion operator get through
and their results are those of a fault-free run; beyond it they fail with an error that says what
gave up and why, and that carries no secret.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import requests

from catena_airflow.client import CatenaClient, CatenaRetryBudgetExceeded
from catena_airflow.client.errors import CatenaRateLimitError, CatenaServerError
from catena_airflow.operators.ingest import CatenaIngestFleetOperator
from catena_airflow.operators.invitation import CatenaCreateInvitationOperator
from tests.integration.reliability.helpers import eventually

pytestmark = pytest.mark.integration

# Seeded: the same faults on every run (the client is single-threaded, so the draws meet the same calls).
RECOVERABLE = {"rate_429": 0.2, "retry_after_seconds": 0, "rate_5xx": 0.05, "burst_5xx_length": 2, "seed": 7}


class CountingSession(requests.Session):
    """Counts the status codes the client really received (the faults it had to survive)."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: Counter[int] = Counter()

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        response = super().request(*args, **kwargs)
        self.statuses[response.status_code] += 1
        return response


def _client(sandbox, **kwargs: Any) -> CatenaClient:
    return sandbox.catena_client(**kwargs)


@pytest.fixture
def airflow_env(sandbox, tmp_path, monkeypatch) -> dict[str, str]:
    """The operators find Catena through the ``catena_default`` connection, as deployed."""
    env = {
        "AIRFLOW_CONN_CATENA_DEFAULT": sandbox.catena_connection(),
        "CATENA_INBOX_URL": f"sqlite:///{tmp_path / 'inbox.db'}",
        "CATENA_DLT_DESTINATION": f"duckdb:///{tmp_path / 'warehouse.duckdb'}",
        "CATENA_DLT_PIPELINES_DIR": str(tmp_path / "dlt"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_client_gets_through_429s_and_5xx_bursts_within_its_budget(sandbox):
    session = CountingSession()
    client = _client(sandbox, session=session, retry_budget_seconds=60.0, max_retries=6)
    sandbox.admin("PUT", "/faults", json=RECOVERABLE).raise_for_status()
    refs = [f"api-faults-{n}" for n in range(8)]
    created = {ref: client.create_invitation(fleet_ref=ref, fleet_name="Fault Fleet") for ref in refs}
    for ref, invitation in created.items():
        assert client.get_invitation(invitation.id).fleet_ref == ref
    listed = {i.fleet_ref for i in client.list_invitations() if i.fleet_ref in created}
    sandbox.admin("DELETE", "/faults").raise_for_status()

    assert listed == set(refs)
    # A create retried after a 5xx refreshed the same invitation instead of making a second one.
    assert len([i for i in client.list_invitations() if i.fleet_ref in created]) == len(refs)
    assert session.statuses[429] > 0 and session.statuses[500] + session.statuses[503] > 0, session.statuses
    print(f"\nFIGURES api-faults-client: calls={sum(session.statuses.values())} answered={dict(session.statuses)}")


@pytest.mark.parametrize(
    ("faults", "error_type"),
    [
        ({"rate_5xx": 1.0, "burst_5xx_length": 50}, CatenaServerError),
        ({"rate_429": 1.0, "retry_after_seconds": 0}, CatenaRateLimitError),
    ],
    ids=["5xx", "429"],
)
def test_client_fails_clearly_beyond_its_budget(sandbox, faults, error_type):
    client = _client(sandbox, max_retries=2, retry_budget_seconds=10.0)
    client.fetch_token()
    sandbox.admin("PUT", "/faults", json=faults).raise_for_status()
    with pytest.raises(CatenaRetryBudgetExceeded) as raised:
        client.list_invitations().first_page()
    sandbox.admin("DELETE", "/faults").raise_for_status()
    error = raised.value
    assert error.attempts == 3 and isinstance(error.last_error, error_type)
    message = str(error)
    assert "GET /v2/orgs/invitations gave up after 3 attempt(s)" in message
    assert str(error.last_error.status_code) in message
    assert sandbox.client_secret not in message and sandbox.token() not in message


def _connected_invitation(sandbox, invitation_id: str) -> dict[str, Any] | None:
    """The sandbox's view of the invitation once its fleet is connected (schedules in place), else None."""
    detail = sandbox.admin("GET", f"/invitations/{invitation_id}").json()
    linked = detail["sandbox"]
    return detail if detail["fleet_id"] and linked["share_agreement_id"] and linked["schedules"] else None


def test_operators_recover_within_the_budget(sandbox, airflow_env):
    sandbox.admin("PUT", "/faults", json=RECOVERABLE).raise_for_status()
    invitation = CatenaCreateInvitationOperator(task_id="invite", fleet_ref="api-faults-ops", fleet_name="Ops").execute(
        {}
    )
    sandbox.admin("DELETE", "/faults").raise_for_status()
    # The happy scenario connects the fleet a few (scaled) steps later. The fleet id appears at acceptance,
    # a step before the share agreement that makes its vehicles visible: wait for the last step, the fleet
    # connection with its schedules, as the onboarding DAG waits for `connected` before it ingests.
    connected = eventually(lambda: _connected_invitation(sandbox, invitation["id"]))
    fleet_id = connected["fleet_id"]

    sandbox.admin("PUT", "/faults", json=RECOVERABLE).raise_for_status()
    with_faults = CatenaIngestFleetOperator(task_id="ingest", fleet_id=fleet_id, page_size=100).execute({})
    sandbox.admin("DELETE", "/faults").raise_for_status()

    clean = _client(sandbox)
    vehicles = len(list(clean.list_vehicles(fleet_ids=[fleet_id])))
    assert with_faults["resources"]["vehicles"]["rows"] == vehicles > 0
    assert with_faults["resources"]["vehicle_locations"]["rows"] > 0
    # A rerun after the faults finds nothing new: the faulty run left no gap and no duplicate.
    rerun = CatenaIngestFleetOperator(task_id="ingest", fleet_id=fleet_id, page_size=100).execute({})
    assert rerun["resources"]["vehicles"]["rows"] in (0, vehicles)
    print(f"\nFIGURES api-faults-operators: ingested={with_faults['resources']}")


def test_operator_fails_clearly_beyond_the_budget(sandbox, airflow_env):
    sandbox.admin("PUT", "/faults", json={"rate_429": 1.0, "retry_after_seconds": 0}).raise_for_status()
    operator = CatenaCreateInvitationOperator(task_id="invite", fleet_ref="api-faults-over", fleet_name="Over")
    with pytest.raises(CatenaRetryBudgetExceeded) as raised:
        operator.execute({})
    sandbox.admin("DELETE", "/faults").raise_for_status()
    assert "POST /v2/orgs/invitations gave up after" in str(raised.value)
    assert sandbox.client_secret not in str(raised.value)
