"""Loading vehicle locations with dlt (``load_fleet``) into DuckDB and PostgreSQL, against fetching them only.

One `catena-sandbox serve` process (speed 1, so no vehicle is deleted and the closed window stays
fixed), ``--fleets`` fleets onboarded through the happy path. The sandbox gives each fleet 3 to 8
vehicles (derived from its id, not configurable), a location per vehicle per minute, and a week of
history before the connection: the window is ``ceil(--rows / vehicles)`` minutes ending on a minute
boundary in the past, so the fleets hold ``--rows`` locations (rounded up to a whole minute). Then each
phase runs in a child process of its own, which forks a process per fleet once the product is imported
(one ingestion task per fleet, as Airflow's task runner forks a task), ``--concurrency`` at once: by
default the ingestion pool's slots, as the ``catena_ingestion`` DAG runs them. A phase's peak RSS is the
largest of its fleets' ``ru_maxrss``. ``--concurrency 1``: fleet after fleet, the fetch-only baseline in
the phase's one process (the figures recorded before 2026-12-07 16:00 UTC were all taken this way);
``--one-process``: every fleet's load in the phase's one process, one after the other:

  * baseline "fetch only": the dlt source's own page loop (``dlt_source._rows``: the same client,
    ``fleet_ids=[fleet]``, ``only_latest=false``, page size, ``time_windows`` and ``rows_of_fleet``) for
    ``vehicles`` and ``vehicle_locations`` of every fleet, writing nothing;
  * full load into a DuckDB file with ``load_fleet`` (first run: ``initial_lookback`` = the window);
  * the same into a fresh PostgreSQL database (127.0.0.1:5432, dropped afterwards);
  * then ``POST /sandbox/telematics/changes`` corrects 1 % of the window's locations (updated_at = now),
    and an incremental run into each destination reaches ``until`` forward by the minutes that hold
    1 % of the rows, reading again the product's default correction window before its cursor (``[catena]
    correction_window_hours``, as the ingestion DAG does): its time and the rows it wrote, and how many
    of the corrected rows it picked up, in and out of that window (the API filters locations by
    ``occurred_at`` only, so a correction to an older row is found by no incremental load).

Rows/s count vehicle locations (the few ``vehicles`` rows are loaded too, in the same time). Figures are
printed and appended to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/ingest_load.py [--rows 1000000] [--fleets 50] [--quick] [--label ...] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

# The parent's helpers (_common, devstack) are imported in the parent only: a child process imports
# no more than the product's ingestion does, so its peak RSS is the loading's.
SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET = "sandbox", "sandbox-secret"  # devstack.sandbox's defaults
GOAL_RATIO = 0.5
GOAL_RSS_MIB = 500
CHANGED_FRACTION = 0.01


# -- child processes: one phase each ------------------------------------------------------------------


def _client(job: dict[str, Any]) -> Any:
    from catena_airflow.client import CatenaClient

    return CatenaClient(
        client_id=SANDBOX_CLIENT_ID,
        client_secret=SANDBOX_CLIENT_SECRET,
        api_url=job["api_url"],
        auth_url=job["token_url"],
    )


def _peak_rss_mib() -> float:
    """This process's peak RSS (Linux ``ru_maxrss`` is KiB), and any grandchild's if larger."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _fetch_one(job: dict[str, Any], fleet_id: str, client: Any = None) -> dict[str, Any]:
    """The dlt source's page loop for one fleet's resources: rows counted and dropped, pages counted."""
    from catena_airflow.ingest.dlt_source import DEFAULT_PAGE_SIZE, _rows

    client = client or _client(job)
    until = datetime.fromisoformat(job["until"])
    start = until - timedelta(minutes=job["minutes"])
    rows: dict[str, int] = {}
    pages = 0
    for definition in _resources():
        # What dlt's incremental hands the source on a first run: its initial value as start_value.
        cursor = SimpleNamespace(start_value=start if definition.time_filter is not None else None)
        for page in _rows(
            definition, client=client, fleet_id=fleet_id, page_size=DEFAULT_PAGE_SIZE, until=until, cursor=cursor
        ):
            rows[definition.name] = rows.get(definition.name, 0) + len(page)
            pages += 1
    return {"rows": rows, "pages": pages}


