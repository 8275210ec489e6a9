"""A pre-loaded parent that forks one faas-supervisor run per event: ``python -m herbmorph.runtime.zygote``.

Importing faas-supervisor and boto3 takes ~0.6 s, so the supervisor must not start cold per event.
multiprocessing's forkserver would do the forking, but every child it starts first re-imports the
runtime's ``__main__`` (Python 3.11's forkserver cannot preload it): for ``herbmorph serve`` that
is the whole CLI, ~35 ms on each of the chain's three hops. This process imports what the
supervisor needs once, then only forks.

Protocol, one JSON object per line: the runtime writes ``{"id", "env", "stdin", "log"}`` (run the
supervisor with that environment, that file on stdin, stdout and stderr appended to that log) or
``{"kill": id}``; the zygote answers ``{"id", "pid"}`` once it has forked and ``{"id", "code"}``
when the run ends (negative: killed by that signal). Each run is its own process group, so a kill
also ends the script it started. EOF on stdin (the runtime is gone, SIGKILL included) kills every
run and ends the zygote; if the zygote itself dies, the runtime kills the groups it had reported.

The zygote stays single-threaded on purpose: forking a threaded process can copy a held lock.
"""
from __future__ import annotations

import contextlib
import json
import os
import queue
import selectors
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

# ------------------------------------------------------------------------- the zygote itself


def _run_supervisor(env: dict, stdin_path: str, log_path: str) -> int:
    """In the forked child: become ``echo $EVENT | supervisor``; returns the exit status."""
    import runpy
    import tempfile
    import warnings

    from herbmorph.procs import die_with_parent

    die_with_parent()
    os.environ.clear()
    os.environ.update(env)
    tempfile.tempdir = None  # re-read TMPDIR: the supervisor's temp dirs go where the runtime cleans up
    fd_in = os.open(stdin_path, os.O_RDONLY)
    os.dup2(fd_in, 0)
    fd_log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd_log, 1)
    os.dup2(fd_log, 2)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False, buffering=1)
    sys.stderr = open(2, "w", closefd=False, buffering=1)
    # the zygote imported the module already; running it again as __main__ is intended here
    warnings.filterwarnings("ignore", message=".*found in sys.modules.*", category=RuntimeWarning)
    try:
        runpy.run_module("faassupervisor.supervisor", run_name="__main__", alter_sys=True)
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - into the log, as an uncaught exception would go
        import traceback

        traceback.print_exc()
        return 1
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()


def _fork_run(request: dict, requests_fd: int, replies_fd: int) -> tuple[int, int]:
    """Fork one run; returns (pid, read end of a pipe that reaches EOF when the child exits)."""
    done_r, done_w = os.pipe()  # not inherited across exec: only the child itself holds done_w
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.setpgid(0, 0)
            os.close(done_r)
            os.close(requests_fd)
            os.close(replies_fd)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = _run_supervisor(request["env"], request["stdin"], request["log"])
        finally:
            os._exit(code if 0 <= code < 256 else 1)  # never the zygote's atexit or buffers
    os.close(done_w)
    return pid, done_r


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def serve(requests_fd: int = 0, replies_fd: int = 1) -> None:
    """The zygote's loop: fork on request, report each exit, stop at EOF."""
    # Replies get a private fd; whatever a library prints to stdout goes to the log instead.
    replies_fd = os.dup(replies_fd)
    os.dup2(2, 1)
    import herbmorph.runtime.supervisor_preload  # noqa: F401 - the point of this process

    # Ctrl-C reaches the whole foreground group: the runtime shuts down, runs in flight finish.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sel = selectors.DefaultSelector()
    sel.register(requests_fd, selectors.EVENT_READ, None)
    runs: dict[int, tuple[str, int]] = {}  # done pipe fd -> (request id, pid)
    pending = b""

    def reply(obj: dict) -> None:
        os.write(replies_fd, (json.dumps(obj) + "\n").encode("utf-8"))

    while True:
        for key, _ in sel.select():
            if key.data is None:  # requests
                chunk = os.read(requests_fd, 1 << 20)
                if not chunk:
                    for _, pid in runs.values():
                        _kill_group(pid)
                    return
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    request = json.loads(line)
                    if "kill" in request:
                        for rid, pid in runs.values():
                            if rid == request["kill"]:
                                _kill_group(pid)
                        continue
                    pid, done_r = _fork_run(request, requests_fd, replies_fd)
                    runs[done_r] = (request["id"], pid)
                    reply({"id": request["id"], "pid": pid})
                    sel.register(done_r, selectors.EVENT_READ, "run")
            else:  # a run ended: its pipe's only writer is gone
                sel.unregister(key.fd)
                os.close(key.fd)
                rid, pid = runs.pop(key.fd)
                _, status = os.waitpid(pid, 0)
                reply({"id": rid, "code": os.waitstatus_to_exitcode(status)})


