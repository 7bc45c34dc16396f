"""Signing-secret rotation on the real receiver process: two secrets at once, then the old one gone.

Two ways a deployment holds secrets: ``CATENA_WEBHOOK_SECRET`` (comma-separated during a rotation) and
per-subscription secrets stored in the inbox by the setup DAG (rotated with a PATCH to Catena).
A delivery refused with 401 is lost for good (Catena counts every 4xx as delivered), so a rotation
must never refuse a delivery signed with the secret Catena now uses.
"""

from __future__ import annotations

import pytest

from catena_airflow.inbox import InboxStore
from tests.integration.security.signer import WEBHOOK_ID, body_of, envelope, signed

pytestmark = pytest.mark.integration


def deliver(receiver, secret: str, webhook_id: str = WEBHOOK_ID) -> tuple[int, str]:
    import requests

    env = envelope(webhook_id=webhook_id)
    content, headers = signed(body_of(env), secret, webhook_id=webhook_id)
    return requests.post(receiver.url, data=content, headers=headers, timeout=30).status_code, env["id"]


def test_configured_secrets_rotate_old_and_new_then_new_only(processes, sqlite_url):
    receiver = processes.receiver(inbox_url=sqlite_url, secrets="old-secret-1aaa, new-secret-2bbb")
    assert deliver(receiver, "old-secret-1aaa")[0] == 202
    assert deliver(receiver, "new-secret-2bbb")[0] == 202
    assert deliver(receiver, "never-configured")[0] == 401

    receiver.restart(secrets="new-secret-2bbb")  # the old secret removed from the configuration
    assert deliver(receiver, "new-secret-2bbb")[0] == 202
    status, event_id = deliver(receiver, "old-secret-1aaa")
    assert status == 401
    assert deliver(receiver, "new-secret-2bbb")[0] == 202  # its commit also writes the failure counter
    store = InboxStore(sqlite_url)
    try:
        assert store.get_event(event_id) is None
        assert store.webhook_stats().signature_failures >= 2
    finally:
        store.dispose()


def test_stored_subscription_secret_rotation_never_refuses_the_new_secret(processes, sqlite_url):
    store = InboxStore(sqlite_url)
    store.migrate()
    store.save_subscription_secret(WEBHOOK_ID, "stored-old-3ccc", event_name="vehicle.added")
    receiver = processes.receiver(inbox_url=sqlite_url, secrets="")
    try:
        assert deliver(receiver, "stored-old-3ccc")[0] == 202  # the receiver now caches the stored secret

        # The setup DAG rotates: Catena signs with the new secret from now on, the inbox holds it.
        store.save_subscription_secret(WEBHOOK_ID, "stored-new-4ddd")
        status, event_id = deliver(receiver, "stored-new-4ddd")
        assert status == 202, "a delivery signed with the rotated secret was refused (Catena drops it)"
        assert store.get_event(event_id) is not None

        # Another subscription's secret never verifies this one's deliveries.
        store.save_subscription_secret("other-webhook", "other-secret-5eee")
        assert deliver(receiver, "other-secret-5eee")[0] == 401

        receiver.restart()  # a fresh process knows only the current stored secret
        assert deliver(receiver, "stored-old-3ccc")[0] == 401
        assert deliver(receiver, "stored-new-4ddd")[0] == 202
    finally:
        store.dispose()
