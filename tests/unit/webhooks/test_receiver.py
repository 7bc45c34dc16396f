from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import sqlite3
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from catena_airflow.inbox import InboxStore, IncomingEvent, Stage
from catena_airflow.webhooks.app import create_webhook_app
from catena_airflow.webhooks.config import ReceiverSettings
from catena_airflow.webhooks.receiver import WebhookReceiver
from tests.fixtures.databases import migrated_store
from tests.unit.inbox import fleet_events as fe
from tests.unit.webhooks.conftest import receiver_store
from tests.unit.webhooks.signing import SECRET, delivery, sign, timestamp

URL = "/catena/webhooks"
VECTORS = json.loads((Path(__file__).parents[2] / "data" / "catena-webhook-vectors.json").read_text())["vectors"]


def post(client, body: bytes, url: str = URL, **kwargs):
    content, headers = delivery(body, **kwargs)
    return client.post(url, content=content, headers=headers)


def logged(caplog) -> list[str]:
    """What ``catena_airflow.webhooks.receiver`` logged (other loggers, e.g. the inbox's migrations, left out)."""
    return [r.getMessage() for r in caplog.records if r.name == "catena_airflow.webhooks.receiver"]


def test_signed_gzip_delivery_is_committed_then_acknowledged(client):
    env = fe.happy()[0]
    response = post(client, fe.body(env))
    assert (response.status_code, response.json()) == (202, {"status": "accepted"})
    store = receiver_store(client)
    [stored] = store.events_after(0)
    assert stored.event_id == env["id"] and stored.payload == env and stored.request_id
    assert store.get_onboarding(fe.INVITATION_ID).stage is Stage.INVITED


def test_both_paths_answer(client):
    envs = fe.happy()
    assert post(client, fe.body(envs[0]), url="/webhooks").status_code == 202
    assert post(client, fe.body(envs[1]), url="/catena/webhooks").status_code == 202
    assert len(receiver_store(client).events_after(0)) == 2


def test_duplicate_is_acknowledged_and_not_stored_twice(client):
    body = fe.body(fe.happy()[0])
    assert post(client, body).json() == {"status": "accepted"}
    again = post(client, body, ts=timestamp(-5))  # a retry: new timestamp and signature, same event id
    assert (again.status_code, again.json()) == (202, {"status": "duplicate"})
    assert len(receiver_store(client).events_after(0)) == 1
    assert receiver_store(client).webhook_stats().duplicates_dropped == 1


def test_a_redelivered_telematics_event_is_acknowledged_as_a_duplicate(client):
    """Not an onboarding event, so only the inbox's insert deduplicates it: a retry must not be a 503 forever."""
    body = fe.body(fe.envelope(30, "vehicle.added", {"id": "vehicle-1", "fleet_id": fe.FLEET_ID}))
    assert post(client, body).json() == {"status": "accepted"}
    again = post(client, body, ts=timestamp(-5))
    assert (again.status_code, again.json()) == (202, {"status": "duplicate"})
    assert len(receiver_store(client).events_after(0)) == 1


def test_a_whole_onboarding_over_http(client):
    for env in reversed(fe.happy()):  # worst case: last event first
        assert post(client, fe.body(env)).status_code == 202
    assert receiver_store(client).get_onboarding(fe.INVITATION_ID).stage is Stage.CONNECTED


def test_unknown_event_names_are_stored(client):
    env = fe.envelope(1, "trailer_vehicle_association.added", {"id": "a-1", "fleet_id": fe.FLEET_ID})
    assert post(client, fe.body(env)).status_code == 202
    assert receiver_store(client).events_after(0)[0].event_name == "trailer_vehicle_association.added"


def test_uncompressed_body_is_accepted_when_no_encoding_is_declared(client):
    assert post(client, fe.body(fe.happy()[0]), compress=False).status_code == 202


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_reference_vectors_verify(make_client, sqlite_url, vector):
    client = make_client(sqlite_url, secrets=(vector["secret"],), max_timestamp_age_seconds=10**10)
    body = vector["uncompressed_body"].encode()
    assert sign(vector["secret"], vector["x_catena_timestamp"], body) == vector["x_catena_signature"]
    response = post(client, body, secret=vector["secret"], ts=vector["x_catena_timestamp"])
    assert response.status_code == 202


def subscribed(make_client, sqlite_url: str, webhook_id: str, secret: str, **settings):
    """(a receiver that knows only the inbox's secrets, the inbox), where ``webhook_id`` is signed with ``secret``."""
    store = InboxStore(sqlite_url, fernet_key=settings.get("fernet_key"))
    store.migrate()
    store.save_subscription_secret(webhook_id, secret)
    return make_client(sqlite_url, secrets=(), **settings), store


