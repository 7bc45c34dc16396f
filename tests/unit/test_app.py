"""The plugin app's access rule, route by route: only ``PUBLIC_PATHS`` answer without an Airflow login.

Every route the app has is requested without credentials through Airflow's real api-server app (the
plugin mounted at ``/catena``), so a route added later without the dashboard's authentication fails here.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from catena_airflow.app import PUBLIC_PATHS, create_plugin_app

ROUTES = sorted(
    {
        (route.path, method)
        for route in create_plugin_app().routes
        if isinstance(route, APIRoute | Route)
        for method in (route.methods or ())
        if method != "HEAD"
    }
)
PROTECTED = [(path, method) for path, method in ROUTES if path not in PUBLIC_PATHS]


def test_every_public_path_is_a_route_and_protected_ones_remain():
    assert set(PUBLIC_PATHS) <= {path for path, _ in ROUTES}
    assert {path for path, _ in PROTECTED} >= {"/ui", "/api/fleets", "/api/config"}


@pytest.mark.parametrize(("path", "method"), PROTECTED)
def test_every_other_route_demands_an_airflow_login(airflow_client, path, method):
    response = airflow_client.request(method, "/catena" + path, follow_redirects=False)
    if path.startswith("/api/"):
        assert response.status_code == 401, response.text
    else:  # a page: the browser is sent to Airflow's login, coming back here afterwards
        assert response.status_code == 307 and "login" in response.headers["location"], response.headers
    assert "items" not in response.text
