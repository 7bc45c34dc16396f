"""The app in process (``create_app``), for what needs no real process: wiring, docs, error shapes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from catena_sandbox.app import create_app
from catena_sandbox.settings import Settings


def partner_token(client: TestClient) -> str:
    return client.post(
        "/realms/catena/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "sandbox-secret"},
    ).json()["access_token"]


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(speed=3600))) as test_client:
        yield test_client


def test_health_and_token(client: TestClient) -> None:
    assert client.get("/sandbox/health").json()["status"] == "ok"
    token = partner_token(client)
    listed = client.get("/v2/orgs/invitations", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200 and listed.json()["total"] == 0


def test_unknown_route_gets_catenas_404_body(client: TestClient) -> None:
    response = client.get("/v2/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "Not Found", "detail": None}


def test_magic_links_use_the_public_url() -> None:
    settings = Settings(public_url="https://sandbox.example.com/")
    with TestClient(create_app(settings)) as client:
        token = partner_token(client)
        created = client.post(
            "/v2/orgs/invitations", json={"fleet_ref": "manual-1"}, headers={"Authorization": f"Bearer {token}"}
        ).json()
    assert created["magic_link"] == f"https://sandbox.example.com/connect/?invite={created['id']}"