def test_subscription_secret_from_the_inbox_is_used(make_client, sqlite_url):
    client, _ = subscribed(make_client, sqlite_url, "wh-stored", "stored-secret")
    body = fe.body(fe.happy()[0])
    assert post(client, body, secret="stored-secret", webhook_id="wh-stored").status_code == 202
    # The stored secret belongs to its subscription only.
    other = fe.body(fe.happy()[1])
    assert post(client, other, secret="stored-secret", webhook_id="wh-other").status_code == 401


def test_a_subscription_created_after_start_is_picked_up(client):
    assert post(client, fe.body(fe.happy()[0]), secret="new-secret", webhook_id="wh-new").status_code == 401
    receiver_store(client).save_subscription_secret("wh-new", "new-secret")  # e.g. a rotation
    # Within the cache's lifetime: a failed check re-reads the subscription's own secret first.
    assert post(client, fe.body(fe.happy()[0]), secret="new-secret", webhook_id="wh-new").status_code == 202


def test_rotation_list_from_the_environment(make_client, sqlite_url, monkeypatch):
    monkeypatch.setenv("CATENA_WEBHOOK_SECRET", "old-secret, new-secret")
    client = make_client(sqlite_url, secrets=())
    envs = fe.happy()
    assert post(client, fe.body(envs[0]), secret="old-secret").status_code == 202
    assert post(client, fe.body(envs[1]), secret="new-secret").status_code == 202
    assert post(client, fe.body(envs[2]), secret="other").status_code == 401


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "other body", "missing signature", "missing timestamp", "signature of other timestamp"],
)
def test_bad_signatures_are_401(client, tamper, caplog):
    body = fe.body(fe.happy()[0])
    content, headers = delivery(body, secret="wrong" if tamper == "wrong secret" else SECRET)
    if tamper == "other body":
        content = gzip.compress(body.replace(b"FLEET-42", b"FLEET-43"))
    elif tamper == "missing signature":
        del headers["X-Catena-Signature"]
    elif tamper == "missing timestamp":
        del headers["X-Catena-Timestamp"]
    elif tamper == "signature of other timestamp":
        # Both from one reading of the clock: two readings a second boundary apart would be equal strings.
        signed_at = datetime.fromisoformat(headers["X-Catena-Timestamp"])
        headers["X-Catena-Signature"] = sign(SECRET, (signed_at - timedelta(seconds=1)).isoformat(), body)
    with caplog.at_level(logging.WARNING):
        response = client.post(URL, content=content, headers=headers)
    assert (response.status_code, response.json()) == (401, {"detail": "unauthorized"})
    assert receiver_store(client).events_after(0) == []
    assert headers["X-Request-ID"] in caplog.text and headers["X-Webhook-ID"] in caplog.text
    assert SECRET not in caplog.text and "FLEET-42" not in caplog.text


# Two seconds from the edge, not one: the header holds whole seconds, so truncation plus the request's
# own time would otherwise put a -299 s timestamp past 300 s now and then. The edge itself is tested
# with a fixed clock in tests/unit/client/test_signature.py.
@pytest.mark.parametrize(("offset", "status"), [(-298, 202), (-302, 401), (298, 202), (302, 401), (-86400, 401)])
def test_timestamp_window_is_five_minutes_both_ways(client, offset, status):
    assert post(client, fe.body(fe.happy()[0]), ts=timestamp(offset)).status_code == status


@pytest.mark.parametrize("ts", ["yesterday", "2026-03-01T12:00:00", ""])
def test_unusable_timestamps_are_401(client, ts):
    content, headers = delivery(fe.body(fe.happy()[0]))
    headers["X-Catena-Timestamp"] = ts
    headers["X-Catena-Signature"] = sign(SECRET, ts, fe.body(fe.happy()[0]))
    assert client.post(URL, content=content, headers=headers).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"version": "1.0", "webhook_id": "w"}',  # no data
        b'{"version": "", "webhook_id": "w", "data": []}',
        b'{"version": "1.0", "webhook_id": "w", "data": {"id": 1}}',
        b"\xff\xfe\x00",
    ],
)
def test_signed_but_malformed_bodies_are_400(client, body):
    response = post(client, body)
    assert (response.status_code, response.json()) == (400, {"detail": "malformed request"})
    assert receiver_store(client).events_after(0) == []


