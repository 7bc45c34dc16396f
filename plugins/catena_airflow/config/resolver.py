"""The one place that says where each Catena setting comes from.

Rule, for every option: the ``[catena]`` option through Airflow's configuration (``airflow.cfg``,
``AIRFLOW__CATENA__*``, ``_cmd`` / ``_secret`` for sensitive options, the secrets backend), else its
documented ``CATENA_*`` alias, else the embedded default. Read at call time, never cached, so a
setting changed in the environment (tests, a restarted process) counts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from catena_airflow.config.options import OPTION_BY_KEY, SECTION

if TYPE_CHECKING:
    from airflow.configuration import AirflowConfigParser

_TRUE = ("1", "true", "yes", "on")


def _conf() -> AirflowConfigParser:
    # Imported late: this module is imported by code that must load before Airflow's configuration.
    from airflow.configuration import conf

    return conf


def get_option(key: str) -> str | None:
    """The option's value by the rule above; None when unset and without a default."""
    option = OPTION_BY_KEY[key]
    value = _conf().get(SECTION, key, fallback=None)
    if value is not None and str(value).strip():
        return str(value).strip()
    if option.alias:
        alias = os.environ.get(option.alias, "").strip()
        if alias:
            return alias
    return option.default


def get_float(key: str) -> float:
    return float(get_option(key) or 0)


def get_int(key: str) -> int:
    return int(get_option(key) or 0)


def get_bool(key: str) -> bool:
    return (get_option(key) or "").lower() in _TRUE


def airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser().resolve()


def inbox_url() -> str:
    """``[catena] inbox_url``, else ``CATENA_INBOX_URL``, else ``catena_inbox.db`` under AIRFLOW_HOME."""
    return get_option("inbox_url") or f"sqlite:///{airflow_home() / 'catena_inbox.db'}"


def webhook_secrets() -> tuple[str, ...]:
    """Secrets accepted for every subscription (comma-separated: several during a rotation)."""
    return tuple(s.strip() for s in (get_option("webhook_secrets") or "").split(",") if s.strip())


def inbox_fernet_key() -> str | None:
    """``[catena] inbox_fernet_key`` (or its alias), else Airflow's own ``[core] fernet_key``."""
    return get_option("inbox_fernet_key") or _conf().get("core", "fernet_key", fallback=None) or None


def receiver_url() -> str | None:
    """``[catena] receiver_url``; None when unset (the setup DAG then reads its Variable)."""
    return get_option("receiver_url")


def warehouse() -> str:
    """``[catena] warehouse``, else ``CATENA_DLT_DESTINATION``, else ``catena_data.duckdb`` under AIRFLOW_HOME."""
    return get_option("warehouse") or f"duckdb:///{airflow_home() / 'catena_data.duckdb'}"


def dlt_pipelines_dir() -> Path:
    """``[catena] dlt_pipelines_dir``, else ``CATENA_DLT_PIPELINES_DIR``, else ``dlt/pipelines`` under AIRFLOW_HOME."""
    configured = get_option("dlt_pipelines_dir")
    return Path(configured).expanduser().resolve() if configured else airflow_home() / "dlt" / "pipelines"
