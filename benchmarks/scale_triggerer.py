"""Scale: 1,000 onboarding waits deferred at once in one triggerer, then a burst of their webhooks.

In one run, on this machine:
  1. 1,000 fleets registered and brought to ``connection.created`` in a fresh PostgreSQL inbox
     (``wake_latency.prepare`` through a ``catena-webhooks serve`` receiver);
  2. ``airflow standalone`` (LocalExecutor, PostgreSQL metadata DB) with one benchmark DAG of 1,000
     tasks that start straight from the triggerer (``start_from_trigger``) with the real
     ``CatenaFleetConnectedTrigger`` (poll 1 s): the scheduler defers them without a worker start each,
     which would cost ~1 CPU-second per task on this 2-core machine before the wait even begins;
  3. idle baseline: triggerer CPU/RSS and inbox transactions for ``--window`` s before the run;
  4. the run is triggered; once all 1,000 triggers are assigned to the triggerer and subscribed, for
     ``--window`` s: inbox queries per poll interval (PostgreSQL's transaction count of the inbox
     database, pg_stat_database: the triggerer is another process), triggerer CPU and RSS (psutil,
     the triggerer's process tree);
  5. baseline: 1,000 naive waiters (``wake_latency.naive_wait``: one inbox query per trigger per poll)
     in this process, counted the same way;
  6. burst: the 1,000 ``fleet_connection.created`` webhooks, signed and gzipped, POSTed by 16 threads
     into the receiver mounted in the standalone api-server; wake latency = 202 -> the task instance
     leaves ``deferred`` (task-instance states polled every 0.2 s from the metadata DB).

    .venv/bin/python benchmarks/scale_triggerer.py [--fleets 1000] [--window 30] [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _common
import requests
import wake_latency
import wake_standalone
from _common import met, now, percentile, record

DAG_PREFIX = "catena_bench_scale_"
#: Fleets per DAG. For ``start_from_trigger`` tasks the triggerer loads and ships the whole serialized DAG
#: with each trigger (Airflow 3.3: ~0.5 s per trigger for a 1,000-task DAG on this machine); small DAGs
#: keep that cost out of the measurement.
PER_DAG = 50
POLL = 1.0
DAG_FILE = '''"""Benchmark DAG (written by benchmarks/scale_triggerer.py): one wait per fleet, from the triggerer."""
import dataclasses
import json
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, BaseOperator
from airflow.triggers.base import StartTriggerArgs

INVITATIONS = json.loads(Path(__file__).with_name("fleets.json").read_text())
PER_DAG = %d


class WaitForFleetFromTrigger(BaseOperator):
    """Defers at once to CatenaFleetConnectedTrigger, without running on a worker first."""

    start_trigger_args = StartTriggerArgs(
        trigger_cls="catena_airflow.triggers.fleet_connected.CatenaFleetConnectedTrigger",
        trigger_kwargs={},
        next_method="execute_complete",
        next_kwargs=None,
        timeout=None,
    )
    start_from_trigger = True

    def __init__(self, *, invitation_id: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.start_trigger_args = dataclasses.replace(
            self.start_trigger_args,
            trigger_kwargs={"invitation_id": invitation_id, "poll_interval": 1.0, "reconcile_interval": 86400.0},
        )

    def execute_complete(self, context, event=None):
        return event


for first in range(0, len(INVITATIONS), PER_DAG):
    with DAG(f"catena_bench_scale_{first // PER_DAG:03d}", schedule=None, start_date=datetime(2026, 1, 1),
             catchup=False, max_active_tasks=2, max_active_runs=1):
        for i in range(first, min(first + PER_DAG, len(INVITATIONS))):
            WaitForFleetFromTrigger(task_id=f"wait_{i}", invitation_id=INVITATIONS[i])
'''


def assigned_triggers(metadata_url: str) -> int:
    conn = _common.pg_connect(metadata_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM trigger WHERE triggerer_id IS NOT NULL")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def subscribed(logs: Path) -> int:
    """Triggers that logged their subscription to the shared poller ("Waiting for invitation ...")."""
    count = 0
    for path in logs.rglob("*.log.trigger.*.log"):
        with contextlib.suppress(OSError):  # a log file being rotated or created
            count += "Waiting for invitation" in path.read_text(errors="replace")
    return count


def observe(triggerer, admin, database: str, seconds: float) -> dict:
    """Inbox transactions per poll, and the triggerer's CPU and RSS, over ``seconds``."""
    procs = triggerer()
    xacts, cpu, started = _common.pg_transactions(admin, database), _common.tree_cpu_seconds(procs), time.monotonic()
    peak = 0
    while time.monotonic() - started < seconds:
        time.sleep(1.0)
        peak = max(peak, _common.tree_rss(triggerer()))
    elapsed = time.monotonic() - started
    return {
        "queries_per_poll": (_common.pg_transactions(admin, database) - xacts) / (elapsed / POLL),
        "cpu": (_common.tree_cpu_seconds(triggerer()) - cpu) / elapsed,
        "rss_mib": peak / 2**20,
    }


