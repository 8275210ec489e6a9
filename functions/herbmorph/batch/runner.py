"""The batch coordinator: list, plan, run workers, journal every outcome, summarise.

``run_batch(BatchOptions(...))`` is what ``herbmorph batch`` calls. The coordinator never
measures an image itself: it lists the source and the destination, skips what is current
(journal fast path, see :mod:`.journal`), hands the rest to worker processes (each loads the
models once, :mod:`.worker`), and records each outcome in the journal as it arrives.

Interruptions: Ctrl-C stops handing out images and lets the workers finish the one they hold
(a second Ctrl-C stops them at once); SIGKILL loses nothing either, because an outcome is
written atomically before it is journaled and the next run finds it current in the destination.
A worker that dies while measuring (out of memory, a crash in a native library) turns that image
into a ``worker-crashed`` error document and is replaced.
"""
from __future__ import annotations

import hashlib
import multiprocessing as mp
import queue
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from herbmorph.config import Settings
from herbmorph.errors import HerbmorphError
from herbmorph.models import model_info
from herbmorph.outputs import ERROR_SUFFIX, RESULT_SUFFIX
from herbmorph.results import ImageInfo, error_document

from . import capacity
from .journal import Journal, default_journal_path, models_key
from .stores import Destination, Item, Location, Source, check_disjoint
from .worker import worker_main

TASKS_PER_WORKER = 2  # queued ahead, so a worker never waits for the coordinator
LOST_TASK_SECONDS = 30


@dataclass
class BatchOptions:
    source: str
    dest: str
    workers: Optional[int] = None  # None: from capacity (see capacity.local_workers)
    force: bool = False
    retry_failed: bool = False
    journal: Optional[Path] = None
    settings: Settings = field(default_factory=Settings)
    items: Optional[list[Item]] = None  # a given slice (OSCAR job) instead of listing the source
    shard: Optional[tuple[int, int]] = None  # (index, count): only keys hashing to index
    threads: Optional[int] = None  # torch threads per worker; None: the usable cores split between workers
    show_progress: bool = True


@dataclass
class BatchResult:
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # action -> images, this run
    failures: list[dict] = field(default_factory=list)  # every failed image of the source
    collisions: list[tuple[str, str]] = field(default_factory=list)
    summaries: list[dict] = field(default_factory=list)
    workers: int = 0
    capacity: str = ""
    interrupted: bool = False
    seconds: float = 0.0
    journal: Optional[Path] = None
    worker_rss: list[dict] = field(default_factory=list)  # per done image: worker rss/peak
    setup_s: float = 0.0  # the slowest worker's model loading time

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted


def current_models(settings: Settings) -> dict[str, str]:
    return {"segment": model_info(settings.segment_weights).sha256,
            "scale": model_info(settings.scale_weights).sha256}


def shard_of(key: str, count: int) -> int:
    return int(hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:8], 16) % count


@dataclass
class Plan:
    items: list[Item]
    todo: list[tuple[Item, set]]  # (item, suffixes already in the destination)
    skipped: dict[str, str]  # key -> "current" | "kept-failed" (journal fast path)
    collisions: list[tuple[str, str]]


def plan(opts: BatchOptions, source: Source, dest: Destination, journal: Journal, models: str) -> Plan:
    items = list(opts.items) if opts.items is not None else list(source.items())
    if opts.shard:
        index, count = opts.shard
        items = [i for i in items if shard_of(i.key, count) == index]
    # Two inputs whose names map to one output (a.jpg, a.png) would overwrite each other, as in
    # the event chain: the first (sorted) wins, the other is reported.
    by_rel, collisions, unique = {}, [], []
    for item in sorted(items, key=lambda i: i.key):
        if item.rel in by_rel:
            collisions.append((item.key, by_rel[item.rel]))
        else:
            by_rel[item.rel] = item.key
            unique.append(item)
    outcomes = dest.outcomes()
    known = journal.items()
    todo, skipped = [], {}
    for item in unique:
        have = outcomes.get(item.rel, set())
        row = known.get(item.key)
        fresh = (row is not None and not opts.force and row["fingerprint"] == item.fingerprint
                 and row["models"] == models and row["rel"] == item.rel)
        if fresh and row["status"] == "done" and RESULT_SUFFIX in have and ERROR_SUFFIX not in have:
            skipped[item.key] = "current"
        elif fresh and row["status"] == "failed" and not opts.retry_failed and have == {ERROR_SUFFIX}:
            skipped[item.key] = "kept-failed"
        else:
            todo.append((item, have))
    return Plan(unique, todo, skipped, collisions)