# ------------------------------------------------------------------------ the runtime's side


class Zygote:
    """The runtime's handle: ``run()`` from any thread; the process starts on first use and again
    after it dies."""

    def __init__(self, stderr_path: Path):
        self.stderr_path = Path(stderr_path)
        self._lock = threading.Lock()
        self._proc: Optional[subprocess.Popen] = None
        self._waiting: dict[str, list] = {}  # id -> [zygote, queue for the exit status, pid]
        self._ended: set[subprocess.Popen] = set()  # zygotes whose replies reached EOF
        self._next = 0

    def _ensure(self) -> subprocess.Popen:
        """The live zygote, started anew when the last one is gone. Gone means its replies reached
        EOF, not only that it can be reaped: a killed process closes its pipes a moment before it
        becomes a zombie, and a request written in that moment would wait for an answer forever."""
        if self._proc is not None and self._proc in self._ended:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait(10)
        if self._proc is None or self._proc in self._ended or self._proc.poll() is not None:
            with open(self.stderr_path, "ab") as err:
                self._proc = subprocess.Popen([sys.executable, "-m", "herbmorph.runtime.zygote"],
                                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                              env={**os.environ, "PYTHONPATH": _package_root()})
            threading.Thread(target=self._read_replies, args=(self._proc,), daemon=True,
                             name="zygote-replies").start()
        return self._proc

    def _read_replies(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            try:
                reply = json.loads(line)
            except ValueError:
                continue  # not ours: the zygote only ever writes JSON lines here
            with self._lock:
                entry = self._waiting.get(reply["id"])
                if entry is not None and "pid" in reply:
                    entry[2] = reply["pid"]
            if entry is not None and "code" in reply:
                entry[1].put(reply["code"])
        # EOF: the zygote died, and its runs with it (PR_SET_PDEATHSIG), but not the scripts they
        # started: end those too. The runtime retries every event that was in flight.
        with self._lock:
            self._ended.add(proc)
            for owner, waiting, pid in self._waiting.values():
                if owner is proc:
                    if pid:
                        _kill_group(pid)
                    waiting.put(None)

    def _send(self, obj: dict, waiting: Optional[queue.Queue] = None) -> None:
        data = (json.dumps(obj) + "\n").encode("utf-8")
        with self._lock:
            proc = self._ensure()
            if waiting is not None:
                self._waiting[obj["id"]] = [proc, waiting, 0]
            proc.stdin.write(data)
            proc.stdin.flush()

    def run(self, env: dict, stdin_path: Path, log_path: Path, timeout: float) -> Optional[int]:
        """The run's exit status; None when it timed out (and was killed) or the zygote died."""
        waiting: queue.Queue = queue.Queue()
        with self._lock:
            self._next += 1
            rid = str(self._next)
        try:
            try:
                self._send({"id": rid, "env": env, "stdin": str(stdin_path), "log": str(log_path)}, waiting)
            except OSError:
                return None
            try:
                return waiting.get(timeout=timeout)
            except queue.Empty:
                with contextlib.suppress(OSError):
                    self._send({"kill": rid})
                with contextlib.suppress(queue.Empty):
                    waiting.get(timeout=30)
                return None
        finally:
            with self._lock:
                self._waiting.pop(rid, None)

    def close(self) -> None:
        """Ends the zygote (and any run still going)."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _package_root() -> str:
    """So ``-m herbmorph.runtime.zygote`` finds this package however the runtime was started."""
    root = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)


if __name__ == "__main__":
    serve()
