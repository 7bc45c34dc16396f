"""The LISTEN side of inbox change notification, against the local PostgreSQL."""

from __future__ import annotations

import asyncio
import logging

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from catena_airflow.inbox.notify import ONBOARDINGS_CHANGED_CHANNEL
from catena_airflow.waiting import inbox_listener
from catena_airflow.waiting.inbox_listener import InboxChangeListener, listener_params
from tests.unit.waiting.eventually import until


def pg(url: str):
    parsed = make_url(url)
    conn = psycopg2.connect(**listener_params(parsed) | {"application_name": "catena-test"})
    conn.autocommit = True
    return conn


def notify(url: str, times: int = 1) -> None:
    """Commit ``times`` notifications, each in its own transaction (as separate inbox writes would)."""
    conn = pg(url)
    try:
        with conn.cursor() as cur:
            for _ in range(times):
                cur.execute(f"NOTIFY {ONBOARDINGS_CHANGED_CHANNEL}")
    finally:
        conn.close()


def terminate_listeners(url: str) -> int:
    conn = pg(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'catena-inbox-listener' AND datname = current_database()"
            )
            return int(cur.fetchone()[0])
    finally:
        conn.close()


class Calls:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def test_params_come_from_the_sqlalchemy_url_and_the_password_is_never_shown():
    url = "postgresql+psycopg2://inbox:s3cret@db.example:6543/catena?sslmode=require"
    params = listener_params(url)
    assert params["host"] == "db.example"
    assert params["port"] == 6543
    assert (params["user"], params["password"], params["dbname"]) == ("inbox", "s3cret", "catena")
    assert params["sslmode"] == "require"
    assert params["application_name"] == "catena-inbox-listener"
    assert "s3cret" not in InboxChangeListener(url, Calls()).safe_url
    with pytest.raises(ValueError, match="PostgreSQL"):
        listener_params("sqlite:///inbox.db")


@pytest.mark.asyncio
async def test_a_committed_notification_calls_back_and_a_burst_is_drained_in_few_calls(postgres_url):
    calls = Calls()
    listener = InboxChangeListener(postgres_url, calls)
    listener.start()
    try:
        await until(lambda: listener.connected and calls.count == 1, "connected (one call for what it missed)")
        await asyncio.to_thread(notify, postgres_url, 20)
        await until(lambda: listener.notifications == 20, "20 notifications received")
        assert 2 <= calls.count <= 21  # at least one callback; never more than one per notification
    finally:
        await listener.aclose()
    assert not listener.connected


@pytest.mark.asyncio
async def test_a_lost_connection_is_reconnected_and_logged_once(postgres_url, caplog):
    caplog.set_level(logging.INFO, logger=inbox_listener.__name__)
    calls = Calls()
    listener = InboxChangeListener(postgres_url, calls, retry_initial=0.05)
    listener.start()
    try:
        await until(lambda: listener.connected, "connected")
        assert await asyncio.to_thread(terminate_listeners, postgres_url) == 1
        await until(lambda: listener.connects == 2 and listener.connected, "reconnected")
        missed = calls.count
        await asyncio.to_thread(notify, postgres_url)
        await until(lambda: calls.count > missed, "a notification after the reconnect")
    finally:
        await listener.aclose()
    lost = [r for r in caplog.records if "Lost the LISTEN connection" in r.getMessage()]
    assert len(lost) == 1


@pytest.mark.asyncio
async def test_an_unreachable_server_is_retried_with_backoff_never_raising(postgres_url, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger=inbox_listener.__name__)

    def refused(params, channel):
        raise psycopg2.OperationalError("connection refused")

    monkeypatch.setattr(inbox_listener, "_connect", refused)
    url = make_url(postgres_url).set(password="hunter2").render_as_string(hide_password=False)
    listener = InboxChangeListener(url, Calls(), retry_initial=0.01, retry_max=0.02)
    listener.start()
    try:
        await until(lambda: listener.failures >= 5, "five failed attempts")
        assert not listener.connected
    finally:
        await listener.aclose()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # one per outage, not one per attempt
    assert "hunter2" not in warnings[0]
