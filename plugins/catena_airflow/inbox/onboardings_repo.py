"""Onboardings: registering invitations, merging what REST and redirect pages observe, and every read.

An observation is merged through the same in-memory projection batch as events (batch.py), so what it
links (a fleet, a connection, a fleet ref gaining a live onboarding) releases held events in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select

from catena_airflow.client._base import status_value
from catena_airflow.inbox import projection
from catena_airflow.inbox.batch import ProjectionBatch
from catena_airflow.inbox.engine import InboxDatabase, retried_when_busy
from catena_airflow.inbox.incoming import field_of, str_or_none
from catena_airflow.inbox.models import Onboarding, Stage
from catena_airflow.inbox.projection import State
from catena_airflow.inbox.schema import onboardings


class OnboardingsRepo:
    """The ``onboardings`` table: one row per invitation, its projected state and the columns read from it."""

    def __init__(self, db: InboxDatabase) -> None:
        self.db = db

    def register_invitation(
        self,
        invitation: Any,
        *,
        dag_id: str | None = None,
        run_id: str | None = None,
        new_attempt_at: datetime | None = None,
    ) -> Onboarding:
        """Create (or refresh) the onboarding row of an invitation created over REST.

        ``new_attempt_at``: Catena refreshed an existing invitation (200) for a new attempt, requested at
        that time (our clock, taken before the request). If the attempt before had failed, the onboarding
        shows only what happens from then on (projection.py, "Attempts").
        """
        invitation_id = str_or_none(field_of(invitation, "id"))
        if not invitation_id:
            raise ValueError("invitation has no id")
        now = datetime.now(UTC)
        status = status_value(field_of(invitation, "status"))
        created = projection.to_utc(field_of(invitation, "created_at")) or now
        stage_times = projection.invitation_stage_times(
            status,
            observed_at=now,
            accepted_at=field_of(invitation, "accepted_at"),
            declined_at=field_of(invitation, "declined_at"),
            expires_at=field_of(invitation, "expires_at"),
        )
        # The status dates from its own transition (an active one from its creation, or from the new
        # attempt), so a registration never overrides a later event.
        status_at = new_attempt_at or next(iter(stage_times.values()), created)
        fact = projection.join(
            projection.observation_fact(
                at=created,
                source="rest",
                stage=Stage.INVITED,
                fleet_id=str_or_none(field_of(invitation, "fleet_id")),
                fleet_ref=str_or_none(field_of(invitation, "fleet_ref")),
                magic_link=str_or_none(field_of(invitation, "magic_link")),
                opened_at=created,
                expires_at=field_of(invitation, "expires_at"),
            ),
            projection.observation_fact(
                at=status_at,
                source="rest",
                invitation_status=status,
                stage_times=stage_times,
                decline_reason=str_or_none(field_of(invitation, "decline_reason")),
                new_attempt_at=new_attempt_at,
            ),
        )
        if dag_id or run_id:
            fact = projection.join(
                fact, projection.observation_fact(at=now, source="register", dag_id=dag_id, run_id=run_id)
            )
        onboarding = self._observe(invitation_id, fact, create=True)
        if onboarding is None:
            raise RuntimeError(f"invitation {invitation_id} was not registered")
        return onboarding

    def record_observation(
        self,
        invitation_id: str,
        *,
        stage: Stage | str | None = None,
        stage_times: Mapping[Stage, datetime | str | None] | None = None,
        fleet_id: str | None = None,
        fleet_ref: str | None = None,
        connection_ids: Iterable[str] | None = None,
        connection_statuses: Mapping[str, str] | None = None,
        schedule_statuses: Mapping[str, str] | None = None,
        share_agreement: Any = None,
        decline_reason: str | None = None,
        invitation_status: str | None = None,
        expires_at: datetime | str | None = None,
        source: str = "rest",
        at: datetime | None = None,
        create: bool = False,
    ) -> Onboarding | None:
        """Merge what REST reconciliation or a redirect page learnt; None for an unknown invitation.

        ``at``: when the observation was made (for a REST read, before it was sent). Rows are only
        created with ``create=True``: redirect pages are public, and an unknown id coming from them must
        not create onboardings.
        """
        if source == "redirect" and stage is not None and str(stage) in {s.value for s in Stage}:
            raise ValueError("redirect observations record a redirect kind (e.g. redirect_success), not a stage")
        share = None
        if share_agreement is not None:
            share = {
                "id": str_or_none(field_of(share_agreement, "id")),
                "status": status_value(field_of(share_agreement, "status")),
                "scopes": {k: status_value(v) for k, v in (field_of(share_agreement, "scopes") or {}).items()},
            }
        fact = projection.observation_fact(
            at=projection.to_utc(at) or datetime.now(UTC),
            source=source,
            stage=stage,
            stage_times=stage_times,
            fleet_id=fleet_id,
            fleet_ref=fleet_ref,
            expires_at=expires_at,
            connection_ids=connection_ids,
            connection_statuses=connection_statuses,
            schedule_statuses=schedule_statuses,
            share_agreement=share,
            decline_reason=decline_reason,
            invitation_status=invitation_status,
        )
        return self._observe(invitation_id, fact, create=create)

    def get_onboarding(self, invitation_id: str) -> Onboarding | None:
        with self.db.engine.connect() as conn:
            return self._load(conn, invitation_id)

    def onboardings_for_fleet(self, fleet_id: str) -> list[Onboarding]:
        """The onboardings linked to a Catena fleet, the most recently created first."""
        stmt = (
            select(onboardings)
            .where(onboardings.c.fleet_id == fleet_id)
            .order_by(onboardings.c.created_at.desc(), onboardings.c.invitation_id)
        )
        with self.db.engine.connect() as conn:
            return [_onboarding(row) for row in conn.execute(stmt)]

    def onboardings_for_refs(self, fleet_refs: Iterable[str]) -> dict[str, list[Onboarding]]:
        """Every onboarding of these fleet refs (each ref's invitations, oldest first), in one query."""
        refs = sorted(set(fleet_refs))
        found: dict[str, list[Onboarding]] = {ref: [] for ref in refs}
        if not refs:
            return found
        stmt = (
            select(onboardings)
            .where(onboardings.c.fleet_ref.in_(refs))
            .order_by(onboardings.c.created_at, onboardings.c.invitation_id)
        )
        with self.db.engine.connect() as conn:
            for row in conn.execute(stmt):
                found[row.fleet_ref].append(_onboarding(row))
        return found

    def get_onboardings(self, invitation_ids: Iterable[str]) -> dict[str, Onboarding]:
        """Many onboardings in one query (for a shared poller); unknown ids are absent."""
        ids = sorted(set(invitation_ids))
        if not ids:
            return {}
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(onboardings).where(onboardings.c.invitation_id.in_(ids)))
            return {row.invitation_id: _onboarding(row) for row in rows}

    def list_onboardings(
        self,
        stage: Stage | str | Sequence[Stage | str] | None = None,
        since: datetime | None = None,
        search: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[Onboarding]:
        """Newest-updated first. ``since`` filters on ``updated_at``; ``search`` matches ids and fleet ref.

        ``limit=None``: every matching row (the dashboard's funnel and stuck scans).
        """
        stmt = (
            select(onboardings)
            .where(*_onboarding_filters(stage, since, search))
            .order_by(onboardings.c.updated_at.desc(), onboardings.c.invitation_id)
            .limit(limit)
            .offset(offset)
        )
        with self.db.engine.connect() as conn:
            return [_onboarding(row) for row in conn.execute(stmt)]

    def count_onboardings(
        self,
        stage: Stage | str | Sequence[Stage | str] | None = None,
        since: datetime | None = None,
        search: str | None = None,
    ) -> int:
        stmt = select(func.count()).select_from(onboardings).where(*_onboarding_filters(stage, since, search))
        with self.db.engine.connect() as conn:
            return conn.execute(stmt).scalar() or 0

    def stage_counts(self) -> dict[Stage, int]:
        stmt = select(onboardings.c.stage, func.count()).group_by(onboardings.c.stage)
        with self.db.engine.connect() as conn:
            return {Stage(stage): n for stage, n in conn.execute(stmt)}

    def _load(self, conn: Connection, invitation_id: str) -> Onboarding | None:
        row = conn.execute(select(onboardings).where(onboardings.c.invitation_id == invitation_id)).first()
        return None if row is None else _onboarding(row)

    @retried_when_busy
    def _observe(self, invitation_id: str, fact: State, *, create: bool) -> Onboarding | None:
        """Merge a REST/redirect/registration fact into one onboarding, releasing what it links."""
        with self.db.write() as conn:
            batch = ProjectionBatch(self.db.statements, conn, datetime.now(UTC))
            batch.read(invitation_ids=[invitation_id])
            if not create and not batch.exists(invitation_id):
                return None
            batch.merge(invitation_id, fact)
            batch.settle()
            batch.flush()
            return self._load(conn, invitation_id)


_LIKE_ESCAPE = "\\"


def _escape_like(value: str) -> str:
    return (
        value.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", _LIKE_ESCAPE + "%").replace("_", _LIKE_ESCAPE + "_")
    )


def _onboarding_filters(
    stage: Stage | str | Sequence[Stage | str] | None, since: datetime | None, search: str | None
) -> list[Any]:
    filters: list[Any] = []
    if stage is not None:
        stages = [stage] if isinstance(stage, str) else list(stage)
        filters.append(onboardings.c.stage.in_([Stage(s).value for s in stages]))
    if since is not None:
        filters.append(onboardings.c.updated_at >= projection.to_utc(since))
    if search:
        # A literal substring: ``_`` and ``%`` in fleet refs must not act as wildcards.
        pattern = "%" + _escape_like(search.strip().lower()) + "%"
        filters.append(
            or_(
                func.lower(onboardings.c.invitation_id).like(pattern, escape=_LIKE_ESCAPE),
                func.lower(onboardings.c.fleet_ref).like(pattern, escape=_LIKE_ESCAPE),
                func.lower(onboardings.c.fleet_id).like(pattern, escape=_LIKE_ESCAPE),
            )
        )
    return filters


def _onboarding(row: Any) -> Onboarding:
    return projection.to_onboarding(
        row.invitation_id,
        row.state or {},
        created_at=projection.to_utc(row.created_at),
        updated_at=projection.to_utc(row.updated_at),
    )
