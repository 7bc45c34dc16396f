"""Airflow authentication for the dashboard: Airflow does not protect plugin apps, so every route here does
(and checks the Catena DAGs' permissions, ``access.py``).

The API accepts what Airflow's own API accepts: an ``Authorization: Bearer <jwt>`` header, or the
``_token`` cookie the Airflow UI sets at login (HttpOnly, so the page never sees the token; its
same-origin ``fetch`` carries it).
"""

from __future__ import annotations

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import bearer_scheme, get_user
from fastapi import HTTPException, Request
from fastapi.responses import RedirectResponse

# Where the plugin app is mounted (plugin.py); the Airflow UI lives at the root path above it.
PLUGIN_MOUNT_PATH = "/catena"


def airflow_root_path(request: Request) -> str:
    """The Airflow UI's path prefix ("" unless ``[api] base_url`` has a path), from the mount's root path."""
    root_path: str = request.scope.get("root_path", "").rstrip("/")
    return root_path.removesuffix(PLUGIN_MOUNT_PATH)


async def user_or_none(request: Request) -> BaseUser | None:
    """The logged-in Airflow user, or None (instead of a 401) so a page can send the browser to log in."""
    try:
        return await get_user(request, None, await bearer_scheme(request))
    except HTTPException:
        return None


def login_url(request: Request) -> str:
    """The auth manager's login page, coming back to the requested page afterwards."""
    next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = get_auth_manager().get_url_login(next_url=next_path)
    return airflow_root_path(request) + url if url.startswith("/") else url


def login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(login_url(request), status_code=307)
