"""Fetch the next page while dlt writes the current one.

Why: a page costs a round trip in which Catena builds it, then our JSON parsing and validation; writing
it (Arrow table, Parquet or CSV, incremental filter) is more of our CPU. Done one after the other, the
load waits for Catena and Catena waits for the load. One page read ahead in a worker thread lets them
overlap, as the fetch alone cannot. Why not dlt's ``parallelized`` resources: they run several resources
at once in a pool of threads, all on one ``CatenaClient`` (a ``requests.Session``, not promised thread
safe); here every read of a source takes one lock, so the client serves one request at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def read_ahead(pages: Iterator[T], *, client_lock: threading.Lock) -> Iterator[T]:
    """``pages`` (never ``None``), each read in a worker thread (under ``client_lock``) while the previous
    one is consumed.

    An error reading a page is raised here, where that page would have been yielded. A consumer that
    stops early waits for the one read in flight, then the pages are closed.
    """

    def read_one() -> T | None:
        with client_lock:
            return next(pages, None)

    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="catena-read-ahead") as reader:
            pending = reader.submit(read_one)
            while (page := pending.result()) is not None:
                pending = reader.submit(read_one)
                yield page
    finally:
        close = getattr(pages, "close", None)
        if close is not None:
            close()


__all__ = ["read_ahead"]
