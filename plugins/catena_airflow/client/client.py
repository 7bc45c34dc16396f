"""``CatenaClient``: one method per Catena endpoint the project uses (catena-api.md §2).

List methods return a lazy :class:`~catena_airflow.client.pagination.Paginator`: iterate it for items
across pages, or call ``.pages(cursor=...)`` to process and checkpoint one page at a time.
Array filters go out as repeated keys (``?fleet_ids=a&fleet_ids=b``), at most 100 values each.

A ``requests.Session`` is not guaranteed thread-safe; share a client across threads only for reads
you are happy to serialise, or give each thread its own client (tokens are cached per client).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
from pydantic import SecretStr

from catena_airflow import __version__
from catena_airflow.client.auth import DEFAULT_REFRESH_MARGIN_SECONDS, TokenProvider
from catena_airflow.client.errors import CatenaAPIError, CatenaAuthError, CatenaError
from catena_airflow.client.http import HttpTransport, RetryPolicy
from catena_airflow.client.models import (
    CatenaModel,
    Connection,
    Execution,
    Fleet,
    Invitation,
    InvitationCreate,
    Page,
    Schedule,
    ShareAgreement,
    TelematicsRecord,
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

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_AUTH_URL",
    "MAX_ARRAY_VALUES",
    "SHARE_AGREEMENTS_PATHS",
    "TELEMATICS_PREFIX",
    "CatenaClient",
]

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.catenatelematics.com"
DEFAULT_AUTH_URL = "https://auth.catenatelematics.com/realms/catena/protocol/openid-connect/token"
#: Current docs and newest spec use the hyphen; older SDK spec and a real probe used the underscore.
SHARE_AGREEMENTS_PATHS = ("share-agreements", "share_agreements")
MAX_ARRAY_VALUES = 100
#: Every telematics list endpoint lives under this prefix (``list_telematics`` reads no other).
TELEMATICS_PREFIX = "/v2/telematics/"

ModelT = TypeVar("ModelT", bound=CatenaModel)


class CatenaClient:
    """Catena REST API client (partner side). Every argument is keyword-only."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | SecretStr,
        api_url: str = DEFAULT_API_URL,
        auth_url: str = DEFAULT_AUTH_URL,
        timeout: float = 30.0,
        max_retries: int = 5,
        retry_budget_seconds: float = 60.0,
        share_agreements_path: str = SHARE_AGREEMENTS_PATHS[0],
        page_size: int | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN_SECONDS,
        session: requests.Session | None = None,
    ) -> None:
        if share_agreements_path not in SHARE_AGREEMENTS_PATHS:
            raise ValueError(f"share_agreements_path must be one of {SHARE_AGREEMENTS_PATHS}")
        if page_size is not None and not 1 <= page_size <= 1000:
            raise ValueError("page_size must be between 1 and 1000")
        self.api_url = _base_url(api_url, "api_url")
        self.auth_url = _base_url(auth_url, "auth_url")
        self.share_agreements_path = share_agreements_path
        self.page_size = page_size
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = f"catena-airflow/{__version__}"
        self.session = session
        self.transport = HttpTransport(
            session=session,
            timeout=timeout,
            retry=RetryPolicy(max_retries=max_retries, budget_seconds=retry_budget_seconds),
        )
        self.tokens = TokenProvider(
            client_id=client_id,
            client_secret=client_secret,
            fetcher=self._post_token_form,
            refresh_margin=refresh_margin,
        )
        self.transport.token_provider = self.tokens

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_url={self.api_url!r}, client_id={self.tokens.client_id!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> CatenaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ token

    def fetch_token(self) -> Token:
        """A fresh token from the auth server (``scope=organization``); does not touch the cache."""
        return self.tokens.fetch()

    def _post_token_form(self, form: dict[str, str]) -> Token:
        try:
            response = self.transport.send("POST", self.auth_url, form=form, authenticated=False, retry_ambiguous=True)
        except CatenaAPIError as error:
            if error.status_code in (400, 401, 403):
                raise CatenaAuthError(
                    status_code=error.status_code,
                    code=error.code,
                    message=f"token request refused: {error.message}",
                    detail=error.detail,
                    method="POST",
                    path=error.path,
                ) from None
            raise
        return Token.model_validate(_json(response))

    # ------------------------------------------------------------------ invitations

    def create_invitation(self, invitation: InvitationCreate | None = None, /, **fields: Any) -> Invitation:
        """Create an invitation, or refresh the one with the same ``fleet_ref`` (200 instead of 201).

        Safe to retry after an ambiguous failure: a repeat with the same ``fleet_ref`` refreshes the
        existing invitation rather than creating a second one. ``Invitation.refreshed`` tells which.
        """
        body = _body(invitation, InvitationCreate, fields)
        response = self._send("POST", "/v2/orgs/invitations", json_body=body, retry_ambiguous=True)
        created = Invitation.model_validate(_json(response))
        created._http_status = response.status_code
        return created

    def get_invitation(self, invitation_id: str) -> Invitation:
        return self._get(f"/v2/orgs/invitations/{_seg(invitation_id)}", Invitation)

    def list_invitations(self, *, fleet_ref: str | None = None, size: int | None = None) -> Paginator[Invitation]:
        return self._paginate("/v2/orgs/invitations", Invitation, {"fleet_ref": fleet_ref}, size)

    def delete_invitation(self, invitation_id: str) -> None:
        """Delete an invitation not yet accepted (Catena refuses once accepted)."""
        self._send("DELETE", f"/v2/orgs/invitations/{_seg(invitation_id)}")

    # ------------------------------------------------------------------ share agreements

    def list_share_agreements(
        self,
        *,
        fleet_id: str | None = None,
        fleet_ref: str | None = None,
        status: str | None = None,
        size: int | None = None,
    ) -> Paginator[ShareAgreement]:
        """The partner's share agreements, filtered by the spec's filters only.

        A server that ignores a filter returns every agreement: callers check each item against what
        they asked for (``fleet_id``/``fleet_ref`` of the item) before trusting it.
        """
        params = {"fleet_id": fleet_id, "fleet_ref": fleet_ref, "share_agreement_status": status}
        return self._paginate(f"/v2/orgs/{self.share_agreements_path}", ShareAgreement, params, size)

    def get_share_agreement(self, share_agreement_id: str) -> ShareAgreement:
        return self._get(f"/v2/orgs/{self.share_agreements_path}/{_seg(share_agreement_id)}", ShareAgreement)

    # ------------------------------------------------------------------ fleets

    def list_fleets(self, *, fleet_refs: Sequence[str] | None = None, size: int | None = None) -> Paginator[Fleet]:
        return self._paginate("/v2/orgs/fleets", Fleet, {"fleet_refs": fleet_refs}, size)

    def get_fleet(self, fleet_id: str) -> Fleet:
        return self._get(f"/v2/orgs/fleets/{_seg(fleet_id)}", Fleet)

    # ------------------------------------------------------------------ connections, schedules, executions

    def list_connections(
        self,
        *,
        tsp_id: str | None = None,
        fleet_ids: Sequence[str] | None = None,
        fleet_refs: Sequence[str] | None = None,
        size: int | None = None,
    ) -> Paginator[Connection]:
        params = {"tsp_id": tsp_id, "fleet_ids": fleet_ids, "fleet_refs": fleet_refs}
        return self._paginate("/v2/integrations/connections", Connection, params, size)

    def get_connection(self, connection_id: str) -> Connection:
        return self._get(f"/v2/integrations/connections/{_seg(connection_id)}", Connection)

    def list_schedules(
        self, connection_id: str, *, resource: str | None = None, size: int | None = None
    ) -> Paginator[Schedule]:
        path = f"/v2/integrations/connections/{_seg(connection_id)}/schedules"
        return self._paginate(path, Schedule, {"resource": resource}, size)

    def get_schedule(self, connection_id: str, schedule_id: str) -> Schedule:
        return self._get(f"/v2/integrations/connections/{_seg(connection_id)}/schedules/{_seg(schedule_id)}", Schedule)

    def activate_schedule(self, connection_id: str, schedule_id: str) -> Schedule:
        """Re-activate a ``paused``/``inactive`` schedule (hidden endpoint; a partner token may be refused).

        Retried on ambiguous failures: activating an active schedule is a no-op.
        """
        path = f"/v2/integrations/connections/{_seg(connection_id)}/schedules/{_seg(schedule_id)}/activate"
        return Schedule.model_validate(_json(self._send("POST", path, retry_ambiguous=True)))

    def list_executions(self, connection_id: str, schedule_id: str, *, size: int | None = None) -> Paginator[Execution]:
        path = f"/v2/integrations/connections/{_seg(connection_id)}/schedules/{_seg(schedule_id)}/executions"
        return self._paginate(path, Execution, {}, size)

    # ------------------------------------------------------------------ webhook subscriptions

    def create_webhook_subscription(
        self, subscription: WebhookCreate | None = None, /, **fields: Any
    ) -> list[WebhookSubscription]:
        """Subscribe ``url`` to ``event_name``; always returns a list.

        A concrete event gives one subscription; a catch-all such as ``invitation.*`` gives one per
        action of that resource. Only this response carries the signing secret in clear.

        Not retried after an ambiguous failure (5xx, read timeout): the first attempt may have created
        the subscription, and a repeat would get a 409 and no secret. Callers should list the
        subscriptions for ``(url, event_name)`` and, when one exists with an unknown secret, rotate it
        with :meth:`update_webhook_subscription`.
        """
        body = _body(subscription, WebhookCreate, fields)
        secret = body.get("secret")
        response = self._send(
            "POST", "/v2/notifications/webhooks", json_body=body, retry_ambiguous=False, extra_secrets=[secret]
        )
        payload = _json(response)
        items = payload if isinstance(payload, list) else [payload]
        return [WebhookSubscription.model_validate(item) for item in items]

    def list_webhook_subscriptions(
        self, *, event_name: str | None = None, status: str | None = None, size: int | None = None
    ) -> Paginator[WebhookSubscription]:
        params = {"event_name": event_name, "status": status}
        return self._paginate("/v2/notifications/webhooks", WebhookSubscription, params, size)

    def get_webhook_subscription(self, webhook_id: str) -> WebhookSubscription:
        return self._get(f"/v2/notifications/webhooks/{_seg(webhook_id)}", WebhookSubscription)

    def update_webhook_subscription(
        self, webhook_id: str, update: WebhookUpdate | None = None, /, **fields: Any
    ) -> WebhookSubscription:
        """PATCH url/filters/secret/status (e.g. rotate the secret). Idempotent, so retried."""
        body = _body(update, WebhookUpdate, fields)
        response = self._send(
            "PATCH",
            f"/v2/notifications/webhooks/{_seg(webhook_id)}",
            json_body=body,
            retry_ambiguous=True,
            extra_secrets=[body.get("secret")],
        )
        return WebhookSubscription.model_validate(_json(response))

    def delete_webhook_subscription(self, webhook_id: str) -> None:
        self._send("DELETE", f"/v2/notifications/webhooks/{_seg(webhook_id)}")

    def activate_webhook_subscription(self, webhook_id: str) -> WebhookSubscription:
        """Resume a ``stale`` or ``paused`` subscription (idempotent, so retried)."""
        path = f"/v2/notifications/webhooks/{_seg(webhook_id)}/activate"
        return WebhookSubscription.model_validate(_json(self._send("POST", path, retry_ambiguous=True)))

    def pause_webhook_subscription(self, webhook_id: str) -> WebhookSubscription:
        path = f"/v2/notifications/webhooks/{_seg(webhook_id)}/pause"
        return WebhookSubscription.model_validate(_json(self._send("POST", path, retry_ambiguous=True)))

    def list_webhook_logs(
        self,
        webhook_id: str,
        *,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        status: str | None = None,
        size: int | None = None,
    ) -> Paginator[WebhookLog]:
        params = {"start_date": start_date, "end_date": end_date, "status": status}
        return self._paginate(f"/v2/notifications/webhooks/{_seg(webhook_id)}/logs", WebhookLog, params, size)

    def get_webhook_metrics(self, webhook_id: str) -> WebhookMetrics:
        return self._get(f"/v2/notifications/webhooks/{_seg(webhook_id)}/metrics", WebhookMetrics)

    def replay_webhook_subscription(self, webhook_id: str) -> None:
        """Re-send the dead-letter queue (202). Retried: a repeat re-sends at most what was already
        re-sent, and the inbox drops duplicate event ids."""
        self._send("POST", f"/v2/notifications/webhooks/{_seg(webhook_id)}/replay", retry_ambiguous=True)

    # ------------------------------------------------------------------ telematics

    def list_vehicles(
        self,
        *,
        fleet_ids: Sequence[str] | None = None,
        fleet_refs: Sequence[str] | None = None,
        connection_id: str | None = None,
        vehicle_ids: Sequence[str] | None = None,
        source_ids: Sequence[str] | None = None,
        include_source_data: bool | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        size: int | None = None,
    ) -> Paginator[Vehicle]:
        params = {
            "fleet_ids": fleet_ids,
            "fleet_refs": fleet_refs,
            "connection_id": connection_id,
            "vehicle_ids": vehicle_ids,
            "source_ids": source_ids,
            "include_source_data": include_source_data,
            "sort_by": sort_by,
            "sort_order": sort_order,
        }
        return self._paginate("/v2/telematics/vehicles", Vehicle, params, size)

    def get_vehicle(self, vehicle_id: str, *, include_source_data: bool | None = None) -> Vehicle:
        params = _query({"include_source_data": include_source_data})
        return self._get(f"/v2/telematics/vehicles/{_seg(vehicle_id)}", Vehicle, params)

    def list_vehicle_locations(
        self,
        *,
        only_latest: bool | None = None,
        fleet_ids: Sequence[str] | None = None,
        fleet_refs: Sequence[str] | None = None,
        connection_id: str | None = None,
        from_datetime: datetime | None = None,
        to_datetime: datetime | None = None,
        driver_ids: Sequence[str] | None = None,
        vehicle_ids: Sequence[str] | None = None,
        include_source_data: bool | None = None,
        size: int | None = None,
    ) -> Paginator[VehicleLocation]:
        """Vehicle positions. Catena's ``only_latest`` defaults to **true** (one point per vehicle);
        pass ``only_latest=False`` with a time window (≤ 45 days) for history."""
        params = {
            "only_latest": only_latest,
            "fleet_ids": fleet_ids,
            "fleet_refs": fleet_refs,
            "connection_id": connection_id,
            "from_datetime": from_datetime,
            "to_datetime": to_datetime,
            "driver_ids": driver_ids,
            "vehicle_ids": vehicle_ids,
            "include_source_data": include_source_data,
        }
        return self._paginate("/v2/telematics/vehicle-locations", VehicleLocation, params, size)

    def list_telematics(
        self,
        path: str,
        *,
        fleet_ids: Sequence[str] | None = None,
        size: int | None = None,
        **filters: Any,
    ) -> Paginator[TelematicsRecord]:
        """Any telematics list endpoint (``/v2/telematics/<resource>``), paged, as :class:`TelematicsRecord`.

        Why one generic method: Catena has about twenty such endpoints, all with the same envelope and
        record base, and ingestion keeps every field Catena sends (the model keeps unknown fields), so a
        method per endpoint would add nothing but code. ``filters`` go out under the names given (spec
        names; lists as repeated keys, datetimes in ISO 8601); which ones a path defines is the caller's
        to check (ingest/telematics_resources.py is checked against the spec).
        """
        return self._paginate(_telematics_path(path), TelematicsRecord, {"fleet_ids": fleet_ids, **filters}, size)

    # ------------------------------------------------------------------ plumbing

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        retry_ambiguous: bool | None = None,
        extra_secrets: Iterable[str | None] = (),
    ) -> requests.Response:
        return self.transport.send(
            method,
            self.api_url + path,
            params=params,
            json_body=json_body,
            retry_ambiguous=retry_ambiguous,
            extra_secrets=[s for s in extra_secrets if s],
        )

    def _get(self, path: str, model: type[ModelT], params: Mapping[str, Any] | None = None) -> ModelT:
        return model.model_validate(_json(self._send("GET", path, params=params)))

    def _paginate(
        self, path: str, model: type[ModelT], filters: Mapping[str, Any], size: int | None
    ) -> Paginator[ModelT]:
        base = _query({**filters, "size": size or self.page_size})
        # Pydantic builds Page[<the model class>] at run time (it validates the items as that class); mypy
        # takes only a static type between the brackets, not a variable holding one.
        page_model = Page[model]  # type: ignore[valid-type]

        def fetch(cursor: str | None) -> Page[ModelT]:
            params = dict(base) if cursor is None else {**base, "cursor": cursor}
            return page_model.model_validate(_json(self._send("GET", path, params=params)))

        return Paginator(fetch)


