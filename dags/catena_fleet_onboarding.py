"""Onboard one fleet onto Catena: invitation (magic link) -> wait until connected -> first ingestion.

Trigger from the UI or ``POST /api/v2/dags/catena_fleet_onboarding/dagRuns`` with
``{"logical_date": null, "conf": {"fleet_ref": "acme-1", "fleet_name": "Acme One"}}``; a bad conf
is refused (400) naming the field before anything reaches Catena.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from catena_airflow.workflows.onboarding import checked_invitation_request, onboarding_chain
from catena_airflow.workflows.params import onboarding_params

with DAG(
    dag_id="catena_fleet_onboarding",
    description="Invite one fleet to Catena, wait for its connection (webhook-woken), ingest its data",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=50,
    params=onboarding_params(),
    render_template_as_native_obj=True,
    tags=["catena", "onboarding"],
    doc_md=__doc__,
):

    @task
    def invitation_request(params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The invitation fields of this run, checked as Catena would (names the bad field)."""
        return checked_invitation_request(params or {})

    onboarding_chain(
        invitation_request(),
        poll_interval="{{ params.poll_interval }}",
        reconcile_interval="{{ params.reconcile_interval }}",
        reinvite_on_expiry="{{ params.reinvite_on_expiry }}",
    )
