"""Warm workers: the models stay loaded between events, and ``script.sh`` stays exactly OSCAR's.

On OSCAR every event is a fresh container: ``script.sh`` runs ``python3 -m herbmorph.oscar.handler
<stage>``, which loads the model and handles one object. The embedded runtime keeps that contract
(the same script, run by the real faas-supervisor, with the same environment) but sets
``HERBMORPH_WARM_SOCKET``: the handler module then forwards its argv and environment over that
Unix socket to a long-lived worker process that has the predictor loaded, and exits with the
worker's exit status. The worker runs the very same :func:`herbmorph.oscar.handler.main`, so there
is one code path for both. When the socket is unreachable the handler just runs cold.

Protocol: one request per connection, each way a 4-byte big-endian length and a JSON object.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import struct
import sys
import threading
import time

from herbmorph.logsafe import escape_controls

_LEN = struct.Struct(">I")
MAX_MESSAGE = 64 * 2**20
REQUEST_TIMEOUT = 30.0  # seconds a connected caller has to send its request


def _send(sock: socket.socket, obj) -> None:
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    sock.sendall(_LEN.pack(len(data)) + data)


def _recv(sock: socket.socket):
    def exactly(n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("peer closed the connection")
            buf += chunk
        return bytes(buf)

    (n,) = _LEN.unpack(exactly(_LEN.size))
    if n > MAX_MESSAGE:
        raise ConnectionError(f"message of {n} bytes is over the limit")
    return json.loads(exactly(n))


# ------------------------------------------------------------------- client (in script.sh)


def forward(argv: list[str], path: str | None = None) -> int | None:
    """Run the handler call in the warm worker and return its exit status.

    None (run cold instead) only when the worker cannot be reached at all; a worker that dies
    mid-call gives 2 ("nothing written"), so the runtime retries the event rather than this
    process loading the models behind a runtime that may itself be gone.
    """
    path = path or os.environ.get("HERBMORPH_WARM_SOCKET", "")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError as exc:
            print(escape_controls(f"herbmorph: warm worker at {path!r} unreachable ({exc}); running cold"), file=sys.stderr)
            return None
        try:
            _send(sock, {"argv": list(argv), "env": dict(os.environ)})
            reply = _recv(sock)
        except (OSError, ConnectionError, ValueError) as exc:
            print(escape_controls(f"herbmorph: warm worker failed mid-call ({exc})"), file=sys.stderr)
            return 2
    sys.stdout.write(reply.get("stdout", ""))
    sys.stderr.write(reply.get("stderr", ""))
    return int(reply.get("code", 2))


# ------------------------------------------------------------------------- worker process


def _trim_heap() -> None:
    """Hand freed memory back to the OS (glibc ``malloc_trim``): after a full-size sheet, a warm
    worker should hold what it keeps (its model), not the high-water mark of the last call."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:  # noqa: BLE001 - not glibc: nothing to trim
        pass


def current_rss() -> int:
    """Resident set size of this process, in bytes (Linux /proc)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies (only for children of a single-threaded parent:
    the signal follows the parent *thread*)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the control pipe's EOF still ends the worker
        pass


def serve_worker(stage: str, socket_path: str, conn, env: dict) -> None:
    """Process entry: load ``stage``'s predictor, then answer handler calls on ``socket_path``.

    ``conn`` (a multiprocessing pipe end) carries ``("ready", rss)`` once, then
    ``("outcome", code, seconds, rss)`` after every call; its EOF (the runtime is gone) ends us.
    """
    # No PDEATHSIG here: it fires when the *thread* that started us ends, not the runtime. The
    # control pipe's EOF is what ends a worker whose runtime died, SIGKILL included.
    os.environ.update(env)
    import logging

    from herbmorph import logsafe
    from herbmorph.config import Settings
    from herbmorph.oscar import handler

    logsafe.setup(logging.WARNING)  # to the sys.stderr of the moment: each call's captured stderr

    if stage in ("segment", "scale"):
        try:
            handler._predictor(stage, Settings())  # load once, now, not on the first event
        except Exception as exc:  # noqa: BLE001 - reported to the runtime, which stops cleanly
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            return
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)
    server.bind(socket_path)
    os.chmod(socket_path, 0o600)
    server.listen(4)

    def answer(client: socket.socket) -> None:
        with client:
            client.settimeout(REQUEST_TIMEOUT)  # a caller that connects and never asks holds no slot
            try:
                request = _recv(client)
            except (ConnectionError, ValueError, OSError):
                return
            client.settimeout(None)
            out, err = io.StringIO(), io.StringIO()
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                argv = request.get("argv") or []
                code = handler.main(argv[0] if argv else "", env=request.get("env") or {})
            seconds = time.perf_counter() - t0
            with contextlib.suppress(OSError):
                _send(client, {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
            _trim_heap()
            with contextlib.suppress(OSError):
                conn.send(("outcome", code, seconds, current_rss()))

    def accept_loop() -> None:
        # One call at a time (a slot is one worker), all on this one thread: glibc gives each
        # thread that allocates its own arena, and a thread per call left freed sheets spread
        # over many arenas, the resident memory creeping up call after call.
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            answer(client)

    threading.Thread(target=accept_loop, daemon=True).start()
    conn.send(("ready", current_rss()))
    try:
        while conn.recv() != "stop":
            pass
    except (EOFError, OSError):
        pass
    server.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)
