"""Reconciliation of one onboarding with Catena's REST API, so a lost webhook cannot hang a wait.

Reads the invitation (by its id), then, once Catena says it was accepted, the share agreement that maps
its fleet to its ``fleet_ref`` and that fleet's connections, and writes what it learnt to the inbox as
an observation. Only the specs' filters are sent, and every item that comes back is checked against
what was asked (``client/ownership.py``), so a Catena that ignores a filter cannot make another fleet
ours. An onboarding is ``connected`` by REST only when Catena shows an active share agreement for its
``fleet_ref`` (or for the fleet its invitation names) and an active connection of that fleet.

Blocking (``requests``): callers in an event loop run it in a thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from catena_airflow.client._base import status_value
from catena_airflow.client.models import ShareAgreement
from catena_airflow.client.ownership import ACTIVE, agreements_of_fleet, agreements_of_ref
from catena_airflow.inbox import InboxStore
from catena_airflow.inbox.models import Onboarding, Stage
from catena_airflow.inbox.projection import invitation_stage_times

if TYPE_CHECKING:
    from catena_airflow.client import CatenaClient

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


def fleet_agreement(
    client: CatenaClient,
    *,
    invitation_id: str,
    fleet_ref: str | None,
    invitation_fleet_id: str | None,
    known_fleet_id: str | None,
) -> tuple[str | None, ShareAgreement | None]:
    """The accepted invitation's fleet id and its share agreement, as far as Catena proves them.

    The fleet the invitation names (REST) or the inbox already linked is looked up by ``fleet_id``; an
    agreement naming another ``fleet_ref`` disowns it. Without a known fleet, the agreements of
    ``fleet_ref`` name it.
    """
    if invitation_fleet_id and known_fleet_id and invitation_fleet_id != known_fleet_id:
        log.error(
            "Invitation %s names fleet %s but the inbox linked fleet %s: not trusting either",
            invitation_id,
            invitation_fleet_id,
            known_fleet_id,
        )
        return None, None
    fleet_id = invitation_fleet_id or known_fleet_id
    if fleet_id:
        agreements = agreements_of_fleet(client, fleet_id)
        foreign = [a for a in agreements if a.fleet_ref is not None and fleet_ref and a.fleet_ref != fleet_ref]
        if foreign:
            log.error(
                "Fleet %s is shared under fleet_ref %s, not %s (invitation %s): not linking it",
                fleet_id,
                foreign[0].fleet_ref,
                fleet_ref,
                invitation_id,
            )
            return None, None
        return fleet_id, (agreements[0] if agreements else None)
    if not fleet_ref:
        return None, None
    agreements = agreements_of_ref(client, fleet_ref)
    if not agreements:
        return None, None
    return str(agreements[0].fleet_id), agreements[0]


def reconcile_onboarding(client: CatenaClient, store: InboxStore, invitation_id: str) -> Reconciliation:
    """One REST round for ``invitation_id``; the result is merged into the inbox (rows created if missing)."""
    observed_at = datetime.now(UTC)  # before any read: an old read never lands in a newer attempt
    invitation = client.get_invitation(invitation_id)
    status = status_value(invitation.status)
    known = store.get_onboarding(invitation_id)
    fleet_ref = invitation.fleet_ref or (known.fleet_ref if known else None)
    fleet_id: str | None = None
    agreement: ShareAgreement | None = None
    if status == "accepted":
        fleet_id, agreement = fleet_agreement(
            client,
            invitation_id=invitation_id,
            fleet_ref=fleet_ref,
            invitation_fleet_id=str(invitation.fleet_id) if invitation.fleet_id else None,
            known_fleet_id=known.fleet_id if known else None,
        )
    statuses: dict[str, str] = {}
    if fleet_id and agreement is not None and status_value(agreement.status) == ACTIVE:
        for connection in client.list_connections(fleet_ids=[fleet_id]):
            if str(connection.fleet_id or "") == fleet_id:  # a server that ignored the filter
                statuses[str(connection.id)] = status_value(connection.status) or "unknown"
    connected = any(s == "active" for s in statuses.values())
    onboarding = store.record_observation(
        invitation_id,
        stage=Stage.CONNECTED if connected else None,
        stage_times=invitation_stage_times(
            status,
            observed_at=observed_at,
            accepted_at=invitation.accepted_at,
            declined_at=invitation.declined_at,
            expires_at=invitation.expires_at,
        ),
        fleet_id=fleet_id,
        fleet_ref=invitation.fleet_ref,
        invitation_status=status,
        decline_reason=invitation.decline_reason if status in _FAILED_STATUSES else None,
        expires_at=invitation.expires_at,
        share_agreement=agreement,
        connection_statuses=statuses or None,
        source="rest",
        at=observed_at,
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
