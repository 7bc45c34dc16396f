"""Ingest one fleet's vehicles and vehicle locations into the destination database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from catena_airflow.client.ownership import FleetOwnershipError, verify_fleet_ownership
from catena_airflow.hooks.adapters import DEFAULT_CATENA_CONN_ID, catena_client
from catena_airflow.hooks.destination import CatenaDestinationHook
from catena_airflow.ingest.sync import DEFAULT_PAGE_SIZE, RESOURCES, sync_fleet
from catena_airflow.operators.xcom_ids import id_from

#: Catena's schedule resources (``ResourceEnum``) -> the resources this operator ingests.
INGEST_RESOURCE_OF = {"vehicle": "vehicles", "vehicle_location": "vehicle_locations"}


def fleet_id_of(value: Any) -> str:
    """The fleet id, given as a string or as the sensor's XCom (a mapping with ``fleet_id``)."""
    return id_from(value, "fleet_id", "fleet_id must be a Catena fleet id or the sensor's XCom")


def _from_xcom(value: Any, key: str, given: str | None) -> str | None:
    if given:
        return given
    found = value.get(key) if isinstance(value, Mapping) else None
    return found if isinstance(found, str) and found else None


class CatenaIngestFleetOperator(BaseOperator):
    """Incremental, idempotent ingestion of a fleet's telematics data.

    Pages through Catena (the client retries 429 and 5xx with backoff within its budget; the task
    retries with exponential backoff beyond it), upserts each page by Catena id and advances the
    per-(fleet, resource) watermark with it, so a rerun or a retry resumes where the last one stopped.
    Skipped while the operations DAG has paused the fleet's ingestion (stale connection).

    Before copying anything it checks with Catena that the fleet belongs to the onboarding's
    ``fleet_ref`` (an active share agreement of the fleet names that ref, or the onboarding's own
    invitation names the fleet): one customer's fleet data never lands under another's onboarding.
    A mismatch fails the task at once, with nothing written.

    :param fleet_id: Catena fleet id, or the fleet-connected sensor's XCom (templated); the XCom also
        gives ``fleet_ref`` and ``invitation_id``.
    :param fleet_ref: The onboarding's fleet ref, when ``fleet_id`` is a bare id (templated).
    :param invitation_id: The onboarding's invitation, when ``fleet_id`` is a bare id (templated).
    :param catena_resources: ``vehicles`` and/or ``vehicle_locations`` (``resources`` is taken by Airflow).
    :param initial_lookback: How far back the first location sync of a fleet reaches.
    :param destination_conn_id: Airflow connection of the destination; None (default): ``[catena] destination_url``.
    """

    template_fields: Sequence[str] = ("fleet_id", "fleet_ref", "invitation_id", "catena_resources")
    ui_color = "#e9f7ef"

    def __init__(
        self,
        *,
        fleet_id: str | Mapping[str, Any],
        fleet_ref: str | None = None,
        invitation_id: str | None = None,
        catena_resources: Sequence[str] = RESOURCES,
        page_size: int = DEFAULT_PAGE_SIZE,
        initial_lookback: timedelta = timedelta(days=1),
        catena_conn_id: str = DEFAULT_CATENA_CONN_ID,
        destination_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", 3)
        kwargs.setdefault("retry_delay", timedelta(seconds=30))
        kwargs.setdefault("retry_exponential_backoff", True)
        super().__init__(**kwargs)
        self.fleet_id = fleet_id
        self.fleet_ref = fleet_ref
        self.invitation_id = invitation_id
        self.catena_resources = catena_resources
        self.page_size = page_size
        self.initial_lookback = initial_lookback
        self.catena_conn_id = catena_conn_id
        self.destination_conn_id = destination_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        fleet_id = fleet_id_of(self.fleet_id)
        store = CatenaDestinationHook(self.destination_conn_id).get_conn()
        status = store.get_fleet_status(fleet_id)
        if status is not None and status.ingestion_paused:
            raise AirflowSkipException(f"Ingestion of fleet {fleet_id} is paused: {status.reason or status.status}")
        resources = self._unpaused(store, fleet_id)
        client = catena_client(self.catena_conn_id)
        self._check_ownership(client, fleet_id)
        summary = sync_fleet(
            client,
            store,
            fleet_id=fleet_id,
            resources=resources,
            page_size=self.page_size,
            initial_lookback=self.initial_lookback,
        )
        for resource, outcome in summary.items():
            self.log.info(
                "Fleet %s %s: %d row(s) upserted over %d page(s); watermark %s",
                fleet_id,
                resource,
                outcome["rows"],
                outcome["pages"],
                outcome["watermark"],
            )
        return {"fleet_id": fleet_id, "resources": summary}

    def _unpaused(self, store: Any, fleet_id: str) -> list[str]:
        """The requested resources whose Catena schedule is not held deactivated for this fleet."""
        paused = {INGEST_RESOURCE_OF.get(name, name): why for name, why in store.paused_resources(fleet_id).items()}
        for resource in self.catena_resources:
            if resource in paused:
                self.log.warning("Not ingesting %s of fleet %s: %s", resource, fleet_id, paused[resource])
        resources = [r for r in self.catena_resources if r not in paused]
        if not resources:
            raise AirflowSkipException(f"Ingestion of fleet {fleet_id} is paused for every resource asked for")
        return resources

    def _check_ownership(self, client: Any, fleet_id: str) -> None:
        fleet_ref = _from_xcom(self.fleet_id, "fleet_ref", self.fleet_ref)
        invitation_id = _from_xcom(self.fleet_id, "invitation_id", self.invitation_id)
        if fleet_ref is None:
            self.log.warning("No fleet_ref given for fleet %s: checking only that it is shared with us", fleet_id)
        try:
            agreement = verify_fleet_ownership(
                client, fleet_id=fleet_id, fleet_ref=fleet_ref, invitation_id=invitation_id
            )
        except FleetOwnershipError as exc:
            raise AirflowFailException(f"Not ingesting fleet {fleet_id}: {exc}") from None
        self.log.info(
            "Fleet %s is shared with us under fleet_ref %s (share agreement %s)",
            fleet_id,
            fleet_ref or agreement.fleet_ref,
            agreement.id,
        )
