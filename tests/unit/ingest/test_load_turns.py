"""Which turn a load into a warehouse dataset takes, and where loads stage instead of taking turns."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext

import psycopg2
import pytest

from catena_airflow.ingest.duckdb_lock import lock_path
from catena_airflow.ingest.load_turns import (
    advisory_key,
    load_turn,
    postgres_turn,
    postgres_url,
    staging_dataset_layout,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("postgresql://catena@db:5432/warehouse", "postgresql://catena@db:5432/warehouse"),
        (" postgres://catena@db/warehouse ", "postgresql://catena@db/warehouse"),
        ("postgresql+psycopg2://catena:pw@db/warehouse", "postgresql://catena:pw@db/warehouse"),
        (
            "postgresql://catena@db/warehouse?application_name=a://b",
            "postgresql://catena@db/warehouse?application_name=a://b",
        ),
        ("duckdb:////tmp/catena_data.duckdb", None),
        ("postgres", None),  # a dlt destination name: its credentials are dlt's, not ours
        ("bigquery", None),
    ],
)
def test_postgres_url_is_the_libpq_url_of_a_postgresql_destination_url(spec, expected):
    assert postgres_url(spec) == expected


def test_the_advisory_key_is_stable_per_dataset_and_fits_a_bigint():
    assert advisory_key("catena") == advisory_key("catena")
    assert advisory_key("catena") != advisory_key("other")
    assert -(2**63) <= advisory_key("catena") < 2**63


def test_loads_into_a_duckdb_file_take_the_files_lock(tmp_path):
    database = tmp_path / "catena_data.duckdb"
    turn = load_turn(f"duckdb:///{database}", "catena")
    with turn():
        assert lock_path(database).is_file()
    assert staging_dataset_layout(f"duckdb:///{database}", "fleet-1") is None


def test_loads_into_a_named_destination_take_no_turn_and_stage_per_fleet():
    assert load_turn("bigquery", "catena") is nullcontext
    assert staging_dataset_layout("bigquery", "9f1c-AB.7") == "%s_staging_9f1c_ab_7"
    assert staging_dataset_layout("postgresql://catena@db/warehouse", "9f1c") is None


@pytest.mark.postgres
def test_one_dataset_has_one_turn_at_a_time_on_postgresql(postgres_url):
    url = postgres_url.replace("postgresql+psycopg2://", "postgresql://")
    second_has_it = threading.Event()

    def second() -> None:
        with postgres_turn(url, "catena"):
            second_has_it.set()

    with postgres_turn(url, "catena"):
        waiter = threading.Thread(target=second)
        waiter.start()
        waiting_for(url, advisory_key("catena"))
        assert not second_has_it.is_set()
        with postgres_turn(url, "another_dataset"):  # another dataset's turn is free
            pass
    waiter.join(30)
    assert second_has_it.is_set()


@pytest.mark.postgres
def test_loads_into_a_postgresql_url_take_the_datasets_advisory_lock(postgres_url):
    url = postgres_url.replace("postgresql+psycopg2://", "postgresql://")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        conn.autocommit = True

        def free(dataset: str) -> bool:
            cur.execute("SELECT pg_try_advisory_lock(%s)", (advisory_key(dataset),))
            taken = cur.fetchone()[0]
            if taken:
                cur.execute("SELECT pg_advisory_unlock(%s)", (advisory_key(dataset),))
            return bool(taken)

        with load_turn(postgres_url, "catena")():
            assert not free("catena")
            assert free("another_dataset")
        assert free("catena")
    assert staging_dataset_layout(postgres_url, "fleet-1") is None


def waiting_for(url: str, key: int, timeout: float = 30.0) -> None:
    """Until a session waits for the advisory lock ``key`` (PostgreSQL splits it into two 32-bit halves)."""

    high, low = (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF
    deadline = time.monotonic() + timeout
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        while time.monotonic() < deadline:
            cur.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND classid::bigint = %s AND objid::bigint = %s",
                (high, low),
            )
            if cur.fetchone()[0]:
                return
            conn.rollback()
            time.sleep(0.05)
    raise AssertionError(f"no session waited for advisory lock {key} within {timeout} s")
