"""Handlers of operational webhooks: stale connections, failing executions, deactivated schedules.

The operations DAG runs on asset events from the inbox watcher, but treats them only as a doorbell:
each handler reads the unhandled events from the inbox after its own durable "handled" cursor (in the
destination database) and advances it event by event, so nothing is handled twice or skipped, and a
manual or ``dag.test()`` run does the same work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context, Variable
from airflow.sdk.exceptions import AirflowException

from catena_airflow.client._base import status_value
from catena_airflow.client.events import CONNECTION_CREATED, CONNECTION_STALED, EXECUTION_FAILED, SCHEDULE_DEACTIVATED
from catena_airflow.hooks.adapters import DEFAULT_CATENA_CONN_ID, catena_client
from catena_airflow.hooks.destination import CatenaDestinationHook
from catena_airflow.hooks.inbox import CatenaInboxHook
from catena_airflow.inbox import InboxStore, Onboarding, StoredEvent
from catena_airflow.ingest.store import HELD_STATES, DestinationStore, utcnow
from catena_airflow.notifications.catena import DEFAULT_NOTIFIER, CatenaAlert, load_notifier, send_alert

NOTIFIER_VARIABLE = "catena_notifier"


def cursor_name_of(handler: type) -> str:
    """The destination-database cursor a handler class keeps (how far it has read the inbox)."""
    return f"operations:{handler.__name__}"


class _InboxEventHandlerOperator(BaseOperator):
    """Reads unhandled events named ``event_names`` from the inbox and handles them in order.

    :param notifier: Dotted path of a ``BaseNotifier`` class (default: Airflow Variable
        ``catena_notifier``, else the log notifier). :param notifier_kwargs: Its constructor arguments.
    """

    event_names: Sequence[str] = ()
    template_fields: Sequence[str] = ("notifier", "notifier_kwargs")

    def __init__(
        self,
        *,
        notifier: str | None = None,
        notifier_kwargs: dict[str, Any] | None = None,
        catena_conn_id: str = DEFAULT_CATENA_CONN_ID,
        inbox_conn_id: str | None = None,
        destination_conn_id: str | None = None,
        batch_size: int = 200,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.notifier = notifier
        self.notifier_kwargs = notifier_kwargs
        self.catena_conn_id = catena_conn_id
        self.inbox_conn_id = inbox_conn_id
        self.destination_conn_id = destination_conn_id
        self.batch_size = batch_size

    @property
    def cursor_name(self) -> str:
        return cursor_name_of(type(self))

    def execute(self, context: Context) -> dict[str, Any]:
        self.context = context
        self.inbox: InboxStore = CatenaInboxHook(self.inbox_conn_id).get_conn()
        self.destination: DestinationStore = CatenaDestinationHook(self.destination_conn_id).get_conn()
        self._notifier = load_notifier(
            self.notifier or Variable.get(NOTIFIER_VARIABLE, default=DEFAULT_NOTIFIER), self.notifier_kwargs
        )
        self.start()
        cursor = self.destination.get_cursor(self.cursor_name)
        handled = 0
        while events := self.inbox.events_after(cursor, list(self.event_names), self.batch_size):
            for event in events:
                for index, record in enumerate(event.data):
                    self.handle(event, index, record)
                cursor = event.seq
                self.destination.advance_cursor(self.cursor_name, cursor)
                handled += 1
        self.after_events()
        self.log.info(
            "%d new %s event(s) handled (cursor at inbox seq %d)", handled, "/".join(self.event_names), cursor
        )
        return {"handled": handled, "cursor": cursor, **self.summary()}

    def start(self) -> None:
        """Reset what one run reports (an operator object may execute more than once, e.g. in dag.test)."""

    def handle(self, event: StoredEvent, index: int, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def after_events(self) -> None:
        """Work after the new events are handled (e.g. checks with Catena)."""

    def summary(self) -> dict[str, Any]:
        return {}

    def alert(self, alert: CatenaAlert) -> None:
        send_alert(self._notifier, self.context, alert)

    def onboarding_of(self, event: StoredEvent, fleet_id: str | None) -> Onboarding | None:
        """The onboarding an event belongs to (its correlated invitation, else the fleet's newest)."""
        if event.invitation_id:
            found = self.inbox.get_onboarding(event.invitation_id)
            if found is not None:
                return found
        if fleet_id:
            return next(iter(self.inbox.onboardings_for_fleet(fleet_id)), None)
        return None


class CatenaHandleConnectionEventsOperator(_InboxEventHandlerOperator):
    """``connection.staled``: mark the fleet stale, pause its ingestion and send the re-authentication link.

    Catena sends no event when the fleet re-authenticates, and webhooks arrive in any order, so each
    run asks Catena about the fleets it paused; once none of a fleet's connections is stale, the pause
    ends (a ``connection.created`` is only a reason to ask).
    """

    event_names = (CONNECTION_STALED, CONNECTION_CREATED)

    def start(self) -> None:
        self.staled: list[str] = []
        self.recovered: list[str] = []

    def handle(self, event: StoredEvent, index: int, record: dict[str, Any]) -> None:
        fleet_id = record.get("fleet_id") or event.fleet_id
        if not fleet_id:
            self.log.warning("%s %s names no fleet; skipped", event.event_name, event.event_id)
            return
        connection_id = record.get("id") or event.connection_id
        onboarding = self.onboarding_of(event, fleet_id)
        fleet_ref = onboarding.fleet_ref if onboarding else None
        if event.event_name == CONNECTION_STALED:
            if not self._newly_stale(fleet_id, connection_id):
                return
            link = onboarding.magic_link if onboarding else None
            self.destination.set_fleet_status(
                fleet_id,
                status="stale",
                ingestion_paused=True,
                reason=f"connection {connection_id} is stale; the fleet must re-authenticate",
                fleet_ref=fleet_ref,
            )
            self.staled.append(fleet_id)
            self.alert(
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

    def _newly_stale(self, fleet_id: str, connection_id: str | None) -> bool:
        """Whether this ``connection.staled`` is news: the fleet is not paused as stale already (the same
        event delivered to two subscriptions under two envelope ids), and Catena does not report the
        connection active again (a late delivery of an old staleness)."""
        current = self.destination.get_fleet_status(fleet_id)
        if current is not None and current.status == "stale" and current.ingestion_paused:
            self.log.info(
                "Fleet %s is already paused as stale; connection.staled of %s changes nothing", fleet_id, connection_id
            )
            return False
        if (
            connection_id
            and status_value(catena_client(self.catena_conn_id).get_connection(connection_id).status) == "active"
        ):
            self.log.info("Connection %s is active again at Catena: a late connection.staled, ignored", connection_id)
            return False
        return True

    def _recover(self, fleet_id: str, fleet_ref: str | None, why: str) -> None:
        self.destination.set_fleet_status(fleet_id, status="active", ingestion_paused=False, fleet_ref=fleet_ref)
        self.recovered.append(fleet_id)
        self.alert(
            CatenaAlert(
                kind="connection_recovered",
                title=f"Fleet {fleet_ref or fleet_id}: connection is back",
                text=f"The fleet re-authenticated ({why}); its ingestion resumes.",
                severity="info",
                fleet_id=fleet_id,
                fleet_ref=fleet_ref,
            )
        )

    def after_events(self) -> None:
        stale = self.destination.list_fleet_statuses("stale")
        if not stale:
            return
        client = catena_client(self.catena_conn_id)
        for status in stale:
            connections = list(client.list_connections(fleet_ids=[status.fleet_id]))
            statuses = {str(c.id): status_value(c.status) for c in connections}
            if statuses and "stale" not in statuses.values() and "active" in statuses.values():
                self._recover(status.fleet_id, status.fleet_ref, "Catena reports its connections active")

    def summary(self) -> dict[str, Any]:
        return {"staled": self.staled, "recovered": self.recovered}


class CatenaHandleExecutionFailuresOperator(_InboxEventHandlerOperator):
    """``execution.failed``: record each failure; alert when a schedule keeps failing.

    One failed execution is routine (Catena retries on its own); ``alert_threshold`` failures of the
    same schedule within ``alert_window`` raise an alert (again at each further multiple).
    """

    event_names = (EXECUTION_FAILED,)

    def __init__(
        self, *, alert_threshold: int = 3, alert_window: timedelta = timedelta(hours=1), **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.alert_threshold = alert_threshold
        self.alert_window = alert_window

    def start(self) -> None:
        self.recorded = 0
        self.alerted: list[str] = []

    def handle(self, event: StoredEvent, index: int, record: dict[str, Any]) -> None:
        schedule_id = record.get("schedule_id")
        if not schedule_id:
            self.log.warning("execution.failed %s names no schedule; skipped", event.event_id)
            return
        fleet_id = record.get("fleet_id") or event.fleet_id
        # Keyed by the execution: the same failure delivered twice (an org-wide and a callback_url
        # subscription, under two envelope ids) counts once.
        is_new = self.destination.record_execution_failure(
            event_id=f"execution:{record['id']}" if record.get("id") else f"{event.event_id}#{index}",
            execution_id=record.get("id"),
            schedule_id=schedule_id,
            connection_id=record.get("connection_id"),
            fleet_id=fleet_id,
            resource=record.get("resource"),
        )
        if not is_new:
            return
        self.recorded += 1
        failures = self.destination.count_execution_failures(schedule_id, since=utcnow() - self.alert_window)
        self.log.info(
            "Schedule %s (%s): %d failed execution(s) in the window", schedule_id, record.get("resource"), failures
        )
        if failures >= self.alert_threshold and failures % self.alert_threshold == 0:
            onboarding = self.onboarding_of(event, fleet_id)
            fleet_ref = onboarding.fleet_ref if onboarding else None
            self.alerted.append(schedule_id)
            self.alert(
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

    def summary(self) -> dict[str, Any]:
        return {"recorded": self.recorded, "alerted": self.alerted}


class CatenaReactivateSchedulesOperator(_InboxEventHandlerOperator):
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

    :param reactivate: Schedule ids a person decided to reactivate (templated).
    """

    event_names = (SCHEDULE_DEACTIVATED,)
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

    def start(self) -> None:
        self.reactivated: list[str] = []
        self.held: list[str] = []
        self._client: Any = None
        for schedule_id in _ids(self.reactivate):
            hold = self.destination.get_schedule_hold(schedule_id)
            if hold is None:
                raise AirflowException(f"Schedule {schedule_id} was not deactivated by Catena (nothing to reactivate)")
            self._reactivate(schedule_id, hold.connection_id, hold.fleet_id, hold.fleet_ref, why="a person decided")

    def handle(self, event: StoredEvent, index: int, record: dict[str, Any]) -> None:
        schedule_id, connection_id = record.get("id"), record.get("connection_id") or event.connection_id
        if not (schedule_id and connection_id):
            self.log.warning("schedule.deactivated %s lacks schedule or connection id; skipped", event.event_id)
            return
        onboarding = self.onboarding_of(event, event.fleet_id)
        fleet_ref = onboarding.fleet_ref if onboarding else None
        fleet_id = onboarding.fleet_id if onboarding else event.fleet_id
        resource = record.get("resource")
        what = f"schedule {schedule_id} ({resource}) of connection {connection_id}"
        held = self.destination.get_schedule_hold(schedule_id)
        if held is not None and held.state in HELD_STATES:
            self.log.info("%s is held already (%s); this deactivation changes nothing", what, held.state)
            return
        if status_value(self.client.get_schedule(connection_id, schedule_id).status) == "active":
            self.log.info("%s is active at Catena: a late schedule.deactivated, ignored", what)
            self._show_active(schedule_id, fleet_id)  # the inbox took the deactivation as current
            return
        connection_status = status_value(self.client.get_connection(connection_id).status)
        hold = {"connection_id": connection_id, "fleet_id": fleet_id, "fleet_ref": fleet_ref, "resource": resource}
        if connection_status != "active":
            reason = f"Catena deactivated it; its connection is {connection_status}, so it waits for the fleet"
            self._hold(schedule_id, state="awaiting_connection", reason=reason, what=what, **hold)
            return
        if not self.inbox.connection_went_stale(connection_id):
            executions = self._last_executions(connection_id, schedule_id)
            reason = f"Catena deactivated it after repeated failures with its connection active: {executions}"
            self._hold(schedule_id, state="needs_decision", reason=reason, what=what, **hold)
            return
        self._reactivate(schedule_id, connection_id, fleet_id, fleet_ref, why="its connection is active again")

    def after_events(self) -> None:
        """Schedules that waited for their connection: reactivate those whose connection is back. Schedules
        left to a person: release those someone reactivated in Catena directly (no event says so)."""
        for hold in self.destination.list_schedule_holds("awaiting_connection"):
            if status_value(self.client.get_connection(hold.connection_id).status) == "active":
                self._reactivate(
                    hold.schedule_id, hold.connection_id, hold.fleet_id, hold.fleet_ref, why="its connection is back"
                )
        for hold in self.destination.list_schedule_holds("needs_decision"):
            if status_value(self.client.get_schedule(hold.connection_id, hold.schedule_id).status) == "active":
                self.destination.schedule_reactivated(hold.schedule_id, connection_id=hold.connection_id)
                self._show_active(hold.schedule_id, hold.fleet_id)
                self.reactivated.append(hold.schedule_id)
                self.log.info("Schedule %s was reactivated in Catena: its ingestion resumes", hold.schedule_id)

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = catena_client(self.catena_conn_id)
        return self._client

    def _hold(
        self,
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
        self.destination.hold_schedule(
            schedule_id,
            connection_id=connection_id,
            state=state,
            reason=reason,
            fleet_id=fleet_id,
            fleet_ref=fleet_ref,
            resource=resource,
        )
        self.held.append(schedule_id)
        decide = (
            f"To reactivate it anyway, trigger catena_fleet_operations with "
            f'{{"reactivate_schedule_ids": ["{schedule_id}"]}}.'
            if state == "needs_decision"
            else "It is reactivated once Catena reports the connection active again."
        )
        self._schedule_alert(
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
            executions = self.client.list_executions(connection_id, schedule_id).first_page().items
        except Exception as exc:  # the alert goes out without them
            return f"last executions unavailable ({type(exc).__name__})"
        failed = [e for e in executions if status_value(e.status) == "failed"][-limit:]
        if not failed:
            return "no failed execution is listed (Catena keeps them 7 days)"
        return "; ".join(f"{e.id} failed at {e.updated_at.isoformat() if e.updated_at else '?'}" for e in failed)

    def _reactivate(
        self, schedule_id: str, connection_id: str, fleet_id: str | None, fleet_ref: str | None, *, why: str
    ) -> None:
        what = f"schedule {schedule_id} of connection {connection_id}"
        done = self.destination.reactivations_today(schedule_id)
        if done >= self.max_reactivations and why != "a person decided":
            self._hold(
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
        status, last_error = "unknown", None
        for attempt in range(1, self.attempts + 1):
            try:
                self.client.activate_schedule(connection_id, schedule_id)
                status = status_value(self.client.get_schedule(connection_id, schedule_id).status)
            except Exception as exc:  # the client already retried transient errors; try again later
                last_error = exc
                self.log.warning("Activating %s, attempt %d/%d failed: %s", what, attempt, self.attempts, exc)
            if status == "active":
                break
            time.sleep(self.backoff * 2 ** (attempt - 1))
        if status != "active":
            self._schedule_alert(
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
        self.destination.schedule_reactivated(schedule_id, connection_id=connection_id)
        self._show_active(schedule_id, fleet_id)
        self.reactivated.append(schedule_id)
        self.log.info("Reactivated %s (%s): active again", what, why)
        self._schedule_alert(
            "schedule_reactivated",
            "ingestion schedule reactivated",
            f"{what} is active again ({why}).",
            severity="info",
            schedule_id=schedule_id,
            connection_id=connection_id,
            fleet_id=fleet_id,
            fleet_ref=fleet_ref,
        )

    def _show_active(self, schedule_id: str, fleet_id: str | None) -> None:
        """Catena sends no event when a schedule is active again: the inbox, whose view the dashboard shows
        (its deactivated-schedule alert), learns it from here."""
        for onboarding in self.inbox.onboardings_for_fleet(fleet_id) if fleet_id else ():
            self.inbox.record_observation(onboarding.invitation_id, schedule_statuses={schedule_id: "active"})

    def _schedule_alert(
        self,
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
        self.alert(
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

    def summary(self) -> dict[str, Any]:
        return {"reactivated": self.reactivated, "held": self.held}


def _ids(value: Sequence[str] | str | None) -> list[str]:
    """Schedule ids given as a list, or rendered from a template as a comma-separated string."""
    if not value:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.strip("[]").replace('"', "").replace("'", "").split(",") if part.strip()]
    return [str(v) for v in value]
