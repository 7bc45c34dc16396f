"""Wait for a fleet to finish onboarding: ``fleet_connection.created`` for the fleet of one invitation."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, XComArg
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from catena_airflow.client.models import InvitationCreate
from catena_airflow.hooks.adapters import DEFAULT_CATENA_CONN_ID
from catena_airflow.hooks.catena import CatenaHook
from catena_airflow.hooks.inbox import CatenaInboxHook
from catena_airflow.inbox import InboxStore, Onboarding, Stage
from catena_airflow.operators.invitation import invite
from catena_airflow.operators.xcom_ids import id_from
from catena_airflow.triggers.fleet_connected import CatenaFleetConnectedTrigger
from catena_airflow.waiting.onboarding_outcome import (
    CONNECTED,
    EXPIRED,
    SOURCE_INBOX,
    SOURCE_RECONCILIATION,
    describe,
    outcome,
    validate_event,
)
from catena_airflow.waiting.reconcile import reconcile_onboarding

#: XCom key of the invitation a wait re-invited the fleet with (``reinvite_on_expiry``).
REINVITED_XCOM_KEY = "reinvited_invitation_id"

#: Extra time after the invitation's expiry, so Catena's own ``invitation.expired`` ends the wait
#: with a clear message before the sensor's timeout does.
DEFAULT_EXPIRY_GRACE = timedelta(minutes=5)

#: Retries of the wait, unless the task says otherwise. Waiting is idempotent (the inbox holds the
#: state), and Airflow 3.3.2's scheduler can fail a sensor resumed within seconds of deferring
#: ("finished with state success, but the task instance's state attribute is running"; seen on a
#: loaded machine): the retry reads the inbox and ends at once. Declines and expiries never retry.
DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY = timedelta(seconds=10)


def invitation_id_of(value: Any) -> str:
    """The invitation id, given as a string or as the create operator's XCom (a mapping with ``id``)."""
    return id_from(value, "id", "invitation_id must be an invitation id or the invitation XCom")


