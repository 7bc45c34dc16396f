"""dlt's process-wide settings that ingestion defaults, set before dlt first reads its configuration.

dlt builds its configuration providers once per process, on the first configuration it resolves (making
a source does): a default set after that is too late. So every entry point that can be first, the source
(``fleet_source``) and the pipeline (``fleet_pipeline``), calls ``apply_dlt_defaults()`` before anything
else. Each is a default (``setdefault``): a deployment's own value wins.
"""

from __future__ import annotations

import os

#: dlt reports anonymous usage to its vendor unless told not to; ingestion talks to Catena and the
#: destination only. A deployment that wants it sets RUNTIME__DLTHUB_TELEMETRY=true itself.
TELEMETRY_ENV = "RUNTIME__DLTHUB_TELEMETRY"
#: Where Airflow is installed, dlt looks up every configuration key it resolves (thousands a load) as an
#: Airflow Variable; in a task each is a round trip, and each miss is logged with its traceback: it cost
#: 2.5 s of a 20,000-row load, and half the loading speed of a process that made its source first
#: (benchmarks/ingest_load.py). The destination comes from ``[catena]`` or dlt's own configuration
#: (environment, ``.dlt/secrets.toml``) instead. A deployment that keeps dlt's secrets in the Airflow
#: Variable ``dlt_secrets_toml`` sets PROVIDERS__ENABLE_AIRFLOW_SECRETS=true.
AIRFLOW_SECRETS_ENV = "PROVIDERS__ENABLE_AIRFLOW_SECRETS"

DLT_DEFAULTS = {TELEMETRY_ENV: "false", AIRFLOW_SECRETS_ENV: "false"}


def apply_dlt_defaults() -> None:
    for name, value in DLT_DEFAULTS.items():
        os.environ.setdefault(name, value)


__all__ = ["AIRFLOW_SECRETS_ENV", "DLT_DEFAULTS", "TELEMETRY_ENV", "apply_dlt_defaults"]
