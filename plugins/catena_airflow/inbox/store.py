"""InboxStore: the one gateway to the inbox database (sync SQLAlchemy 2; SQLite or PostgreSQL).

A facade: each job lives in a part of its own, and the store forwards its public methods to them, so
callers keep one object (one per process) and one API.

- engine.py: the engines, the writing transaction, retries when busy, schema migrations;
- events_repo.py: storing deliveries (projected onto their onboardings in the same transaction), reading
  them back;
- onboardings_repo.py: registering invitations, REST and redirect observations, onboarding reads;
- changes.py: incremental reads of changed onboarding rows (the triggerer's shared poller);
- secrets_repo.py: subscription secrets, their rotation;
- counters.py: the receiver's hourly counters and ``webhook_stats``;
- cursors_repo.py: the durable cursors of the inbox's readers (the watchers of triggers/inbox_events.py,
  the handlers of operators/operations.py);
- sync_ledger.py: the ingestion's sync ledger (rows loaded, lag, last error per fleet and resource);
- operations_repo.py: the operations DAG's state (fleet status, execution failures, held schedules).

The inbox is the project's one database for operations state: there is no other (schema v5 moved in
the tables of the former operations database).

Guarantees the rest of the system relies on:

- an event is stored once per Catena event id (``INSERT ... ON CONFLICT DO NOTHING``);
- storing an event and updating the onboarding rows it concerns is one transaction;
- ``seq`` order is commit order, so a watcher that read up to ``seq`` N never later finds a smaller
  one: SQLite has a single writer, and on PostgreSQL every writing transaction takes one
  transaction-scoped advisory lock before it allocates a ``seq``;
- writers are serialized on both engines, so the read-modify-write of an onboarding row is safe;
- a group-committed batch (``record_events``) is projected in memory with a bounded number of
  statements (batch.py), with the same result as applying its events one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from sqlalchemy.engine import make_url

from catena_airflow.inbox.changes import OnboardingChangesReader
from catena_airflow.inbox.counters import (
    COUNTER_DUPLICATES,
    COUNTER_EVENTS,
    COUNTER_REJECTED,
    COUNTER_SIGNATURE_FAILURES,
    Counters,
)
from catena_airflow.inbox.crypto import SecretCipher
from catena_airflow.inbox.cursors_repo import WatcherCursorsRepo
from catena_airflow.inbox.engine import _PG_LOCK_TIMEOUT_SECONDS, InboxDatabase, inbox_engine_url
from catena_airflow.inbox.engine import _WRITER_LOCK_KEY as _WRITER_LOCK_KEY
from catena_airflow.inbox.events_repo import EventsRepo
from catena_airflow.inbox.incoming import IncomingEvent
from catena_airflow.inbox.onboardings_repo import OnboardingsRepo
from catena_airflow.inbox.operations_repo import OperationsRepo
from catena_airflow.inbox.secrets_repo import SecretsRepo
from catena_airflow.inbox.sync_ledger import SyncLedgerRepo

P = ParamSpec("P")
R = TypeVar("R")


class _Forward(Generic[P, R]):
    """A store method that is one part's method: same signature, docstring and behaviour.

    A descriptor rather than a hand-written wrapper per method, so a signature is written once, in its
    part; ``help(store.record_observation)`` and ``inspect.signature`` show the part's.
    """

    def __init__(self, part: str, method: Callable[Concatenate[Any, P], R]) -> None:
        self._part = part
        self._name = method.__name__
        self.__doc__ = method.__doc__
        self.__wrapped__ = method

    @overload
    def __get__(self, store: None, owner: type) -> _Forward[P, R]: ...

    @overload
    def __get__(self, store: object, owner: type | None = None) -> Callable[P, R]: ...

    def __get__(self, store: object | None, owner: type | None = None) -> Any:
        if store is None:
            return self
        return getattr(getattr(store, self._part), self._name)

    def __call__(self, store: object, *args: P.args, **kwargs: P.kwargs) -> R:
        """Called on the class (``InboxStore.method(store, ...)``), as a plain method could be."""
        method: Callable[P, R] = getattr(getattr(store, self._part), self._name)
        return method(*args, **kwargs)


class InboxStore:
    """The inbox database. Thread-safe; create one per process and share it."""

    def __init__(
        self,
        url: str,
        *,
        fernet_key: str | None = None,
        pool_size: int = 5,
        max_overflow: int = 10,
        sqlite_synchronous: str = "FULL",
        checkpoint_in_background: bool = False,
        pg_lock_timeout: float = _PG_LOCK_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        cipher = SecretCipher(fernet_key=fernet_key)  # a bad key fails before any engine exists
        self._db = InboxDatabase(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            sqlite_synchronous=sqlite_synchronous,
            checkpoint_in_background=checkpoint_in_background,
            pg_lock_timeout=pg_lock_timeout,
        )
        self.engine = self._db.engine
        self.dialect = self._db.dialect
        self.statements = self._db.statements
        self._checkpointer = self._db.checkpointer
        self._counters = Counters(self._db)
        self._events = EventsRepo(self._db, self._counters)
        self._onboardings = OnboardingsRepo(self._db)
        self._changes = OnboardingChangesReader(self._db)
        self._secrets = SecretsRepo(self._db, cipher)
        self._cursors = WatcherCursorsRepo(self._db)
        self._ledger = SyncLedgerRepo(self._db)
        self._operations = OperationsRepo(self._db)

    def __repr__(self) -> str:
        return f"InboxStore({make_url(self.url).render_as_string(hide_password=True)!r})"

    # --- schema and lifecycle (engine.py) -------------------------------------------------------

    migrate = _Forward("_db", InboxDatabase.migrate)
    schema_version = _Forward("_db", InboxDatabase.schema_version)
    dispose = _Forward("_db", InboxDatabase.dispose)

    # --- events (events_repo.py) ----------------------------------------------------------------

    record_event = _Forward("_events", EventsRepo.record_event)
    record_events = _Forward("_events", EventsRepo.record_events)
    events_after = _Forward("_events", EventsRepo.events_after)
    last_seq = _Forward("_events", EventsRepo.last_seq)
    get_event = _Forward("_events", EventsRepo.get_event)
    latest_event_per_connection = _Forward("_events", EventsRepo.latest_event_per_connection)
    connection_went_stale = _Forward("_events", EventsRepo.connection_went_stale)

    # --- onboardings (onboardings_repo.py) ------------------------------------------------------

    register_invitation = _Forward("_onboardings", OnboardingsRepo.register_invitation)
    record_observation = _Forward("_onboardings", OnboardingsRepo.record_observation)
    get_onboarding = _Forward("_onboardings", OnboardingsRepo.get_onboarding)
    get_onboardings = _Forward("_onboardings", OnboardingsRepo.get_onboardings)
    onboardings_for_fleet = _Forward("_onboardings", OnboardingsRepo.onboardings_for_fleet)
    onboardings_for_refs = _Forward("_onboardings", OnboardingsRepo.onboardings_for_refs)
    list_onboardings = _Forward("_onboardings", OnboardingsRepo.list_onboardings)
    count_onboardings = _Forward("_onboardings", OnboardingsRepo.count_onboardings)
    stage_counts = _Forward("_onboardings", OnboardingsRepo.stage_counts)
    read_onboarding_changes = _Forward("_changes", OnboardingChangesReader.read_onboarding_changes)

    # --- subscriptions (secrets_repo.py) --------------------------------------------------------

    save_subscription_secret = _Forward("_secrets", SecretsRepo.save_subscription_secret)
    delete_subscription = _Forward("_secrets", SecretsRepo.delete_subscription)
    subscription_secret = _Forward("_secrets", SecretsRepo.subscription_secret)
    subscription_secrets = _Forward("_secrets", SecretsRepo.subscription_secrets)
    stage_subscription_secret = _Forward("_secrets", SecretsRepo.stage_subscription_secret)
    promote_subscription_secret = _Forward("_secrets", SecretsRepo.promote_subscription_secret)
    discard_subscription_secret = _Forward("_secrets", SecretsRepo.discard_subscription_secret)
    subscription_secret_sets = _Forward("_secrets", SecretsRepo.subscription_secret_sets)
    subscription_secret_candidates = _Forward("_secrets", SecretsRepo.subscription_secret_candidates)
    previous_secret_unknown = _Forward("_secrets", SecretsRepo.previous_secret_unknown)
    subscriptions = _Forward("_secrets", SecretsRepo.subscriptions)

    # --- receiver counters (counters.py) --------------------------------------------------------

    add_counters = _Forward("_counters", Counters.add_counters)
    webhook_stats = _Forward("_counters", Counters.webhook_stats)

    # --- reader cursors (cursors_repo.py) -------------------------------------------------------

    watcher_cursor = _Forward("_cursors", WatcherCursorsRepo.watcher_cursor)
    set_watcher_cursor = _Forward("_cursors", WatcherCursorsRepo.set_watcher_cursor)
    advance_watcher_cursor = _Forward("_cursors", WatcherCursorsRepo.advance_watcher_cursor)

    # --- sync ledger (sync_ledger.py) -----------------------------------------------------------

    record_sync = _Forward("_ledger", SyncLedgerRepo.record_sync)
    record_sync_failure = _Forward("_ledger", SyncLedgerRepo.record_sync_failure)
    resource_syncs = _Forward("_ledger", SyncLedgerRepo.resource_syncs)
    rows_loaded = _Forward("_ledger", SyncLedgerRepo.rows_loaded)

    # --- operations state (operations_repo.py) --------------------------------------------------

    set_fleet_status = _Forward("_operations", OperationsRepo.set_fleet_status)
    get_fleet_status = _Forward("_operations", OperationsRepo.get_fleet_status)
    list_fleet_statuses = _Forward("_operations", OperationsRepo.list_fleet_statuses)
    record_execution_failure = _Forward("_operations", OperationsRepo.record_execution_failure)
    count_execution_failures = _Forward("_operations", OperationsRepo.count_execution_failures)
    hold_schedule = _Forward("_operations", OperationsRepo.hold_schedule)
    get_schedule_hold = _Forward("_operations", OperationsRepo.get_schedule_hold)
    list_schedule_holds = _Forward("_operations", OperationsRepo.list_schedule_holds)
    reactivations_today = _Forward("_operations", OperationsRepo.reactivations_today)
    schedule_reactivated = _Forward("_operations", OperationsRepo.schedule_reactivated)
    paused_resources = _Forward("_operations", OperationsRepo.paused_resources)


__all__ = [
    "COUNTER_DUPLICATES",
    "COUNTER_EVENTS",
    "COUNTER_REJECTED",
    "COUNTER_SIGNATURE_FAILURES",
    "InboxStore",
    "IncomingEvent",
    "inbox_engine_url",
]
