"""The ``[catena]`` configuration section, declared once: provider info, the resolver and the docs read it.

No Airflow import here: ``get_provider_info`` imports this module while Airflow loads its configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

SECTION = "catena"
VERSION_ADDED = "0.1.0"

OptionType = Literal["string", "boolean", "integer", "float"]


@dataclass(frozen=True, kw_only=True)
class Option:
    """One ``[catena]`` option.

    ``alias``: the older ``CATENA_*`` environment variable, read when the option is unset (devstack, the
    tests and docker-compose set these). ``default``: the embedded default, None when it is computed
    (paths under ``AIRFLOW_HOME``). An option with an alias declares no default to Airflow, or Airflow
    would answer with it and the alias would never be read.
    """

    key: str
    description: str
    type: OptionType = "string"
    default: str | None = None
    example: str | None = None
    alias: str | None = None
    sensitive: bool = False

    def provider_info(self) -> dict[str, Any]:
        text = self.description
        if self.alias and self.default is not None:
            text += f" Default: ``{self.default}``."
        if self.alias:
            text += f" Alias: the environment variable ``{self.alias}``, read when this option is unset."
        return {
            "description": text,
            "version_added": VERSION_ADDED,
            "type": self.type,
            "example": self.example,
            "default": None if self.alias else self.default,
            "sensitive": self.sensitive,
        }


OPTIONS: tuple[Option, ...] = (
    Option(
        key="inbox_url",
        description="SQLAlchemy URL of the Catena inbox (webhook events, onboardings, subscription secrets), "
        "shared by the receiver, the dashboard, tasks and triggers. Unset: SQLite ``catena_inbox.db`` under "
        "AIRFLOW_HOME, which only a single-machine executor can share.",
        example="postgresql://catena:secret@db:5432/catena_inbox",
        alias="CATENA_INBOX_URL",
        sensitive=True,
    ),
    Option(
        key="inbox_fernet_key",
        description="Fernet key(s) encrypting webhook signing secrets in the inbox; ``new,old`` during a "
        "rotation. Unset: ``[core] fernet_key``.",
        alias="CATENA_INBOX_FERNET_KEY",
        sensitive=True,
    ),
    Option(
        key="warehouse",
        description="Where dlt loads fleet data when the Airflow connection ``catena_dlt_destination`` does not "
        "exist: a URL (``duckdb:////abs/file.duckdb``, ``postgresql://...``) or a dlt destination name "
        "(``bigquery``, ``snowflake``, ``filesystem``) whose credentials dlt reads from its own configuration. "
        "Unset: DuckDB ``catena_data.duckdb`` under AIRFLOW_HOME.",
        example="postgresql://catena@db:5432/catena_warehouse",
        alias="CATENA_DLT_DESTINATION",
        sensitive=True,
    ),
    Option(
        key="dlt_pipelines_dir",
        description="Where dlt keeps each fleet pipeline's working state (extracted files, pending loads); "
        "its cursors are also kept in the warehouse. Unset: ``dlt/pipelines`` under AIRFLOW_HOME.",
        alias="CATENA_DLT_PIPELINES_DIR",
    ),
    Option(
        key="ingestion_schedule",
        description="Schedule of ``catena_ingestion`` (cron or preset), when the Airflow Variable "
        "``catena_ingestion_schedule`` is not set. Read when the DAG file is parsed.",
        default="@hourly",
    ),
    Option(
        key="ingestion_pool",
        description="Airflow pool of the ingestion tasks: its slots bound how many fleets load from Catena at "
        "once. The api-server creates it with ``ingestion_pool_slots`` slots when it does not exist.",
        default="catena_api",
    ),
    Option(
        key="ingestion_pool_slots",
        description="Slots of ``ingestion_pool`` when the api-server creates it (an existing pool is left as is).",
        type="integer",
        default="4",
    ),
    Option(
        key="initial_lookback_days",
        description="How far back, in days, the first load of a fleet's time-filtered resources reaches (the "
        "default of ``catena_ingestion``'s param; Catena's windows are split at 45 days).",
        type="float",
        default="1",
    ),
    Option(
        key="correction_window_hours",
        description="How far before its cursor each load of a resource filtered by ``occurred_at`` reads again, "
        "to merge the corrections and deletions Catena makes to rows after they occurred (the API cannot "
        "filter those by ``updated_at``); the default of ``catena_ingestion``'s param. 0: never re-read.",
        type="float",
        default="1",
    ),
    Option(
        key="receiver_url",
        description="Public URL Catena delivers webhooks to (the api-server's ``/catena/webhooks``), used by "
        "``catena_setup``. Unset: the Airflow Variable ``catena_receiver_url``, else "
        "``http://localhost:8080/catena/webhooks``.",
        example="https://airflow.example.com/catena/webhooks",
    ),
    Option(
        key="webhook_secrets",
        description="Webhook signing secrets accepted for every subscription, comma-separated (the new and "
        "the old one during a rotation), on top of those ``catena_setup`` stores in the inbox.",
        alias="CATENA_WEBHOOK_SECRET",
        sensitive=True,
    ),
    Option(
        key="tune_gc",
        description="Freeze the api-server's start-up heap out of Python's garbage collector (lower p99 of "
        "every route).",
        type="boolean",
        default="False",
        alias="CATENA_TUNE_GC",
    ),
    Option(
        key="sensor_poll_interval",
        description="Seconds between inbox reads of a waiting fleet-connected sensor's trigger (the default "
        "of the onboarding DAGs' ``poll_interval`` param).",
        type="float",
        default="1.0",
    ),
    Option(
        key="reconcile_interval",
        description="Seconds between REST reconciliations of a waiting onboarding with Catena (the default of "
        "the onboarding DAGs' ``reconcile_interval`` param).",
        type="float",
        default="300",
    ),
    Option(
        key="watcher_poll_interval",
        description="Seconds between inbox reads of the operations DAG's asset watchers.",
        type="float",
        default="2.0",
    ),
    Option(
        key="dashboard_stuck_after_minutes",
        description="An unfinished onboarding without progress for this long is shown as stuck.",
        type="integer",
        default="1440",
    ),
    Option(
        key="dashboard_expiry_warning_minutes",
        description="An invitation not accepted yet that expires within this window is shown as stuck.",
        type="integer",
        default="1440",
    ),
    Option(
        key="dashboard_refresh_seconds",
        description="How often the dashboard page refreshes.",
        type="integer",
        default="5",
    ),
    Option(
        key="dashboard_dag_ids",
        description="The DAGs whose data the dashboard shows, comma-separated: a user the auth manager does not "
        "let read all of them gets 403 from the dashboard and its API.",
        default="catena_fleet_onboarding,catena_bulk_onboarding,catena_fleet_operations,catena_ingestion",
    ),
    Option(
        key="operations_dag_id",
        description="The DAG whose runs handle operational alerts (the dashboard links an alert to its run).",
        default="catena_fleet_operations",
    ),
)

OPTION_BY_KEY: dict[str, Option] = {option.key: option for option in OPTIONS}


def provider_config() -> dict[str, Any]:
    """The ``config`` entry of ``get_provider_info()``."""
    return {
        SECTION: {
            "description": "Catena Telematics: where the inbox and fleet data live, the webhook receiver, "
            "polling and the dashboard.",
            "options": {option.key: option.provider_info() for option in OPTIONS},
        }
    }
