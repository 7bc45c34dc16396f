"""dlt's defaults hold from the first thing a task's process does with dlt, whichever entry point that is."""

from __future__ import annotations

import os
import subprocess
import sys

from catena_airflow.ingest.dlt_environment import AIRFLOW_SECRETS_ENV, TELEMETRY_ENV

# A fresh interpreter each: dlt builds its configuration providers once per process.
FIRST_A_SOURCE = """
from datetime import UTC, datetime
from catena_airflow.ingest.dlt_source import fleet_source
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

fleet_source(client=None, fleet_id="f-1", until=datetime.now(UTC))
print([provider.name for provider in Container()[PluggableRunContext].providers.providers])
"""


def providers_after_making_a_source(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in (AIRFLOW_SECRETS_ENV, TELEMETRY_ENV)}
    result = subprocess.run(
        [sys.executable, "-c", FIRST_A_SOURCE], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_a_source_made_first_does_not_turn_on_dlts_airflow_variable_lookups():
    providers = providers_after_making_a_source()
    assert "Environment Variables" in providers and "Airflow" not in providers


def test_a_deployments_own_setting_wins():
    assert "Airflow Secrets TOML Provider" in providers_after_making_a_source(**{AIRFLOW_SECRETS_ENV: "true"})
