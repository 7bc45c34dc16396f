"""How fast the Catena sandbox serves telematics rows: vehicle locations of 50 fleets, paged over HTTP.

One `catena-sandbox serve` process (speed 3600), 50 fleets onboarded with Catena's default scopes (3 to 8
vehicles each, a location per vehicle per minute). Then, on this machine, in one run:
  * baseline: `GET /sandbox/health` round trips on the same server (what an HTTP round trip costs);
  * fleet by fleet, as the product's ingestion pages (`fleet_ids=<one>`, `only_latest=false`, a closed
    window of `--hours`, `size=1000`), one client;
  * the same with `--clients` concurrent clients (fleets shared out), as mapped ingestion tasks would;
  * all 50 fleets in one query (no fleet filter);
  * the first page and the last page of the all-fleets query (lazy paging: the offset costs nothing);
  * in-process generation of the same rows without HTTP (diagnostic: what the rows themselves cost);
and the sandbox's RSS before and after (rows are generated per page, never stored). Rows are counted from
the JSON the client parsed. Figures are printed and appended to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/sandbox_telematics.py [--fleets 50] [--hours 24] [--clients 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
import requests
from _common import add_record_arguments, cpus, now, record
from sandbox_delivery import wait_for

from devstack.processes import free_port
from devstack.sandbox import TOKEN_PATH

API = "/v2/telematics/vehicle-locations"
SIZE = 1000


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        token = requests.post(
            base + TOKEN_PATH,
            data={"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "sandbox-secret"},
            timeout=10,
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}

    def session(self) -> requests.Session:
        session = requests.Session()
        session.headers.update(self.headers)
        return session


def onboard(api: Api, fleets: int) -> list[str]:
    """``fleets`` fleets through the happy path; their fleet ids once every one is connected."""
    with api.session() as http:
        for n in range(fleets):
            http.post(
                api.base + "/v2/orgs/invitations", json={"fleet_ref": f"BENCH-{n:03d}"}, timeout=10
            ).raise_for_status()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            connections = http.get(api.base + "/v2/integrations/connections", params={"size": 1000}, timeout=10).json()
            agreements = http.get(api.base + "/v2/orgs/share-agreements", params={"size": 1000}, timeout=10).json()
            active = {a["fleet_id"] for a in agreements["items"] if a["status"] == "active"}
            ids = sorted({c["fleet_id"] for c in connections["items"]} & active)
            if len(ids) == fleets:
                return ids
            time.sleep(0.2)
    raise TimeoutError("fleets did not connect")


def page_all(http: requests.Session, url: str, params: dict[str, Any]) -> tuple[int, int]:
    """(rows, pages) of every page of one query, following next_page."""
    rows = pages = 0
    cursor = None
    while True:
        response = http.get(url, params={**params, **({"cursor": cursor} if cursor else {})}, timeout=60)
        response.raise_for_status()
        body = response.json()
        rows += len(body["items"])
        pages += 1
        cursor = body["next_page"]
        if not cursor:
            return rows, pages


def per_fleet(api: Api, fleets: list[str], window: dict[str, str], clients: int) -> tuple[int, int, float]:
    """Every fleet's locations, fleet by fleet, with ``clients`` concurrent clients: (rows, pages, seconds)."""
    params = {"only_latest": "false", "size": SIZE, **window}

    def one(share: list[str]) -> tuple[int, int]:
        total_rows = total_pages = 0
        with api.session() as http:
            for fleet in share:
                rows, pages = page_all(http, api.base + API, {**params, "fleet_ids": fleet})
                total_rows, total_pages = total_rows + rows, total_pages + pages
        return total_rows, total_pages

    shares = [fleets[i::clients] for i in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, shares))
    elapsed = time.perf_counter() - started
    return sum(r for r, _ in results), sum(p for _, p in results), elapsed


def round_trips(api: Api, count: int) -> float:
    with api.session() as http:
        started = time.perf_counter()
        for _ in range(count):
            http.get(api.base + "/sandbox/health", timeout=10).raise_for_status()
        return count / (time.perf_counter() - started)


def page_latency(api: Api, window: dict[str, str], total: int) -> tuple[float, float]:
    """Seconds for the first and for the last page of the all-fleets query (median of 5 each)."""
    import base64
    import json
    from urllib.parse import quote

    last = max(0, total - SIZE)
    cursor = quote(base64.b64encode(json.dumps({"o": last, "b": 0}, separators=(",", ":")).encode()).decode(), safe="")
    params = {"only_latest": "false", "size": SIZE, **window}
    timings: dict[str, list[float]] = {"first": [], "last": []}
    with api.session() as http:
        for _ in range(5):
            for name, extra in (("first", {}), ("last", {"cursor": cursor})):
                started = time.perf_counter()
                http.get(api.base + API, params={**params, **extra}, timeout=60).raise_for_status()
                timings[name].append(time.perf_counter() - started)
    return sorted(timings["first"])[2], sorted(timings["last"])[2]


