"""A deferred onboarding sensor waits through an inbox outage and completes once the DLQ is replayed.

``dag.test()`` of ``catena_fleet_onboarding`` (its trigger watching the PostgreSQL inbox), the slow
sandbox (a step every 1.5 s, so the sensor defers first), and a receiver process whose path to the
inbox goes through a TCP proxy that is down while the fleet connects. Every onboarding event is
answered 503 and dead-lettered; after the proxy is back and the DLQ replayed, the sensor is woken by
the webhook (REST reconciliation is set far beyond the test's time, so it cannot be what wakes it).
"""

from __future__ import annotations

import threading

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.utils.state import DagRunState
from sqlalchemy.engine import make_url

from tests.integration.dags.conftest import DAGS, _slow_sandbox, slow_sandbox, task_states, xcom
from tests.integration.reliability.helpers import DeliveryFigures, eventually, proxied, replay_dead_letters
from tests.integration.reliability.inbox_probe import event_id_counts

__all__ = ["_slow_sandbox", "slow_sandbox"]

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(300)]


def test_waiting_sensor_completes_after_inbox_outage_and_replay(
    slow_sandbox, processes, postgres_url, monkeypatch, airflow_db
):
    sandbox = slow_sandbox
    pg = make_url(postgres_url)
    proxy = processes.proxy(pg.host or "127.0.0.1", pg.port or 5432)
    receiver = processes.receiver(inbox_url=proxied(postgres_url, proxy.port), secrets="")
    monkeypatch.setenv("AIRFLOW_CONN_CATENA_DEFAULT", sandbox.catena_connection())
    monkeypatch.setenv("CATENA_INBOX_URL", postgres_url)  # the DAG's tasks and trigger read it directly
    dags = DagBag(dag_folder=str(DAGS)).dags
    setup = dags["catena_setup"].test(run_conf={"receiver_url": receiver.url})
    assert setup.state == DagRunState.SUCCESS, task_states(setup)
    client = sandbox.catena_client()
    subscriptions = [str(s.id) for s in client.list_webhook_subscriptions()]

    proxy.kill()  # the inbox is unreachable for the receiver from here on
    outage: dict[str, object] = {}

    def recover() -> None:
        """Once Catena has dead-lettered the fleet's last onboarding event: database back, DLQ replayed."""
        try:
            eventually(
                lambda: any(
                    d["event_name"] == "fleet_connection.created" and d["attempt"] == 4
                    for d in sandbox.deliveries(limit=20_000)
                ),
                timeout=120,
            )
            eventually(lambda: sandbox.stats()["pending"] == 0, timeout=30)
            outage["answered"] = DeliveryFigures.of(sandbox, subscriptions).answered
            outage["stored_during"] = set(event_id_counts(postgres_url))
            proxy.start()
            outage["reactivated"] = replay_dead_letters(client, subscriptions)
        except BaseException as exc:  # reported by the main thread
            outage["error"] = exc

    recovery = threading.Thread(target=recover, daemon=True)
    recovery.start()
    run = dags["catena_fleet_onboarding"].test(
        run_conf={"fleet_ref": "outage-fleet", "fleet_name": "Outage Fleet", "reconcile_interval": 3600}
    )
    recovery.join(60)
    client.close()
    assert "error" not in outage, outage.get("error")
    assert run.state == DagRunState.SUCCESS, task_states(run)
    assert xcom(run, "wait_for_fleet")["source"] == "webhook"
    assert outage["answered"].get(503, 0) > 0  # the receiver refused to acknowledge while down

    # The sensor may be woken while the sandbox still replays other dead letters, and the connected fleet
    # goes on producing events: every event Catena tried to deliver by now must reach the inbox (once),
    # and the inbox holds nothing Catena did not send.
    delivered = DeliveryFigures.of(sandbox, subscriptions)
    eventually(lambda: delivered.events <= set(event_id_counts(postgres_url)), timeout=60)
    counts = event_id_counts(postgres_url)
    assert set(counts) <= DeliveryFigures.of(sandbox, subscriptions).events and set(counts.values()) == {1}
    assert len(counts) > len(outage["stored_during"])  # the fleet's events reached the inbox only by replay
    print(
        f"\nFIGURES sensor-outage: events={len(delivered.events)} stored={len(counts)} lost=0 "
        f"answered={delivered.answered} subscriptions_reactivated={outage['reactivated']} "
        f"sensor_source=webhook"
    )
