"""Pydantic models of Catena's REST resources (catena-api.md §2).

Response models are forgiving: unknown fields are kept (``extra="allow"``), unknown status values are
tolerated (:class:`OpenEnum`), and only the fields this project relies on are required. Request
models (:class:`InvitationCreate`, :class:`WebhookCreate`, :class:`WebhookUpdate`) validate what
Catena documents, so bad input fails here with a clear message instead of as a 422 later.
Secrets (access tokens, webhook secrets, pre-registration tokens) are :class:`pydantic.SecretStr`:
masked in ``repr`` and plain dumps, written in clear only by :meth:`CatenaModel.to_wire`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, EmailStr, Field, PrivateAttr, model_validator

from catena_airflow.client._base import CatenaModel, OpenEnum, Secret

__all__ = [
    "CatenaModel",
    "Connection",
    "ConnectionStatus",
    "Execution",
    "ExecutionStatus",
    "Fleet",
    "Invitation",
    "InvitationCreate",
    "InvitationStatus",
    "OpenEnum",
    "Page",
    "Schedule",
    "ScheduleStatus",
    "ShareAgreement",
    "ShareAgreementStatus",
    "ShareLevel",
    "TelematicsRecord",
    "TimePeriodMetric",
    "Token",
    "Vehicle",
    "VehicleLocation",
    "WebhookCreate",
    "WebhookFilters",
    "WebhookLog",
    "WebhookLogStatus",
    "WebhookMetrics",
    "WebhookStatus",
    "WebhookSubscription",
    "WebhookUpdate",
]

ItemT = TypeVar("ItemT", bound=CatenaModel)

MAX_URL_LENGTH = 2083
MIN_EXPIRES_IN_HOURS = 1
MAX_EXPIRES_IN_HOURS = 672
MIN_WEBHOOK_SECRET_LENGTH = 12
_COUNTRY_CODE = re.compile(r"^[A-Za-z]{3}$")


# --------------------------------------------------------------------------- status enums


class InvitationStatus(OpenEnum):
    ACTIVE = "active"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    DELETED = "deleted"


class ShareAgreementStatus(OpenEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    DELETED = "deleted"


class ConnectionStatus(OpenEnum):
    ACTIVE = "active"
    FAILED = "failed"
    CANCELLED = "cancelled"
    PAUSED = "paused"
    STALE = "stale"
    DELETED = "deleted"


class ScheduleStatus(OpenEnum):
    INACTIVE = "inactive"
    ACTIVE = "active"
    PAUSED = "paused"
    STALE = "stale"
    DELETED = "deleted"
    CANCELLED = "cancelled"
    CANCELLED_INSUFFICIENT_SCOPE = "cancelled_insufficient_scope"


class ExecutionStatus(OpenEnum):
    SCHEDULED = "scheduled"
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"


class WebhookStatus(OpenEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    STALE = "stale"
    DELETED = "deleted"


class WebhookLogStatus(OpenEnum):
    SUCCESS = "success"
    FAILED = "failed"


class ShareLevel(OpenEnum):
    READ = "read"
    READ_WRITE = "read_write"


# --------------------------------------------------------------------------- validators


def _check_fleet_ref(value: str) -> str:
    if not value.strip():
        raise ValueError("fleet_ref must not be empty or blank")
    bad = sorted({ch for ch in value if not (ch.isalnum() or ch in " -_")})
    if bad:
        raise ValueError(f"fleet_ref may contain only letters, digits, spaces, '-' and '_' (got {''.join(bad)!r})")
    return value


def _check_fleet_name(value: str) -> str:
    bad = sorted({ch for ch in value if not (ch.isalnum() or ch == " ")})
    if bad:
        raise ValueError(f"fleet_name may contain only letters, digits and spaces (got {''.join(bad)!r})")
    return value


def _check_country_code(value: str) -> str:
    if not _COUNTRY_CODE.match(value):
        raise ValueError("country code must be three letters (ISO 3166-1 alpha-3, e.g. 'USA')")
    return value.upper()


def _check_url(value: str) -> str:
    if not 1 <= len(value) <= MAX_URL_LENGTH:
        raise ValueError(f"URL must be 1..{MAX_URL_LENGTH} characters long")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("URL must be absolute http(s), e.g. 'https://partner.example/done'")
    return value


FleetRef = Annotated[str, AfterValidator(_check_fleet_ref)]
FleetName = Annotated[str, AfterValidator(_check_fleet_name)]
CountryCode = Annotated[str, AfterValidator(_check_country_code)]
Url = Annotated[str, AfterValidator(_check_url)]


# --------------------------------------------------------------------------- auth


class Token(CatenaModel):
    """OAuth2 client-credentials token response (authentication.yaml ``TokenResponse``)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    access_token: Secret
    expires_in: int
    token_type: str = "Bearer"
    refresh_expires_in: int | None = None
    refresh_token: Secret | None = None
    session_state: str | None = None
    not_before_policy: int | None = Field(default=None, alias="not-before-policy")
    scope: str | None = None


