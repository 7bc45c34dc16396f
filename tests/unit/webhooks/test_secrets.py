from __future__ import annotations

import asyncio
import logging

from catena_airflow.inbox import InboxStore
from catena_airflow.webhooks import secrets as secrets_module
from catena_airflow.webhooks.secrets import SecretResolver


class CountingStore(InboxStore):
    """Counts its reads of the subscription secrets (per store: no count carried from test to test)."""

    reads = 0

    def subscription_secret_sets(self, **kwargs):
        self.reads += 1
        return super().subscription_secret_sets(**kwargs)


def logged(caplog) -> list[str]:
    """What ``catena_airflow.webhooks.secrets`` logged (other loggers, e.g. the inbox's migrations, left out)."""
    return [r.getMessage() for r in caplog.records if r.name == "catena_airflow.webhooks.secrets"]


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
    age(resolver, 2)
    assert resolver.needs_refresh("wh-unknown") and not resolver.needs_refresh("wh-1")
    age(resolver, 60)
    assert resolver.needs_refresh("wh-1")  # ttl
    assert store.reads == 1


def age(resolver: SecretResolver, seconds: float) -> None:
    """Pretend the last refresh happened ``seconds`` earlier (instead of sleeping)."""
    resolver._loaded_at -= seconds
    resolver._attempted_at -= seconds


def test_concurrent_requests_share_one_refresh(sqlite_url):
    store = CountingStore(sqlite_url)
    store.migrate()
    resolver = SecretResolver(lambda: store)

    async def many():
        return await asyncio.gather(*(resolver.ensure_fresh("wh-unknown") for _ in range(20)))

    assert asyncio.run(many()) == [True] * 20
    assert store.reads == 1
    assert asyncio.run(many()) == [True] * 20  # an unknown id does not re-read within the interval
    assert store.reads == 1


def test_unreadable_inbox_is_reported_not_raised(tmp_path, caplog):
    resolver = SecretResolver(lambda: InboxStore(f"sqlite:///{tmp_path / 'missing' / 'inbox.db'}"), configured=("c",))
    with caplog.at_level(logging.ERROR):
        assert asyncio.run(resolver.ensure_fresh("wh")) is False
    assert logged(caplog) == ["Cannot read webhook secrets from the inbox (OperationalError)"]
    assert resolver.candidates("wh") == ["c"]


def test_the_inbox_is_read_again_once_it_is_back(tmp_path):
    folder = tmp_path / "later"
    resolver = SecretResolver(lambda: InboxStore(f"sqlite:///{folder / 'inbox.db'}"))
    assert asyncio.run(resolver.ensure_fresh(None)) is False
    folder.mkdir()
    InboxStore(f"sqlite:///{folder / 'inbox.db'}").migrate()
    assert asyncio.run(resolver.ensure_fresh(None)) is True  # nothing loaded yet: read again at once


def test_default_cache_lifetimes(sqlite_url):
    """Secrets are cached 30 s; a delivery naming an unknown subscription re-reads them at most once a second."""
    store = InboxStore(sqlite_url)
    store.migrate()
    resolver = SecretResolver(lambda: store, configured=("", "cfg"))
    assert resolver.configured == ("cfg",)  # an empty configured secret would verify nothing: dropped
    resolver.refresh()
    assert not resolver.needs_refresh(None)  # no webhook id: only the lifetime counts
    age(resolver, 0.5)
    assert not resolver.needs_refresh("wh-unknown")
    age(resolver, 0.6)
    assert resolver.needs_refresh("wh-unknown") and not resolver.needs_refresh(None)
    age(resolver, 28.5)
    assert not resolver.needs_refresh(None)
    age(resolver, 0.6)
    assert resolver.needs_refresh(None)


def test_lookup_picks_up_a_rotated_secret(sqlite_url):
    store = InboxStore(sqlite_url)
    store.migrate()
    store.save_subscription_secret("wh-1", "old")
    resolver = SecretResolver(lambda: store)
    resolver.refresh()
    store.save_subscription_secret("wh-1", "new")
    assert resolver.candidates("wh-1") == ["old"]
    assert resolver.lookup("wh-1") == ["new"] and resolver.candidates("wh-1") == ["new"]
    store.delete_subscription("wh-1")
    assert resolver.lookup("wh-1") == [] and resolver.candidates("wh-1") == []
    assert resolver.lookup("wh-never-seen") == []


