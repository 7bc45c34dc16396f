"""Envelopes of one fleet's onboarding, shaped as Catena's newest notifications spec defines them.

Records carry only the fields of the spec's schemas (``BaseInvitationEvent``, ``BaseShareAgreementEvent``,
...). Where the spec is nullable or changed between versions, a ``Variant`` picks one shape: the
product must reach the same final state with each (catena-api.md §3.9, §7).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

INVITATION_ID = "019d0000-0000-7000-8000-00000000a001"
FLEET_ID = "019d0000-0000-7000-8000-00000000f001"
CONNECTION_ID = "019d0000-0000-7000-8000-00000000c001"
SCHEDULE_ID = "019d0000-0000-7000-8000-00000000e001"
WEBHOOK_ID = "019d0000-0000-7000-8000-000000000001"
PARTNER_ID = "019d0000-0000-7000-8000-0000000000b1"
TSP_ID = "019d0000-0000-7000-8000-0000000000d1"
FLEET_REF = "FLEET-42"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Variant:
    """The spec's open choices, as one Catena deployment might make them."""

    #: ``invitation.accepted`` (and later invitation records) carry the fleet id (nullable in the spec).
    accepted_fleet_id: bool = True
    #: Invitation records carry ``fleet_ref`` (nullable in the spec).
    invitation_fleet_ref: bool = True
    #: Share agreements carry ``fleet_ref`` (nullable in the spec).
    share_agreement_fleet_ref: bool = True
    #: Share agreements' ``invitation_id`` of older spec versions: ``absent``, ``present`` or ``null``.
    share_agreement_invitation_id: str = "absent"

    @property
    def links_by_events(self) -> bool:
        """Whether the events alone tie the fleet id to the invitation (else REST must)."""
        return self.accepted_fleet_id or self.share_agreement_fleet_ref


NEWEST = Variant()
OLDEST = Variant(share_agreement_invitation_id="present")
#: Every combination of the open choices.
VARIANTS = tuple(
    Variant(*choice) for choice in product((True, False), (True, False), (True, False), ("absent", "present", "null"))
)


