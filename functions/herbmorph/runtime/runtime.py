"""``herbmorph serve``: the FDL's chain on one machine.

Start-up order matters for "nothing is lost":

1. lock the state folder (one runtime per journal), put ``running`` events back to ``pending``;
2. start the HTTP server (MinIO checks a target is reachable when it is registered);
3. create buckets, register the webhooks (MinIO mode) or the folders (folder mode);
4. start the warm workers and one dispatcher thread per slot;
5. sweep every input path: objects with no journaled event (uploaded while the runtime was down and
   not waiting in MinIO's queue_dir either) are journaled like webhook events.

Each slot runs one event at a time through its executor, with its own warm worker. A failed
attempt (supervisor error, timeout, nothing written) is retried with back-off; after the last one
the runtime writes an error document (``kind: runtime``) to the service's output path itself, so
the chain still ends with exactly one outcome.
"""
from __future__ import annotations

import fcntl
import logging
import math
import os
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from herbmorph.store import ObjectInfo

from .backends import FolderBackend, MinioBackend, object_event
from .executors import FolderExecutor, SupervisorExecutor, handler_error
from .fdl import Fdl, Service, host_variables
from .journal import Journal
from .metrics import Metrics
from .slot import Slot
from .sweeper import Sweeper
from .webhooks import make_server, serve_in_background

log = logging.getLogger("herbmorph.serve")

def memory_total() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8 * 2**30


def slots_for(service: Service, cpus: Optional[int] = None, memory: Optional[int] = None) -> int:
    """Slots for ``service``: as many as the machine holds by the FDL's cpu *and* memory, ≥ 1.

    ``floor(cores / cpu)`` and ``floor(0.8 × RAM / memory)`` (20% left to the OS and the other
    services' workers), as a Kubernetes node would fit the service's pods.
    """
    cpus = cpus or os.cpu_count() or 1
    memory = memory or memory_total()
    return max(1, min(math.floor(cpus / service.cpu), math.floor(0.8 * memory / service.memory)))


def _read_or_create(path: Path, make) -> str:
    if path.exists():
        return path.read_text("utf-8").strip()
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


@dataclass
class ServeOptions:
    fdl: Fdl
    state_dir: Path
    data_dir: Path  # folder mode: the buckets' root
    minio: str = "auto"  # auto | local | off | http(s)://host:port
    listen_host: str = "127.0.0.1"
    listen_port: int = 0  # 0: the port this state folder used last time, else a free one
    advertise: Optional[str] = None
    slots: dict = field(default_factory=dict)
    poll_seconds: float = 0.5
    sweep_every: float = 600.0
    event_timeout: float = 900.0
    warm: bool = True
    minio_queue: bool = False  # also register a queue_dir (local MinIO only)


