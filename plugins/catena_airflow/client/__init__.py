"""Catena Telematics REST client and the partner side of Catena's wire formats. No Airflow imports."""

from __future__ import annotations

from catena_airflow.client.auth import TokenProvider
from catena_airflow.client.client import DEFAULT_API_URL, DEFAULT_AUTH_URL, CatenaClient
from catena_airflow.client.errors import (
    CatenaAPIError,
    CatenaAuthError,
    CatenaBadRequestError,
    CatenaConflictError,
    CatenaError,
    CatenaNotFoundError,
    CatenaRateLimitError,
    CatenaRetryBudgetExceeded,
    CatenaServerError,
    CatenaValidationError,
)
from catena_airflow.client.events import WebhookEnvelope
from catena_airflow.client.http import RetryPolicy
from catena_airflow.client.models import (
    Connection,
    Execution,
    Fleet,
    Invitation,
    InvitationCreate,
    Page,
    Schedule,
    ShareAgreement,
    Token,
    Vehicle,
    VehicleLocation,
    WebhookCreate,
    WebhookLog,
    WebhookMetrics,
    WebhookSubscription,
    WebhookUpdate,
)
from catena_airflow.client.pagination import Paginator
from catena_airflow.client.signature import compute_signature, verify_signature

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_AUTH_URL",
    "CatenaAPIError",
    "CatenaAuthError",
    "CatenaBadRequestError",
    "CatenaClient",
    "CatenaConflictError",
    "CatenaError",
    "CatenaNotFoundError",
    "CatenaRateLimitError",
    "CatenaRetryBudgetExceeded",
    "CatenaServerError",
    "CatenaValidationError",
    "Connection",
    "Execution",
    "Fleet",
    "Invitation",
    "InvitationCreate",
    "Page",
    "Paginator",
    "RetryPolicy",
    "Schedule",
    "ShareAgreement",
    "Token",
    "TokenProvider",
    "Vehicle",
    "VehicleLocation",
    "WebhookCreate",
    "WebhookEnvelope",
    "WebhookLog",
    "WebhookMetrics",
    "WebhookSubscription",
    "WebhookUpdate",
    "compute_signature",
    "verify_signature",
]
