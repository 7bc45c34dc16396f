"""InboxStore on SQLite files (the embedded engine); PostgreSQL runs the same contract in tests/integration."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catena_airflow.client.events import WebhookEnvelope
from catena_airflow.inbox import InboxStore, IncomingEvent, Stage
from catena_airflow.inbox.schema import SCHEMA_VERSION
from tests.fixtures.databases import migrated_store
from tests.unit.inbox import fleet_events as fe
from tests.unit.inbox.views import comparable


def deliver(store, envelopes):
    return [store.record_event(env, fe.body(env)) for env in envelopes]


def test_migrate_is_idempotent_and_versioned(store, sqlite_url):
    assert store.migrate() == SCHEMA_VERSION
    assert store.schema_version() == SCHEMA_VERSION
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_schema_is_refused(store):
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE catena_schema_version SET version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        store.migrate()


def test_duplicate_event_id_is_stored_once(store):
    env = fe.happy()[0]
    first, again = deliver(store, [env, env])
    assert (first.stored, first.duplicate, again.stored, again.duplicate) == (True, False, False, True)
    assert again.seq is None
    assert [e.event_id for e in store.events_after(0)] == [env["id"]]
    assert store.webhook_stats().duplicates_dropped == 1


def test_client_envelope_model_is_accepted(store):
    env = fe.happy()[0]
    outcome = store.record_event(WebhookEnvelope.model_validate(env), fe.body(env))
    assert outcome.stored
    assert store.get_onboarding(fe.INVITATION_ID).stage is Stage.INVITED


def test_event_without_id_is_deduplicated_by_body(store):
    env = {**fe.happy()[0], "id": None}
    first, again = deliver(store, [env, env])
    assert first.stored and again.duplicate
    assert store.events_after(0)[0].event_id.startswith("sha256:")


def test_fleet_events_are_held_until_the_fleet_is_linked(store):
    envs = fe.happy()
    fleet_only = [e for e in envs if e["event_name"].startswith(("connection.", "fleet_connection."))]
    deliver(store, fleet_only)
    assert store.get_onboarding(fe.INVITATION_ID) is None
    assert store.webhook_stats().held_events == 2

    deliver(store, [e for e in envs if e not in fleet_only])

    ob = store.get_onboarding(fe.INVITATION_ID)
    assert ob.stage is Stage.CONNECTED and ob.connection_ids == (fe.CONNECTION_ID,)
    assert store.webhook_stats().held_events == 0
    assert {e.invitation_id for e in store.events_after(0)} == {fe.INVITATION_ID}


def test_schedule_events_follow_the_connection(store):
    deliver(store, fe.operational_events(20))  # before anything links the fleet or the connection
    deliver(store, fe.reuse())
    schedule = store.get_onboarding(fe.INVITATION_ID).schedules[fe.SCHEDULE_ID]
    assert (schedule.status, schedule.failed_executions) == ("inactive", 2)


def test_register_then_fleet_link_by_observation(store):
    fleet_only = [e for e in fe.reuse() if e["event_name"].startswith("fleet_connection.")]
    registered = store.register_invitation(
        {"id": fe.INVITATION_ID, "fleet_ref": fe.FLEET_REF, "status": "active", "created_at": fe.T0.isoformat()},
        dag_id="onboard_fleet",
        run_id="manual__1",
    )
    assert (registered.stage, registered.dag_id, registered.run_id) == (Stage.INVITED, "onboard_fleet", "manual__1")
    deliver(store, fleet_only)
    assert store.get_onboarding(fe.INVITATION_ID).stage is Stage.INVITED

    ob = store.record_observation(fe.INVITATION_ID, stage=Stage.ACCEPTED, fleet_id=fe.FLEET_ID)

    assert ob.stage is Stage.CONNECTED
    assert ob.dag_id == "onboard_fleet"


def test_register_accepts_the_client_invitation_model(store):
    from catena_airflow.client.models import Invitation

    invitation = Invitation.model_validate(
        {
            "id": fe.INVITATION_ID,
            "created_at": fe.T0.isoformat(),
            "magic_link": "https://connect.example/x",
            "expires_at": (fe.T0 + timedelta(hours=24)).isoformat(),
            "expires_in_hours": 24,
            "status": "active",
            "fleet_ref": fe.FLEET_REF,
        }
    )
    ob = store.register_invitation(invitation)
    assert (ob.magic_link, ob.expires_at, ob.invitation_status) == (
        "https://connect.example/x",
        fe.T0 + timedelta(hours=24),
        "active",
    )


def test_registration_does_not_undo_later_events(store):
    deliver(store, fe.declined())
    ob = store.register_invitation({"id": fe.INVITATION_ID, "status": "active", "created_at": fe.T0.isoformat()})
    assert ob.stage is Stage.DECLINED and ob.invitation_status == "declined"


def test_observations_of_unknown_invitations_create_nothing(store):
    assert store.record_observation("nope", stage="redirect_success", source="redirect") is None
    assert store.get_onboarding("nope") is None


def test_redirect_observation_is_informational(store):
    store.register_invitation({"id": "i-1", "status": "active"})
    ob = store.record_observation("i-1", stage="redirect_success", source="redirect", at=fe.T0)
    assert ob.stage is Stage.INVITED and ob.redirects == {"redirect_success": fe.T0}
    with pytest.raises(ValueError, match="redirect kind"):
        store.record_observation("i-1", stage=Stage.CONNECTED, source="redirect")


def test_observation_with_share_agreement_and_connections(store):
    store.register_invitation({"id": "i-1", "status": "active"})
    ob = store.record_observation(
        "i-1",
        fleet_id="f-9",
        share_agreement={"id": "sa-9", "status": "active", "scopes": {"vehicles": "read"}},
        connection_statuses={"c-9": "stale"},
    )
    assert (ob.stage, ob.share_agreement_id, ob.connections["c-9"].status) == (Stage.SHARE_AGREEMENT, "sa-9", "stale")


def test_search_treats_like_wildcards_literally(store):
    for fleet_ref in ("ACME_7", "ACMEX7", "50%OFF", "50-OFF", "back\\slash", "backxslash"):
        store.register_invitation({"id": f"id-{fleet_ref}", "fleet_ref": fleet_ref, "status": "active"})

    def found(search: str) -> list[str]:
        return sorted(o.fleet_ref for o in store.list_onboardings(search=search))

    assert found("acme_") == ["ACME_7"]
    assert found("50%") == ["50%OFF"]
    assert found("k\\s") == ["back\\slash"]
    assert store.count_onboardings(search="_") == 1


def test_get_onboardings_returns_known_ids_only(store):
    for i in range(3):
        store.register_invitation({"id": f"i-{i}", "status": "active"})
    found = store.get_onboardings(["i-0", "i-2", "missing"])
    assert sorted(found) == ["i-0", "i-2"]
    assert store.get_onboardings([]) == {}


def test_list_and_count_for_the_dashboard(store):
    deliver(store, fe.happy())
    store.register_invitation({"id": "other", "fleet_ref": "ACME-7", "status": "active"})
    assert [o.invitation_id for o in store.list_onboardings(stage=Stage.CONNECTED)] == [fe.INVITATION_ID]
    assert [o.invitation_id for o in store.list_onboardings(search="acme")] == ["other"]
    assert store.count_onboardings() == 2
    assert store.count_onboardings(stage=[Stage.INVITED, Stage.CONNECTED]) == 2
    assert store.count_onboardings(since=datetime.now(UTC) + timedelta(hours=1)) == 0
    assert len(store.list_onboardings(limit=1, offset=1)) == 1
    assert store.stage_counts() == {Stage.CONNECTED: 1, Stage.INVITED: 1}


def test_events_after_filters_names_and_families(store):
    deliver(store, fe.happy() + fe.operational_events(20))
    failed = store.events_after(0, ["execution.*"])
    assert [e.event_name for e in failed] == ["execution.failed", "execution.failed"]
    mixed = store.events_after(0, ["schedule.deactivated", "connection.*"])
    assert [e.event_name for e in mixed] == ["connection.created", "schedule.deactivated", "connection.staled"]
    # A wildcard's underscore is literal, not LIKE's any-character.
    assert store.events_after(0, ["share_agreement.*"])[0].event_name == "share_agreement.created"
    assert store.events_after(0, ["shareXagreement.*"]) == []
    everything = store.events_after(0, ["*"], limit=3)
    assert [e.seq for e in everything] == sorted(e.seq for e in everything) and len(everything) == 3
    assert store.events_after(everything[-1].seq, limit=1000)[0].seq > everything[-1].seq
    assert store.events_after(0, []) == []
    assert store.last_seq() == len(fe.happy()) + 4


def test_stored_event_keeps_the_payload(store):
    env = fe.happy()[0]
    deliver(store, [env])
    stored = store.get_event(env["id"])
    assert stored.payload == env and stored.data == env["data"]
    assert (stored.fleet_ref, stored.webhook_id, stored.delivery_attempt) == (fe.FLEET_REF, fe.WEBHOOK_ID, 1)


def test_pre_registration_tokens_are_not_stored(store):
    env = fe.envelope(
        1, "invitation.accepted", {"id": "i-1", "status": "accepted", "pre_registration_access_token": "tok-123"}
    )
    deliver(store, [env])
    stored = store.events_after(0)[0]
    assert "tok-123" not in stored.body
    assert stored.data[0]["pre_registration_access_token"] == "**********"


def test_unknown_event_names_are_stored(store):
    env = fe.envelope(1, "vehicle_location.added", {"id": "v-1", "fleet_id": fe.FLEET_ID, "lat": 1.0})
    assert deliver(store, [env])[0].stored
    assert store.events_after(0)[0].fleet_id == fe.FLEET_ID
    assert store.webhook_stats().held_events == 0


def test_subscription_secrets_are_encrypted_at_rest(sqlite_url):
    key = Fernet.generate_key().decode()
    store = InboxStore(sqlite_url, fernet_key=key)
    store.migrate()
    store.save_subscription_secret("wh-1", "s3cret-value", event_name="invitation.*", url="https://x/catena/webhooks")
    store.save_subscription_secret("wh-1", "rotated-value")
    with store.engine.connect() as conn:
        raw = conn.exec_driver_sql("SELECT secret FROM catena_subscriptions").scalar()
    assert raw.startswith("fernet:") and "rotated-value" not in raw
    assert store.subscription_secret("wh-1") == "rotated-value"
    assert store.subscription_secret("missing") is None
    assert store.subscription_secrets() == {"wh-1": "rotated-value"}
    assert store.subscriptions()[0]["url"] == "https://x/catena/webhooks"
    # Another key cannot read it, and says so without leaking anything.
    other = InboxStore(sqlite_url, fernet_key=Fernet.generate_key().decode())
    assert other.subscription_secrets() == {}
    store.delete_subscription("wh-1")
    assert store.subscription_secrets() == {}


def test_webhook_stats(store):
    now = datetime.now(UTC)
    deliver(store, fe.happy()[:2])
    store.add_counters({"signature_failures": 3, "rejected": 1})
    store.add_counters({})
    stats = store.webhook_stats(now=now)
    assert (stats.events_total, stats.events_last_hour, stats.signature_failures, stats.rejected) == (2, 2, 3, 1)
    assert stats.last_event_at is not None and stats.last_event_at >= now - timedelta(minutes=1)
    assert len(stats.events_per_hour) == 24 and stats.events_per_hour[-1].count == 2


def test_group_commit_records_a_batch_in_order(store):
    envs = fe.happy()
    items = [IncomingEvent.from_envelope(e, fe.body(e)) for e in [*envs, envs[0]]]
    outcomes = store.record_events(items, counters={"signature_failures": 1})
    assert [o.stored for o in outcomes] == [True] * len(envs) + [False]
    assert store.get_onboarding(fe.INVITATION_ID).stage is Stage.CONNECTED
    assert store.webhook_stats().signature_failures == 1


def test_unsupported_database_is_refused():
    with pytest.raises(ValueError, match="unsupported"):
        InboxStore("mysql://x/y")


# --- order independence over spec-shaped events ------------------------------------------------------


def _steps(scenario: str, variant: fe.Variant) -> list[tuple[str, dict]]:
    """A scenario as the store sees it: our registration, the fleet's webhooks, a foreign fleet's webhooks."""
    build = fe.SCENARIOS[scenario][0]
    webhooks = [("event", env) for env in [*build(variant), *fe.foreign_events(60)]]
    return [("register", fe.registration()), *webhooks]


def _apply(store: InboxStore, batch: list[tuple[str, dict]]) -> None:
    events = [IncomingEvent.from_envelope(env, fe.body(env)) for kind, env in batch if kind == "event"]
    for kind, payload in batch:
        if kind == "register":
            store.register_invitation(payload)
    if events:
        store.record_events(events)


@st.composite
def deliveries(draw, steps):
    """Webhooks in any order, some twice, in group-commit batches of any size; our own registration
    (a synchronous call before the invitation reaches the fleet) anywhere before the fleet acts."""
    registration, webhooks = steps[0], steps[1:]
    delivered = draw(st.permutations(webhooks + draw(st.lists(st.sampled_from(webhooks), max_size=3))))
    first_fleet_step = min(
        (i for i, (_, env) in enumerate(delivered) if not env["event_name"].startswith("invitation.created")),
        default=len(delivered),
    )
    delivered.insert(draw(st.integers(0, first_fleet_step)), registration)
    cuts = sorted(draw(st.sets(st.integers(1, len(delivered) - 1), max_size=len(delivered) - 1)))
    return [delivered[a:b] for a, b in zip([0, *cuts], [*cuts, len(delivered)], strict=True)]


def _outcome(store: InboxStore) -> tuple:
    stats = store.webhook_stats()
    return comparable(store.get_onboarding(fe.INVITATION_ID)), stats.held_events, stats.events_total


@pytest.mark.parametrize("scenario", ["happy+operations", "reuse", "declined", "expired"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), variant=st.sampled_from(fe.VARIANTS))
def test_any_order_and_duplication_of_spec_shaped_events_gives_one_state(scenario, variant, data, tmp_path_factory):
    """Through the real store's batches and held events: the same final state as in-order delivery,
    for every shape the spec allows (``fe.VARIANTS``)."""
    steps = _steps(scenario, variant)
    with migrated_store(f"sqlite:///{tmp_path_factory.mktemp('ref') / 'inbox.db'}") as reference:
        _apply(reference, steps)
        expected = _outcome(reference)
    with migrated_store(f"sqlite:///{tmp_path_factory.mktemp('perm') / 'inbox.db'}") as store:
        for batch in data.draw(deliveries(steps)):
            _apply(store, batch)
        got = _outcome(store)
    assert got == expected
    stage = got[0]["stage"]
    wanted = fe.SCENARIOS[scenario][1]
    if wanted == "connected" and not variant.links_by_events:
        wanted = "accepted"  # the fleet id reaches the invitation only over REST (see the next test)
    assert stage == Stage(wanted)
    # Held for good: the foreign fleet's events; and while REST has not linked the fleet, its own.
    unlinked = [e for e in fe.SCENARIOS[scenario][0](variant) if not e["event_name"].startswith("invitation.")]
    assert got[1] == len(fe.foreign_events(0)) + (len(unlinked) if wanted == "accepted" else 0)


def test_a_fleet_that_events_cannot_link_is_linked_by_the_invitation_read_over_rest(store):
    """invitation.accepted without fleet_id and a share agreement without fleet_ref: only REST can tell."""
    variant = fe.Variant(accepted_fleet_id=False, share_agreement_fleet_ref=False)
    store.register_invitation(fe.registration())
    deliver(store, fe.happy(variant))
    ob = store.get_onboarding(fe.INVITATION_ID)
    assert (ob.stage, ob.fleet_id) == (Stage.ACCEPTED, None)
    assert store.webhook_stats().held_events == 3

    ob = store.record_observation(fe.INVITATION_ID, fleet_id=fe.FLEET_ID, invitation_status="accepted")

    assert (ob.stage, ob.fleet_id, ob.share_agreement_id) == (Stage.CONNECTED, fe.FLEET_ID, f"{fe.FLEET_ID[:-4]}5a00")
    assert store.webhook_stats().held_events == 0


def test_share_agreements_wait_for_their_fleet_refs_invitation(store):
    """Invitation records without fleet_ref and no registration yet: the agreement waits for the ref."""
    variant = fe.Variant(invitation_fleet_ref=False, accepted_fleet_id=False)
    deliver(store, fe.happy(variant))
    assert store.get_onboarding(fe.INVITATION_ID).stage is Stage.ACCEPTED

    ob = store.register_invitation(fe.registration())

    assert (ob.stage, ob.fleet_id) == (Stage.CONNECTED, fe.FLEET_ID)


def test_a_contradicting_invitation_id_holds_the_agreement(store):
    store.register_invitation(fe.registration())
    sa = fe.share_agreement_record(variant=fe.OLDEST, invitation_id="019d0000-0000-7000-8000-0000000a0999")
    deliver(store, [fe.envelope(5, "share_agreement.created", sa)])
    ob = store.get_onboarding(fe.INVITATION_ID)
    assert (ob.fleet_id, ob.share_agreement_id) == (None, None)
    assert store.webhook_stats().held_events == 1


# --- attempts ---------------------------------------------------------------------------------------


def test_a_reinvite_after_a_decline_follows_the_new_attempt_whatever_comes_late(store):
    declined_events = fe.declined()
    store.register_invitation(fe.registration())
    deliver(store, declined_events[:2])
    # The run that re-invites: Catena refreshed the same invitation (200, back to active).
    refreshed = fe.registration(expires_at=fe.at(10 + 24 * 60).isoformat())
    ob = store.register_invitation(refreshed, new_attempt_at=fe.at(10), dag_id="d", run_id="second")
    assert (ob.stage, ob.attempt) == (Stage.VIEWED, 1)  # no failure known yet: nothing to start over from
    deliver(store, [declined_events[2]])  # the old attempt's decline arrives only now
    ob = store.get_onboarding(fe.INVITATION_ID)
    assert (ob.stage, ob.attempt) == (Stage.INVITED, 2)  # it ended attempt 1, not the new one

    deliver(store, fe.fleet_events(12))

    ob = store.get_onboarding(fe.INVITATION_ID)
    assert (ob.stage, ob.attempt, ob.run_id) == (Stage.CONNECTED, 2, "second")
    assert [(a.number, a.stage) for a in ob.previous_attempts] == [(1, Stage.DECLINED)]


def test_a_new_invitation_after_an_expiry_takes_the_fleet_and_the_old_one_stays_expired(store):
    second = "019d0000-0000-7000-8000-00000000a002"
    store.register_invitation(fe.registration(expires_at=fe.at(3).isoformat()))
    deliver(store, fe.expired())
    store.register_invitation(fe.registration(second, created=fe.at(10)))

    deliver(store, fe.fleet_events(12, invitation_id=second, created=fe.at(10)))

    assert store.get_onboarding(second).stage is Stage.CONNECTED
    old = store.get_onboarding(fe.INVITATION_ID)
    assert (old.stage, old.fleet_id) == (Stage.EXPIRED, None)


def test_an_agreement_that_arrives_before_the_old_invitations_expiry_is_known_still_finds_the_new_one(store):
    second = "019d0000-0000-7000-8000-00000000a002"
    store.register_invitation(fe.registration(expires_at=fe.at(3).isoformat()))
    store.register_invitation(fe.registration(second, created=fe.at(10)))
    share = [e for e in fe.fleet_events(12, invitation_id=second, created=fe.at(10)) if "share" in e["event_name"]]

    deliver(store, share)

    assert store.get_onboarding(second).fleet_id == fe.FLEET_ID
    assert store.get_onboarding(fe.INVITATION_ID).fleet_id is None


def test_a_share_agreement_with_an_unreadable_effective_date_is_stored_and_applied(store):
    """It used to raise in correlation (ValueError), so the receiver answered 503 to every delivery of it."""
    deliver(store, fe.happy()[:3])
    agreement = fe.envelope(
        5, "share_agreement.created", {**fe.share_agreement_record(effective=fe.at(4)), "effective_date": "not-a-date"}
    )
    [outcome] = deliver(store, [agreement])
    assert outcome.stored
    onboarding = store.get_onboarding(fe.INVITATION_ID)
    assert (onboarding.fleet_id, onboarding.share_agreement_status) == (fe.FLEET_ID, "active")
    assert onboarding.stage_times[Stage.SHARE_AGREEMENT] == fe.at(5)
