"""Onboarding state as a pure function of its events: the same set gives the same state in any order.

Catena delivers at least once and in no particular order, so the state is a join-semilattice: every
event record (and every REST/redirect observation) becomes a *fact* of the same shape as the state,
and ``join`` merges two of them commutatively and associatively:

- stage times keep the earliest time per stage; the gating stage is derived from the set of stages
  reached (``gating_stage``), so it only ever moves forward;
- identifiers (fleet id, fleet ref, magic link) keep the first non-null value (the smaller one on a
  conflict, which Catena's data never produces);
- values that change over time (invitation status, decline reason, share agreement, connection and
  schedule status) are last-writer-wins registers ordered by (event time, event id);
- ``expires_at`` keeps the latest (a refresh extends it), redirects keep their latest time;
- failed executions are counted, which is only correct once per event: ``project`` drops
  duplicate records, and the store commits each Catena event id once.

Correlation: invitation and share-agreement events name their invitation; connection, fleet-connection
and execution events name only a fleet (and connection); schedule events only a connection. Those are
applied once the fleet or connection is known to belong to the invitation, whatever the arrival order.

The state is a JSON document (``State``) so the store can persist it as is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from catena_airflow.inbox.models import (
    FAILURE_STAGES,
    PROGRESS_STAGES,
    ConnectionStatus,
    Onboarding,
    ScheduleStatus,
    Stage,
)

State = dict[str, Any]
Clock = list[str]  # [event time, tie-break]: compared as a list

PROJECTED_FAMILIES = frozenset(
    {"invitation", "share_agreement", "connection", "fleet_connection", "execution", "schedule"}
)
# Families whose records name their invitation: they create onboarding rows and never correlate by fleet.
INVITATION_KEYED_FAMILIES = frozenset({"invitation", "share_agreement"})

_INVITATION_STAGES = {
    "created": Stage.INVITED,
    "sent": Stage.SENT,
    "viewed": Stage.VIEWED,
    "accepted": Stage.ACCEPTED,
    "declined": Stage.DECLINED,
    "rejected": Stage.DECLINED,  # deprecated alias of declined
    "expired": Stage.EXPIRED,
    "deleted": Stage.DELETED,
}
# The record field holding the transition's own time, when Catena sends one.
_INVITATION_TIME_FIELDS = {"created": "created_at", "accepted": "accepted_at", "declined": "declined_at"}
_STATUS_STAGES = {
    "active": Stage.INVITED,
    "accepted": Stage.ACCEPTED,
    "declined": Stage.DECLINED,
    "rejected": Stage.DECLINED,
    "expired": Stage.EXPIRED,
    "deleted": Stage.DELETED,
}
_FAILURE_ORDER = (Stage.DECLINED, Stage.EXPIRED, Stage.DELETED)


# --- time -----------------------------------------------------------------------------------------


def to_utc(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def ts(value: datetime | str | None) -> str | None:
    """Canonical, lexicographically ordered UTC time string."""
    dt = to_utc(value)
    return None if dt is None else dt.isoformat(timespec="microseconds")


def _safe_ts(value: Any) -> str | None:
    try:
        return ts(value)
    except (TypeError, ValueError):
        return None


# --- inputs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventRecord:
    """One record of a webhook envelope (envelopes carry a list), with the envelope's identity."""

    event_id: str
    index: int
    event_name: str
    record: Mapping[str, Any]
    at: datetime  # the envelope's timestamp, or the receipt time when Catena sent none

    @property
    def key(self) -> tuple[str, int]:
        return (self.event_id, self.index)

    @property
    def family(self) -> str:
        return family_of(self.event_name)

    @property
    def action(self) -> str:
        return self.event_name.partition(".")[2]


@dataclass(frozen=True)
class Keys:
    """How a record finds its onboarding."""

    invitation_id: str | None = None
    fleet_id: str | None = None
    connection_id: str | None = None


def family_of(event_name: str) -> str:
    return event_name.partition(".")[0]


def is_projected(event_name: str) -> bool:
    return family_of(event_name) in PROJECTED_FAMILIES


def records_of(event_id: str, event_name: str, data: Iterable[Any], at: datetime) -> list[EventRecord]:
    return [
        EventRecord(event_id=event_id, index=i, event_name=event_name, record=rec, at=at)
        for i, rec in enumerate(data)
        if isinstance(rec, Mapping)
    ]


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def correlation_keys(rec: EventRecord) -> Keys:
    r, fam = rec.record, rec.family
    if fam == "invitation":
        return Keys(invitation_id=_str(r.get("id")), fleet_id=_str(r.get("fleet_id")))
    if fam == "share_agreement":
        return Keys(invitation_id=_str(r.get("invitation_id")), fleet_id=_str(r.get("fleet_id")))
    if fam == "connection":
        return Keys(fleet_id=_str(r.get("fleet_id")), connection_id=_str(r.get("id")))
    if fam in ("fleet_connection", "execution"):
        return Keys(fleet_id=_str(r.get("fleet_id")), connection_id=_str(r.get("connection_id")))
    if fam == "schedule":
        return Keys(connection_id=_str(r.get("connection_id")))
    return Keys(fleet_id=_str(r.get("fleet_id")))


