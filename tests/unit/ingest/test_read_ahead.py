"""One page read ahead in a worker thread, under the client's lock."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from catena_airflow.ingest.read_ahead import read_ahead


def test_pages_come_in_order_and_are_read_one_ahead_under_the_lock():
    lock = threading.Lock()
    reached = [threading.Event() for _ in range(4)]
    readers: set[str] = set()

    def pages() -> Iterator[list[int]]:
        for i in range(4):
            assert lock.locked()  # every read holds the client's lock
            readers.add(threading.current_thread().name)
            reached[i].set()
            yield [i]

    consumed = []
    for page in read_ahead(pages(), client_lock=lock):
        consumed.append(page)
        if page == [1]:
            # Page 2 is read while page 1 is still being handled here, without asking for it.
            assert reached[2].wait(timeout=30)
            assert not reached[3].is_set()  # one ahead, not more
    assert consumed == [[0], [1], [2], [3]]
    assert readers and all(name.startswith("catena-read-ahead") for name in readers)


def test_an_error_reading_a_page_is_raised_where_that_page_would_be():
    def pages() -> Iterator[list[int]]:
        yield [0]
        raise ConnectionError("Catena went away")

    got = read_ahead(pages(), client_lock=threading.Lock())
    assert next(got) == [0]
    with pytest.raises(ConnectionError, match="went away"):
        next(got)


def test_a_consumer_that_stops_early_closes_the_pages():
    closed = threading.Event()

    def pages() -> Iterator[list[int]]:
        try:
            for i in range(100):
                yield [i]
        finally:
            closed.set()

    got = read_ahead(pages(), client_lock=threading.Lock())
    assert next(got) == [0]
    got.close()
    assert closed.is_set()
