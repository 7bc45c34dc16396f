"""Test-session set-up shared by every test: an isolated AIRFLOW_HOME, before Airflow is imported."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Airflow reads its configuration at import time, so the environment is set here, at collection.
_AIRFLOW_HOME = Path(os.environ.get("CATENA_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="catena-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(_AIRFLOW_HOME / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}")
os.environ.setdefault("CATENA_INBOX_URL", f"sqlite:///{_AIRFLOW_HOME / 'catena_inbox.db'}")
# One Fernet key for the session and every process it starts, as in a deployment (all components share
# one): in unit-test mode Airflow would otherwise make up a key per process, and the inbox's secrets, which
# follow [core] fernet_key, would not decrypt in the receiver that a test starts.
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "U2LCLIMA9R7pxST-ZlvUsOwhLj7BJvbsm5REbX-oIvA=")

pytest_plugins = [
    "tests.fixtures.net",
    "tests.fixtures.services",
    "tests.fixtures.databases",
    "tests.fixtures.airflow",
    "tests.fixtures.sandbox",
    "tests.fixtures.receiver",
]
