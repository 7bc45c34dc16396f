"""The sandbox's ASGI application: ``create_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from catena_sandbox import auth
from catena_sandbox.errors import install_error_handlers
from catena_sandbox.faults import ApiFaultMiddleware
from catena_sandbox.routes import admin, connect, integrations, notifications, orgs, telematics, telematics_admin
from catena_sandbox.runtime import Sandbox
from catena_sandbox.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    sandbox = Sandbox(settings or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        sandbox.start()
        try:
            yield
        finally:
            sandbox.stop()

    app = FastAPI(
        title="Catena sandbox",
        description="A local simulator of Catena Telematics' API, fleet behaviour and webhook delivery.",
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    install_error_handlers(app)
    app.add_middleware(ApiFaultMiddleware, faults=sandbox.faults)
    for router in (
        auth.router,
        orgs.router,
        integrations.router,
        notifications.router,
        telematics.router,
        admin.router,
        telematics_admin.router,
        connect.router,
    ):
        app.include_router(router)
    return app
