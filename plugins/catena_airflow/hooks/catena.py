"""Airflow hook for Catena Telematics: builds a :class:`CatenaClient` from a ``catena`` connection.

Connection fields: login = OAuth2 client id, password = client secret, host = API URL (with or
without scheme; default ``https://api.catenatelematics.com``). Extras: ``auth_url`` (token
endpoint), ``webhook_secrets`` (comma-separated signing secrets, several during a rotation),
``share_agreements_path`` (``share-agreements`` or ``share_agreements``).
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from catena_airflow.client import DEFAULT_API_URL, DEFAULT_AUTH_URL, CatenaClient
from catena_airflow.client.errors import redact

__all__ = ["CatenaHook"]

log = logging.getLogger(__name__)

#: The UI's Test button waits for this: one attempt, seconds per connect and per read, no retries (a task's
#: client retries for a minute, which the form would show as a hang).
TEST_CONNECTION_TIMEOUT_SECONDS = 5.0


class CatenaHook(BaseHook):
    """Interact with the Catena REST API through a ``catena`` Airflow connection.

    :param catena_conn_id: The ``catena`` Airflow connection (client id and secret, API and auth URLs).
    :param timeout: Seconds per HTTP request of the client.
    :param max_retries: Retries of one request, by ``client/http.py``'s rules (429, safe 5xx, network).
    :param retry_budget_seconds: Seconds one request may take with its retries and their waits; no retry
        starts past it.
    """

    conn_name_attr = "catena_conn_id"
    default_conn_name = "catena_default"
    conn_type = "catena"
    hook_name = "Catena Telematics"

    def __init__(
        self,
        *,
        catena_conn_id: str = default_conn_name,
        timeout: float = 30.0,
        max_retries: int = 5,
        retry_budget_seconds: float = 60.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.catena_conn_id = catena_conn_id
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_budget_seconds = retry_budget_seconds
        self._client: CatenaClient | None = None

    @cached_property
    def connection(self) -> Any:
        return self.get_connection(self.catena_conn_id)

    @property
    def extras(self) -> dict[str, Any]:
        return dict(self.connection.extra_dejson or {})

    @property
    def api_url(self) -> str:
        """The API base URL: ``host`` as given when it has a scheme, else ``https://host[:port]``."""
        conn = self.connection
        host = (conn.host or "").strip().rstrip("/")
        if not host:
            return DEFAULT_API_URL
        if "://" in host:
            return host
        scheme = (conn.schema or "https").strip() or "https"
        port = f":{conn.port}" if conn.port else ""
        return f"{scheme}://{host}{port}"

    @property
    def auth_url(self) -> str:
        return str(self.extras.get("auth_url") or DEFAULT_AUTH_URL).strip()

    @property
    def share_agreements_path(self) -> str:
        return str(self.extras.get("share_agreements_path") or "share-agreements").strip()

    @property
    def webhook_secrets(self) -> list[str]:
        """Signing secrets from the ``webhook_secrets`` extra (comma-separated string or JSON list)."""
        raw = self.extras.get("webhook_secrets") or []
        parts = raw.split(",") if isinstance(raw, str) else [str(item) for item in raw]
        return [part.strip() for part in parts if part.strip()]

    def get_conn(self) -> CatenaClient:
        """The client for this connection, created once per hook."""
        if self._client is None:
            self._client = self._new_client(
                timeout=self.timeout, max_retries=self.max_retries, retry_budget_seconds=self.retry_budget_seconds
            )
            log.debug(
                "Catena client for %s at %s (client id %s)", self.catena_conn_id, self.api_url, self.connection.login
            )
        return self._client

    def _new_client(self, *, timeout: float, max_retries: int, retry_budget_seconds: float) -> CatenaClient:
        conn = self.connection
        if not conn.login or not conn.password:
            raise ValueError(
                f"Connection {self.catena_conn_id!r} needs the client id in login and the client secret in password"
            )
        return CatenaClient(
            client_id=conn.login,
            client_secret=conn.password,
            api_url=self.api_url,
            auth_url=self.auth_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_budget_seconds=retry_budget_seconds,
            share_agreements_path=self.share_agreements_path,
        )

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a token with the connection's credentials (the UI's Test button): one short attempt."""
        try:
            client = self._new_client(
                timeout=TEST_CONNECTION_TIMEOUT_SECONDS,
                max_retries=0,
                retry_budget_seconds=TEST_CONNECTION_TIMEOUT_SECONDS,
            )
            token = client.fetch_token()
        except Exception as error:  # the UI shows the message; any failure means "not connected"
            return False, redact(f"{type(error).__name__}: {error}", self._secrets())
        return True, f"Connected: token issued for client {self.connection.login!r} (expires in {token.expires_in}s)"

    def _secrets(self) -> list[str]:
        try:
            password = self.connection.password
        except Exception:  # the connection itself failed to load; nothing of it can leak
            return []
        return [password, *self.webhook_secrets]
