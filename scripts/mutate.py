"""Mutation testing of the critical path with mutmut: each module against its own fast tests.

``make mutate`` (scripts/mutate.sh) runs every module of ``MODULES``; ``scripts/mutate.sh webhooks/body.py``
runs the ones named. For each module it reports the mutants killed (a test failed or timed out), the
survivors (with their diffs) and the score, in ``build/mutation/REPORT.md``; a survivor is either killed
by a new test or explained in docs/mutation.md (by its mutant name), where the figures are kept.

mutmut expects the code under ``src/`` (or at the repository root) and names mutants after their path;
this project's code is under ``plugins/``. So each module runs in a staging folder
``build/mutation/<module>/`` that lays ``plugins/catena_airflow`` out as ``src/catena_airflow``, next to
copies of ``tests/``, ``dags/`` and ``devstack/`` and a ``pyproject.toml`` holding the project's pytest
options and a ``[tool.mutmut]`` table naming that module and its tests. mutmut copies that folder to
``mutants/`` and puts ``mutants/src`` first on ``sys.path``, so the tests import the mutated package
(``catena_sandbox`` still comes from the editable install). Only code inside functions and methods is
mutated (mutmut's rule): module-level constants such as schemas and defaults are not.

Every run starts from a fresh staging folder (no cache across runs), so a changed test or module is
always seen. Tests that start other processes cannot see a mutant (those processes import the real
package), so the map lists in-process tests only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "plugins" / "catena_airflow"
BUILD = REPO / "build" / "mutation"
EXPLAINED = REPO / "docs" / "mutation.md"
MUTMUT = Path(sys.executable).parent / "mutmut"
#: Copied next to the package: the tests, what they load at collection (dags/) and import (devstack/).
ALSO_COPY = ("tests", "dags", "devstack")
#: The goal per module: killed / all mutants.
GOAL = 0.90

#: Module (under plugins/catena_airflow/) -> the test files that exercise it in-process.
MODULES: dict[str, tuple[str, ...]] = {
    "client/signature.py": (
        "tests/unit/client/test_signature.py",
        "tests/unit/webhooks/test_receiver.py",
    ),
    "webhooks/body.py": (
        "tests/unit/webhooks/test_body.py",
        "tests/unit/webhooks/test_receiver.py",
    ),
    # The start-up check and health (test_startup.py) and the lookup of subscriptions the inbox does not
    # know (test_subscription_lookup.py) are parts of the receiver, tested through its app in-process.
    "webhooks/receiver.py": (
        "tests/unit/webhooks/test_receiver.py",
        "tests/unit/webhooks/test_subscription_lookup.py",
        "tests/unit/webhooks/test_startup.py",
    ),
    "webhooks/secrets.py": (
        "tests/unit/webhooks/test_secrets.py",
        "tests/unit/webhooks/test_receiver.py",
        "tests/unit/webhooks/test_subscription_lookup.py",
    ),
    "inbox/statements.py": (
        "tests/unit/inbox/test_statements.py",
        "tests/unit/inbox/test_batch.py",
        "tests/unit/inbox/test_store.py",
        "tests/integration/inbox/test_hot_statements.py",
    ),
    # InboxStore's parts (inbox/store.py is only the facade that forwards to them): the store's tests, and
    # each part's own (tests/unit/inbox/test_<part>.py) where it has one.
    **{
        f"inbox/{part}.py": (
            *own,
            "tests/unit/inbox/test_store.py",
            "tests/unit/inbox/test_statements.py",
            "tests/unit/inbox/test_batch.py",
            "tests/integration/inbox/test_store_engines.py",
        )
        for part, own in {
            # test_engine.py's PostgreSQL tests (URLs, lazy engines, one session check) are not variants: they run.
            "engine": (
                "tests/unit/inbox/test_engine.py",
                "tests/integration/inbox/test_schema_upgrade.py",
                "tests/integration/inbox/test_store_reconnect.py",  # PostgreSQL through a proxy it cuts
            ),
            "incoming": ("tests/unit/inbox/test_incoming.py",),
            "events_repo": ("tests/unit/inbox/test_events_repo.py", "tests/integration/inbox/test_store_reads.py"),
            "onboardings_repo": (
                "tests/unit/inbox/test_onboardings_repo.py",
                "tests/integration/inbox/test_store_reads.py",
            ),
            "secrets_repo": ("tests/unit/inbox/test_secrets_repo.py",),
            "counters": ("tests/unit/inbox/test_counters.py",),
            "sync_ledger": ("tests/unit/inbox/test_sync_ledger.py",),
            "operations_repo": ("tests/unit/inbox/test_operations_repo.py",),
        }.items()
    },
    "inbox/cursors_repo.py": (
        "tests/integration/inbox/test_watcher_cursors.py",
        "tests/unit/inbox/test_store.py",
    ),
    "inbox/batch.py": (
        "tests/unit/inbox/test_batch.py",
        "tests/unit/inbox/test_store.py",
    ),
    "inbox/projection.py": (
        "tests/unit/inbox/test_projection.py",
        "tests/unit/inbox/test_store.py",
    ),
    "inbox/correlation.py": (
        "tests/unit/inbox/test_correlation.py",
        "tests/unit/inbox/test_store.py",
        "tests/unit/inbox/test_batch.py",
    ),
    "waiting/shared_poller.py": ("tests/unit/waiting/test_shared_poller.py",),
    "client/http.py": (
        "tests/unit/client/test_http.py",
        "tests/unit/client/test_auth.py",
        "tests/unit/client/test_pagination.py",
    ),
    "workflows/params.py": ("tests/unit/workflows/test_params.py",),
    "ingest/load_turns.py": ("tests/unit/ingest/test_load_turns.py",),
}

#: Extra pytest options of a module's run. The store's, the batch's and the projection's SQL is the same on
#: both engines (statements.py holds what differs): their runs skip the PostgreSQL variants, each of which
#: creates and drops a database (~1.5 s) for every mutant that survives the SQLite ones.
PYTEST_OPTIONS: dict[str, tuple[str, ...]] = {
    module: ("-k", "not postgresql")
    for module in (
        "inbox/engine.py",
        "inbox/incoming.py",
        "inbox/events_repo.py",
        "inbox/onboardings_repo.py",
        "inbox/secrets_repo.py",
        "inbox/counters.py",
        "inbox/cursors_repo.py",
        "inbox/batch.py",
        "inbox/projection.py",
        "inbox/correlation.py",
    )
}

#: A mutant whose tests run longer than (their clean time + 1 s) x this is stopped and counts as a timeout.
#: The poller's tests wait (up to a minute) for deliveries that a broken poller never makes: a short
#: multiplier stops those mutants sooner; its tests' clean time is small and steady.
TIMEOUT_MULTIPLIER: dict[str, float] = {"waiting/shared_poller.py": 2.0}

#: mutmut's statuses that count as the tests noticing the mutant.
KILLED = {"killed", "timeout", "segfault"}


@dataclass
class Outcome:
    module: str
    statuses: dict[str, str] = field(default_factory=dict)  # mutant name -> mutmut status
    diffs: dict[str, str] = field(default_factory=dict)  # surviving mutant -> its diff
    seconds: float = 0.0
    error: str | None = None

    @property
    def killed(self) -> int:
        return sum(s in KILLED for s in self.statuses.values())

    @property
    def survivors(self) -> list[str]:
        return [name for name, status in self.statuses.items() if status not in KILLED]

    @property
    def score(self) -> float:
        return self.killed / len(self.statuses) if self.statuses else 0.0


def slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", "-")


def pyproject(module: str, tests: tuple[str, ...], options: tuple[str, ...] = ()) -> str:
    """The staging folder's pyproject.toml: the project's pytest options, and mutmut's table."""
    pytest_options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    lines = ["[tool.pytest.ini_options]"]
    lines += [f"{key} = {toml_value(value)}" for key, value in pytest_options.items()]
    lines += [
        "",
        "[tool.mutmut]",
        'source_paths = ["src/catena_airflow"]',
        f"only_mutate = {toml_value([f'src/catena_airflow/{module}'])}",
        f"pytest_add_cli_args_test_selection = {toml_value(list(tests))}",
        # Hypothesis draws other examples on every run: fix them, so a run's verdicts can be repeated.
        f"pytest_add_cli_args = {toml_value(['-p', 'no:cacheprovider', '--hypothesis-seed=0', *options])}",
        # A mutant's tests get (their clean time + 1 s) x 5 before it counts as a timeout (mutmut's default
        # x15 let an endless loop run a minute).
        f"timeout_multiplier = {TIMEOUT_MULTIPLIER.get(module, 5.0)}",
        f"also_copy = {toml_value(list(ALSO_COPY))}",
        "use_git_change_detection = false",
    ]
    return "\n".join(lines) + "\n"


