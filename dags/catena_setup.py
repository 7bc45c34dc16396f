"""Set up and keep healthy what a deployment needs from Catena: webhook subscriptions to the receiver.

Hourly: make sure the org-wide subscriptions exist (creating missing ones and storing their secrets in
the inbox), then reactivate any ``stale``/``paused`` subscription and replay dead-lettered messages.
The receiver URL comes from the ``receiver_url`` param, else ``[catena] receiver_url``, else the Airflow
Variable ``catena_receiver_url``, else ``http://localhost:8080/catena/webhooks``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from catena_airflow.operators.webhooks import (
    DEFAULT_RECEIVER_URL,
    CatenaEnsureWebhookSubscriptionsOperator,
    CatenaWebhookHealthCheckOperator,
)

RECEIVER_URL = (
    "{{ params.receiver_url or conf.get('catena', 'receiver_url', fallback='')"
    " or var.value.get('catena_receiver_url', '" + DEFAULT_RECEIVER_URL + "') }}"
)

with DAG(
    dag_id="catena_setup",
    description="Ensure Catena webhook subscriptions to the receiver; reactivate stale ones and replay DLQs",
    schedule=timedelta(hours=1),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    params={
        "receiver_url": Param(None, type=["string", "null"], title="Receiver URL (.../catena/webhooks)"),
        "rotate_secrets": Param(False, type="boolean", title="Give every subscription a new signing secret"),
    },
    tags=["catena", "setup"],
    doc_md=__doc__,
):
    ensure = CatenaEnsureWebhookSubscriptionsOperator(
        task_id="ensure_subscriptions", url=RECEIVER_URL, rotate_secrets="{{ params.rotate_secrets }}"
    )
    health = CatenaWebhookHealthCheckOperator(task_id="check_subscription_health", url=RECEIVER_URL)
    ensure >> health
