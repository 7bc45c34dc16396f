"""`make test` on a fresh machine: PostgreSQL and Redis started privately when none answers (devstack.services)."""

from __future__ import annotations

import psycopg2
import pytest
import redis
from sqlalchemy.engine import make_url

from devstack.services import (
    MACHINE_POSTGRES_URL,
    MACHINE_REDIS_URL,
    claim_redis_database,
    postgres_answers,
    postgres_server,
    redis_answers,
    redis_server,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def private(monkeypatch):
    """As on a machine whose PostgreSQL and Redis do not answer."""
    monkeypatch.setenv("CATENA_TEST_SERVICES", "private")


def test_a_private_postgres_takes_databases_and_is_gone_afterwards(private):
    with postgres_server() as url:
        parsed = make_url(url)
        assert parsed.host == "127.0.0.1" and parsed.port != 5432
        conn = psycopg2.connect(host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE catena_private_check")
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = 'catena_private_check'")
            assert cur.fetchone() == (1,)
        conn.close()
    assert not postgres_answers(url, timeout=1)


def test_a_private_redis_serves_and_is_gone_afterwards(private):
    with redis_server() as url:
        assert url != MACHINE_REDIS_URL
        client = redis.Redis.from_url(url)
        assert client.set("k", "v") and client.get("k") == b"v"
        client.close()
    assert not redis_answers(url, timeout=1)


def test_the_machine_servers_are_used_when_they_answer(monkeypatch):
    monkeypatch.delenv("CATENA_TEST_SERVICES", raising=False)
    if not (postgres_answers(MACHINE_POSTGRES_URL) and redis_answers(MACHINE_REDIS_URL)):
        pytest.skip("this machine runs no PostgreSQL or Redis of its own")
    with postgres_server() as postgres, redis_server() as redis_url:
        assert (postgres, redis_url) == (MACHINE_POSTGRES_URL, MACHINE_REDIS_URL)


def test_a_given_url_is_used_as_is(private):
    with postgres_server("postgresql+psycopg2://u@db.example:6543/x") as url:
        assert url == "postgresql+psycopg2://u@db.example:6543/x"


def test_two_claims_get_two_databases_each_emptied_afterwards(redis_server_url):
    with claim_redis_database(redis_server_url) as first, claim_redis_database(redis_server_url) as second:
        assert first != second
        client = redis.Redis.from_url(first)
        client.set("celery-queue", "x")
    assert client.dbsize() == 0
    client.close()
