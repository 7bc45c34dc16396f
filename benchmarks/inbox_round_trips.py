"""What network distance to PostgreSQL costs the inbox writer: the same load, direct and behind a delay.

Production PostgreSQL is rarely on the loopback: a managed database answers from 0.3 to 2 ms away, and
every round trip the writer makes while it holds the writer lock costs that much. This benchmark runs
the group-commit writer alone (``receiver_load.writer_only``: 32 concurrent submitters, no HTTP) on
a fresh PostgreSQL database three times in one run:

  1. direct to 127.0.0.1:5432;
  2. through a TCP relay that adds nothing (the baseline: the relay's own cost);
  3. through the same relay holding every chunk for ``--delay-ms`` in each direction.

The batch time the delay adds, divided by the round-trip time it adds (``SELECT 1`` measured on each
path), is the number of round trips a batch makes; also printed: statements per batch, counted at
the driver (a statement may carry several SQL commands).

    .venv/bin/python benchmarks/inbox_round_trips.py [--delay-ms 0.5] [--seconds 8] [--label TEXT] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import _common
import receiver_load
from _common import now, record
from sqlalchemy.engine import make_url

CONNECTIONS = 32


def relay(listen_port: int, target_port: int, delay: float) -> None:
    """Forward 127.0.0.1:listen_port to 127.0.0.1:target_port, each chunk held ``delay`` s each way."""
    server = socket.create_server(("127.0.0.1", listen_port))
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", target_port))
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(source, sink, delay), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket, delay: float) -> None:
    chunks: deque[tuple[float, bytes]] = deque()
    ready = threading.Condition()

    def send() -> None:
        while True:
            with ready:
                while not chunks:
                    ready.wait()
                due, chunk = chunks.popleft()
            if chunk == b"":
                sink.shutdown(socket.SHUT_WR)
                return
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            sink.sendall(chunk)

    threading.Thread(target=send, daemon=True).start()
    while True:
        try:
            chunk = source.recv(1 << 16)
        except OSError:
            chunk = b""
        with ready:
            chunks.append((time.perf_counter() + delay, chunk))
            ready.notify()
        if not chunk:
            return


@contextmanager
def relayed(pg_url: str, delay_ms: float) -> Iterator[str]:
    """``pg_url`` rewritten to go through a relay process adding ``delay_ms`` each way."""
    from devstack.processes import free_port

    url = make_url(pg_url)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--relay", str(port), str(url.port or 5432), str(delay_ms / 1000)]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        process.kill()
        process.wait()


def measure(url: str, seconds: float) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--writer", url, "--seconds", str(seconds)],
        capture_output=True, text=True, check=True, timeout=seconds + 300,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def writer(url: str, seconds: float) -> dict:
    """``receiver_load.writer_only`` on ``url``, plus the driver calls per batch of the inbox writer."""
    from sqlalchemy import Engine, event

    calls = [0]
    # Every statement any engine of this process sends: here, only the inbox store's.
    event.listen(Engine, "before_cursor_execute", lambda *_: calls.__setitem__(0, calls[0] + 1))
    figures = {"rtt_ms": round_trip_ms(url)}
    figures |= receiver_load.writer_only(url, CONNECTIONS, seconds)
    batches = figures["requests"] / figures["batch"]
    figures["statements_per_batch"] = calls[0] / batches
    figures["batch_ms"] = 1000 * seconds / batches
    return figures


def round_trip_ms(url: str, samples: int = 300) -> float:
    """Median time of ``SELECT 1`` on one connection: the round-trip time the writer pays per statement."""
    import psycopg2

    parsed = make_url(url)
    connection = psycopg2.connect(
        host=parsed.host, port=parsed.port or 5432, user=parsed.username, dbname=parsed.database
    )
    try:
        cursor = connection.cursor()
        times = []
        for _ in range(samples):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchall()
            times.append(time.perf_counter() - started)
    finally:
        connection.close()
    return 1000 * sorted(times)[samples // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay-ms", type=float, default=0.5, help="added each way (round trip: twice this)")
    parser.add_argument("--seconds", type=float, default=8.0)
    _common.add_record_arguments(parser)
    parser.add_argument("--relay", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--writer", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay:
        relay(int(args.relay[0]), int(args.relay[1]), float(args.relay[2]))
        return
    if args.writer:
        print(json.dumps(writer(args.writer, args.seconds)))
        return

    started = now()
    machine = _common.machine_line()
    rows: dict[str, dict] = {}
    added_rtt_ms = 2 * args.delay_ms  # nominal; the measured figure is each row's rtt_ms
    for name, delay_ms in (
        ("direct", None),
        ("relay, +0 ms (baseline)", 0.0),
        (f"relay, +{added_rtt_ms:g} ms round trip", args.delay_ms),
    ):
        pg_url, drop = _common.create_postgres_database()
        try:
            if delay_ms is None:
                rows[name] = measure(pg_url, args.seconds)
            else:
                with relayed(pg_url, delay_ms) as url:
                    rows[name] = measure(url, args.seconds)
        finally:
            drop()
        f = rows[name]
        print(
            f"{name:<32} {f['rate']:7,.0f} events/s  batch {f['batch']:.1f} events in {f['batch_ms']:.2f} ms  "
            f"{f['statements_per_batch']:.1f} statements/batch  p99 {f['p99_ms']:.1f} ms  "
            f"round trip {f['rtt_ms']:.3f} ms",
            flush=True,
        )
    base, far = rows["relay, +0 ms (baseline)"], rows[f"relay, +{added_rtt_ms:g} ms round trip"]
    added_ms = far["rtt_ms"] - base["rtt_ms"]  # measured: the relay's sleeps overshoot the nominal delay
    round_trips = (far["batch_ms"] - base["batch_ms"]) / added_ms
    lines = [
        machine,
        f"The inbox's group-commit writer alone on PostgreSQL ({CONNECTIONS} concurrent submitters, no HTTP, "
        f"{args.seconds:.0f} s each, receiver_load.py's events), direct and through a TCP relay that holds "
        f"each chunk {args.delay_ms:g} ms each way.",
        "",
        "| PostgreSQL | round trip ms | events/s | events/batch | ms/batch | statements/batch | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {name} | {f['rtt_ms']:.3f} | {f['rate']:,.0f} | {f['batch']:.1f} | {f['batch_ms']:.2f} | "
            f"{f['statements_per_batch']:.1f} | {f['p99_ms']:.1f} |"
            for name, f in rows.items()
        ),
        "",
        f"The relay's delay added {added_ms:.3f} ms per round trip (measured) and "
        f"{far['batch_ms'] - base['batch_ms']:.2f} ms per batch: {round_trips:.1f} round trips per batch. "
        f"Events/s: {far['rate'] / base['rate']:.2f} x the baseline.",
    ]
    record("Inbox writer round trips to PostgreSQL", lines, started=started, args=args)


if __name__ == "__main__":
    main()