class _Workers:
    """The spawned worker processes and their queues."""

    def __init__(self, opts: BatchOptions, models: dict[str, str]):
        self.ctx = mp.get_context("spawn")
        self.opts, self.models = opts, models
        self.tasks, self.results, self.stop = self.ctx.Queue(), self.ctx.Queue(), self.ctx.Event()
        self.procs: dict[int, mp.process.BaseProcess] = {}
        self.ready: set[int] = set()
        self.holding: dict[int, str] = {}  # wid -> key being measured
        self.next_id = 0
        self.threads = 1
        self.spawned: dict[int, float] = {}  # wid -> monotonic time of spawn
        self.setup_s: dict[int, float] = {}  # wid -> seconds from spawn to models loaded
        self.started: dict[int, float] = {}  # wid -> when its current image started

    def spawn(self, threads: int) -> int:
        wid, self.next_id = self.next_id, self.next_id + 1
        p = self.ctx.Process(target=worker_main, name=f"herbmorph-batch-{wid}", daemon=True,
                             args=(wid, self.opts.source, self.opts.dest, self.opts.settings, self.models,
                                   threads, self.tasks, self.results, self.stop))
        p.start()
        self.procs[wid] = p
        self.spawned[wid] = time.monotonic()
        return wid

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs.values() if p.pid]

    def dead(self) -> list[int]:
        return [wid for wid, p in self.procs.items() if not p.is_alive()]

    def shutdown(self, wait: float) -> None:
        self.stop.set()
        for _ in self.procs:
            self.tasks.put(None)
        deadline = time.monotonic() + wait
        for p in self.procs.values():
            p.join(max(0.0, deadline - time.monotonic()))
        for p in self.procs.values():
            if p.is_alive():
                p.kill()
                p.join(5)


def run_batch(opts: BatchOptions, on_event: Optional[Callable[[str, dict], None]] = None) -> BatchResult:
    """Run one batch to the end (or until interrupted). See the module docstring."""
    from .progress import BatchProgress

    t0 = time.monotonic()
    src_loc, dst_loc = Location.parse(opts.source), Location.parse(opts.dest)
    check_disjoint(src_loc, dst_loc)
    source, dest = Source(src_loc), Destination(dst_loc, opts.settings)
    models = current_models(opts.settings)
    mkey = models_key(models)
    journal = Journal(opts.journal or default_journal_path(src_loc.text, dst_loc.text))
    journal.start_run(src_loc.text, dst_loc.text)
    result = BatchResult(journal=journal.path)
    progress = BatchProgress(enabled=opts.show_progress)
    try:
        with progress.listing(src_loc.text):
            p = plan(opts, source, dest, journal, mkey)
        result.total, result.collisions = len(p.items), p.collisions
        for action in p.skipped.values():
            result.counts[action] = result.counts.get(action, 0) + 1
        if p.todo:
            dest.ensure()
            _dispatch(opts, p, models, mkey, journal, dest, result, progress, on_event)
        journal.finish_run("interrupted" if result.interrupted else "finished")
        result.summaries = journal.summaries(i.key for i in p.items)
        result.failures = [s for s in result.summaries if s["status"] == "failed"]
        result.failures += [{"key": k, "status": "failed", "kind": "output-name-collision",
                             "message": f"same output name as {other}; not measured"} for k, other in p.collisions]
    finally:
        journal.close()
    result.seconds = time.monotonic() - t0
    return result


