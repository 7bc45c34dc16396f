"""The receiver as its own ASGI app, for deployments that keep the Airflow api-server private."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.responses import JSONResponse

from catena_airflow.webhooks.config import ReceiverSettings
from catena_airflow.webhooks.receiver import WebhookReceiver
from catena_airflow.webhooks.router import create_webhook_router, health_response


def create_webhook_app(receiver: WebhookReceiver | None = None, **settings: Any) -> FastAPI:
    """``POST /webhooks`` and ``POST /catena/webhooks`` (the api-server's URL, so Catena's URL can stay
    the same when moving between the two), plus ``GET /healthz`` (503 with the reason when the start-up
    check found the inbox unusable)."""
    receiver = receiver or WebhookReceiver(ReceiverSettings(**settings))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await receiver.startup()
        yield
        receiver.close()

    app = FastAPI(title="Catena webhook receiver", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.include_router(create_webhook_router(receiver, path="/webhooks"))
    app.include_router(create_webhook_router(receiver, path="/catena/webhooks"))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return await health_response(receiver)

    app.state.receiver = receiver
    return app
