"""The webhook receiver: verify, deduplicate, commit, then acknowledge (catena-api.md §3).

Answers (Catena retries only on 5xx and timeouts, then keeps the message in its dead-letter queue):

- 202 once the event is committed to the inbox, and for a duplicate of a committed event;
- 400 malformed body (invalid gzip, not JSON, not an envelope);
- 401 missing/bad signature, or a timestamp outside the window (replay guard), or a webhook id that
  Catena says it does not know;
- 413 compressed or decompressed body over its limit;
- 415 a ``Content-Encoding`` other than gzip/identity;
- 503 the inbox cannot commit (or secrets cannot be read to verify), or the delivery comes from a
  subscription whose secret the inbox does not hold yet (Catena creates subscriptions of its own for
  an invitation's ``callback_url``) while it is looked up in Catena (``subscription_lookup.py``):
  nothing unverified or uncommitted is ever acknowledged, so Catena retries and, failing that, keeps
  it for replay;
- 503 for every delivery while the start-up check found the inbox misconfigured (``startup.py``);
- 503 too when the commit has not finished within ``commit_timeout_seconds`` (default 2.5 s, inside
  Catena's 3 s delivery timeout, so the answer reaches Catena before it gives up: never a late 202 for
  a delivery Catena already counted as failed). The commit may still land afterwards; Catena's retry
  is then a duplicate and answered 202.

Error bodies are fixed strings; logs carry the webhook and request ids, never a secret or payload.
"""

from __future__ import annotations

import logging
import re
import threading

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from catena_airflow import config
from catena_airflow.client.events import WebhookEnvelope
from catena_airflow.client.signature import (
    REQUEST_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WEBHOOK_ID_HEADER,
    is_timestamp_fresh,
    verify_signature,
)
from catena_airflow.inbox import InboxStore, IncomingEvent
from catena_airflow.inbox.store import COUNTER_REJECTED, COUNTER_SIGNATURE_FAILURES
from catena_airflow.webhooks.body import BadEncoding, BodyTooLarge, UnsupportedEncoding, decode_body, read_limited
from catena_airflow.webhooks.config import ReceiverSettings
from catena_airflow.webhooks.secrets import SecretResolver
from catena_airflow.webhooks.startup import InboxProblem, classify, configured_executors, log_problem, sqlite_problem
from catena_airflow.webhooks.subscription_lookup import LookupResult, SubscriptionLookup, airflow_catena_client
from catena_airflow.webhooks.writer import GroupCommitWriter

log = logging.getLogger(__name__)

_JSON = "application/json"
_BODIES = {
    202: b'{"status":"accepted"}',
    400: b'{"detail":"malformed request"}',
    401: b'{"detail":"unauthorized"}',
    413: b'{"detail":"payload too large"}',
    415: b'{"detail":"unsupported content encoding"}',
    503: b'{"detail":"temporarily unavailable"}',
}
_DUPLICATE = b'{"status":"duplicate"}'
_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-]")


def _loggable(value: str | None) -> str:
    """A header value fit for a log line (no newlines or control characters, bounded)."""
    return _UNSAFE.sub("?", value[:80]) if value else "-"


def _answer(status: int, body: bytes | None = None) -> Response:
    return Response(body or _BODIES[status], status_code=status, media_type=_JSON)


