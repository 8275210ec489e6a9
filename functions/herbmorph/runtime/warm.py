"""Warm workers: the models stay loaded between events, and ``script.sh`` stays exactly OSCAR's.

On OSCAR every event is a fresh container: ``script.sh`` runs ``python3 -m herbmorph.oscar.handler
<stage>``, which loads the model and handles one object. The embedded runtime keeps that contract
(the same script, run by the real faas-supervisor, with the same environment) but sets
``HERBMORPH_WARM_SOCKET``: the handler module then forwards its argv and environment over that
Unix socket to a long-lived worker process that has the predictor loaded, and exits with the
worker's exit status. The worker runs the very same :func:`herbmorph.oscar.handler.main`, so there
is one code path for both. When the socket is unreachable the handler just runs cold.

The wire is :mod:`herbmorph.warmwire`. Each call's settings come from the call's environment,
so two calls with different ``HERBMORPH_CONF`` get each its own, and a call naming other weights
loads them once more (:func:`herbmorph.oscar.stages.load_predictor`).
"""
from __future__ import annotations

import contextlib
import io
import os
import socket
import threading
import time

from herbmorph.procs import current_rss, trim_heap
from herbmorph.warmwire import recv, send

REQUEST_TIMEOUT = 30.0  # seconds a connected caller has to send its request


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
    from herbmorph.oscar.stages import load_predictor

    logsafe.setup(logging.WARNING)  # to the sys.stderr of the moment: each call's captured stderr

    if stage in ("segment", "scale"):
        try:
            load_predictor(stage, Settings())  # load once, now, not on the first event
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
                request = recv(client)
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
                send(client, {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
            trim_heap()
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
