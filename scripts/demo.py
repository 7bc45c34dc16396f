"""`make demo`: the whole system on the embedded default, driven over Airflow's REST API.

Starts the Catena sandbox and `airflow standalone` (SQLite metadata and inbox, LocalExecutor, the
plugin from its entry point) in .airflow/, runs the setup DAG, triggers one onboarding run per sandbox
scenario, shows each fleet's progress, prints a summary and exits 0 only if every outcome is the
expected one. KEEP=1 leaves both running; `scripts/demo.sh stop` stops them.

Environment: AIRFLOW_PORT (8080), SANDBOX_PORT (8090), KEEP, DEMO_SPEED (sandbox --speed, 30),
DEMO_TIMEOUT (seconds to wait for the fleets, 150), DEMO_HOME (the AIRFLOW_HOME it wipes and uses,
.airflow/).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from catena_airflow.inbox import InboxStore  # noqa: E402
from devstack.observe import (  # noqa: E402
    FleetReport,
    apply_run_states,
    check,
    count_operations,
    count_rows,
    refresh_stages,
    trigger_onboardings,
)
from devstack.processes import ProcessFailed, free_port, group_alive, port_is_free, stop_group  # noqa: E402
from devstack.progress import LiveBoard, summary  # noqa: E402
from devstack.rest import AirflowRest  # noqa: E402
from devstack.sandbox import Sandbox, SandboxSettings  # noqa: E402
from devstack.scenarios import (  # noqa: E402
    BULK_ONBOARDING_DAG,
    ONBOARDING_DAG,
    OPERATIONS_DAG,
    SETUP_DAG,
    demo_fleets,
)
from devstack.standalone import ADMIN_USER, AirflowStandalone, CatenaConnection, StandaloneSettings  # noqa: E402

AIRFLOW_HOME = Path(os.environ.get("DEMO_HOME") or REPO_ROOT / ".airflow").resolve()
STACK_FILE = AIRFLOW_HOME / "demo-stack.json"
# Airflow's components shut down gracefully in 5-20 s on a busy 2-core machine; the demo's state is
# thrown away at the next run, so it does not wait longer than this before SIGKILL.
STOP_GRACE_SECONDS = 10.0
DAG_IDS = (SETUP_DAG, ONBOARDING_DAG, BULK_ONBOARDING_DAG, OPERATIONS_DAG)


class DemoError(Exception):
    """Stops the demo with a message for the user (no traceback)."""


_STARTED = time.monotonic()


def say(message: str) -> None:
    """Print with the seconds since the demo started, so every phase shows its cost."""
    print(f"[{time.monotonic() - _STARTED:5.0f}s] {message}" if message else "", flush=True)


def choose_port(variable: str, default: int) -> int:
    """The port from ``variable`` (must be free), else ``default``, else a free one (and say which)."""
    if os.environ.get(variable):
        port = int(os.environ[variable])
        if not port_is_free(port):
            raise DemoError(f"{variable}={port} is already in use; set {variable} to a free port")
        return port
    if port_is_free(default):
        return default
    port = free_port()
    say(f"port {default} is in use; using {port} instead (set {variable} to choose)")
    return port


def ensure_no_kept_stack() -> None:
    """A stack left by KEEP=1 still running holds the ports and .airflow/: refuse to wipe it."""
    if not STACK_FILE.exists():
        return
    stack = json.loads(STACK_FILE.read_text())
    alive = [pid for pid in stack["pids"] if group_alive(pid)]
    if alive:
        raise DemoError(
            f"a demo kept running with KEEP=1 is still up ({stack['airflow_url']}); "
            "stop it first with `scripts/demo.sh stop`"
        )


def stop_kept_stack() -> int:
    if not STACK_FILE.exists():
        say("no demo is running")
        return 0
    stack = json.loads(STACK_FILE.read_text())
    for pgid in stack["pids"]:  # the sandbox first: see run_demo
        stop_group(pgid, timeout=STOP_GRACE_SECONDS)
    STACK_FILE.unlink()
    say("stopped the demo's Airflow and sandbox")
    return 0


def wait_for_fleets(
    rest: AirflowRest,
    reports: list[FleetReport],
    inbox: InboxStore,
    timeout: float,
) -> None:
    """Poll until every onboarding run finished and the operations DAG handled the operational fleets."""
    board = LiveBoard()
    deadline = time.monotonic() + timeout
    while True:
        states = {(r.dag_id, r.run_id): rest.run_state(r.dag_id, r.run_id) for r in reports}
        apply_run_states(reports, states)
        refresh_stages(reports, inbox)
        count_rows(reports, inbox)
        count_operations(reports, inbox)
        operations_busy = any(not run.finished for run in rest.list_runs(OPERATIONS_DAG))
        onboarding_done = all(state.finished for state in states.values())
        operations_done = all(report.operations_done for report in reports)
        board.update(reports, status=f"{int(deadline - time.monotonic())}s left")
        if onboarding_done and operations_done and not operations_busy:
            return
        if time.monotonic() >= deadline:
            say(f"gave up waiting after {timeout:.0f}s")
            return
        time.sleep(1)


def run_setup(rest: AirflowRest, receiver_url: str) -> None:
    say(f"running {SETUP_DAG}: webhook subscriptions to {receiver_url}")
    run_id = rest.trigger(SETUP_DAG, {"receiver_url": receiver_url})
    state = rest.wait_for_runs([(SETUP_DAG, run_id)], timeout=120, interval=1)[(SETUP_DAG, run_id)].state
    if state != "success":
        raise DemoError(f"{SETUP_DAG} {state}:\n{rest.failed_task_logs(SETUP_DAG, run_id)[-3000:]}")


def onboard_fleets(rest: AirflowRest, inbox: InboxStore, timeout: float) -> list[FleetReport]:
    fleets = demo_fleets()
    say(f"triggering {ONBOARDING_DAG} over the REST API for {len(fleets)} fleets")
    reports = list(trigger_onboardings(rest, fleets).values())
    wait_for_fleets(rest, reports, inbox, timeout)
    count_operations(reports, inbox)
    for report in reports:
        if report.run_state == "success":
            report.woken_by = rest.xcom(ONBOARDING_DAG, report.run_id, "wait_for_fleet").get("source") or "-"
        if report.run_state == "failed":
            report.failure_log = rest.failed_task_logs(report.dag_id, report.run_id)
        check(report)
    return reports


def run_demo() -> int:
    keep = os.environ.get("KEEP", "") not in ("", "0")
    speed = float(os.environ.get("DEMO_SPEED", "30"))
    timeout = float(os.environ.get("DEMO_TIMEOUT", "150"))
    ensure_no_kept_stack()
    airflow_port = choose_port("AIRFLOW_PORT", 8080)
    sandbox_port = choose_port("SANDBOX_PORT", 8090)
    if airflow_port == sandbox_port:
        raise DemoError("AIRFLOW_PORT and SANDBOX_PORT must differ")

    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
    AIRFLOW_HOME.mkdir(parents=True)
    sandbox = Sandbox(SandboxSettings(port=sandbox_port, speed=speed, log_path=AIRFLOW_HOME / "logs" / "sandbox.log"))
    settings = StandaloneSettings(
        airflow_home=AIRFLOW_HOME, api_port=airflow_port, catena=CatenaConnection.for_sandbox(sandbox.base_url)
    )
    airflow = AirflowStandalone(settings)
    inbox = InboxStore(settings.resolved_inbox_url)
    inbox.migrate()
    try:
        # Airflow's start-up is the long pole: the sandbox starts while Airflow boots.
        say(f"starting airflow standalone on {airflow.base_url} (log: {airflow.log_path})")
        airflow.start()
        say(f"starting the Catena sandbox on {sandbox.base_url} (speed {speed:g})")
        sandbox.start()
        airflow.wait_until_ready(DAG_IDS, timeout=240)
        say("Airflow is ready: components healthy, DAGs parsed")
        with AirflowRest(airflow.base_url, ADMIN_USER, settings.admin_password) as rest:
            run_setup(rest, settings.receiver_url)
            reports = onboard_fleets(rest, inbox, timeout)
        print("\n" + summary(reports) + "\n", flush=True)
        show_warehouse(AIRFLOW_HOME / WAREHOUSE_FILE)
        ok = all(not report.problems for report in reports)
        say("all outcomes as expected" if ok else "UNEXPECTED outcomes (see the table)")
        return 0 if ok else 1
    except ProcessFailed as exc:
        raise DemoError(str(exc)) from exc
    finally:
        inbox.dispose()
        if keep and airflow.process is not None and sandbox.process is not None:
            STACK_FILE.write_text(
                json.dumps({"pids": [sandbox.process.pid, airflow.process.pid], "airflow_url": airflow.base_url})
            )
            say(f"KEEP=1: Airflow UI {airflow.base_url}  login {ADMIN_USER} / {settings.admin_password}")
            say(f"        dashboard {airflow.base_url}/catena/ui   sandbox {sandbox.base_url}")
            say("        stop both with `scripts/demo.sh stop`")
        else:
            # The sandbox first: its open delivery connections would hold up the api-server's shutdown.
            sandbox.stop()
            airflow.stop(timeout=STOP_GRACE_SECONDS)
            say("stopped Airflow and the sandbox")


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # runs the `finally` that stops Airflow and the sandbox


WAREHOUSE_FILE = "catena_data.duckdb"


def show_warehouse(path: Path) -> None:
    """Where the fleet data landed (the embedded DuckDB warehouse), table by table, and how to query it."""
    import duckdb

    if not path.exists():
        say(f"no warehouse file at {path}")
        return
    with duckdb.connect(str(path), read_only=True) as conn:
        names = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'catena' ORDER BY table_name"
        ).fetchall()
        # One table per resource; dlt's own (_dlt_*) and nested child tables (parent__child) left out.
        tables = [name for (name,) in names if not name.startswith("_dlt") and "__" not in name]
        counts = {name: conn.execute(f'SELECT count(*) FROM catena."{name}"').fetchone()[0] for name in tables}
    say(f"fleet data in {path} (DuckDB, schema catena): " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    say(
        f"  query it: .venv/bin/python -c \"import duckdb; print(duckdb.connect('{path}', read_only=True)"
        ".sql('SELECT fleet_id, count(*) FROM catena.vehicle_locations GROUP BY 1'))\""
    )


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        if argv[1:] == ["stop"]:
            return stop_kept_stack()
        return run_demo()
    except DemoError as exc:
        say(f"demo failed: {exc}")
        return 2
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv))
