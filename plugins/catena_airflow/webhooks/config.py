"""Receiver settings, from arguments; unset ones come from ``[catena]`` (``catena_airflow.config``) at first use."""

from __future__ import annotations

from dataclasses import dataclass, field

from catena_airflow.client.signature import MAX_TIMESTAMP_AGE_SECONDS
from catena_airflow.webhooks.body import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DECOMPRESSED_BYTES

#: Catena waits this long for an answer (catena-api.md §3.1, §3.5), then counts the delivery as failed and retries it.
CATENA_DELIVERY_TIMEOUT_SECONDS = 3.0
#: How long a delivery waits for its commit before the receiver answers 503: early enough that the answer
#: reaches Catena within its timeout. A 202 sent after 3 s is one Catena already counted as failed.
DEFAULT_COMMIT_TIMEOUT_SECONDS = 2.5


@dataclass(frozen=True)
class ReceiverSettings:
    inbox_url: str | None = None  # None: config.inbox_url() at first use
    secrets: tuple[str, ...] = field(default=(), repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
    # Catena rejects nothing itself; 5 minutes both ways covers its retries and ordinary clock skew.
    max_timestamp_age_seconds: float = MAX_TIMESTAMP_AGE_SECONDS
    max_future_skew_seconds: float = MAX_TIMESTAMP_AGE_SECONDS
    # Catena gives up after 3 s: a commit still running after this is answered 503 (it may land later;
    # Catena's retry is then a duplicate, acknowledged with 202).
    commit_timeout_seconds: float = DEFAULT_COMMIT_TIMEOUT_SECONDS
    max_batch: int = 256
    fernet_key: str | None = field(default=None, repr=False)  # None: config.inbox_fernet_key()
    #: Airflow connection used to look up subscriptions the inbox does not know (None: never look up).
    catena_conn_id: str | None = "catena_default"
