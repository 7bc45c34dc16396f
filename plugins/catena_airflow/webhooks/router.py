"""The receiver as a FastAPI router: include it with ``prefix="/webhooks"``.

No Airflow login on this route: Catena cannot log in; the HMAC signature is the authentication.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from catena_airflow.webhooks.config import ReceiverSettings
from catena_airflow.webhooks.receiver import WebhookReceiver


class WebhookRouter(APIRouter):
    """An APIRouter that keeps a handle on its receiver (tests, lifespan hooks)."""

    receiver: WebhookReceiver


def create_webhook_router(receiver: WebhookReceiver | None = None, **settings: Any) -> WebhookRouter:
    """A router serving ``POST ""`` (mount it under a prefix). ``settings``: ``ReceiverSettings`` fields."""
    receiver = receiver or WebhookReceiver(ReceiverSettings(**settings))
    router = WebhookRouter(tags=["Catena webhooks"])
    router.receiver = receiver
    router.add_api_route(
        "",
        receiver.handle,
        methods=["POST"],
        status_code=202,
        response_class=Response,
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
    return router