def test_lookup_keeps_the_other_subscriptions(sqlite_url):
    store = InboxStore(sqlite_url)
    store.migrate()
    store.save_subscription_secret("wh-1", "one")
    store.save_subscription_secret("wh-2", "two")
    resolver = SecretResolver(lambda: store, configured=("cfg",))
    resolver.refresh()
    store.save_subscription_secret("wh-2", "two-rotated")
    assert resolver.lookup("wh-2") == ["two-rotated"]
    assert resolver.candidates("wh-1") == ["one", "cfg"]
    assert resolver.candidates("wh-2") == ["two-rotated", "cfg"]


def test_no_secrets_at_all_verifies_nothing(sqlite_url):
    store = InboxStore(sqlite_url)
    store.migrate()
    resolver = SecretResolver(lambda: store)
    resolver.refresh()
    assert resolver.candidates("any") == []


def test_a_delivery_naming_an_unknown_subscription_refreshes_once_the_interval_passed(sqlite_url):
    store = CountingStore(sqlite_url)
    store.migrate()
    resolver = SecretResolver(lambda: store)
    assert asyncio.run(resolver.ensure_fresh("wh-new")) is True
    store.save_subscription_secret("wh-new", "new-secret")  # created after the cache was filled
    assert asyncio.run(resolver.ensure_fresh("wh-new")) is True and resolver.candidates("wh-new") == []
    age(resolver, 2)
    assert asyncio.run(resolver.ensure_fresh("wh-new")) is True
    assert resolver.candidates("wh-new") == ["new-secret"]
    assert store.reads == 2


def test_the_lifetimes_end_exactly_at_their_length(sqlite_url, monkeypatch):
    """A cache exactly ``ttl`` old is still used; a miss exactly ``miss_refresh_interval`` after the last
    attempt does not refresh yet (a fake clock: a real one never lands on the boundary)."""
    store = InboxStore(sqlite_url)
    store.migrate()
    now = [1000.0]
    monkeypatch.setattr(secrets_module.time, "monotonic", lambda: now[0])
    resolver = SecretResolver(lambda: store, ttl=30, miss_refresh_interval=1)
    resolver.refresh()
    now[0] += 1.0
    assert not resolver.needs_refresh("wh-unknown")
    now[0] += 29.0
    assert not resolver.needs_refresh(None)
    now[0] += 0.001
    assert resolver.needs_refresh(None)


def unread() -> InboxStore:
    raise AssertionError("the inbox is not read to tell which subscriptions are known")


def test_a_subscription_is_known_by_its_stored_secret_or_a_verified_delivery(sqlite_url):
    store = InboxStore(sqlite_url)
    store.migrate()
    store.save_subscription_secret("wh-stored", "stored-secret")
    resolver = SecretResolver(lambda: store, configured=("cfg",))
    resolver.refresh()
    assert resolver.knows("wh-stored")  # stored, nothing verified yet
    assert not resolver.knows("wh-callback")  # neither stored nor verified
    resolver.verified("wh-callback")  # e.g. a delivery that verified with the configured secret
    assert resolver.knows("wh-callback") and resolver.knows("wh-stored")


def test_the_verified_subscriptions_remembered_are_bounded_oldest_first(monkeypatch):
    monkeypatch.setattr(secrets_module, "_MAX_REMEMBERED", 3)
    resolver = SecretResolver(unread)
    for webhook_id in ("wh-1", "wh-2", "wh-3"):
        resolver.verified(webhook_id)
    resolver.verified("wh-2")  # remembered already: takes no one's place
    resolver.verified(None)  # a delivery without a webhook id: nothing to remember
    assert [resolver.knows(w) for w in ("wh-1", "wh-2", "wh-3")] == [True, True, True]
    resolver.verified("wh-4")  # a fourth: the oldest is forgotten
    assert [resolver.knows(w) for w in ("wh-1", "wh-2", "wh-3", "wh-4")] == [False, True, True, True]
    resolver.verified("wh-5")
    assert [resolver.knows(w) for w in ("wh-2", "wh-3", "wh-4", "wh-5")] == [False, True, True, True]
