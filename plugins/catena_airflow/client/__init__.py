"""Catena Telematics REST client and the partner side of Catena's wire formats. No Airflow imports."""

from __future__ import annotations

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
from catena_airflow.client.signature import compute_signature, verify_signature

__all__ = [
    "CatenaAPIError",
    "CatenaAuthError",
    "CatenaBadRequestError",
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
    "Schedule",
    "ShareAgreement",
    "Token",
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
