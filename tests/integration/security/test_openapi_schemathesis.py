"""Schemathesis over the plugin's own OpenAPI schema (``/catena/openapi.json``, served by Airflow's real
app): the dashboard API and the webhook route, with generated parameters and bodies.

Authenticated requests must never get a 5xx and must conform to the schema; unauthenticated ones to the
dashboard API must be refused. Bounded: a fixed number of examples per operation, no shrinking time wasted.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from tests.fixtures.airflow import mounted_receiver

pytestmark = pytest.mark.integration

EXAMPLES = 25
MOUNT = "/catena"  # the plugin app's paths are relative to its mount in the api-server
BASE_URL = f"http://testserver{MOUNT}"
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the api-server app is exercised in-process; time is bounded by the example count
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
)


@pytest.fixture(scope="module")
def operations(airflow_app, inbox_for_dashboard):
    schema = schemathesis.openapi.from_asgi("/catena/openapi.json", airflow_app)
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[f"{operation.method.upper()} {MOUNT}{operation.path}"] = operation
    return found


@pytest.fixture(scope="module")
def inbox_for_dashboard(airflow_app, tmp_path_factory):
    """The dashboard reads the inbox named by CATENA_INBOX_URL at request time; give it one of its own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CATENA_INBOX_URL", f"sqlite:///{tmp_path_factory.mktemp('dash-inbox') / 'inbox.db'}")
        mounted_receiver(airflow_app).store()  # the webhook route's inbox (created on first use)
        yield


def test_the_schema_lists_the_dashboard_api_and_the_webhook_route(operations):
    paths = {name.split(" ", 1)[1] for name in operations}
    assert {"/catena/api/fleets", "/catena/api/funnel", "/catena/webhooks"} <= paths


def test_authenticated_requests_never_get_a_server_error(operations, admin_token):
    checked = 0
    for name, operation in operations.items():
        run_bounded(operation, name, admin_token)
        checked += 1
    assert checked == len(operations) > 0


def test_unauthenticated_dashboard_requests_are_refused(operations):
    for name, operation in operations.items():
        if name.startswith("GET /catena/api"):
            run_bounded(operation, name, None)


def run_bounded(operation, name: str, token: str | None) -> None:
    """Generated requests for one operation; with ``token`` they must work, without it be refused."""

    @BOUNDED
    @given(case=operation.as_strategy())
    def run(case) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = case.call(base_url=BASE_URL, headers=headers)
        if token is None:
            assert response.status_code in (401, 403), (name, response.status_code)
            assert "items" not in response.text and "fleet_ref" not in response.text
            return
        case.validate_response(response, checks=[not_a_server_error])
        if name.startswith("GET /catena/api"):
            assert response.status_code in (200, 422), (name, response.status_code, response.text[:300])

    run()
