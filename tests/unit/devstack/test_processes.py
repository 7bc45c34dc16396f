from __future__ import annotations

import http.server
import sys
import threading
import time
from pathlib import Path

import pytest

from devstack.processes import ProcessFailed, free_port, port_is_free, start_process, stop_all, wait_for_http


def _alive(pid: int) -> bool:
    """Running or sleeping; a killed process waiting to be reaped by init (a zombie) does not count."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_stop_kills_the_whole_process_group(tmp_path):
    # The child starts a grandchild that ignores SIGTERM, as a stuck Airflow component would.
    script = (
        "import subprocess, sys, time\n"
        "grandchild = subprocess.Popen([sys.executable, '-c', "
        '\'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print("ready", flush=True); '
        "time.sleep(600)'])\n"
        "print(grandchild.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    child = start_process("tree", [sys.executable, "-c", script], log_path=tmp_path / "tree.log")
    deadline = time.monotonic() + 30
    while "ready" not in child.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild_pid = int(child.log_path.read_text().split()[0])

    child.stop(timeout=1)

    assert not child.running()
    deadline = time.monotonic() + 10  # SIGKILL is delivered asynchronously
    while _alive(grandchild_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild_pid)


def test_wait_for_http_watches_every_process_it_is_given(tmp_path):
    sleeper = start_process("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"], log_path=tmp_path / "s")
    crasher = start_process("crasher", [sys.executable, "-c", "raise SystemExit('boom 2')"], log_path=tmp_path / "c")
    try:
        with pytest.raises(ProcessFailed, match="boom 2"):
            wait_for_http(f"http://127.0.0.1:{free_port()}/", timeout=60, process=[sleeper, crasher])
    finally:
        stop_all([sleeper, crasher], timeout=5)
    assert not sleeper.running()


def test_stop_all_stops_every_group_even_those_ignoring_sigterm(tmp_path):
    # Each ignores SIGTERM: after the (shared) grace period, SIGKILL.
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    children = [
        start_process(f"stubborn-{n}", [sys.executable, "-c", stubborn], log_path=tmp_path / f"{n}.log")
        for n in range(3)
    ]
    started = time.monotonic()
    stop_all(children, timeout=1)
    assert not any(child.running() for child in children)
    print(f"stop_all of 3 stubborn groups took {time.monotonic() - started:.1f} s")


def test_output_goes_to_the_log_file(tmp_path):
    child = start_process("echo", [sys.executable, "-c", "print('hello from child')"], log_path=tmp_path / "a.log")
    child.popen.wait(timeout=30)
    child.stop()
    assert "hello from child" in child.log_path.read_text()


def test_wait_for_http_fails_early_with_the_log_tail_when_the_process_dies(tmp_path):
    child = start_process(
        "crasher", [sys.executable, "-c", "raise SystemExit('boom: bad config')"], log_path=tmp_path / "c.log"
    )
    with pytest.raises(ProcessFailed, match="boom: bad config"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/", timeout=60, process=child)
    child.stop()


def test_wait_for_http_waits_for_the_ready_predicate():
    answers = iter([503, 200])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(next(answers, 200))
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        response = wait_for_http(
            f"http://127.0.0.1:{server.server_port}/", timeout=30, interval=0.01, ready=lambda r: r.ok
        )
        assert response.status_code == 200
    finally:
        server.shutdown()


def test_wait_for_http_times_out_without_a_process():
    with pytest.raises(TimeoutError, match="was not ready"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/", timeout=0.3, interval=0.1)


def test_port_is_free_sees_a_listening_socket():
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    try:
        assert not port_is_free(server.server_port)
    finally:
        server.server_close()
    assert port_is_free(server.server_port)
