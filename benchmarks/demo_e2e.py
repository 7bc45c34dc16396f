"""End to end: ``make demo``'s wall time and peak memory, against the Airflow start-up inside it.

Runs ``make demo`` (in a temp DEMO_HOME, so a developer's ``.airflow/`` is left alone) and samples,
every 0.5 s, the RSS of its whole process tree (make, the demo, the sandbox, ``airflow standalone``
and every component, task processes included), summed; also the largest single process. The
baseline is measured in the same run: the demo's own "Airflow is ready" line gives the time and
memory of the stack before any onboarding starts, so the ratios say what the demo adds on top of
starting Airflow.

    .venv/bin/python benchmarks/demo_e2e.py [--label TEXT] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import _common
from _common import ROOT, now, record

READY = re.compile(r"^\[\s*(\d+)s\] Airflow is ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common.add_record_arguments(parser)
    args = parser.parse_args()

    started, machine = now(), _common.machine_line()
    with tempfile.TemporaryDirectory(prefix="catena-demo-bench-") as tmp:
        log_path = Path(tmp) / "demo.log"
        env = {**os.environ, "DEMO_HOME": str(Path(tmp) / "home")}
        began = time.monotonic()
        with log_path.open("wb") as log:
            demo = subprocess.Popen(
                ["make", "demo"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        largest = {"rss": 0}
        ready: dict[str, float] = {}

        def processes():
            procs = _common.process_tree(demo.pid)
            largest["rss"] = max([largest["rss"], *(_rss(p) for p in procs)])
            if "at" not in ready and "Airflow is ready" in log_path.read_text(errors="replace"):
                ready["at"] = time.monotonic() - began
                ready["rss"] = _common.tree_rss(procs)
            return procs

        with _common.TreeSampler(processes, interval=0.5) as sampler:
            try:
                code = demo.wait(timeout=900)
            finally:
                if demo.poll() is None:
                    from devstack.processes import stop_group

                    stop_group(demo.pid)
        wall = time.monotonic() - began
        output = log_path.read_text(errors="replace")
    print(output[-3000:])
    if code != 0:
        raise SystemExit(f"make demo failed with {code}")
    reported_ready = next((int(m.group(1)) for line in output.splitlines() if (m := READY.match(line))), None)
    ready_at = ready.get("at", float("nan"))
    lines = [
        machine,
        "Memory: sum of the RSS of every process in `make demo`'s tree, sampled every 0.5 s with psutil "
        "(pages shared between processes count in each, so the sum overstates the machine's use a little); "
        f"{sampler.samples} samples.",
        "",
        "| measure | `make demo` | baseline: Airflow ready, before any onboarding | x baseline |",
        "|---|---:|---:|---:|",
        f"| wall time | {wall:.0f} s | {ready_at:.0f} s (demo's own clock: {reported_ready} s) "
        f"| {wall / ready_at:.2f} |",
        f"| peak RSS, process tree | {sampler.peak_rss / 2**20:,.0f} MiB | {ready.get('rss', 0) / 2**20:,.0f} MiB "
        f"| {sampler.peak_rss / max(ready.get('rss', 1), 1):.2f} |",
        f"| largest single process RSS | {largest['rss'] / 2**20:,.0f} MiB | | |",
    ]
    record("End to end: make demo", lines, started=started, args=args)


def _rss(proc) -> int:
    try:
        return proc.memory_info().rss
    except Exception:
        return 0


if __name__ == "__main__":
    main()