def test_invalid_gzip_is_400(client):
    body = fe.body(fe.happy()[0])
    _, headers = delivery(body)
    assert client.post(URL, content=b"\x1f\x8bnot really gzip", headers=headers).status_code == 400


def test_unsupported_encoding_is_415(client):
    content, headers = delivery(fe.body(fe.happy()[0]))
    headers["Content-Encoding"] = "br"
    assert client.post(URL, content=content, headers=headers).status_code == 415


def test_oversize_compressed_body_is_413(make_client, sqlite_url):
    client = make_client(sqlite_url, max_body_bytes=2048)
    env = fe.envelope(1, "vehicle.modified", {"id": "v", "blob": "x" * 100_000})
    content, headers = delivery(fe.body(env), compress=False)
    assert client.post(URL, content=content, headers=headers).status_code == 413


def test_oversize_streamed_body_without_length_is_413(make_client, sqlite_url):
    client = make_client(sqlite_url, max_body_bytes=2048)
    content, headers = delivery(fe.body(fe.happy()[0]))

    def chunks():  # chunked transfer encoding: no Content-Length to check up front
        yield content
        for _ in range(10):
            yield b"\0" * 1024

    assert client.post(URL, content=chunks(), headers=headers).status_code == 413


def test_gzip_bomb_is_413(client):
    raw = b'{"version":"1.0","webhook_id":"w","data":[{"pad":"' + b"0" * (20 * 1024 * 1024) + b'"}]}'
    content, headers = delivery(raw)
    assert len(content) < 1024 * 1024  # small on the wire
    response = client.post(URL, content=content, headers=headers)
    assert (response.status_code, response.json()) == (413, {"detail": "payload too large"})


def test_inbox_down_is_503_and_never_401(make_client, tmp_path, caplog):
    unreachable = f"sqlite:///{tmp_path / 'no-such-dir' / 'inbox.db'}"
    client = make_client(unreachable)
    content, headers = delivery(fe.body(fe.happy()[0]))
    with caplog.at_level(logging.ERROR):
        response = client.post(URL, content=content, headers=headers)
    assert (response.status_code, response.json()) == (503, {"detail": "temporarily unavailable"})
    assert headers["X-Request-ID"] in caplog.text and SECRET not in caplog.text
    # Without a configured secret the right one may be in the unreachable inbox: still 503, not 401.
    client = make_client(unreachable, secrets=())
    assert post(client, fe.body(fe.happy()[0]), secret="only-in-the-inbox").status_code == 503


def test_inbox_recovers_after_an_outage(make_client, tmp_path):
    folder = tmp_path / "later"
    client = make_client(f"sqlite:///{folder / 'inbox.db'}")
    body = fe.body(fe.happy()[0])
    assert post(client, body).status_code == 503
    folder.mkdir()
    assert post(client, body).status_code == 202  # Catena's retry lands once the inbox is back


def test_a_commit_that_does_not_finish_in_time_is_503_and_not_acknowledged(make_client, sqlite_url, caplog):
    client = make_client(sqlite_url, commit_timeout_seconds=1.0)
    first, late = fe.happy()[:2]
    assert post(client, fe.body(first)).status_code == 202  # the inbox is migrated and the writer running
    store = receiver_store(client)
    # Another writer holds SQLite's write lock (a long transaction, a checkpoint): this commit waits on it.
    blocker = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        content, headers = delivery(fe.body(late))
        with caplog.at_level(logging.ERROR, logger="catena_airflow.webhooks.receiver"):
            response = client.post(URL, content=content, headers=headers)
        assert (response.status_code, response.json()) == (503, {"detail": "temporarily unavailable"})
        assert logged(caplog) == [
            f"Catena webhook not committed, answered 503 (TimeoutError): webhook_id={headers['X-Webhook-ID']} "
            f"request_id={headers['X-Request-ID']} event_id={late['id']}"
        ]
        assert [e.event_id for e in store.events_after(0)] == [first["id"]]  # not stored: not acknowledged
    finally:
        blocker.rollback()
        blocker.close()
    # The commit answered 503 may land once the lock is free (give it the time); Catena's retry is then
    # acknowledged, and the event is stored once.
    deadline = time.monotonic() + 30
    while store.get_event(late["id"]) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert post(client, fe.body(late), ts=timestamp(-1)).status_code == 202
    assert [e.event_id for e in store.events_after(0)] == [first["id"], late["id"]]


