from __future__ import annotations

from catena_airflow.inbox import InboxStore
from catena_airflow.webhooks.secrets import SecretResolver


class CountingStore(InboxStore):
    reads = 0

    def subscription_secrets(self):
        type(self).reads += 1
        return super().subscription_secrets()


def test_cache_refresh_rules(sqlite_url):
    store = CountingStore(sqlite_url)
    store.migrate()
    store.save_subscription_secret("wh-1", "one")
    resolver = SecretResolver(lambda: store, configured=("cfg", "one"), ttl=30, miss_refresh_interval=1)
    assert resolver.needs_refresh("wh-1")
    resolver.refresh()
    assert resolver.candidates("wh-1") == ["one", "cfg"]  # own first, no duplicate
    assert resolver.candidates("wh-unknown") == ["cfg", "one"]
    assert not resolver.needs_refresh("wh-1")
    assert not resolver.needs_refresh("wh-unknown")  # misses refresh at most once per interval
    resolver._loaded_at -= 2
    assert resolver.needs_refresh("wh-unknown") and not resolver.needs_refresh("wh-1")
    resolver._loaded_at -= 60
    assert resolver.needs_refresh("wh-1")  # ttl
    assert CountingStore.reads == 1


def test_no_secrets_at_all_verifies_nothing(sqlite_url):
    store = InboxStore(sqlite_url)
    store.migrate()
    resolver = SecretResolver(lambda: store)
    resolver.refresh()
    assert resolver.candidates("any") == []
