"""Read-only queries of the dashboard over the inbox.

Every read goes through ``InboxStore`` (the inbox is the only code that touches its tables). The funnel
(a cohort by invitation time), the stuck filter and the alert scan are dashboard-only questions,
answered here in Python over the store's reads: the invitation time and "stuck" depend on stage times
inside the projected state, so they are decided over the onboardings a SQL prefilter (``updated_at``,
unfinished stages) leaves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from catena_airflow.inbox import InboxStore
from catena_airflow.inbox.models import FAILURE_STAGES, PROGRESS_STAGES, Onboarding, Stage
from catena_airflow.ui.dag_runs import InboxEventRef
from catena_airflow.ui.fleet_view import fleet_health, invited_at, reached_stages, stuck_reasons
from catena_airflow.ui.schemas import Funnel, FunnelStage
from catena_airflow.ui.settings import DashboardSettings

# The funnel the issue asks for; ``sent`` is a delivery detail of ``invited`` and is folded into it.
FUNNEL_STAGES: tuple[Stage, ...] = (
    Stage.INVITED,
    Stage.VIEWED,
    Stage.ACCEPTED,
    Stage.SHARE_AGREEMENT,
    Stage.CONNECTION,
    Stage.CONNECTED,
)
STAGE_LABELS: dict[Stage, str] = {
    Stage.INVITED: "Invited",
    Stage.SENT: "Sent",
    Stage.VIEWED: "Viewed",
    Stage.ACCEPTED: "Accepted",
    Stage.SHARE_AGREEMENT: "Share agreement",
    Stage.CONNECTION: "Connection",
    Stage.CONNECTED: "Connected",
    Stage.DECLINED: "Declined",
    Stage.EXPIRED: "Expired",
    Stage.DELETED: "Deleted",
}
UNFINISHED_STAGES: tuple[str, ...] = tuple(s.value for s in PROGRESS_STAGES if s is not Stage.CONNECTED)
# Connections and schedules exist from the connection stage on.
OPERATIONAL_STAGES: tuple[str, ...] = (Stage.CONNECTION.value, Stage.CONNECTED.value)


@dataclass(frozen=True, kw_only=True)
class FleetFilter:
    stage: Stage | None = None
    search: str | None = None
    stuck_only: bool = False
    since: datetime | None = None


class DashboardQueries:
    """Answers the dashboard's questions from one inbox."""

    def __init__(self, store: InboxStore) -> None:
        self._store = store

    def funnel(self, *, since: datetime | None) -> Funnel:
        """Onboardings invited at or after ``since`` (all when None), by the furthest stage they reached."""
        reached: Counter[Stage] = Counter()
        failures: Counter[str] = Counter({stage.value: 0 for stage in sorted(FAILURE_STAGES)})
        total = 0
        # Superset prefilter in SQL (a row invited after ``since`` was updated after it too);
        # the invitation time itself is a stage time inside the projected state.
        for onboarding in self._store.list_onboardings(since=since, limit=None):
            if since is not None and invited_at(onboarding) < since:
                continue
            total += 1
            reached.update(reached_stages(onboarding))
            if onboarding.stage.is_failure:
                failures[onboarding.stage.value] += 1
        stages = []
        previous: int | None = None
        start = reached[Stage.INVITED]
        for stage in FUNNEL_STAGES:
            count = reached[stage]
            stages.append(
                FunnelStage(
                    stage=stage.value,
                    label=STAGE_LABELS[stage],
                    count=count,
                    conversion_from_previous=None if previous is None else _ratio(count, previous),
                    conversion_from_start=_ratio(count, start),
                )
            )
            previous = count
        return Funnel(
            since=since,
            total=total,
            stages=stages,
            in_progress=total - reached[Stage.CONNECTED] - sum(failures.values()),
            failures=dict(failures),
        )

    def fleets(
        self, flt: FleetFilter, *, limit: int, offset: int, now: datetime, settings: DashboardSettings
    ) -> tuple[int, list[Onboarding]]:
        """One page of onboardings, most recently updated first, with the total matching the filter."""
        stage = flt.stage.value if flt.stage is not None else None
        if not flt.stuck_only:
            total = self._store.count_onboardings(stage=stage, since=flt.since, search=flt.search)
            page = self._store.list_onboardings(
                stage=stage, since=flt.since, search=flt.search, limit=limit, offset=offset
            )
            return total, page
        stages = [s for s in UNFINISHED_STAGES if stage is None or s == stage]
        stuck = [
            o
            for o in self._all(stages, since=flt.since, search=flt.search)
            if stuck_reasons(o, now=now, settings=settings)
        ]
        return len(stuck), stuck[offset : offset + limit]

    def attempts(self, fleet_refs: Sequence[str]) -> dict[str, list[Onboarding]]:
        """Every onboarding of these fleet refs, oldest first (a fleet invited again has several)."""
        return self._store.onboardings_for_refs(fleet_refs)

    def with_operational_issues(self) -> list[Onboarding]:
        """Connecting or connected fleets with a stale connection, a deactivated schedule or failed runs."""
        return [o for o in self._all(OPERATIONAL_STAGES) if fleet_health(o).status == "attention"]

    def latest_events(self, event_name: str, connection_ids: Sequence[str]) -> dict[str, InboxEventRef]:
        """The most recent inbox event named ``event_name`` per connection id (the alert's origin)."""
        latest = self._store.latest_event_per_connection(event_name, connection_ids)
        return {
            connection_id: InboxEventRef(event_id=event.event_id, received_at=event.received_at)
            for connection_id, event in latest.items()
        }

    def stage_counts(self) -> dict[str, int]:
        """Onboardings per current stage, every stage present (zero when none)."""
        found = self._store.stage_counts()
        return {stage.value: int(found.get(stage, 0)) for stage in Stage}

    def _all(
        self, stages: Sequence[str], *, since: datetime | None = None, search: str | None = None
    ) -> list[Onboarding]:
        if not stages:
            return []
        return self._store.list_onboardings(stage=stages, since=since, search=search, limit=None)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
