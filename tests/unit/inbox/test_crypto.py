from __future__ import annotations

import logging

import pytest
from cryptography.fernet import Fernet

from catena_airflow.inbox.crypto import SecretCipher, SecretDecryptionError


def test_round_trip_and_rotation():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = SecretCipher(fernet_key=old).encrypt("s3cret")
    assert stored.startswith("fernet:") and "s3cret" not in stored
    # "new,old": the first key encrypts, every key decrypts (as Airflow's fernet_key rotation).
    assert SecretCipher(fernet_key=f"{new},{old}").decrypt(stored) == "s3cret"
    with pytest.raises(SecretDecryptionError, match="cannot be decrypted") as info:
        SecretCipher(fernet_key=new).decrypt(stored)
    assert "s3cret" not in str(info.value)


def test_key_from_environment(monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.delenv("CATENA_INBOX_FERNET_KEY", raising=False)
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", key)
    stored = SecretCipher().encrypt("x")
    assert SecretCipher(fernet_key=key).decrypt(stored) == "x"
    monkeypatch.setenv("CATENA_INBOX_FERNET_KEY", Fernet.generate_key().decode())
    with pytest.raises(SecretDecryptionError):
        SecretCipher().decrypt(stored)


def test_without_key_stores_plaintext_and_warns(monkeypatch, caplog):
    monkeypatch.delenv("CATENA_INBOX_FERNET_KEY", raising=False)
    monkeypatch.delenv("AIRFLOW__CORE__FERNET_KEY", raising=False)
    cipher = SecretCipher()
    with caplog.at_level(logging.WARNING):
        stored = cipher.encrypt("plain-one")
    assert stored == "plain:plain-one" and not cipher.encrypts
    assert "unencrypted" in caplog.text and "plain-one" not in caplog.text
    assert cipher.decrypt(stored) == "plain-one"
    with pytest.raises(SecretDecryptionError, match="no Fernet key"):
        cipher.decrypt("fernet:abc")
    with pytest.raises(SecretDecryptionError, match="unknown format"):
        cipher.decrypt("rot13:abc")
