"""Create (or refresh) a Catena invitation and register its onboarding in the inbox."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, BaseOperatorLink, Context
from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.execution_time.xcom import XCom
from pydantic import ValidationError

from catena_airflow.client._base import status_value
from catena_airflow.client.models import Invitation, InvitationCreate
from catena_airflow.hooks.adapters import DEFAULT_CATENA_CONN_ID
from catena_airflow.hooks.catena import CatenaHook
from catena_airflow.hooks.inbox import CatenaInboxHook
from catena_airflow.subscriptions import adopt_secret, callback_subscriptions, known_subscription_ids

if TYPE_CHECKING:
    from catena_airflow.client import CatenaClient
    from catena_airflow.inbox import InboxStore

#: Invitation body fields the operator accepts (Catena's current names).
INVITATION_FIELDS = (
    "fleet_ref",
    "fleet_name",
    "fleet_email",
    "fleet_regulatory_id",
    "fleet_regulatory_id_type",
    "fleet_phone",
    "fleet_website",
    "fleet_country_code",
    "success_redirect_url",
    "failure_redirect_url",
    "callback_url",
    "limit_tsps",
    "permissions",
    "expires_in_hours",
)
# Fields that are text on the wire: native template rendering may turn "123" into 123.
_TEXT_FIELDS = frozenset(INVITATION_FIELDS) - {"limit_tsps", "permissions", "expires_in_hours"}


class CatenaMagicLink(BaseOperatorLink):
    """Opens the fleet's magic link (from the invitation the task returned)."""

    name = "Catena magic link"

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        invitation = XCom.get_value(ti_key=ti_key, key="return_value")
        if isinstance(invitation, Mapping):
            return str(invitation.get("magic_link") or "")
        return ""


def invitation_request(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The request fields without empty values; text fields as strings; unknown names refused."""
    unknown = sorted(set(fields) - set(INVITATION_FIELDS))
    if unknown:
        raise ValueError(f"unknown invitation field(s): {', '.join(unknown)}")
    request: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None or value == "" or value == []:
            continue
        request[name] = str(value) if name in _TEXT_FIELDS else value
    return request


def validation_message(error: ValidationError) -> str:
    """Pydantic errors as 'field: problem' lines, without echoing the input values."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'invitation'}: {e['msg']}" for e in error.errors())


def invite(
    client: CatenaClient,
    store: InboxStore,
    request: InvitationCreate,
    *,
    dag_id: str | None,
    run_id: str | None,
    log: logging.Logger | Any,
) -> Invitation:
    """Create (or refresh) the invitation and register its onboarding; keep its callback secrets.

    A refresh (Catena answers 200 with the same invitation, ``active`` again) is registered as a new
    attempt from the moment the request was sent: once the attempt before it had failed (declined,
    expired), the onboarding follows only the new one.
    """
    requested_at = datetime.now(UTC)
    invitation = client.create_invitation(request)
    refreshed = bool(getattr(invitation, "refreshed", False))
    new_attempt = refreshed and status_value(invitation.status) == "active"
    store.register_invitation(
        invitation, dag_id=dag_id, run_id=run_id, new_attempt_at=requested_at if new_attempt else None
    )
    log.info(
        "Invitation %s for fleet %r %s (status %s); the magic link expires at %s",
        invitation.id,
        invitation.fleet_ref,
        "refreshed" if refreshed else "created",
        status_value(invitation.status),
        invitation.expires_at.isoformat(),
    )
    if request.callback_url:
        keep_callback_secrets(client, store, url=str(request.callback_url), fleet_ref=request.fleet_ref, log=log)
    return invitation


def keep_callback_secrets(
    client: CatenaClient, store: InboxStore, *, url: str, fleet_ref: str, log: logging.Logger | Any
) -> None:
    """Store the secrets of the subscriptions Catena made for this invitation's ``callback_url``, so the
    receiver verifies their deliveries (it would otherwise ask Catena per subscription, answering 503
    meanwhile). A secret Catena masks is replaced with one we generate."""
    ours = callback_subscriptions(client.list_webhook_subscriptions(), url=url, fleet_ref=fleet_ref)
    known = known_subscription_ids(store)
    outcomes = [adopt_secret(client, store, sub, url=url, known=known) for sub in ours]
    if not ours:
        log.info("Catena shows no subscription for this invitation's callback_url yet; the receiver looks them up")
        return
    log.info(
        "callback_url subscriptions of %r: %d secret(s) read, %d rotated, %d already known",
        fleet_ref,
        outcomes.count("read"),
        outcomes.count("rotated"),
        outcomes.count("known"),
    )


