"""The README's first command, `make demo`, run as a new user would: in a fresh copy of the tree.

The copy holds what a clone of the current tree would (tracked and untracked-but-not-ignored files;
no .venv, no .airflow), so the demo creates its own virtualenv (uv's cache makes that quick) and its
own AIRFLOW_HOME. Free ports replace 8080/8090, which belong to a developer's own demo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from devstack.processes import free_port, port_is_free

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

REPO_ROOT = Path(__file__).resolve().parents[2]


def _copy_as_a_fresh_clone(destination: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO_ROOT / os.fsdecode(name)
        if source.is_file():  # deleted-but-tracked files are listed too
            target = destination / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _processes_running_from(directory: Path) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(directory) in text:
            found.append(text.strip())
    return found


@pytest.mark.timeout(900)
def test_make_demo_succeeds_on_a_fresh_clone_and_stops_what_it_started(tmp_path):
    clone = tmp_path / "catena-airflow"
    _copy_as_a_fresh_clone(clone)
    airflow_port, sandbox_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW", "CATENA_", "VIRTUAL_ENV", "KEEP", "DEMO_"))
    }
    env.update({"AIRFLOW_PORT": str(airflow_port), "SANDBOX_PORT": str(sandbox_port)})

    result = subprocess.run(
        ["make", "demo"], cwd=clone, env=env, capture_output=True, text=True, timeout=840, check=False
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "all outcomes as expected" in output
    for kind in ("happy", "reuse", "decline", "stale", "failing"):
        assert f"\n{kind}-" in output, f"no summary row for the {kind} fleet"
    assert port_is_free(airflow_port) and port_is_free(sandbox_port)
    assert _processes_running_from(clone) == []
