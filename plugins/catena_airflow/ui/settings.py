"""Dashboard thresholds, read from Airflow's configuration (``[catena]`` section or its env vars)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from airflow.configuration import conf

SECTION = "catena"


@dataclass(frozen=True, kw_only=True)
class DashboardSettings:
    """What counts as stuck, and how often the page refreshes.

    ``stuck_after``: an unfinished onboarding with no progress for this long is stuck.
    ``expiry_warning``: an invitation not yet accepted that expires within this window is stuck too.
    ``operations_dag_id``: the DAG whose runs handle operational alerts.
    """

    stuck_after: timedelta = timedelta(hours=24)
    expiry_warning: timedelta = timedelta(hours=24)
    refresh_seconds: int = 5
    operations_dag_id: str = "catena_fleet_operations"

    @classmethod
    def from_airflow_config(cls) -> DashboardSettings:
        """``AIRFLOW__CATENA__DASHBOARD_STUCK_AFTER_MINUTES`` and friends; defaults when unset."""
        defaults = cls()
        return cls(
            stuck_after=_minutes("dashboard_stuck_after_minutes", defaults.stuck_after),
            expiry_warning=_minutes("dashboard_expiry_warning_minutes", defaults.expiry_warning),
            refresh_seconds=conf.getint(SECTION, "dashboard_refresh_seconds", fallback=defaults.refresh_seconds),
            operations_dag_id=conf.get(SECTION, "operations_dag_id", fallback=defaults.operations_dag_id),
        )


def _minutes(key: str, default: timedelta) -> timedelta:
    value = conf.getint(SECTION, key, fallback=int(default.total_seconds() // 60))
    if value <= 0:
        raise ValueError(f"[{SECTION}] {key} must be a positive number of minutes, got {value}")
    return timedelta(minutes=value)
