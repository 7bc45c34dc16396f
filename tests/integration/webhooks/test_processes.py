"""The receiver in real processes: `catena-webhooks serve`, and Airflow's api-server with the plugin."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from catena_airflow.inbox import InboxStore, Stage
from tests.fixtures.net import free_port, wait_for_http
from tests.integration.webhooks.conftest import process_log
from tests.unit.inbox import fleet_events as fe
from tests.unit.webhooks.signing import SECRET, delivery

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def post_all(base_url: str, envelopes) -> list[int]:
    with requests.Session() as session:
        statuses = []
        for env in envelopes:
            content, headers = delivery(fe.body(env))
            statuses.append(session.post(f"{base_url}/catena/webhooks", data=content, headers=headers, timeout=30))
        return [r.status_code for r in statuses]


def check_inbox(inbox_url: str, expected_events: int) -> None:
    store = InboxStore(inbox_url)
    try:
        assert store.get_onboarding(fe.INVITATION_ID).stage is Stage.CONNECTED
        assert len(store.events_after(0)) == expected_events
    finally:
        store.dispose()


def test_catena_webhooks_serve(inbox_url, start_process):
    port = free_port()
    env = {**os.environ, "CATENA_INBOX_URL": inbox_url, "CATENA_WEBHOOK_SECRET": f"old-secret,{SECRET}"}
    proc = start_process([str(BIN / "catena-webhooks"), "serve", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    wait_for_http(f"{base}/healthz", timeout=60, process=proc)

    envs = fe.happy()
    assert post_all(base, [*envs, envs[0]]) == [202] * (len(envs) + 1)
    content, headers = delivery(fe.body(envs[0]), secret="forged")
    refused = requests.post(f"{base}/webhooks", data=content, headers=headers, timeout=30)
    assert refused.status_code == 401
    malformed = requests.post(f"{base}/webhooks", data=b"{}", headers={"content-type": "application/json"}, timeout=30)
    for response in (refused, malformed):
        assert not {"server", "date"} & {name.lower() for name in response.headers}, response.headers

    check_inbox(inbox_url, len(envs))
    log = process_log(proc)
    assert SECRET not in log and "FLEET-42" not in log


def test_catena_webhooks_serve_with_two_workers(inbox_url, start_process):
    """Two server processes, each with its own inbox writer, share one inbox: every event once."""
    port = free_port()
    env = {**os.environ, "CATENA_INBOX_URL": inbox_url, "CATENA_WEBHOOK_SECRET": SECRET}
    cmd = [str(BIN / "catena-webhooks"), "serve", "--port", str(port), "--workers", "2"]
    proc = start_process(cmd, env=env)
    base = f"http://127.0.0.1:{port}"
    wait_for_http(f"{base}/healthz", timeout=60, process=proc)

    envs = fe.happy()
    batches = [[env] for env in envs] + [envs] * 3  # concurrent deliveries, and redeliveries of each
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [status for result in pool.map(lambda batch: post_all(base, batch), batches) for status in result]
    assert statuses == [202] * len(statuses)
    check_inbox(inbox_url, len(envs))


def test_airflow_api_server_serves_the_receiver(airflow_db, sqlite_url, start_process):
    port = free_port()
    env = {**os.environ, "CATENA_INBOX_URL": sqlite_url, "CATENA_WEBHOOK_SECRET": SECRET}
    proc = start_process([str(BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    wait_for_http(f"{base}/api/v2/monitor/health", timeout=240, process=proc)

    assert post_all(base, fe.reuse()) == [202] * len(fe.reuse())
    # No Airflow login on the webhook route, yet Airflow's own API still requires one.
    assert requests.get(f"{base}/api/v2/dags", timeout=30).status_code == 401
    content, headers = delivery(fe.body(fe.happy()[0]), secret="forged")
    assert requests.post(f"{base}/catena/webhooks", data=content, headers=headers, timeout=30).status_code == 401
    check_inbox(sqlite_url, len(fe.reuse()))
