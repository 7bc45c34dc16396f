"""Every route the plugin mounts under ``/catena`` in Airflow's real api-server app needs an Airflow login,
except the few that are public by design. The route list is read from the app, so a route added later
is covered (or must be declared public here, consciously)."""

from __future__ import annotations

import pytest

from catena_airflow.inbox import InboxStore

pytestmark = pytest.mark.integration

MOUNT = "/catena"
# Public by design: Catena cannot log in (the HMAC signature authenticates it); the fleet's browser lands
# on the redirect pages; the schema describes routes, never data (the ui README documents it as public); the
# receiver's health is for probes and load balancers, and says why it is unhealthy, never where (no URL).
PUBLIC = {"/webhooks", "/webhooks/health", "/fleet/success", "/fleet/failure", "/openapi.json"}


def plugin_routes(app) -> list[tuple[str, str]]:
    for mount in app.routes:
        if getattr(mount, "path", None) == MOUNT:
            return sorted(
                (method, route.path)
                for route in mount.app.routes
                for method in getattr(route, "methods", None) or ()
                if method != "HEAD"
            )
    raise AssertionError("the Catena plugin app is not mounted at /catena")


@pytest.fixture(scope="module")
def protected(airflow_app) -> list[tuple[str, str]]:
    routes = plugin_routes(airflow_app)
    assert {path for _, path in routes} >= PUBLIC  # the public set names real routes
    return [(method, path) for method, path in routes if path not in PUBLIC]


def _refused(response) -> bool:
    if response.status_code in (401, 403):
        return True
    # The HTML page sends a browser to Airflow's login page instead, without serving anything.
    return response.status_code in (302, 303, 307) and "login" in response.headers.get("location", "")


def test_there_are_protected_routes(protected):
    paths = {path for _, path in protected}
    assert {"/api/fleets", "/api/funnel", "/api/webhooks/health", "/ui"} <= paths


@pytest.mark.parametrize(
    "credentials",
    [
        {},
        {"headers": {"Authorization": "Bearer not.a.jwt"}},
        {"headers": {"Authorization": "Basic YWRtaW46YWRtaW4="}},  # admin:admin, not a token
        {"cookies": {"_token": "forged"}},
    ],
    ids=["none", "forged-bearer", "basic-auth", "forged-cookie"],
)
def test_every_protected_route_refuses_requests_without_a_valid_login(
    airflow_client, protected, credentials, tmp_path, monkeypatch
):
    monkeypatch.setenv("CATENA_INBOX_URL", f"sqlite:///{tmp_path / 'inbox.db'}")
    for method, path in protected:
        airflow_client.cookies.clear()
        response = airflow_client.request(method, MOUNT + path, follow_redirects=False, **credentials)
        assert _refused(response), (method, path, response.status_code, response.text[:200])
        assert "fleet_ref" not in response.text and "<table" not in response.text


def test_every_protected_route_serves_a_valid_login(airflow_client, protected, admin_token, tmp_path, monkeypatch):
    monkeypatch.setenv("CATENA_INBOX_URL", f"sqlite:///{tmp_path / 'inbox.db'}")
    store = InboxStore(f"sqlite:///{tmp_path / 'inbox.db'}")
    store.migrate()
    store.dispose()
    for method, path in protected:
        response = airflow_client.request(
            method, MOUNT + path, headers={"Authorization": f"Bearer {admin_token}"}, follow_redirects=False
        )
        assert response.status_code == 200, (method, path, response.status_code, response.text[:200])