class WebhookReceiver:
    """One per process. Creates its inbox store and writer thread lazily, on the first delivery."""

    def __init__(
        self,
        settings: ReceiverSettings | None = None,
        *,
        store: InboxStore | None = None,
        subscription_lookup: SubscriptionLookup | None = None,
    ) -> None:
        self.settings = settings or ReceiverSettings()
        self._store = store
        self._store_lock = threading.Lock()
        self._check_schema = False
        #: What the start-up check found (``startup.py``); None: nothing wrong, or not checked.
        self.problem: InboxProblem | None = None
        self.writer = GroupCommitWriter(self.store, max_batch=self.settings.max_batch, on_failure=self._commit_failed)
        self._resolver: SecretResolver | None = None
        conn_id = self.settings.catena_conn_id
        self.subscriptions = subscription_lookup or SubscriptionLookup(
            lambda: airflow_catena_client(conn_id) if conn_id else None, self.store
        )

    @property
    def inbox_url(self) -> str:
        return self.settings.inbox_url or config.inbox_url()

    def check_inbox(self) -> InboxProblem | None:
        """Whether the inbox can take commits: creates and migrates the store (blocking; ``startup.py``)."""
        try:
            problem = sqlite_problem(self.inbox_url, configured_executors())
            if problem is None:
                self.store()
        except Exception as exc:
            problem = classify(exc)
        self.problem = problem
        return problem

    async def startup(self) -> None:
        """The start-up check, off the event loop; an ERROR in the log when the inbox cannot work."""
        log_problem(await run_in_threadpool(self.check_inbox))

    async def health(self) -> InboxProblem | None:
        """The start-up check's finding; an unreachable database is probed again (it may be back)."""
        if self.problem is not None and not self.problem.is_configuration:
            await run_in_threadpool(self.check_inbox)
        return self.problem

    def store(self) -> InboxStore:
        """The inbox store, created and migrated on first use (not at import: the DB may be down then).

        After a failed commit the schema is checked again before the next one, so an inbox database
        that was recreated empty (restore, new volume) is migrated instead of failing until a restart.
        """
        if self._store is not None and not self._check_schema:
            return self._store
        with self._store_lock:
            if self._store is None:
                store = InboxStore(
                    self.inbox_url,
                    fernet_key=self.settings.fernet_key or config.inbox_fernet_key(),
                    checkpoint_in_background=True,  # keep SQLite's WAL checkpoints out of the commits
                )
                try:
                    store.migrate()
                except Exception:
                    store.dispose()
                    raise
                self._store = store
            elif self._check_schema:
                self._store.migrate()
            self._check_schema = False
        return self._store

    def _commit_failed(self) -> None:
        self._check_schema = True

    @property
    def resolver(self) -> SecretResolver:
        if self._resolver is None:
            # Read the configuration at first use, so a secret set after import (tests, CLI) counts.
            configured = tuple(dict.fromkeys(self.settings.secrets + config.webhook_secrets()))
            self._resolver = SecretResolver(self.store, configured=configured)
        return self._resolver

    def close(self) -> None:
        self.subscriptions.close()
        self.writer.close()
        if self._store is not None:
            self._store.dispose()

    async def _signed_with_a_secret_we_never_had(self, webhook_id: str) -> bool:
        try:
            return await run_in_threadpool(self.store().previous_secret_unknown, webhook_id)
        except Exception:
            return True  # cannot tell: let Catena retry rather than refuse for good

    def _reject(self, status: int, reason: str, webhook_id: str | None, request_id: str | None) -> Response:
        log.warning(
            "Catena webhook rejected with %d (%s): webhook_id=%s request_id=%s",
            status,
            reason,
            _loggable(webhook_id),
            _loggable(request_id),
        )
        if status in (400, 413, 415):
            self.writer.count(COUNTER_REJECTED)
        elif status == 401:
            self.writer.count(COUNTER_SIGNATURE_FAILURES)
        return _answer(status)

    async def handle(self, request: Request) -> Response:
        """``POST /webhooks``: the whole receive path (see the module docstring for the answers)."""
        settings = self.settings
        if self.problem is not None and self.problem.is_configuration:
            return _answer(503)  # logged at start-up; Catena retries, then keeps it for replay
        self.subscriptions.warm_up()
        headers = request.headers
        webhook_id = headers.get(WEBHOOK_ID_HEADER)
        request_id = headers.get(REQUEST_ID_HEADER)

        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                return self._reject(400, "bad content-length", webhook_id, request_id)
            if int(declared) > settings.max_body_bytes:
                return self._reject(413, "body over limit", webhook_id, request_id)
        signature = headers.get(SIGNATURE_HEADER)
        timestamp = headers.get(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            return self._reject(401, "signature headers missing", webhook_id, request_id)
        if not is_timestamp_fresh(
            timestamp,
            max_age_seconds=settings.max_timestamp_age_seconds,
            max_future_skew_seconds=settings.max_future_skew_seconds,
        ):
            return self._reject(401, "timestamp outside window", webhook_id, request_id)

        try:
            raw = await read_limited(request.stream(), settings.max_body_bytes)
            body = decode_body(raw, headers.get("content-encoding"), settings.max_decompressed_bytes)
        except BodyTooLarge:
            return self._reject(413, "body over limit", webhook_id, request_id)
        except BadEncoding:
            return self._reject(400, "invalid gzip", webhook_id, request_id)
        except UnsupportedEncoding:
            return self._reject(415, "unsupported content-encoding", webhook_id, request_id)

        resolver = self.resolver
        secrets_current = await resolver.ensure_fresh(webhook_id)
        verified = verify_signature(resolver.candidates(webhook_id), timestamp, body, signature)
        if not verified and secrets_current and webhook_id:
            # A 401 loses the event for good: re-read this subscription's secret, rotated since the cache filled.
            try:
                fresh = await run_in_threadpool(resolver.lookup, webhook_id)
                verified = bool(fresh) and verify_signature(fresh, timestamp, body, signature)
            except Exception:
                secrets_current = False
        if not verified and secrets_current and webhook_id and not resolver.knows(webhook_id):
            # A subscription we never stored (Catena's own, for a callback_url): ask Catena, off the loop.
            found = await self.subscriptions.resolve(webhook_id)
            if found is LookupResult.FOUND:
                try:
                    fresh = await run_in_threadpool(resolver.lookup, webhook_id)
                    verified = verify_signature(fresh, timestamp, body, signature)
                except Exception:
                    secrets_current = False
            elif found is LookupResult.UNAVAILABLE:
                log.warning(
                    "Catena webhook from a subscription not known yet, answered 503 while it is looked up: "
                    "webhook_id=%s request_id=%s",
                    _loggable(webhook_id),
                    _loggable(request_id),
                )
                return _answer(503)
        if (
            not verified
            and secrets_current
            and webhook_id
            and await self._signed_with_a_secret_we_never_had(webhook_id)
        ):
            log.warning(
                "Catena webhook signed with a replaced secret we never knew, answered 503 so Catena retries "
                "with the new one: webhook_id=%s request_id=%s",
                _loggable(webhook_id),
                _loggable(request_id),
            )
            return _answer(503)
        if not verified:
            if not secrets_current:
                # The right secret may be in the unreachable inbox: let Catena retry, do not drop.
                return _answer(503)
            return self._reject(401, "bad signature", webhook_id, request_id)
        resolver.verified(webhook_id)

        try:
            envelope = WebhookEnvelope.model_validate_json(body)
            item = IncomingEvent.from_envelope(envelope, body, request_id=request_id)
        except (ValidationError, UnicodeDecodeError, ValueError):
            return self._reject(400, "not a Catena envelope", webhook_id, request_id)

        try:
            outcome = await self.writer.submit(item, timeout=settings.commit_timeout_seconds)
        except Exception as exc:
            log.error(
                "Catena webhook not committed, answered 503 (%s): webhook_id=%s request_id=%s event_id=%s",
                type(exc).__name__,
                _loggable(webhook_id),
                _loggable(request_id),
                _loggable(item.event_id),
            )
            return _answer(503)
        return _answer(202, _DUPLICATE if outcome.duplicate else None)
