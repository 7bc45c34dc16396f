"""Every part that finds the inbox or the destination finds the same one, from ``[catena]``."""

from __future__ import annotations

import threading

import pytest

from catena_airflow.hooks import inbox as inbox_hooks
from catena_airflow.hooks.destination import CatenaDestinationHook
from catena_airflow.hooks.inbox import CatenaInboxHook, resolve_inbox_url
from catena_airflow.pages.redirect import default_inbox
from catena_airflow.ui import destination as ui_destination
from catena_airflow.ui.sources import dashboard_sources
from catena_airflow.webhooks.receiver import WebhookReceiver


@pytest.fixture
def configured(monkeypatch, tmp_path):
    """``[catena]`` names one inbox and one destination; the aliases name others, which must lose."""
    inbox = f"sqlite:///{tmp_path / 'inbox.db'}"
    destination = f"sqlite:///{tmp_path / 'data.db'}"
    monkeypatch.setenv("AIRFLOW__CATENA__INBOX_URL", inbox)
    monkeypatch.setenv("AIRFLOW__CATENA__DESTINATION_URL", destination)
    monkeypatch.setenv("CATENA_INBOX_URL", f"sqlite:///{tmp_path / 'alias-inbox.db'}")
    monkeypatch.setenv("CATENA_DESTINATION_URL", f"sqlite:///{tmp_path / 'alias-data.db'}")
    return inbox, destination


def _url(store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def test_tasks_receiver_dashboard_and_pages_share_the_inbox(configured):
    inbox, destination = configured
    receiver = WebhookReceiver()
    try:
        stores = {
            "hook": CatenaInboxHook().get_conn(),
            "receiver": receiver.store(),
            "dashboard": dashboard_sources().store,
            "redirect pages": default_inbox(),
        }
        assert {name: _url(store) for name, store in stores.items()} == dict.fromkeys(stores, inbox)
        assert CatenaDestinationHook().get_url() == destination
    finally:
        receiver.close()


def test_a_named_connection_overrides_for_that_hook_only(configured, monkeypatch, tmp_path):
    own = f"sqlite:///{tmp_path / 'own.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_MY_INBOX", f'{{"conn_type": "generic", "extra": {{"url": "{own}"}}}}')
    monkeypatch.setenv("AIRFLOW_CONN_CATENA_INBOX", '{"conn_type": "generic", "extra": {"url": "sqlite:////x.db"}}')
    assert resolve_inbox_url("my_inbox") == own
    assert resolve_inbox_url() == configured[0]  # a connection is used only when named


def test_the_destination_engine_is_built_once_under_concurrent_first_use(configured, monkeypatch, tmp_path):
    path = tmp_path / "data.db"
    path.touch()
    url = configured[1]
    built = []
    real = ui_destination.create_engine
    barrier = threading.Barrier(8)

    def counting_create_engine(*args, **kwargs):
        built.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(ui_destination, "create_engine", counting_create_engine)
    monkeypatch.setattr(inbox_hooks, "_stores", {})
    engines = []

    def first_use() -> None:
        barrier.wait()
        engines.append(ui_destination.destination_engine(url))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert built == [url]
    assert len({id(engine) for engine in engines}) == 1
