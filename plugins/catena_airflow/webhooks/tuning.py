"""Garbage-collector tuning for a long-lived process that serves the receiver.

Python's full collections walk every object the process holds; in a server that is mostly what its
imports left behind (a million objects in Airflow's api-server). In the load benchmarks those
collections were the p99 of every route (60-80 ms in ``catena-webhooks serve``, ~400 ms in the
api-server) and half of the api-server's throughput. Freezing the start-up heap takes those objects
out of every collection; fewer young collections cost a little memory.

``catena-webhooks serve`` always tunes its processes. In Airflow's processes, which load the plugin,
it is opt-in (``[catena] tune_gc``, or ``CATENA_TUNE_GC=true``): a plugin does not retune its host unasked.
"""

from __future__ import annotations

import gc
import logging

from catena_airflow import config

log = logging.getLogger(__name__)

#: Young-generation threshold of a tuned process (Python's default: 700 allocations).
GC_GEN0_THRESHOLD = 10_000


def tune_gc_for_serving() -> None:
    """Freeze what start-up allocated and collect young objects less often. Call once start-up is done."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def tune_gc_if_requested() -> bool:
    """``tune_gc_for_serving()`` when ``[catena] tune_gc`` is true; whether it did."""
    if not config.get_bool("tune_gc"):
        return False
    tune_gc_for_serving()
    log.info("Catena: garbage collector tuned for serving (%d start-up objects frozen)", gc.get_freeze_count())
    return True
