"""Onboardings (inbox/onboardings_repo.py): registering invitations, merging observations, every read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from catena_airflow.inbox import IncomingEvent, Stage
from tests.fixtures.databases import migrated_store
from tests.unit.inbox import fleet_events as fe

T0 = fe.T0


def invitations_created_together(store, *invitation_ids: str, **fields) -> None:
    """Invitations created by ONE batch of events: their rows share created_at and updated_at."""
    envs = [
        fe.envelope(n, "invitation.created", {"id": i, "status": "active", **fields}, event_id=f"evt-{i}")
        for n, i in enumerate(invitation_ids, 1)
    ]
    store.record_events([IncomingEvent.from_envelope(e, fe.body(e)) for e in envs])


def ids(onboardings) -> list[str]:
    return [o.invitation_id for o in onboardings]


def test_an_invitation_without_an_id_is_refused(store):
    for invitation in ({"status": "active"}, {"id": "", "status": "active"}, {"id": None}):
        with pytest.raises(ValueError, match=r"^invitation has no id$"):
            store.register_invitation(invitation)
    assert store.count_onboardings() == 0


def test_a_registration_keeps_what_the_invitation_says(store):
    ob = store.register_invitation(
        fe.registration("i-1", fleet_id="f-1", decline_reason=None), dag_id="onboard", run_id=None
    )
    assert ob == store.get_onboarding("i-1")
    assert (ob.invitation_id, ob.fleet_ref, ob.fleet_id, ob.stage, ob.invitation_status) == (
        "i-1",
        fe.FLEET_REF,
        "f-1",
        Stage.INVITED,
        "active",
    )
    assert (ob.magic_link, ob.expires_at) == (
        "https://connect.catenatelematics.com/?invite=i-1",
        T0 + timedelta(hours=24),
    )
    assert (ob.dag_id, ob.run_id) == ("onboard", None)
    assert ob.stage_times[Stage.INVITED] == T0
    only_run = store.register_invitation(fe.registration("i-2"), run_id="manual__2")
    assert (only_run.dag_id, only_run.run_id) == (None, "manual__2")


def test_a_declined_invitation_registers_as_declined_with_its_reason(store):
    declined_at = T0 + timedelta(hours=1)
    ob = store.register_invitation(
        fe.registration("i-1", status="declined", declined_at=declined_at.isoformat(), decline_reason="wrong TSP")
    )
    assert (ob.stage, ob.decline_reason, ob.invitation_status) == (Stage.DECLINED, "wrong TSP", "declined")
    assert ob.stage_times[Stage.DECLINED] == declined_at


def test_accepted_and_expired_invitations_are_timed_by_catenas_own_fields(store):
    accepted_at, expires_at = T0 + timedelta(hours=2), T0 + timedelta(hours=24)
    ob = store.register_invitation(fe.registration("i-1", status="accepted", accepted_at=accepted_at.isoformat()))
    assert (ob.stage, ob.stage_times[Stage.ACCEPTED]) == (Stage.ACCEPTED, accepted_at)
    ob = store.register_invitation(fe.registration("i-2", status="expired", expires_at=expires_at.isoformat()))
    assert (ob.stage, ob.stage_times[Stage.EXPIRED]) == (Stage.EXPIRED, expires_at)


def test_an_invitation_without_a_status_is_invited_since_its_creation(store):
    ob = store.register_invitation({"id": "i-1", "created_at": T0.isoformat()})
    assert (ob.stage, ob.stage_times, ob.invitation_status) == (Stage.INVITED, {Stage.INVITED: T0}, None)


def test_a_registrations_status_is_a_rest_fact(store):
    # At the same instant, what the registration read over REST outranks a redirect page.
    declined_at = T0 + timedelta(hours=1)
    store.register_invitation(
        fe.registration("i-1", status="declined", declined_at=declined_at.isoformat(), decline_reason="from rest")
    )
    ob = store.record_observation("i-1", decline_reason="from a page", source="redirect", at=declined_at)
    assert (ob.decline_reason, ob.invitation_status) == ("from rest", "declined")


def test_a_refreshed_invitation_after_a_decline_starts_a_new_attempt(store):
    store.register_invitation(
        fe.registration("i-1", status="declined", declined_at=(T0 + timedelta(hours=1)).isoformat())
    )
    again = T0 + timedelta(hours=2)
    ob = store.register_invitation(fe.registration("i-1"), new_attempt_at=again)
    assert (ob.stage, ob.attempt, ob.attempt_started_at) == (Stage.INVITED, 2, again)
    assert [a.stage for a in ob.previous_attempts] == [Stage.DECLINED]


def test_an_observation_merges_every_field_it_carries(store):
    store.register_invitation(fe.registration("i-1"))
    at = T0 + timedelta(hours=3)
    ob = store.record_observation(
        "i-1",
        stage=Stage.ACCEPTED,
        stage_times={Stage.ACCEPTED: T0 + timedelta(hours=1)},
        fleet_id="f-1",
        fleet_ref=fe.FLEET_REF,
        connection_ids=["c-1"],
        connection_statuses={"c-1": "active"},
        schedule_statuses={"s-1": "inactive"},
        share_agreement={"id": "sa-1", "status": "active", "scopes": {"vehicles": "read"}},
        invitation_status="accepted",
        expires_at=T0 + timedelta(hours=48),
        at=at,
    )
    assert ob.fleet_id == "f-1" and ob.connection_ids == ("c-1",)
    assert (ob.share_agreement_id, ob.share_agreement_status, ob.share_agreement_scopes) == (
        "sa-1",
        "active",
        {"vehicles": "read"},
    )
    assert ob.connections["c-1"].status == "active" and ob.schedules["s-1"].status == "inactive"
    assert ob.invitation_status == "accepted" and ob.expires_at == T0 + timedelta(hours=48)
    assert ob.stage_times[Stage.ACCEPTED] == T0 + timedelta(hours=1)


def test_a_share_agreement_model_without_scopes_is_read_like_a_dict(store):
    class Agreement:
        id = 7
        status = "active"
        scopes = None

    store.register_invitation(fe.registration("i-1"))
    ob = store.record_observation("i-1", fleet_id="f-1", share_agreement=Agreement())
    assert (ob.share_agreement_id, ob.share_agreement_status, ob.share_agreement_scopes) == ("7", "active", {})


def test_an_observation_can_create_the_row_when_asked(store):
    assert store.record_observation("i-1", fleet_ref="R-1") is None
    ob = store.record_observation("i-1", fleet_ref="R-1", create=True, at=T0)
    assert ob is not None and ob.fleet_ref == "R-1" and store.get_onboarding("i-1") == ob


def test_a_redirect_kind_that_is_no_stage_is_fine_for_rest_and_redirect(store):
    store.register_invitation(fe.registration("i-1"))
    with pytest.raises(
        ValueError, match=r"^redirect observations record a redirect kind \(e\.g\. redirect_success\), not a stage$"
    ):
        store.record_observation("i-1", stage="invited", source="redirect")
    ob = store.record_observation("i-1", stage=Stage.ACCEPTED, source="rest")
    assert ob.stage is Stage.ACCEPTED


def test_the_onboardings_of_a_fleet_newest_first(store):
    # "Newest" is the row's creation in the inbox, not the invitation's own created_at.
    for n, invitation_id in enumerate(["i-b", "i-a", "i-c"]):
        store.register_invitation(fe.registration(invitation_id, fleet_id="f-1", created=T0 - timedelta(hours=n)))
    store.register_invitation(fe.registration("i-other", fleet_id="f-2"))
    assert ids(store.onboardings_for_fleet("f-1")) == ["i-c", "i-a", "i-b"]
    assert store.onboardings_for_fleet("f-9") == []


def test_the_onboardings_of_fleet_refs_oldest_first_per_ref(store):
    for n, invitation_id in enumerate(["i-2", "i-1", "i-3"]):
        store.register_invitation(fe.registration(invitation_id, fleet_ref="R-1", created=T0 - timedelta(hours=n)))
    store.register_invitation(fe.registration("i-9", fleet_ref="R-2"))
    found = store.onboardings_for_refs(iter(["R-1", "R-3", "R-1"]))
    assert {ref: ids(obs) for ref, obs in found.items()} == {"R-1": ["i-2", "i-1", "i-3"], "R-3": []}
    assert store.onboardings_for_refs([]) == {}


def test_lists_are_newest_updated_first_and_filtered(store):
    for invitation_id in ("i-1", "i-2", "i-3"):
        store.register_invitation(fe.registration(invitation_id, fleet_ref=f"Ref_{invitation_id}"))
    store.record_observation("i-2", stage=Stage.ACCEPTED, fleet_id="FLEET-XY")
    assert ids(store.list_onboardings()) == ["i-2", "i-3", "i-1"]
    assert ids(store.list_onboardings(limit=2)) == ["i-2", "i-3"]
    assert ids(store.list_onboardings(offset=1)) == ["i-3", "i-1"]
    assert ids(store.list_onboardings(stage="invited")) == ["i-3", "i-1"]
    assert ids(store.list_onboardings(stage=[Stage.ACCEPTED])) == ["i-2"]
    assert ids(store.list_onboardings(stage=[])) == []
    updated = store.get_onboarding("i-2").updated_at
    assert ids(store.list_onboardings(since=updated)) == ["i-2"]
    assert ids(store.list_onboardings(since=updated + timedelta(microseconds=1))) == []
    # Search: case-insensitive, trimmed, in the invitation id, the fleet ref or the fleet id.
    assert ids(store.list_onboardings(search="  fleet-x ")) == ["i-2"]
    assert ids(store.list_onboardings(search="REF_I-3")) == ["i-3"]
    assert ids(store.list_onboardings(search="I-1")) == ["i-1"]
    assert ids(store.list_onboardings(search="")) == ["i-2", "i-3", "i-1"]
    assert store.count_onboardings() == 3
    assert store.count_onboardings(stage="invited") == 2
    assert store.count_onboardings(since=updated) == 1
    assert store.count_onboardings(search="fleet-x") == 1
    assert store.stage_counts() == {Stage.INVITED: 2, Stage.ACCEPTED: 1}


def test_an_empty_inbox_counts_nothing(store):
    assert (store.count_onboardings(), store.stage_counts(), store.list_onboardings()) == (0, {}, [])


def test_registration_dates_default_to_now(store):
    before = datetime.now(UTC)
    ob = store.register_invitation({"id": "i-1", "status": "active"})
    assert ob.created_at >= before and ob.updated_at >= before
    assert ob.stage_times[Stage.INVITED] >= before


def test_an_observation_is_a_rest_one_unless_said_otherwise(store):
    # At the same instant a REST observation outranks a redirect page's (the clock's tie-break is the
    # source), whichever comes first.
    at = T0 + timedelta(hours=1)
    rest = {"decline_reason": "from rest", "invitation_status": "declined"}
    page = {"decline_reason": "from a page", "invitation_status": "expired", "source": "redirect"}
    for invitation_id, first, second in (("i-1", rest, page), ("i-2", page, rest)):
        store.register_invitation(fe.registration(invitation_id))
        store.record_observation(invitation_id, stage_times={Stage.DECLINED: at}, at=at)
        store.record_observation(invitation_id, at=at, **first)
        ob = store.record_observation(invitation_id, at=at, **second)
        assert (ob.stage, ob.decline_reason, ob.invitation_status) == (Stage.DECLINED, "from rest", "declined")


def test_an_observation_without_a_time_is_made_now_in_utc(store, machine_in_india):
    store.register_invitation(fe.registration("i-1"))
    before = datetime.now(UTC)
    ob = store.record_observation("i-1", stage="redirect_success", source="redirect")
    assert before <= ob.redirects["redirect_success"] <= datetime.now(UTC)


def test_rows_created_together_are_ordered_by_invitation_id(store):
    invitations_created_together(store, "i-b", "i-c", "i-a", fleet_ref="R-1", fleet_id="f-1")
    assert ids(store.onboardings_for_fleet("f-1")) == ["i-a", "i-b", "i-c"]
    assert ids(store.onboardings_for_refs(["R-1"])["R-1"]) == ["i-a", "i-b", "i-c"]
    assert ids(store.list_onboardings()) == ["i-a", "i-b", "i-c"]


def test_a_search_with_a_backslash_before_a_wildcard_is_literal(store):
    for ref in ("a\\%b", "a\\\\xb", "a\\_b", "a\\\\_b"):
        store.register_invitation(fe.registration(f"id-{len(ref)}-{ref[-2]}", fleet_ref=ref))
    assert sorted(o.fleet_ref for o in store.list_onboardings(search="a\\%")) == ["a\\%b"]
    assert sorted(o.fleet_ref for o in store.list_onboardings(search="a\\_")) == ["a\\_b"]


def test_search_looks_in_each_column_and_escapes_in_each(store):
    store.register_invitation(fe.registration("Inv-A", fleet_ref="ref-1", fleet_id="f_1"))
    store.register_invitation(fe.registration("inv-b", fleet_ref="ref_2", fleet_id="fleet-2"))
    store.register_invitation(fe.registration("inv_c", fleet_ref="ref-3", fleet_id="fleet-3"))
    store.register_invitation(fe.registration("inv-d", fleet_ref="ref-4", fleet_id="fxx1"))

    def found(search: str) -> list[str]:
        return sorted(ids(store.list_onboardings(search=search)))

    assert found("inv-a") == ["Inv-A"]
    assert found("INV_") == ["inv_c"]
    assert found("REF_") == ["inv-b"]
    assert found("f_1") == ["Inv-A"]


def test_search_on_postgres_is_case_insensitive_too(postgres_url):
    # PostgreSQL's LIKE is case-sensitive (SQLite's is not for ASCII): the lower() on both sides matters.
    with migrated_store(postgres_url) as store:
        store.register_invitation(fe.registration("Inv-A", fleet_ref="Ref-One", fleet_id="Fleet-X"))
        store.register_invitation(fe.registration("inv-b", fleet_ref="ref-two", fleet_id="fleet-y"))
        for search, expected in (("iNV-a", ["Inv-A"]), ("REF-ONE", ["Inv-A"]), ("fleet-x", ["Inv-A"]), ("REF", None)):
            assert sorted(ids(store.list_onboardings(search=search))) == (expected or ["Inv-A", "inv-b"])
        assert store.count_onboardings(search="FLEET-Y") == 1


def test_of_two_registered_invitations_of_a_ref_the_newer_one_takes_its_share_agreement(store):
    """Which of a ref's invitations is current is when it was opened (created), not its latest stage: an
    older invitation registered as accepted later on does not take the newer invitation's agreement."""
    store.register_invitation(
        fe.registration("i-old", created=T0, status="accepted", accepted_at=(T0 + timedelta(hours=2)).isoformat())
    )
    store.register_invitation(fe.registration("i-new", created=T0 + timedelta(hours=1)))
    env = fe.envelope(
        200,
        "share_agreement.created",
        fe.share_agreement_record(fleet_ref=fe.FLEET_REF, effective=T0 + timedelta(hours=3)),
    )
    store.record_events([IncomingEvent.from_envelope(env, fe.body(env))])
    assert store.get_onboarding("i-new").share_agreement_id is not None
    assert store.get_onboarding("i-old").share_agreement_id is None