def child_fetch(job: dict[str, Any]) -> dict[str, Any]:
    """The page loop for every fleet: in this one process fleet after fleet (concurrency 1), else in a
    process forked per fleet, ``concurrency`` at once, as the loads run."""
    from catena_airflow.ingest import dlt_source  # noqa: F401 - imported once, before any fork, as the loads' is

    started = time.perf_counter()
    if job["concurrency"] == 1:
        client = _client(job)
        results = [_fetch_one(job, fleet_id, client) for fleet_id in job["fleets"]]
        peak = _peak_rss_mib()
    else:
        forked = _forked_each(job["fleets"], lambda fleet_id: _fetch_one(job, fleet_id), job["concurrency"])
        results = [result for result, _, _ in forked]
        peak = max(fleet_peak for _, fleet_peak, _ in forked)
    seconds = time.perf_counter() - started
    rows: dict[str, int] = {}
    for result in results:
        for name, count in result["rows"].items():
            rows[name] = rows.get(name, 0) + count
    pages = sum(result["pages"] for result in results)
    return {"rows": rows, "pages": pages, "seconds": seconds, "peak_rss_mib": peak}


def _resources() -> tuple[Any, ...]:
    """What every phase reads: vehicles and their locations (the volume), not the fleet's other resources."""
    from catena_airflow.ingest.telematics_resources import VEHICLE_LOCATIONS, VEHICLES

    return (VEHICLES, VEHICLE_LOCATIONS)


def _load_one(job: dict[str, Any], fleet_id: str) -> dict[str, Any]:
    """``load_fleet`` for one fleet: the rows it wrote per table and its steps' seconds."""
    from catena_airflow.ingest.dlt_pipeline import LoadSettings, load_fleet

    settings = LoadSettings(destination=job["destination"], pipelines_dir=Path(job["pipelines_dir"]))
    loaded = load_fleet(
        client=_client(job),
        fleet_id=fleet_id,
        settings=settings,
        resources=_resources(),
        until=datetime.fromisoformat(job["until"]),
        initial_lookback=timedelta(minutes=job["minutes"]),
        correction_window=timedelta(hours=job.get("correction_window_hours", 0)),
    )
    return {"rows": dict(loaded.rows), "steps": dict(loaded.seconds)}


def _forked_each(
    fleets: list[str], work: Callable[[str], dict[str, Any]], concurrency: int
) -> list[tuple[dict[str, Any], float, float]]:
    """``work(fleet)`` for each fleet in a process forked from this one (as Airflow's task runner forks a
    task), at most ``concurrency`` at once (the ingestion pool's slots): per fleet, in order, its result,
    its process's peak RSS (MiB) and its wall seconds."""
    waiting = list(fleets)
    running: dict[int, tuple[str, int, float]] = {}
    done: dict[str, tuple[dict[str, Any], float, float]] = {}
    while waiting or running:
        while waiting and len(running) < concurrency:
            fleet_id = waiting.pop(0)
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the fleet's process
                status = 1
                try:
                    os.close(read_end)
                    result = work(fleet_id)
                    os.write(write_end, json.dumps({"result": result, "peak": _peak_rss_mib()}).encode())
                    status = 0
                finally:
                    os._exit(status)
            os.close(write_end)
            running[pid] = (fleet_id, read_end, time.perf_counter())
        pid, status = os.wait()
        fleet_id, read_end, fleet_started = running.pop(pid)
        with os.fdopen(read_end) as pipe:  # a result is far below a pipe's buffer: the child never blocked on it
            text = pipe.read()
        if status != 0 or not text:
            raise RuntimeError(f"fleet {fleet_id}'s process failed (wait status {status})")
        answer = json.loads(text)
        done[fleet_id] = (answer["result"], answer["peak"], time.perf_counter() - fleet_started)
    return [done[fleet_id] for fleet_id in fleets]


def _warm_up(job: dict[str, Any]) -> None:
    """One small load (the first fleet's last 2 minutes, into a scratch dataset and pipelines dir) in this
    process before the forks: what dlt imports and initialises lazily on a first load is then in every
    fleet's process already, as in a long-running worker. A fresh process pays it once, outside these
    figures (several seconds on this machine)."""
    from catena_airflow.ingest.dlt_pipeline import LoadSettings, load_fleet

    settings = LoadSettings(
        destination=job["destination"],
        pipelines_dir=Path(job["pipelines_dir"]).with_name("warm-up"),
        dataset_name="bench_warm_up",
    )
    load_fleet(
        client=_client(job),
        fleet_id=job["fleets"][0],
        settings=settings,
        resources=_resources(),
        until=datetime.fromisoformat(job["until"]),
        initial_lookback=timedelta(minutes=2),
    )


