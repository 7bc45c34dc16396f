"""The plugin's receiver inside Airflow's own FastAPI app (airflow.api_fastapi.app.create_app)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from catena_airflow.inbox import Stage
from tests.fixtures.airflow import mounted_receiver
from tests.unit.inbox import fleet_events as fe
from tests.unit.webhooks.signing import delivery

pytestmark = pytest.mark.integration


def fresh_ids(env: dict[str, Any], prefix: str, webhook_id: str) -> dict[str, Any]:
    """The same envelope with ids of this test's own (the receiver's inbox outlives one test)."""
    renamed = json.loads(json.dumps(env).replace("019d0000-0000-7000", prefix))
    return {**renamed, "webhook_id": webhook_id}


def test_receiver_mounted_at_catena_webhooks(airflow_app, airflow_client, tmp_path, monkeypatch):
    receiver = mounted_receiver(airflow_app)
    # Used only if no earlier test in this process made the receiver create its inbox (first use).
    monkeypatch.setenv("CATENA_INBOX_URL", f"sqlite:///{tmp_path / 'inbox.db'}")
    store = receiver.store()
    # As the setup DAG leaves it: the subscription's secret stored in the inbox, under this test's own
    # webhook id and secret, so that whatever earlier tests configured does not matter.
    webhook_id, secret = str(uuid.uuid4()), f"secret-{uuid.uuid4().hex}"
    store.save_subscription_secret(webhook_id, secret, event_name="invitation.*")
    prefix = str(uuid.uuid4())[:18]
    events = [fresh_ids(env, prefix, webhook_id) for env in fe.reuse()]
    invitation_id = fe.INVITATION_ID.replace("019d0000-0000-7000", prefix)

    for env in events:
        content, headers = delivery(fe.body(env), secret=secret, webhook_id=webhook_id)
        assert airflow_client.post("/catena/webhooks", content=content, headers=headers).status_code == 202
    content, headers = delivery(fe.body(events[0]), secret="forged", webhook_id=webhook_id)
    assert airflow_client.post("/catena/webhooks", content=content, headers=headers).status_code == 401
    assert airflow_client.get("/api/v2/dags").status_code == 401  # Airflow's API keeps its login

    assert store.get_onboarding(invitation_id).stage is Stage.CONNECTED
