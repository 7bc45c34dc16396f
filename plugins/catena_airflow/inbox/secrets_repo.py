"""Webhook subscriptions and their signing secrets: storage (encrypted), rotation without a gap, reads."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from catena_airflow.inbox import projection
from catena_airflow.inbox.crypto import SecretCipher
from catena_airflow.inbox.engine import InboxDatabase, retried_when_busy
from catena_airflow.inbox.schema import subscriptions

log = logging.getLogger(__name__)


class SecretsRepo:
    """The ``subscriptions`` table; secrets are sealed with ``cipher`` before they are written."""

    def __init__(self, db: InboxDatabase, cipher: SecretCipher) -> None:
        self.db = db
        self._cipher = cipher

    @retried_when_busy
    def save_subscription_secret(
        self, webhook_id: str, secret: str, *, event_name: str | None = None, url: str | None = None
    ) -> None:
        """Store (or replace) the signing secret of a webhook subscription, encrypted when a key is set."""
        values = {
            "webhook_id": str(webhook_id),
            "secret": self._cipher.encrypt(secret),
            "event_name": event_name,
            "url": url,
            "updated_at": datetime.now(UTC),
        }
        stmt = self.db.insert(subscriptions).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[subscriptions.c.webhook_id],
            set_={
                "secret": stmt.excluded.secret,
                "updated_at": stmt.excluded.updated_at,
                # A rotation that does not restate them keeps the event name and URL.
                "event_name": func.coalesce(stmt.excluded.event_name, subscriptions.c.event_name),
                "url": func.coalesce(stmt.excluded.url, subscriptions.c.url),
            },
        )
        with self.db.write() as conn:
            conn.execute(stmt)

    @retried_when_busy
    def delete_subscription(self, webhook_id: str) -> None:
        with self.db.write() as conn:
            conn.execute(subscriptions.delete().where(subscriptions.c.webhook_id == str(webhook_id)))

    def subscription_secret(self, webhook_id: str) -> str | None:
        with self.db.engine.connect() as conn:
            stored = conn.execute(
                select(subscriptions.c.secret).where(subscriptions.c.webhook_id == str(webhook_id))
            ).scalar()
        return None if stored is None else self._cipher.decrypt(stored)

    def subscription_secrets(self) -> dict[str, str]:
        """Every stored webhook id -> secret (decrypted). Undecryptable rows are skipped with an error log."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(subscriptions.c.webhook_id, subscriptions.c.secret)).all()
        secrets: dict[str, str] = {}
        for webhook_id, stored in rows:
            try:
                secrets[webhook_id] = self._cipher.decrypt(stored)
            except Exception as exc:
                log.error("Cannot read the secret of webhook %s: %s", webhook_id, exc)
        return secrets

    @retried_when_busy
    def stage_subscription_secret(
        self, webhook_id: str, secret: str, *, event_name: str | None = None, url: str | None = None
    ) -> None:
        """Keep ``secret`` as the subscription's NEXT secret, before Catena is told to sign with it.

        Deliveries verify with it at once; ``promote_subscription_secret`` makes it current once Catena
        acknowledged, ``discard_subscription_secret`` drops it if Catena refused. A subscription the
        inbox does not know yet gets it as its (only) secret.
        """
        sealed = self._cipher.encrypt(secret)
        now = datetime.now(UTC)
        stmt = self.db.insert(subscriptions).values(
            webhook_id=str(webhook_id),
            secret=sealed,
            next_secret=sealed,
            event_name=event_name,
            url=url,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[subscriptions.c.webhook_id], set_={"next_secret": sealed, "updated_at": now}
        )
        with self.db.write() as conn:
            conn.execute(stmt)

    @retried_when_busy
    def promote_subscription_secret(
        self, webhook_id: str, *, grace: timedelta = timedelta(hours=1), previous_known: bool = True
    ) -> None:
        """Catena now signs with the next secret: make it current; the old one stays valid for ``grace``
        (deliveries already signed or queued with it, Catena's retries of them).

        ``previous_known=False``: the secret replaced was Catena's own, never shown to us (a callback_url
        subscription whose secret reads masked). Deliveries signed with it cannot be verified; for
        ``grace`` they are answered 503 instead of 401 (``previous_secret_unknown``), and Catena's
        retries, signed with the new secret, then verify.
        """
        now = datetime.now(UTC)
        stmt = (
            subscriptions.update()
            .where(subscriptions.c.webhook_id == str(webhook_id), subscriptions.c.next_secret.is_not(None))
            .values(
                previous_secret=subscriptions.c.secret if previous_known else None,
                previous_secret_until=now + grace,
                secret=subscriptions.c.next_secret,
                next_secret=None,
                updated_at=now,
            )
        )
        with self.db.write() as conn:
            conn.execute(stmt)

    @retried_when_busy
    def discard_subscription_secret(self, webhook_id: str) -> None:
        """Catena did not take the next secret: stop accepting it (a row created by staging goes)."""
        mine = subscriptions.c.webhook_id == str(webhook_id)
        with self.db.write() as conn:
            conn.execute(subscriptions.delete().where(mine, subscriptions.c.secret == subscriptions.c.next_secret))
            conn.execute(subscriptions.update().where(mine).values(next_secret=None))

    def subscription_secret_sets(self, *, now: datetime | None = None) -> dict[str, list[str]]:
        """Every webhook id -> the secrets a delivery may be signed with now: current, next, previous
        (until its grace ends). Undecryptable values are skipped with an error log."""
        with self.db.engine.connect() as conn:
            rows = conn.execute(_secret_columns()).all()
        return {row.webhook_id: self._usable_secrets(row, now) for row in rows}

    def previous_secret_unknown(self, webhook_id: str, *, now: datetime | None = None) -> bool:
        """Whether a secret we never knew was replaced less than its grace ago (see
        ``promote_subscription_secret(previous_known=False)``): a delivery that does not verify may be
        signed with it, so it is not refused for good."""
        c = subscriptions.c
        stmt = select(c.previous_secret_until).where(
            c.webhook_id == str(webhook_id), c.previous_secret.is_(None), c.previous_secret_until.is_not(None)
        )
        with self.db.engine.connect() as conn:
            until = projection.to_utc(conn.execute(stmt).scalar())
        return until is not None and until > (now or datetime.now(UTC))

    def subscription_secret_candidates(self, webhook_id: str, *, now: datetime | None = None) -> list[str]:
        """The secrets one subscription's deliveries may be signed with now ([] if unknown)."""
        with self.db.engine.connect() as conn:
            row = conn.execute(_secret_columns().where(subscriptions.c.webhook_id == str(webhook_id))).first()
        return [] if row is None else self._usable_secrets(row, now)

    def _usable_secrets(self, row: Any, now: datetime | None) -> list[str]:
        until = projection.to_utc(row.previous_secret_until)
        sealed = [row.secret, row.next_secret]
        if until is not None and until > (now or datetime.now(UTC)):
            sealed.append(row.previous_secret)
        secrets: list[str] = []
        for value in dict.fromkeys(sealed):
            if value is None:
                continue
            try:
                secrets.append(self._cipher.decrypt(value))
            except Exception as exc:
                log.error("Cannot read a secret of webhook %s: %s", row.webhook_id, exc)
        return secrets

    def subscriptions(self) -> list[dict[str, Any]]:
        """Subscription metadata without secrets (for the dashboard)."""
        stmt = select(
            subscriptions.c.webhook_id, subscriptions.c.event_name, subscriptions.c.url, subscriptions.c.updated_at
        ).order_by(subscriptions.c.webhook_id)
        with self.db.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]


def _secret_columns() -> Any:
    c = subscriptions.c
    return select(c.webhook_id, c.secret, c.next_secret, c.previous_secret, c.previous_secret_until)