# --------------------------------------------------------------------------- pagination


class Page(CatenaModel, Generic[ItemT]):
    """One page of a cursor-paginated list; ``next_page`` is ``None`` on the last page."""

    items: list[ItemT]
    total: int | None = None
    current_page: str | None = None
    current_page_backwards: str | None = None
    previous_page: str | None = None
    next_page: str | None = None


# --------------------------------------------------------------------------- invitations


class InvitationCreate(CatenaModel):
    """Body of ``POST /v2/orgs/invitations``; sends the current ``fleet_*`` field names.

    Only fields the caller set are sent (``exclude_unset``), so partner-level defaults (redirect URLs,
    expiry) apply when a field is omitted.
    """

    fleet_ref: FleetRef
    fleet_name: FleetName | None = None
    fleet_email: EmailStr | None = None
    fleet_regulatory_id: str | None = None
    fleet_regulatory_id_type: str | None = None
    fleet_phone: str | None = None
    fleet_website: Url | None = None
    fleet_country_code: CountryCode | None = None
    success_redirect_url: Url | None = None
    failure_redirect_url: Url | None = None
    callback_url: Url | None = None
    limit_tsps: list[str] | None = None
    permissions: dict[str, ShareLevel] | None = None
    expires_in_hours: int | None = Field(default=None, ge=MIN_EXPIRES_IN_HOURS, le=MAX_EXPIRES_IN_HOURS)

    @model_validator(mode="after")
    def _regulatory_id_needs_type(self) -> InvitationCreate:
        if self.fleet_regulatory_id and not self.fleet_regulatory_id_type:
            raise ValueError("fleet_regulatory_id_type is required when fleet_regulatory_id is given (e.g. 'DOT')")
        return self

    def to_request_body(self) -> dict[str, Any]:
        return self.to_wire(exclude_unset=True)


class Invitation(CatenaModel):
    """``InvitationRead``. The id is also the magic-link token, so treat it as a bearer secret."""

    model_config = ConfigDict(hide_input_in_errors=True)

    id: str
    created_at: datetime
    magic_link: str
    expires_at: datetime
    expires_in_hours: int
    status: InvitationStatus
    fleet_ref: str | None = None
    fleet_id: str | None = None
    fleet_name: str | None = None
    partner_provided_fleet_name: str | None = None
    accepted_at: datetime | None = None
    declined_at: datetime | None = None
    decline_reason: str | None = None
    pre_registration_access_token: Secret | None = None
    pre_registration_refresh_token: Secret | None = None
    callback_url: str | None = None
    success_redirect_url: str | None = None
    failure_redirect_url: str | None = None
    limit_tsps: list[str] | None = None
    partner_id: str | None = None
    partner_slug: str | None = None
    permissions: dict[str, ShareLevel] | None = None
    fleet_email: str | None = None
    fleet_regulatory_id: str | None = None
    fleet_regulatory_id_type: str | None = None
    fleet_phone: str | None = None
    fleet_website: str | None = None
    fleet_country_code: str | None = None

    _http_status: int | None = PrivateAttr(default=None)

    @property
    def refreshed(self) -> bool:
        """True when create answered 200: an invitation with this ``fleet_ref`` existed and was refreshed."""
        return self._http_status == 200


