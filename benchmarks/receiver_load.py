"""Webhook receiver throughput and ack latency, against a no-op endpoint on the same server.

In one run, on this machine:
  1. a server process (uvicorn, 1 worker) with the receiver on a SQLite inbox and a no-op endpoint
     (reads the body, answers 202) is loaded first on the no-op route (the baseline), then on the
     receiver; then the receive path alone, with the inbox commit replaced by an answer (diagnostic);
  2. the same (no-op, receiver) on a fresh PostgreSQL inbox database, with 1 and with --workers
     server processes (as `catena-webhooks serve --workers N` runs);
  3. the group-commit writer alone, in-process, on each engine.
Load comes from separate client processes (asyncio + uvloop, raw HTTP/1.1 keep-alive sockets), 32
connections in total, each sending its next request as soon as the previous one is answered. Bodies
are gzip-compressed, HMAC-signed Catena envelopes with unique event ids, built before the timed
window with fresh timestamps: 80 % `vehicle_location.added` (stored only), 20 % onboarding events of
distinct fleets (stored and projected onto their onboarding). Every response is checked (202).

Prints events/s and p50/p99 ack latency per target, the ratio to the no-op baseline, and appends
them to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/receiver_load.py [--connections 32] [--seconds 10] [--workers 2] [--label "..."]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import hmac
import json
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

SECRET = "benchmark-signing-secret"
WEBHOOK_ID = "019d0000-0000-7000-8000-00000000bbbb"
_INBOX_URL = "CATENA_BENCH_INBOX_URL"
_VERIFY_ONLY = "CATENA_BENCH_VERIFY_ONLY"
POSTGRES_ADMIN_URL = os.environ.get("CATENA_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


# -- server (its own process) ----------------------------------------------------------------------


async def noop(request: Request) -> Response:
    """The baseline: reads the body and answers 202, nothing else."""
    await request.body()
    return Response(b'{"status":"accepted"}', status_code=202, media_type="application/json")


def build_app(inbox_url: str):
    """The receiver app plus a no-op route; the no-op exists only here, never in the production app."""
    from catena_airflow.webhooks.app import create_webhook_app

    app = create_webhook_app(inbox_url=inbox_url, secrets=(SECRET,))
    if os.environ.get(_VERIFY_ONLY):
        # Diagnostic only: everything the receiver does except the inbox commit (what HTTP + checks cost).
        from catena_airflow.inbox.models import RecordOutcome

        async def accepted(item, *, timeout):
            return RecordOutcome(stored=True, duplicate=False)

        app.state.receiver.writer.submit = accepted
    app.add_route("/noop", noop, methods=["POST"])  # a plain Starlette route, as the receiver's is
    return app


def server_app():
    """The factory each uvicorn worker process calls (configured through the environment).

    Tuned as `catena-webhooks serve` tunes its processes, for the no-op and the receiver alike.
    """
    from catena_airflow.webhooks.tuning import tune_gc_for_serving

    app = build_app(os.environ[_INBOX_URL])
    tune_gc_for_serving()
    return app


def serve(port: int, inbox_url: str, workers: int) -> None:
    import uvicorn

    os.environ[_INBOX_URL] = inbox_url
    uvicorn.run(
        "receiver_load:server_app",
        factory=True,
        workers=workers,
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


# -- load generator (separate processes) -----------------------------------------------------------


def _envelope(n: int, run: str) -> dict:
    event_id = str(uuid.uuid4())
    fleet = f"{run}-fleet-{n // 10}"
    if n % 5:
        name, record = (
            "vehicle_location.added",
            {"id": f"vl-{n}", "fleet_id": fleet, "latitude": 52.1, "longitude": 4.3},
        )
    else:
        invitation = f"{run}-inv-{n // 10}"
        step = (n // 5) % 2
        if step == 0:
            name, record = "invitation.accepted", {"id": invitation, "status": "accepted", "fleet_id": fleet}
        else:
            name, record = "fleet_connection.created", {"id": f"fc-{n}", "fleet_id": fleet, "connection_id": f"c-{n}"}
    return {
        "version": "1.0",
        "event_name": name,
        "webhook_id": WEBHOOK_ID,
        "timestamp": datetime.now(UTC).isoformat(),
        "id": event_id,
        "delivery_attempt": 1,
        "data": [record],
    }


def build_requests(path: str, port: int, count: int, first: int, run: str) -> list[bytes]:
    timestamp = datetime.now(UTC).isoformat(timespec="seconds")
    out = []
    for n in range(first, first + count):
        body = json.dumps(_envelope(n, run), separators=(",", ":")).encode()
        signature = base64.b64encode(
            hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()
        ).decode()
        content = gzip.compress(body)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Encoding: gzip\r\nX-Catena-Signature: {signature}\r\nX-Catena-Timestamp: {timestamp}\r\n"
            f"X-Webhook-ID: {WEBHOOK_ID}\r\nX-Request-ID: {uuid.uuid4()}\r\nX-Delivery-Attempt: 1\r\n"
            f"Content-Length: {len(content)}\r\n\r\n"
        )
        out.append(head.encode() + content)
    return out


async def _connection(port: int, requests: list[bytes], cursor: list[int], start: float, end: float, out: dict):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            now = time.perf_counter()
            if now >= end or cursor[0] >= len(requests):
                return
            request = requests[cursor[0]]
            cursor[0] += 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            done = time.perf_counter()
            if now >= start:  # after the warm-up
                out["latencies"].append(done - now)
                out["statuses"][status] = out["statuses"].get(status, 0) + 1
    finally:
        writer.close()


def client_process(port, path, connections, warmup, seconds, count, first, run, go, results):
    import uvloop

    requests = build_requests(path, port, count, first, run)
    out: dict = {"latencies": [], "statuses": {}, "exhausted": False}
    go.wait()  # every client starts together, after building its requests
    start = time.perf_counter() + warmup
    end = start + seconds
    cursor = [0]

    async def main():
        await asyncio.gather(*(_connection(port, requests, cursor, start, end, out) for _ in range(connections)))

    uvloop.run(main())
    out["exhausted"] = cursor[0] >= len(requests)
    results.put(out)


def load(port: int, path: str, *, connections: int, processes: int, warmup: float, seconds: float, rate_hint: int):
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    go = ctx.Event()
    per_process = int(rate_hint * (warmup + seconds) / processes) + 1000
    run = uuid.uuid4().hex[:8]
    procs = [
        ctx.Process(
            target=client_process,
            args=(
                port,
                path,
                connections // processes,
                warmup,
                seconds,
                per_process,
                i * per_process,
                run,
                go,
                results,
            ),
        )
        for i in range(processes)
    ]
    for p in procs:
        p.start()
    time.sleep(1.0 + per_process / 20000)  # let them build their requests
    go.set()
    outs = [results.get(timeout=warmup + seconds + 120) for _ in procs]
    for p in procs:
        p.join(30)
    latencies = sorted(lat for o in outs for lat in o["latencies"])
    statuses: dict[int, int] = {}
    for o in outs:
        for status, n in o["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    if any(o["exhausted"] for o in outs):
        raise RuntimeError("a client ran out of prepared requests: raise --rate-hint")
    return {
        "rate": len(latencies) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "requests": len(latencies),
        "statuses": statuses,
    }


def add_load_arguments(parser: argparse.ArgumentParser, *, rate_hint: int) -> None:
    """The load generator's command-line options, read back by ``load_with_args``."""
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2, help="load-generator processes")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument(
        "--rate-hint", type=int, default=rate_hint, help="upper bound of events/s, sizes the prepared bodies"
    )