# --- facts ----------------------------------------------------------------------------------------


def empty_state() -> State:
    return {}


def _clock(at: str, tiebreak: str) -> Clock:
    return [at, tiebreak]


def _lww(clock: Clock, value: Any) -> list[Any]:
    return [clock, value]


def event_fact(rec: EventRecord) -> State:
    """What one event record says about its onboarding."""
    r, fam, action = rec.record, rec.family, rec.action
    at = ts(rec.at)
    assert at is not None
    clock = _clock(at, f"{rec.event_id}#{rec.index}")
    fact: State = {}
    if fam == "invitation":
        stage = _INVITATION_STAGES.get(action)
        if stage is not None:
            stage_at = _safe_ts(r.get(_INVITATION_TIME_FIELDS.get(action, ""))) or at
            fact["stage_times"] = {stage.value: stage_at}
        _put_identity(fact, fleet_id=r.get("fleet_id"), fleet_ref=r.get("fleet_ref"), magic_link=r.get("magic_link"))
        if expires := _safe_ts(r.get("expires_at")):
            fact["expires_at"] = expires
        if status := _str(r.get("status")):
            fact["invitation_status"] = _lww(clock, status)
        if reason := _str(r.get("decline_reason")):
            fact["decline_reason"] = _lww(clock, reason)
    elif fam == "share_agreement":
        if action == "created":
            fact["stage_times"] = {Stage.SHARE_AGREEMENT.value: _safe_ts(r.get("effective_date")) or at}
        _put_identity(fact, fleet_id=r.get("fleet_id"), fleet_ref=r.get("fleet_ref"))
        status = _str(r.get("status")) or ("deleted" if action == "deleted" else None)
        fact["share_agreement"] = _lww(
            clock, {"id": _str(r.get("id")), "status": status, "scopes": dict(r.get("scopes") or {})}
        )
    elif fam == "connection":
        conn_id = _str(r.get("id"))
        if conn_id:
            fact["connection_ids"] = [conn_id]
            status = "stale" if action == "staled" else (_str(r.get("status")) or "active")
            fact["connections"] = {conn_id: _lww(clock, {"status": status, "at": at})}
        if action == "created":
            fact["stage_times"] = {Stage.CONNECTION.value: at}
    elif fam == "fleet_connection":
        if conn_id := _str(r.get("connection_id")):
            fact["connection_ids"] = [conn_id]
        if action == "created":
            fact["stage_times"] = {Stage.CONNECTED.value: at}
    elif fam == "execution":
        if sched_id := _str(r.get("schedule_id")):
            sched: State = {"connection_id": _str(r.get("connection_id")), "resource": _str(r.get("resource"))}
            if action == "failed":
                sched["failed"] = 1
                sched["last_failure_at"] = _safe_ts(r.get("updated_at")) or at
            fact["schedules"] = {sched_id: sched}
    elif fam == "schedule" and (sched_id := _str(r.get("id"))):
        status = _str(r.get("status")) or ("inactive" if action == "deactivated" else None)
        sched = {"connection_id": _str(r.get("connection_id")), "resource": _str(r.get("resource"))}
        if status:
            sched["status"] = _lww(clock, {"status": status, "at": at})
        fact["schedules"] = {sched_id: sched}
    return _drop_none(fact)


