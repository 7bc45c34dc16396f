"""The receiver's route, for the plugin app, the standalone app, or any FastAPI app.

No Airflow login on this route: Catena cannot log in; the HMAC signature is the authentication.

The route is served by a plain Starlette ``Route``: FastAPI's per-request machinery (dependency
solving, two exit stacks per request) cost about a quarter of the receiver's throughput in the load
benchmark, and the receiver reads the raw request anyway. A FastAPI ``APIRoute`` with the same path
and method follows it only to document the route in the OpenAPI schema; the first route matches, so
the documentation route never serves a request.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from catena_airflow.webhooks.config import ReceiverSettings
from catena_airflow.webhooks.receiver import WebhookReceiver

DEFAULT_PATH = "/webhooks"


async def health_response(receiver: WebhookReceiver) -> JSONResponse:
    """200 when the receiver can commit webhooks; 503 with the reason (no URL, no secret) otherwise."""
    problem = await receiver.health()
    if problem is None:
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "unhealthy", "problem": problem.kind.value, "reason": problem.reason}, 503)


class WebhookRouter(APIRouter):
    """An APIRouter that keeps a handle on its receiver (tests, lifespan hooks)."""

    receiver: WebhookReceiver


def create_webhook_router(
    receiver: WebhookReceiver | None = None, *, path: str = DEFAULT_PATH, **settings: Any
) -> WebhookRouter:
    """A router serving ``POST path`` and ``GET path/health``; include it without a prefix.

    ``settings``: ``ReceiverSettings`` fields. Its receiver's start-up check runs in the lifespan of the
    app that includes it (``startup.py``).
    """
    receiver = receiver or WebhookReceiver(ReceiverSettings(**settings))
    router = WebhookRouter()
    router.receiver = receiver
    router.routes.append(Route(path, receiver.handle, methods=["POST"], include_in_schema=False))

    async def health(_: Request) -> JSONResponse:
        return await health_response(receiver)

    # Public like the webhook route: a load balancer or Helm probe cannot log in. It says why, never where.
    router.routes.append(Route(f"{path}/health", health, methods=["GET"], include_in_schema=False))
    router.routes.append(
        APIRoute(
            path,
            receiver.handle,
            methods=["POST"],
            status_code=202,
            response_class=Response,
            tags=["Catena webhooks"],
            summary="Receive one Catena webhook delivery",
            responses={
                202: {"description": "Committed to the inbox (or a duplicate of a committed event)"},
                400: {"description": "Malformed body"},
                401: {"description": "Bad signature or timestamp outside the 5-minute window"},
                413: {"description": "Body over the size limit (compressed or decompressed)"},
                415: {"description": "Unsupported Content-Encoding"},
                503: {"description": "Inbox unavailable; Catena retries and keeps the event for replay"},
            },
        )
    )
    return router