def _dispatch(opts, p: Plan, models, mkey, journal: Journal, dest: Destination, result: BatchResult,
              progress, on_event) -> None:
    pending = deque(p.todo)
    by_key = {item.key: item for item, _ in p.todo}
    cores = capacity.usable_cores()
    footprint = int(journal.get_meta("worker_peak_rss") or 0)
    wanted = opts.workers or 0
    workers = _Workers(opts, models)
    first_threads = cores if not wanted else max(1, cores // max(1, min(wanted, len(pending))))
    if wanted:
        n = max(1, min(wanted, len(pending)))
        result.capacity = "set by --workers"
    elif footprint:
        plan_ = capacity.local_workers(footprint)
        n = pool_size(plan_.workers, len(pending), float(journal.get_meta("image_s") or 1),
                      float(journal.get_meta("worker_setup_s") or 0))
        result.capacity = "capacity: " + plan_.explain() + " (footprint measured by an earlier run)"
    else:
        n = 1  # measure one worker's footprint first, then size the pool
    threads = max(1, cores // n) if n > 1 else first_threads
    threads = opts.threads or threads
    for _ in range(n):
        workers.spawn(threads)
    workers.threads = threads
    journal.set_meta("worker_pids", ",".join(map(str, workers.pids())))
    sized = bool(wanted or footprint)
    queued = 0
    stopping = False
    task_base = {"force": opts.force, "retry_failed": opts.retry_failed}

    def top_up():
        nonlocal queued
        limit = TASKS_PER_WORKER * max(1, len(workers.procs))
        while pending and queued < limit and not stopping:
            item, have = pending.popleft()
            workers.tasks.put({**task_base, "item": item.to_dict(), "existing": sorted(have),
                               "threads": workers.threads})
            queued += 1

    quiet_since = time.monotonic()
    with progress.running(len(p.todo), result.counts) as bar:
        top_up()
        while (pending and not stopping) or queued > 0 or workers.holding:
            try:
                try:
                    msg = workers.results.get(timeout=0.5)
                except queue.Empty:
                    msg = None
                if msg is not None:
                    kind = msg[0]
                    if kind == "fatal":
                        workers.shutdown(5)
                        raise HerbmorphError(f"a worker could not start: {msg[2]}", kind="model")
                    if kind == "ready":
                        workers.ready.add(msg[1])
                        workers.setup_s.setdefault(msg[1], time.monotonic() - workers.spawned[msg[1]])
                    elif kind == "start":
                        workers.holding[msg[1]] = msg[2]
                        workers.started[msg[1]] = time.monotonic()
                        queued -= 1
                    elif kind == "done":
                        wid, outcome, rss = msg[1], msg[2], msg[3]
                        workers.holding.pop(wid, None)
                        _record(journal, by_key[outcome["key"]], outcome, mkey, wid, result)
                        result.worker_rss.append({"worker": wid, **rss})
                        bar.advance(outcome["action"])
                        if on_event:
                            on_event("done", {**outcome, "rss": rss})
                        if not sized:
                            sized = True
                            image_s = time.monotonic() - workers.started.get(wid, time.monotonic())
                            _grow(workers, journal, rss, len(pending) + max(0, queued), result, cores, image_s)
                if msg is not None:
                    quiet_since = time.monotonic()
                for wid in workers.dead():
                    _bury(workers, wid, journal, dest, by_key, mkey, result, bar,
                          work_left=bool(pending) or queued > 0, stopping=stopping)
                if stopping and not workers.procs:
                    break
                if (queued > 0 and not workers.holding and workers.procs and workers.ready >= set(workers.procs)
                        and time.monotonic() - quiet_since > LOST_TASK_SECONDS):
                    queued = 0  # a worker died between taking a task and announcing it: the next run redoes it
                top_up()
            except KeyboardInterrupt:
                if stopping:  # second Ctrl-C: stop now
                    break
                stopping = True
                result.interrupted = True
                workers.stop.set()
                bar.note("stopping: finishing the images in progress (Ctrl-C again to stop now)")
                queued = 0  # queued tasks stay unclaimed; the next run picks them up
    workers.shutdown(2 if result.interrupted else 10)
    _record_late(workers, journal, by_key, mkey, result)
    result.workers = len(workers.procs)
    result.setup_s = max(workers.setup_s.values(), default=0.0)


def pool_size(fit: int, waiting: int, image_s: float, setup_s: float, running: int = 0) -> int:
    """Workers worth having (at most ``fit``): one more only while the images left per worker
    take longer than a new worker needs to load the models."""
    n = max(1, running)
    while n < fit and waiting * image_s / (n + 1) > setup_s:
        n += 1
    return n


def _grow(workers: _Workers, journal: Journal, rss: dict, waiting: int, result: BatchResult, cores: int,
          image_s: float) -> None:
    """Size the pool from the first worker's measured peak RSS (see capacity.local_workers).

    A worker is only added while the images left per worker take longer than starting one
    (loading the models), so a handful of images is not slowed down by idle model loads.
    """
    footprint = rss["peak"]
    journal.set_meta("worker_peak_rss", footprint)
    plan_ = capacity.local_workers(footprint, own=rss["rss"], cores=cores)
    result.capacity = "capacity: " + plan_.explain()
    setup_s = max(workers.setup_s.values(), default=0.0)
    journal.set_meta("worker_setup_s", round(setup_s, 2))
    journal.set_meta("image_s", round(image_s, 2))
    extra = pool_size(plan_.workers, waiting, image_s, setup_s, running=1) - 1
    if extra > 0:
        workers.threads = workers.opts.threads or max(1, cores // (extra + 1))
        for _ in range(extra):
            workers.spawn(workers.threads)
        journal.set_meta("worker_pids", ",".join(map(str, workers.pids())))


def _bury(workers: _Workers, wid: int, journal: Journal, dest: Destination, by_key, mkey,
          result: BatchResult, bar, *, work_left: bool, stopping: bool) -> None:
    """A worker died: its image (if any) gets a worker-crashed error document; replace it."""
    proc = workers.procs.pop(wid)
    key = workers.holding.pop(wid, None)
    if key is not None:
        item = by_key[key]
        exc = HerbmorphError(f"the worker process died (exit code {proc.exitcode}) while measuring this image; "
                             "it may need more memory than a worker has", kind="worker-crashed")
        doc = error_document(ImageInfo(uri=item.uri, size_bytes=item.size), "batch", exc)
        outcome = {"key": key, "action": "failed", "sha256": None, "kind": doc.error.kind,
                   "message": doc.error.message, "summary": None}
        try:
            dest.remove_partial(item.rel)  # killed mid-write, it may have left a temporary file
            dest.write_error(item.rel, doc)
        except Exception as err:  # noqa: BLE001
            outcome["message"] += f" (error document not written: {type(err).__name__})"
        _record(journal, item, outcome, mkey, -1, result, action="crashed")
        bar.advance("failed")
    if wid not in workers.ready and not workers.ready and not workers.procs:
        raise HerbmorphError(f"the worker died while loading the models (exit code {proc.exitcode})", kind="model")
    if work_left and not stopping:
        workers.spawn(workers.threads)
        journal.set_meta("worker_pids", ",".join(map(str, workers.pids())))


def _record_late(workers: _Workers, journal: Journal, by_key, mkey: str, result: BatchResult) -> None:
    """After a Ctrl-C the loop stops waiting for images whose start it had not heard of yet; a
    worker can still finish one during the shutdown wait. Record those outcomes too, so the
    journal agrees with the outputs already written (the next run would only redo them)."""
    while True:
        try:
            msg = workers.results.get(timeout=0.2)
        except (queue.Empty, OSError, EOFError):
            return
        if msg[0] == "done" and msg[2]["key"] in by_key:
            _record(journal, by_key[msg[2]["key"]], msg[2], mkey, msg[1], result)


def _record(journal: Journal, item: Item, outcome: dict, mkey: str, wid: int, result: BatchResult,
            action: Optional[str] = None) -> None:
    act = outcome["action"]
    status = "done" if act in ("measured", "current") else "failed"
    journal.record(item.key, rel=item.rel, fingerprint=item.fingerprint, sha256=outcome.get("sha256"),
                   models=mkey, status=status, action=action or act, worker=wid, kind=outcome.get("kind", ""),
                   message=outcome.get("message", ""), summary=outcome.get("summary"))
    result.counts[act] = result.counts.get(act, 0) + 1
