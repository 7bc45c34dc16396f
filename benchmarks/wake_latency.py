"""Wake latency of waiting onboarding sensors: receiver 202 for ``fleet_connection.created`` -> trigger event.

In one run, on this machine:
  1. a real receiver process (``catena-webhooks serve``) on a fresh inbox (SQLite by default,
     ``--inbox postgres`` for a fresh PostgreSQL database);
  2. N onboardings registered and brought up to ``connection.created`` through signed webhooks;
  3. N waiters in one asyncio loop (as in one triggerer), first the real
     ``CatenaFleetConnectedTrigger`` (all share one inbox poller), then the baseline: a naive trigger
     that queries the inbox for its own onboarding every poll interval;
  4. each fleet's ``fleet_connection.created`` is POSTed to the receiver at a random phase of the
     poll interval; latency = time the trigger yields its event - time the 202 came back.

Prints p50/p99 latency and inbox queries per second while all N wait, for both, and appends them to
benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/wake_latency.py [--fleets 50] [--poll-interval 1.0] [--inbox sqlite|postgres]
        [--no-record]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import hashlib
import hmac
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECRET = "wake-benchmark-secret"
POSTGRES_ADMIN_URL = os.environ.get("CATENA_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def signed_post(session: requests.Session, url: str, event_name: str, record: dict) -> float:
    """POST one Catena delivery; returns the time its 202 came back."""
    body = json.dumps(
        {
            "version": "1.0",
            "event_name": event_name,
            "data": [record],
            "webhook_id": "wh-bench",
            "timestamp": datetime.now(UTC).isoformat(),
            "id": str(uuid.uuid4()),
            "delivery_attempt": 1,
        },
        separators=(",", ":"),
    ).encode()
    timestamp = datetime.now(UTC).isoformat(timespec="seconds")
    signature = base64.b64encode(hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest())
    response = session.post(
        url,
        data=gzip.compress(body),
        headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "X-Catena-Signature": signature.decode(),
            "X-Catena-Timestamp": timestamp,
            "X-Webhook-ID": "wh-bench",
            "X-Request-ID": str(uuid.uuid4()),
            "X-Delivery-Attempt": "1",
        },
        timeout=10,
    )
    acked = time.monotonic()
    if response.status_code != 202:
        raise RuntimeError(f"receiver answered {response.status_code}: {response.text[:200]}")
    return acked


def prepare(store, session: requests.Session, url: str, count: int, run: str) -> list[dict]:
    """N onboardings registered and brought to ``connection.created`` (webhooks through the receiver)."""
    fleets = []
    for n in range(count):
        invitation_id, fleet_id, connection_id = str(uuid.uuid4()), f"{run}-fleet-{n}", f"{run}-conn-{n}"
        now = datetime.now(UTC)
        store.register_invitation(
            {
                "id": invitation_id,
                "created_at": now.isoformat(),
                "magic_link": f"https://connect.example/?invite={invitation_id}",
                "expires_at": (now + timedelta(days=1)).isoformat(),
                "expires_in_hours": 24,
                "status": "active",
                "fleet_ref": f"{run}-{n}",
            }
        )
        signed_post(
            session, url, "invitation.accepted", {"id": invitation_id, "status": "accepted", "fleet_id": fleet_id}
        )
        signed_post(
            session,
            url,
            "share_agreement.created",
            {
                "id": str(uuid.uuid4()),
                "fleet_id": fleet_id,
                "partner_id": "p",
                "invitation_id": invitation_id,
                "status": "active",
                "scopes": {"vehicle": "read"},
            },
        )
        signed_post(
            session,
            url,
            "connection.created",
            {"id": connection_id, "fleet_id": fleet_id, "tsp_id": "t", "source_name": "samsara", "status": "active"},
        )
        fleets.append({"invitation_id": invitation_id, "fleet_id": fleet_id, "connection_id": connection_id})
    return fleets


class Counting:
    """Counts the inbox reads the waiters make: the store's two read methods (naive waiters) and the
    shared poller's one read (``read_onboarding_changes``), each patched on the store."""

    def __init__(self, store) -> None:
        self.queries = 0
        self.store = store
        for owner, name in (
            (store, "get_onboardings"),
            (store, "get_onboarding"),
            (store, "read_onboarding_changes"),
        ):
            real = getattr(owner, name)

            def counted(*args, _real=real, **kwargs):
                self.queries += 1
                return _real(*args, **kwargs)

            setattr(owner, name, counted)


async def naive_wait(store, invitation_id: str, poll_interval: float) -> None:
    """The baseline: one inbox query per waiting trigger per poll interval."""
    while True:
        onboarding = await asyncio.to_thread(store.get_onboarding, invitation_id)
        if onboarding is not None and onboarding.is_connected:
            return
        await asyncio.sleep(poll_interval)


async def shared_wait(invitation_id: str, poll_interval: float) -> None:
    from catena_airflow.triggers.fleet_connected import CatenaFleetConnectedTrigger

    trigger = CatenaFleetConnectedTrigger(
        invitation_id=invitation_id, poll_interval=poll_interval, reconcile_interval=3600
    )
    gen = trigger.run()
    try:
        event = await gen.asend(None)
    finally:
        await gen.aclose()
    assert event.payload["status"] == "connected", event.payload