def test_receiver_counters_reach_the_dashboard(client):
    assert post(client, fe.body(fe.happy()[0]), secret="wrong").status_code == 401
    assert post(client, b"nope").status_code == 400
    assert post(client, fe.body(fe.happy()[0])).status_code == 202  # counters ride along with this commit
    stats = receiver_store(client).webhook_stats()
    assert (stats.signature_failures, stats.rejected, stats.events_total) == (1, 1, 1)


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


# --------------------------------------------------------------------------- what a rejection logs and counts


def rejection(case: str) -> tuple[bytes, dict[str, str], dict[str, object]]:
    """(content, headers, settings) of a delivery refused for ``case``."""
    body = fe.body(fe.happy()[0])
    content, headers = delivery(body)
    settings: dict[str, object] = {}
    if case == "bad content-length":
        headers["Content-Length"] = "-1"
    elif case == "declared over limit":
        headers["Content-Length"] = str(10**9)  # refused on the header alone: the body is never read
    elif case == "streamed over limit":  # 4 KiB that do not compress; the next delivery fits
        settings["max_body_bytes"] = 2048
        content, headers = delivery(fe.body(fe.envelope(40, "vehicle.modified", {"pad": os.urandom(2048).hex()})))
    elif case == "inflated over limit":  # 4 KiB that compress to a few bytes; the next delivery fits
        settings["max_decompressed_bytes"] = 2048
        content, headers = delivery(fe.body(fe.envelope(40, "vehicle.modified", {"pad": "0" * 4096})))
    elif case == "signature headers missing":
        del headers["X-Catena-Signature"]
    elif case == "timestamp outside window":
        content, headers = delivery(body, ts=timestamp(-3600))
    elif case == "bad signature":
        content, headers = delivery(body, secret="not-the-secret")
    elif case == "invalid gzip":
        content = b"\x1f\x8b not gzip"
    elif case == "unsupported content-encoding":
        headers["Content-Encoding"] = "br"
    elif case == "not a Catena envelope":
        content, headers = delivery(b'{"version": "1.0"}')
    headers["X-Webhook-ID"] = "wh-\n42"  # what a log line gets of a hostile header
    headers["X-Request-ID"] = "r" * 100
    return content, headers, settings


@pytest.mark.parametrize(
    ("case", "status", "reason", "counter"),
    [
        ("bad content-length", 400, "bad content-length", "rejected"),
        ("declared over limit", 413, "body over limit", "rejected"),
        ("streamed over limit", 413, "body over limit", "rejected"),
        ("inflated over limit", 413, "body over limit", "rejected"),
        ("signature headers missing", 401, "signature headers missing", "signature_failures"),
        ("timestamp outside window", 401, "timestamp outside window", "signature_failures"),
        ("bad signature", 401, "bad signature", "signature_failures"),
        ("invalid gzip", 400, "invalid gzip", "rejected"),
        ("unsupported content-encoding", 415, "unsupported content-encoding", "rejected"),
        ("not a Catena envelope", 400, "not a Catena envelope", "rejected"),
    ],
)
def test_a_rejection_is_logged_with_its_reason_and_ids_and_counted(
    make_client, sqlite_url, caplog, case, status, reason, counter
):
    content, headers, settings = rejection(case)
    client = make_client(sqlite_url, **settings)
    with caplog.at_level(logging.WARNING, logger="catena_airflow.webhooks.receiver"):
        response = client.post(URL, content=content, headers=headers)
    assert (response.status_code, response.headers["content-type"]) == (status, "application/json")
    assert logged(caplog) == [
        f"Catena webhook rejected with {status} ({reason}): webhook_id=wh-?42 request_id={'r' * 80}"
    ]
    assert post(client, fe.body(fe.happy()[1])).status_code == 202  # the counter rides along with a commit
    stats = receiver_store(client).webhook_stats()
    assert {"rejected": stats.rejected, "signature_failures": stats.signature_failures} == {
        "rejected": int(counter == "rejected"),
        "signature_failures": int(counter == "signature_failures"),
    }


def test_a_rejection_without_ids_logs_dashes(client, caplog):
    content, headers = delivery(fe.body(fe.happy()[0]), secret="wrong")
    del headers["X-Webhook-ID"], headers["X-Request-ID"]
    with caplog.at_level(logging.WARNING, logger="catena_airflow.webhooks.receiver"):
        assert client.post(URL, content=content, headers=headers).status_code == 401
    assert logged(caplog)[-1].endswith("(bad signature): webhook_id=- request_id=-")


def test_a_declared_length_at_the_limit_is_read(make_client, sqlite_url):
    content, headers = delivery(fe.body(fe.happy()[0]))
    client = make_client(sqlite_url, max_body_bytes=len(content))
    assert client.post(URL, content=content, headers=headers).status_code == 202


