"""Change notification on PostgreSQL: a write that changes onboardings says so with ``NOTIFY``.

PostgreSQL delivers a notification when (and only if) the transaction that sent it commits, so a
listener (the triggerer's shared poller) can re-read the inbox at once instead of at its next poll.
SQLite has no such channel: its readers keep polling.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from catena_airflow.inbox import pg_transaction

#: The channel every inbox write that changes onboarding rows notifies (payload empty).
ONBOARDINGS_CHANGED_CHANNEL = "catena_onboardings_changed"

_NOTIFY = text(f"NOTIFY {ONBOARDINGS_CHANGED_CHANNEL}")


def notify_onboardings_changed(conn: Connection) -> None:
    """Queue the notification in ``conn``'s transaction (sent at commit; a no-op off PostgreSQL)."""
    if conn.dialect.name == "postgresql" and not pg_transaction.at_commit(conn, _NOTIFY.text):
        conn.execute(_NOTIFY)
