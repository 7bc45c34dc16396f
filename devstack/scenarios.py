"""The demo's fleets: one per sandbox scenario, each with the outcome the system must reach.

The sandbox picks a fleet's behaviour from the ``fleet_ref`` prefix (sandbox/README.md, Scenarios).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from catena_airflow.inbox import Stage

ONBOARDING_DAG = "catena_fleet_onboarding"
BULK_ONBOARDING_DAG = "catena_bulk_onboarding"
OPERATIONS_DAG = "catena_fleet_operations"
SETUP_DAG = "catena_setup"


@dataclass(frozen=True)
class FleetScenario:
    kind: str
    fleet_ref: str
    fleet_name: str
    run_state: str  # the onboarding run's expected final state
    stage: Stage  # the onboarding's expected final stage in the inbox
    ingests: bool  # rows must reach the destination database
    operations: tuple[str, ...]  # operational events of this fleet the operations DAG must handle

    def conf(self) -> dict[str, Any]:
        """The onboarding run's conf (no secrets: it is visible in the UI)."""
        return {"fleet_ref": self.fleet_ref, "fleet_name": self.fleet_name}


_OUTCOMES: dict[str, tuple[str, Stage, bool, tuple[str, ...]]] = {
    # kind: (run state, final stage, ingests, operational events handled)
    "happy": ("success", Stage.CONNECTED, True, ()),
    "reuse": ("success", Stage.CONNECTED, True, ()),
    "decline": ("failed", Stage.DECLINED, False, ()),
    # The stale connection pauses ingestion; whether rows arrive first depends on timing.
    "stale": ("success", Stage.CONNECTED, False, ("connection.staled",)),
    "failing": ("success", Stage.CONNECTED, True, ("execution.failed", "schedule.deactivated")),
}
KINDS = tuple(_OUTCOMES)


def demo_fleets(tag: str | None = None, kinds: tuple[str, ...] = KINDS) -> list[FleetScenario]:
    """One fleet per scenario kind; ``tag`` keeps fleet refs unique across runs against one sandbox."""
    tag = tag or secrets.token_hex(3)
    fleets = []
    for kind in kinds:
        run_state, stage, ingests, operations = _OUTCOMES[kind]
        fleets.append(
            FleetScenario(
                kind=kind,
                fleet_ref=f"{kind}-{tag}",
                fleet_name=f"{kind.capitalize()} Trucking {tag}",
                run_state=run_state,
                stage=stage,
                ingests=ingests,
                operations=operations,
            )
        )
    return fleets
