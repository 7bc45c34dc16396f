"""Onboarding state as a pure function of its facts: the same set gives the same state in any order.

Catena delivers at least once and in no particular order, so the state is a join-semilattice: every
event record (and every REST/redirect/registration observation) becomes a *fact* of the same shape as
the state, and ``join`` merges two of them commutatively, associatively and idempotently:

- stage times keep every distinct time each stage was reached (a grow-only set), so a stage reached
  twice (one event delivered to two subscriptions under two envelope ids) is reached once, and an
  *attempt* (below) can be cut out of them at any time;
- identifiers (fleet id, fleet ref, magic link, the invitation's creation time) keep the first non-null
  value (the smaller one on a conflict, which Catena's data never produces);
- values that change over time (invitation status, decline reason, share agreement, connection and
  schedule status) are last-writer-wins registers ordered by (event time, event id);
- ``expires_at`` keeps the latest (a refresh extends it), redirects keep their latest time;
- failed executions are a set of execution ids, so an execution reported twice counts once.

Attempts: Catena refreshes an invitation instead of creating a new one when its ``fleet_ref`` is
invited again (200, same id; a declined one goes back to ``active``). Each refresh we register adds
an attempt boundary (our clock before the request). A boundary is *effective* when the attempt before
it had ended in a failure (declined, expired, deleted): the view then shows only what happened since,
so a late or replayed ``invitation.declined`` of the old attempt (timed by its ``declined_at``) never
fails the new one. A refresh of an attempt still in progress (a retried task) changes nothing.

Which onboarding a record belongs to is decided in ``correlation.py``; this module only turns records
into facts and facts into the read model. The state is a JSON document (``State``) so the store can
persist it as is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

from catena_airflow.client.events import event_family
from catena_airflow.inbox.models import (
    FAILURE_STAGES,
    PROGRESS_STAGES,
    Attempt,
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
# The record field holding the transition's own time (Catena's clock), when Catena sends one. Using it
# rather than the envelope's timestamp keeps a replayed delivery of an old transition in its own attempt.
_STAGE_TIME_FIELDS = {
    Stage.INVITED: "created_at",
    Stage.ACCEPTED: "accepted_at",
    Stage.DECLINED: "declined_at",
    Stage.EXPIRED: "expires_at",
}
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


@overload
def to_utc(value: datetime) -> datetime: ...
@overload
def to_utc(value: datetime | str | None) -> datetime | None: ...
def to_utc(value: datetime | str | None) -> datetime | None:
    """An aware UTC datetime; None for None or "" (only those: a datetime always gives one)."""
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


def _required_ts(value: datetime) -> str:
    out = ts(value)
    if out is None:
        raise ValueError("a fact needs a time")
    return out


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
        return event_family(self.event_name)

    @property
    def action(self) -> str:
        return self.event_name.partition(".")[2]


def is_projected(event_name: str) -> bool:
    return event_family(event_name) in PROJECTED_FAMILIES


def records_of(event_id: str, event_name: str, data: Iterable[Any], at: datetime) -> list[EventRecord]:
    return [
        EventRecord(event_id=event_id, index=i, event_name=event_name, record=rec, at=at)
        for i, rec in enumerate(data)
        if isinstance(rec, Mapping)
    ]


def opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


# --- facts ----------------------------------------------------------------------------------------


def _lww(clock: Clock, value: Any) -> list[Any]:
    return [clock, value]


def _stage_fact(stage: Stage, at: str) -> dict[str, list[str]]:
    return {stage.value: [at]}


def event_fact(rec: EventRecord) -> State:
    """What one event record says about its onboarding."""
    r, fam, action = rec.record, rec.family, rec.action
    at = _required_ts(rec.at)
    tiebreak = f"{rec.event_id}#{rec.index}"
    fact: State = {}
    if fam == "invitation":
        stage = _INVITATION_STAGES.get(action)
        stage_at = at
        if stage is not None:
            own = _safe_ts(r.get(_STAGE_TIME_FIELDS.get(stage, "")))
            # An expiry happens at expires_at, never later than Catena reports it.
            stage_at = (min(own, at) if stage is Stage.EXPIRED else own) if own else at
            fact["stage_times"] = _stage_fact(stage, stage_at)
        clock = [stage_at, tiebreak]
        _put_identity(fact, fleet_id=r.get("fleet_id"), fleet_ref=r.get("fleet_ref"), magic_link=r.get("magic_link"))
        if opened := _safe_ts(r.get("created_at")):
            fact["opened_at"] = opened
        if expires := _safe_ts(r.get("expires_at")):
            fact["expires_at"] = expires
        if status := opt_str(r.get("status")):
            fact["invitation_status"] = _lww(clock, status.lower())
        if reason := opt_str(r.get("decline_reason")):
            fact["decline_reason"] = _lww(clock, reason)
    elif fam == "share_agreement":
        clock = [at, tiebreak]
        if action == "created":
            fact["stage_times"] = _stage_fact(Stage.SHARE_AGREEMENT, _safe_ts(r.get("effective_date")) or at)
        _put_identity(fact, fleet_id=r.get("fleet_id"), fleet_ref=r.get("fleet_ref"))
        status = opt_str(r.get("status")) or ("deleted" if action == "deleted" else None)
        fact["share_agreement"] = _lww(clock, _share_agreement(r.get("id"), status, r.get("scopes")))
    elif fam == "connection":
        clock = [at, tiebreak]
        if conn_id := opt_str(r.get("id")):
            fact["connection_ids"] = [conn_id]
            status = "stale" if action == "staled" else (opt_str(r.get("status")) or "active")
            fact["connections"] = {conn_id: _lww(clock, {"status": status.lower(), "at": at})}
        if action == "created":
            fact["stage_times"] = _stage_fact(Stage.CONNECTION, at)
    elif fam == "fleet_connection":
        if conn_id := opt_str(r.get("connection_id")):
            fact["connection_ids"] = [conn_id]
        if action == "created":
            fact["stage_times"] = _stage_fact(Stage.CONNECTED, at)
    elif fam == "execution":
        if sched_id := opt_str(r.get("schedule_id")):
            sched: State = {"connection_id": opt_str(r.get("connection_id")), "resource": opt_str(r.get("resource"))}
            if action == "failed":
                # Counted per execution id: the same failure delivered twice (two subscriptions,
                # two envelope ids) is one failure.
                sched["failed_ids"] = [opt_str(r.get("id")) or tiebreak]
                sched["last_failure_at"] = _safe_ts(r.get("updated_at")) or at
            fact["schedules"] = {sched_id: sched}
    elif fam == "schedule" and (sched_id := opt_str(r.get("id"))):
        status = opt_str(r.get("status")) or ("inactive" if action == "deactivated" else None)
        sched = {"connection_id": opt_str(r.get("connection_id")), "resource": opt_str(r.get("resource"))}
        if status:
            sched["status"] = _lww([at, tiebreak], {"status": status.lower(), "at": at})
        fact["schedules"] = {sched_id: sched}
    return _drop_none(fact)


def _share_agreement(sa_id: Any, status: str | None, scopes: Any) -> dict[str, Any]:
    return {
        "id": opt_str(sa_id),
        "status": status.lower() if status else None,
        # The event schema lets a scope's level (and the whole map) be null.
        "scopes": {str(k): v for k, v in (scopes or {}).items()} if isinstance(scopes, Mapping) else {},
    }


def observation_fact(
    *,
    at: datetime,
    source: str = "rest",
    stage: Stage | str | None = None,
    stage_times: Mapping[Stage, datetime | str | None] | None = None,
    fleet_id: str | None = None,
    fleet_ref: str | None = None,
    magic_link: str | None = None,
    opened_at: datetime | str | None = None,
    expires_at: datetime | str | None = None,
    invitation_status: str | None = None,
    connection_ids: Iterable[str] | None = None,
    connection_statuses: Mapping[str, str] | None = None,
    schedule_statuses: Mapping[str, str] | None = None,
    share_agreement: Mapping[str, Any] | None = None,
    decline_reason: str | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
    new_attempt_at: datetime | None = None,
) -> State:
    """What a REST read, a redirect page or a registration says about an onboarding.

    ``at`` is when the observation was made (for REST: before the request was sent, so a read older
    than a refresh never lands in the refreshed attempt). ``stage_times`` gives stages with Catena's
    own times (``declined_at``, ...); ``stage`` is a stage reached at ``at``. ``source="redirect"``:
    ``stage`` is an informational redirect kind (``redirect_success`` ...), kept with its time and never
    changing the gating stage. ``new_attempt_at``: the invitation was refreshed for a new attempt then.
    """
    at_s = _required_ts(at)
    clock = [at_s, f"~{source}"]
    fact: State = {}
    times: dict[str, list[str]] = {}
    if stage is not None:
        if source == "redirect":
            fact["redirects"] = {str(stage): at_s}
        else:
            times[Stage(stage).value] = [at_s]
    for named, when in (stage_times or {}).items():
        if when_s := _safe_ts(when):
            times.setdefault(Stage(named).value, []).append(when_s)
    _put_identity(fact, fleet_id=fleet_id, fleet_ref=fleet_ref, magic_link=magic_link)
    if opened := _safe_ts(opened_at):
        fact["opened_at"] = opened
    if expires := _safe_ts(expires_at):
        fact["expires_at"] = expires
    if invitation_status:
        status = invitation_status.lower()
        fact["invitation_status"] = _lww(clock, status)
        status_stage = _STATUS_STAGES.get(status)
        if status_stage is not None and source != "redirect" and status_stage.value not in times:
            times[status_stage.value] = [at_s]
    if decline_reason:
        fact["decline_reason"] = _lww(clock, decline_reason)
    ids = sorted({str(c) for c in connection_ids or ()} | set(connection_statuses or {}))
    if ids:
        fact["connection_ids"] = ids
    if connection_statuses:
        fact["connections"] = {
            str(cid): _lww(clock, {"status": status.lower(), "at": at_s}) for cid, status in connection_statuses.items()
        }
    if schedule_statuses:
        # E.g. a schedule we reactivated: Catena sends no event for that.
        fact["schedules"] = {
            str(sid): {"status": _lww(clock, {"status": status.lower(), "at": at_s})}
            for sid, status in schedule_statuses.items()
        }
    if share_agreement:
        sa_status = opt_str(share_agreement.get("status"))
        fact["share_agreement"] = _lww(
            clock, _share_agreement(share_agreement.get("id"), sa_status, share_agreement.get("scopes"))
        )
        times.setdefault(Stage.SHARE_AGREEMENT.value, [at_s])
    if dag_id or run_id:
        fact["dag_run"] = _lww(clock, {"dag_id": dag_id, "run_id": run_id})
    if new_attempt_at is not None:
        started = _required_ts(new_attempt_at)
        fact["attempts"] = [started]
        times.setdefault(Stage.INVITED.value, []).append(started)
    if times:
        fact["stage_times"] = {name: sorted(set(values)) for name, values in times.items()}
    return _drop_none(fact)


def invitation_stage_times(
    status: str | None,
    *,
    observed_at: datetime,
    accepted_at: datetime | str | None = None,
    declined_at: datetime | str | None = None,
    expires_at: datetime | str | None = None,
) -> dict[Stage, datetime]:
    """The stage an invitation read over REST is in, timed by Catena's own fields where it has them.

    ``observed_at`` (when the read was sent) times what Catena does not: an old read can then never
    land inside an attempt that began after it.
    """
    stage = _STATUS_STAGES.get((status or "").lower())
    if stage is None or stage is Stage.INVITED:
        return {}
    own = {Stage.ACCEPTED: accepted_at, Stage.DECLINED: declined_at, Stage.EXPIRED: expires_at}.get(stage)
    when = to_utc(own) if own else None
    if when is None or when > observed_at:
        when = observed_at
    return {stage: when}


def _put_identity(fact: State, **values: Any) -> None:
    for name, value in values.items():
        if (v := opt_str(value)) is not None:
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


def _max(a: str | None, b: str | None) -> str | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _later(a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
    """The value with the later clock; on equal clocks (two reads by one source at one instant) the larger
    value as JSON, so ``join`` stays commutative whichever came first."""
    if a is None:
        return b
    if b is None:
        return a
    if a[0] != b[0]:
        return a if a[0] > b[0] else b
    return a if _as_json(a[1:]) >= _as_json(b[1:]) else b


def _as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _times(value: Any) -> list[str]:
    """A stage's times; states written before times were sets hold one string."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _union(a: Any, b: Any) -> list[str]:
    return sorted(set(_times(a)) | set(_times(b)))


