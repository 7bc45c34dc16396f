"""The plugin's FastAPI application, mounted by Airflow's api-server at ``/catena``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from catena_airflow.pages.redirect import create_redirect_router
from catena_airflow.pools import ensure_ingestion_pool
from catena_airflow.ui import api as dashboard_api
from catena_airflow.ui import page as dashboard_page
from catena_airflow.webhooks.router import create_webhook_router

log = logging.getLogger(__name__)

#: The paths served without an Airflow login, and why. Every other route of the app requires one
#: (``ui/auth.py``); tests/unit/test_app.py requests each route without credentials to hold both lists.
PUBLIC_PATHS: dict[str, str] = {
    "/webhooks": "Catena's deliveries: each verified by its HMAC signature instead (webhooks/)",
    "/webhooks/health": "the receiver's probe for load balancers: says only whether it can store",
    "/fleet/success": "where Catena sends the fleet's browser: informational page, no data (pages/)",
    "/fleet/failure": "where Catena sends the fleet's browser: informational page, no data (pages/)",
    "/ui/icon.svg": "the navigation icon Airflow's UI shows in its menu",
    "/ui/icon-dark.svg": "the navigation icon Airflow's UI shows in its menu",
    "/openapi.json": "the routes' schema, as Airflow's own API publishes its own",
}


async def _ensure_ingestion_pool() -> None:
    """The ingestion pool, created once the api-server runs (``pools.py``); never blocks its start."""
    try:
        await asyncio.to_thread(ensure_ingestion_pool)
    except Exception:
        log.exception("Could not create the Catena ingestion pool; create it with 'airflow pools set'")


def create_plugin_app() -> FastAPI:
    """Compose the routers each part of the plugin serves under the ``/catena`` prefix.

    Public routes (``PUBLIC_PATHS``: webhooks, fleet redirect pages) authenticate by other means than an
    Airflow login, or serve nothing private; every other route depends on Airflow authentication.
    """
    webhooks = create_webhook_router(path="/webhooks")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The api-server enters its mounted apps' lifespans: the receiver checks its inbox once, there,
        # and not in the other components that import the plugin.
        await webhooks.receiver.startup()
        await _ensure_ingestion_pool()
        yield

    app = FastAPI(title="Catena Telematics for Airflow", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.include_router(dashboard_api.router)  # onboarding dashboard: JSON API (Airflow login required)
    app.include_router(dashboard_page.router)  # onboarding dashboard: /ui page (Airflow login required)
    app.include_router(webhooks)  # Catena webhooks (+ /webhooks/health): HMAC-signed, no login
    app.include_router(create_redirect_router())  # fleet redirect landing pages: public, informational only
    return app
