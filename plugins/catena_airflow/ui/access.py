"""Who may see fleet data: the users Airflow's auth manager lets read the Catena DAGs.

The dashboard shows what those DAGs' runs produced (onboardings, alerts, rows ingested), so it follows
their permissions rather than a login alone: a user who may not read every DAG of ``[catena]
dashboard_dag_ids`` gets 403, whatever the auth manager (FAB roles, Simple, Keycloak, ...).
"""

from __future__ import annotations

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.batch_apis import IsAuthorizedDagRequest
from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, HTTPException, status

from catena_airflow import config

FORBIDDEN_DETAIL = "Forbidden: the Catena dashboard needs read access to the Catena DAGs"


def dashboard_dag_ids() -> list[str]:
    return [dag_id.strip() for dag_id in (config.get_option("dashboard_dag_ids") or "").split(",") if dag_id.strip()]


def _team_names(dag_ids: list[str]) -> dict[str, str | None]:
    """Each DAG's team (multi-team deployments authorize by it); None for all when teams are off."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return DagModel.get_dag_id_to_team_name_mapping(dag_ids, session=session)


def may_read_catena_dags(user: BaseUser) -> bool:
    """Whether the auth manager lets ``user`` read every Catena DAG (GET, as the DAG list does)."""
    dag_ids = dashboard_dag_ids()
    teams = _team_names(dag_ids)
    requests: list[IsAuthorizedDagRequest] = [
        {"method": "GET", "details": DagDetails(id=dag_id, team_name=teams.get(dag_id))} for dag_id in dag_ids
    ]
    return get_auth_manager().batch_is_authorized_dag(requests, user=user)


def _requires_catena_dag_access(user: GetUserDep) -> None:
    if not may_read_catena_dags(user):
        raise HTTPException(status.HTTP_403_FORBIDDEN, FORBIDDEN_DETAIL)


#: Route dependency of every dashboard API route: 401 without a login, 403 without the DAGs' read access.
REQUIRE_CATENA_DAG_ACCESS = Depends(_requires_catena_dag_access)