def load_with_args(port: int, path: str, args: argparse.Namespace) -> dict:
    """``load`` with the command line's --connections, --processes, --warmup, --seconds and --rate-hint."""
    return load(
        port,
        path,
        connections=args.connections,
        processes=args.processes,
        warmup=args.warmup,
        seconds=args.seconds,
        rate_hint=args.rate_hint,
    )


# -- diagnostic: the inbox writer alone (no HTTP), in its own process --------------------------------


#: More events/s than the writer alone sustains here; sizes its prepared events (checked after the run).
_WRITER_RATE_BOUND = 30_000


def writer_only(inbox_url: str, concurrency: int, seconds: float) -> dict:
    """Events/s the group-commit writer sustains when ``concurrency`` submitters keep it busy."""
    from catena_airflow.client.events import WebhookEnvelope
    from catena_airflow.inbox import InboxStore, IncomingEvent
    from catena_airflow.webhooks.writer import GroupCommitWriter

    store = InboxStore(inbox_url)
    store.migrate()
    run = uuid.uuid4().hex[:8]
    bodies = [json.dumps(_envelope(n, run)).encode() for n in range(int(seconds * _WRITER_RATE_BOUND) + 1000)]
    items = iter(IncomingEvent.from_envelope(WebhookEnvelope.model_validate_json(b), b) for b in bodies)
    writer = GroupCommitWriter(lambda: store)
    latencies: list[float] = []

    async def submitter(end: float) -> None:
        for item in items:
            started = time.perf_counter()
            if started >= end:
                return
            await writer.submit(item, timeout=30)
            latencies.append(time.perf_counter() - started)

    async def main() -> None:
        end = time.perf_counter() + seconds
        await asyncio.gather(*(submitter(end) for _ in range(concurrency)))

    import uvloop

    uvloop.run(main())
    writer.close()
    store.dispose()
    if len(latencies) >= len(bodies) - concurrency:
        raise RuntimeError(f"the writer used up all {len(bodies)} prepared events: raise _WRITER_RATE_BOUND")
    latencies.sort()
    return {
        "rate": len(latencies) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "requests": len(latencies),
        "statuses": {202: len(latencies)},
        "batch": len(latencies) / max(writer.batches, 1),
    }