# --------------------------------------------------------------------------- orgs


class ShareAgreement(CatenaModel):
    """``ShareAgreementRead``: a fleet's grant of data access to the partner."""

    id: str
    fleet_id: str
    status: ShareAgreementStatus
    partner_id: str | None = None
    fleet_ref: str | None = None
    #: Older spec versions only (the newest shows it in an example): never rely on it.
    invitation_id: str | None = None
    effective_date: datetime | None = None
    expiration_date: datetime | None = None
    scopes: dict[str, ShareLevel] = Field(default_factory=dict)


class Fleet(CatenaModel):
    """``FleetRead``; partners only see fleets with an active share agreement."""

    id: str
    name: str
    fleet_ref: str | None = None
    invitation_id: str | None = None
    description: str | None = None
    display_name: str | None = None
    legal_name: str | None = None
    dba_name: str | None = None
    websites: list[str] | None = None
    regulatory_id: str | None = None
    regulatory_id_type: str | None = None
    regulatory_id_date: str | None = None
    regulatory_id_status: str | None = None
    registered_email: str | None = None
    registered_phone: str | None = None
    registered_fax: str | None = None
    address: str | None = None
    city: str | None = None
    province: str | None = None
    postal_code: str | None = None
    country_code: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


# --------------------------------------------------------------------------- integrations


class Connection(CatenaModel):
    """``ConnectionRead``: one fleet↔TSP link (credentials arrive masked)."""

    id: str
    status: ConnectionStatus
    fleet_id: str | None = None
    fleet_ref: str | None = None
    tsp_id: str | None = None
    source_name: str | None = None
    credentials: dict[str, Any] | None = None
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Schedule(CatenaModel):
    """``ScheduleRead``: Catena's polling of one resource for one connection."""

    id: str
    connection_id: str
    resource: str
    status: ScheduleStatus
    execution_interval_seconds: int | None = None
    consecutive_error_count: int | None = None
    consecutive_error_threshold: int | None = None
    max_concurrent_executions: int | None = None
    cursor: str | None = None
    last_data_at: datetime | None = None


class Execution(CatenaModel):
    """``ExecutionRead``: one fetch by a schedule (kept 7 days)."""

    id: str
    schedule_id: str
    connection_id: str
    status: ExecutionStatus
    fleet_id: str | None = None
    source_name: str | None = None
    resource: str | None = None
    cursor: str | None = None
    response: dict[str, Any] | None = None
    last_data_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


# --------------------------------------------------------------------------- notifications


class WebhookFilters(CatenaModel):
    fleet_ids: list[str] | None = None
    fleet_refs: list[str] | None = None


class WebhookCreate(CatenaModel):
    """Body of ``POST /v2/notifications/webhooks``; ``event_name`` may be a catch-all like ``invitation.*``."""

    model_config = ConfigDict(hide_input_in_errors=True)

    url: Url
    event_name: str = Field(min_length=1)
    filters: WebhookFilters | None = None
    secret: Secret | None = None

    def to_request_body(self) -> dict[str, Any]:
        return self.to_wire(exclude_unset=True)


class WebhookUpdate(CatenaModel):
    """Body of ``PATCH /v2/notifications/webhooks/{id}`` (secret rotation, URL or filter change)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    url: Url | None = None
    filters: WebhookFilters | None = None
    secret: Secret | None = Field(default=None, min_length=MIN_WEBHOOK_SECRET_LENGTH)
    status: WebhookStatus | None = None

    def to_request_body(self) -> dict[str, Any]:
        return self.to_wire(exclude_unset=True)


class WebhookSubscription(CatenaModel):
    """``Webhook`` (create response, secret in clear once) and ``WebhookRead`` (secret ``*****``)."""

    model_config = ConfigDict(hide_input_in_errors=True)

    id: str
    url: str
    event_name: str
    status: WebhookStatus | None = None
    filters: WebhookFilters | None = None
    secret: Secret | None = None
    partner_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None

    @property
    def secret_is_masked(self) -> bool:
        """True when Catena redacted the secret (every read except the create response)."""
        return self.secret is None or set(self.secret.get_secret_value()) <= {"*"}


class WebhookLog(CatenaModel):
    """``WebhookLogRead``: one delivery attempt (kept 14 days)."""

    webhook_id: str
    message_id: str | None = None
    event_name: str | None = None
    status: WebhookLogStatus | None = None
    status_code: int | None = None
    error_message: str | None = None
    response_time_ms: float | None = None
    created_at: datetime | None = None


class TimePeriodMetric(CatenaModel):
    """A metric over Catena's fixed windows; the wire keys start with digits (``6h``), hence aliases."""

    last_6h: float | None = Field(default=None, alias="6h")
    last_24h: float | None = Field(default=None, alias="24h")
    last_7d: float | None = Field(default=None, alias="7d")
    last_14d: float | None = Field(default=None, alias="14d")


