"""The first write after the inbox database came back is stored, not refused on a dead pooled connection."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from catena_airflow.inbox import InboxStore
from tests.integration.reliability.helpers import proxied
from tests.integration.reliability.processes import TcpProxy
from tests.unit.inbox import fleet_events as fe

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_the_first_write_after_the_database_came_back_is_stored(postgres_url, tmp_path):
    """After a restart or a network cut every pooled connection is dead; a webhook answered 503 for that
    would go back to Catena's DLQ if it was a replay."""
    pg = make_url(postgres_url)
    proxy = TcpProxy(target_host=pg.host or "127.0.0.1", target_port=pg.port or 5432, log_path=tmp_path / "proxy.log")
    proxy.start()
    store = InboxStore(proxied(postgres_url, proxy.port))
    try:
        store.migrate()
        first, second = fe.operational_events(0)[:2]
        assert store.record_event(first, fe.body(first)).stored
        proxy.kill()  # the connections the pool keeps die with the proxy
        proxy.start()

        outcome = store.record_event(second, fe.body(second))

        assert outcome.stored and not outcome.duplicate
        assert [e.event_id for e in store.events_after(0)] == [first["id"], second["id"]]
    finally:
        store.dispose()
        proxy.stop()
