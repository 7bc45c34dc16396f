"""Encryption at rest of webhook signing secrets.

Key lookup: the ``fernet_key`` argument, else ``CATENA_INBOX_FERNET_KEY``, else Airflow's
``AIRFLOW__CORE__FERNET_KEY``. Any of them may be a comma-separated list (first key encrypts, all
decrypt: key rotation as in Airflow). Without a key, secrets are stored in plain text with a warning.
"""

from __future__ import annotations

import logging
import os

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger(__name__)

FERNET_PREFIX = "fernet:"
PLAIN_PREFIX = "plain:"


class SecretDecryptionError(Exception):
    """A stored secret could not be decrypted with the configured key(s)."""


def fernet_key_from_env() -> str | None:
    return os.environ.get("CATENA_INBOX_FERNET_KEY") or os.environ.get("AIRFLOW__CORE__FERNET_KEY") or None


class SecretCipher:
    """Encrypts secrets for storage; reads both encrypted and (legacy/keyless) plain values."""

    def __init__(self, *, fernet_key: str | None = None) -> None:
        key = fernet_key or fernet_key_from_env()
        keys = [k.strip() for k in (key or "").split(",") if k.strip()]
        self._fernet: MultiFernet | None = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None
        self._warned = False

    @property
    def encrypts(self) -> bool:
        return self._fernet is not None

    def encrypt(self, secret: str) -> str:
        if self._fernet is None:
            if not self._warned:
                log.warning(
                    "No Fernet key configured (CATENA_INBOX_FERNET_KEY or AIRFLOW__CORE__FERNET_KEY): "
                    "webhook secrets are stored unencrypted in the inbox"
                )
                self._warned = True
            return PLAIN_PREFIX + secret
        return FERNET_PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, stored: str) -> str:
        if stored.startswith(PLAIN_PREFIX):
            return stored[len(PLAIN_PREFIX) :]
        if not stored.startswith(FERNET_PREFIX):
            raise SecretDecryptionError("stored secret has an unknown format")
        if self._fernet is None:
            raise SecretDecryptionError("stored secret is encrypted but no Fernet key is configured")
        try:
            return self._fernet.decrypt(stored[len(FERNET_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretDecryptionError("stored secret cannot be decrypted with the configured Fernet key") from None
