"""Deliveries of subscriptions the inbox does not know: looked up in Catena, never refused blindly.

Catena is outside the system: its client is replaced by a small fake (``fake_catena.py``); the inbox
is a real SQLite file and the receiver the real app. The sandbox path is in tests/integration.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from catena_airflow.webhooks.app import create_webhook_app
from catena_airflow.webhooks.config import ReceiverSettings
from catena_airflow.webhooks.receiver import WebhookReceiver
from catena_airflow.webhooks.subscription_lookup import LookupResult, SubscriptionLookup
from tests.fixtures.databases import migrated_store
from tests.unit.inbox import fleet_events as fe
from tests.unit.webhooks.fake_catena import CALLBACK_SECRET, FakeCatena
from tests.unit.webhooks.signing import sign, timestamp


@pytest.fixture
def receiver_for(sqlite_url, monkeypatch):
    monkeypatch.delenv("CATENA_WEBHOOK_SECRET", raising=False)
    clients: list[TestClient] = []

    def make(catena: FakeCatena | None, **lookup_options) -> TestClient:
        with migrated_store(sqlite_url):
            pass
        receiver = WebhookReceiver(ReceiverSettings(inbox_url=sqlite_url))
        receiver.subscriptions = SubscriptionLookup(lambda: catena, receiver.store, **lookup_options)
        client = TestClient(create_webhook_app(receiver))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def deliver(client: TestClient, webhook_id: str, secret: str = CALLBACK_SECRET, n: int = 1):
    env = {**fe.happy()[0], "webhook_id": webhook_id, "id": str(uuid.uuid4())}
    body = json.dumps(env).encode()
    stamp = timestamp()
    headers = {
        "X-Catena-Signature": sign(secret, stamp, body),
        "X-Catena-Timestamp": stamp,
        "X-Webhook-ID": webhook_id,
        "Content-Encoding": "gzip",
    }
    return client.post("/catena/webhooks", content=gzip.compress(body), headers=headers)


def test_a_callback_subscriptions_delivery_is_verified_with_the_secret_catena_shows(receiver_for):
    webhook_id = str(uuid.uuid4())
    catena = FakeCatena({webhook_id: CALLBACK_SECRET})
    client = receiver_for(catena)

    assert deliver(client, webhook_id).status_code == 202
    assert deliver(client, webhook_id).status_code == 202  # the secret is in the inbox now
    assert catena.calls == [webhook_id]
    store = client.app.state.receiver.store()
    assert store.subscription_secret(webhook_id) == CALLBACK_SECRET
    assert store.get_onboarding(fe.INVITATION_ID) is not None


def test_a_webhook_id_catena_does_not_know_is_refused_and_remembered(receiver_for):
    catena = FakeCatena()
    client = receiver_for(catena)
    webhook_id = str(uuid.uuid4())
    assert deliver(client, webhook_id).status_code == 401
    assert deliver(client, webhook_id).status_code == 401
    assert catena.calls == [webhook_id]  # remembered, not asked again


@pytest.mark.parametrize("catena", [FakeCatena(fail=True), FakeCatena({"x": "y"}, masked=True), None], ids=repr)
def test_when_catena_cannot_tell_the_delivery_is_answered_503_and_nothing_is_stored(receiver_for, catena):
    if catena is not None and catena.masked:
        catena.subscriptions = {}
    webhook_id = str(uuid.uuid4())
    if catena is not None and catena.masked:
        catena.subscriptions[webhook_id] = "hidden"
    client = receiver_for(catena)
    assert deliver(client, webhook_id).status_code == 503
    assert client.app.state.receiver.store().last_seq() == 0


def test_a_forged_signature_is_still_refused_once_the_subscription_is_known(receiver_for):
    webhook_id = str(uuid.uuid4())
    client = receiver_for(FakeCatena({webhook_id: CALLBACK_SECRET}))
    assert deliver(client, webhook_id, secret="forged-secret").status_code == 401


def test_a_slow_lookup_answers_503_within_the_inline_wait_and_finishes_in_the_background(receiver_for):
    webhook_id = str(uuid.uuid4())
    catena = FakeCatena({webhook_id: CALLBACK_SECRET})
    catena.release.clear()
    client = receiver_for(catena, inline_wait=0.05)
    assert deliver(client, webhook_id).status_code == 503  # Catena retries
    catena.release.set()
    store = client.app.state.receiver.store()
    for _ in range(500):
        if store.subscription_secret(webhook_id):
            break
        threading.Event().wait(0.01)
    assert deliver(client, webhook_id).status_code == 202  # the retry verifies


def test_lookups_are_rate_bounded():
    catena = FakeCatena()

    async def main() -> list[LookupResult]:
        lookup = SubscriptionLookup(lambda: catena, lambda: None, burst=2, rate=0.001)
        try:
            return [await lookup.resolve(str(uuid.uuid4())) for _ in range(5)]
        finally:
            lookup.close()

    results = asyncio.run(main())
    assert results[:2] == [LookupResult.UNKNOWN] * 2  # the burst
    assert results[2:] == [LookupResult.UNAVAILABLE] * 3  # not asked: Catena retries later
    assert len(catena.calls) == 2


def test_made_up_webhook_ids_never_reach_catena():
    catena = FakeCatena()

    async def main() -> LookupResult:
        lookup = SubscriptionLookup(lambda: catena, lambda: None)
        try:
            return await lookup.resolve("../../etc/passwd")
        finally:
            lookup.close()

    assert asyncio.run(main()) is LookupResult.UNKNOWN
    assert catena.calls == []


def test_a_delivery_signed_with_a_replaced_secret_we_never_knew_is_retried_not_refused(receiver_for):
    """A masked callback subscription is rotated by the operator; what Catena signed before, with its own
    secret, must come back (signed with the new secret) instead of being lost to a 401."""
    webhook_id = str(uuid.uuid4())
    client = receiver_for(FakeCatena())
    store = client.app.state.receiver.store()
    store.stage_subscription_secret(webhook_id, "ours-after-rotation")
    store.promote_subscription_secret(webhook_id, previous_known=False)

    assert deliver(client, webhook_id, secret="catenas-own-secret").status_code == 503
    assert deliver(client, webhook_id, secret="ours-after-rotation").status_code == 202

    store.promote_subscription_secret(webhook_id)  # no-op (nothing staged); the grace is what counts
    store.stage_subscription_secret(webhook_id, "ours-next")
    store.promote_subscription_secret(webhook_id, grace=timedelta(0))  # a rotation of a secret we knew
    assert deliver(client, webhook_id, secret="catenas-own-secret").status_code == 401
