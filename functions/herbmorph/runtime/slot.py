"""One place to run one event at a time for a service, with its own warm worker.

A slot claims the service's next event from the journal, runs it through the runtime's executor
(the real faas-supervisor, or its folder twin), and records the outcome: done, retried with
back-off, or given up with an error document (:meth:`Runtime.give_up`).
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading

from .fdl import Service, service_stage

log = logging.getLogger("herbmorph.serve")

MAX_ATTEMPTS = 3
RETRY_BASE_SECONDS = 2.0
WORKER_START_TIMEOUT = 900.0


class Slot:
    """One place to run one event at a time for a service, with its own warm worker."""

    def __init__(self, rt, service: Service, index: int):
        """``rt`` is the :class:`~herbmorph.runtime.runtime.Runtime` that owns the slot (its journal,
        executor, metrics and stop flag); not imported here, which would make a circle."""
        self.rt, self.service, self.index = rt, service, index
        self.stage = service_stage(service) if rt.opts.warm else None
        self.socket_path = str(rt.socket_dir / f"{service.name}-{index}.sock")
        self.proc = None
        self.conn = None
        self.busy = False
        self.thread = threading.Thread(target=self.loop, name=f"{service.name}-{index}", daemon=True)

    # -- warm worker
    def start_worker(self) -> None:
        if not self.stage:
            return
        from .warm import serve_worker

        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        env = self.rt.worker_env(self.service)
        self.proc = ctx.Process(target=serve_worker, args=(self.stage, self.socket_path, child, env),
                                name=f"herbmorph-{self.service.name}-{self.index}", daemon=True)
        self.proc.start()
        child.close()
        msg = parent.recv() if parent.poll(WORKER_START_TIMEOUT) else ("error", "no answer")
        if msg[0] != "ready":
            self.proc.kill()
            raise RuntimeError(f"{self.service.name}: warm worker did not start: {msg[1]}")
        self.conn = parent
        self.rt.metrics.worker_rss.labels(self.service.name, str(self.index)).set(msg[1])

    def worker_alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def _outcomes(self, wait: float = 0.0) -> list[int]:
        """Handler exit codes the warm worker reported since last asked (waits ``wait`` s for one)."""
        codes = []
        with contextlib.suppress(EOFError, OSError):
            while self.conn is not None and self.conn.poll(wait if not codes else 0):
                _, code, seconds, rss = self.conn.recv()
                name = self.service.name
                self.rt.metrics.documents.labels(name, {0: "result", 1: "error"}.get(code, "none")).inc()
                self.rt.metrics.handler_latency.labels(name).observe(seconds)
                self.rt.metrics.worker_rss.labels(name, str(self.index)).set(rss)
                codes.append(code)
        return codes

    # -- dispatch
    def loop(self) -> None:
        rt = self.rt
        while not rt.stopping.is_set():
            event = rt.journal.claim(self.service.name)
            if event is None:
                rt.wake(self.service.name).wait(1.0)
                rt.wake(self.service.name).clear()
                continue
            self.busy = True
            try:
                self.run_one(event)
            except Exception as exc:  # noqa: BLE001 - a dispatcher must never die
                log.exception("%s: event %s crashed the dispatcher: %s", self.service.name, event.id, exc)
                rt.journal.retry_later(event.id, RETRY_BASE_SECONDS, f"dispatcher: {exc}")
            finally:
                self.busy = False

    def run_one(self, event) -> None:
        rt, name = self.rt, self.service.name
        if self.stage and not self.worker_alive() and not rt.stopping.is_set():
            log.warning("%s: warm worker %s is gone; restarting it", name, self.index)
            self.start_worker()
        warm = self.worker_alive()
        # Content-addressed decoded originals, shared by the stages (see herbmorph.oscar.pixels);
        # kept across restarts on purpose: resumed events may still use them.
        extra = {"HERBMORPH_PIXEL_CACHE": str(rt.state / "pixels")}
        if warm:
            extra["HERBMORPH_WARM_SOCKET"] = self.socket_path
        self._outcomes()  # forget anything left from an earlier, timed-out call
        result = rt.executor.run(self.service, event.id, event.body, extra)
        if warm and not result.refused and not any(c in (0, 1) for c in self._outcomes(wait=2.0)) and result.code == 0:
            # The supervisor ignores the script's status, so a worker that died mid-call would
            # look like success with nothing uploaded: a lost image. Retry it instead.
            result.code, result.log_tail = 2, "the warm handler reported no document (worker died?)"
        if rt.stopping.is_set() and result.code != 0:
            rt.journal.retry_later(event.id, 0, "interrupted by shutdown")
            return
        if result.code == 0:
            rt.journal.finish(event.id, "done", result.seconds)
            rt.metrics.done.labels(name).inc()
            rt.metrics.latency.labels(name).observe(result.seconds)
            log.info("%s: %s done in %.2f s", name, event.key, result.seconds)
            rt.after_event(self.service, event, result)
        elif event.attempts < MAX_ATTEMPTS:
            rt.metrics.retries.labels(name).inc()
            delay = RETRY_BASE_SECONDS * 2 ** (event.attempts - 1)
            log.warning("%s: %s attempt %d failed (status %s); retry in %.0f s", name, event.key,
                        event.attempts, result.code, delay)
            rt.journal.retry_later(event.id, delay, result.log_tail[-1500:])
        else:
            rt.give_up(self.service, event, f"attempt {event.attempts} of {MAX_ATTEMPTS} failed "
                                           f"(status {result.code})", result.log_tail)

    def stop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(OSError, EOFError, BrokenPipeError):
                self.conn.send("stop")
        if self.proc is not None:
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
