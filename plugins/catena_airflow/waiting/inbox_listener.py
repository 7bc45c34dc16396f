"""LISTEN for inbox changes on PostgreSQL, so the shared poller reads as soon as a change commits.

The inbox's writers ``NOTIFY`` a channel in every transaction that changes onboardings (see
``inbox/notify.py``); PostgreSQL delivers it at commit. This listener holds one dedicated autocommit
psycopg2 connection per poller, registered with the event loop (``add_reader``): no thread waits on it,
and a readable socket costs one ``poll()`` and a drain of ``notifies``. Every notification received
calls ``on_change`` (the poller's wake-up; the poller coalesces many into one read).

It is an accelerator only: the poller keeps polling. A lost or refused connection is retried with
backoff, logged once per outage (warning) and once on recovery (info), and never raises into the
poller. After every (re)connect ``on_change`` is called once, because changes committed while nobody
listened were not notified.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import URL, make_url

from catena_airflow.inbox.notify import ONBOARDINGS_CHANGED_CHANNEL

log = logging.getLogger(__name__)

#: Dead peers (a server gone without a FIN) are noticed by TCP keepalives rather than never.
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def listener_params(url: URL | str) -> dict[str, Any]:
    """psycopg2 connection parameters from the inbox's SQLAlchemy URL (any PostgreSQL driver name)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"LISTEN needs a PostgreSQL inbox, not {parsed.get_backend_name()!r}")
    params: dict[str, Any] = {
        key: value[-1] if isinstance(value, tuple) else value for key, value in parsed.query.items()
    }
    params.update(parsed.translate_connect_args(username="user", database="dbname"))
    params.setdefault("connect_timeout", 5)
    params.setdefault("application_name", "catena-inbox-listener")
    for key, value in _KEEPALIVES.items():
        params.setdefault(key, value)
    return params


def _connect(params: dict[str, Any], channel: str) -> Any:
    """A new autocommit connection that LISTENs on ``channel`` (blocking: run in a thread)."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(**params)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
    except BaseException:
        conn.close()
        raise
    return conn


class InboxChangeListener:
    """Calls ``on_change`` (on the event loop) whenever the inbox notifies ``channel``.

    :param url: The inbox's SQLAlchemy URL (``store.engine.url``); its password is never logged.
    :param on_change: Called on the loop thread, once per drained batch of notifications and once
        after every (re)connect. Must not block.
    :param channel: The PostgreSQL notification channel (the inbox's onboarding-changes channel).
    :param retry_initial: First reconnect delay (s); doubled per failure up to ``retry_max``.
    :param retry_max: Longest reconnect delay (s).
    """

    def __init__(
        self,
        url: URL | str,
        on_change: Callable[[], None],
        *,
        channel: str = ONBOARDINGS_CHANGED_CHANNEL,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
    ) -> None:
        self.params = listener_params(url)
        self.on_change = on_change
        self.channel = channel
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.safe_url = make_url(url).render_as_string(hide_password=True)
        self.connected = False
        self.connects = 0
        self.notifications = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start listening (and reconnecting) in a task of the running loop."""
        if self._task is None or self._task.done():
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), name=f"catena-inbox-listener:{self.safe_url}")

    def close(self) -> None:
        """Stop listening; the connection is closed as the listening task unwinds."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()

    async def aclose(self) -> None:
        """Stop listening and wait until the connection is closed."""
        task = self._task
        self.close()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        delay, outage = self.retry_initial, False
        while True:
            connecting = asyncio.ensure_future(asyncio.to_thread(_connect, self.params, self.channel))
            try:
                conn = await asyncio.shield(connecting)
            except asyncio.CancelledError:
                connecting.add_done_callback(_close_late)  # closed while connecting: no stray connection
                raise
            except ImportError as exc:
                log.warning("Cannot LISTEN for inbox changes (%s); the poller polls only", exc)
                return
            except Exception as exc:
                self.failures += 1
                if not outage:
                    log.warning(
                        "Cannot LISTEN for inbox changes on %s (%s); polling only, retrying with backoff",
                        self.safe_url,
                        _one_line(exc),
                    )
                    outage = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)
                continue
            if outage:
                log.info("Listening for inbox changes on %s again", self.safe_url)
            outage, delay = False, self.retry_initial
            lost = await self._listen(conn)
            self.failures += 1
            log.warning(
                "Lost the LISTEN connection to %s (%s); polling only, reconnecting", self.safe_url, _one_line(lost)
            )
            outage = True
            await asyncio.sleep(delay)

    async def _listen(self, conn: Any) -> BaseException:
        """Deliver notifications until the connection fails; returns why it ended."""
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[BaseException] = loop.create_future()
        fd = conn.fileno()
        loop.add_reader(fd, self._on_readable, conn, fd, lost)
        self.connected, self.connects = True, self.connects + 1
        try:
            self._changed()  # whatever committed while nobody listened was not notified
            return await lost
        finally:
            self.connected = False
            loop.remove_reader(fd)
            with contextlib.suppress(Exception):
                conn.close()

    def _on_readable(self, conn: Any, fd: int, lost: asyncio.Future[BaseException]) -> None:
        try:
            conn.poll()
            if conn.closed:
                raise ConnectionError("connection closed")
        except Exception as exc:
            # A dead socket stays readable: stop watching it at once, the task reconnects.
            asyncio.get_running_loop().remove_reader(fd)
            if not lost.done():
                lost.set_result(exc)
            return
        if conn.notifies:
            self.notifications += len(conn.notifies)
            del conn.notifies[:]
            self._changed()

    def _changed(self) -> None:
        try:
            self.on_change()
        except Exception:
            log.exception("Inbox change callback failed")


def _close_late(connecting: asyncio.Future[Any]) -> None:
    if not connecting.cancelled() and connecting.exception() is None:
        with contextlib.suppress(Exception):
            connecting.result().close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
