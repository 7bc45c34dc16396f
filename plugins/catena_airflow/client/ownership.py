"""Which fleet belongs to which ``fleet_ref``, by what Catena's API promises, checked item by item.

Catena's seed advice: "use your share agreements to map fleet_id back to your internal fleet_ref".
List filters are trusted for nothing: a server that ignores a filter (an older or newer version, or
one that simply does not know it) returns every agreement, so each item is checked against what was
asked before it counts. The invitation, read by its own id, is the second documented source: once
accepted it names its ``fleet_id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from catena_airflow.client._base import status_value
from catena_airflow.client.errors import CatenaError
from catena_airflow.client.models import ShareAgreement

if TYPE_CHECKING:
    from catena_airflow.client.client import CatenaClient

ACTIVE = "active"


class FleetOwnershipError(CatenaError):
    """Catena does not show that a fleet belongs to the onboarding's ``fleet_ref``: copy nothing."""


def _newest_first(agreements: Iterable[ShareAgreement]) -> list[ShareAgreement]:
    """Active agreements first, then the most recent (``effective_date``)."""
    return sorted(
        agreements,
        key=lambda a: (status_value(a.status) == ACTIVE, a.effective_date.isoformat() if a.effective_date else ""),
        reverse=True,
    )


def agreements_of_fleet(client: CatenaClient, fleet_id: str) -> list[ShareAgreement]:
    """The share agreements Catena shows for ``fleet_id`` (items of other fleets dropped), best first."""
    return _newest_first(a for a in client.list_share_agreements(fleet_id=fleet_id) if str(a.fleet_id) == fleet_id)


def agreements_of_ref(client: CatenaClient, fleet_ref: str) -> list[ShareAgreement]:
    """The share agreements Catena shows for ``fleet_ref`` (items without it or with another dropped)."""
    return _newest_first(a for a in client.list_share_agreements(fleet_ref=fleet_ref) if a.fleet_ref == fleet_ref)


def verify_fleet_ownership(
    client: CatenaClient, *, fleet_id: str, fleet_ref: str | None, invitation_id: str | None = None
) -> ShareAgreement:
    """The active share agreement that ties ``fleet_id`` to ``fleet_ref``; raises when Catena says otherwise.

    Proof: an active agreement of the fleet names ``fleet_ref``; or it names no ref (nullable) and the
    invitation, read by its id, names this fleet and this ref. An agreement naming another ref, or an
    invitation naming another fleet, is a mismatch. Without a ``fleet_ref`` (a fleet id given alone),
    only an active agreement of the fleet is required.
    """
    agreements = [a for a in agreements_of_fleet(client, fleet_id) if status_value(a.status) == ACTIVE]
    if not agreements:
        raise FleetOwnershipError(f"Catena shows no active share agreement for fleet {fleet_id}")
    if fleet_ref is None:
        return agreements[0]
    foreign = sorted({a.fleet_ref for a in agreements if a.fleet_ref is not None and a.fleet_ref != fleet_ref})
    if foreign:
        raise FleetOwnershipError(
            f"Fleet {fleet_id} is shared under fleet_ref {', '.join(foreign)}, not {fleet_ref!r}: "
            "it belongs to another onboarding"
        )
    named = [a for a in agreements if a.fleet_ref == fleet_ref]
    if named:
        return named[0]
    if invitation_id:
        invitation = client.get_invitation(invitation_id)
        if str(invitation.fleet_id or "") == fleet_id and invitation.fleet_ref == fleet_ref:
            return agreements[0]
        if invitation.fleet_id and str(invitation.fleet_id) != fleet_id:
            raise FleetOwnershipError(
                f"Invitation {invitation_id} of {fleet_ref!r} was accepted by fleet {invitation.fleet_id}, "
                f"not {fleet_id}"
            )
    raise FleetOwnershipError(
        f"Catena does not show that fleet {fleet_id} belongs to {fleet_ref!r} (its share agreement names no "
        "fleet_ref and no invitation names the fleet)"
    )


__all__ = ["FleetOwnershipError", "agreements_of_fleet", "agreements_of_ref", "verify_fleet_ownership"]