def toml_value(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def stage(module: str, tests: tuple[str, ...]) -> Path:
    folder = BUILD / slug(module)
    shutil.rmtree(folder, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PACKAGE, folder / "src" / "catena_airflow", ignore=ignore)
    for name in ALSO_COPY:
        shutil.copytree(REPO / name, folder / name, ignore=ignore)
    (folder / "pyproject.toml").write_text(pyproject(module, tests, PYTEST_OPTIONS.get(module, ())))
    return folder


def mutmut(folder: Path, *args: str, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{MUTMUT.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = log.open("w") if log else subprocess.PIPE
    try:
        return subprocess.run(
            [str(MUTMUT), *args], cwd=folder, env=env, text=True, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    finally:
        if log:
            out.close()  # type: ignore[union-attr]


def run_module(module: str, jobs: int) -> Outcome:
    tests = MODULES[module]
    missing = [t for t in tests if not (REPO / t).exists()]
    if missing:
        return Outcome(module, error=f"missing test files {missing}")
    folder = stage(module, tests)
    started = time.monotonic()
    run = mutmut(folder, "run", "--max-children", str(jobs), log=folder / "run.log")
    return collect(module, folder, time.monotonic() - started, run.returncode)


_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
print(json.dumps({name: get_diff_for_mutant(name) for name in sys.argv[1:]}))
"""


def collect(module: str, folder: Path, seconds: float, returncode: int | None = None) -> Outcome:
    """The verdicts mutmut recorded in ``folder`` (all of them, or as far as an interrupted run got)."""
    outcome = Outcome(module, seconds=seconds)
    results = mutmut(folder, "results", "--all", "true")
    for line in results.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            outcome.statuses[name] = status
    outcome.statuses = {name: status for name, status in outcome.statuses.items() if status != "not checked"}
    if not outcome.statuses:
        outcome.error = f"mutmut run exited {returncode}; see {(folder / 'run.log').relative_to(REPO)}"
    if outcome.survivors:
        # One process for every diff (``mutmut show`` starts one per mutant).
        shown = subprocess.run(
            [sys.executable, "-c", _DIFFS, *outcome.survivors], cwd=folder, capture_output=True, text=True, check=True
        )
        for name, diff in json.loads(shown.stdout).items():
            outcome.diffs[name] = "\n".join(
                line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))
            )
    (folder / "result.json").write_text(json.dumps(asdict(outcome), indent=1))
    return outcome


def last_outcomes() -> list[Outcome]:
    """Each module's outcome from its latest run (this run's, or an earlier one's), in map order."""
    found = []
    for module in MODULES:
        result = BUILD / slug(module) / "result.json"
        if result.exists():
            found.append(Outcome(**json.loads(result.read_text())))
    return found


def report(outcomes: list[Outcome]) -> str:
    known = EXPLAINED.read_text() if EXPLAINED.exists() else ""
    explained = set(re.findall(r"catena_airflow\.[\w.ǁ]+__mutmut_\d+", known))
    lines = [
        "# Mutation testing (scripts/mutate.py)",
        "",
        "| module | mutants | killed | survived | score | time |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for o in outcomes:
        if o.error:
            lines.append(f"| {o.module} | error: {o.error} | | | | |")
            continue
        lines.append(
            f"| {o.module} | {len(o.statuses)} | {o.killed} | {len(o.survivors)} | {o.score:.1%} | {o.seconds:.0f} s |"
        )
    total = sum(o.seconds for o in outcomes)
    killed, mutants = sum(o.killed for o in outcomes), sum(len(o.statuses) for o in outcomes)
    score = killed / max(mutants, 1)
    lines += ["", f"All: {killed}/{mutants} killed ({score:.1%}) in {total:.0f} s ({total / 60:.1f} min).", ""]
    for o in outcomes:
        if not o.survivors:
            continue
        lines += [f"## Survivors in {o.module}", ""]
        for name in o.survivors:
            note = "explained in docs/mutation.md" if name in explained else "NOT EXPLAINED: kill it or explain it"
            lines += [f"- `{name}` ({o.statuses[name]}; {note})", "", "```diff", o.diffs.get(name, ""), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"modules under plugins/catena_airflow (default: {len(MODULES)})")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATE_JOBS", "1")))
    parser.add_argument(
        "--collect-only",
        metavar="SECONDS",
        type=float,
        help="do not run: collect the verdicts an earlier (possibly interrupted) run left, which took SECONDS",
    )
    args = parser.parse_args(argv)
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"not in the map: {unknown}; known: {', '.join(MODULES)}")
    for module in args.modules or list(MODULES):
        if args.collect_only is not None:
            collect(module, BUILD / slug(module), args.collect_only)
            continue
        print(f"mutating {module} against {', '.join(MODULES[module])}", flush=True)
        outcome = run_module(module, args.jobs)
        summary = outcome.error or f"{outcome.killed}/{len(outcome.statuses)} killed ({outcome.score:.1%})"
        print(f"  {summary} in {outcome.seconds:.0f} s", flush=True)
    outcomes = last_outcomes()
    text = report(outcomes)
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "REPORT.md").write_text(text)
    print(text)
    print(f"(also in {(BUILD / 'REPORT.md').relative_to(REPO)}; modules not run this time show their last run)")
    below = [o.module for o in outcomes if o.error or o.score < GOAL]
    if below:
        print(f"below the {GOAL:.0%} goal: {', '.join(below)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
