"""Dashboard thresholds, read from the ``[catena]`` section (``catena_airflow.config``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from catena_airflow import config


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
        """``[catena] dashboard_stuck_after_minutes`` and friends (declared defaults when unset)."""
        return cls(
            stuck_after=_minutes("dashboard_stuck_after_minutes"),
            expiry_warning=_minutes("dashboard_expiry_warning_minutes"),
            refresh_seconds=config.get_int("dashboard_refresh_seconds"),
            operations_dag_id=config.get_option("operations_dag_id") or cls.operations_dag_id,
        )


def _minutes(key: str) -> timedelta:
    value = config.get_int(key)
    if value <= 0:
        raise ValueError(f"[{config.SECTION}] {key} must be a positive number of minutes, got {value}")
    return timedelta(minutes=value)
