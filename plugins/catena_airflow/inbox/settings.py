"""Where the inbox lives: the project's own setting, never Airflow's metadata database."""

from __future__ import annotations

import os
from pathlib import Path

INBOX_URL_ENV = "CATENA_INBOX_URL"


def default_inbox_path() -> Path:
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return (Path(home).expanduser() / "catena_inbox.db").resolve()


def inbox_url_from_env() -> str:
    """``CATENA_INBOX_URL``, else a SQLite file ``catena_inbox.db`` under ``AIRFLOW_HOME`` (absolute path)."""
    url = os.environ.get(INBOX_URL_ENV, "").strip()
    return url or f"sqlite:///{default_inbox_path()}"
