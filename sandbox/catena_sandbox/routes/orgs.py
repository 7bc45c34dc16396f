"""Orgs service: invitations (incl. fleet-side accept/decline), share agreements, fleets, TSPs."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from catena_sandbox.auth import Claims, OptionalClaims
from catena_sandbox.catalogue import CATALOGUE_DATE, TSPS
from catena_sandbox.catalogue import tsp_id as make_tsp_id
from catena_sandbox.clock import iso
from catena_sandbox.errors import CatenaError
from catena_sandbox.pagination import DEFAULT_SIZE, page
from catena_sandbox.routes.common import CursorParam, ListParam, SandboxDep
from catena_sandbox.routes.validation import CountryCode, Email, FleetName, FleetRef, Url
from catena_sandbox.runtime import Sandbox
from catena_sandbox.views import fleet_view, invitation_view, share_agreement_view

router = APIRouter(tags=["orgs"])
ShareLevel = Literal["read", "read_write"]
CONTACT = ("name", "email", "regulatory_id", "regulatory_id_type", "phone", "website", "country_code")


class InvitationCreate(BaseModel):
    """Both the current ``fleet_*`` names and the older ``partner_provided_fleet_*`` ones are accepted."""

    model_config = ConfigDict(extra="ignore")

    fleet_ref: FleetRef
    fleet_name: FleetName | None = None
    fleet_email: Email | None = None
    fleet_regulatory_id: str | None = None
    fleet_regulatory_id_type: str | None = None
    fleet_phone: str | None = None
    fleet_website: Url | None = None
    fleet_country_code: CountryCode | None = None
    partner_provided_fleet_name: FleetName | None = None
    partner_provided_fleet_email: Email | None = None
    partner_provided_fleet_regulatory_id: str | None = None
    partner_provided_fleet_regulatory_id_type: str | None = None
    partner_provided_fleet_phone: str | None = None
    partner_provided_fleet_website: Url | None = None
    partner_provided_fleet_country_code: CountryCode | None = None
    success_redirect_url: Url | None = None
    failure_redirect_url: Url | None = None
    callback_url: Url | None = None
    limit_tsps: list[str] | None = None
    permissions: dict[str, ShareLevel] | None = None
    expires_in_hours: int = Field(default=24, ge=1, le=672)

    def fields(self) -> dict[str, Any]:
        values = self.model_dump()
        for name in CONTACT:
            old = values.pop(f"partner_provided_fleet_{name}")
            if values.get(f"fleet_{name}") is None:
                values[f"fleet_{name}"] = old
        return values


class InvitationAccept(BaseModel):
    model_config = ConfigDict(extra="ignore")

    fleet_name: FleetName | None = None
    fleet_email: Email | None = None
    fleet_regulatory_id: str | None = None
    fleet_regulatory_id_type: str | None = None
    fleet_phone: str | None = None
    fleet_website: Url | None = None
    fleet_country_code: CountryCode | None = None


class InvitationDecline(BaseModel):
    model_config = ConfigDict(extra="ignore")

    decline_reason: str | None = None


class ShareAgreementUpdate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["active", "paused", "cancelled"] | None = None
    fleet_ref: str | None = None
    effective_date: str | None = None
    expiration_date: str | None = None


def _invitation(sandbox: Sandbox, invitation_id: str) -> dict[str, Any]:
    invitation = sandbox.simulator.invitation(invitation_id)
    return invitation_view(invitation, sandbox.settings, sandbox.simulator.magic_link(invitation))


# -- invitations ---------------------------------------------------------------------------------
@router.post("/v2/orgs/invitations")
def create_invitation(body: InvitationCreate, sandbox: SandboxDep, _claims: Claims) -> JSONResponse:
    invitation, created = sandbox.simulator.create_invitation(body.fields())
    return JSONResponse(_invitation(sandbox, invitation.id), status_code=201 if created else 200)


@router.get("/v2/orgs/invitations")
def list_invitations(
    sandbox: SandboxDep,
    _claims: Claims,
    fleet_ref: Annotated[str | None, Query()] = None,
    cursor: CursorParam = None,
    size: int = DEFAULT_SIZE,
) -> dict[str, Any]:
    with sandbox.store.lock:
        sandbox.simulator.expire_due_invitations()
        items = [i for i in sandbox.store.invitations.values() if fleet_ref is None or i.fleet_ref == fleet_ref]
        return page(
            items,
            cursor=cursor,
            size=size,
            with_total=True,
            render=lambda i: invitation_view(i, sandbox.settings, sandbox.simulator.magic_link(i)),
        )


@router.get("/v2/orgs/invitations/{invitation_id}")
def get_invitation(invitation_id: str, sandbox: SandboxDep) -> dict[str, Any]:
    """Unauthenticated in Catena: the invitation id is the secret."""
    with sandbox.store.lock:
        return _invitation(sandbox, invitation_id)


@router.delete("/v2/orgs/invitations/{invitation_id}", status_code=204)
def delete_invitation(invitation_id: str, sandbox: SandboxDep, _claims: Claims) -> Response:
    sandbox.simulator.delete_invitation(invitation_id)
    return Response(status_code=204)


@router.post("/v2/orgs/invitations/{invitation_id}/accept")
def accept_invitation(
    invitation_id: str,
    sandbox: SandboxDep,
    _claims: OptionalClaims,
    body: Annotated[InvitationAccept | None, Body()] = None,
) -> dict[str, Any]:
    fields = body.model_dump() if body is not None else {}
    with sandbox.store.lock:
        sandbox.simulator.accept(invitation_id, fields)
        return _invitation(sandbox, invitation_id)


@router.post("/v2/orgs/invitations/{invitation_id}/decline")
def decline_invitation(
    invitation_id: str,
    sandbox: SandboxDep,
    _claims: OptionalClaims,
    body: Annotated[InvitationDecline | None, Body()] = None,
) -> dict[str, Any]:
    with sandbox.store.lock:
        sandbox.simulator.decline(invitation_id, body.decline_reason if body is not None else None)
        return _invitation(sandbox, invitation_id)


# -- share agreements (served under both spellings) ------------------------------------------------
def _list_share_agreements(
    sandbox: SandboxDep,
    _claims: Claims,
    fleet_id: Annotated[str | None, Query()] = None,
    fleet_ref: Annotated[str | None, Query()] = None,
    share_agreement_status: Annotated[str | None, Query()] = None,
    cursor: CursorParam = None,
    size: int = DEFAULT_SIZE,
) -> dict[str, Any]:
    with sandbox.store.lock:
        items = [
            a
            for a in sandbox.store.share_agreements.values()
            if a.status != "deleted"
            and (fleet_id is None or a.fleet_id == fleet_id)
            and (fleet_ref is None or a.fleet_ref == fleet_ref)
            and (share_agreement_status is None or a.status == share_agreement_status)
        ]
        render = partial(share_agreement_view, variations=sandbox.variations)
        return page(items, cursor=cursor, size=size, with_total=True, render=render)


def _get_share_agreement(share_agreement_id: str, sandbox: SandboxDep, _claims: Claims) -> dict[str, Any]:
    with sandbox.store.lock:
        return share_agreement_view(sandbox.simulator.share_agreement(share_agreement_id), sandbox.variations)


def _update_share_agreement(
    share_agreement_id: str, body: ShareAgreementUpdate, sandbox: SandboxDep, _claims: Claims
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if body.status is not None:
        changes["status"] = body.status
    if body.fleet_ref is not None:
        changes["fleet_ref"] = body.fleet_ref
    agreement = sandbox.simulator.change_share_agreement(share_agreement_id, changes)
    return share_agreement_view(agreement, sandbox.variations)


def _status_action(status: str):  # type: ignore[no-untyped-def]
    def action(share_agreement_id: str, sandbox: SandboxDep, _claims: Claims) -> dict[str, Any]:
        agreement = sandbox.simulator.change_share_agreement(share_agreement_id, {"status": status})
        return share_agreement_view(agreement, sandbox.variations)

    return action


def _delete_share_agreement(share_agreement_id: str, sandbox: SandboxDep, _claims: Claims) -> Response:
    sandbox.simulator.delete_share_agreement(share_agreement_id)
    return Response(status_code=204)


for _prefix in ("/v2/orgs/share-agreements", "/v2/orgs/share_agreements"):
    router.add_api_route(_prefix, _list_share_agreements, methods=["GET"])
    router.add_api_route(_prefix + "/{share_agreement_id}", _get_share_agreement, methods=["GET"])
    router.add_api_route(_prefix + "/{share_agreement_id}", _update_share_agreement, methods=["PATCH"])
    router.add_api_route(
        _prefix + "/{share_agreement_id}", _delete_share_agreement, methods=["DELETE"], status_code=204
    )
    for _action, _status in (("pause", "paused"), ("activate", "active"), ("cancel", "cancelled")):
        router.add_api_route(f"{_prefix}/{{share_agreement_id}}/{_action}", _status_action(_status), methods=["POST"])


# -- fleets --------------------------------------------------------------------------------------
def _visible_fleet_ids(sandbox: Sandbox) -> set[str]:
    """Partners only see fleets with which they have an active share agreement."""
    return {a.fleet_id for a in sandbox.store.share_agreements.values() if a.status == "active"}


@router.get("/v2/orgs/fleets")
def list_fleets(
    sandbox: SandboxDep,
    _claims: Claims,
    fleet_refs: ListParam = None,
    cursor: CursorParam = None,
    size: int = DEFAULT_SIZE,
) -> dict[str, Any]:
    with sandbox.store.lock:
        visible = _visible_fleet_ids(sandbox)
        items = [
            f
            for f in sandbox.store.fleets.values()
            if f.id in visible and (not fleet_refs or f.fleet_ref in fleet_refs)
        ]
        return page(items, cursor=cursor, size=size, with_total=True, render=fleet_view)


@router.get("/v2/orgs/fleets/{fleet_id}")
def get_fleet(fleet_id: str, sandbox: SandboxDep, _claims: Claims) -> dict[str, Any]:
    with sandbox.store.lock:
        fleet = sandbox.store.fleets.get(fleet_id)
        if fleet is None or fleet.id not in _visible_fleet_ids(sandbox):
            raise CatenaError(404, f"Fleet {fleet_id} not found")
        return fleet_view(fleet)


# -- TSP catalogue (no auth in Catena) -------------------------------------------------------------
def _tsp(source_name: str) -> dict[str, Any]:
    return {
        "id": make_tsp_id(source_name),
        "name": TSPS[source_name],
        "description": None,
        "websites": None,
        "source_name": source_name,
        "status": "active",
        "conn_type": "api_key",
        "is_sandbox": source_name == "catena_simulator",
        "logo_url": None,
        "logo_dark_url": None,
        "slug": source_name,
        "created_at": iso(CATALOGUE_DATE),
        "updated_at": iso(CATALOGUE_DATE),
    }


@router.get("/v2/orgs/tsps")
def list_tsps(
    slug: Annotated[str | None, Query()] = None, source_name: Annotated[str | None, Query()] = None
) -> list[dict[str, Any]]:
    return [
        _tsp(name) for name in TSPS if (slug is None or slug == name) and (source_name is None or source_name == name)
    ]


@router.get("/v2/orgs/tsps/{tsp_id}")
def get_tsp(tsp_id: str) -> dict[str, Any]:
    for name in TSPS:
        if _tsp(name)["id"] == tsp_id:
            return _tsp(name)
    raise CatenaError(404, f"TSP {tsp_id} not found")
