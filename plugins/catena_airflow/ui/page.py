"""The dashboard page (``/catena/ui``): one self-contained HTML file, no build step, no CDN.

The page needs an Airflow login like the API: without one, the browser is sent to the auth manager's
login page (and back afterwards); a user who may not read the Catena DAGs gets a 403 page
(``access.py``). Once loaded it only calls the JSON API, same-origin, carrying
Airflow's HttpOnly session cookie; no token is ever written into the page.
"""

from __future__ import annotations

import html
from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from catena_airflow.ui.access import FORBIDDEN_DETAIL, may_read_catena_dags
from catena_airflow.ui.auth import login_redirect, login_url, user_or_none

LOGIN_URL_PLACEHOLDER = "__AIRFLOW_LOGIN_URL__"

router = APIRouter(tags=["dashboard"])


@cache
def _page_template() -> str:
    return files("catena_airflow.ui").joinpath("static/dashboard.html").read_text(encoding="utf-8")


@router.get("/ui", response_class=HTMLResponse, summary="The onboarding dashboard page")
async def dashboard_page(request: Request) -> Response:
    user = await user_or_none(request)
    if user is None:
        return login_redirect(request)
    if not may_read_catena_dags(user):
        return HTMLResponse(f"<!doctype html><title>Forbidden</title><p>{html.escape(FORBIDDEN_DETAIL)}</p>", 403)
    page = _page_template().replace(LOGIN_URL_PLACEHOLDER, html.escape(login_url(request), quote=True))
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@cache
def _icon(name: str) -> bytes:
    return files("catena_airflow.ui").joinpath(f"static/{name}").read_bytes()


@router.get("/ui/icon.svg", summary="Navigation icon (light mode)", include_in_schema=False)
@router.get("/ui/icon-dark.svg", summary="Navigation icon (dark mode)", include_in_schema=False)
async def nav_icon(request: Request) -> Response:
    if await user_or_none(request) is None:
        return Response(status_code=401)
    name = request.url.path.rsplit("/", 1)[-1]
    return Response(_icon(name), media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=3600"})
