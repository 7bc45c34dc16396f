"""Deliveries of subscriptions the inbox does not know: looked up in Catena, never refused blindly.

Catena is outside the system: its client is replaced by a small fake (``fake_catena.py``); the inbox
is a real SQLite file and the receiver the real app. The sandbox path is in tests/integration.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import threading
import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from catena_airflow.inbox import InboxStore
from catena_airflow.webhooks import receiver as receiver_module
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

    def make(
        catena: FakeCatena | None, *, secrets: tuple[str, ...] = (), store: InboxStore | None = None, **lookup_options
    ) -> TestClient:
        with migrated_store(sqlite_url):
            pass
        receiver = WebhookReceiver(ReceiverSettings(inbox_url=sqlite_url, secrets=secrets), store=store)
        receiver.subscriptions = SubscriptionLookup(lambda: catena, receiver.store, **lookup_options)
        client = TestClient(create_webhook_app(receiver))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def deliver(client: TestClient, webhook_id: str, secret: str = CALLBACK_SECRET, request_id: str = "req-1"):
    env = {**fe.happy()[0], "webhook_id": webhook_id, "id": str(uuid.uuid4())}
    body = json.dumps(env).encode()
    stamp = timestamp()
    headers = {
        "X-Catena-Signature": sign(secret, stamp, body),
        "X-Catena-Timestamp": stamp,
        "X-Webhook-ID": webhook_id,
        "X-Request-ID": request_id,
        "Content-Encoding": "gzip",
    }
    return client.post("/catena/webhooks", content=gzip.compress(body), headers=headers)


def logged(caplog) -> list[str]:
    """What ``catena_airflow.webhooks.receiver`` logged (the lookup's own lines left out)."""
    return [r.getMessage() for r in caplog.records if r.name == "catena_airflow.webhooks.receiver"]


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
def test_when_catena_cannot_tell_the_delivery_is_answered_503_and_nothing_is_stored(receiver_for, catena, caplog):
    if catena is not None and catena.masked:
        catena.subscriptions = {}
    webhook_id = str(uuid.uuid4())
    if catena is not None and catena.masked:
        catena.subscriptions[webhook_id] = "hidden"
    client = receiver_for(catena)
    with caplog.at_level(logging.WARNING, logger="catena_airflow.webhooks.receiver"):
        response = deliver(client, webhook_id, request_id="req-unavailable")
    assert (response.status_code, response.json()) == (503, {"detail": "temporarily unavailable"})
    assert client.app.state.receiver.store().last_seq() == 0
    assert logged(caplog) == [
        "Catena webhook from a subscription not known yet, answered 503 while it is looked up: "
        f"webhook_id={webhook_id} request_id=req-unavailable"
    ]


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


def test_a_delivery_signed_with_a_replaced_secret_we_never_knew_is_retried_not_refused(receiver_for, caplog):
    """A masked callback subscription is rotated by the operator; what Catena signed before, with its own
    secret, must come back (signed with the new secret) instead of being lost to a 401."""
    webhook_id = str(uuid.uuid4())
    client = receiver_for(FakeCatena())
    store = client.app.state.receiver.store()
    store.stage_subscription_secret(webhook_id, "ours-after-rotation")
    store.promote_subscription_secret(webhook_id, previous_known=False)

    with caplog.at_level(logging.WARNING, logger="catena_airflow.webhooks.receiver"):
        response = deliver(client, webhook_id, secret="catenas-own-secret", request_id="req-replaced")
    assert (response.status_code, response.json()) == (503, {"detail": "temporarily unavailable"})
    assert logged(caplog) == [
        "Catena webhook signed with a replaced secret we never knew, answered 503 so Catena retries with the "
        f"new one: webhook_id={webhook_id} request_id=req-replaced"
    ]
    assert deliver(client, webhook_id, secret="ours-after-rotation").status_code == 202

    store.promote_subscription_secret(webhook_id)  # no-op (nothing staged); the grace is what counts
    store.stage_subscription_secret(webhook_id, "ours-next")
    store.promote_subscription_secret(webhook_id, grace=timedelta(0))  # a rotation of a secret we knew
    assert deliver(client, webhook_id, secret="catenas-own-secret").status_code == 401


def test_a_subscription_the_inbox_holds_is_not_looked_up_in_catena(receiver_for):
    """A forged delivery under a subscription whose secret is stored is refused without asking Catena."""
    webhook_id = str(uuid.uuid4())
    catena = FakeCatena()
    client = receiver_for(catena)
    client.app.state.receiver.store().save_subscription_secret(webhook_id, "stored-secret")
    assert deliver(client, webhook_id, secret="forged-secret").status_code == 401
    assert deliver(client, webhook_id, secret="stored-secret").status_code == 202
    assert catena.calls == []


def test_a_subscription_verified_with_a_configured_secret_is_not_looked_up_in_catena(receiver_for):
    """Its secret is not in the inbox (a configured one signs it), but one delivery verified: it is known, so a
    forged one is refused without asking Catena."""
    webhook_id = str(uuid.uuid4())
    catena = FakeCatena()
    client = receiver_for(catena, secrets=("configured-secret",))
    assert deliver(client, webhook_id, secret="configured-secret").status_code == 202
    assert deliver(client, webhook_id, secret="forged-secret").status_code == 401
    assert catena.calls == []


class DroppingStore(InboxStore):
    """A real inbox whose reads named in ``failing`` raise, as when the database drops out between two
    reads of one delivery (a real SQLite file cannot be made to fail one read on demand)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.failing: set[str] = set()
        self.failing_once_saved: set[str] = set()  # start failing these once a secret from Catena is saved

    def _read(self, name: str) -> None:
        if name in self.failing:
            raise OSError("the inbox database is gone")

    def subscription_secret_candidates(self, webhook_id, **kwargs):
        self._read("subscription_secret_candidates")
        return super().subscription_secret_candidates(webhook_id, **kwargs)

    def previous_secret_unknown(self, webhook_id, **kwargs):
        self._read("previous_secret_unknown")
        return super().previous_secret_unknown(webhook_id, **kwargs)

    def save_subscription_secret(self, *args, **kwargs):
        super().save_subscription_secret(*args, **kwargs)
        self.failing |= self.failing_once_saved


def stored_subscription(receiver_for, sqlite_url):
    """(client, store, webhook id): a receiver on a DroppingStore holding one subscription's "stored-secret"."""
    webhook_id = str(uuid.uuid4())
    store = DroppingStore(sqlite_url)
    client = receiver_for(FakeCatena(), store=store)
    store.save_subscription_secret(webhook_id, "stored-secret")
    return client, store, webhook_id


def test_a_delivery_that_verifies_with_the_cached_secret_reads_nothing_more(receiver_for, sqlite_url):
    """Its subscription's secret is cached: it verifies even while the inbox cannot read that row again."""
    client, store, webhook_id = stored_subscription(receiver_for, sqlite_url)
    store.failing = {"subscription_secret_candidates"}
    assert deliver(client, webhook_id, secret="stored-secret").status_code == 202
    assert deliver(client, webhook_id, secret="stored-secret").status_code == 202


def test_a_webhook_id_the_cache_lacks_refreshes_the_whole_cache(receiver_for, sqlite_url):
    """A delivery naming a subscription created since the cache filled re-reads every secret (at most once
    per miss interval), so the new subscription verifies even when its own row cannot be read alone."""
    first, later = str(uuid.uuid4()), str(uuid.uuid4())
    store = DroppingStore(sqlite_url)
    client = receiver_for(FakeCatena(), store=store)
    store.save_subscription_secret(first, "first-secret")
    assert deliver(client, first, secret="first-secret").status_code == 202  # the cache is filled
    store.save_subscription_secret(later, "later-secret")
    store.failing = {"subscription_secret_candidates"}  # only the whole-cache refresh can find it now
    resolver = client.app.state.receiver.resolver
    resolver._loaded_at -= 2  # the last refresh was 2 s ago, past the 1 s miss interval (instead of sleeping)
    resolver._attempted_at -= 2
    assert deliver(client, later, secret="later-secret").status_code == 202


def test_a_stored_subscription_whose_secret_cannot_be_read_again_is_503(receiver_for, sqlite_url):
    """The cached secret fails, and re-reading the subscription's own fails: it may have been rotated, so
    the delivery is left for Catena to retry (503), not refused for good (401)."""
    client, store, webhook_id = stored_subscription(receiver_for, sqlite_url)
    store.failing = {"subscription_secret_candidates"}
    assert deliver(client, webhook_id, secret="rotated-secret").status_code == 503
    store.failing = set()
    assert deliver(client, webhook_id, secret="rotated-secret").status_code == 401  # the inbox answers again


def test_a_delivery_is_503_when_the_inbox_cannot_tell_whether_a_replaced_secret_was_ours(receiver_for, sqlite_url):
    client, store, webhook_id = stored_subscription(receiver_for, sqlite_url)
    store.failing = {"previous_secret_unknown"}
    assert deliver(client, webhook_id, secret="forged-secret").status_code == 503
    store.failing = set()
    assert deliver(client, webhook_id, secret="forged-secret").status_code == 401


def test_a_secret_learnt_from_catena_that_cannot_be_read_back_is_503(receiver_for, sqlite_url):
    """Catena shows the secret and it is saved, but the inbox fails before the delivery is checked with it:
    503, and Catena's retry verifies."""
    webhook_id = str(uuid.uuid4())
    store = DroppingStore(sqlite_url)
    catena = FakeCatena({webhook_id: CALLBACK_SECRET})
    client = receiver_for(catena, store=store)
    store.failing_once_saved = {"subscription_secret_candidates"}
    assert deliver(client, webhook_id).status_code == 503
    assert store.subscription_secret(webhook_id) == CALLBACK_SECRET and store.last_seq() == 0
    store.failing = set()
    assert deliver(client, webhook_id).status_code == 202
    assert catena.calls == [webhook_id]


def receiver_with_its_own_lookup(sqlite_url: str, catena_conn_id: str | None) -> WebhookReceiver:
    with migrated_store(sqlite_url):
        pass
    return WebhookReceiver(ReceiverSettings(inbox_url=sqlite_url, secrets=(), catena_conn_id=catena_conn_id))


def test_the_receivers_lookup_asks_catena_through_the_configured_connection(sqlite_url, monkeypatch):
    monkeypatch.delenv("CATENA_WEBHOOK_SECRET", raising=False)
    webhook_id = str(uuid.uuid4())
    catena = FakeCatena({webhook_id: CALLBACK_SECRET})
    asked: list[str | None] = []
    monkeypatch.setattr(receiver_module, "airflow_catena_client", lambda conn_id: asked.append(conn_id) or catena)
    receiver = receiver_with_its_own_lookup(sqlite_url, "catena_partner")
    with TestClient(create_webhook_app(receiver)) as client:
        assert deliver(client, webhook_id).status_code == 202
        assert receiver.store().subscription_secret(webhook_id) == CALLBACK_SECRET  # learnt into its inbox
    assert asked == ["catena_partner"] and catena.calls == [webhook_id]


def test_without_a_catena_connection_an_unknown_subscription_is_503(sqlite_url, monkeypatch):
    monkeypatch.delenv("CATENA_WEBHOOK_SECRET", raising=False)
    webhook_id = str(uuid.uuid4())
    catena = FakeCatena({webhook_id: CALLBACK_SECRET})
    asked: list[str | None] = []
    monkeypatch.setattr(receiver_module, "airflow_catena_client", lambda conn_id: asked.append(conn_id) or catena)
    receiver = receiver_with_its_own_lookup(sqlite_url, None)
    with TestClient(create_webhook_app(receiver)) as client:
        assert deliver(client, webhook_id).status_code == 503  # Catena retries; nothing to look it up with
    assert asked == [] and catena.calls == []
