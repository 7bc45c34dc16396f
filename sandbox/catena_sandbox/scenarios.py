"""Fleet behaviour: the onboarding state machine and the scenarios chosen by ``fleet_ref`` prefix.

Every transition is one method, used alike by the scenario timers, the fleet-side API (accept/decline),
the Connect page and the admin API, so each path emits the same events.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from catena_sandbox.catalogue import tsp_for, tsp_id
from catena_sandbox.clock import new_id, utcnow
from catena_sandbox.delivery import DeliveryEngine
from catena_sandbox.errors import CatenaError
from catena_sandbox.events import (
    About,
    connection_record,
    execution_record,
    fleet_connection_record,
    invitation_event_record,
    schedule_record,
    share_agreement_record,
)
from catena_sandbox.settings import Settings
from catena_sandbox.state import (
    Connection,
    Execution,
    Fleet,
    FleetConnection,
    Invitation,
    Schedule,
    ShareAgreement,
    Store,
)
from catena_sandbox.subscriptions import Subscriptions
from catena_sandbox.variations import Variations

SCENARIOS = ("reuse", "decline", "expire", "manual", "stale", "failing")
ONCE_SCENARIOS = ("decline-once", "expire-once")  # the first attempt fails, the next one is the happy path
AUTO_ACCEPT = ("happy", "reuse", "stale", "failing")
DECLINE_REASON = "Sandbox fleet declined: not ready to share data yet"
INVITATION_FIELDS = (
    "fleet_name",
    "fleet_email",
    "fleet_regulatory_id",
    "fleet_regulatory_id_type",
    "fleet_phone",
    "fleet_website",
    "fleet_country_code",
    "callback_url",
    "success_redirect_url",
    "failure_redirect_url",
    "limit_tsps",
    "permissions",
)
SCHEDULES = (("vehicle", 3600), ("vehicle_location", 60))


def scenario_of(fleet_ref: str) -> str:
    lowered = fleet_ref.lower()
    for once in ONCE_SCENARIOS:
        if lowered.startswith(once + "-"):
            return once
    prefix = lowered.split("-", 1)[0] if "-" in lowered else ""
    return prefix if prefix in SCENARIOS else "happy"


def behaviour_of(invitation: Invitation) -> str:
    """What the fleet does in this run of its scenario: the ``-once`` ones fail their first attempt only."""
    if invitation.scenario == "decline-once":
        return "decline" if invitation.scenario_runs <= 1 else "happy"
    if invitation.scenario == "expire-once":
        return "expire" if invitation.first_for_fleet_ref else "happy"
    return invitation.scenario


class Simulator:
    def __init__(
        self,
        *,
        settings: Settings,
        store: Store,
        engine: DeliveryEngine,
        subscriptions: Subscriptions,
        variations: Variations,
    ) -> None:
        self._settings = settings
        self._store = store
        self._engine = engine
        self._subscriptions = subscriptions
        self._variations = variations

    # -- helpers ---------------------------------------------------------------------------------
    def magic_link(self, invitation: Invitation) -> str:
        return f"{self._settings.base_url}/connect/?invite={invitation.id}"

    def _publish_invitation(self, event_name: str, invitation: Invitation) -> None:
        settings = self._settings
        record = invitation_event_record(
            invitation, self.magic_link(invitation), settings.partner_id, settings.partner_slug, self._variations
        )
        self._subscriptions.publish(event_name, record, About(invitation.fleet_ref, invitation.fleet_id))

    def _about(self, fleet_id: str) -> About:
        """The fleet of an event whose record may not name its fleet_ref (connections, schedules...)."""
        fleet = self._store.fleets.get(fleet_id)
        return About(fleet.fleet_ref if fleet is not None else None, fleet_id)

    def _publish_share_agreement(self, event_name: str, agreement: ShareAgreement) -> None:
        record = share_agreement_record(agreement, self._variations, event=True)
        self._subscriptions.publish(event_name, record, About(agreement.sandbox_fleet_ref, agreement.fleet_id))

    def _later(self, steps: float, callback: Any, *args: Any) -> None:
        self._engine.call_later(self._settings.step * steps, callback, *args)

    def invitation(self, invitation_id: str) -> Invitation:
        """The invitation, expired first if its time is up (the expiry timer may not have fired yet)."""
        invitation = self._store.invitations.get(invitation_id)
        if invitation is None:
            raise CatenaError(404, f"Invitation {invitation_id} not found")
        self._expire_if_due(invitation)
        return invitation

    def _expire_if_due(self, invitation: Invitation) -> None:
        if invitation.status == "active" and utcnow() >= invitation.expires_at:
            self._mark_expired(invitation)

    def _mark_expired(self, invitation: Invitation) -> None:
        invitation.status = "expired"
        invitation.run += 1
        self._publish_invitation("invitation.expired", invitation)

    def expire_due_invitations(self) -> None:
        for invitation in list(self._store.invitations.values()):
            self._expire_if_due(invitation)

    def _require_active(self, invitation: Invitation, action: str) -> None:
        if invitation.status != "active":
            raise CatenaError(409, f"Cannot {action} an invitation that is {invitation.status}")

    def _new_expiry(self, invitation: Invitation, hours: int) -> None:
        invitation.expires_in_hours = hours
        invitation.expires_at = utcnow() + timedelta(seconds=self._settings.scaled(hours * 3600))
        delay = (invitation.expires_at - utcnow()).total_seconds()
        self._engine.call_later(delay + 0.001, self._expiry_due, invitation.id)

    def _expiry_due(self, invitation_id: str) -> None:
        with self._store.lock:
            invitation = self._store.invitations.get(invitation_id)
            if invitation is not None:
                self._expire_if_due(invitation)

    # -- invitations (partner side) --------------------------------------------------------------
    def create_invitation(self, fields: dict[str, Any]) -> tuple[Invitation, bool]:
        """Create, or refresh an active/accepted/declined invitation with the same fleet_ref (returns created?)."""
        fleet_ref = fields["fleet_ref"]
        hours = fields.get("expires_in_hours") or 24
        with self._store.lock:
            existing = self._store.active_invitation_for(fleet_ref)
            if existing is not None:
                self._expire_if_due(existing)
            if existing is not None and existing.status != "expired":
                self._refresh(existing, fields, hours)
                return existing, False
            now = utcnow()
            invitation = Invitation(
                id=new_id(),
                created_at=now,
                expires_at=now,
                expires_in_hours=hours,
                fleet_ref=fleet_ref,
                scenario=scenario_of(fleet_ref),
                first_for_fleet_ref=not any(i.fleet_ref == fleet_ref for i in self._store.invitations.values()),
            )
            for name in INVITATION_FIELDS:
                if fields.get(name) is not None:
                    setattr(invitation, name, fields[name])
            self._store.invitations[invitation.id] = invitation
            self._new_expiry(invitation, hours)
            self._subscriptions.subscribe_callback(invitation)
            self._publish_invitation("invitation.created", invitation)
            if invitation.fleet_email:
                self._later(0.5, self._sent, invitation.id, invitation.run)
            self._start_scenario(invitation)
            return invitation, True

    def _refresh(self, invitation: Invitation, fields: dict[str, Any], hours: int) -> None:
        """Catena's refresh (200, same id): expiry from now, new tokens if accepted, a declined one active again.

        Fields given again overwrite the stored ones. Whether ``invitation.created`` fires again is
        undocumented: a variation. An active invitation's scenario keeps running; a declined one's restarts.
        """
        for name in INVITATION_FIELDS:
            if fields.get(name) is not None:
                setattr(invitation, name, fields[name])
        self._new_expiry(invitation, hours)
        restart = invitation.status == "declined"
        if invitation.status == "accepted":
            self._issue_pre_registration_tokens(invitation)
        elif restart:
            invitation.status = "active"
            invitation.declined_at = invitation.decline_reason = None
            invitation.run += 1
        self._subscriptions.subscribe_callback(invitation)
        if self._variations.choose("invitation_created_on_refresh", invitation.fleet_ref) == "emit":
            self._publish_invitation("invitation.created", invitation)
        if restart:
            self._start_scenario(invitation)

    def delete_invitation(self, invitation_id: str) -> None:
        with self._store.lock:
            invitation = self.invitation(invitation_id)
            if invitation.status == "deleted":
                raise CatenaError(404, f"Invitation {invitation_id} not found")
            if invitation.status == "accepted":
                raise CatenaError(409, "An accepted invitation cannot be deleted; manage the share agreement instead")
            invitation.status = "deleted"
            invitation.run += 1
            self._publish_invitation("invitation.deleted", invitation)

    # -- fleet-side transitions ------------------------------------------------------------------
    def _sent(self, invitation_id: str, run: int) -> None:
        with self._store.lock:
            invitation = self._store.invitations.get(invitation_id)
            if invitation is not None and invitation.run == run and invitation.status == "active":
                self._publish_invitation("invitation.sent", invitation)

    def view(self, invitation_id: str) -> Invitation:
        with self._store.lock:
            invitation = self.invitation(invitation_id)
            if invitation.status in ("active", "accepted"):
                self._publish_invitation("invitation.viewed", invitation)
            return invitation

    def accept(self, invitation_id: str, fleet_fields: dict[str, Any] | None = None) -> Invitation:
        fleet_fields = fleet_fields or {}
        with self._store.lock:
            invitation = self.invitation(invitation_id)
            self._require_active(invitation, "accept")
            now = utcnow()
            fleet = Fleet(
                id=new_id(),
                name=fleet_fields.get("fleet_name") or invitation.fleet_name or f"Fleet {invitation.id}",
                fleet_ref=invitation.fleet_ref,
                invitation_id=invitation.id,
                created_at=now,
                updated_at=now,
                registered_email=fleet_fields.get("fleet_email") or invitation.fleet_email,
                registered_phone=fleet_fields.get("fleet_phone") or invitation.fleet_phone,
                regulatory_id=fleet_fields.get("fleet_regulatory_id") or invitation.fleet_regulatory_id,
                regulatory_id_type=fleet_fields.get("fleet_regulatory_id_type") or invitation.fleet_regulatory_id_type,
                country_code=fleet_fields.get("fleet_country_code") or invitation.fleet_country_code,
                websites=[w] if (w := fleet_fields.get("fleet_website") or invitation.fleet_website) else None,
            )
            self._store.fleets[fleet.id] = fleet
            invitation.status = "accepted"
            invitation.accepted_at = now
            invitation.fleet_id = fleet.id
            self._issue_pre_registration_tokens(invitation)
            self._publish_invitation("invitation.accepted", invitation)
            self._later(1, self._sign_share_agreement, invitation.id, invitation.run)
            return invitation

    def _issue_pre_registration_tokens(self, invitation: Invitation) -> None:
        invitation.pre_registration_access_token = "sandbox-prereg-" + secrets.token_urlsafe(24)
        invitation.pre_registration_refresh_token = "sandbox-prereg-refresh-" + secrets.token_urlsafe(24)

    def decline(self, invitation_id: str, reason: str | None) -> Invitation:
        with self._store.lock:
            invitation = self.invitation(invitation_id)
            self._require_active(invitation, "decline")
            invitation.status = "declined"
            invitation.declined_at = utcnow()
            invitation.decline_reason = reason
            invitation.run += 1
            self._publish_invitation("invitation.declined", invitation)
            return invitation

    def expire(self, invitation_id: str) -> Invitation:
        with self._store.lock:
            invitation = self.invitation(invitation_id)
            if invitation.status != "active":
                raise CatenaError(409, f"Cannot expire an invitation that is {invitation.status}")
            self._mark_expired(invitation)
            return invitation

    # -- scenario --------------------------------------------------------------------------------
    def _start_scenario(self, invitation: Invitation) -> None:
        run = invitation.run
        invitation.scenario_runs += 1
        behaviour = behaviour_of(invitation)
        if behaviour in AUTO_ACCEPT or behaviour == "decline":
            self._later(1, self._scenario_view, invitation.id, run)
        if behaviour in AUTO_ACCEPT:
            self._later(2, self._scenario_act, invitation.id, run, "accept")
        elif behaviour == "decline":
            self._later(2, self._scenario_act, invitation.id, run, "decline")

    def _current(self, invitation_id: str, run: int) -> Invitation | None:
        invitation = self._store.invitations.get(invitation_id)
        return invitation if invitation is not None and invitation.run == run else None

    def _scenario_view(self, invitation_id: str, run: int) -> None:
        with self._store.lock:
            invitation = self._current(invitation_id, run)
            if invitation is not None and invitation.status == "active":
                self.view(invitation_id)

    def _scenario_act(self, invitation_id: str, run: int, action: str) -> None:
        with self._store.lock:
            invitation = self._current(invitation_id, run)
            if invitation is None or invitation.status != "active" or utcnow() >= invitation.expires_at:
                return
            if action == "accept":
                self.accept(invitation_id)
            else:
                self.decline(invitation_id, DECLINE_REASON)

    def _sign_share_agreement(self, invitation_id: str, run: int) -> None:
        with self._store.lock:
            invitation = self._current(invitation_id, run)
            if invitation is None or invitation.status != "accepted" or invitation.fleet_id is None:
                return
            now = utcnow()
            shows_ref = self._variations.choose("share_agreement_fleet_ref", invitation.fleet_ref) == "set"
            agreement = ShareAgreement(
                id=new_id(),
                fleet_id=invitation.fleet_id,
                partner_id=self._settings.partner_id,
                fleet_ref=invitation.fleet_ref if shows_ref else None,
                sandbox_fleet_ref=invitation.fleet_ref,
                invitation_id=invitation.id,
                status="active",
                effective_date=invitation.accepted_at or now,
                expiration_date=None,
                scopes=dict(invitation.permissions),
                created_at=now,
                updated_at=now,
            )
            self._store.share_agreements[agreement.id] = agreement
            invitation.share_agreement_id = agreement.id
            self._publish_share_agreement("share_agreement.created", agreement)
            self._later(1, self._connect, invitation_id, run)

    def _connect(self, invitation_id: str, run: int) -> None:
        with self._store.lock:
            invitation = self._current(invitation_id, run)
            if invitation is None or invitation.status != "accepted" or invitation.fleet_id is None:
                return
            now = utcnow()
            reused = invitation.scenario == "reuse"
            source_name = tsp_for(invitation.limit_tsps)
            connection = Connection(
                id=new_id(),
                fleet_id=invitation.fleet_id,
                fleet_ref=invitation.fleet_ref,
                tsp_id=tsp_id(source_name),
                source_name=source_name,
                status="active",
                description=f"{source_name} connection of {invitation.fleet_ref}",
                created_at=now - timedelta(days=30) if reused else now,
                updated_at=now,
            )
            self._store.connections[connection.id] = connection
            invitation.connection_id = connection.id
            if not reused:  # a connection the fleet already had is not announced again
                self._subscriptions.publish(
                    "connection.created", connection_record(connection), self._about(connection.fleet_id)
                )
            self._later(1, self._link_fleet_connection, invitation_id, run)

    def _link_fleet_connection(self, invitation_id: str, run: int) -> None:
        with self._store.lock:
            invitation = self._current(invitation_id, run)
            if invitation is None or invitation.connection_id is None:
                return
            connection = self._store.connections[invitation.connection_id]
            now = utcnow()
            link = FleetConnection(
                id=new_id(), fleet_id=connection.fleet_id, connection_id=connection.id, created_at=now
            )
            self._store.fleet_connections[link.id] = link
            schedules = [self._add_schedule(connection, resource, interval) for resource, interval in SCHEDULES]
            for schedule in schedules:
                self._record_execution(connection, schedule, "success")
            self._subscriptions.publish(
                "fleet_connection.created", fleet_connection_record(link), self._about(link.fleet_id)
            )
            if invitation.scenario == "stale":
                self._later(1, self._scenario_stale, connection.id)
            elif invitation.scenario == "failing":
                failing = schedules[-1]
                failing.consecutive_error_threshold = self._settings.failing_threshold
                failing.failing = True
                self._later(1, self._scenario_fail_tick, failing.id)

    def _add_schedule(self, connection: Connection, resource: str, interval: int) -> Schedule:
        schedule = Schedule(
            id=new_id(),
            connection_id=connection.id,
            resource=resource,
            execution_interval_seconds=interval,
            created_at=utcnow(),
        )
        self._store.schedules[schedule.id] = schedule
        return schedule

    def _record_execution(self, connection: Connection, schedule: Schedule, status: str) -> Execution:
        now = utcnow()
        execution = Execution(
            id=new_id(),
            created_at=now,
            updated_at=now,
            schedule_id=schedule.id,
            connection_id=connection.id,
            fleet_id=connection.fleet_id,
            status=status,
            source_name=connection.source_name,
            resource=schedule.resource,
            response={"records": 0 if status == "failed" else 5},
            last_data_at=now if status == "success" else None,
        )
        self._store.executions[execution.id] = execution
        if status == "success":
            schedule.last_data_at = now
        return execution

    def _scenario_stale(self, connection_id: str) -> None:
        with self._store.lock:
            connection = self._store.connections.get(connection_id)
            if connection is not None and connection.status == "active":
                self.stale_connection(connection_id)

    def _scenario_fail_tick(self, schedule_id: str) -> None:
        with self._store.lock:
            schedule = self._store.schedules.get(schedule_id)
            if schedule is None or not schedule.failing or schedule.status != "active":
                return
            self.fail_execution(schedule_id)
            if schedule.status == "active":
                self._later(1, self._scenario_fail_tick, schedule_id)

    # -- share agreements (partner side) ---------------------------------------------------------
    def share_agreement(self, share_agreement_id: str) -> ShareAgreement:
        agreement = self._store.share_agreements.get(share_agreement_id)
        if agreement is None or agreement.status == "deleted":
            raise CatenaError(404, f"Share agreement {share_agreement_id} not found")
        return agreement

    def change_share_agreement(self, share_agreement_id: str, changes: dict[str, Any]) -> ShareAgreement:
        """PATCH, pause, activate, cancel: ``share_agreement.updated``; cancelled/expired ones stay so."""
        with self._store.lock:
            agreement = self.share_agreement(share_agreement_id)
            if agreement.status in ("cancelled", "expired") and changes.get("status") not in (None, agreement.status):
                raise CatenaError(409, f"Share agreement is {agreement.status}")
            for name, value in changes.items():
                setattr(agreement, name, value)
            agreement.updated_at = utcnow()
            self._publish_share_agreement("share_agreement.updated", agreement)
            return agreement

    def delete_share_agreement(self, share_agreement_id: str) -> None:
        with self._store.lock:
            agreement = self.share_agreement(share_agreement_id)
            agreement.status = "deleted"
            agreement.updated_at = utcnow()
            self._publish_share_agreement("share_agreement.deleted", agreement)

    # -- connections, schedules, executions ------------------------------------------------------
    def connection(self, connection_id: str) -> Connection:
        connection = self._store.connections.get(connection_id)
        if connection is None or connection.status == "deleted":
            raise CatenaError(404, f"Connection {connection_id} not found")
        return connection

    def schedule(self, schedule_id: str, connection_id: str | None = None) -> Schedule:
        schedule = self._store.schedules.get(schedule_id)
        if schedule is None or (connection_id is not None and schedule.connection_id != connection_id):
            raise CatenaError(404, f"Schedule {schedule_id} not found")
        return schedule

    def stale_connection(self, connection_id: str) -> Connection:
        with self._store.lock:
            connection = self.connection(connection_id)
            connection.status = "stale"
            connection.updated_at = utcnow()
            self._subscriptions.publish(
                "connection.staled", connection_record(connection), self._about(connection.fleet_id)
            )
            return connection

    def reauthenticate(self, connection_id: str) -> Connection:
        """The fleet re-entered working credentials through the same invitation link (Catena has no event)."""
        with self._store.lock:
            connection = self.connection(connection_id)
            connection.status = "active"
            connection.updated_at = utcnow()
            return connection

    def fail_execution(self, schedule_id: str) -> Execution:
        with self._store.lock:
            schedule = self.schedule(schedule_id)
            connection = self.connection(schedule.connection_id)
            execution = self._record_execution(connection, schedule, "failed")
            schedule.consecutive_error_count += 1
            about = self._about(execution.fleet_id)
            self._subscriptions.publish("execution.failed", execution_record(execution), about)
            if schedule.status == "active" and schedule.consecutive_error_count >= schedule.consecutive_error_threshold:
                self.deactivate_schedule(schedule_id)
            return execution

    def deactivate_schedule(self, schedule_id: str) -> Schedule:
        with self._store.lock:
            schedule = self.schedule(schedule_id)
            schedule.status = "inactive"
            fleet_id = self.connection(schedule.connection_id).fleet_id
            self._subscriptions.publish("schedule.deactivated", schedule_record(schedule), self._about(fleet_id))
            return schedule

    def activate_schedule(self, schedule_id: str, connection_id: str) -> Schedule:
        """Catena's hidden activate endpoint: a paused/inactive schedule runs again (and, here, succeeds)."""
        with self._store.lock:
            schedule = self.schedule(schedule_id, connection_id)
            if schedule.status in ("inactive", "paused", "active"):
                schedule.status = "active"
                schedule.consecutive_error_count = 0
                schedule.failing = False
                self._record_execution(self.connection(connection_id), schedule, "success")
            return schedule

    def activate_schedules(self, connection_id: str) -> list[Schedule]:
        with self._store.lock:
            self.connection(connection_id)
            eligible = [
                s
                for s in self._store.schedules.values()
                if s.connection_id == connection_id and s.status in ("inactive", "paused")
            ]
            return [self.activate_schedule(s.id, connection_id) for s in eligible]
