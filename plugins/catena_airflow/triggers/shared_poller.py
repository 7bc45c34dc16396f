"""One inbox poller per (event loop, inbox URL): all waiting triggers share one query per poll interval.

A triggerer may hold thousands of deferred onboarding sensors. Rather than each trigger querying the
inbox, each subscribes here; the poller reads every subscribed onboarding with a single
``get_onboardings(ids)`` (in a thread, the inbox is synchronous) and hands each subscriber its row.
Every ``reconcile_interval`` it also reconciles due subscribers with Catena's REST API (in a thread),
writing what it learnt to the inbox, so a lost webhook cannot hang a wait.

The poller lives as long as it has subscribers and belongs to the loop that created it, so it works
in the triggerer (one long-lived loop) and inline under ``dag.test()`` (a new loop per trigger run).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from catena_airflow.inbox import InboxStore
from catena_airflow.inbox.models import Onboarding
from catena_airflow.triggers.reconcile import reconcile_onboarding

log = logging.getLogger(__name__)

#: Builds a Catena client for a connection id (blocking; called in a thread).
ClientFactory = Callable[[str | None], Any]


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
    """Polls the inbox for all subscribed onboardings of one inbox URL on one event loop."""

    _registry: ClassVar[dict[tuple[int, str], SharedOnboardingPoller]] = {}

    def __init__(self, store: InboxStore, client_factory: ClientFactory) -> None:
        self.store = store
        self.client_factory = client_factory
        self.subscriptions: set[Subscription] = set()
        self.queries = 0
        self.reconciliations = 0
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._clients: dict[str | None, Any] = {}

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

    # -- the loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        reconciling: asyncio.Task[None] | None = None
        try:
            while self.subscriptions:
                self._wakeup.clear()
                subs = list(self.subscriptions)
                try:
                    rows = await asyncio.to_thread(self.store.get_onboardings, {s.invitation_id for s in subs})
                    self.queries += 1
                except Exception:
                    log.exception("Reading the Catena inbox failed; retrying at the next poll")
                    rows = None
                if rows is not None:
                    for sub in subs:
                        sub.deliver(rows.get(sub.invitation_id))
                now = time.monotonic()
                due = [s for s in subs if s.next_reconcile_at <= now]
                if due and (reconciling is None or reconciling.done()):
                    for sub in due:
                        sub.next_reconcile_at = now + sub.reconcile_interval
                    reconciling = asyncio.create_task(self._reconcile(due))
                interval = min((s.poll_interval for s in subs), default=1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=interval)
        finally:
            if reconciling is not None and not reconciling.done():
                reconciling.cancel()
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
        for sub in due:
            if found.get(sub.invitation_id):
                sub.ended_by_reconciliation = True
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
