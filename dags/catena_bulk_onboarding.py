"""Onboard many fleets in one run: one mapped onboarding chain per fleet, each independent of the others.

Conf: ``{"fleets": [{"fleet_ref": "acme-1"}, {"fleet_ref": "acme-2", "fleet_name": "Acme Two"}],
"expires_in_hours": 72}``. A fleet that declines or fails only fails its own chain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task, task_group

from catena_airflow.workflows.onboarding import onboarding_chain, validate_fleet
from catena_airflow.workflows.params import bulk_onboarding_params, fleet_requests

with DAG(
    dag_id="catena_bulk_onboarding",
    description="Invite a list of fleets to Catena; wait for and ingest each one independently",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params=bulk_onboarding_params(),
    render_template_as_native_obj=True,
    tags=["catena", "onboarding"],
    doc_md=__doc__,
):

    @task
    def list_fleets(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One invitation request per fleet, the run's defaults merged under each fleet's fields."""
        return fleet_requests(params or {})

    @task_group(group_id="onboard_fleet")
    def onboard_fleet(fleet: dict[str, Any]) -> None:
        onboarding_chain(
            validate_fleet(fleet),
            poll_interval="{{ params.poll_interval }}",
            reconcile_interval="{{ params.reconcile_interval }}",
            reinvite_on_expiry="{{ params.reinvite_on_expiry }}",
        )

    onboard_fleet.expand(fleet=list_fleets())
