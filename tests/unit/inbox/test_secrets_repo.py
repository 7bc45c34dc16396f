"""Subscription secrets in the inbox (inbox/secrets_repo.py): storage, rotation without a gap, reads.

In-process, so that mutation testing sees it (tests/integration/webhooks/test_secret_rotation.py runs the
same rotation through a real receiver process).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from tests.fixtures.databases import migrated_store

KEY = Fernet.generate_key().decode()


@pytest.fixture
def store(sqlite_url):
    with migrated_store(sqlite_url, fernet_key=KEY) as store:
        yield store


@pytest.fixture
def stranger(sqlite_url, store):
    """The same inbox read with another key: it cannot decrypt what ``store`` wrote."""
    with migrated_store(sqlite_url, fernet_key=Fernet.generate_key().decode()) as other:
        yield other


def raw(store, webhook_id: str) -> dict:
    with store.engine.connect() as conn:
        row = (
            conn.exec_driver_sql("SELECT * FROM catena_subscriptions WHERE webhook_id = ?", (webhook_id,))
            .mappings()
            .first()
        )
    return dict(row) if row else {}


def test_a_saved_secret_is_stored_encrypted_and_read_back(store):
    store.save_subscription_secret("wh-1", "first", event_name="invitation.*", url="https://a/hook")
    row = raw(store, "wh-1")
    assert row["secret"].startswith("fernet:") and "first" not in row["secret"]
    assert (row["event_name"], row["url"], row["next_secret"], row["previous_secret"]) == (
        "invitation.*",
        "https://a/hook",
        None,
        None,
    )
    assert store.subscription_secret("wh-1") == "first"
    assert store.subscription_secret("wh-2") is None
    assert store.subscription_secret_candidates("wh-1") == ["first"]
    assert store.subscription_secret_candidates("wh-2") == []


def test_saving_again_replaces_the_secret_and_keeps_what_is_not_restated(store):
    store.save_subscription_secret("wh-1", "first", event_name="invitation.*", url="https://a/hook")
    before = raw(store, "wh-1")["updated_at"]
    store.save_subscription_secret("wh-1", "second")
    row = raw(store, "wh-1")
    assert (row["event_name"], row["url"]) == ("invitation.*", "https://a/hook")
    assert row["updated_at"] > before
    assert store.subscription_secrets() == {"wh-1": "second"}
    store.save_subscription_secret("wh-1", "third", event_name="connection.*", url="https://b/hook")
    assert (raw(store, "wh-1")["event_name"], raw(store, "wh-1")["url"]) == ("connection.*", "https://b/hook")
    assert store.subscription_secret("wh-1") == "third"


def test_deleting_one_subscription_keeps_the_others(store):
    store.save_subscription_secret("wh-1", "one")
    store.save_subscription_secret("wh-2", "two")
    store.delete_subscription("wh-1")
    assert store.subscription_secrets() == {"wh-2": "two"}


def test_the_dashboards_list_has_no_secrets_and_is_ordered_by_webhook_id(store):
    store.save_subscription_secret("wh-b", "two", event_name="connection.*")
    store.save_subscription_secret("wh-a", "one", event_name="invitation.*", url="https://a/hook")
    listed = store.subscriptions()
    assert [(s["webhook_id"], s["event_name"], s["url"]) for s in listed] == [
        ("wh-a", "invitation.*", "https://a/hook"),
        ("wh-b", "connection.*", None),
    ]
    assert all(set(s) == {"webhook_id", "event_name", "url", "updated_at"} for s in listed)


def test_unreadable_secrets_are_skipped_with_an_error_and_the_rest_still_read(store, stranger, caplog):
    store.save_subscription_secret("wh-1", "sealed")
    stranger.save_subscription_secret("wh-2", "readable")
    with caplog.at_level(logging.ERROR, logger="catena_airflow.inbox.secrets_repo"):
        assert stranger.subscription_secrets() == {"wh-2": "readable"}
        assert stranger.subscription_secret_sets() == {"wh-1": [], "wh-2": ["readable"]}
        assert stranger.subscription_secret_candidates("wh-1") == []
    # Each says which webhook and why, never the secret.
    reason = "stored secret cannot be decrypted with the configured Fernet key"
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        f"Cannot read the secret of webhook wh-1: {reason}",
        f"Cannot read a secret of webhook wh-1: {reason}",
        f"Cannot read a secret of webhook wh-1: {reason}",
    ]


def test_a_staged_secret_verifies_at_once_alongside_the_current_one(store):
    store.save_subscription_secret("wh-1", "old", event_name="invitation.*", url="https://a/hook")
    store.stage_subscription_secret("wh-1", "new", event_name="ignored.*", url="https://ignored")
    row = raw(store, "wh-1")
    assert (row["event_name"], row["url"]) == ("invitation.*", "https://a/hook")
    assert store.subscription_secret("wh-1") == "old"
    assert store.subscription_secret_candidates("wh-1") == ["old", "new"]
    assert store.subscription_secret_sets() == {"wh-1": ["old", "new"]}


def test_staging_for_an_unknown_subscription_makes_it_the_only_secret(store):
    store.stage_subscription_secret("wh-9", "fresh", event_name="invitation.*", url="https://a/hook")
    row = raw(store, "wh-9")
    assert (row["event_name"], row["url"]) == ("invitation.*", "https://a/hook")
    assert store.subscription_secret("wh-9") == "fresh"
    assert store.subscription_secret_candidates("wh-9") == ["fresh"]  # current and next are one secret
    # Catena refused it: the row staging created goes.
    store.discard_subscription_secret("wh-9")
    assert raw(store, "wh-9") == {}


def test_a_refused_secret_is_discarded_and_the_current_one_kept(store):
    store.save_subscription_secret("wh-1", "old")
    store.save_subscription_secret("wh-2", "other")
    store.stage_subscription_secret("wh-1", "new")
    store.stage_subscription_secret("wh-2", "other-next")
    store.discard_subscription_secret("wh-1")
    assert store.subscription_secret_sets() == {"wh-1": ["old"], "wh-2": ["other", "other-next"]}


def test_a_promoted_secret_becomes_current_and_the_old_one_verifies_for_the_grace(store):
    store.save_subscription_secret("wh-1", "old")
    store.save_subscription_secret("wh-2", "other")
    store.stage_subscription_secret("wh-1", "new")
    store.stage_subscription_secret("wh-2", "other-next")
    before = datetime.now(UTC)
    store.promote_subscription_secret("wh-1", grace=timedelta(minutes=10))
    assert store.subscription_secret("wh-1") == "new"
    row = raw(store, "wh-1")
    assert row["next_secret"] is None
    now = datetime.now(UTC)
    assert store.subscription_secret_candidates("wh-1", now=now) == ["new", "old"]
    assert store.subscription_secret_sets(now=now) == {"wh-1": ["new", "old"], "wh-2": ["other", "other-next"]}
    # The grace ends 10 minutes after the promotion.
    assert store.subscription_secret_candidates("wh-1", now=before + timedelta(minutes=9, seconds=59)) == [
        "new",
        "old",
    ]
    after = datetime.now(UTC) + timedelta(minutes=10)
    assert store.subscription_secret_candidates("wh-1", now=after) == ["new"]
    assert store.subscription_secret_sets(now=after)["wh-1"] == ["new"]
    assert not store.previous_secret_unknown("wh-1", now=now)  # the old secret was known


def test_the_grace_ends_at_its_instant(store):
    for webhook_id, known in (("wh-1", True), ("wh-2", False)):
        store.save_subscription_secret(webhook_id, "old")
        store.stage_subscription_secret(webhook_id, "new")
        store.promote_subscription_secret(webhook_id, previous_known=known)
    until = datetime.fromisoformat(str(raw(store, "wh-1")["previous_secret_until"])).replace(tzinfo=UTC)
    assert store.subscription_secret_candidates("wh-1", now=until - timedelta(microseconds=1)) == ["new", "old"]
    assert store.subscription_secret_candidates("wh-1", now=until) == ["new"]
    until = datetime.fromisoformat(str(raw(store, "wh-2")["previous_secret_until"])).replace(tzinfo=UTC)
    assert store.previous_secret_unknown("wh-2", now=until - timedelta(microseconds=1))
    assert not store.previous_secret_unknown("wh-2", now=until)


def test_the_default_grace_is_an_hour(store):
    store.save_subscription_secret("wh-1", "old")
    store.stage_subscription_secret("wh-1", "new")
    store.promote_subscription_secret("wh-1")
    now = datetime.now(UTC)
    assert store.subscription_secret_candidates("wh-1") == ["new", "old"]
    assert store.subscription_secret_candidates("wh-1", now=now + timedelta(minutes=59)) == ["new", "old"]
    assert store.subscription_secret_candidates("wh-1", now=now + timedelta(minutes=61)) == ["new"]


def test_promoting_with_nothing_staged_changes_nothing(store):
    store.save_subscription_secret("wh-1", "only")
    store.promote_subscription_secret("wh-1")
    assert raw(store, "wh-1")["previous_secret_until"] is None
    assert store.subscription_secret_candidates("wh-1") == ["only"]


def test_replacing_a_secret_we_never_knew_is_remembered_for_the_grace_only(store):
    store.save_subscription_secret("wh-1", "masked-by-catena")
    store.save_subscription_secret("wh-2", "known")
    store.stage_subscription_secret("wh-1", "ours")
    store.stage_subscription_secret("wh-2", "ours-2")
    store.promote_subscription_secret("wh-1", grace=timedelta(minutes=10), previous_known=False)
    store.promote_subscription_secret("wh-2", grace=timedelta(minutes=10))
    now = datetime.now(UTC)
    assert store.subscription_secret_candidates("wh-1", now=now) == ["ours"]  # nothing to verify the old with
    assert store.previous_secret_unknown("wh-1")
    assert store.previous_secret_unknown("wh-1", now=now + timedelta(minutes=9))
    assert not store.previous_secret_unknown("wh-1", now=now + timedelta(minutes=11))
    assert not store.previous_secret_unknown("wh-2", now=now)
    assert not store.previous_secret_unknown("wh-3", now=now)
