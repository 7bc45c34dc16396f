"""Reconciliation of one onboarding with Catena's REST API, so a lost webhook cannot hang a wait.

Reads the invitation, its share agreement (which maps the fleet id back to the invitation and fleet
ref) and the fleet's connections, and writes what it learnt to the inbox as an observation. Blocking
(``requests``): callers in an event loop run it in a thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from catena_airflow.inbox import InboxStore
from catena_airflow.inbox.models import Onboarding, Stage

log = logging.getLogger(__name__)

_FAILED_STATUSES = {"declined", "rejected", "expired", "deleted"}


@dataclass(frozen=True)
class Reconciliation:
    """What one reconciliation found; ``connected`` when REST shows an active fleet connection.

    ``ended_wait`` is True when this reconciliation, not an earlier webhook, made the onboarding terminal.
    """

    invitation_id: str
    invitation_status: str | None
    fleet_id: str | None
    connected: bool
    onboarding: Onboarding | None
    ended_wait: bool


def _status(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value)).lower()


def reconcile_onboarding(client: Any, store: InboxStore, invitation_id: str) -> Reconciliation:
    """One REST round for ``invitation_id``; the result is merged into the inbox (rows created if missing)."""
    invitation = client.get_invitation(invitation_id)
    status = _status(invitation.status)
    known = store.get_onboarding(invitation_id)
    fleet_id = invitation.fleet_id or (known.fleet_id if known else None)
    share_agreement = None
    if status not in _FAILED_STATUSES:
        for agreement in client.list_share_agreements(invitation_id=invitation_id):
            if str(agreement.invitation_id or invitation_id) == invitation_id:
                share_agreement = agreement
                fleet_id = fleet_id or agreement.fleet_id
                break
    statuses: dict[str, str] = {}
    if fleet_id and share_agreement is not None:
        for connection in client.list_connections(fleet_ids=[fleet_id]):
            statuses[str(connection.id)] = _status(connection.status) or "unknown"
    connected = any(s == "active" for s in statuses.values())
    onboarding = store.record_observation(
        invitation_id,
        stage=Stage.CONNECTED if connected else None,
        fleet_id=fleet_id,
        fleet_ref=invitation.fleet_ref,
        invitation_status=status,
        decline_reason=invitation.decline_reason,
        share_agreement=share_agreement,
        connection_statuses=statuses or None,
        source="rest",
        create=True,
    )
    log.info(
        "Reconciled invitation %s with Catena: status %s, fleet %s, %d connection(s)%s",
        invitation_id,
        status,
        fleet_id or "unknown",
        len(statuses),
        ", connected" if connected else "",
    )
    ended_wait = bool(onboarding and onboarding.is_terminal and not (known and known.is_terminal))
    return Reconciliation(invitation_id, status, fleet_id, connected, onboarding, ended_wait)
