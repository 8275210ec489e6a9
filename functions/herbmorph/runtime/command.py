"""``herbmorph serve``: parse options, run the :class:`~herbmorph.runtime.runtime.Runtime`, show progress."""
from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.logging import RichHandler
from rich.table import Table

DEFAULT_FDL = Path(__file__).resolve().parents[3] / "fdl" / "herbmorph-chain.yaml"


def add_arguments(p) -> None:
    p.add_argument("--fdl", type=Path, default=DEFAULT_FDL, help="the FDL to run (default: fdl/herbmorph-chain.yaml)")
    p.add_argument("--data", type=Path, default=Path("herbmorph-data"),
                   help="folder mode: root of the buckets (<data>/<bucket>/<folder>); default ./herbmorph-data")
    p.add_argument("--state", type=Path, help="journal, logs, tokens (default <data>/.herbmorph)")
    p.add_argument("--minio", default="auto",
                   help="auto (MINIO_ENDPOINT if set, else folders) | local (start the installed minio) | "
                        "off (folders) | http(s)://host:port (keys from MINIO_ACCESS_KEY/MINIO_SECRET_KEY)")
    p.add_argument("--listen", default="127.0.0.1:0", help="webhook/health/metrics address (port 0: reuse or pick)")
    p.add_argument("--advertise", help="URL MinIO should call, when it is not --listen (remote MinIO)")
    p.add_argument("--slots", action="append", default=[], metavar="SERVICE=N",
                   help="override a service's pool size (default: from the FDL's cpu and memory)")
    p.add_argument("--drain", action="store_true", help="exit once everything present has been processed")
    p.add_argument("--cold", action="store_true", help="no warm workers: every event loads its models (as on OSCAR)")
    p.add_argument("--event-timeout", type=float, default=900.0)
    p.add_argument("--minio-queue", action="store_true",
                   help="MinIO on this machine: also keep undelivered events in a queue_dir (adds ~1-3 s per stage)")
    p.add_argument("--sweep-every", type=float, default=600.0,
                   help="MinIO mode: re-list the input paths every N s for objects with no event (default 600)")


def options(args):
    from .fdl import load_fdl
    from .runtime import ServeOptions

    host, _, port = args.listen.rpartition(":")
    slots = {}
    for item in args.slots:
        name, _, n = item.partition("=")
        slots[name] = int(n)
    data = args.data.resolve()
    return ServeOptions(fdl=load_fdl(args.fdl), state_dir=(args.state or data / ".herbmorph").resolve(),
                        data_dir=data, minio=args.minio, listen_host=host or "127.0.0.1", listen_port=int(port or 0),
                        advertise=args.advertise, slots=slots, event_timeout=args.event_timeout, warm=not args.cold,
                        minio_queue=args.minio_queue, sweep_every=args.sweep_every)


def _table(rt) -> Table:
    t = Table(title=f"herbmorph serve · {rt.backend.kind} · {rt.url}", title_justify="left")
    for col in ("service", "slots", "pending", "running", "done", "failed"):
        t.add_column(col, justify="right" if col != "service" else "left")
    counts = rt.counts()
    for svc in rt.opts.fdl.services:
        c = counts.get(svc.name, {})
        t.add_row(svc.name, str(sum(1 for s in rt.slots if s.service is svc)),
                  *(str(c.get(k, 0)) for k in ("pending", "running", "done", "failed")))
    return t


def main(args) -> int:
    console = Console(stderr=True)
    from herbmorph import logsafe

    # one record, one line: a key with a newline or an escape sequence cannot forge or split one
    logsafe.setup(logging.INFO, RichHandler(console=console, show_path=False) if console.is_terminal
                  else logsafe.one_line_handler(fmt="%(message)s"), fmt="%(message)s")
    from .runtime import Runtime

    opts = options(args)
    rt = Runtime(opts)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        rt.start()
    except Exception as exc:  # noqa: BLE001 - one clear line, no traceback, for a newcomer
        logging.getLogger("herbmorph.serve").error("cannot start: %s", exc)
        rt.stop()
        return 2
    where = (f"drop sheets into {opts.data_dir / rt.opts.fdl.services[0].inputs[0].bucket / rt.opts.fdl.services[0].inputs[0].folder}"
             if rt.backend.kind == "folders" else f"upload to {rt.backend.endpoint}")
    logging.getLogger("herbmorph.serve").info("ready: %s; health %s/healthz, metrics %s/metrics (pid %d)",
                                              where, rt.url, rt.url, os.getpid())
    try:
        with Live(_table(rt), console=console, refresh_per_second=2, transient=False,
                  redirect_stderr=False) if console.is_terminal else _NoLive() as live:
            idle_since = None
            while not stop.wait(0.5):
                live.update(_table(rt))
                if args.drain:
                    idle_since = (idle_since or time.monotonic()) if rt.idle() else None
                    if idle_since and time.monotonic() - idle_since > 2.0:
                        break
    finally:
        final = _table(rt)
        rt.stop()
    console.print(final)
    return 0


class _NoLive:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, _):
        pass
