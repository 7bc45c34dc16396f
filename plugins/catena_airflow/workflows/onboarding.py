"""The onboarding chain of one fleet: validate -> create invitation -> wait until connected -> ingest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import task
from airflow.sdk.exceptions import AirflowFailException
from pydantic import ValidationError

from catena_airflow.client.models import InvitationCreate
from catena_airflow.operators.ingest import CatenaIngestFleetOperator
from catena_airflow.operators.invitation import (
    INVITATION_FIELDS,
    CatenaCreateInvitationOperator,
    invitation_request,
    validation_message,
)
from catena_airflow.pools import ingestion_pool
from catena_airflow.sensors.fleet_connected import CatenaFleetConnectedSensor


def checked_invitation_request(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The invitation request of one fleet, validated as Catena would; fails naming the field."""
    request = invitation_request({k: v for k, v in fields.items() if k in INVITATION_FIELDS})
    try:
        InvitationCreate(**request)
    except ValidationError as exc:
        raise AirflowFailException(f"Invalid fleet {request.get('fleet_ref')!r}: {validation_message(exc)}") from None
    return request


@task(task_id="validate_fleet")
def validate_fleet(fleet: dict[str, Any]) -> dict[str, Any]:
    """Per-fleet check before any Catena call (the bulk DAG's items are also checked by its params)."""
    return checked_invitation_request(fleet)


def onboarding_chain(
    request: Any,
    *,
    poll_interval: Any = 1.0,
    reconcile_interval: Any = 300.0,
    reinvite_on_expiry: Any = False,
) -> tuple[CatenaCreateInvitationOperator, CatenaFleetConnectedSensor, CatenaIngestFleetOperator]:
    """create invitation -> wait (deferrable sensor) -> ingest, wired through XComs."""
    create = CatenaCreateInvitationOperator(task_id="create_invitation", invitation=request)
    wait = CatenaFleetConnectedSensor(
        task_id="wait_for_fleet",
        invitation_id=create.output,
        poll_interval=poll_interval,
        reconcile_interval=reconcile_interval,
        reinvite_on_expiry=reinvite_on_expiry,
        invitation=request,
    )
    ingest = CatenaIngestFleetOperator(task_id="ingest_fleet", fleet_id=wait.output, pool=ingestion_pool())
    return create, wait, ingest