def measure_writer(inbox_url: str, args) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--writer-only", inbox_url, "--connections", str(args.connections),
         "--seconds", str(args.seconds)],
        capture_output=True, text=True, check=True, timeout=args.seconds + 300,
    ).stdout  # fmt: skip
    figures = json.loads(out.strip().splitlines()[-1])
    figures["statuses"] = {int(status): n for status, n in figures["statuses"].items()}
    return figures


# -- orchestration ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(inbox_url: str, *, workers: int = 1, verify_only: bool = False) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "CATENA_WEBHOOK_SECRET": "", _VERIFY_ONLY: "1" if verify_only else ""}
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), "--inbox-url", inbox_url, "--workers", str(workers)],
        env=env,
        start_new_session=True,
    )
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc, port
        except requests.RequestException:
            time.sleep(0.1)
    raise TimeoutError("server did not start")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def create_postgres_database() -> tuple[str, callable]:
    import psycopg2
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_ADMIN_URL)
    name = f"catena_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return url.set(database=name).render_as_string(hide_password=False), drop


def measure(
    inbox_url: str, targets: list[tuple[str, str]], args, *, workers: int = 1, verify_only: bool = False
) -> dict[str, dict]:
    proc, port = start_server(inbox_url, workers=workers, verify_only=verify_only)
    try:
        figures = {}
        for name, path in targets:
            figures[name] = load_with_args(port, path, args)
            print(f"{name:<28} {_row(figures[name])}", flush=True)
        return figures
    finally:
        stop_server(proc)