def naive_queries(inbox_url: str, admin, database: str, ids: list[str], seconds: float) -> float:
    """Inbox transactions per poll interval of ``len(ids)`` naive waiters (one query each per poll)."""
    from catena_airflow.inbox import InboxStore

    store = InboxStore(inbox_url)

    async def run() -> float:
        tasks = [asyncio.create_task(wake_latency.naive_wait(store, i, POLL)) for i in ids]
        await asyncio.sleep(3 * POLL)
        before, started = await asyncio.to_thread(_common.pg_transactions, admin, database), time.monotonic()
        await asyncio.sleep(seconds)
        after, elapsed = await asyncio.to_thread(_common.pg_transactions, admin, database), time.monotonic() - started
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return (after - before) / (elapsed / POLL)

    try:
        return asyncio.run(run())
    finally:
        store.dispose()


def burst(url: str, fleets: list[dict], threads: int, retries: list[int]) -> dict[int, float]:
    """POST every fleet's webhook; a timed-out delivery is sent again, as Catena would (counted in ``retries``)."""
    sessions: dict[int, requests.Session] = {}

    def send(index: int) -> tuple[int, float]:
        session = sessions.setdefault(threading.get_ident(), requests.Session())
        for attempt in range(3):
            try:
                return index, wake_standalone.post_connected(session, url, fleets[index])
            except requests.RequestException:
                if attempt == 2:
                    raise
                retries.append(index)
        raise AssertionError("unreachable")

    with ThreadPoolExecutor(threads) as pool:
        return dict(pool.map(send, range(len(fleets))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fleets", type=int, default=1000)
    parser.add_argument("--window", type=float, default=30.0, help="seconds of each waiting measurement")
    parser.add_argument("--threads", type=int, default=16, help="webhook senders in the burst")
    _common.add_record_arguments(parser)
    args = parser.parse_args()

    started, machine = now(), _common.machine_line()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="catena-scale-") as tmp, _common.postgres_database() as inbox_url:
        workdir = Path(tmp)
        database = inbox_url.rsplit("/", 1)[1]
        admin = _common.pg_connect(_common.receiver_load.POSTGRES_ADMIN_URL)
        fleets = _common.prepare_fleets(inbox_url, args.fleets, workdir, f"scale-{uuid.uuid4().hex[:6]}")
        print(f"{args.fleets} fleets prepared after {time.monotonic() - began:.0f} s", flush=True)
        (workdir / "dags").mkdir()
        (workdir / "dags" / "fleets.json").write_text(json.dumps([f["invitation_id"] for f in fleets]))
        env = {"AIRFLOW__TRIGGERER__CAPACITY": str(max(1000, args.fleets))}
        dag_ids = [f"{DAG_PREFIX}{n:03d}" for n in range((args.fleets + PER_DAG - 1) // PER_DAG)]
        with _common.airflow_standalone(
            workdir, dag_file=DAG_FILE % PER_DAG, dag_ids=dag_ids, inbox_url=inbox_url, extra_env=env
        ) as (standalone, metadata_url, rest):
            root = standalone.process.pid

            def triggerer():
                return _common.find_processes(root, "airflow triggerer")

            idle = observe(triggerer, admin, database, args.window)
            print(f"idle: {idle}", flush=True)
            with _common.StateWatcher(metadata_url, f"{DAG_PREFIX}%", every=0.2) as watcher:
                t0 = time.monotonic()
                for dag_id in dag_ids:
                    rest.trigger(dag_id)
                _common.wait_for(
                    lambda: watcher.count("deferred") == args.fleets, timeout=300, what="all tasks deferred"
                )
                t_deferred = time.monotonic() - t0
                _common.wait_for(
                    lambda: assigned_triggers(metadata_url) >= args.fleets, timeout=300, what="triggers assigned"
                )
                t_assigned = time.monotonic() - t0
                # Each trigger resolves its inbox connection (through the triggerer's supervisor) and then
                # subscribes; a newcomer makes the poller read at once, so measure once all are in.
                _common.wait_for(
                    lambda: subscribed(standalone.settings.airflow_home / "logs") >= args.fleets,
                    timeout=600,
                    what="every trigger subscribed",
                    every=2.0,
                )
                t_subscribed = time.monotonic() - t0
                time.sleep(3)
                waiting = observe(triggerer, admin, database, args.window)
                print(f"waiting: {waiting}", flush=True)
                naive = naive_queries(inbox_url, admin, database, [f["invitation_id"] for f in fleets], args.window)
                naive -= waiting["queries_per_poll"]  # the triggerer kept polling meanwhile
                print(f"naive: {naive:.0f} queries per poll", flush=True)
                burst_start, burst_cpu = time.monotonic(), _common.tree_cpu_seconds(triggerer())
                retries: list[int] = []
                acked = burst(standalone.settings.receiver_url, fleets, args.threads, retries)
                burst_seconds = time.monotonic() - burst_start
                _common.wait_for(
                    lambda: len(watcher.left_deferred) == args.fleets, timeout=300, what="every wait woken", every=0.5
                )
                woken_seconds = max(watcher.left_deferred.values()) - min(acked.values())
                burst_cpu = (_common.tree_cpu_seconds(triggerer()) - burst_cpu) / (time.monotonic() - burst_start)
            admin.close()
            latencies = [watcher.left_deferred[f"wait_{i}"] - acked[i] for i in range(args.fleets)]
            yielded = _common.trigger_log_times(standalone.settings.airflow_home / "logs", "ended: connected")
            yield_latencies = [yielded[f"wait_{i}"] - acked[i] for i in range(args.fleets) if f"wait_{i}" in yielded]

    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    naive_ratio = naive / max(waiting["queries_per_poll"], 1e-9)
    lines = [
        machine,
        f"`airflow standalone` (LocalExecutor, PostgreSQL metadata DB and inbox, triggerer capacity "
        f"{env['AIRFLOW__TRIGGERER__CAPACITY']}); {args.fleets} tasks ({len(dag_ids)} DAGs of {PER_DAG}, one run "
        "each) deferred from the start "
        f"(`start_from_trigger`) to the real `CatenaFleetConnectedTrigger` (poll {POLL:g} s). All {args.fleets} "
        f"deferred {t_deferred:.0f} s after the runs were triggered, assigned to the triggerer after "
        f"{t_assigned:.0f} s, all "
        f"subscribed to the shared poller after {t_subscribed:.0f} s. "
        f"Burst: {args.fleets} signed gzip `fleet_connection.created` webhooks into the api-server's receiver "
        f"({args.threads} threads) in {burst_seconds:.1f} s ({args.fleets / burst_seconds:,.0f}/s; "
        f"{len(retries)} sent again after a 10 s timeout, latency counted from the 202 of the retry).",
        "",
        "| measure | 0 waits (baseline) | 1,000 waits | baseline: one query per trigger |",
        "|---|---:|---:|---:|",
        f"| inbox queries per poll interval (pg_stat_database transactions) | {idle['queries_per_poll']:.2f} "
        f"| {waiting['queries_per_poll']:.2f} | {naive:.0f} (measured; ideal {args.fleets}) |",
        f"| triggerer CPU (cores, process tree) | {idle['cpu']:.3f} | {waiting['cpu']:.3f} | |",
        f"| triggerer RSS (MiB, process tree, peak) | {idle['rss_mib']:.0f} | {waiting['rss_mib']:.0f} | |",
        "",
        f"Wake latency under the burst (202 -> task instance leaves `deferred`): p50 {p50:.2f} s, p99 {p99:.2f} s, "
        f"max {max(latencies):.2f} s; every wait woken {woken_seconds:.1f} s after the first 202. The trigger "
        f"itself yielded its event (its log line, {len(yield_latencies)} found) p50 "
        f"{percentile(yield_latencies, 50):.2f} s, p99 {percentile(yield_latencies, 99):.2f} s after the 202: the "
        f"rest is the triggerer handing the events to the metadata DB. Triggerer CPU from the first 202 until "
        f"every wait left `deferred`: {burst_cpu:.2f} cores (process tree). Against the "
        f"computed `HttpSensor` poke every 60 s (p50 30 s): x{p50 / 30:.3f}.",
        "",
        f"Targets: inbox queries per poll {waiting['queries_per_poll']:.2f} (<= 2: "
        f"{met(waiting['queries_per_poll'] <= 2)}), x{naive_ratio:.0f} fewer than the naive waiters.",
    ]
    record("Scale: 1,000 deferred onboarding waits in one triggerer", lines, started=started, args=args)


if __name__ == "__main__":
    main()
