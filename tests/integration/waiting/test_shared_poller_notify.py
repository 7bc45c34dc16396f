"""A PostgreSQL inbox wakes waiting triggers on commit (LISTEN/NOTIFY), and polling still covers for it.

The triggers poll every hour here, so only the notification can explain a wake-up; the waits have a
timeout only so that a regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio

import psycopg2
import pytest
from airflow.triggers.base import TriggerEvent

from catena_airflow.hooks.inbox import inbox_store
from catena_airflow.triggers.fleet_connected import CatenaFleetConnectedTrigger
from catena_airflow.waiting import inbox_listener
from catena_airflow.waiting.shared_poller import SharedOnboardingPoller
from tests.unit.airflow_layer import invitation_json, onboard
from tests.unit.waiting.eventually import until

HOUR = 3600.0


@pytest.fixture
def pg_inbox(postgres_url, monkeypatch):
    """A real PostgreSQL inbox, also what the trigger resolves (``CATENA_INBOX_URL``)."""
    monkeypatch.setenv("CATENA_INBOX_URL", postgres_url)
    monkeypatch.setattr(CatenaFleetConnectedTrigger, "min_deferral_seconds", 0.0)
    return inbox_store(postgres_url)


def poller_of(store) -> SharedOnboardingPoller | None:
    return SharedOnboardingPoller._registry.get((id(asyncio.get_running_loop()), store.url))


async def first_event(trigger: CatenaFleetConnectedTrigger) -> TriggerEvent:
    gen = trigger.run()
    try:
        return await gen.asend(None)
    finally:
        await gen.aclose()


def waiting_trigger(invitation_id: str, poll_interval: float) -> CatenaFleetConnectedTrigger:
    return CatenaFleetConnectedTrigger(
        invitation_id=invitation_id, poll_interval=poll_interval, reconcile_interval=HOUR
    )


async def wait_until_served(store, invitation_id: str) -> SharedOnboardingPoller:
    await until(lambda: poller_of(store) is not None, "the poller started")
    poller = poller_of(store)
    await until(lambda: any(s.invitation_id == invitation_id and s.version for s in poller.subscriptions), "first read")
    return poller


@pytest.mark.asyncio
async def test_a_committed_change_wakes_the_wait_without_waiting_for_the_poll(pg_inbox):
    invitation = invitation_json()
    pg_inbox.register_invitation(invitation)
    task = asyncio.ensure_future(first_event(waiting_trigger(invitation["id"], poll_interval=HOUR)))
    poller = await wait_until_served(pg_inbox, invitation["id"])
    await until(lambda: poller.listener is not None and poller.listener.connected, "LISTEN connected")
    reads = poller.queries
    await asyncio.to_thread(onboard, pg_inbox, invitation, "fleet-1", "conn-1")
    event = await asyncio.wait_for(task, 60)
    assert (event.payload["status"], event.payload["fleet_id"]) == ("connected", "fleet-1")
    assert poller.listener.notifications >= 1
    assert poller.queries > reads
    await until(lambda: poller_of(pg_inbox) is None, "the poller ended with its last subscriber")
    assert not poller.listener.connected  # the listener was closed with it


@pytest.mark.asyncio
async def test_a_lost_listen_connection_comes_back_and_wakes_waits_again(pg_inbox, postgres_url):
    invitation = invitation_json()
    pg_inbox.register_invitation(invitation)
    task = asyncio.ensure_future(first_event(waiting_trigger(invitation["id"], poll_interval=HOUR)))
    poller = await wait_until_served(pg_inbox, invitation["id"])
    await until(lambda: poller.listener is not None and poller.listener.connected, "LISTEN connected")

    def terminate() -> None:
        conn = psycopg2.connect(**inbox_listener.listener_params(postgres_url) | {"application_name": "test"})
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'catena-inbox-listener' AND datname = current_database()"
            )
        conn.close()

    await asyncio.to_thread(terminate)
    await until(lambda: poller.listener.connects >= 2 and poller.listener.connected, "LISTEN reconnected")
    assert not task.done()
    await asyncio.to_thread(onboard, pg_inbox, invitation, "fleet-1", "conn-1")
    event = await asyncio.wait_for(task, 60)
    assert event.payload["status"] == "connected"


@pytest.mark.asyncio
async def test_without_listen_the_poller_still_polls(pg_inbox, monkeypatch):
    def refused(params, channel):
        raise psycopg2.OperationalError("too many connections for role")

    monkeypatch.setattr(inbox_listener, "_connect", refused)
    invitation = invitation_json()
    pg_inbox.register_invitation(invitation)
    task = asyncio.ensure_future(first_event(waiting_trigger(invitation["id"], poll_interval=0.1)))
    poller = await wait_until_served(pg_inbox, invitation["id"])
    await until(lambda: poller.listener is not None and poller.listener.failures >= 1, "LISTEN refused")
    await asyncio.to_thread(onboard, pg_inbox, invitation, "fleet-1", "conn-1")
    event = await asyncio.wait_for(task, 60)
    assert event.payload["status"] == "connected"
    assert poller.listener.connects == 0 and poller.listener.notifications == 0