def child_load(job: dict[str, Any]) -> dict[str, Any]:
    """``load_fleet`` for every fleet; rows written per table and the steps' seconds, summed over fleets.

    Each fleet in a process of its own, forked from this one once the product is imported, ``concurrency``
    at once (``_forked_each``); ``one_process``: every fleet in this process, one after the other.
    """
    if not job.get("one_process"):
        _warm_up(job)

    per_fleet: list[float] = []
    started = time.perf_counter()
    if job.get("one_process"):
        results = []
        for fleet_id in job["fleets"]:
            fleet_started = time.perf_counter()
            results.append(_load_one(job, fleet_id))
            per_fleet.append(time.perf_counter() - fleet_started)
        peak = _peak_rss_mib()
    else:
        forked = _forked_each(job["fleets"], lambda fleet_id: _load_one(job, fleet_id), job["concurrency"])
        results = [result for result, _, _ in forked]
        per_fleet = [seconds for _, _, seconds in forked]
        peak = max(fleet_peak for _, fleet_peak, _ in forked)
    seconds = time.perf_counter() - started
    rows: dict[str, int] = {}
    steps: dict[str, float] = {}
    for result in results:
        for table, count in result["rows"].items():
            rows[table] = rows.get(table, 0) + count
        for step, step_seconds in result["steps"].items():
            steps[step] = steps.get(step, 0.0) + step_seconds
    return {"rows": rows, "seconds": seconds, "per_fleet": per_fleet, "steps": steps, "peak_rss_mib": peak}


def child_main(kind: str, job_file: str) -> int:
    job = json.loads(Path(job_file).read_text())
    result = child_fetch(job) if kind == "fetch" else child_load(job)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


#: Environment given to every child (``--dlt-env NAME=VALUE``): dlt's configuration, to try settings.
CHILD_ENV: dict[str, str] = {}


def run_child(kind: str, job: dict[str, Any], workdir: Path, *, watch_pg: str | None = None) -> dict[str, Any]:
    """Run one phase in a fresh interpreter; its RESULT line, plus the most PostgreSQL connections seen."""
    from _common import pg_connect

    job_file = workdir / f"job-{kind}-{time.monotonic_ns()}.json"
    job_file.write_text(json.dumps(job))
    log = workdir / f"{job_file.stem}.log"
    print(f"  {kind}: {job.get('destination', 'no destination').split('@')[-1]} ...", flush=True)
    connections = [0]
    stop = threading.Event()

    def watch() -> None:  # dlt's loader opens a connection per job it runs in parallel
        conn = pg_connect(watch_pg)
        try:
            with conn.cursor() as cur:
                while not stop.is_set():
                    database = watch_pg.rsplit("/", 1)[1]
                    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,))
                    connections[0] = max(connections[0], cur.fetchone()[0])
                    stop.wait(0.2)
        finally:
            conn.close()

    watcher = threading.Thread(target=watch, daemon=True) if watch_pg else None
    if watcher:
        watcher.start()
    started = time.perf_counter()
    try:
        with log.open("w") as out:
            process = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(job_file)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **CHILD_ENV},
                check=False,
            )
    finally:
        stop.set()
        if watcher:
            watcher.join(5)
    text = log.read_text()
    lines = [line for line in text.splitlines() if line.startswith("RESULT ")]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"{kind} child failed ({process.returncode}):\n{text[-4000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    result["wall"] = time.perf_counter() - started
    result["pg_connections"] = connections[0]
    result["load_average"] = os.getloadavg()[0]
    print(f"    {result['rows']} in {result['seconds']:.1f} s, peak RSS {result['peak_rss_mib']:.0f} MiB", flush=True)
    return result


# -- the sandbox and its fleets ---------------------------------------------------------------------------