class CatenaFleetConnectedSensor(BaseSensorOperator):
    """Waits until the fleet of an invitation is connected; fails at once if it is declined, expired or deleted.

    Checks the inbox once, then defers to :class:`CatenaFleetConnectedTrigger`, which is woken by the
    webhooks the receiver stores and reconciles with Catena's REST API every ``reconcile_interval``.
    With ``deferrable=False`` it pokes in reschedule mode instead (no triggerer needed). Retries twice,
    10 s apart, unless told otherwise (``DEFAULT_RETRIES``): a retry reads the inbox and, after a
    re-invitation, follows the invitation this run sent.

    Returns ``fleet_id``, ``fleet_ref``, ``invitation_id``, ``connection_ids``,
    ``share_agreement_scopes``, ``share_agreement_id``, ``connected_at`` and ``source`` (``webhook``,
    ``reconciliation`` or ``inbox``).

    :param invitation_id: The invitation id, or the invitation XCom of the create operator (templated).
    :param catena_conn_id: Airflow connection of Catena (reconciliation, re-invitation).
    :param inbox_conn_id: Airflow connection of the inbox; None (default): ``[catena] inbox_url``.
    :param timeout: Seconds to wait; by default until the invitation's expiry plus ``expiry_grace``.
    :param expiry_grace: How long past the invitation's expiry the default timeout waits, so Catena's own
        ``invitation.expired`` ends the wait with a clear message first.
    :param deferrable: Wait in the triggerer (default) rather than in reschedule-mode pokes.
    :param poll_interval: Seconds between inbox reads of the trigger (templated).
    :param reconcile_interval: Seconds between REST reconciliations (templated).
    :param reinvite_on_expiry: If the link expires unanswered, invite the fleet once more with
        ``invitation`` (a new expiry; Catena refreshes the invitation or makes a new one) and wait for
        that attempt instead of failing (templated; deferrable mode only).
    :param invitation: The invitation request to send again (templated; the create task's input).
    """

    template_fields: Sequence[str] = (
        "invitation_id",
        "poll_interval",
        "reconcile_interval",
        "reinvite_on_expiry",
        "invitation",
    )
    ui_color = "#fff4e0"

    def __init__(
        self,
        *,
        invitation_id: str | Mapping[str, Any] | XComArg,
        catena_conn_id: str = DEFAULT_CATENA_CONN_ID,
        inbox_conn_id: str | None = None,
        deferrable: bool = True,
        poll_interval: float | str = 1.0,
        reconcile_interval: float | str = 300.0,
        timeout: timedelta | float | None = None,
        expiry_grace: timedelta = DEFAULT_EXPIRY_GRACE,
        reinvite_on_expiry: bool | str = False,
        invitation: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", DEFAULT_RETRIES)
        kwargs.setdefault("retry_delay", DEFAULT_RETRY_DELAY)
        if not deferrable:
            kwargs.setdefault("mode", "reschedule")
            kwargs.setdefault("poke_interval", 60)
        super().__init__(timeout=timeout, **kwargs)
        self.invitation_id = invitation_id
        self.catena_conn_id = catena_conn_id
        self.inbox_conn_id = inbox_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.reconcile_interval = reconcile_interval
        self.timeout_from_expiry = timeout is None
        self.expiry_grace = expiry_grace
        self.reinvite_on_expiry = reinvite_on_expiry
        self.invitation = invitation
        if not deferrable and reinvite_on_expiry is True:
            raise ValueError("reinvite_on_expiry needs deferrable=True (the wait keeps which attempt it follows)")

    # -- helpers -----------------------------------------------------------------------------------

    @cached_property
    def hook(self) -> CatenaHook:
        """The hook of ``catena_conn_id``; ``self.hook.get_conn()`` is its ``CatenaClient``."""
        return CatenaHook(catena_conn_id=self.catena_conn_id)

    def _store(self) -> InboxStore:
        return CatenaInboxHook(self.inbox_conn_id).get_conn()

    def _current(self, invitation_id: str) -> Onboarding | None:
        onboarding = self._store().get_onboarding(invitation_id)
        if onboarding is None:
            # Not registered (created elsewhere, or a fresh inbox): learn it from Catena once.
            onboarding = reconcile_onboarding(self.hook.get_conn(), self._store(), invitation_id).onboarding
        return onboarding

    def _timeout_until_expiry(self, onboarding: Onboarding | None, started_at: datetime) -> float | None:
        expires_at = onboarding.expires_at if onboarding else None
        if expires_at is None:
            return None
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return max((expires_at + self.expiry_grace - started_at).total_seconds(), 1.0)

    def _finish(self, event: dict[str, Any]) -> dict[str, Any]:
        """The task's result for a terminal event; failures raise (no retry can change them)."""
        status = event["status"]
        if status == "error":
            raise AirflowException(f"Waiting for the fleet failed: {event.get('message')}")
        if status != CONNECTED:
            raise AirflowFailException(event.get("message") or f"Onboarding ended: {status}")
        self.log.info(
            "Fleet %s (fleet id %s) connected via %s; connections %s",
            event.get("fleet_ref"),
            event.get("fleet_id"),
            event.get("source"),
            ", ".join(event.get("connection_ids") or []) or "none reported",
        )
        return {
            "invitation_id": event.get("invitation_id"),
            "fleet_ref": event.get("fleet_ref"),
            "fleet_id": event.get("fleet_id"),
            "connection_ids": list(event.get("connection_ids") or []),
            "share_agreement_id": event.get("share_agreement_id"),
            "share_agreement_scopes": dict(event.get("share_agreement_scopes") or {}),
            "connected_at": event.get("connected_at"),
            "source": event.get("source"),
        }

    # -- execution ---------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        invitation_id = invitation_id_of(self.invitation_id)
        onboarding = self._current(invitation_id)
        reinvited = self._reinvitation_of_this_run(context, onboarding)
        if reinvited is not None:
            self.log.info("Following invitation %s, which this run invited the fleet with", reinvited.invitation_id)
            invitation_id, onboarding = reinvited.invitation_id, reinvited
        if onboarding is not None:
            self.log.info("Onboarding of %s is at stage %s", describe(onboarding), onboarding.stage.value)
        done = outcome(onboarding)
        if done is not None:
            return self._ended(context, {**done, "source": SOURCE_INBOX}, reinvited=reinvited is not None)
        if not self.deferrable:
            return super().execute(context)
        self._wait(invitation_id, onboarding, reinvited=reinvited is not None)

    def _reinvitation_of_this_run(self, context: Context, onboarding: Onboarding | None) -> Onboarding | None:
        """On a retry, the new invitation an earlier try of this run sent after an expiry.

        Each try starts with the earlier tries' XComs cleared, so the inbox is asked: the newest
        invitation of the same fleet ref registered by this DAG run. (When Catena refreshed the expired
        invitation instead of making a new one, the same invitation is simply active again.)
        """
        if onboarding is None or onboarding.stage is not Stage.EXPIRED or not onboarding.fleet_ref:
            return None
        run_id = getattr(context.get("dag_run"), "run_id", None)
        if not run_id or not _truthy(self.reinvite_on_expiry):
            return None
        attempts = self._store().onboardings_for_refs([onboarding.fleet_ref])[onboarding.fleet_ref]
        later = [o for o in attempts if o.run_id == run_id and o.invitation_id != onboarding.invitation_id]
        return later[-1] if later else None

    def _wait(self, invitation_id: str, onboarding: Onboarding | None, *, reinvited: bool) -> None:
        if self.timeout_from_expiry:
            self.timeout = self._timeout_until_expiry(onboarding, datetime.now(UTC)) or self.timeout
        self.log.info("Deferring until the fleet is connected (timeout %.0fs)", self.timeout)
        self.defer(
            trigger=CatenaFleetConnectedTrigger(
                invitation_id=invitation_id,
                inbox_conn_id=self.inbox_conn_id,
                catena_conn_id=self.catena_conn_id,
                poll_interval=float(self.poll_interval),
                reconcile_interval=float(self.reconcile_interval),
            ),
            method_name="execute_complete",
            kwargs={"invitation_id": invitation_id, "reinvited": reinvited},
            timeout=timedelta(seconds=self.timeout),
        )

    def _ended(self, context: Context, event: dict[str, Any], *, reinvited: bool) -> dict[str, Any]:
        """The wait is over: the result, or, for a first expiry with ``reinvite_on_expiry``, a new wait."""
        if event.get("status") == EXPIRED and not reinvited and _truthy(self.reinvite_on_expiry):
            self.log.warning("%s; inviting the fleet once more", event.get("message"))
            dag_run = context.get("dag_run")
            invitation = invite(
                self.hook.get_conn(),
                self._store(),
                self._reinvitation(),
                dag_id=getattr(dag_run, "dag_id", None) or self.dag_id,
                run_id=getattr(dag_run, "run_id", None),
                log=self.log,
            )
            self.log.info("New magic link for the fleet: %s", invitation.magic_link)
            # Kept in XCom too: the deferral's kwargs carry it, but dag.test() does not pass them on.
            ti = context.get("ti")
            if ti is not None:
                ti.xcom_push(key=REINVITED_XCOM_KEY, value=invitation.id)
            self._wait(invitation.id, self._store().get_onboarding(invitation.id), reinvited=True)
        return self._finish(event)

    def _reinvitation(self) -> InvitationCreate:
        if not isinstance(self.invitation, Mapping) or not self.invitation.get("fleet_ref"):
            raise AirflowFailException("reinvite_on_expiry needs the invitation request (invitation=...)")
        return InvitationCreate(**self.invitation)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Reschedule mode: read the inbox; reconcile with Catena about once per ``reconcile_interval``."""
        invitation_id = invitation_id_of(self.invitation_id)
        if self.timeout_from_expiry:
            first = context["ti"].get_first_reschedule_date(context) or datetime.now(UTC)
            self.timeout = (
                self._timeout_until_expiry(self._store().get_onboarding(invitation_id), first) or self.timeout
            )
        source = "webhook"
        onboarding = self._store().get_onboarding(invitation_id)
        if outcome(onboarding) is None and time.time() % float(self.reconcile_interval) < max(self.poke_interval, 1.0):
            result = reconcile_onboarding(self.hook.get_conn(), self._store(), invitation_id)
            onboarding, source = result.onboarding, SOURCE_RECONCILIATION if result.ended_wait else source
        done = outcome(onboarding)
        if done is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish({**done, "source": source}))

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any] | None = None,
        invitation_id: str | None = None,
        reinvited: bool = False,
    ) -> dict[str, Any]:
        if invitation_id is None and (ti := context.get("ti")) is not None:
            invitation_id = ti.xcom_pull(task_ids=self.task_id, key=REINVITED_XCOM_KEY, map_indexes=ti.map_index)
            reinvited = reinvited or invitation_id is not None
        try:
            checked = validate_event(event, invitation_id or invitation_id_of(self.invitation_id))
        except ValueError as exc:
            raise AirflowException(str(exc)) from None
        return self._ended(context, checked, reinvited=reinvited)


def _truthy(value: bool | str | None) -> bool:
    """A flag given directly or rendered from a template (``"True"``/``"False"``)."""
    return value if isinstance(value, bool) else str(value or "").strip().lower() in ("true", "1", "yes")
