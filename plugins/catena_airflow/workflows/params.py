"""JSON schemas of the onboarding DAGs' params: a bad conf is refused at trigger time, naming the field.

Airflow validates params when a run is created (``POST /api/v2/dags/{dag_id}/dagRuns`` answers 400
"Invalid input for param <name>: ..."), so nothing reaches Catena with a bad request.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from catena_airflow import config
from catena_airflow.client.models import MAX_EXPIRES_IN_HOURS, MAX_URL_LENGTH, MIN_EXPIRES_IN_HOURS

# Catena: fleet_ref letters, digits, spaces, '-' and '_' (not blank); fleet_name letters, digits, spaces.
FLEET_REF_PATTERN = r"^(?!\s*$)[\w -]+$"
FLEET_NAME_PATTERN = r"^(?:[^\W_]| )*$"
URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*$"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]}


URL_SCHEMA: dict[str, Any] = {"type": "string", "pattern": URL_PATTERN, "maxLength": MAX_URL_LENGTH}
EXPIRES_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": MIN_EXPIRES_IN_HOURS, "maximum": MAX_EXPIRES_IN_HOURS}
EXPIRES_TITLE = f"Link validity (hours, {MIN_EXPIRES_IN_HOURS}-{MAX_EXPIRES_IN_HOURS})"
LIMIT_TSPS_SCHEMA: dict[str, Any] = {
    "type": ["array", "null"],
    "items": {"type": "string", "minLength": 1},
    "uniqueItems": True,
}
#: Catena's ``permissions``: resource (``ResourceEnum``, e.g. ``vehicle``) -> ``read`` | ``read_write``.
PERMISSIONS_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "propertyNames": {"pattern": "^[a-z_]+$"},
    "additionalProperties": {"type": "string", "enum": ["read", "read_write"]},
}

#: One fleet's invitation fields (also the item schema of the bulk DAG's ``fleets`` list).
FLEET_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["fleet_ref"],
    "additionalProperties": False,
    "properties": {
        "fleet_ref": {"type": "string", "pattern": FLEET_REF_PATTERN, "minLength": 1, "maxLength": 255},
        "fleet_name": _nullable({"type": "string", "pattern": FLEET_NAME_PATTERN, "maxLength": 255}),
        "fleet_email": _nullable({"type": "string", "format": "email"}),
        "success_redirect_url": _nullable(URL_SCHEMA),
        "failure_redirect_url": _nullable(URL_SCHEMA),
        "callback_url": _nullable(URL_SCHEMA),
        "limit_tsps": LIMIT_TSPS_SCHEMA,
        "permissions": PERMISSIONS_SCHEMA,
        "expires_in_hours": _nullable(EXPIRES_SCHEMA),
    },
}


def wait_params() -> dict[str, Param]:
    """How the fleet-connected sensor's trigger polls the inbox and reconciles with Catena.

    Defaults: ``[catena] sensor_poll_interval`` and ``reconcile_interval``, read where the DAG is parsed.
    """
    return {
        "poll_interval": Param(
            config.get_float("sensor_poll_interval"), type="number", minimum=0.1, title="Inbox poll interval (s)"
        ),
        "reconcile_interval": Param(
            config.get_float("reconcile_interval"), type="number", minimum=1, title="REST reconciliation interval (s)"
        ),
        "reinvite_on_expiry": Param(
            False,
            type="boolean",
            title="Re-invite once on expiry",
            description="If the link expires unanswered, invite the fleet once more (a new expiry) instead of failing.",
        ),
    }


def onboarding_params() -> dict[str, Param]:
    """Params of ``catena_fleet_onboarding``: one fleet."""
    props = FLEET_SCHEMA["properties"]
    return {
        "fleet_ref": Param(
            type="string",
            pattern=FLEET_REF_PATTERN,
            minLength=1,
            maxLength=255,
            title="Fleet ref",
            description="Your own id for the fleet: letters, digits, spaces, - and _.",
        ),
        "fleet_name": Param(None, **props["fleet_name"], title="Fleet name", description="Letters, digits, spaces."),
        "fleet_email": Param(None, **props["fleet_email"], title="Fleet e-mail (Catena e-mails the link)"),
        "success_redirect_url": Param(None, **props["success_redirect_url"], title="Success redirect URL"),
        "failure_redirect_url": Param(None, **props["failure_redirect_url"], title="Failure redirect URL"),
        "callback_url": Param(None, **props["callback_url"], title="Callback URL (optional)"),
        "limit_tsps": Param(None, **LIMIT_TSPS_SCHEMA, title="Allowed TSPs (slugs)"),
        "permissions": Param(
            None,
            **PERMISSIONS_SCHEMA,
            title="Data to request",
            description='Resources the fleet is asked to share, e.g. {"vehicle": "read"}; empty: Catena\'s default.',
        ),
        "expires_in_hours": Param(24, **EXPIRES_SCHEMA, title=EXPIRES_TITLE),
        **wait_params(),
    }


def bulk_onboarding_params() -> dict[str, Param]:
    """Params of ``catena_bulk_onboarding``: a list of fleets, plus defaults for each."""
    props = FLEET_SCHEMA["properties"]
    return {
        "fleets": Param(
            type="array",
            items=FLEET_SCHEMA,
            minItems=1,
            maxItems=1000,
            title="Fleets",
            description='[{"fleet_ref": "acme-1", "fleet_name": "Acme One"}, ...]; fields override the defaults.',
        ),
        "success_redirect_url": Param(None, **props["success_redirect_url"], title="Default success redirect URL"),
        "failure_redirect_url": Param(None, **props["failure_redirect_url"], title="Default failure redirect URL"),
        "limit_tsps": Param(None, **LIMIT_TSPS_SCHEMA, title="Default allowed TSPs"),
        "expires_in_hours": Param(24, **EXPIRES_SCHEMA, title="Default link validity (hours)"),
        **wait_params(),
    }


def fleet_requests(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The bulk DAG's per-fleet invitation requests: defaults merged under each fleet's own fields."""
    defaults = {
        name: params.get(name)
        for name in ("success_redirect_url", "failure_redirect_url", "limit_tsps", "expires_in_hours")
        if params.get(name) is not None
    }
    refs = [fleet["fleet_ref"] for fleet in params["fleets"]]
    duplicates = sorted({ref for ref in refs if refs.count(ref) > 1})
    if duplicates:
        raise ValueError(f"fleets: duplicate fleet_ref(s) {', '.join(duplicates)} (one invitation per fleet_ref)")
    return [{**defaults, **{k: v for k, v in fleet.items() if v is not None}} for fleet in params["fleets"]]