def _row(f: dict) -> str:
    bad = {s: n for s, n in f["statuses"].items() if s != 202}
    return f"{f['rate']:>8,.0f} events/s  p50 {f['p50_ms']:6.1f} ms  p99 {f['p99_ms']:6.1f} ms" + (
        f"  NON-202: {bad}" if bad else ""
    )


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_load_arguments(parser, rate_hint=30000)
    parser.add_argument("--workers", type=int, default=2, help="server processes of the multi-process rows")
    parser.add_argument("--label", default="", help="note for RESULTS.md (e.g. 'before group commit')")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--inbox-url", help=argparse.SUPPRESS)
    parser.add_argument("--writer-only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.inbox_url, args.workers)
        return
    if args.writer_only:
        print(json.dumps(writer_only(args.writer_only, args.connections, args.seconds)))
        return

    load_at_start = os.getloadavg()[0]
    started = datetime.now(UTC)
    n = args.workers
    figures: dict[str, dict] = {}
    baselines: dict[str, str] = {}  # receiver row -> its no-op row (same server)

    def run(url: str, engine: str, workers: int) -> None:
        noop_row, receiver_row = f"no-op ({engine} server, {workers} proc)", f"receiver, {engine}, {workers} proc"
        figures.update(measure(url, [(noop_row, "/noop"), (receiver_row, "/catena/webhooks")], args, workers=workers))
        baselines[receiver_row] = noop_row

    def writer_alone(url: str, engine: str) -> None:
        name = f"inbox writer alone, {engine}"
        figures[name] = measure_writer(url, args)
        print(f"{name:<28} {_row(figures[name])}", flush=True)

    with tempfile.TemporaryDirectory(prefix="catena-bench-") as tmp:
        run(f"sqlite:///{tmp}/inbox.db", "SQLite", 1)
        checks_only = "receiver without the commit, 1 proc"
        target = [(checks_only, "/catena/webhooks")]
        figures.update(measure(f"sqlite:///{tmp}/unused.db", target, args, verify_only=True))
        baselines[checks_only] = "no-op (SQLite server, 1 proc)"
        writer_alone(f"sqlite:///{tmp}/writer.db", "SQLite")
    for workers in (1, n):
        pg_url, drop = create_postgres_database()
        try:
            run(pg_url, "PostgreSQL", workers)
        finally:
            drop()
    pg_url, drop = create_postgres_database()
    try:
        writer_alone(pg_url, "PostgreSQL")
    finally:
        drop()

    sqlite_row = "receiver, SQLite, 1 proc"
    sqlite_ratio = figures[sqlite_row]["rate"] / figures[baselines[sqlite_row]]["rate"]
    pg_rows = ("receiver, PostgreSQL, 1 proc", f"receiver, PostgreSQL, {n} proc")
    pg_best = max(pg_rows, key=lambda row: figures[row]["rate"])
    pg_rate = figures[pg_best]["rate"]
    p99s = {row: figures[row]["p99_ms"] for row in (sqlite_row, pg_best)}
    worst = max(p99s, key=p99s.__getitem__)
    verdict = (
        f"SQLite/no-op x{sqlite_ratio:.2f} (target >= 0.40: {_met(sqlite_ratio >= 0.40)}); "
        f"PostgreSQL {pg_rate:,.0f} events/s ({pg_best}; target >= 2,000/s: {_met(pg_rate >= 2000)}); "
        f"worst p99 of those {p99s[worst]:.1f} ms ({worst}; target < 50 ms: {_met(p99s[worst] < 50)})."
    )
    print(verdict)
    if args.no_record:
        return
    # Imported here: _common imports this module, and the api-server benchmark's plugin imports it too.
    from _common import append_results, cpus

    lines = [
        f"\n## Webhook receiver load — {started:%Y-%m-%d %H:%M} UTC" + (f" — {args.label}" if args.label else ""),
        "",
        f"Machine: {cpus()}; Python {platform.python_version()}; load average at start {load_at_start:.1f} (shared).",
        f"Server: uvicorn (uvloop, httptools); '{n} proc' rows run {n} worker processes, as "
        f"`catena-webhooks serve --workers {n}` does. Load: {args.processes} client processes, {args.connections} "
        f"keep-alive connections, {args.seconds:.0f} s after {args.warmup:.0f} s warm-up; gzip + HMAC-signed "
        "envelopes, 80 % telematics / 20 % onboarding events. 'Receiver without the commit' (diagnostic): the whole "
        "receive path with the inbox write replaced by an immediate answer. 'Inbox writer alone': the same events "
        f"submitted in-process by {args.connections} concurrent tasks to the group-commit writer (no HTTP).",
        "",
        "| target | events/s | p50 ms | p99 ms | x no-op (same server) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, f in figures.items():
        ratio = f"{f['rate'] / figures[baselines[name]]['rate']:.2f}" if name in baselines else "-"
        ratio = "1.00" if name.startswith("no-op") else ratio
        lines.append(f"| {name} | {f['rate']:,.0f} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} | {ratio} |")
    lines += ["", verdict, ""]
    append_results("\n".join(lines))


if __name__ == "__main__":
    main()
