"""Load one connected fleet's telematics data into the warehouse, with dlt; the onboarding's first load and
every scheduled one after it are this operator."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context, XComArg
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from catena_airflow import config
from catena_airflow.assets import TELEMATICS_ALIAS, telematics_asset
from catena_airflow.client.models import ShareAgreement
from catena_airflow.client.ownership import FleetOwnershipError, verify_fleet_ownership
from catena_airflow.hooks.adapters import DEFAULT_CATENA_CONN_ID
from catena_airflow.hooks.catena import CatenaHook
from catena_airflow.hooks.dlt_destination import DLT_DESTINATION_CONN_ID, resolve_load_settings
from catena_airflow.hooks.inbox import CatenaInboxHook
from catena_airflow.ingest.telematics_resources import (
    DEFAULT_PAGE_SIZE,
    TelematicsResource,
    resources_for_scopes,
    resources_named,
)
from catena_airflow.operators.xcom_ids import id_from

if TYPE_CHECKING:
    from catena_airflow.client import CatenaClient
    from catena_airflow.inbox import InboxStore
    from catena_airflow.ingest.dlt_pipeline import FleetLoad


def fleet_id_of(value: Any) -> str:
    """The fleet id, given as a string or as a mapping with ``fleet_id`` (the sensor's XCom, a mapped fleet)."""
    return id_from(value, "fleet_id", "fleet_id must be a Catena fleet id or the sensor's XCom")


SECONDS_PER = {"days": 86_400.0, "hours": 3_600.0}


def duration_of(value: timedelta | float | str, *, name: str, unit: str, allow_zero: bool = False) -> timedelta:
    """A timedelta, or a number of ``unit`` (``days``, ``hours``; as a param renders it); names ``name`` if bad."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    else:
        try:
            seconds = float(value) * SECONDS_PER[unit]
        except (TypeError, ValueError):
            raise AirflowFailException(f"{name} must be a timedelta or a number of {unit}, got {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise AirflowFailException(f"{name} must be {'zero or more' if allow_zero else 'positive'}, got {value!r}")
    return timedelta(seconds=seconds)


def _from_xcom(value: Any, key: str, given: str | None) -> str | None:
    if given:
        return given
    found = value.get(key) if isinstance(value, Mapping) else None
    return found if isinstance(found, str) and found else None


class CatenaIngestFleetOperator(BaseOperator):
    """Incremental, idempotent load of every resource a fleet's share agreement grants.

    Order of checks, each before anything is read from the fleet:

    - skipped while the operations DAG has paused the fleet (stale connection), with the reason;
    - the fleet must belong to the onboarding's ``fleet_ref`` (an active share agreement of the fleet names
      it, or the onboarding's invitation names the fleet): otherwise the task fails and writes nothing;
    - the resources loaded are those that agreement's ``scopes`` grant, as Catena returns it now (a narrowed
      agreement is honoured before its webhook arrives), minus resources whose Catena schedule is held
      deactivated for the fleet.

    The load (``ingest/dlt_pipeline.py``) resumes where the fleet's last one stopped: dlt keeps a cursor per
    resource and merges by Catena id, so a retry or a rerun neither skips nor duplicates rows. Each resource
    that got rows emits an event of its asset (``catena_airflow.assets``) with the fleet and row count.

    :param fleet_id: Catena fleet id, or a mapping with ``fleet_id`` and optionally ``fleet_ref`` and
        ``invitation_id`` (the sensor's XCom; one item of the ingestion DAG's fleet list) (templated).
    :param fleet_ref: The onboarding's fleet ref, when ``fleet_id`` is a bare id (templated).
    :param invitation_id: The onboarding's invitation, when ``fleet_id`` is a bare id (templated).
    :param catena_resources: Load only these resources (names of ``ingest/telematics_resources.py``); None or
        empty (default): every granted one. (``resources`` is taken by Airflow.) (templated)
    :param page_size: Records asked per page of a telematics list (capped to each endpoint's maximum).
    :param initial_lookback: How far back a resource's first load reaches, a timedelta or a number of days
        (templated); Catena's windows are split at 45 days. None: ``[catena] initial_lookback_days``.
    :param correction_window: How far before its cursor a resource filtered by ``occurred_at`` is read again,
        to merge the corrections and deletions Catena made to rows after they occurred; a timedelta or a
        number of hours (templated); 0: never re-read. None: ``[catena] correction_window_hours``.
    :param catena_conn_id: Airflow connection of Catena.
    :param inbox_conn_id: Connection of the inbox (fleet status, held schedules, the sync ledger); None
        (default): ``[catena] inbox_url``.
    :param dlt_destination_conn_id: Connection of the warehouse dlt loads into (``hooks/dlt_destination.py``).
    """

    template_fields: Sequence[str] = (
        "fleet_id",
        "fleet_ref",
        "invitation_id",
        "catena_resources",
        "initial_lookback",
        "correction_window",
    )
    ui_color = "#e9f7ef"

    def __init__(
        self,
        *,
        fleet_id: str | Mapping[str, Any] | XComArg,
        fleet_ref: str | None = None,
        invitation_id: str | None = None,
        catena_resources: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        initial_lookback: timedelta | float | str | None = None,
        correction_window: timedelta | float | str | None = None,
        catena_conn_id: str = DEFAULT_CATENA_CONN_ID,
        inbox_conn_id: str | None = None,
        dlt_destination_conn_id: str = DLT_DESTINATION_CONN_ID,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", 3)
        kwargs.setdefault("retry_delay", timedelta(seconds=30))
        kwargs.setdefault("retry_exponential_backoff", True)
        # Always the alias it emits through, whatever else is given: a mapped task gets ``outlets=[]`` from
        # ``partial()``'s defaults, so a default that is only used when nothing is given would be lost.
        outlets = list(kwargs.get("outlets") or [])
        kwargs["outlets"] = outlets if TELEMATICS_ALIAS in outlets else [*outlets, TELEMATICS_ALIAS]
        super().__init__(**kwargs)
        self.fleet_id = fleet_id
        self.fleet_ref = fleet_ref
        self.invitation_id = invitation_id
        self.catena_resources = catena_resources
        self.page_size = page_size
        self.initial_lookback = initial_lookback
        self.correction_window = correction_window
        self.catena_conn_id = catena_conn_id
        self.inbox_conn_id = inbox_conn_id
        self.dlt_destination_conn_id = dlt_destination_conn_id

    @cached_property
    def hook(self) -> CatenaHook:
        """The hook of ``catena_conn_id``; ``self.hook.get_conn()`` is its ``CatenaClient``."""
        return CatenaHook(catena_conn_id=self.catena_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        fleet_id = fleet_id_of(self.fleet_id)
        fleet_ref = _from_xcom(self.fleet_id, "fleet_ref", self.fleet_ref)
        # Arguments a retry cannot mend fail the task before anything is asked of Catena.
        initial_lookback = duration_of(
            config.get_float("initial_lookback_days") if self.initial_lookback is None else self.initial_lookback,
            name="initial_lookback",
            unit="days",
        )
        correction_window = duration_of(
            config.get_float("correction_window_hours") if self.correction_window is None else self.correction_window,
            name="correction_window",
            unit="hours",
            allow_zero=True,
        )
        asked = self._asked_resources()
        operations = CatenaInboxHook(self.inbox_conn_id).get_conn()
        status = operations.get_fleet_status(fleet_id)
        if status is not None and status.ingestion_paused:
            raise AirflowSkipException(f"Ingestion of fleet {fleet_id} is paused: {status.reason or status.status}")
        client = self.hook.get_conn()
        agreement = self._check_ownership(client, fleet_id, fleet_ref)
        resources = self._resources_to_load(operations, fleet_id, agreement, asked)
        from catena_airflow.ingest.dlt_pipeline import load_fleet  # dlt takes seconds to import: not at parse time

        try:
            load = load_fleet(
                client=client,
                fleet_id=fleet_id,
                settings=resolve_load_settings(self.dlt_destination_conn_id),
                resources=resources,
                initial_lookback=initial_lookback,
                correction_window=correction_window,
                page_size=self.page_size,
            )
        except Exception as exc:
            operations.record_sync_failure(
                fleet_id=fleet_id, resources=[r.name for r in resources], error=f"{type(exc).__name__}: {exc}"
            )
            raise
        self.log.info(
            "Fleet %s loaded: %s; seconds: %s",
            fleet_id,
            ", ".join(f"{table} {rows}" for table, rows in sorted(load.rows.items())) or "no new rows",
            ", ".join(f"{step} {seconds:.1f}" for step, seconds in load.seconds.items()),  # waiting: for the turn
        )
        self._record(operations, load, resources, fleet_ref or agreement.fleet_ref)
        self._emit_asset_events(context, load, resources, fleet_ref or agreement.fleet_ref)
        return {
            "fleet_id": fleet_id,
            "fleet_ref": fleet_ref or agreement.fleet_ref,
            "resources": {r.name: {"rows": load.rows_of(r.name)} for r in resources},
            "load_ids": list(load.load_ids),
        }

    def _asked_resources(self) -> set[str] | None:
        """The names of ``catena_resources`` (None: every one); an unknown name fails the task."""
        if not self.catena_resources:
            return None
        try:
            return {r.name for r in resources_named(list(self.catena_resources))}
        except ValueError as exc:
            raise AirflowFailException(f"catena_resources: {exc}") from None

    def _resources_to_load(
        self, operations: InboxStore, fleet_id: str, agreement: ShareAgreement, asked: set[str] | None
    ) -> tuple[TelematicsResource, ...]:
        """What the agreement grants, narrowed to ``asked``, minus resources held for the fleet."""
        granted = resources_for_scopes(agreement.scopes)
        if asked is not None:
            for name in sorted(asked - {r.name for r in granted}):
                self.log.warning("Not loading %s of fleet %s: its share agreement does not grant it", name, fleet_id)
            granted = tuple(r for r in granted if r.name in asked)
        held = operations.paused_resources(fleet_id)
        for resource in granted:
            if resource.scope in held:
                self.log.warning("Not loading %s of fleet %s: %s", resource.name, fleet_id, held[resource.scope])
        resources = tuple(r for r in granted if r.scope not in held)
        if not resources:
            raise AirflowSkipException(
                f"Nothing to load for fleet {fleet_id}: its share agreement grants "
                f"{', '.join(sorted(k for k, v in agreement.scopes.items() if v is not None)) or 'nothing'}, "
                f"held: {', '.join(sorted(held)) or 'none'}"
            )
        return resources

    def _record(
        self,
        operations: InboxStore,
        load: FleetLoad,
        resources: Sequence[TelematicsResource],
        fleet_ref: str | None,
    ) -> None:
        for resource in resources:
            rows = load.rows_of(resource.name)
            cursor = load.cursors.get(resource.name)
            operations.record_sync(
                fleet_id=load.fleet_id, resource=resource.name, rows=rows, cursor_value=cursor, fleet_ref=fleet_ref
            )
            self.log.info("Fleet %s %s: %d row(s) loaded; cursor at %s", load.fleet_id, resource.name, rows, cursor)

    def _emit_asset_events(
        self, context: Context, load: FleetLoad, resources: Sequence[TelematicsResource], fleet_ref: str | None
    ) -> None:
        outlet_events = context.get("outlet_events")
        if outlet_events is None:
            return
        for resource in resources:
            rows = load.rows_of(resource.name)
            if rows:
                outlet_events[TELEMATICS_ALIAS].add(
                    telematics_asset(resource.name),
                    extra={"fleet_id": load.fleet_id, "fleet_ref": fleet_ref, "rows": rows},
                )

    def _check_ownership(self, client: CatenaClient, fleet_id: str, fleet_ref: str | None) -> ShareAgreement:
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
        return agreement