def observation_fact(
    *,
    at: datetime,
    source: str = "rest",
    stage: Stage | str | None = None,
    fleet_id: str | None = None,
    fleet_ref: str | None = None,
    magic_link: str | None = None,
    expires_at: datetime | str | None = None,
    invitation_status: str | None = None,
    connection_ids: Iterable[str] | None = None,
    connection_statuses: Mapping[str, str] | None = None,
    share_agreement: Mapping[str, Any] | None = None,
    decline_reason: str | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> State:
    """What a REST read, a redirect page or a registration says about an onboarding.

    ``source="redirect"``: ``stage`` is an informational redirect kind (``redirect_success`` ...),
    kept with its time and never changing the gating stage.
    """
    at_s = ts(at)
    assert at_s is not None
    clock = _clock(at_s, f"~{source}")
    fact: State = {}
    if stage is not None:
        if source == "redirect":
            fact["redirects"] = {str(stage): at_s}
        else:
            fact["stage_times"] = {Stage(stage).value: at_s}
    _put_identity(fact, fleet_id=fleet_id, fleet_ref=fleet_ref, magic_link=magic_link)
    if expires := _safe_ts(expires_at):
        fact["expires_at"] = expires
    if invitation_status:
        fact["invitation_status"] = _lww(clock, invitation_status)
        status_stage = _STATUS_STAGES.get(invitation_status)
        if status_stage is not None and source != "redirect":
            fact.setdefault("stage_times", {}).setdefault(status_stage.value, at_s)
    if decline_reason:
        fact["decline_reason"] = _lww(clock, decline_reason)
    ids = sorted({str(c) for c in connection_ids or ()} | set(connection_statuses or {}))
    if ids:
        fact["connection_ids"] = ids
    if connection_statuses:
        fact["connections"] = {
            str(cid): _lww(clock, {"status": status, "at": at_s}) for cid, status in connection_statuses.items()
        }
    if share_agreement:
        sa_status = _str(share_agreement.get("status"))
        fact["share_agreement"] = _lww(
            clock,
            {
                "id": _str(share_agreement.get("id")),
                "status": sa_status,
                "scopes": dict(share_agreement.get("scopes") or {}),
            },
        )
        fact.setdefault("stage_times", {}).setdefault(Stage.SHARE_AGREEMENT.value, at_s)
    if dag_id or run_id:
        fact["dag_run"] = _lww(clock, {"dag_id": dag_id, "run_id": run_id})
    return _drop_none(fact)


def _put_identity(fact: State, **values: Any) -> None:
    for name, value in values.items():
        if (v := _str(value)) is not None:
            fact[name] = v


def _drop_none(fact: State) -> State:
    return {k: v for k, v in fact.items() if v is not None and v != {} and v != []}


# --- join -----------------------------------------------------------------------------------------


def _first_non_null(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _min(a: str | None, b: str | None) -> str | None:
    return _first_non_null(a, b)


def _max(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _later(a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a[0] >= b[0] else b


def _join_maps(a: Mapping[str, Any], b: Mapping[str, Any], join_value) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        out[key] = join_value(out[key], value) if key in out else value
    return out


def _join_schedule(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    return _drop_none(
        {
            "connection_id": _first_non_null(a.get("connection_id"), b.get("connection_id")),
            "resource": _first_non_null(a.get("resource"), b.get("resource")),
            "status": _later(a.get("status"), b.get("status")),
            "failed": (a.get("failed") or 0) + (b.get("failed") or 0) or None,
            "last_failure_at": _max(a.get("last_failure_at"), b.get("last_failure_at")),
        }
    )


def join(a: State, b: State) -> State:
    """Merge two states/facts. Commutative and associative; idempotent except failure counts."""
    out: State = {
        "stage_times": _join_maps(a.get("stage_times", {}), b.get("stage_times", {}), _min),
        "fleet_id": _first_non_null(a.get("fleet_id"), b.get("fleet_id")),
        "fleet_ref": _first_non_null(a.get("fleet_ref"), b.get("fleet_ref")),
        "magic_link": _first_non_null(a.get("magic_link"), b.get("magic_link")),
        "expires_at": _max(a.get("expires_at"), b.get("expires_at")),
        "invitation_status": _later(a.get("invitation_status"), b.get("invitation_status")),
        "decline_reason": _later(a.get("decline_reason"), b.get("decline_reason")),
        "share_agreement": _later(a.get("share_agreement"), b.get("share_agreement")),
        "connection_ids": sorted(set(a.get("connection_ids", ())) | set(b.get("connection_ids", ()))),
        "connections": _join_maps(a.get("connections", {}), b.get("connections", {}), _later),
        "schedules": _join_maps(a.get("schedules", {}), b.get("schedules", {}), _join_schedule),
        "redirects": _join_maps(a.get("redirects", {}), b.get("redirects", {}), _max),
        "dag_run": _later(a.get("dag_run"), b.get("dag_run")),
    }
    return _drop_none(out)


# --- derived views --------------------------------------------------------------------------------


def gating_stage(stage_times: Mapping[str, Any]) -> Stage:
    """The stage sensors gate on, from the set of stages reached.

    ``connected`` is final success. Once the fleet accepted, the furthest progress stage holds (Catena
    forbids declining or deleting after acceptance). Before that, a terminal failure (the latest one,
    if several) outranks invited/sent/viewed. A refresh that reopens a declined invitation is not
    inferred from events: create or register a new onboarding.
    """
    reached = {Stage(s) for s in stage_times}
    if Stage.CONNECTED in reached:
        return Stage.CONNECTED
    progress = [s for s in PROGRESS_STAGES if s in reached]
    if progress and PROGRESS_STAGES.index(progress[-1]) >= PROGRESS_STAGES.index(Stage.ACCEPTED):
        return progress[-1]
    failures = [s for s in _FAILURE_ORDER if s in reached]
    if failures:
        return max(failures, key=lambda s: (stage_times[s.value], _FAILURE_ORDER.index(s)))
    return progress[-1] if progress else Stage.INVITED


def project(invitation_id: str, records: Iterable[EventRecord], *, base: State | None = None) -> State:
    """The state of ``invitation_id`` from a fleet's event records, in any order, with duplicates.

    Records that name only a fleet or connection are applied once the invitation's own records (or
    ``base``, e.g. a registration) have linked that fleet or connection to it.
    """
    pending: dict[tuple[str, int], EventRecord] = {}
    for rec in records:  # arrival order, first delivery of each record: as the store applies them
        if is_projected(rec.event_name):
            pending.setdefault(rec.key, rec)
    state = dict(base or {})
    progress = True
    while pending and progress:
        progress = False
        fleets = {state["fleet_id"]} if state.get("fleet_id") else set()
        connections = set(state.get("connection_ids", ()))
        for key, rec in list(pending.items()):
            if correlates(rec, invitation_id, fleets, connections):
                state = join(state, event_fact(rec))
                del pending[key]
                progress = True
    return state


def correlates(rec: EventRecord, invitation_id: str, fleets: set[str], connections: set[str]) -> bool:
    keys = correlation_keys(rec)
    if rec.family in INVITATION_KEYED_FAMILIES:
        return keys.invitation_id == invitation_id
    return (keys.fleet_id is not None and keys.fleet_id in fleets) or (
        keys.connection_id is not None and keys.connection_id in connections
    )


def comparable(state: State) -> State:
    """The state without the per-event tie-breaks of its clocks, to compare projections by content."""
    return to_onboarding("", state).model_dump(exclude={"invitation_id", "created_at", "updated_at"})


def to_onboarding(
    invitation_id: str,
    state: State,
    *,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
) -> Onboarding:
    raw_times = state.get("stage_times", {})
    stage_times = {s: to_utc(raw_times[s.value]) for s in Stage if s.value in raw_times}
    share = (state.get("share_agreement") or [None, {}])[1]
    dag_run = (state.get("dag_run") or [None, {}])[1]
    connection_ids = tuple(state.get("connection_ids", ()))
    connections = {}
    for cid in connection_ids:
        value = (state.get("connections", {}).get(cid) or [None, {}])[1]
        connections[cid] = ConnectionStatus(
            connection_id=cid, status=value.get("status") or "active", at=to_utc(value.get("at"))
        )
    schedules = {}
    for sid, sched in state.get("schedules", {}).items():
        status = (sched.get("status") or [None, {}])[1]
        schedules[sid] = ScheduleStatus(
            schedule_id=sid,
            status=status.get("status") or "active",
            at=to_utc(status.get("at")),
            connection_id=sched.get("connection_id"),
            resource=sched.get("resource"),
            failed_executions=sched.get("failed", 0),
            last_failure_at=to_utc(sched.get("last_failure_at")),
        )
    return Onboarding(
        invitation_id=invitation_id,
        fleet_ref=state.get("fleet_ref"),
        fleet_id=state.get("fleet_id"),
        stage=gating_stage(state.get("stage_times", {})),
        stage_times=stage_times,
        invitation_status=(state.get("invitation_status") or [None, None])[1],
        decline_reason=(state.get("decline_reason") or [None, None])[1],
        magic_link=state.get("magic_link"),
        expires_at=to_utc(state.get("expires_at")),
        share_agreement_id=share.get("id"),
        share_agreement_status=share.get("status"),
        share_agreement_scopes=share.get("scopes") or {},
        connection_ids=connection_ids,
        connected_at=stage_times.get(Stage.CONNECTED),
        connections=connections,
        schedules=schedules,
        redirects={k: to_utc(v) for k, v in state.get("redirects", {}).items()},
        dag_id=dag_run.get("dag_id"),
        run_id=dag_run.get("run_id"),
        created_at=created_at,
        updated_at=updated_at,
    )


__all__ = [
    "FAILURE_STAGES",
    "EventRecord",
    "Keys",
    "State",
    "comparable",
    "correlates",
    "correlation_keys",
    "event_fact",
    "gating_stage",
    "join",
    "observation_fact",
    "project",
    "records_of",
    "to_onboarding",
]
