"""Handlers of operational webhooks: stale connections, failing executions, deactivated schedules.

The operations DAG runs on asset events from the inbox watcher, but treats them only as a doorbell:
each handler reads the unhandled events from the inbox after its own durable "handled" cursor (one of
the inbox's reader cursors) and advances it event by event, so nothing is handled twice or skipped, and a
manual or ``dag.test()`` run does the same work.

An operator holds only its configuration (and its Catena hook); what one execution works with and
reports (stores, notifier, context, counters) is a ``HandlerRun`` made by ``execute`` and passed along.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar

from airflow.sdk import BaseOperator, Context, Variable
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from catena_airflow.client._base import status_value
from catena_airflow.client.events import CONNECTION_CREATED, CONNECTION_STALED, EXECUTION_FAILED, SCHEDULE_DEACTIVATED
from catena_airflow.hooks.adapters import DEFAULT_CATENA_CONN_ID
from catena_airflow.hooks.catena import CatenaHook
from catena_airflow.hooks.inbox import CatenaInboxHook
from catena_airflow.inbox.operations_models import HELD_STATES
from catena_airflow.notifications.catena import DEFAULT_NOTIFIER, CatenaAlert, load_notifier, send_alert

if TYPE_CHECKING:
    from airflow.sdk import BaseNotifier

    from catena_airflow.inbox import InboxStore, Onboarding, StoredEvent

NOTIFIER_VARIABLE = "catena_notifier"


def cursor_name_of(handler: type) -> str:
    """The inbox reader cursor a handler class keeps (how far it has handled the inbox)."""
    return f"operations:{handler.__name__}"


@dataclass
class HandlerRun:
    """One execution of a handler: what it works with, and (in subclasses) what it reports."""

    context: Context
    inbox: InboxStore
    notifier: BaseNotifier

    def alert(self, alert: CatenaAlert) -> None:
        send_alert(self.notifier, self.context, alert)

    def onboarding_of(self, event: StoredEvent, fleet_id: str | None) -> Onboarding | None:
        """The onboarding an event belongs to (its correlated invitation, else the fleet's newest)."""
        if event.invitation_id:
            found = self.inbox.get_onboarding(event.invitation_id)
            if found is not None:
                return found
        if fleet_id:
            return next(iter(self.inbox.onboardings_for_fleet(fleet_id)), None)
        return None

    def summary(self) -> dict[str, Any]:
        """What the run reports in the task's XCom besides ``handled`` and ``cursor``: its subclass's fields."""
        common = {f.name for f in fields(HandlerRun)}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in common}


RunT = TypeVar("RunT", bound=HandlerRun)


