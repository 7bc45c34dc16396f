"""Incremental reads of onboarding rows, for the triggerer's shared poller.

Re-reading every waiting onboarding each poll makes a poll cost grow with the waits (1,000 rows parsed
per second in a busy triggerer). Instead the poller keeps a cursor, the newest ``updated_at`` in the
table at its last read, and each poll reads only the rows changed since then, plus the rows of
newcomers (read in full on their first read), in ONE statement.

Why an overlap window keeps the cursor safe: every inbox writer takes the writer lock (advisory lock on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) before it stamps ``updated_at``, so on one clock commit order
is ``updated_at`` order and a row committed after a read is never older than what that read saw. What
can still break it is clocks: writers on several hosts (receiver, triggerer, workers) with some skew,
or a clock stepped back. Rows are therefore re-read from ``cursor - overlap`` (5 s by default, far
above NTP skew); rows re-read that way whose ``updated_at`` the caller already has are skipped without
being parsed, so the overlap costs a fetch, not a parse. The poller also re-reads all its rows in full
now and then, which bounds whatever the overlap could still miss.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import false, func, or_, select

from catena_airflow.inbox import projection
from catena_airflow.inbox.engine import InboxDatabase
from catena_airflow.inbox.models import Onboarding
from catena_airflow.inbox.schema import onboardings

#: How far before the cursor a changed-rows read starts (writer clock skew, see the module docstring).
DEFAULT_OVERLAP = timedelta(seconds=5)
#: ``changed_since`` for "every row" (an inbox that was empty at the previous read).
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class OnboardingChanges:
    """What one read found.

    ``rows``: id -> row for every ``fresh`` id (None when it has no row) and every watched row changed
    since the cursor. ``newest``: the newest ``updated_at`` in the whole table (None if it is empty),
    the cursor for the next read. ``fetched``: rows the statement returned (parsed or skipped).
    """

    rows: dict[str, Onboarding | None]
    newest: datetime | None
    fetched: int


def next_since(newest: datetime | None, overlap: timedelta = DEFAULT_OVERLAP) -> datetime:
    """The ``changed_since`` of the read after one that saw ``newest``."""
    return BEGINNING if newest is None else newest - overlap


class OnboardingChangesReader:
    """The store's part for ``InboxStore.read_onboarding_changes`` (the shared poller's one read)."""

    def __init__(self, db: InboxDatabase) -> None:
        self.db = db

    def read_onboarding_changes(
        self,
        *,
        watched: Collection[str],
        fresh: Collection[str] = (),
        changed_since: datetime | None = None,
        seen: Mapping[str, datetime] | None = None,
    ) -> OnboardingChanges:
        """One statement: the rows of ``fresh`` ids whatever their age, and rows with ``updated_at >=
        changed_since`` (None: none), of which only ``watched`` ids whose ``updated_at`` differs from
        ``seen[id]`` (what the caller already has) are parsed and returned.

        The table's newest ``updated_at`` comes from the same statement (same snapshot), through an outer
        join on a one-row ``max()``, so an empty result still moves the cursor.
        """
        fresh_ids = sorted(set(fresh))
        changed = onboardings.c.updated_at >= projection.to_utc(changed_since) if changed_since is not None else false()
        wanted = or_(changed, onboardings.c.invitation_id.in_(fresh_ids)) if fresh_ids else changed
        newest = select(func.max(onboardings.c.updated_at).label("newest")).subquery()
        stmt = select(newest.c.newest, onboardings).select_from(newest.outerjoin(onboardings, wanted))
        seen = seen or {}
        fresh_set, watched_set = set(fresh_ids), set(watched)
        rows: dict[str, Onboarding | None] = dict.fromkeys(fresh_ids)
        newest_at: datetime | None = None
        fetched = 0
        with self.db.engine.connect() as conn:
            for row in conn.execute(stmt):
                newest_at = projection.to_utc(row.newest)
                if row.invitation_id is None:  # the outer join's empty side: nothing changed
                    continue
                fetched += 1
                invitation_id = row.invitation_id
                updated_at = projection.to_utc(row.updated_at)
                if invitation_id not in fresh_set and (
                    invitation_id not in watched_set or seen.get(invitation_id) == updated_at
                ):
                    continue  # nobody waits for it, or the caller has this very version
                rows[invitation_id] = projection.to_onboarding(
                    invitation_id,
                    row.state or {},
                    created_at=projection.to_utc(row.created_at),
                    updated_at=updated_at,
                )
        return OnboardingChanges(rows=rows, newest=newest_at, fetched=fetched)
