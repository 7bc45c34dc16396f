"""A stand-in for Catena Connect, the fleet-facing page behind each invitation's magic link."""

from __future__ import annotations

import html
from typing import Annotated
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from catena_sandbox.errors import CatenaError
from catena_sandbox.routes.common import SandboxDep
from catena_sandbox.runtime import Sandbox

router = APIRouter(tags=["connect"], include_in_schema=False)

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Catena Connect (sandbox)</title>
<style>body{{font-family:sans-serif;max-width:40rem;margin:3rem auto}}button{{font-size:1rem;margin:.3rem}}</style>
</head><body><h1>Catena Connect <small>(sandbox)</small></h1>
<p>{partner} invites <b>{fleet}</b> (ref <code>{ref}</code>) to share telematics data.</p>
<p>Status: <b id="status">{status}</b></p>{actions}</body></html>"""
ACTIONS = """<form method="post" action="{base}/connect/{id}/accept">
<button id="accept">Accept and connect</button></form>
<form method="post" action="{base}/connect/{id}/decline"><input name="decline_reason" placeholder="Reason (optional)">
<button id="decline">Decline</button></form>"""
REAUTH = """<p>Your telematics connection stopped working.</p>
<form method="post" action="{base}/connect/{id}/reauthenticate">
<button id="reauthenticate">Re-connect</button></form>"""


def _with_params(url: str, invitation_id: str, fleet_ref: str) -> str:
    parts = urlsplit(url)
    extra = urlencode({"invitation_id": invitation_id, "fleet_ref": fleet_ref})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit(parts._replace(query=query))


@router.get("/connect/")
def connect_page(sandbox: SandboxDep, invite: Annotated[str, Query()]) -> Response:
    try:
        invitation = sandbox.simulator.view(invite)
    except CatenaError:
        return HTMLResponse("<h1>Invitation not found</h1>", status_code=404)
    if invitation.status not in ("active", "accepted") and invitation.failure_redirect_url:
        return RedirectResponse(_with_params(invitation.failure_redirect_url, invitation.id, invitation.fleet_ref), 303)
    actions = ""
    if invitation.status == "active":
        actions = ACTIONS.format(base=sandbox.settings.base_url, id=invitation.id)
    elif _stale_connection_id(sandbox, invitation.connection_id):
        actions = REAUTH.format(base=sandbox.settings.base_url, id=invitation.id)
    return HTMLResponse(
        PAGE.format(
            partner=html.escape(sandbox.settings.partner_slug),
            fleet=html.escape(invitation.fleet_name or "your fleet"),
            ref=html.escape(invitation.fleet_ref),
            status=html.escape(invitation.status),
            actions=actions,
        )
    )


def _stale_connection_id(sandbox: Sandbox, connection_id: str | None) -> str | None:
    connection = sandbox.store.connections.get(connection_id or "")
    return connection.id if connection is not None and connection.status == "stale" else None


def _outcome(url: str | None, invitation_id: str, fleet_ref: str, text: str) -> Response:
    if url:
        return RedirectResponse(_with_params(url, invitation_id, fleet_ref), status_code=303)
    return HTMLResponse(f"<h1>{html.escape(text)}</h1>")


@router.post("/connect/{invitation_id}/accept")
def connect_accept(invitation_id: str, sandbox: SandboxDep) -> Response:
    try:
        invitation = sandbox.simulator.accept(invitation_id)
    except CatenaError as exc:
        known = sandbox.store.invitations.get(invitation_id)
        if known is None:
            return HTMLResponse("<h1>Invitation not found</h1>", status_code=404)
        return _outcome(known.failure_redirect_url, known.id, known.fleet_ref, str(exc.detail))
    return _outcome(invitation.success_redirect_url, invitation.id, invitation.fleet_ref, "Connected")


@router.post("/connect/{invitation_id}/decline")
def connect_decline(
    invitation_id: str, sandbox: SandboxDep, decline_reason: Annotated[str | None, Form()] = None
) -> Response:
    try:
        invitation = sandbox.simulator.decline(invitation_id, decline_reason or None)
    except CatenaError as exc:
        known = sandbox.store.invitations.get(invitation_id)
        if known is None:
            return HTMLResponse("<h1>Invitation not found</h1>", status_code=404)
        return _outcome(known.failure_redirect_url, known.id, known.fleet_ref, str(exc.detail))
    return _outcome(invitation.failure_redirect_url, invitation.id, invitation.fleet_ref, "Declined")


@router.post("/connect/{invitation_id}/reauthenticate")
def connect_reauthenticate(invitation_id: str, sandbox: SandboxDep) -> Response:
    """The fleet re-enters its TSP credentials through the same link after ``connection.staled``."""
    with sandbox.store.lock:
        invitation = sandbox.store.invitations.get(invitation_id)
        if invitation is None:
            return HTMLResponse("<h1>Invitation not found</h1>", status_code=404)
        connection_id = _stale_connection_id(sandbox, invitation.connection_id)
        if connection_id is not None:
            sandbox.simulator.reauthenticate(connection_id)
    return _outcome(invitation.success_redirect_url, invitation.id, invitation.fleet_ref, "Reconnected")