def connect_fleets(client: Any, count: int, run: str) -> list[str]:
    """``count`` fleets invited at once (the sandbox's happy path connects them); their fleet ids."""
    invitations = [
        client.create_invitation(fleet_ref=f"bench-{run}-{n:03d}", fleet_name=f"Bench {n}", expires_in_hours=24).id
        for n in range(count)
    ]
    fleets: dict[str, str] = {}
    deadline = time.monotonic() + 120
    while len(fleets) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count - len(fleets)} fleets did not connect")
        for invitation in invitations:
            if invitation in fleets:
                continue
            fleet_id = client.get_invitation(invitation).fleet_id
            if fleet_id and client.list_vehicles(fleet_ids=[str(fleet_id)]).first_page().items:
                fleets[invitation] = str(fleet_id)
        time.sleep(0.2)
    return [fleets[i] for i in invitations]


def destination_counts(destination: str, ids: list[str], changed_at: str, window_start: datetime) -> dict[str, int]:
    """The vehicle_locations rows; of the corrected ids, those whose new updated_at reached the destination,
    those that occurred in the correction window (from ``window_start``), and those of them that reached it."""
    from _common import pg_connect

    changed = datetime.fromisoformat(changed_at)
    total_sql = "SELECT count(*) FROM catena.vehicle_locations"
    counts_sql = (
        "SELECT count(*) FILTER (WHERE updated_at >= {p}), count(*) FILTER (WHERE occurred_at >= {p}), "
        "count(*) FILTER (WHERE updated_at >= {p} AND occurred_at >= {p}) FROM catena.vehicle_locations "
        "WHERE id {ids}"
    )
    if destination.startswith("duckdb:///"):
        import duckdb

        with duckdb.connect(destination.removeprefix("duckdb:///"), read_only=True) as conn:
            (total,) = conn.execute(total_sql).fetchone()
            row = conn.execute(
                counts_sql.format(p="?", ids="IN (SELECT unnest(?))"),
                [changed, window_start, changed, window_start, ids],
            ).fetchone()
    else:
        conn = pg_connect(destination)
        try:
            with conn.cursor() as cur:
                cur.execute(total_sql)
                (total,) = cur.fetchone()
                cur.execute(
                    counts_sql.format(p="%s", ids="= ANY(%s)"), (changed, window_start, changed, window_start, ids)
                )
                row = cur.fetchone()
        finally:
            conn.close()
    seen, in_window, seen_in_window = row
    return {"table_rows": total, "seen": seen, "in_window": in_window, "seen_in_window": seen_in_window}


