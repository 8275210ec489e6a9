"""The zygote that forks one real faas-supervisor run per event (herbmorph.runtime.zygote).

The events here are not storage events, so the real supervisor downloads and uploads nothing: it
writes the event to a file and runs the script, which is all these tests need. The chain through
MinIO is in test_runtime.py.
"""
from __future__ import annotations

import base64
import os
import signal
import sys
import threading
import time
from pathlib import Path

import yaml

from herbmorph.runtime.zygote import Zygote
from runtime_helpers import alive, wait_for


def _env(tmp_path: Path, script: str) -> dict:
    return {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin:/bin"]),
            "TMPDIR": str(tmp_path), "MARK": str(tmp_path / "mark"),
            "SCRIPT": base64.b64encode(script.encode()).decode(),
            "FUNCTION_CONFIG": base64.b64encode(yaml.safe_dump({"name": "zygote-test"}).encode()).decode()}


def _event(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    path.write_text('{"hello": "zygote"}')
    return path


def _pid_in(path: Path) -> int:
    wait_for(lambda: path.exists() and path.read_text().strip(), 30, "the script to start")
    return int(path.read_text())


def test_a_run_is_the_real_supervisor_running_the_script(tmp_path):
    zygote = Zygote(tmp_path / "zygote.log")
    log = tmp_path / "run.log"
    try:
        for i in range(3):  # several runs through one zygote: each is a fresh fork
            script = 'echo "ran $$ with $(cat "$INPUT_FILE_PATH")" >> "$MARK"\n'
            assert zygote.run(_env(tmp_path, script), _event(tmp_path), log, timeout=60) == 0
        lines = (tmp_path / "mark").read_text().splitlines()
        assert len(lines) == 3 and all(line.endswith('with {"hello": "zygote"}') for line in lines)
        assert len({line.split()[1] for line in lines}) == 3  # three processes
        assert "Script file created" in log.read_text()  # the supervisor's own log lines
        assert zygote._proc.stdout is not None and zygote._proc.poll() is None
    finally:
        zygote.close()
    assert zygote._proc is None


SLOW = 'echo $$ > "$MARK"\nsleep 120\n'  # writes its pid, then outlives any test


def _slow_run_in_background(zygote: Zygote, tmp_path: Path) -> tuple[threading.Thread, dict, int]:
    """A run that would take two minutes, in a thread: (thread, its outcome, the script's pid)."""
    outcome: dict = {}

    def run():
        outcome["code"] = zygote.run(_env(tmp_path, SLOW), _event(tmp_path), tmp_path / "run.log", timeout=300)

    runner = threading.Thread(target=run)
    runner.start()
    return runner, outcome, _pid_in(tmp_path / "mark")


def _takes_the_next_run(zygote: Zygote, tmp_path: Path) -> None:
    (tmp_path / "mark").unlink()
    assert zygote.run(_env(tmp_path, 'echo next > "$MARK"\n'), _event(tmp_path), tmp_path / "run.log", 60) == 0
    assert (tmp_path / "mark").read_text() == "next\n"


def test_a_run_over_its_time_is_killed_with_the_script_it_started(tmp_path):
    zygote = Zygote(tmp_path / "zygote.log")
    try:
        t0 = time.monotonic()
        assert zygote.run(_env(tmp_path, SLOW), _event(tmp_path), tmp_path / "run.log", timeout=3) is None
        assert time.monotonic() - t0 < 30
        script_pid = _pid_in(tmp_path / "mark")
        wait_for(lambda: not alive(script_pid), 10, "the timed-out script to be gone")
        _takes_the_next_run(zygote, tmp_path)  # the zygote itself is fine
    finally:
        zygote.close()


def test_runs_in_flight_end_with_the_zygote_and_a_new_one_takes_over(tmp_path):
    zygote = Zygote(tmp_path / "zygote.log")
    try:
        runner, outcome, script_pid = _slow_run_in_background(zygote, tmp_path)
        os.kill(zygote._proc.pid, signal.SIGKILL)  # a crash: the run it had is reported lost
        runner.join(30)
        assert not runner.is_alive() and outcome["code"] is None
        wait_for(lambda: not alive(script_pid), 10, "the orphaned script to be gone")
        _takes_the_next_run(zygote, tmp_path)
    finally:
        zygote.close()


def test_closing_ends_every_run_still_going(tmp_path):
    zygote = Zygote(tmp_path / "zygote.log")
    runner, outcome, script_pid = _slow_run_in_background(zygote, tmp_path)
    zygote_pid = zygote._proc.pid
    zygote.close()  # EOF on its requests: what a SIGKILLed runtime leaves behind, too
    runner.join(30)
    assert not runner.is_alive() and outcome["code"] is None
    wait_for(lambda: not alive(script_pid) and not alive(zygote_pid), 10, "the zygote and its runs to end")
