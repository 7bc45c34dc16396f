"""What ``catena_ingestion`` loads: one item per connected fleet, from the inbox, for dynamic task mapping."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from catena_airflow.inbox import InboxStore, Onboarding
from catena_airflow.inbox.models import Stage

#: Airflow's default ``[core] max_map_length``: a mapped task cannot expand further.
MAX_MAP_LENGTH = 1024


def _moment(onboarding: Onboarding) -> datetime:
    return onboarding.connected_at or onboarding.updated_at or onboarding.created_at or datetime.min.replace(tzinfo=UTC)


def connected_fleets(
    inbox: InboxStore, *, fleet_refs: Collection[str] = (), max_fleets: int = MAX_MAP_LENGTH
) -> list[dict[str, Any]]:
    """Each connected fleet once (by fleet id, its newest connected onboarding), sorted by fleet ref.

    Paused fleets are included: their task skips with the reason, where a user sees it. An item carries
    what the ingestion task needs to prove the fleet is this onboarding's (``fleet_ref``, ``invitation_id``).
    More fleets than a mapped task can expand to is an error naming the setting, not a silent cut.
    """
    wanted = set(fleet_refs)
    # One read of them all: pages by offset could skip a row whose update moved it between pages.
    onboardings = inbox.list_onboardings(stage=Stage.CONNECTED, limit=None)
    by_fleet: dict[str, Onboarding] = {}
    for onboarding in onboardings:
        if not onboarding.fleet_id or (wanted and onboarding.fleet_ref not in wanted):
            continue
        known = by_fleet.get(onboarding.fleet_id)
        if known is None or _moment(onboarding) > _moment(known):
            by_fleet[onboarding.fleet_id] = onboarding
    if len(by_fleet) > max_fleets:
        raise ValueError(
            f"{len(by_fleet)} connected fleets, more than one mapped task can load ({max_fleets}): raise "
            "[core] max_map_length, or run catena_ingestion per group of fleet_refs"
        )
    items = [
        {"fleet_id": o.fleet_id, "fleet_ref": o.fleet_ref, "invitation_id": o.invitation_id} for o in by_fleet.values()
    ]
    return sorted(items, key=lambda item: (item["fleet_ref"] or "", item["fleet_id"]))


__all__ = ["MAX_MAP_LENGTH", "connected_fleets"]
