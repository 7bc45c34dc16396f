from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from catena_airflow.webhooks.app import create_webhook_app
from catena_airflow.webhooks.subscription_lookup import SubscriptionLookup
from tests.unit.webhooks.fake_catena import FakeCatena
from tests.unit.webhooks.signing import SECRET


@pytest.fixture
def make_client(monkeypatch) -> Iterator[Callable[..., TestClient]]:
    """A TestClient over the standalone receiver app; kwargs are ReceiverSettings fields. Its Catena knows
    no subscription: a delivery under a webhook id the inbox does not know is refused (401)."""
    monkeypatch.delenv("CATENA_WEBHOOK_SECRET", raising=False)
    clients: list[TestClient] = []

    def make(inbox_url: str, **settings) -> TestClient:
        settings.setdefault("secrets", (SECRET,))
        app = create_webhook_app(inbox_url=inbox_url, **settings)
        receiver = app.state.receiver
        receiver.subscriptions.close()
        receiver.subscriptions = SubscriptionLookup(FakeCatena, receiver.store, burst=10_000)
        client = TestClient(app)
        client.__enter__()  # runs the lifespan; closed (writer stopped, engine disposed) below
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client, sqlite_url) -> TestClient:
    return make_client(sqlite_url)


def receiver_store(client: TestClient):
    return client.app.state.receiver.store()
