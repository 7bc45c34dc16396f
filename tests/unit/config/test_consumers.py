"""Every part that finds the inbox finds the same one, from ``[catena]``."""

from __future__ import annotations

import threading

import pytest

from catena_airflow.hooks import inbox as inbox_hooks
from catena_airflow.hooks.inbox import CatenaInboxHook, inbox_store, resolve_inbox_url
from catena_airflow.inbox import engine as inbox_engine
from catena_airflow.pages.redirect import default_inbox
from catena_airflow.ui.sources import dashboard_sources
from catena_airflow.webhooks.receiver import WebhookReceiver


@pytest.fixture
def configured(monkeypatch, tmp_path):
    """``[catena]`` names one inbox; the alias names another, which must lose."""
    inbox = f"sqlite:///{tmp_path / 'inbox.db'}"
    monkeypatch.setenv("AIRFLOW__CATENA__INBOX_URL", inbox)
    monkeypatch.setenv("CATENA_INBOX_URL", f"sqlite:///{tmp_path / 'alias-inbox.db'}")
    return inbox


def _url(store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def test_tasks_receiver_dashboard_and_pages_share_the_inbox(configured):
    inbox = configured
    receiver = WebhookReceiver()
    try:
        stores = {
            "hook": CatenaInboxHook().get_conn(),
            "receiver": receiver.store(),
            "dashboard": dashboard_sources().store,
            "redirect pages": default_inbox(),
        }
        assert {name: _url(store) for name, store in stores.items()} == dict.fromkeys(stores, inbox)
    finally:
        receiver.close()


def test_a_named_connection_overrides_for_that_hook_only(configured, monkeypatch, tmp_path):
    own = f"sqlite:///{tmp_path / 'own.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_MY_INBOX", f'{{"conn_type": "generic", "extra": {{"url": "{own}"}}}}')
    monkeypatch.setenv("AIRFLOW_CONN_CATENA_INBOX", '{"conn_type": "generic", "extra": {"url": "sqlite:////x.db"}}')
    assert resolve_inbox_url("my_inbox") == own
    assert resolve_inbox_url() == configured  # a connection is used only when named


def test_the_inbox_is_built_once_under_concurrent_first_use(configured, monkeypatch):
    # The api-server's thread pool serves the dashboard's first requests at once.
    built = []
    real = inbox_engine.create_engine
    barrier = threading.Barrier(8)

    def counting_create_engine(*args, **kwargs):
        built.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(inbox_engine, "create_engine", counting_create_engine)
    monkeypatch.setattr(inbox_hooks, "_stores", {})
    stores = []

    def first_use() -> None:
        barrier.wait()
        stores.append(inbox_store(configured))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [str(url) for url in built] == [configured]
    assert len({id(store) for store in stores}) == 1