class CatenaCreateInvitationOperator(BaseOperator):
    """Creates a Catena invitation (magic link) for one fleet and registers the onboarding in the inbox.

    Safe to retry: Catena refreshes the invitation of a ``fleet_ref`` it already knows (same id, new
    expiry) instead of creating a second one. Inviting a fleet again after it declined or let its link
    expire starts a new attempt, which the wait then follows (see :func:`invite`). Returns ``id``,
    ``magic_link``, ``expires_at``, ``fleet_ref``, ``status`` and ``refreshed`` as XCom;
    pre-registration tokens never leave the task.

    :param fleet_ref: The partner's own id for the fleet (letters, digits, spaces, ``-`` and ``_``).
    :param fleet_name: Pre-filled fleet name.
    :param fleet_email: Fleet e-mail (Catena e-mails the link).
    :param fleet_regulatory_id: The fleet's regulatory id (e.g. its USDOT number).
    :param fleet_regulatory_id_type: The kind of ``fleet_regulatory_id`` (e.g. ``DOT``); required with it.
    :param fleet_phone: Fleet phone number.
    :param fleet_website: Fleet website (absolute http(s) URL).
    :param fleet_country_code: Fleet country, ISO 3166-1 alpha-3 (e.g. ``USA``).
    :param success_redirect_url: Where Catena Connect sends the fleet after success.
    :param failure_redirect_url: Where Catena Connect sends the fleet on decline or error.
    :param callback_url: Per-invitation webhook URL. Catena creates subscriptions of its own for it;
        their secrets are stored in the inbox right after the invitation is created.
    :param limit_tsps: TSP slugs the fleet may choose from.
    :param permissions: Resources the fleet is asked to share (``{"vehicle": "read", ...}``); None: Catena's default.
    :param expires_in_hours: Validity of the link, 1 to 672 hours.
    :param invitation: Further fields as a mapping (e.g. from an upstream task in a mapped group);
        explicit arguments win over its keys.
    :param catena_conn_id: Airflow connection of Catena.
    :param inbox_conn_id: Airflow connection of the inbox; None (default): ``[catena] inbox_url``.
    """

    template_fields: Sequence[str] = (*INVITATION_FIELDS, "invitation")
    template_fields_renderers = {"invitation": "json"}
    operator_extra_links = (CatenaMagicLink(),)
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        fleet_ref: str | None = None,
        fleet_name: str | None = None,
        fleet_email: str | None = None,
        fleet_regulatory_id: str | None = None,
        fleet_regulatory_id_type: str | None = None,
        fleet_phone: str | None = None,
        fleet_website: str | None = None,
        fleet_country_code: str | None = None,
        success_redirect_url: str | None = None,
        failure_redirect_url: str | None = None,
        callback_url: str | None = None,
        limit_tsps: list[str] | None = None,
        permissions: Mapping[str, str] | None = None,
        expires_in_hours: int | None = None,
        invitation: Mapping[str, Any] | None = None,
        catena_conn_id: str = DEFAULT_CATENA_CONN_ID,
        inbox_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fleet_ref = fleet_ref
        self.fleet_name = fleet_name
        self.fleet_email = fleet_email
        self.fleet_regulatory_id = fleet_regulatory_id
        self.fleet_regulatory_id_type = fleet_regulatory_id_type
        self.fleet_phone = fleet_phone
        self.fleet_website = fleet_website
        self.fleet_country_code = fleet_country_code
        self.success_redirect_url = success_redirect_url
        self.failure_redirect_url = failure_redirect_url
        self.callback_url = callback_url
        self.limit_tsps = limit_tsps
        self.permissions = permissions
        self.expires_in_hours = expires_in_hours
        self.invitation = invitation
        self.catena_conn_id = catena_conn_id
        self.inbox_conn_id = inbox_conn_id

    @cached_property
    def hook(self) -> CatenaHook:
        """The hook of ``catena_conn_id``; ``self.hook.get_conn()`` is its ``CatenaClient``."""
        return CatenaHook(catena_conn_id=self.catena_conn_id)

    def build_request(self) -> InvitationCreate:
        """The validated request body; bad input fails the task at once (retrying cannot fix it)."""
        fields = dict(self.invitation or {})
        fields.update({name: getattr(self, name) for name in INVITATION_FIELDS if getattr(self, name) is not None})
        try:
            return InvitationCreate(**invitation_request(fields))
        except ValueError as exc:
            detail = validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
            raise AirflowFailException(f"Invalid invitation request: {detail}") from None

    def execute(self, context: Context) -> dict[str, Any]:
        request = self.build_request()
        dag_run = context.get("dag_run")
        invitation = invite(
            self.hook.get_conn(),
            CatenaInboxHook(self.inbox_conn_id).get_conn(),
            request,
            dag_id=getattr(dag_run, "dag_id", None) or self.dag_id,
            run_id=getattr(dag_run, "run_id", None),
            log=self.log,
        )
        return invitation_xcom(invitation)


def invitation_xcom(invitation: Invitation) -> dict[str, Any]:
    """What the task returns: no secrets (pre-registration tokens stay out)."""
    return {
        "id": invitation.id,
        "magic_link": invitation.magic_link,
        "expires_at": invitation.expires_at.isoformat(),
        "fleet_ref": invitation.fleet_ref,
        "status": status_value(invitation.status),
        "refreshed": bool(getattr(invitation, "refreshed", False)),
    }
