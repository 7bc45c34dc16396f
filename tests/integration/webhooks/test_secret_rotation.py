"""Secret rotation against a real `catena-webhooks serve`: no delivery is refused during the switch."""

from __future__ import annotations

import itertools
import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from catena_airflow.inbox import InboxStore
from tests.fixtures.net import free_port, wait_for_http
from tests.unit.inbox import fleet_events as fe
from tests.unit.webhooks.signing import delivery

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
WEBHOOK_ID = "019d0000-0000-7000-8000-00000000b001"


def test_rotation_accepts_old_and_new_during_the_grace_then_only_new(sqlite_url, start_process):
    env = {k: v for k, v in os.environ.items() if k != "CATENA_WEBHOOK_SECRET"}
    env["CATENA_INBOX_URL"] = sqlite_url
    store = InboxStore(sqlite_url)
    store.migrate()
    store.save_subscription_secret(WEBHOOK_ID, "old-secret", event_name="invitation.*")
    envelopes = itertools.cycle(fe.happy())  # signatures are checked before dedupe

    def start_receiver() -> str:
        port = free_port()
        proc = start_process([str(BIN / "catena-webhooks"), "serve", "--port", str(port)], env=env)
        wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=60, process=proc)
        return f"http://127.0.0.1:{port}/catena/webhooks"

    def post(url: str, secret: str) -> int:
        content, headers = delivery(fe.body(next(envelopes)), secret=secret, webhook_id=WEBHOOK_ID)
        return requests.post(url, data=content, headers=headers, timeout=60).status_code

    url = start_receiver()
    assert post(url, "old-secret") == 202
    # The operator's order: the new secret is stored as next BEFORE Catena is told to sign with it ...
    store.stage_subscription_secret(WEBHOOK_ID, "new-secret")
    assert post(url, "new-secret") == 202  # Catena switched already: formerly a 401, and the event lost
    assert post(url, "old-secret") == 202  # a delivery signed just before the switch
    # ... then, once Catena acknowledged, made current; the old one stays valid for the grace.
    store.promote_subscription_secret(WEBHOOK_ID, grace=timedelta(hours=1))
    assert post(url, "old-secret") == 202  # a retry of a delivery signed with the old secret
    assert post(url, "new-secret") == 202
    assert post(url, "forged-secret") == 401

    # After the grace (ended at once here), a receiver refuses the old secret and takes the new one.
    store.stage_subscription_secret(WEBHOOK_ID, "newest-secret")
    store.promote_subscription_secret(WEBHOOK_ID, grace=timedelta(0))
    url = start_receiver()  # a fresh cache (a running one re-reads within its refresh interval)
    assert post(url, "new-secret") == 401
    assert post(url, "newest-secret") == 202
    store.dispose()
