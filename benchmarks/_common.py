"""Helpers shared by the Airflow-level benchmarks (ingest_api_server, wake_standalone, scale_triggerer, demo_e2e).

They reuse the older benchmarks' pieces rather than copying them: the load generator, signed bodies
and PostgreSQL database helpers of ``receiver_load``, the signed POST, fleet preparation and naive
baseline of ``wake_latency``, and ``devstack`` to configure and start Airflow.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for _path in (str(ROOT), str(BENCH_DIR)):  # devstack (repository root) and the sibling benchmarks
    if _path not in sys.path:
        sys.path.insert(0, _path)

import receiver_load  # noqa: E402
import wake_latency  # noqa: E402

RESULTS = BENCH_DIR / "RESULTS.md"
HEADER = "# Benchmark results\n\nAppended by the scripts in benchmarks/; each entry names its machine and date.\n"
create_postgres_database = receiver_load.create_postgres_database


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpus() -> str:
    """Cores, the ones this process may use, and the CPU model: the first words of every machine line."""
    return f"{os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {cpu_model()}"


def machine_line() -> str:
    """Machine, Python, Airflow and the load when the benchmark started (the machine is shared)."""
    import airflow

    return (
        f"Machine: {cpus()}, {psutil.virtual_memory().total / 2**30:.0f} GiB; Python {platform.python_version()}, "
        f"Airflow {airflow.__version__}; load average at start {os.getloadavg()[0]:.1f} (shared machine)."
    )


def append_results(text: str) -> None:
    """Append an entry to benchmarks/RESULTS.md, creating it with its header first."""
    if not RESULTS.exists():
        RESULTS.write_text(HEADER)
    with RESULTS.open("a") as out:
        out.write(text)
    print(f"appended to {RESULTS.relative_to(ROOT)}", flush=True)


def add_record_arguments(parser: argparse.ArgumentParser) -> None:
    """``--label`` and ``--no-record``, read back by ``record(..., args=args)``."""
    parser.add_argument("--label", default="", help="what this run measures, appended to the RESULTS.md title")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")


def record(title: str, lines: Sequence[str], *, started: datetime, args: argparse.Namespace) -> None:
    """Print an entry and append it to benchmarks/RESULTS.md (title, date, machine line first), unless
    ``--no-record``; ``--label`` goes into the title."""
    if args.label:
        title = f"{title} ({args.label})"
    text = "\n".join([f"## {title} — {started:%Y-%m-%d %H:%M} UTC", "", *lines, ""])
    print("\n" + text, flush=True)
    if not args.no_record:
        append_results("\n" + text)


def now() -> datetime:
    return datetime.now(UTC)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


# -- process trees -----------------------------------------------------------------------------------


def process_tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def find_processes(root_pid: int, needle: str) -> list[psutil.Process]:
    """Processes under ``root_pid`` whose command line contains ``needle``, with their own children."""
    found: dict[int, psutil.Process] = {}
    for proc in process_tree(root_pid):
        try:
            if needle in " ".join(proc.cmdline()):
                for member in process_tree(proc.pid):
                    found[member.pid] = member
        except psutil.Error:
            continue
    return list(found.values())


def tree_rss(processes: Sequence[psutil.Process]) -> int:
    total = 0
    for proc in processes:
        with suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def tree_cpu_seconds(processes: Sequence[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


@dataclass
class TreeSampler:
    """Samples the summed RSS of a process tree (re-listed each time) every ``interval`` seconds."""

    list_processes: Callable[[], list[psutil.Process]]
    interval: float = 0.5
    peak_rss: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, tree_rss(self.list_processes()))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


# -- PostgreSQL ---------------------------------------------------------------------------------------


def pg_connect(url: str):
    """A psycopg2 connection (autocommit) to a SQLAlchemy URL."""
    import psycopg2
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    conn = psycopg2.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username, dbname=parsed.database)
    conn.autocommit = True
    return conn


def pg_transactions(admin_conn, database: str) -> int:
    """Transactions (commits + rollbacks) PostgreSQL counted for one database so far.

    Backends report their counts when idle, at most once a second (PostgreSQL >= 15), so a window
    of tens of seconds is accurate to about one transaction per connection.
    """
    with admin_conn.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (database,))
        return int(cur.fetchone()[0])


# -- Airflow ------------------------------------------------------------------------------------------


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database (SQLAlchemy URL), dropped afterwards."""
    url, drop = create_postgres_database()
    try:
        yield url
    finally:
        drop()


def prepare_fleets(inbox_url: str, count: int, workdir: Path, run: str) -> list[dict]:
    """``count`` onboardings registered and brought to ``connection.created`` by signed webhooks.

    Uses ``wake_latency.prepare`` against a ``catena-webhooks serve`` receiver on the same inbox, so
    the fleets are waiting before Airflow starts and the DAG file can name their invitation ids.
    """
    import requests

    from catena_airflow.inbox import InboxStore

    store = InboxStore(inbox_url)
    store.migrate()
    receiver, url = wake_latency.start_receiver(inbox_url, workdir)
    try:
        with requests.Session() as session:
            return wake_latency.prepare(store, session, url, count, run)
    finally:
        receiver.terminate()
        receiver.wait(10)
        store.dispose()


