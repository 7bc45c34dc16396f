"""Webhook ingest in the real Airflow api-server: the receiver vs a no-op route on the same server.

In one run, on this machine, for a SQLite inbox and then a fresh PostgreSQL inbox:
  1. ``airflow db migrate`` (SQLite metadata DB in a temp AIRFLOW_HOME), then ``airflow api-server
     --workers 1``: the Catena plugin comes from the installed package's entry point; the benchmark's
     plugins folder holds one file, a plugin app mounted at ``/bench`` with ``receiver_load.noop``
     (reads the body, answers 202), so the baseline is served by the same process and stack;
  2. load from ``receiver_load.load`` (separate processes, 32 keep-alive connections, gzip +
     HMAC-signed envelopes, 80 % telematics / 20 % onboarding events), first on ``/bench/noop``, then
     on ``/catena/webhooks``.
With ``--profile``, an extra receiver run on SQLite is recorded with py-spy and summarised into
benchmarks/PROFILE.md.

    .venv/bin/python benchmarks/ingest_api_server.py [--seconds 10] [--profile] [--label TEXT] [--no-record]
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import tempfile
from pathlib import Path

import _common
import receiver_load
from _common import BENCH_DIR, ROOT, met, now, record

NOOP_PLUGIN = '''"""Benchmark only: a no-op route in the api-server, mounted like the Catena plugin app."""
from fastapi import FastAPI
from airflow.plugins_manager import AirflowPlugin
from receiver_load import noop

app = FastAPI()
app.add_route("/noop", noop, methods=["POST"])  # a plain Starlette route, as the receiver's is


class BenchmarkNoopPlugin(AirflowPlugin):
    name = "benchmark_noop"
    fastapi_apps = [{"app": app, "url_prefix": "/bench", "name": "benchmark no-op"}]
'''
PROFILE = BENCH_DIR / "PROFILE.md"


def airflow_env(home: Path, inbox_url: str, workers: int = 1) -> dict[str, str]:
    from devstack.standalone import standalone_environment

    settings = _common.standalone_settings(home, dags_folder=home / "dags", inbox_url=inbox_url, extra_env={})
    env = standalone_environment(settings)
    env["CATENA_WEBHOOK_SECRET"] = receiver_load.SECRET  # the load generator signs with it
    env["PYTHONPATH"] = str(BENCH_DIR)  # the no-op plugin imports receiver_load.noop
    env["AIRFLOW__API__WORKERS"] = str(workers)
    env["CATENA_TUNE_GC"] = "true"  # as docker-compose.yaml runs the api-server (webhooks/tuning.py)
    return env


def start_api_server(home: Path, env: dict[str, str]):
    workers = env["AIRFLOW__API__WORKERS"]
    from devstack.processes import free_port, start_process, wait_for_http

    port = free_port()
    process = start_process(
        "airflow api-server",
        ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", workers],
        log_path=home / f"api-server-{port}.log",
        env={**env, "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}"},
        cwd=home,
    )
    wait_for_http(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=180, process=process)
    return process, port


def load(port: int, path: str, args) -> dict:
    figures = receiver_load.load_with_args(port, path, args)
    bad = {s: n for s, n in figures["statuses"].items() if s != 202}
    if bad:
        raise RuntimeError(f"{path}: non-202 answers {bad}")
    return figures


def profile(port: int, pid: int, args, workdir: Path) -> str:
    """py-spy over the api-server process tree while the receiver is under load; returns a summary."""
    raw = workdir / "profile.txt"
    spy = subprocess.Popen(
        [
            str(Path(_common.sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--format",
            "raw",
            "--rate",
            "200",
            "--duration",
            str(int(args.seconds + args.warmup)),
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    figures = load(port, "/catena/webhooks", args)
    spy.wait(60)
    return summarise_profile(raw, figures)


def summarise_profile(raw: Path, figures: dict, top: int = 25) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [
        f"Receiver under load during the profile: {figures['rate']:,.0f} events/s (py-spy slows it), "
        f"{total} samples at 200 Hz over all threads of the api-server tree (idle threads included).",
        "",
        "Top frames by own samples:",
        "",
        "```",
        *(f"{n:7d} {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)),
        "```",
        "",
        "Catena receiver frames by inclusive samples:",
        "",
        "```",
        *[f"{n:7d} {100 * n / total:5.1f}%  {frame}" for frame, n in inclusive.most_common() if "catena" in frame][
            :top
        ],
        "```",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    receiver_load.add_load_arguments(parser, rate_hint=6000)
    parser.add_argument("--profile", action="store_true", help="also py-spy the receiver (benchmarks/PROFILE.md)")
    _common.add_record_arguments(parser)
    parser.add_argument("--api-workers", type=int, default=1, help="`airflow api-server --workers` (default: 1)")
    args = parser.parse_args()

    started = now()
    machine = _common.machine_line()
    figures: dict[str, dict] = {}
    profile_text = ""
    with tempfile.TemporaryDirectory(prefix="catena-ingest-") as tmp, _common.postgres_database() as pg_url:
        home = Path(tmp)
        (home / "plugins").mkdir()
        (home / "dags").mkdir()
        (home / "plugins" / "benchmark_noop.py").write_text(NOOP_PLUGIN)
        env = airflow_env(home, f"sqlite:///{home / 'catena_inbox.db'}", args.api_workers)
        subprocess.run(
            ["airflow", "db", "migrate"], env=env, cwd=home, check=True, stdout=subprocess.DEVNULL, timeout=600
        )
        for kind, inbox_url in (("SQLite", env["CATENA_INBOX_URL"]), ("PostgreSQL", pg_url)):
            process, port = start_api_server(home, {**env, "CATENA_INBOX_URL": inbox_url})
            try:
                for name, path in (
                    (f"no-op route ({kind} run)", "/bench/noop"),
                    (f"receiver, {kind}", "/catena/webhooks"),
                ):
                    figures[name] = load(port, path, args)
                    print(f"{name:<28} {receiver_load._row(figures[name])}", flush=True)
                if args.profile and kind == "SQLite":
                    profile_text = profile(port, process.pid, args, home)
            finally:
                process.stop()

    sqlite, pg = figures["receiver, SQLite"], figures["receiver, PostgreSQL"]
    sqlite_ratio = sqlite["rate"] / figures["no-op route (SQLite run)"]["rate"]
    pg_ratio = pg["rate"] / figures["no-op route (PostgreSQL run)"]["rate"]
    worst_p99 = max(sqlite["p99_ms"], pg["p99_ms"])
    lines = [
        machine,
        f"Server: `airflow api-server --workers {args.api_workers}` with `CATENA_TUNE_GC=true` as in "
        "docker-compose.yaml (SQLite metadata DB, plugin from the installed package; no-op "
        f"route from a plugins-folder app at `/bench/noop`). Load: {args.processes} client processes, "
        f"{args.connections} keep-alive connections, {args.seconds:.0f} s after {args.warmup:.0f} s warm-up "
        "(receiver_load.py's generator).",
        "",
        "| target | events/s | p50 ms | p99 ms | x no-op (same server) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, f in figures.items():
        ratio = sqlite_ratio if name == "receiver, SQLite" else pg_ratio if name == "receiver, PostgreSQL" else 1.0
        lines.append(f"| {name} | {f['rate']:,.0f} | {f['p50_ms']:.1f} | {f['p99_ms']:.1f} | {ratio:.2f} |")
    lines += [
        "",
        f"Targets: SQLite x{sqlite_ratio:.2f} of no-op (>= 0.40: {met(sqlite_ratio >= 0.40)}); PostgreSQL "
        f"{pg['rate']:,.0f} events/s (>= 2,000: {met(pg['rate'] >= 2000)}), x{pg_ratio:.2f} of no-op; worst receiver "
        f"p99 {worst_p99:.1f} ms at {args.connections} connections (< 50 ms: {met(worst_p99 < 50)}).",
    ]
    record("Ingest in the Airflow api-server", lines, started=started, args=args)
    if profile_text:
        print(profile_text)
        with PROFILE.open("a") as out:
            out.write(f"\n## Raw profile, {started:%Y-%m-%d %H:%M} UTC\n\n{machine}\n\n{profile_text}\n")
        print(f"profile appended to {PROFILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