def _json(response: requests.Response) -> Any:
    """The decoded body of a successful response; a clear error when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "no content type")
        path = urlsplit(response.url or "").path
        raise CatenaError(
            f"{response.request.method if response.request else ''} {path} -> HTTP {response.status_code}: "
            f"expected JSON, got {kind!r} ({len(response.content)} bytes)"
        ) from None


def _base_url(url: str, name: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an absolute http(s) URL, got {url!r}")
    return url.rstrip("/")


def _telematics_path(path: str) -> str:
    """``path`` if it names one telematics list endpoint: under the prefix, no template, no traversal, no query."""
    resource = path.removeprefix(TELEMATICS_PREFIX)
    segments = resource.split("/")
    if (
        not path.startswith(TELEMATICS_PREFIX)
        or not resource
        or any(not seg or seg in {".", ".."} or quote(seg, safe="-_") != seg for seg in segments)
    ):
        raise ValueError(f"not a telematics list path: {path!r} (expected {TELEMATICS_PREFIX}<resource>)")
    return path


def _seg(value: str) -> str:
    """One path segment, percent-encoded so an id can never change the path."""
    text = str(value)
    if not text:
        raise ValueError("an id in the path must not be empty")
    return quote(text, safe="")


def _body(model: CatenaModel | None, model_type: type[CatenaModel], fields: dict[str, Any]) -> dict[str, Any]:
    if model is not None and fields:
        raise TypeError(f"pass either a {model_type.__name__} or keyword fields, not both")
    if model is None:
        model = model_type(**fields)
    elif not isinstance(model, model_type):
        raise TypeError(f"expected {model_type.__name__}, got {type(model).__name__}")
    return model.to_wire(exclude_unset=True)


def _query(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters as Catena expects them: no ``None``, lists as repeated keys, lowercase booleans,
    timezone-aware datetimes in ISO 8601, dates as ``YYYY-MM-DD``."""
    query: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[key] = "true" if value else "false"
        elif isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"{key} must be timezone-aware (got a naive datetime)")
            query[key] = value.isoformat()
        elif isinstance(value, date):  # a day filter (processing_date): YYYY-MM-DD
            query[key] = value.isoformat()
        elif isinstance(value, list | tuple | set | frozenset):
            values = [str(item) for item in value]
            if len(values) > MAX_ARRAY_VALUES:
                raise ValueError(f"{key} takes at most {MAX_ARRAY_VALUES} values (got {len(values)}); split the call")
            if values:
                query[key] = values
        elif isinstance(value, str | int | float):
            query[key] = value
        else:
            raise TypeError(f"unsupported query value for {key}: {type(value).__name__}")
    return query