class WebhookMetrics(CatenaModel):
    webhook_id: str
    http_attempts: TimePeriodMetric | None = None
    http_success_attempts: TimePeriodMetric | None = None
    http_failure_attempts: TimePeriodMetric | None = None
    message_count: TimePeriodMetric | None = None
    message_success_count: TimePeriodMetric | None = None
    success_rate: TimePeriodMetric | None = None
    avg_response_time_ms: TimePeriodMetric | None = None
    ewma_success_rate: float | None = None
    dlq_count: int | None = None


# --------------------------------------------------------------------------- telematics


class TelematicsRecord(CatenaModel):
    """Fields common to every telematics row (§2.6); ``deleted_at`` marks deletions."""

    id: str
    fleet_id: str | None = None
    fleet_ref: str | None = None
    connection_id: str | None = None
    tsp_id: str | None = None
    tsp_slug: str | None = None
    source_name: str | None = None
    source_id: str | None = None
    source_data: dict[str, Any] | None = None
    source_data_hash: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None
    occurred_at: datetime | None = None
    execution_id: str | None = None
    schedule_id: str | None = None
    extras: dict[str, Any] | None = None


class Vehicle(TelematicsRecord):
    """``VehicleRead``: every field the spec defines is declared, so ingestion types each column."""

    vehicle_name: str | None = None
    vin: str | None = None
    engine_vin: str | None = None
    oem: str | None = None
    model_type: str | None = None
    model_year: int | None = None
    license_plate_number: str | None = None
    license_plate_region: str | None = None
    license_plate_country: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    is_active: bool | None = None
    status: str | None = None
    notes: str | None = None
    eld_id: str | None = None
    eld_serial_number: str | None = None
    eld_device_type: str | None = None
    eld_product_id: str | None = None
    total_axles: int | None = None
    vehicle_groups: Any = None  # free-form TSP groups (an object in the spec): kept whole, whatever its shape
    external_id: str | None = None
    speed_unit: str | None = None
    odometer_unit: str | None = None
    fuel_unit: str | None = None
    fuel_capacity: str | None = None
    engine_type: str | None = None


class VehicleLocation(TelematicsRecord):
    """``VehicleLocationRead``: every field the spec defines is declared, so ingestion types each column.
    Units are strings, not enums: a unit Catena adds later is kept, not refused."""

    vehicle_id: str | None = None
    driver_id: str | None = None
    co_driver_id: str | None = None
    source_driver_id: str | None = None
    source_vehicle_id: str | None = None
    source_co_driver_id: str | None = None
    location: dict[str, Any] | None = None
    h3_index_11: int | None = None
    speed: float | None = None
    odometer: float | None = None
    fuel_level: float | None = None
    fuel_value: float | None = None
    engine_hours: float | None = None
    oil_pressure: float | None = None
    coolant_temperature: float | None = None
    inferred_address: dict[str, Any] | None = None
    speed_unit: str | None = None
    odometer_unit: str | None = None
    fuel_value_unit: str | None = None
    oil_pressure_unit: str | None = None
    coolant_temperature_unit: str | None = None

    @property
    def longitude_latitude(self) -> tuple[float, float] | None:
        """GeoJSON ``[lon, lat]`` of the point, when present."""
        coords = (self.location or {}).get("coordinates")
        if isinstance(coords, list | tuple) and len(coords) >= 2:
            return float(coords[0]), float(coords[1])
        return None
