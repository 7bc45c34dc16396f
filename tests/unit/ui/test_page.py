"""The dashboard page and its icons, through Airflow's real app: login required, no secret in the page."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.unit.ui.seeding import SECRETS


def test_page_sends_a_browser_without_login_to_the_airflow_login(airflow_client, inbox_store):
    response = airflow_client.get("/catena/ui", follow_redirects=False)
    assert response.status_code == 307
    location = urlsplit(response.headers["location"])
    assert location.path == "/auth/login"
    assert parse_qs(location.query)["next"] == ["/catena/ui"]


def test_page_with_a_forged_cookie_is_not_served(airflow_client, inbox_store):
    response = airflow_client.get("/catena/ui", cookies={"_token": "forged"}, follow_redirects=False)
    assert response.status_code in (307, 403)
    assert "Catena fleets" not in response.text


def test_page_is_served_to_a_logged_in_user(airflow_client, admin_token, inbox_store):
    response = airflow_client.get("/catena/ui", cookies={"_token": admin_token})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert "<title>Catena fleets</title>" in page
    # Login link for when the session expires while the page is open, from the auth manager.
    assert 'content="/auth/login?next=%2Fcatena%2Fui"' in page
    # Self-contained: nothing is loaded from another origin (no CDN; the machines have no internet).
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script src" not in page and '<link rel="stylesheet"' not in page


def test_page_carries_no_token_or_secret(airflow_client, admin_token, seeded):
    page = airflow_client.get("/catena/ui", cookies={"_token": admin_token}).text
    assert admin_token not in page
    for secret in SECRETS:
        assert secret not in page
    # The page never reads the token: it relies on the HttpOnly cookie of same-origin requests.
    assert "document.cookie" not in page
    assert 'credentials: "same-origin"' in page


def test_nav_icons_need_a_login(airflow_client, admin_token, inbox_store):
    for path in ("/catena/ui/icon.svg", "/catena/ui/icon-dark.svg"):
        assert airflow_client.get(path).status_code == 401
        response = airflow_client.get(path, cookies={"_token": admin_token})
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/svg+xml"
        assert response.text.startswith("<svg")


def test_nav_bar_entry_is_registered(airflow_client, admin_token):
    plugins = airflow_client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {admin_token}"}).json()
    catena = next(p for p in plugins["plugins"] if p["name"] == "catena")
    view = next(v for v in catena["external_views"] if v["name"] == "Catena fleets")
    assert view["href"] == "/catena/ui"
    assert view["destination"] == "nav"
    assert view["url_route"] == "catena-fleets"
    assert view["nav_top_level"] is True


def test_openapi_documents_the_dashboard_api(airflow_client):
    schema = airflow_client.get("/catena/openapi.json").json()
    for path in ("/api/funnel", "/api/fleets", "/api/fleets/stuck", "/api/alerts", "/api/webhooks/health"):
        assert "get" in schema["paths"][path]
    assert "FleetRow" in schema["components"]["schemas"]