def fleet_times(seconds: list[float]) -> str:
    """Seconds per fleet: the first tenth of the fleets against the last (the tables grow in between)."""
    n = max(1, len(seconds) // 10)
    first, last = sum(seconds[:n]) / n, sum(seconds[-n:]) / n
    return f"{first:.1f} s (first {n}) to {last:.1f} s (last {n}), at most {max(seconds):.1f} s"


def disk_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


# -- the run --------------------------------------------------------------------------------------------


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        return child_main(sys.argv[2], sys.argv[3])
    from _common import add_record_arguments, create_postgres_database, machine_line, met, now, record

    from catena_airflow.config.options import OPTION_BY_KEY
    from devstack.processes import free_port
    from devstack.sandbox import Sandbox, SandboxSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="vehicle locations to load (all fleets)")
    parser.add_argument("--fleets", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 fleets, 20,000 rows, not recorded")
    parser.add_argument("--no-postgres", action="store_true", help="DuckDB only")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=int(OPTION_BY_KEY["ingestion_pool_slots"].default),
        help="fleets fetched or loaded at once, each in its own process (default: the ingestion pool's slots, "
        "as the catena_ingestion DAG runs them); 1: fleet after fleet, the fetch-only baseline in one process",
    )
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="load every fleet in one process (default: a process forked per fleet, as one task per fleet)",
    )
    parser.add_argument(
        "--dlt-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="environment for the loading processes, e.g. DATA_WRITER__DISABLE_COMPRESSION=true (repeatable)",
    )
    add_record_arguments(parser)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.fleets, args.no_record = 20_000, 5, True
    CHILD_ENV.update(item.split("=", 1) for item in args.dlt_env)
    started = now()
    machine = machine_line()
    workdir = Path(tempfile.mkdtemp(prefix="catena-ingest-load-"))
    sandbox = Sandbox(
        SandboxSettings(
            port=free_port(), log_path=workdir / "sandbox.log", speed=1, extra_args=("--step-seconds", "0.1")
        )
    )
    drop_pg = None
    try:
        sandbox.start()
        from catena_airflow.client import CatenaClient

        client = CatenaClient(
            client_id=SANDBOX_CLIENT_ID,
            client_secret=SANDBOX_CLIENT_SECRET,
            api_url=sandbox.base_url,
            auth_url=sandbox.token_url,
        )
        fleets = connect_fleets(client, args.fleets, started.strftime("%H%M%S"))
        vehicles = sum(len(client.list_vehicles(fleet_ids=[f]).all()) for f in fleets)
        minutes = math.ceil(args.rows / vehicles)
        extra_minutes = math.ceil(minutes * CHANGED_FRACTION)
        until = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=extra_minutes + 5)
        print(
            f"{args.fleets} fleets, {vehicles} vehicles, {minutes} minutes up to {until:%H:%M} UTC: "
            f"{vehicles * minutes:,} locations expected",
            flush=True,
        )
        base = {
            "api_url": sandbox.base_url,
            "token_url": sandbox.token_url,
            "fleets": fleets,
            "one_process": args.one_process,
            "concurrency": 1 if args.one_process else args.concurrency,
        }
        full = {**base, "until": until.isoformat(), "minutes": minutes}
        fetch = run_child("fetch", full, workdir)

        duck_file = workdir / "catena_data.duckdb"
        destinations = {"DuckDB": f"duckdb:///{duck_file}"}
        if not args.no_postgres:
            pg_url, drop_pg = create_postgres_database()
            destinations["PostgreSQL"] = pg_url
        loads: dict[str, dict[str, Any]] = {}
        for name, destination in destinations.items():
            job = {**full, "destination": destination, "pipelines_dir": str(workdir / f"pipelines-{name}")}
            loads[name] = run_child("load", job, workdir, watch_pg=destination if name == "PostgreSQL" else None)

        # 1 % of the window's locations corrected now; then the next run, reaching extra_minutes further.
        import requests

        changes = requests.post(
            sandbox.base_url + "/sandbox/telematics/changes",
            json={
                "resource": "vehicle-locations",
                "fleet_ids": fleets,
                "fraction": CHANGED_FRACTION,
                "from_datetime": (until - timedelta(minutes=minutes)).isoformat(),
                "to_datetime": until.isoformat(),
            },
            timeout=120,
        )
        changes.raise_for_status()
        changed = changes.json()
        later = until + timedelta(minutes=extra_minutes)
        # As the ingestion DAG runs: the rows of the last hour(s) before the cursor read again, for corrections.
        correction_hours = float(OPTION_BY_KEY["correction_window_hours"].default)
        increments: dict[str, dict[str, Any]] = {}
        for name, destination in destinations.items():
            job = {
                **base,
                "until": later.isoformat(),
                "minutes": minutes,
                "destination": destination,
                "pipelines_dir": str(workdir / f"pipelines-{name}"),
                "correction_window_hours": correction_hours,
            }
            increments[name] = run_child("load", job, workdir, watch_pg=destination if name == "PostgreSQL" else None)
            window_start = until - timedelta(hours=correction_hours)
            increments[name].update(destination_counts(destination, changed["ids"], changed["at"], window_start))
        duck_size = duck_file.stat().st_size / 2**20
        pipelines_mib = {name: disk_mib(workdir / f"pipelines-{name}") for name in destinations}
    finally:
        sandbox.stop()
        if drop_pg is not None:
            drop_pg()

    expected = vehicles * minutes
    fetched = fetch["rows"].get("vehicle_locations", 0)
    assert fetched == expected, (fetched, expected)
    fetch_rate = fetched / fetch["seconds"]
    new_expected = vehicles * extra_minutes
    lines = [
        machine,
        f"One `catena-sandbox serve` (speed 1), {args.fleets} fleets, {vehicles} vehicles (3 to 8 a fleet, the "
        f"sandbox's), a location per vehicle per minute; a closed window of {minutes:,} minutes ending "
        f"{until:%H:%M} UTC: {expected:,} vehicle locations (+ {sum(fetch['rows'].values()) - fetched} vehicles rows). "
        + (
            "Fleet after fleet, every fleet in the phase's one process"
            if args.one_process
            else "Fleet after fleet, the fetch-only baseline in one process, each fleet's load in a process forked "
            "from the phase's (product imported), as a task per fleet"
            if args.concurrency == 1
            else f"{args.concurrency} fleets at once (the ingestion pool's slots, as the `catena_ingestion` DAG runs "
            "them), each fleet's fetch or load in a process forked from the phase's (product imported), as a task "
            "per fleet; loads into the DuckDB file take turns for its writes only (`load_fleet`)"
        )
        + "; the client is the project's "
        "`CatenaClient` (page size 300, `only_latest=false`, `fleet_ids=[fleet]`). Rows/s = vehicle locations / "
        "wall time of the phase (imports excluded). Peak RSS: the largest `ru_maxrss` of the loading processes."
        + (
            f" Loading processes' environment: {', '.join(f'`{k}={v}`' for k, v in CHILD_ENV.items())}."
            if CHILD_ENV
            else ""
        ),
        "",
        "| what | locations | seconds | rows/s | x fetch only | peak RSS | notes |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| baseline: fetch only (the dlt source's page loop, nothing written) | {fetched:,} | "
        f"{fetch['seconds']:.1f} | {fetch_rate:,.0f} | 1.00 | {fetch['peak_rss_mib']:.0f} MiB | "
        f"{fetch['pages']:,} pages; load average {fetch['load_average']:.1f} at its end |",
    ]
    for name, load in loads.items():
        written = load["rows"].get("vehicle_locations", 0)
        rate = written / load["seconds"]
        steps = ", ".join(f"{step} {seconds:.0f} s" for step, seconds in load["steps"].items())
        steps = f"{steps} (summed over fleets)" if args.concurrency > 1 else steps
        extra = f"; at most {load['pg_connections']} connections" if name == "PostgreSQL" else ""
        lines.append(
            f"| full load, {name} (`load_fleet`) | {written:,} | {load['seconds']:.1f} | {rate:,.0f} | "
            f"{rate / fetch_rate:.2f} | {load['peak_rss_mib']:.0f} MiB | steps: {steps}; a fleet "
            f"{fleet_times(load['per_fleet'])}{extra}; load average {load['load_average']:.1f} at its end |"
        )
    for name, inc in increments.items():
        written = inc["rows"].get("vehicle_locations", 0)
        lines.append(
            f"| incremental, {name}: +{extra_minutes} min, {changed['changed']:,} corrected | {written:,} | "
            f"{inc['seconds']:.1f} | {written / inc['seconds']:,.0f} | - | {inc['peak_rss_mib']:.0f} MiB | "
            f"vehicles rows {inc['rows'].get('vehicles', 0)}; corrections in the table afterwards: "
            f"{inc['seen']:,} of {changed['changed']:,}, of which {inc['seen_in_window']:,} of the "
            f"{inc['in_window']:,} that occurred in the {correction_hours:g} h correction window read again "
            f"(the API filters locations by occurred_at only); table {inc['table_rows']:,} rows |"
        )
    ratios = {
        name: load["rows"].get("vehicle_locations", 0) / load["seconds"] / fetch_rate for name, load in loads.items()
    }
    worst_rss = max(x["peak_rss_mib"] for x in [*loads.values(), *increments.values()])
    goals = "; ".join(f"{name} {met(ratio >= GOAL_RATIO)} ({ratio:.2f})" for name, ratio in ratios.items())
    lines += [
        "",
        f"Goals: loading ≥ {GOAL_RATIO} x fetch only: {goals}; peak RSS < {GOAL_RSS_MIB} MiB: "
        f"{met(worst_rss < GOAL_RSS_MIB)} ({worst_rss:.0f} MiB). Incremental: {new_expected:,} new locations expected "
        f"({extra_minutes} min x {vehicles} vehicles). DuckDB file {duck_size:.0f} MiB; dlt pipelines dirs "
        + ", ".join(f"{n} {m:.1f} MiB" for n, m in pipelines_mib.items())
        + ".",
    ]
    shutil.rmtree(workdir, ignore_errors=True)
    record(f"dlt loading, {args.fleets} fleets, {expected:,} locations", lines, started=started, args=args)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    raise SystemExit(main())