def envelope(n: int, event_name: str, record: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """Envelope number ``n`` (its event id and timestamp follow from ``n``)."""
    return {
        "version": "1.0",
        "event_name": event_name,
        "webhook_id": WEBHOOK_ID,
        "timestamp": at(n).isoformat().replace("+00:00", "Z"),
        "id": event_id or f"019d0000-0000-7000-8000-{n:012d}",
        "delivery_attempt": 1,
        "data": [record],
    }


def at(n: int) -> datetime:
    """The time of envelope ``n``."""
    return T0 + timedelta(minutes=n)


def body(env: dict[str, Any]) -> bytes:
    return json.dumps(env, separators=(",", ":")).encode()


def invitation_record(
    status: str,
    *,
    variant: Variant = NEWEST,
    invitation_id: str = INVITATION_ID,
    fleet_ref: str = FLEET_REF,
    created: datetime = T0,
    expires: datetime | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A ``BaseInvitationEvent`` record."""
    record: dict[str, Any] = {
        "id": invitation_id,
        "created_at": created.isoformat(),
        "magic_link": f"https://connect.catenatelematics.com/?invite={invitation_id}",
        "expires_at": (expires or created + timedelta(hours=24)).isoformat(),
        "expires_in_hours": 24,
        "status": status,
        "fleet_ref": fleet_ref if variant.invitation_fleet_ref else None,
        "partner_id": PARTNER_ID,
        **fields,
    }
    if "fleet_id" in record and not variant.accepted_fleet_id:
        record["fleet_id"] = None
    return record


def share_agreement_record(
    *,
    variant: Variant = NEWEST,
    invitation_id: str = INVITATION_ID,
    fleet_id: str = FLEET_ID,
    fleet_ref: str = FLEET_REF,
    sa_id: str = "019d0000-0000-7000-8000-0000000005a1",
    status: str = "active",
    effective: datetime | None = None,
) -> dict[str, Any]:
    """A ``BaseShareAgreementEvent`` record (with the older versions' ``invitation_id`` if the variant says so)."""
    record: dict[str, Any] = {
        "id": sa_id,
        "fleet_id": fleet_id,
        "partner_id": PARTNER_ID,
        "fleet_ref": fleet_ref if variant.share_agreement_fleet_ref else None,
        "status": status,
        "effective_date": effective.isoformat() if effective else None,
        "expiration_date": None,
        "scopes": {"vehicle": "read", "vehicle_location": "read", "user": None},
    }
    if variant.share_agreement_invitation_id == "present":
        record["invitation_id"] = invitation_id
    elif variant.share_agreement_invitation_id == "null":
        record["invitation_id"] = None
    return record


def connection_record(status: str = "active", *, fleet_id: str = FLEET_ID, conn_id: str = CONNECTION_ID) -> dict:
    return {"id": conn_id, "source_name": "samsara", "fleet_id": fleet_id, "tsp_id": TSP_ID, "status": status}


def fleet_events(
    first_n: int,
    *,
    with_connection_created: bool = True,
    variant: Variant = NEWEST,
    invitation_id: str = INVITATION_ID,
    fleet_id: str = FLEET_ID,
    fleet_ref: str = FLEET_REF,
    created: datetime = T0,
) -> list[dict[str, Any]]:
    """From acceptance to ``fleet_connection.created``."""
    n = first_n
    conn_id = CONNECTION_ID if fleet_id == FLEET_ID else f"{fleet_id[:-4]}c0nn"
    accepted = invitation_record(
        "accepted",
        variant=variant,
        invitation_id=invitation_id,
        fleet_ref=fleet_ref,
        created=created,
        fleet_id=fleet_id,
        accepted_at=at(n).isoformat(),
    )
    out = [
        envelope(n, "invitation.accepted", accepted, event_id=_event_id(invitation_id, n)),
        envelope(
            n + 1,
            "share_agreement.created",
            share_agreement_record(
                variant=variant,
                invitation_id=invitation_id,
                fleet_id=fleet_id,
                fleet_ref=fleet_ref,
                sa_id=f"{fleet_id[:-4]}5a00",
                effective=at(n),
            ),
            event_id=_event_id(invitation_id, n + 1),
        ),
    ]
    if with_connection_created:
        out.append(
            envelope(
                n + 2,
                "connection.created",
                connection_record(fleet_id=fleet_id, conn_id=conn_id),
                event_id=_event_id(invitation_id, n + 2),
            )
        )
    out.append(
        envelope(
            n + 3,
            "fleet_connection.created",
            {"id": f"{fleet_id[:-4]}fc00", "fleet_id": fleet_id, "connection_id": conn_id},
            event_id=_event_id(invitation_id, n + 3),
        )
    )
    return out


def _event_id(invitation_id: str, n: int) -> str | None:
    """The default ids for the main invitation; others get ids of their own."""
    return None if invitation_id == INVITATION_ID else f"{invitation_id[:-8]}{n:08d}"


def operational_events(first_n: int) -> list[dict[str, Any]]:
    execution = {
        "schedule_id": SCHEDULE_ID,
        "connection_id": CONNECTION_ID,
        "fleet_id": FLEET_ID,
        "status": "failed",
        "source_name": "samsara",
        "resource": "vehicle",
        "created_at": T0.isoformat(),
    }
    return [
        envelope(first_n, "execution.failed", {"id": "x-1", **execution, "updated_at": "2026-03-01T13:00:00Z"}),
        envelope(first_n + 1, "execution.failed", {"id": "x-2", **execution, "updated_at": "2026-03-01T13:05:00Z"}),
        envelope(
            first_n + 2,
            "schedule.deactivated",
            {
                "id": SCHEDULE_ID,
                "connection_id": CONNECTION_ID,
                "resource": "vehicle",
                "execution_interval_seconds": 300,
                "status": "inactive",
                "consecutive_error_threshold": 2,
                "max_concurrent_executions": 1,
            },
        ),
        envelope(first_n + 3, "connection.staled", connection_record("stale")),
    ]


def happy(variant: Variant = NEWEST) -> list[dict[str, Any]]:
    active = invitation_record("active", variant=variant)
    return [
        envelope(1, "invitation.created", active),
        envelope(2, "invitation.sent", active),
        envelope(3, "invitation.viewed", active),
        *fleet_events(4, variant=variant),
    ]


def reuse(variant: Variant = NEWEST) -> list[dict[str, Any]]:
    """The fleet already had a connection to its TSP: no ``connection.created``."""
    return [
        envelope(1, "invitation.created", invitation_record("active", variant=variant)),
        *fleet_events(4, with_connection_created=False, variant=variant),
    ]


def declined(variant: Variant = NEWEST) -> list[dict[str, Any]]:
    active = invitation_record("active", variant=variant)
    return [
        envelope(1, "invitation.created", active),
        envelope(2, "invitation.viewed", active),
        envelope(
            3,
            "invitation.declined",
            invitation_record(
                "declined",
                variant=variant,
                decline_reason="Not ready yet \u2014 try Q3",
                declined_at="2026-03-01T12:03:00Z",
            ),
        ),
    ]


def expired(variant: Variant = NEWEST) -> list[dict[str, Any]]:
    active = invitation_record("active", variant=variant, expires=at(3))
    return [
        envelope(1, "invitation.created", active),
        envelope(2, "invitation.sent", active),
        envelope(3, "invitation.expired", invitation_record("expired", variant=variant, expires=at(3))),
    ]


def deleted(variant: Variant = NEWEST) -> list[dict[str, Any]]:
    return [
        envelope(1, "invitation.created", invitation_record("active", variant=variant)),
        envelope(2, "invitation.deleted", invitation_record("deleted", variant=variant)),
    ]


def registration(invitation_id: str = INVITATION_ID, *, created: datetime = T0, **fields: Any) -> dict[str, Any]:
    """What the create-invitation operator registers: Catena's ``InvitationRead`` of the invitation."""
    return {
        "id": invitation_id,
        "fleet_ref": FLEET_REF,
        "status": "active",
        "created_at": created.isoformat(),
        "expires_at": (created + timedelta(hours=24)).isoformat(),
        "magic_link": f"https://connect.catenatelematics.com/?invite={invitation_id}",
        **fields,
    }


#: Events of a fleet that is not ours (another partner's ref, its own fleet id): they must link nothing.
FOREIGN_FLEET_ID = "019d0000-0000-7000-8000-00000000f999"


def foreign_events(first_n: int) -> list[dict[str, Any]]:
    return [
        envelope(
            first_n,
            "share_agreement.created",
            share_agreement_record(fleet_id=FOREIGN_FLEET_ID, fleet_ref="SOMEONE-ELSE", sa_id="sa-foreign"),
        ),
        envelope(first_n + 1, "connection.created", connection_record(fleet_id=FOREIGN_FLEET_ID, conn_id="c-foreign")),
        envelope(
            first_n + 2,
            "fleet_connection.created",
            {"id": "fc-foreign", "fleet_id": FOREIGN_FLEET_ID, "connection_id": "c-foreign"},
        ),
    ]


SCENARIOS = {
    "happy": (happy, "connected"),
    "happy+operations": (lambda variant=NEWEST: happy(variant) + operational_events(20), "connected"),
    "reuse": (reuse, "connected"),
    "declined": (declined, "declined"),
    "expired": (expired, "expired"),
    "deleted": (deleted, "deleted"),
}