def in_process_rate(fleets: int, hours: float) -> float:
    """Rows/s generated and JSON-encoded in this process (no HTTP), for the same shape of query."""
    import json

    from catena_sandbox.state import Connection
    from catena_sandbox.telematics.query import Context, list_records
    from catena_sandbox.telematics.resources import BY_NAME

    moment = datetime.now(UTC)
    connections = [
        Connection(
            id=f"00000000-0000-4000-8000-{n:012d}",
            fleet_id=f"10000000-0000-4000-8000-{n:012d}",
            fleet_ref=f"BENCH-{n}",
            tsp_id="20000000-0000-4000-8000-000000000000",
            source_name="samsara",
            status="active",
            description=None,
            created_at=moment,
            updated_at=moment,
        )
        for n in range(fleets)
    ]
    context = Context(now=moment, speed=3600, include_source_data=False)
    params: dict[str, Any] = {
        "only_latest": False,
        "size": SIZE,
        "from_datetime": moment - timedelta(hours=hours),
        "to_datetime": moment,
    }
    rows, started, cursor = 0, time.perf_counter(), None
    while time.perf_counter() - started < 10:
        body = list_records(BY_NAME["vehicle-locations"], connections, {**params, "cursor": cursor}, context)
        json.dumps(body)
        rows += len(body["items"])
        cursor = body["next_page"]
        if not cursor:
            break
    return rows / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fleets", type=int, default=50)
    parser.add_argument("--hours", type=float, default=24, help="closed window paged per fleet (default a day)")
    parser.add_argument("--clients", type=int, default=4)
    add_record_arguments(parser)
    args = parser.parse_args()
    started = now()
    load = psutil.getloadavg()[0]
    port = free_port()
    command = [sys.executable, "-m", "catena_sandbox", "serve", "--port", str(port), "--speed", "3600"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/sandbox/health", process)
        api = Api(base)
        fleets = onboard(api, args.fleets)
        sandbox = psutil.Process(process.pid)
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        window = {"from_datetime": (end - timedelta(hours=args.hours)).isoformat(), "to_datetime": end.isoformat()}
        rss_before = sandbox.memory_info().rss
        baseline = round_trips(api, 300)
        rows_1, pages_1, seconds_1 = per_fleet(api, fleets, window, 1)
        rows_n, pages_n, seconds_n = per_fleet(api, fleets, window, args.clients)
        with api.session() as http:
            t0 = time.perf_counter()
            rows_all, pages_all = page_all(http, base + API, {"only_latest": "false", "size": SIZE, **window})
            seconds_all = time.perf_counter() - t0
        first, last = page_latency(api, window, rows_all)
        rss_after = sandbox.memory_info().rss
    finally:
        process.terminate()
        process.wait(10)
    generated = in_process_rate(args.fleets, args.hours)
    assert rows_1 == rows_n == rows_all, (rows_1, rows_n, rows_all)
    lines = [
        f"Machine: {cpus()}; Python {sys.version.split()[0]}; load average at start {load:.1f} (shared machine).",
        f"One `catena-sandbox serve` process (speed 3600), {args.fleets} fleets with default scopes, a location per "
        f"vehicle per minute; a closed {args.hours:g} h window, `only_latest=false`, `size={SIZE}`; client: "
        "`requests` + JSON parsing, rows counted from the parsed pages.",
        "",
        "| what | rows | pages | seconds | rows/s |",
        "|---|---:|---:|---:|---:|",
        f"| baseline: `GET /sandbox/health` round trips | - | 300 | {300 / baseline:.2f} | "
        f"({baseline:,.0f} requests/s) |",
        f"| fleet by fleet, 1 client | {rows_1:,} | {pages_1:,} | {seconds_1:.1f} | {rows_1 / seconds_1:,.0f} |",
        f"| fleet by fleet, {args.clients} clients | {rows_n:,} | {pages_n:,} | {seconds_n:.1f} | "
        f"{rows_n / seconds_n:,.0f} |",
        f"| all fleets in one query, 1 client | {rows_all:,} | {pages_all:,} | {seconds_all:.1f} | "
        f"{rows_all / seconds_all:,.0f} |",
        f"| in-process generation + JSON, no HTTP (diagnostic) | - | - | - | {generated:,.0f} |",
        "",
        f"Page of {SIZE} rows of the all-fleets query: first {first * 1000:.0f} ms, "
        f"last (offset {max(0, rows_all - SIZE):,}) {last * 1000:.0f} ms (median of 5). "
        f"Sandbox RSS {rss_before / 2**20:.0f} MiB before paging, "
        f"{rss_after / 2**20:.0f} MiB after.",
    ]
    record("Sandbox telematics paging", lines, started=started, args=args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
