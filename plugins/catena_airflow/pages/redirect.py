"""``GET /fleet/success`` and ``/fleet/failure``: thank the fleet and note the redirect in the inbox.

Usable as an invitation's ``success_redirect_url`` / ``failure_redirect_url`` (Catena adds the
``invitation_id`` and ``fleet_ref`` query parameters). Public, so anyone can call them: the visit is
recorded only as an informational stage of a known onboarding and never moves the workflow.
"""

from __future__ import annotations

import html
import logging
import re
import uuid
from collections.abc import Callable

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from catena_airflow.inbox import InboxStore

log = logging.getLogger(__name__)

FLEET_REF_RE = re.compile(r"^(?!\s*$)[\w -]{1,255}$")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1d2b36}}
h1{{font-size:1.6rem}}p{{line-height:1.5}}</style></head>
<body><h1>{title}</h1><p>{message}</p></body></html>
"""


def default_inbox() -> InboxStore:
    """The configured inbox (``[catena] inbox_url``), one store per URL per process."""
    from catena_airflow.hooks.inbox import CatenaInboxHook

    return CatenaInboxHook().get_conn()


def _page(title: str, message: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), message=message), status_code=status_code)


def create_redirect_router(inbox: Callable[[], InboxStore] = default_inbox) -> APIRouter:
    """The landing pages; ``inbox`` is called per request (tests pass their own store)."""
    router = APIRouter(prefix="/fleet", tags=["fleet redirect pages"])

    def landing(kind: str, invitation_id: str, fleet_ref: str) -> HTMLResponse:
        try:
            invitation = str(uuid.UUID(invitation_id))
        except ValueError:
            return _page("Invalid link", "This link is missing a valid invitation id.", 400)
        if not FLEET_REF_RE.match(fleet_ref):
            return _page("Invalid link", "This link is missing a valid fleet reference.", 400)
        try:
            recorded = inbox().record_observation(invitation, stage=f"redirect_{kind}", source="redirect")
        except Exception as exc:  # informational only: the fleet still gets its page
            log.warning("Could not record the %s redirect of invitation %s: %s", kind, invitation, type(exc).__name__)
            recorded = None
        if recorded is None:
            log.info("Redirect %s for unknown invitation %s ignored", kind, invitation)
        name = html.escape(fleet_ref)
        if kind == "success":
            return _page(
                "Thank you!",
                f"Fleet <strong>{name}</strong> is connected. Your data will start flowing shortly; "
                "you can close this page.",
            )
        return _page(
            "Connection not completed",
            f"Fleet <strong>{name}</strong> did not complete the connection. Thank you for your time; "
            "if this was a mistake, open the invitation link again or contact your partner.",
        )

    @router.get("/success", response_class=HTMLResponse)
    def success(invitation_id: str = Query(""), fleet_ref: str = Query("")) -> HTMLResponse:
        return landing("success", invitation_id, fleet_ref)

    @router.get("/failure", response_class=HTMLResponse)
    def failure(invitation_id: str = Query(""), fleet_ref: str = Query("")) -> HTMLResponse:
        return landing("failure", invitation_id, fleet_ref)

    return router
