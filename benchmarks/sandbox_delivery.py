"""How many webhooks per second the Catena sandbox delivers to a fast receiver in another process.

Runs, in one go on this machine, against a fast receiver (answers 202 at once):
  * baseline A: one plain HTTP client posting the same gzip payloads to the receiver, one after another;
  * baseline B: the sandbox with a single delivery worker;
  * the sandbox with its default worker pool (the figure the sandbox promises: >= 1,000 webhooks/s);
and against a receiver that takes 5 ms per request (a database commit), where the pool matters most:
  * baseline C: the sandbox with a single delivery worker;
  * the sandbox with its default worker pool.
Each sandbox run publishes N events to one subscription through the admin API and times until every
delivery is acknowledged. Figures are printed and appended to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/sandbox_delivery.py [--events 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime

import requests
from _common import append_results, cpus

from devstack.processes import free_port
from devstack.sandbox import TOKEN_PATH


def wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {process.returncode}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


# -- the receiver (runs in its own process) ---------------------------------------------------------
def run_receiver(port: int, latency_ms: float) -> None:
    import uvicorn

    received = 0

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        nonlocal received
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        if scope["method"] == "POST":
            received += 1
            if latency_ms:
                await asyncio.sleep(latency_ms / 1000)
            await send({"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
        else:
            body = json.dumps({"received": received}).encode()
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, http="httptools")


# -- measurements ---------------------------------------------------------------------------------
def plain_client_rate(url: str, count: int) -> float:
    """Baseline A: one aiohttp client, one request at a time, same gzip body size as a webhook."""
    import aiohttp

    body = gzip.compress(json.dumps({"version": "1.0", "event_name": "vehicle.added", "data": [{"n": 1}]}).encode())

    async def run() -> float:
        async with aiohttp.ClientSession() as session:
            started = time.perf_counter()
            for _ in range(count):
                async with session.post(url, data=body, headers={"Content-Encoding": "gzip"}) as response:
                    await response.read()
            return count / (time.perf_counter() - started)

    return asyncio.run(run())


def sandbox_rate(receiver_url: str, count: int, workers: int | None) -> tuple[float, dict]:
    port = free_port()
    args = [sys.executable, "-m", "catena_sandbox", "serve", "--port", str(port), "--speed", "3600"]
    if workers is not None:
        args += ["--delivery-workers", str(workers)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(base + "/sandbox/health", process)
        token = requests.post(
            base + TOKEN_PATH,
            data={"grant_type": "client_credentials", "client_id": "sandbox", "client_secret": "sandbox-secret"},
            timeout=10,
        ).json()["access_token"]
        requests.post(
            base + "/v2/notifications/webhooks",
            json={"url": receiver_url, "event_name": "vehicle.added"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).raise_for_status()
        record = {"id": "019d0000-0000-7000-8000-0000000000b1", "fleet_id": "019d0000-0000-7000-8000-0000000000f1"}
        started = time.perf_counter()
        requests.post(
            base + "/sandbox/events",
            json={"event_name": "vehicle.added", "data": [record], "count": count},
            timeout=120,
        ).raise_for_status()
        deadline = time.monotonic() + 600
        while True:
            stats = requests.get(base + "/sandbox/stats", timeout=10).json()
            if stats["pending"] == 0:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"deliveries still pending: {stats}")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        return stats["delivered"] / elapsed, stats
    finally:
        process.terminate()
        process.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000, help="webhooks per sandbox run")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)  # internal: run the receiver on this port
    parser.add_argument("--latency-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(args.receiver, args.latency_ms)
        return 0

    load_at_start = os.getloadavg()[0]
    fast_port, slow_port = free_port(), free_port()
    receivers = [
        subprocess.Popen([sys.executable, __file__, "--receiver", str(fast_port)]),
        subprocess.Popen([sys.executable, __file__, "--receiver", str(slow_port), "--latency-ms", "5"]),
    ]
    fast_url, slow_url = f"http://127.0.0.1:{fast_port}/hooks", f"http://127.0.0.1:{slow_port}/hooks"
    small = min(args.events, 5_000)
    try:
        for port, process in zip((fast_port, slow_port), receivers, strict=True):
            wait_for(f"http://127.0.0.1:{port}/count", process)
        plain = plain_client_rate(fast_url, small)
        single, single_stats = sandbox_rate(fast_url, small, workers=1)
        pooled, pooled_stats = sandbox_rate(fast_url, args.events, workers=None)
        slow_single, slow_single_stats = sandbox_rate(slow_url, min(args.events, 500), workers=1)
        slow_pooled, slow_pooled_stats = sandbox_rate(slow_url, small, workers=None)
        received = requests.get(f"http://127.0.0.1:{fast_port}/count", timeout=10).json()["received"]
    finally:
        for process in receivers:
            process.terminate()
            process.wait(10)

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Sandbox webhook delivery — {when}",
        "",
        f"Machine: {cpus()}; Python {platform.python_version()}. Receiver: uvicorn+httptools ASGI app in its own",
        "process answering 202. Sandbox: `catena-sandbox serve` process (gzip + HMAC-signed envelopes, logs, metrics).",
        "",
        "| run | webhooks | webhooks/s |",
        "|---|---:|---:|",
        f"| fast receiver — baseline A: one plain aiohttp client, sequential | {small} | {plain:,.0f} |",
        f"| fast receiver — baseline B: sandbox, 1 delivery worker | {single_stats['delivered']} | {single:,.0f} |",
        f"| fast receiver — sandbox, default worker pool | {pooled_stats['delivered']} | {pooled:,.0f} |",
        f"| 5 ms receiver — baseline C: sandbox, 1 delivery worker | {slow_single_stats['delivered']} "
        f"| {slow_single:,.0f} |",
        f"| 5 ms receiver — sandbox, default worker pool | {slow_pooled_stats['delivered']} | {slow_pooled:,.0f} |",
        "",
        f"Fast receiver: pool vs one worker x{pooled / single:.1f}, pool vs plain client x{pooled / plain:.1f}. "
        f"5 ms receiver: pool vs one worker x{slow_pooled / slow_single:.1f}. "
        f"Failed attempts: {pooled_stats['failed_attempts'] + slow_pooled_stats['failed_attempts']}; "
        f"the fast receiver counted {received} POSTs in total. The machine is shared (load average at start "
        f"{load_at_start:.1f}), so figures vary between runs.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    append_results(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