def test_answers_are_json(client):
    response = post(client, fe.body(fe.happy()[0]))
    assert (response.status_code, response.headers["content-type"]) == (202, "application/json")


def test_an_inbox_recreated_empty_is_migrated_again(client):
    """A restore or a new volume leaves the inbox without tables: one delivery fails, the next migrates."""
    assert post(client, fe.body(fe.happy()[0])).status_code == 202
    store = receiver_store(client)
    with store.engine.begin() as conn:
        for (table,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").all():
            conn.exec_driver_sql(f'DROP TABLE "{table}"')
    assert post(client, fe.body(fe.happy()[1])).status_code == 503
    assert post(client, fe.body(fe.happy()[1])).status_code == 202
    assert [e.event_id for e in store.events_after(0)] == [fe.happy()[1]["id"]]


def test_subscription_secrets_encrypted_with_the_configured_key(make_client, sqlite_url):
    key = Fernet.generate_key().decode()
    client, _ = subscribed(make_client, sqlite_url, "wh-encrypted", "encrypted-secret", fernet_key=key)
    body = fe.body(fe.happy()[0])
    assert post(client, body, secret="encrypted-secret", webhook_id="wh-encrypted").status_code == 202


def test_a_bad_signature_is_401_even_when_the_subscription_has_secrets(make_client, sqlite_url):
    client, _ = subscribed(make_client, sqlite_url, "wh-stored", "stored-secret")
    body = fe.body(fe.happy()[0])
    assert post(client, body, secret="forged-secret", webhook_id="wh-stored").status_code == 401
    assert receiver_store(client).events_after(0) == []


def test_a_signature_that_cannot_be_rechecked_is_503_not_401(make_client, sqlite_url):
    """The cached secret fails and re-reading the subscription's own fails too: it may have rotated, so the
    delivery is not refused for good (401) but left for Catena to retry (503)."""
    client, store = subscribed(make_client, sqlite_url, "wh-rotating", "old-secret")
    assert post(client, fe.body(fe.happy()[0]), secret="old-secret", webhook_id="wh-rotating").status_code == 202
    with store.engine.begin() as conn:  # the subscriptions can no longer be read (the cache is still fresh)
        conn.exec_driver_sql("ALTER TABLE catena_subscriptions RENAME TO catena_subscriptions_away")
    body = fe.body(fe.happy()[1])
    assert post(client, body, secret="new-secret", webhook_id="wh-rotating").status_code == 503


def test_a_receiver_given_a_store_uses_it(tmp_path):
    """The api-server's plugin hands the receiver its store; the settings' inbox URL is then not used."""
    other = tmp_path / "other.db"
    with migrated_store(f"sqlite:///{tmp_path / 'given.db'}") as given:
        settings = ReceiverSettings(inbox_url=f"sqlite:///{other}", secrets=(SECRET,))
        content, headers = delivery(fe.body(fe.happy()[0]))
        with TestClient(create_webhook_app(WebhookReceiver(settings, store=given))) as client:
            assert client.post(URL, content=content, headers=headers).status_code == 202
        assert [e.event_id for e in given.events_after(0)] == [fe.happy()[0]["id"]]
    assert not other.exists()


class GatedStore(InboxStore):
    """A real inbox whose commits wait for ``gate``: deliveries queue up meanwhile, as under load."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.gate = threading.Event()
        self.batch_sizes: list[int] = []

    def record_events(self, items, **kwargs):
        self.gate.wait(30)  # a guard, not a timing: the test opens the gate once every delivery is queued
        self.batch_sizes.append(len(items))
        return super().record_events(items, **kwargs)


def test_the_writer_commits_at_most_max_batch_deliveries_at_once(sqlite_url):
    store = GatedStore(sqlite_url)
    store.migrate()
    receiver = WebhookReceiver(ReceiverSettings(max_batch=2), store=store)
    events = [IncomingEvent.from_envelope(env, fe.body(env)) for env in fe.happy()[:5]]

    async def submit_all():
        submitted = [asyncio.ensure_future(receiver.writer.submit(item, timeout=60)) for item in events]
        await asyncio.sleep(0)  # each submission runs up to its wait: all five are queued
        store.gate.set()
        return await asyncio.gather(*submitted)

    try:
        outcomes = asyncio.run(submit_all())
    finally:
        receiver.close()
    assert [o.stored for o in outcomes] == [True] * 5
    assert sum(store.batch_sizes) == 5 and max(store.batch_sizes) == 2
