"""Catena webhook receiver: FastAPI router (mounted by the plugin) and standalone app/CLI."""

from __future__ import annotations

from catena_airflow.webhooks.config import ReceiverSettings
from catena_airflow.webhooks.receiver import WebhookReceiver
from catena_airflow.webhooks.router import create_webhook_router

__all__ = ["ReceiverSettings", "WebhookReceiver", "create_webhook_router"]
