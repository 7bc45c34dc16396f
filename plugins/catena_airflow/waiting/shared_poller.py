"""One inbox poller per (event loop, inbox URL): all waiting triggers share one query per poll.

A triggerer may hold thousands of deferred onboarding sensors. Rather than each trigger querying the
inbox, each subscribes here, and the poller serves all of them with ONE statement per read (in a
thread, the inbox is synchronous), handing each subscriber its row:

- *incremental reads* (``InboxStore.read_onboarding_changes``, ``inbox/changes.py``): a read fetches
  only the rows changed since the previous one (from its cursor minus an overlap window) plus
  newcomers' rows, so a poll costs what changed, not what waits; every ``full_read_interval`` it
  re-reads every subscribed row as a safety net;
- *wake on commit* (PostgreSQL): an ``InboxChangeListener`` LISTENs for the inbox's
  ``NOTIFY catena_onboardings_changed`` and sets the poller's wake-up, so a committed change is read at
  once instead of at the next poll. Wake-ups are coalesced: all that arrive while a read runs make
  ONE more read, and an early read waits while two reads already started within the last
  ``min(poll_interval, 1 s)``, so the poller never reads more than twice per poll interval (twice a
  second for longer intervals) however many changes commit;
- the periodic poll stays, as the fallback when LISTEN is unavailable (SQLite, a lost connection).

Every ``reconcile_interval`` it also reconciles due subscribers with Catena's REST API (in a thread),
writing what it learnt to the inbox, so a lost webhook cannot hang a wait. An onboarding that Catena's
webhooks cannot finish by themselves (accepted, but no event named its fleet: the spec makes
``invitation.accepted``'s ``fleet_id`` and the share agreement's ``fleet_ref`` nullable) is reconciled
sooner: ``first_fleet_probe_delay`` after it was seen so, then at doubling intervals up to
``reconcile_interval``. The receiver never waits on Catena's API; this happens here, asynchronously.

The poller lives as long as it has subscribers and belongs to the loop that created it, so it works
in the triggerer (one long-lived loop) and inline under ``dag.test()`` (a new loop per trigger run).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from catena_airflow.inbox import InboxStore, changes
from catena_airflow.inbox.models import Onboarding, Stage
from catena_airflow.waiting.inbox_listener import InboxChangeListener
from catena_airflow.waiting.reconcile import reconcile_onboarding

if TYPE_CHECKING:
    from catena_airflow.client import CatenaClient

log = logging.getLogger(__name__)

#: Builds a Catena client for a connection id (blocking; called in a thread).
ClientFactory = Callable[[str | None], "CatenaClient"]


@dataclass(eq=False)
class Subscription:
    """One waiting trigger's view of the poller: the latest row of its onboarding, and why it changed."""

    invitation_id: str
    poll_interval: float
    reconcile_interval: float
    catena_conn_id: str | None
    next_reconcile_at: float
    latest: Onboarding | None = None
    version: int = 0
    #: Set when REST reconciliation, not a webhook, ended the wait (the inbox had not seen the end yet).
    ended_by_reconciliation: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Clear while a reconciliation of this subscription runs: what it wrote may be read before it
    #: returns, and whether it ended the wait is only known once it has.
    reconciled: asyncio.Event = field(default_factory=asyncio.Event)
    #: When to ask Catena for the fleet of an accepted invitation no event has linked (None: not needed).
    fleet_probe_at: float | None = None
    fleet_probe_delay: float = 2.0

    def __post_init__(self) -> None:
        self.reconciled.set()

    async def settled_source_known(self, timeout: float = 30.0) -> None:
        """Wait until no reconciliation of this subscription is running (bounded)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.reconciled.wait(), timeout)

    def needs_fleet(self) -> bool:
        """Accepted, but no event named the fleet: only REST can link it (see the module docstring)."""
        return self.latest is not None and self.latest.stage is Stage.ACCEPTED and self.latest.fleet_id is None

    def reconcile_due(self, now: float) -> bool:
        if now >= self.next_reconcile_at:
            return True
        return self.fleet_probe_at is not None and now >= self.fleet_probe_at and self.needs_fleet()

    def watch_for_missing_fleet(self, now: float) -> None:
        if self.fleet_probe_at is None and self.needs_fleet():
            self.fleet_probe_at = now + min(self.fleet_probe_delay, self.reconcile_interval)

    def reconciling(self, now: float) -> None:
        """A reconciliation starts now: schedule the next one (sooner while the fleet is missing)."""
        self.next_reconcile_at = now + self.reconcile_interval
        if self.needs_fleet():
            self.fleet_probe_delay = min(self.fleet_probe_delay * 2, self.reconcile_interval)
            self.fleet_probe_at = now + self.fleet_probe_delay
        else:
            self.fleet_probe_at = None

    async def next_row(self, after_version: int) -> tuple[int, Onboarding | None]:
        """Wait for a delivery newer than ``after_version``; returns (version, row)."""
        while self.version <= after_version:
            self.changed.clear()
            await self.changed.wait()
        return self.version, self.latest

    def deliver(self, row: Onboarding | None) -> None:
        """Hand over a freshly read row; an unchanged row does not wake the trigger again."""
        if self.version and row == self.latest:
            return
        self.latest = row
        self.version += 1
        self.changed.set()


class SharedOnboardingPoller:
    """Polls the inbox for all subscribed onboardings of one inbox URL on one event loop.

    :param store: The inbox of that URL.
    :param client_factory: Builds the Catena client of a connection id, for reconciliations.
    """

    _registry: ClassVar[dict[tuple[int, str], SharedOnboardingPoller]] = {}
    #: Seconds between full re-reads of every subscribed row (the incremental reads' safety net).
    full_read_interval: ClassVar[float] = 30.0
    #: Whether to LISTEN for change notifications on a PostgreSQL inbox.
    listen: ClassVar[bool] = True

    def __init__(self, store: InboxStore, client_factory: ClientFactory) -> None:
        self.store = store
        self.client_factory = client_factory
        self.subscriptions: set[Subscription] = set()
        self.queries = 0
        self.full_reads = 0
        self.rows_parsed = 0
        self.reconciliations = 0
        self.listener: InboxChangeListener | None = None
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._clients: dict[str | None, CatenaClient] = {}
        # The incremental cursor: None until the first successful read; then the newest ``updated_at``
        # the table had at the last read (None again only while the table is empty).
        self._synced = False
        self._newest: datetime | None = None
        self._next_full_read = 0.0

    @classmethod
    def for_store(cls, store: InboxStore, client_factory: ClientFactory) -> SharedOnboardingPoller:
        """The running loop's poller for ``store``'s URL, created on first use."""
        key = (id(asyncio.get_running_loop()), store.url)
        poller = cls._registry.get(key)
        if poller is None or poller._loop.is_closed():
            poller = cls._registry[key] = cls(store, client_factory)
        return poller

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        invitation_id: str,
        *,
        poll_interval: float,
        reconcile_interval: float,
        catena_conn_id: str | None,
    ) -> AsyncIterator[Subscription]:
        sub = Subscription(
            invitation_id=invitation_id,
            poll_interval=poll_interval,
            reconcile_interval=reconcile_interval,
            catena_conn_id=catena_conn_id,
            next_reconcile_at=time.monotonic() + reconcile_interval,
        )
        self.subscriptions.add(sub)
        self._wakeup.set()  # a newcomer is served at once, not after the current sleep
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"catena-inbox-poller:{self.store!r}")
        try:
            yield sub
        finally:
            self.subscriptions.discard(sub)
            if not self.subscriptions:
                self._wakeup.set()  # end now (and close the listener), not after a long poll interval

    # -- the loop ----------------------------------------------------------------------------------

    def wake(self) -> None:
        """Read again now (coalesced with any other wake-up before the next read)."""
        self._wakeup.set()

    def _start_listener(self) -> None:
        if not self.listen or self.store.dialect != "postgresql":
            return
        try:
            self.listener = InboxChangeListener(self.store.engine.url, self.wake)
        except Exception as exc:  # a URL psycopg2 cannot use: polling still works
            log.warning("Not listening for inbox changes on %r: %s", self.store, exc)
            return
        self.listener.start()

    async def _read(self, subs: list[Subscription]) -> None:
        """One statement for every subscriber: changed rows, newcomers' rows, or all rows when due."""
        now = time.monotonic()
        watched = {s.invitation_id for s in subs}
        full = not self._synced or now >= self._next_full_read
        fresh = watched if full else {s.invitation_id for s in subs if s.version == 0}
        seen: dict[str, datetime] = {}
        for sub in subs:
            if sub.latest is not None and sub.latest.updated_at is not None:
                seen[sub.invitation_id] = sub.latest.updated_at
        found = await asyncio.to_thread(
            self.store.read_onboarding_changes,
            watched=watched,
            fresh=fresh,
            changed_since=changes.next_since(self._newest) if self._synced else None,
            seen=seen,
        )
        self.queries += 1
        self.rows_parsed += sum(row is not None for row in found.rows.values())
        self._synced, self._newest = True, found.newest
        if full:
            self.full_reads += 1
            self._next_full_read = now + self.full_read_interval
        now = time.monotonic()
        for sub in subs:
            if sub.invitation_id in found.rows:
                sub.deliver(found.rows[sub.invitation_id])
            sub.watch_for_missing_fleet(now)

    async def _run(self) -> None:
        reconciling: asyncio.Task[None] | None = None
        recent: deque[float] = deque(maxlen=2)  # when the last two reads started
        self._start_listener()
        try:
            while self.subscriptions:
                self._wakeup.clear()
                subs = list(self.subscriptions)
                recent.append(time.monotonic())
                try:
                    await self._read(subs)
                except Exception:
                    log.exception("Reading the Catena inbox failed; retrying at the next poll")
                now = time.monotonic()
                due = [s for s in subs if s.reconcile_due(now)]
                if due and (reconciling is None or reconciling.done()):
                    for sub in due:
                        sub.reconciling(now)
                        sub.reconciled.clear()
                    reconciling = asyncio.create_task(self._reconcile(due))
                interval = min((s.poll_interval for s in subs), default=1.0)
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=interval)
                except TimeoutError:
                    continue
                # Woken early (a notification, a newcomer, reconciliation): read at once, unless two reads
                # already started within the window; then coalesce whatever else comes until it allows one.
                window = min(interval, 1.0)
                if len(recent) == recent.maxlen:
                    await asyncio.sleep(max(0.0, recent[0] + window - time.monotonic()))
        finally:
            if reconciling is not None and not reconciling.done():
                reconciling.cancel()
            if self.listener is not None:
                self.listener.close()
            key = (id(self._loop), self.store.url)
            if self._registry.get(key) is self:
                del self._registry[key]

    async def _reconcile(self, due: list[Subscription]) -> None:
        """Reconcile the due subscriptions with Catena (one thread hop for the whole batch)."""
        try:
            found = await asyncio.to_thread(self._reconcile_batch, [(s.invitation_id, s.catena_conn_id) for s in due])
        except Exception:
            log.exception("Reconciliation with Catena failed; trying again in the next interval")
            return
        else:
            for sub in due:
                if found.get(sub.invitation_id):
                    sub.ended_by_reconciliation = True
        finally:
            for sub in due:
                sub.reconciled.set()
        self._wakeup.set()  # what reconciliation wrote is delivered now, not after the sleep

    def _reconcile_batch(self, items: list[tuple[str, str | None]]) -> dict[str, bool]:
        found: dict[str, bool] = {}
        for invitation_id, conn_id in items:
            try:
                if conn_id not in self._clients:
                    self._clients[conn_id] = self.client_factory(conn_id)
                result = reconcile_onboarding(self._clients[conn_id], self.store, invitation_id)
                self.reconciliations += 1
                found[invitation_id] = result.ended_wait
            except Exception as exc:
                log.warning("Could not reconcile invitation %s with Catena: %s", invitation_id, exc)
        return found