class Runtime(Sweeper):
    def __init__(self, opts: ServeOptions):
        self.opts = opts
        self.state = Path(opts.state_dir).resolve()
        self.state.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state, 0o700)
        self.metrics = Metrics()
        self.stopping = threading.Event()
        self._wakes: dict[str, threading.Event] = {s.name: threading.Event() for s in opts.fdl.services}
        self.slots: list[Slot] = []
        self.backend = None
        self.executor = None
        self.local_minio = None
        self.server = None
        self.socket_dir = Path(tempfile.mkdtemp(prefix="hm-", dir="/tmp"))  # short: AF_UNIX paths ≤ 107 bytes
        self._lockfile = None
        self._sweep_done = threading.Event()
        self.started = False  # /healthz says "starting" until buckets, webhooks and workers are up

    # ------------------------------------------------------------------ helpers for slots
    def wake(self, service: str) -> threading.Event:
        return self._wakes[service]

    def worker_env(self, service: Service) -> dict[str, str]:
        env = {**host_variables(service), "OMP_NUM_THREADS": str(service.threads),
               "MKL_NUM_THREADS": str(service.threads), "HERBMORPH_THREADS": str(service.threads)}
        if isinstance(self.backend, MinioBackend):
            env.update(self.backend.worker_env())
        return env

    def accept(self, service: str, deliveries: list) -> dict:
        svc = self.opts.fdl.service(service)
        counts = {"accepted": 0, "duplicates": 0, "ignored": 0}
        for bucket, key, etag, sequencer, event in deliveries:
            if svc.input_for(bucket, key) is None:
                counts["ignored"] += 1
                continue
            if self.journal.add(service, bucket, key, etag, sequencer, event) is None:
                counts["duplicates"] += 1
                self.metrics.duplicates.labels(service).inc()
            else:
                counts["accepted"] += 1
                self.metrics.received.labels(service).inc()
        if counts["accepted"]:
            self.wake(service).set()
        return counts

    def enqueue_object(self, obj: ObjectInfo) -> int:
        """Journal ``obj`` for every service whose input it matches (sweeps, folder writes)."""
        n = 0
        for svc in self.opts.fdl.services:
            if svc.input_for(obj.bucket, obj.key) is None or self.journal.known(svc.name, obj.bucket, obj.key, obj.etag):
                continue
            n += self.accept(svc.name, [(obj.bucket, obj.key, obj.etag, "", object_event(obj))])["accepted"]
        return n

    def after_event(self, service: Service, event, result) -> None:
        """Folder mode has no storage notifications: what a stage wrote triggers the next here."""
        for obj in getattr(result, "written", ()) or ():
            self.enqueue_object(obj)

    def give_up(self, service: Service, event, reason: str, log_tail: str = "") -> None:
        """The last attempt failed: the runtime writes the error document itself, into each
        output path that takes one, so the chain still ends with exactly one outcome."""
        from herbmorph.errors import HerbmorphError
        from herbmorph.outputs import ERROR_SUFFIX
        from herbmorph.publish import Outcomes

        name = service.name
        rel, doc = handler_error(service, event.bucket, event.key,
                                 HerbmorphError(f"{name} could not process this object: {reason}", kind="runtime"))
        written = []
        for out in service.outputs:
            if out.suffixes and not any(ERROR_SUFFIX.endswith(s) for s in out.suffixes):
                continue
            try:
                key = Outcomes(self.backend.store, out.bucket, out.folder).error(rel, doc)
                written.append(f"{out.bucket}/{key}")
                if isinstance(self.backend, FolderBackend):  # no notifications: trigger the next stage here
                    self.enqueue_object(self.backend.store.stat(out.bucket, key))
            except Exception as exc:  # noqa: BLE001
                log.error("%s: cannot write the error document for %s: %s", name, event.key, exc)
        self.journal.finish(event.id, "failed", 0.0, f"{reason}\n{log_tail[-1500:]}")
        self.metrics.failed.labels(name).inc()
        log.error("%s: gave up on %s (%s); error document: %s", name, event.key, reason, written or "none")

    # ------------------------------------------------------------------------- start-up
    def _lock(self) -> None:
        self._lockfile = open(self.state / "lock", "w")
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another herbmorph serve is using {self.state}") from None

    def _choose_backend(self) -> None:
        mode = self.opts.minio
        env = os.environ
        if mode == "auto":
            mode = env["MINIO_ENDPOINT"] if env.get("MINIO_ENDPOINT") else "off"
        if mode == "off":
            self.backend = FolderBackend(self.opts.data_dir)
            return
        if mode == "local":
            from ..localminio import LocalMinio, free_port

            port = int(_read_or_create(self.state / "minio-port", lambda: str(free_port())))
            secret = _read_or_create(self.state / "minio-secret", lambda: "local-" + secrets.token_hex(16))
            self.local_minio = LocalMinio(self.state / "minio", port=port, secret_key=secret).start()
            self.backend = MinioBackend(self.local_minio.endpoint, self.local_minio.access_key, secret, local=True)
            return
        key, secret = env.get("MINIO_ACCESS_KEY"), env.get("MINIO_SECRET_KEY")
        if not (key and secret):
            raise RuntimeError("MINIO_ACCESS_KEY and MINIO_SECRET_KEY must be set (never on the command line)")
        host = mode.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
        self.backend = MinioBackend(mode, key, secret, region=env.get("MINIO_REGION"),
                                    local=host in ("127.0.0.1", "localhost", "::1"))

    def start(self) -> "Runtime":
        self._lock()
        self.journal = Journal(self.state / "journal.sqlite")
        requeued = self.journal.recover()
        if requeued:
            log.info("resuming %d event(s) that were running when the last runtime stopped", requeued)
        self._choose_backend()
        (self.state / "logs").mkdir(exist_ok=True)
        (self.state / "tmp").mkdir(exist_ok=True)
        fresh_token = not (self.state / "token").exists()
        token = _read_or_create(self.state / "token", lambda: secrets.token_urlsafe(32))
        port = self.opts.listen_port or int(_read_or_create(self.state / "port", lambda: str(_free(self.opts.listen_host))))
        self.server = make_server(self.opts.listen_host, port, token=token, accept=self.accept, health=self.health,
                                  metrics=self.render_metrics, services={s.name for s in self.opts.fdl.services})
        serve_in_background(self.server)
        self.url = f"http://{self.opts.listen_host}:{self.server.server_address[1]}"
        self.backend.ensure_buckets(self.opts.fdl)
        if isinstance(self.backend, MinioBackend):
            # MinIO's queue_dir keeps events for an offline target, but its store-and-forward loop
            # adds ~1-3 s per hop (measured); the start-up and periodic sweeps already cover
            # uploads made while we are down, so it is opt-in.
            queue_dir = self.state / "minio-queue" if self.backend.local and self.opts.minio_queue else None
            self.backend.register_webhooks(self.opts.fdl, self.opts.advertise or self.url, token, queue_dir,
                                           force=fresh_token)
            self.executor = SupervisorExecutor(self.backend.provider_block(), self.state / "tmp",
                                               self.state / "logs", self.opts.event_timeout)
        else:
            self.executor = FolderExecutor(self.backend.root, self.state / "tmp", self.state / "logs",
                                           self.opts.event_timeout)
        for svc in self.opts.fdl.services:
            n = int(self.opts.slots.get(svc.name) or slots_for(svc))
            self.slots += [Slot(self, svc, i) for i in range(n)]
        self._start_workers()
        for s in self.slots:
            s.thread.start()
        threading.Thread(target=self._sweeper, name="sweeper", daemon=True).start()
        self.started = True
        return self

    def _start_workers(self) -> None:
        """In parallel (each loads its model); the first failure stops the start-up, clearly."""
        errors = []

        def start(slot: Slot) -> None:
            try:
                slot.start_worker()
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        starters = [threading.Thread(target=start, args=(s,)) for s in self.slots]
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        if errors:
            raise errors[0]

    # ------------------------------------------------------------------------ status
    def counts(self) -> dict[str, dict[str, int]]:
        return self.journal.counts()

    def idle(self) -> bool:
        if not self._sweep_done.is_set():
            return False
        counts = self.counts()
        return not any(c.get("pending", 0) or c.get("running", 0) for c in counts.values()) and \
            not any(s.busy for s in self.slots)

    def health(self) -> dict:
        dead = [f"{s.service.name}-{s.index}" for s in self.slots if s.stage and not s.worker_alive()]
        storage_ok = self.backend.ready()
        status = "ok" if storage_ok and not dead and not self.stopping.is_set() else "degraded"
        if not self.started:
            status = "starting"
        return {"status": status, "storage": self.backend.kind, "storage_ok": storage_ok, "dead_workers": dead,
                "services": {s.name: {"slots": sum(1 for x in self.slots if x.service is s),
                                      **self.counts().get(s.name, {})} for s in self.opts.fdl.services}}

    def render_metrics(self) -> bytes:
        for service, states in self.counts().items():
            for state in ("pending", "running", "done", "failed"):
                self.metrics.queue.labels(service, state).set(states.get(state, 0))
        return self.metrics.render()

    def stop(self) -> None:
        self.stopping.set()
        for w in self._wakes.values():
            w.set()
        for s in self.slots:
            s.thread.join(timeout=self.opts.event_timeout if s.busy else 5)
        for s in self.slots:
            s.stop()
        if self.executor is not None:
            self.executor.close()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.local_minio is not None:
            self.local_minio.stop()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        self.journal.close()
        if self._lockfile:
            self._lockfile.close()


def _free(host: str) -> int:
    from ..localminio import free_port

    return free_port(host)