def standalone_settings(home: Path, *, dags_folder: Path, inbox_url: str, extra_env: dict[str, str]):
    """devstack settings for a benchmark's own ``airflow standalone`` (Catena connection unused: no REST)."""
    from devstack.processes import free_port
    from devstack.standalone import CatenaConnection, StandaloneSettings

    return StandaloneSettings(
        airflow_home=home,
        catena=CatenaConnection.for_sandbox("http://127.0.0.1:9"),  # reconciliation is pushed out of the window
        api_port=free_port(),
        inbox_url=inbox_url,
        dags_folder=dags_folder,
        extra_env={"CATENA_WEBHOOK_SECRET": wake_latency.SECRET, **extra_env},
    )


def ti_states(metadata_url: str, dag_id: str) -> dict[str, tuple[str | None, datetime | None]]:
    """task_id -> (state, start_date) of a DAG's task instances, read straight from the metadata DB."""
    query = "SELECT task_id, state, start_date FROM task_instance WHERE dag_id = %s"
    if metadata_url.startswith("sqlite"):
        path = metadata_url.split("///", 1)[1]
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
            rows = conn.execute(query.replace("%s", "?"), (dag_id,)).fetchall()
        return {r[0]: (r[1], datetime.fromisoformat(r[2]) if r[2] else None) for r in rows}
    conn = pg_connect(metadata_url)
    try:
        with conn.cursor() as cur:
            cur.execute(query, (dag_id,))
            return {r[0]: (r[1], r[2]) for r in cur.fetchall()}
    finally:
        conn.close()


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


@contextmanager
def airflow_standalone(
    workdir: Path, *, dag_file: str, dag_ids: Sequence[str], inbox_url: str, extra_env: dict[str, str]
):
    """``airflow standalone`` (PostgreSQL metadata DB, LocalExecutor) with one benchmark DAG file, ready.

    Yields ``(standalone, metadata_url, rest)``; the metadata DB is PostgreSQL so the benchmark can poll
    task-instance states while Airflow writes (SQLite would lock Airflow out).
    """
    from devstack.rest import AirflowRest
    from devstack.standalone import ADMIN_USER, AirflowStandalone

    dags = workdir / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    (dags / f"{dag_ids[0]}.py").write_text(dag_file)
    with postgres_database() as metadata_url:
        env = {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            **extra_env,
        }
        settings = standalone_settings(workdir / "airflow", dags_folder=dags, inbox_url=inbox_url, extra_env=env)
        standalone = AirflowStandalone(settings)
        standalone.start()
        try:
            standalone.wait_until_ready(dag_ids, timeout=420)
            with AirflowRest(settings.base_url, ADMIN_USER, settings.admin_password) as rest:
                yield standalone, metadata_url, rest
        except BaseException:
            if standalone.process is not None:
                print(standalone.process.log_tail(30), file=sys.stderr)
            raise
        finally:
            standalone.stop(timeout=20)


class StateWatcher:
    """Polls task-instance states (``dag_id LIKE pattern``); records when each left ``deferred``.

    Task ids must be unique across the matched DAGs.
    """

    def __init__(self, metadata_url: str, dag_id_pattern: str, every: float = 0.1) -> None:
        self.metadata_url, self.dag_id, self.every = metadata_url, dag_id_pattern, every
        self.states: dict[str, str | None] = {}
        self.deferred_seen: set[str] = set()
        self.left_deferred: dict[str, float] = {}  # task_id -> time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ti-watcher", daemon=True)

    def _run(self) -> None:
        conn = pg_connect(self.metadata_url)
        try:
            with conn.cursor() as cur:
                while not self._stop.is_set():
                    cur.execute("SELECT task_id, state FROM task_instance WHERE dag_id LIKE %s", (self.dag_id,))
                    seen_at = time.time()
                    for task_id, state in cur.fetchall():
                        self.states[task_id] = state
                        if state == "deferred":
                            self.deferred_seen.add(task_id)
                        elif task_id in self.deferred_seen and task_id not in self.left_deferred:
                            self.left_deferred[task_id] = seen_at
                    self._stop.wait(self.every)
        finally:
            conn.close()

    def count(self, state: str, prefix: str = "") -> int:
        return sum(1 for t, s in list(self.states.items()) if s == state and t.startswith(prefix))

    def __enter__(self) -> StateWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)


def trigger_log_times(logs: Path, message: str) -> dict[str, float]:
    """task_id -> time (epoch seconds) of the first JSON log line containing ``message`` in its trigger log.

    The triggerer writes each trigger's log to ``.../task_id=<id>/attempt=N.log.trigger.<job>.log``;
    ``CatenaFleetConnectedTrigger`` logs "Onboarding of invitation ... ended" right before it yields.
    """
    import json

    found: dict[str, float] = {}
    for path in logs.rglob("*.log.trigger.*.log"):
        task_id = next((p.split("=", 1)[1] for p in path.parts if p.startswith("task_id=")), None)
        if task_id is None or task_id in found:
            continue
        with suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                if message in line:
                    with suppress(ValueError, KeyError):
                        stamp = json.loads(line)["timestamp"].replace("Z", "+00:00")
                        found[task_id] = datetime.fromisoformat(stamp).timestamp()
                    break
    return found
