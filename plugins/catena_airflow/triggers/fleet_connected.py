"""Trigger that wakes a deferred onboarding sensor once its fleet is connected (or the invitation failed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from catena_airflow.hooks.adapters import DEFAULT_CATENA_CONN_ID, catena_client
from catena_airflow.hooks.inbox import inbox_store, resolve_inbox_url
from catena_airflow.inbox.models import Stage
from catena_airflow.waiting.onboarding_outcome import (
    SOURCE_RECONCILIATION,
    SOURCE_WEBHOOK,
    new_stages,
    outcome,
)
from catena_airflow.waiting.shared_poller import SharedOnboardingPoller


class CatenaFleetConnectedTrigger(BaseTrigger):
    """Waits in the triggerer for the onboarding of one invitation to end.

    All instances in a triggerer share one inbox poller (see ``shared_poller``); this trigger only logs
    the stages its fleet reaches and yields one event: ``status`` ``connected`` (with fleet id,
    connection ids, share-agreement scopes and ``source`` ``webhook`` or ``reconciliation``) or
    ``declined`` / ``expired`` / ``deleted`` with a message.

    :param invitation_id: Catena invitation id (the onboarding's key in the inbox).
    :param inbox_conn_id: Airflow connection of the inbox; None (default): ``[catena] inbox_url``.
    :param catena_conn_id: Airflow connection of Catena, used for reconciliation.
    :param poll_interval: Seconds between inbox reads.
    :param reconcile_interval: Seconds between REST reconciliations of this onboarding.
    """

    #: An event is never yielded sooner than this after the trigger started. Airflow 3.3.2 can fail a
    #: task resumed within a second or two of deferring, when the scheduler has not yet processed the
    #: deferring process's exit (see docs/architecture.md, "Known Airflow 3.3.2 race").
    min_deferral_seconds: float = 3.0

    def __init__(
        self,
        *,
        invitation_id: str,
        inbox_conn_id: str | None = None,
        catena_conn_id: str | None = DEFAULT_CATENA_CONN_ID,
        poll_interval: float = 1.0,
        reconcile_interval: float = 300.0,
    ) -> None:
        super().__init__()
        self.invitation_id = invitation_id
        self.inbox_conn_id = inbox_conn_id
        self.catena_conn_id = catena_conn_id
        self.poll_interval = poll_interval
        self.reconcile_interval = reconcile_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__qualname__}",
            {
                "invitation_id": self.invitation_id,
                "inbox_conn_id": self.inbox_conn_id,
                "catena_conn_id": self.catena_conn_id,
                "poll_interval": self.poll_interval,
                "reconcile_interval": self.reconcile_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started = time.monotonic()
        # Connection lookups are sync SDK calls: sync_to_async works in the triggerer and inline in dag.test().
        url = await sync_to_async(resolve_inbox_url)(self.inbox_conn_id)
        store = await asyncio.to_thread(inbox_store, url)
        poller = SharedOnboardingPoller.for_store(store, catena_client)
        seen: set[Stage] = set()
        version = 0
        async with poller.subscribe(
            self.invitation_id,
            poll_interval=self.poll_interval,
            reconcile_interval=self.reconcile_interval,
            catena_conn_id=self.catena_conn_id,
        ) as sub:
            self.log.info(
                "Waiting for invitation %s (inbox %r, poll every %ss, reconcile every %ss)",
                self.invitation_id,
                store,
                self.poll_interval,
                self.reconcile_interval,
            )
            while True:
                version, onboarding = await sub.next_row(version)
                if onboarding is None:
                    continue
                for _stage, line in new_stages(onboarding, seen):
                    self.log.info(line)
                payload = outcome(onboarding)
                if payload is None:
                    continue
                # A reconciliation may have written this row and not returned yet: let it finish, so
                # that the source names what really ended the wait.
                await sub.settled_source_known()
                payload["source"] = SOURCE_RECONCILIATION if sub.ended_by_reconciliation else SOURCE_WEBHOOK
                await asyncio.sleep(max(0.0, started + self.min_deferral_seconds - time.monotonic()))
                self.log.info(
                    "Onboarding of invitation %s ended: %s (%s)",
                    self.invitation_id,
                    payload["status"],
                    payload["source"],
                )
                yield TriggerEvent(payload)
                return
