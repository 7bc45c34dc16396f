"""Which onboarding a Catena event record belongs to, using only the fields Catena's specs define.

An onboarding is keyed by its invitation id; the partner's key for a fleet is its ``fleet_ref``. What
each record names (notifications spec, newest version):

- invitation events: the invitation ``id``, and ``fleet_ref`` / ``fleet_id`` (both nullable);
- share agreement events: ``fleet_id`` and a nullable ``fleet_ref``. Older spec versions also had
  ``invitation_id``; it is used only to veto a link it contradicts, never as the only key;
- connection events: ``fleet_id`` and the connection ``id``; ``fleet_connection.created`` and
  execution events: ``fleet_id`` and ``connection_id``; schedule events: ``connection_id`` only.

So the links run fleet id -> fleet ref -> the fleet ref's current invitation (Catena's own advice:
"use your share agreements to map fleet_id back to your internal fleet_ref"):

- a share agreement with a ``fleet_ref`` goes to that ref's onboarding whose fleet can have signed it
  (its current attempt has not failed, nor expired unaccepted before the agreement; the most recent
  one if there are several), never to one already linked to another fleet;
  one without a ``fleet_ref`` goes to the onboardings already linked to its fleet id (by an invitation
  record, a REST read, or an earlier share agreement);
- fleet-only events go to the onboardings linked to their fleet, else to the one linked to their
  connection; schedule events to the one linked to their connection.

A record with no target is *held* (stored, applied later): the store re-examines held records when a
fleet or connection gets linked, or when a fleet ref gains a live onboarding. A fleet that is not ours
links nothing and stays held.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from catena_airflow.inbox import projection
from catena_airflow.inbox.models import PROGRESS_STAGES, Stage
from catena_airflow.inbox.projection import EventRecord, State, _safe_ts, current_stage, opt_str, recency

#: Stages at which the fleet has accepted (its invitation no longer expires).
ACCEPTED_STAGES = frozenset(PROGRESS_STAGES[PROGRESS_STAGES.index(Stage.ACCEPTED) :])


@dataclass(frozen=True)
class Keys:
    """What a record names."""

    invitation_id: str | None = None  # invitation records only: their own id, the onboarding's key
    fleet_id: str | None = None
    fleet_ref: str | None = None
    connection_id: str | None = None
    #: Share agreements of older spec versions: the invitation that created them (a cross-check only).
    claimed_invitation_id: str | None = None


def correlation_keys(rec: EventRecord) -> Keys:
    r, fam = rec.record, rec.family
    fleet_id, fleet_ref = opt_str(r.get("fleet_id")), opt_str(r.get("fleet_ref"))
    if fam == "invitation":
        return Keys(invitation_id=opt_str(r.get("id")), fleet_id=fleet_id, fleet_ref=fleet_ref)
    if fam == "share_agreement":
        return Keys(fleet_id=fleet_id, fleet_ref=fleet_ref, claimed_invitation_id=opt_str(r.get("invitation_id")))
    if fam == "connection":
        return Keys(fleet_id=fleet_id, connection_id=opt_str(r.get("id")))
    if fam in ("fleet_connection", "execution", "schedule"):
        return Keys(fleet_id=fleet_id, connection_id=opt_str(r.get("connection_id")))
    return Keys(fleet_id=fleet_id, fleet_ref=fleet_ref)


def creates_onboarding(rec: EventRecord) -> bool:
    """Invitation records name their onboarding outright: they create its row when it is new."""
    return rec.family == "invitation"


class OnboardingIndex(Protocol):
    """The onboardings a decision may look at (the store's batch loads what the records can reach)."""

    def state(self, invitation_id: str) -> State: ...

    def with_ref(self, fleet_ref: str) -> Sequence[str]: ...

    def with_fleet(self, fleet_id: str) -> Sequence[str]: ...

    def with_connection(self, connection_id: str) -> Sequence[str]: ...


def is_live(state: State) -> bool:
    """Whether a share agreement may still reach this onboarding: its current attempt has not failed."""
    return not current_stage(state).is_failure


def targets(rec: EventRecord, index: OnboardingIndex) -> list[str]:
    """The onboardings ``rec`` applies to; empty: hold it."""
    keys = correlation_keys(rec)
    if creates_onboarding(rec):
        return [keys.invitation_id] if keys.invitation_id else []
    if rec.family == "share_agreement":
        # As event_fact: an effective_date that is not a time is no time (the record is still applied).
        signed = _safe_ts(rec.record.get("effective_date"))
        return _share_agreement_targets(keys, index, signed_at=signed or projection.ts(rec.at) or "")
    found = list(index.with_fleet(keys.fleet_id)) if keys.fleet_id else []
    if not found and keys.connection_id:  # the connection link only matters when the fleet has none
        found = list(index.with_connection(keys.connection_id))
    return found


def could_sign(state: State, signed_at: str) -> bool:
    """Whether this onboarding's fleet can have signed a share agreement at ``signed_at``: its current
    attempt has not failed, and was not past its expiry then without having been accepted."""
    stage = current_stage(state)
    if stage.is_failure:
        return False
    expires = state.get("expires_at")
    return stage in ACCEPTED_STAGES or not expires or not signed_at or expires >= signed_at


def _share_agreement_targets(keys: Keys, index: OnboardingIndex, *, signed_at: str) -> list[str]:
    if keys.fleet_ref:
        candidates = [
            invitation_id
            for invitation_id in index.with_ref(keys.fleet_ref)
            if could_sign(state := index.state(invitation_id), signed_at)
            and state.get("fleet_id") in (None, keys.fleet_id)
        ]
        linked = [i for i in candidates if index.state(i).get("fleet_id") == keys.fleet_id]
        pool = linked or candidates
        chosen = [max(pool, key=lambda i: (recency(index.state(i)), i))] if pool else []
    else:
        chosen = list(index.with_fleet(keys.fleet_id)) if keys.fleet_id else []
    if keys.claimed_invitation_id is not None and chosen != [keys.claimed_invitation_id]:
        return []  # the record names another invitation than the one its documented fields lead to
    return chosen


def record_keys(records: Iterable[EventRecord]) -> tuple[set[str], set[str], set[str], set[str]]:
    """(invitation ids, fleet ids, fleet refs, connection ids) the records name: what to read first."""
    invs: set[str] = set()
    fleets: set[str] = set()
    refs: set[str] = set()
    conns: set[str] = set()
    for rec in records:
        keys = correlation_keys(rec)
        if keys.invitation_id:
            invs.add(keys.invitation_id)
        if keys.fleet_id:
            fleets.add(keys.fleet_id)
        if keys.fleet_ref:
            refs.add(keys.fleet_ref)
        if keys.connection_id:
            conns.add(keys.connection_id)
    return invs, fleets, refs, conns


__all__ = [
    "Keys",
    "OnboardingIndex",
    "correlation_keys",
    "could_sign",
    "creates_onboarding",
    "is_live",
    "record_keys",
    "targets",
]