async def measure(mode: str, store, counter: Counting, fleets: list[dict], url: str, poll: float) -> dict:
    woke: dict[str, float] = {}

    async def waiter(fleet: dict) -> None:
        if mode == "shared":
            await shared_wait(fleet["invitation_id"], poll)
        else:
            await naive_wait(store, fleet["invitation_id"], poll)
        woke[fleet["invitation_id"]] = time.monotonic()

    tasks = [asyncio.create_task(waiter(f)) for f in fleets]
    await asyncio.sleep(poll * 1.5)  # everyone is waiting
    before, started = counter.queries, time.monotonic()
    await asyncio.sleep(poll * 5)
    queries_per_second = (counter.queries - before) / (time.monotonic() - started)
    session = requests.Session()
    acked: dict[str, float] = {}
    for fleet in fleets:
        await asyncio.sleep(random.uniform(0, poll / 2))  # random phase against the poll
        acked[fleet["invitation_id"]] = await asyncio.to_thread(
            signed_post,
            session,
            url,
            "fleet_connection.created",
            {"id": str(uuid.uuid4()), "fleet_id": fleet["fleet_id"], "connection_id": fleet["connection_id"]},
        )
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
    latencies = sorted(woke[i] - acked[i] for i in acked)
    return {
        "mode": mode,
        "p50": statistics.median(latencies),
        "p99": statistics.quantiles(latencies, n=100, method="inclusive")[98],
        "max": latencies[-1],
        "queries_per_second": queries_per_second,
    }


def inbox_url(kind: str, workdir: Path) -> tuple[str, callable]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'inbox.db'}", lambda: None
    import psycopg2
    from sqlalchemy.engine import make_url

    admin = make_url(POSTGRES_ADMIN_URL)
    name = f"catena_wake_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(host=admin.host, port=admin.port or 5432, user=admin.username, dbname=admin.database)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()

    return admin.set(database=name).render_as_string(hide_password=False), drop


def start_receiver(url: str, workdir: Path) -> tuple[subprocess.Popen, str]:
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.net import free_port, wait_for_http

    port = free_port()
    script = Path(sys.executable).with_name("catena-webhooks")
    env = {**os.environ, "CATENA_INBOX_URL": url, "CATENA_WEBHOOK_SECRET": SECRET}
    log = (workdir / "receiver.log").open("wb")
    process = subprocess.Popen(
        [str(script), "serve", "--port", str(port), "--log-level", "warning"], env=env, stdout=log, stderr=log
    )
    wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=60, process=process)
    return process, f"http://127.0.0.1:{port}/catena/webhooks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", type=int, default=50)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--inbox", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="catena-wake-"))
    os.environ.setdefault("AIRFLOW_HOME", str(workdir))
    url, drop = inbox_url(args.inbox, workdir)
    os.environ["CATENA_INBOX_URL"] = url
    from catena_airflow.hooks.inbox import inbox_store

    store = inbox_store(url)
    receiver, webhook_url = start_receiver(url, workdir)
    load = os.getloadavg()[0]
    try:
        session = requests.Session()
        counter = Counting(store)
        results = []
        for mode in ("shared", "naive"):
            fleets = prepare(store, session, webhook_url, args.fleets, f"{mode}-{uuid.uuid4().hex[:6]}")
            results.append(asyncio.run(measure(mode, store, counter, fleets, webhook_url, args.poll_interval)))
    finally:
        receiver.terminate()
        receiver.wait(10)
        store.dispose()
        drop()

    lines = [
        f"## Wake latency (webhook 202 -> trigger event) — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}; Python "
        f"{platform.python_version()}; load average at start {load:.1f} (shared). {args.fleets} fleets waiting in one "
        f"event loop, poll interval {args.poll_interval:g} s, {args.inbox} inbox, receiver `catena-webhooks serve`.",
        "",
        "| waiters | p50 | p99 | max | inbox queries/s while all wait |",
        "|---|---:|---:|---:|---:|",
    ]
    names = {"shared": "CatenaFleetConnectedTrigger (shared poller)", "naive": "baseline: one query per trigger"}
    for r in results:
        lines.append(
            f"| {names[r['mode']]} | {r['p50'] * 1000:.0f} ms | {r['p99'] * 1000:.0f} ms | {r['max'] * 1000:.0f} ms "
            f"| {r['queries_per_second']:.1f} |"
        )
    shared, naive = results
    lines += [
        "",
        f"Inbox queries: {shared['queries_per_second']:.1f}/s shared vs {naive['queries_per_second']:.1f}/s naive "
        f"(x{naive['queries_per_second'] / max(shared['queries_per_second'], 1e-9):.0f} fewer); latency is bounded by "
        "the poll interval either way (a PostgreSQL inbox wakes the shared poller on commit: LISTEN/NOTIFY).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.no_record:
        return
    with RESULTS.open("a") as out:
        out.write("\n" + text)


if __name__ == "__main__":
    main()