class _InboxEventHandlerOperator(BaseOperator, Generic[RunT]):
    """Reads unhandled events named ``event_names`` from the inbox and handles them in order.

    :param notifier: Dotted path of a ``BaseNotifier`` class (default: Airflow Variable
        ``catena_notifier``, else the log notifier) (templated).
    :param notifier_kwargs: Its constructor arguments, a mapping (templated: a Jinja string must render to one,
        as in a DAG with ``render_template_as_native_obj``).
    :param catena_conn_id: Airflow connection of Catena.
    :param inbox_conn_id: Airflow connection of the inbox (events, and the handler's cursor, holds, failures);
        None (default): ``[catena] inbox_url``.
    :param batch_size: Inbox events read per query.
    """

    event_names: Sequence[str] = ()
    #: The per-run state class of the handler (its counters).
    run_class: type[RunT]
    template_fields: Sequence[str] = ("notifier", "notifier_kwargs")

    def __init__(
        self,
        *,
        notifier: str | None = None,
        notifier_kwargs: Mapping[str, Any] | str | None = None,
        catena_conn_id: str = DEFAULT_CATENA_CONN_ID,
        inbox_conn_id: str | None = None,
        batch_size: int = 200,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.notifier = notifier
        self.notifier_kwargs = notifier_kwargs
        self.catena_conn_id = catena_conn_id
        self.inbox_conn_id = inbox_conn_id
        self.batch_size = batch_size

    @property
    def cursor_name(self) -> str:
        return cursor_name_of(type(self))

    @cached_property
    def hook(self) -> CatenaHook:
        """The hook of ``catena_conn_id``; ``self.hook.get_conn()`` is its ``CatenaClient`` (made on first use)."""
        return CatenaHook(catena_conn_id=self.catena_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        if isinstance(self.notifier_kwargs, str):
            raise AirflowFailException(
                f"notifier_kwargs must render to a mapping, got the text {self.notifier_kwargs!r}"
            )
        run = self.run_class(
            context=context,
            inbox=CatenaInboxHook(self.inbox_conn_id).get_conn(),
            notifier=load_notifier(
                self.notifier or Variable.get(NOTIFIER_VARIABLE, default=DEFAULT_NOTIFIER), self.notifier_kwargs
            ),
        )
        self.start(run)
        cursor = run.inbox.watcher_cursor(self.cursor_name) or 0
        handled = 0
        while events := run.inbox.events_after(cursor, list(self.event_names), self.batch_size):
            for event in events:
                for index, record in enumerate(event.data):
                    self.handle(run, event, index, record)
                cursor = event.seq
                run.inbox.advance_watcher_cursor(self.cursor_name, cursor)
                handled += 1
        self.after_events(run)
        self.log.info(
            "%d new %s event(s) handled (cursor at inbox seq %d)", handled, "/".join(self.event_names), cursor
        )
        return {"handled": handled, "cursor": cursor, **run.summary()}

    def start(self, run: RunT) -> None:
        """Work before the new events are handled."""

    def handle(self, run: RunT, event: StoredEvent, index: int, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def after_events(self, run: RunT) -> None:
        """Work after the new events are handled (e.g. checks with Catena)."""


@dataclass
class ConnectionEventsRun(HandlerRun):
    """Fleets paused as stale and fleets whose connection is back, in this run."""

    staled: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)


class CatenaHandleConnectionEventsOperator(_InboxEventHandlerOperator[ConnectionEventsRun]):
    """``connection.staled``: mark the fleet stale, pause its ingestion and send the re-authentication link.

    Catena sends no event when the fleet re-authenticates, and webhooks arrive in any order, so each
    run asks Catena about the fleets it paused; once none of a fleet's connections is stale, the pause
    ends (a ``connection.created`` is only a reason to ask).
    """

    event_names = (CONNECTION_STALED, CONNECTION_CREATED)
    run_class = ConnectionEventsRun

    def handle(self, run: ConnectionEventsRun, event: StoredEvent, index: int, record: dict[str, Any]) -> None:
        fleet_id = record.get("fleet_id") or event.fleet_id
        if not fleet_id:
            self.log.warning("%s %s names no fleet; skipped", event.event_name, event.event_id)
            return
        connection_id = record.get("id") or event.connection_id
        onboarding = run.onboarding_of(event, fleet_id)
        fleet_ref = onboarding.fleet_ref if onboarding else None
        if event.event_name == CONNECTION_STALED:
            if not self._newly_stale(run, fleet_id, connection_id):
                return
            link = onboarding.magic_link if onboarding else None
            run.inbox.set_fleet_status(
                fleet_id,
                status="stale",
                ingestion_paused=True,
                reason=f"connection {connection_id} is stale; the fleet must re-authenticate",
                fleet_ref=fleet_ref,
            )
            run.staled.append(fleet_id)
            run.alert(
                CatenaAlert(
                    kind="connection_stale",
                    title=f"Fleet {fleet_ref or fleet_id}: telematics connection is stale",
                    text=(
                        f"Connection {connection_id} ({record.get('source_name') or 'TSP'}) no longer works, so "
                        f"ingestion of fleet {fleet_ref or fleet_id} is paused. Ask the fleet to re-authenticate "
                        f"through its invitation link: {link or 'unknown (invitation not in the inbox)'}"
                    ),
                    fleet_id=fleet_id,
                    fleet_ref=fleet_ref,
                    details={"connection_id": connection_id, "magic_link": link},
                )
            )
            return
        # connection.created: deliveries are unordered, so recovery is decided by Catena (after_events).

    def _newly_stale(self, run: ConnectionEventsRun, fleet_id: str, connection_id: str | None) -> bool:
        """Whether this ``connection.staled`` is news: the fleet is not paused as stale already (the same
        event delivered to two subscriptions under two envelope ids), and Catena does not report the
        connection active again (a late delivery of an old staleness)."""
        current = run.inbox.get_fleet_status(fleet_id)
        if current is not None and current.status == "stale" and current.ingestion_paused:
            self.log.info(
                "Fleet %s is already paused as stale; connection.staled of %s changes nothing", fleet_id, connection_id
            )
            return False
        if connection_id and status_value(self.hook.get_conn().get_connection(connection_id).status) == "active":
            self.log.info("Connection %s is active again at Catena: a late connection.staled, ignored", connection_id)
            return False
        return True

    def _recover(self, run: ConnectionEventsRun, fleet_id: str, fleet_ref: str | None, why: str) -> None:
        run.inbox.set_fleet_status(fleet_id, status="active", ingestion_paused=False, fleet_ref=fleet_ref)
        run.recovered.append(fleet_id)
        run.alert(
            CatenaAlert(
                kind="connection_recovered",
                title=f"Fleet {fleet_ref or fleet_id}: connection is back",
                text=f"The fleet re-authenticated ({why}); its ingestion resumes.",
                severity="info",
                fleet_id=fleet_id,
                fleet_ref=fleet_ref,
            )
        )

    def after_events(self, run: ConnectionEventsRun) -> None:
        stale = run.inbox.list_fleet_statuses("stale")
        if not stale:
            return
        client = self.hook.get_conn()
        for status in stale:
            connections = list(client.list_connections(fleet_ids=[status.fleet_id]))
            statuses = {str(c.id): status_value(c.status) for c in connections}
            if statuses and "stale" not in statuses.values() and "active" in statuses.values():
                self._recover(run, status.fleet_id, status.fleet_ref, "Catena reports its connections active")


@dataclass
class ExecutionFailuresRun(HandlerRun):
    """Failed executions recorded for the first time, and schedules alerted on, in this run."""

    recorded: int = 0
    alerted: list[str] = field(default_factory=list)


class CatenaHandleExecutionFailuresOperator(_InboxEventHandlerOperator[ExecutionFailuresRun]):
    """``execution.failed``: record each failure; alert when a schedule keeps failing.

    One failed execution is routine (Catena retries on its own); ``alert_threshold`` failures of the
    same schedule within ``alert_window`` raise an alert (again at each further multiple).

    :param alert_threshold: Failures of one schedule within ``alert_window`` that raise an alert.
    :param alert_window: How far back failures are counted.
    """

    event_names = (EXECUTION_FAILED,)
    run_class = ExecutionFailuresRun

    def __init__(
        self, *, alert_threshold: int = 3, alert_window: timedelta = timedelta(hours=1), **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.alert_threshold = alert_threshold
        self.alert_window = alert_window

    def handle(self, run: ExecutionFailuresRun, event: StoredEvent, index: int, record: dict[str, Any]) -> None:
        schedule_id = record.get("schedule_id")
        if not schedule_id:
            self.log.warning("execution.failed %s names no schedule; skipped", event.event_id)
            return
        fleet_id = record.get("fleet_id") or event.fleet_id
        # Keyed by the execution: the same failure delivered twice (an org-wide and a callback_url
        # subscription, under two envelope ids) counts once.
        is_new = run.inbox.record_execution_failure(
            event_id=f"execution:{record['id']}" if record.get("id") else f"{event.event_id}#{index}",
            execution_id=record.get("id"),
            schedule_id=schedule_id,
            connection_id=record.get("connection_id"),
            fleet_id=fleet_id,
            resource=record.get("resource"),
        )
        if not is_new:
            return
        run.recorded += 1
        failures = run.inbox.count_execution_failures(schedule_id, since=datetime.now(UTC) - self.alert_window)
        self.log.info(
            "Schedule %s (%s): %d failed execution(s) in the window", schedule_id, record.get("resource"), failures
        )
        if failures >= self.alert_threshold and failures % self.alert_threshold == 0:
            onboarding = run.onboarding_of(event, fleet_id)
            fleet_ref = onboarding.fleet_ref if onboarding else None
            run.alerted.append(schedule_id)
            run.alert(
                CatenaAlert(
                    kind="executions_failing",
                    title=f"Fleet {fleet_ref or fleet_id}: {record.get('resource')} ingestion keeps failing",
                    text=(
                        f"Schedule {schedule_id} had {failures} failed executions in the last "
                        f"{self.alert_window}; Catena deactivates it at its consecutive error threshold."
                    ),
                    fleet_id=fleet_id,
                    fleet_ref=fleet_ref,
                    details={"schedule_id": schedule_id, "failures": failures},
                )
            )


class _HoldTarget(TypedDict):
    """What a schedule hold records about the schedule's connection, fleet and resource."""

    connection_id: str
    fleet_id: str | None
    fleet_ref: str | None
    resource: str | None


@dataclass
class ScheduleRun(HandlerRun):
    """Schedules reactivated and schedules held, in this run."""

    reactivated: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)


class CatenaReactivateSchedulesOperator(_InboxEventHandlerOperator[ScheduleRun]):
    """``schedule.deactivated``: reactivate only when the failures' cause has passed; else pause and ask.

    Catena deactivates a schedule after ``consecutive_error_threshold`` failed executions. Reactivating
    it blindly would only fail again, so for each deactivation:

    - its connection is not active now (stale, ...): the cause is still there. The resource's ingestion
      is paused for the fleet, and the schedule waits (``awaiting_connection``); once Catena reports the
      connection active again, a later run reactivates it;
    - the connection is active now and had gone stale (a ``connection.staled`` in the inbox): the cause
      has passed, so it is reactivated;
    - the connection is active and nothing explains the failures: the resource's ingestion is paused,
      an alert lists the last executions, and a person decides (``needs_decision``): the operations
      DAG's ``reactivate_schedule_ids`` param (this operator's ``reactivate``) reactivates them.

    Reactivations are bounded: at most ``max_reactivations`` per schedule in 24 hours; beyond that the
    schedule is left for a person too. Each reactivation calls the activate endpoint and checks that
    Catena reports the schedule ``active`` (``attempts``, backing off from ``backoff`` seconds); if it
    is not, an ``error`` alert is sent and the task fails (the cursor stays, the next run tries again).

    :param attempts: Activate-and-check attempts per reactivation.
    :param backoff: Seconds before the second attempt, doubled before each further one.
    :param max_reactivations: Reactivations of one schedule in 24 hours; a further deactivation is left
        to a person.
    :param reactivate: Schedule ids a person decided to reactivate (templated).
    """

    event_names = (SCHEDULE_DEACTIVATED,)
    run_class = ScheduleRun
    template_fields: Sequence[str] = (*_InboxEventHandlerOperator.template_fields, "reactivate")

    def __init__(
        self,
        *,
        attempts: int = 5,
        backoff: float = 1.0,
        max_reactivations: int = 3,
        reactivate: Sequence[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.attempts = attempts
        self.backoff = backoff
        self.max_reactivations = max_reactivations
        self.reactivate = reactivate

    def start(self, run: ScheduleRun) -> None:
        for schedule_id in _ids(self.reactivate):
            hold = run.inbox.get_schedule_hold(schedule_id)
            if hold is None:
                raise AirflowException(f"Schedule {schedule_id} was not deactivated by Catena (nothing to reactivate)")
            self._reactivate(
                run, schedule_id, hold.connection_id, hold.fleet_id, hold.fleet_ref, why="a person decided"
            )

    def handle(self, run: ScheduleRun, event: StoredEvent, index: int, record: dict[str, Any]) -> None:
        schedule_id = record.get("id")
        connection_id = record.get("connection_id") or event.connection_id
        if not schedule_id or not connection_id:
            self.log.warning("schedule.deactivated %s lacks schedule or connection id; skipped", event.event_id)
            return
        onboarding = run.onboarding_of(event, event.fleet_id)
        fleet_ref = onboarding.fleet_ref if onboarding else None
        fleet_id = onboarding.fleet_id if onboarding else event.fleet_id
        resource = record.get("resource")
        what = f"schedule {schedule_id} ({resource}) of connection {connection_id}"
        held = run.inbox.get_schedule_hold(schedule_id)
        if held is not None and held.state in HELD_STATES:
            self.log.info("%s is held already (%s); this deactivation changes nothing", what, held.state)
            return
        if status_value(self.hook.get_conn().get_schedule(connection_id, schedule_id).status) == "active":
            self.log.info("%s is active at Catena: a late schedule.deactivated, ignored", what)
            self._show_active(run, schedule_id, fleet_id)  # the inbox took the deactivation as current
            return
        connection_status = status_value(self.hook.get_conn().get_connection(connection_id).status)
        hold: _HoldTarget = {
            "connection_id": connection_id,
            "fleet_id": fleet_id,
            "fleet_ref": fleet_ref,
            "resource": resource,
        }
        if connection_status != "active":
            reason = f"Catena deactivated it; its connection is {connection_status}, so it waits for the fleet"
            self._hold(run, schedule_id, state="awaiting_connection", reason=reason, what=what, **hold)
            return
        if not run.inbox.connection_went_stale(connection_id):
            executions = self._last_executions(connection_id, schedule_id)
            reason = f"Catena deactivated it after repeated failures with its connection active: {executions}"
            self._hold(run, schedule_id, state="needs_decision", reason=reason, what=what, **hold)
            return
        self._reactivate(run, schedule_id, connection_id, fleet_id, fleet_ref, why="its connection is active again")

    def after_events(self, run: ScheduleRun) -> None:
        """Schedules that waited for their connection: reactivate those whose connection is back. Schedules
        left to a person: release those someone reactivated in Catena directly (no event says so)."""
        for hold in run.inbox.list_schedule_holds("awaiting_connection"):
            if status_value(self.hook.get_conn().get_connection(hold.connection_id).status) == "active":
                self._reactivate(
                    run,
                    hold.schedule_id,
                    hold.connection_id,
                    hold.fleet_id,
                    hold.fleet_ref,
                    why="its connection is back",
                )
        for hold in run.inbox.list_schedule_holds("needs_decision"):
            if status_value(self.hook.get_conn().get_schedule(hold.connection_id, hold.schedule_id).status) == "active":
                run.inbox.schedule_reactivated(hold.schedule_id, connection_id=hold.connection_id)
                self._show_active(run, hold.schedule_id, hold.fleet_id)
                run.reactivated.append(hold.schedule_id)
                self.log.info("Schedule %s was reactivated in Catena: its ingestion resumes", hold.schedule_id)

    def _hold(
        self,
        run: ScheduleRun,
        schedule_id: str,
        *,
        state: str,
        reason: str,
        what: str,
        connection_id: str,
        fleet_id: str | None,
        fleet_ref: str | None,
        resource: str | None,
    ) -> None:
        run.inbox.hold_schedule(
            schedule_id,
            connection_id=connection_id,
            state=state,
            reason=reason,
            fleet_id=fleet_id,
            fleet_ref=fleet_ref,
            resource=resource,
        )
        run.held.append(schedule_id)
        decide = (
            f"To reactivate it anyway, trigger catena_fleet_operations with "
            f'{{"reactivate_schedule_ids": ["{schedule_id}"]}}.'
            if state == "needs_decision"
            else "It is reactivated once Catena reports the connection active again."
        )
        self._schedule_alert(
            run,
            "schedule_deactivated",
            f"{resource or 'a'} ingestion schedule deactivated",
            f"{what}: {reason}. Ingestion of {resource or 'that resource'} is paused for the fleet. {decide}",
            schedule_id=schedule_id,
            connection_id=connection_id,
            fleet_id=fleet_id,
            fleet_ref=fleet_ref,
            state=state,
        )

    def _last_executions(self, connection_id: str, schedule_id: str, limit: int = 3) -> str:
        try:
            executions = self.hook.get_conn().list_executions(connection_id, schedule_id).first_page().items
        except Exception as exc:  # the alert goes out without them
            return f"last executions unavailable ({type(exc).__name__})"
        failed = [e for e in executions if status_value(e.status) == "failed"][-limit:]
        if not failed:
            return "no failed execution is listed (Catena keeps them 7 days)"
        return "; ".join(f"{e.id} failed at {e.updated_at.isoformat() if e.updated_at else '?'}" for e in failed)

    def _reactivate(
        self,
        run: ScheduleRun,
        schedule_id: str,
        connection_id: str,
        fleet_id: str | None,
        fleet_ref: str | None,
        *,
        why: str,
    ) -> None:
        what = f"schedule {schedule_id} of connection {connection_id}"
        done = run.inbox.reactivations_today(schedule_id)
        if done >= self.max_reactivations and why != "a person decided":
            self._hold(
                run,
                schedule_id,
                state="needs_decision",
                reason=f"reactivated {done} times in 24 hours and deactivated again",
                what=what,
                connection_id=connection_id,
                fleet_id=fleet_id,
                fleet_ref=fleet_ref,
                resource=None,
            )
            return
        status: str | None = "unknown"
        last_error: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                self.hook.get_conn().activate_schedule(connection_id, schedule_id)
                status = status_value(self.hook.get_conn().get_schedule(connection_id, schedule_id).status)
            except Exception as exc:  # the client already retried transient errors; try again later
                last_error = exc
                self.log.warning("Activating %s, attempt %d/%d failed: %s", what, attempt, self.attempts, exc)
            if status == "active":
                break
            time.sleep(self.backoff * 2 ** (attempt - 1))
        if status != "active":
            self._schedule_alert(
                run,
                "schedule_reactivation_failed",
                "could not reactivate a schedule",
                f"{what} is still {status} after {self.attempts} attempts ({last_error or 'no error'}).",
                severity="error",
                schedule_id=schedule_id,
                connection_id=connection_id,
                fleet_id=fleet_id,
                fleet_ref=fleet_ref,
            )
            raise AirflowException(f"Could not reactivate {what}: still {status} after {self.attempts} attempts")
        run.inbox.schedule_reactivated(schedule_id, connection_id=connection_id)
        self._show_active(run, schedule_id, fleet_id)
        run.reactivated.append(schedule_id)
        self.log.info("Reactivated %s (%s): active again", what, why)
        self._schedule_alert(
            run,
            "schedule_reactivated",
            "ingestion schedule reactivated",
            f"{what} is active again ({why}).",
            severity="info",
            schedule_id=schedule_id,
            connection_id=connection_id,
            fleet_id=fleet_id,
            fleet_ref=fleet_ref,
        )

    def _show_active(self, run: ScheduleRun, schedule_id: str, fleet_id: str | None) -> None:
        """Catena sends no event when a schedule is active again: the inbox, whose view the dashboard shows
        (its deactivated-schedule alert), learns it from here."""
        for onboarding in run.inbox.onboardings_for_fleet(fleet_id) if fleet_id else ():
            run.inbox.record_observation(onboarding.invitation_id, schedule_statuses={schedule_id: "active"})

    def _schedule_alert(
        self,
        run: ScheduleRun,
        kind: str,
        title: str,
        text: str,
        *,
        schedule_id: str,
        connection_id: str,
        fleet_id: str | None,
        fleet_ref: str | None,
        severity: str = "warning",
        state: str | None = None,
    ) -> None:
        details = {"schedule_id": schedule_id, "connection_id": connection_id}
        if state:
            details["state"] = state
        run.alert(
            CatenaAlert(
                kind=kind,
                title=f"Fleet {fleet_ref or fleet_id or '?'}: {title}",
                text=text,
                severity=severity,
                fleet_id=fleet_id,
                fleet_ref=fleet_ref,
                details=details,
            )
        )


def _ids(value: Sequence[str] | str | None) -> list[str]:
    """Schedule ids given as a list, or rendered from a template as a comma-separated string."""
    if not value:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.strip("[]").replace('"', "").replace("'", "").split(",") if part.strip()]
    return [str(v) for v in value]
