"""The dashboard follows Airflow's auth manager: FAB roles decide who sees fleet data.

Airflow's real app with the FAB auth manager (as docker-compose runs it), real FAB users and roles in the
session's metadata database: Admin sees the fleets; a role that may read the Catena DAGs sees them; a
user whose role may read other DAGs only gets 403 from every API route and the page, and no fleet data.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from catena_airflow.inbox import InboxStore
from catena_airflow.ui.access import dashboard_dag_ids
from tests.fixtures.airflow import migrate_airflow_db
from tests.unit.ui.seeding import API_PATHS

pytestmark = pytest.mark.integration

FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
FLEET_REF = "fab-permissions-fleet"


def _add_user(sm, name: str, role) -> object:
    return sm.add_user(name, name, "User", f"{name}@example.org", role, f"{name}-password")


def _role_reading(sm, name: str, dag_ids: list[str]) -> object:
    role = sm.add_role(name)
    for dag_id in dag_ids:
        sm.add_permission_to_role(role, sm.create_permission("can_read", f"DAG:{dag_id}"))
    return role


@pytest.fixture(scope="module")
def fab(airflow_db, tmp_path_factory) -> Iterator[dict[str, dict[str, str]]]:
    """Airflow's app under the FAB auth manager, and a token per user; the session's auth manager after."""
    from airflow.api_fastapi import app as api_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__CORE__AUTH_MANAGER", FAB_AUTH_MANAGER)
        inbox_url = f"sqlite:///{tmp_path_factory.mktemp('fab-inbox') / 'inbox.db'}"
        patch.setenv("AIRFLOW__CATENA__INBOX_URL", inbox_url)
        # FAB's own tables (users, roles, permissions) in the session's metadata database.
        migrate_airflow_db()
        store = InboxStore(inbox_url)
        store.migrate()
        store.register_invitation(
            {
                "id": "019d0000-0000-7000-8000-00000000fab1",
                "fleet_ref": FLEET_REF,
                "magic_link": "https://connect.example.org/?invite=fab1",
                "status": "active",
            },
            dag_id="catena_fleet_onboarding",
            run_id="manual__fab",
        )
        store.dispose()

        previous = api_app._AuthManagerState.instance
        api_app._AuthManagerState.instance = None
        try:
            app = api_app.create_app()
            manager = api_app.get_auth_manager()
            from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

            with get_application_builder() as builder:
                sm = builder.sm
                users = {
                    "admin": _add_user(sm, "fab_admin", sm.find_role("Admin")),
                    "catena": _add_user(sm, "fab_catena", _role_reading(sm, "catena_reader", dashboard_dag_ids())),
                    "outsider": _add_user(sm, "fab_outsider", _role_reading(sm, "other_reader", ["other_dag"])),
                }
                tokens = {name: manager.generate_jwt(user) for name, user in users.items()}
            from fastapi.testclient import TestClient

            with TestClient(app) as client:
                yield {"client": client, "headers": {n: {"Authorization": f"Bearer {t}"} for n, t in tokens.items()}}
        finally:
            api_app._AuthManagerState.instance = previous


@pytest.mark.parametrize("user", ["admin", "catena"])
def test_users_who_may_read_the_catena_dags_see_the_fleets(fab, user):
    client, headers = fab["client"], fab["headers"][user]
    for path in API_PATHS:
        assert client.get(path, headers=headers).status_code == 200, path
    fleets = client.get("/catena/api/fleets", headers=headers).json()
    assert FLEET_REF in {row["fleet_ref"] for row in fleets["items"]}
    assert client.get("/catena/ui", headers=headers).status_code == 200


def test_a_user_without_the_catena_dags_gets_403_and_no_fleet_data(fab):
    client, headers = fab["client"], fab["headers"]["outsider"]
    assert client.get("/api/v2/dags", headers=headers).status_code == 200  # logged in, may read other DAGs
    for path in API_PATHS:
        response = client.get(path, headers=headers)
        assert response.status_code == 403, path
        assert FLEET_REF not in response.text
    page = client.get("/catena/ui", headers=headers)
    assert page.status_code == 403 and FLEET_REF not in page.text