def _join_maps(a: Mapping[str, Any], b: Mapping[str, Any], join_value: Callable[[Any, Any], Any]) -> dict[str, Any]:
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
            "failed_ids": _union(a.get("failed_ids"), b.get("failed_ids")),
            # Counted failures of states written before failures were keyed by execution id.
            "failed": (a.get("failed") or 0) + (b.get("failed") or 0) or None,
            "last_failure_at": _max(a.get("last_failure_at"), b.get("last_failure_at")),
        }
    )


def join(a: State, b: State) -> State:
    """Merge two states/facts: commutative, associative and idempotent."""
    out: State = {
        "stage_times": _join_maps(
            _normal_times(a.get("stage_times", {})), _normal_times(b.get("stage_times", {})), _union
        ),
        "attempts": _union(a.get("attempts"), b.get("attempts")),
        "opened_at": _first_non_null(a.get("opened_at"), b.get("opened_at")),
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


def _normal_times(stage_times: Mapping[str, Any]) -> dict[str, list[str]]:
    return {stage: _times(times) for stage, times in stage_times.items()}


# --- attempts and the gating stage -----------------------------------------------------------------


def gating_stage(stage_times: Mapping[str, Any]) -> Stage:
    """The stage sensors gate on, from the stages reached in one attempt (stage -> its first time).

    ``connected`` is final success. Once the fleet accepted, the furthest progress stage holds (Catena
    forbids declining or deleting after acceptance). Before that, a terminal failure (the latest one,
    if several) outranks invited/sent/viewed.
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


@dataclass(frozen=True)
class Window:
    """One attempt: the stages first reached in ``[start, end)`` (None: unbounded)."""

    start: str | None
    end: str | None
    stage_times: dict[str, str]

    @property
    def stage(self) -> Stage:
        return gating_stage(self.stage_times)


def _window(times: Mapping[str, list[str]], start: str | None, end: str | None) -> Window:
    firsts: dict[str, str] = {}
    for stage, values in times.items():
        inside = [t for t in values if (start is None or t >= start) and (end is None or t < end)]
        if inside:
            firsts[stage] = min(inside)
    return Window(start, end, firsts)


def attempts(state: State) -> list[Window]:
    """The onboarding's attempts, oldest first; the last one is current (see the module docstring)."""
    times = _normal_times(state.get("stage_times", {}))
    windows: list[Window] = []
    start: str | None = None
    for boundary in _times(state.get("attempts")):
        before = _window(times, start, boundary)
        if before.stage.is_failure:
            windows.append(before)
            start = boundary
    windows.append(_window(times, start, None))
    return windows


def current_stage(state: State) -> Stage:
    return attempts(state)[-1].stage


def recency(state: State) -> str:
    """When the onboarding's current attempt began, to tell which of a fleet ref's invitations is current."""
    times = _normal_times(state.get("stage_times", {}))
    known = [*_times(state.get("attempts")), *_times(state.get("opened_at"))]
    if not known:
        known = [t for values in times.values() for t in values]
    return max(known, default="")


# --- the read model -------------------------------------------------------------------------------


def to_onboarding(
    invitation_id: str,
    state: State,
    *,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
) -> Onboarding:
    windows = attempts(state)
    current = windows[-1]
    stage_times = _stage_datetimes(current.stage_times)
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
            failed_executions=len(sched.get("failed_ids") or ()) + (sched.get("failed") or 0),
            last_failure_at=to_utc(sched.get("last_failure_at")),
        )
    stage = current.stage
    return Onboarding(
        invitation_id=invitation_id,
        fleet_ref=state.get("fleet_ref"),
        fleet_id=state.get("fleet_id"),
        stage=stage,
        stage_times=stage_times,
        attempt=len(windows),
        attempt_started_at=to_utc(current.start),
        previous_attempts=tuple(
            Attempt(
                number=i + 1,
                started_at=to_utc(w.start),
                stage=w.stage,
                stage_times=_stage_datetimes(w.stage_times),
            )
            for i, w in enumerate(windows[:-1])
        ),
        invitation_status=(state.get("invitation_status") or [None, None])[1],
        decline_reason=(state.get("decline_reason") or [None, None])[1] if stage is Stage.DECLINED else None,
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


def onboarding_row(state: State, now: datetime) -> dict[str, Any]:
    """The ``onboardings`` row of a state: the state itself, and the read model's fields the dashboard
    filters and sorts on, denormalized into columns (written with every change of the state)."""
    view = to_onboarding("", state)
    return {
        "fleet_ref": view.fleet_ref,
        "fleet_id": view.fleet_id,
        "stage": view.stage.value,
        "invitation_status": view.invitation_status,
        "decline_reason": view.decline_reason,
        "magic_link": view.magic_link,
        "expires_at": view.expires_at,
        "connected_at": view.connected_at,
        "dag_id": view.dag_id,
        "run_id": view.run_id,
        "state": state,
        "updated_at": now,
    }


def _stage_datetimes(firsts: Mapping[str, str]) -> dict[Stage, datetime]:
    return {s: at for s in Stage if s.value in firsts and (at := to_utc(firsts[s.value])) is not None}


__all__ = [
    "FAILURE_STAGES",
    "EventRecord",
    "State",
    "Window",
    "attempts",
    "current_stage",
    "event_fact",
    "gating_stage",
    "invitation_stage_times",
    "is_projected",
    "join",
    "observation_fact",
    "onboarding_row",
    "recency",
    "records_of",
    "to_onboarding",
]
