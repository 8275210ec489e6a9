"""One batch worker process: loads the models once, then measures the images it is handed.

Started with multiprocessing's ``spawn`` (a clean interpreter: no forked torch state). Messages
to the coordinator (a ``multiprocessing`` queue):

``("ready", wid, pid, rss)``            models loaded
``("fatal", wid, message)``             the models could not be loaded: nothing can be done
``("start", wid, key)``                 about to work on ``key`` (a crash now is that image's)
``("done", wid, outcome, rss)``         ``outcome`` is a dict, see :func:`process`

A worker dies with its coordinator (Linux ``PR_SET_PDEATHSIG``, plus a parent check between
images), so a SIGKILLed run leaves no orphan that could write after a restarted run. Workers run
in their own process group, so Ctrl-C reaches the coordinator only; it stops them between images.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time

from herbmorph.config import Settings
from herbmorph.imageio import sha256_bytes
from herbmorph.outputs import ERROR_SUFFIX, RESULT_SUFFIX
from herbmorph.procs import die_with_parent, rss_bytes
from herbmorph.results import ImageInfo, error_document

from .stores import Destination, Item, Location, Source


def _die_with_parent() -> None:
    die_with_parent()
    parent = mp.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(0)  # the coordinator died before prctl took effect


def _set_threads(n: int) -> None:
    import torch

    if n and torch.get_num_threads() != n:
        torch.set_num_threads(n)


def summarize(doc: dict) -> dict:
    """What the summary and the report need from a result document (no polygons)."""
    scale = doc.get("scale") or {}
    return {
        "sha256": (doc.get("image") or {}).get("sha256"),
        "scale": scale.get("status"),
        "px_per_cm": scale.get("px_per_cm"),
        "organs": [[o.get("class"), o.get("area_cm2"), o.get("area_px")] for o in doc.get("organs") or []],
    }


def is_current(doc: dict | None, sha256: str, models: dict[str, str]) -> bool:
    """Same image bytes and the same weights as this run: nothing to redo."""
    if not doc or doc.get("schema") != "herbmorph/result/1":
        return False
    if (doc.get("image") or {}).get("sha256") != sha256:
        return False
    got = {k: (v or {}).get("sha256") for k, v in (doc.get("models") or {}).items()}
    return got == models


class Worker:
    def __init__(self, source: Source, dest: Destination, pipeline, models: dict[str, str], settings: Settings):
        self.source, self.dest, self.pipeline, self.models, self.settings = source, dest, pipeline, models, settings

    def process(self, task: dict) -> dict:
        """Measure one image (unless its outcome is current) and write the outcome.

        Returns ``{"key", "action", "sha256", "kind", "message", "summary"}``; ``action`` is
        ``measured``, ``current`` (result already current), ``failed`` (an error document was
        written) or ``kept-failed`` (an earlier error document for the same bytes was kept).
        """
        item = Item(**task["item"])
        existing = set(task.get("existing") or ())
        out = {"key": item.key, "sha256": None, "kind": "", "message": "", "summary": None}
        try:
            data = self.source.read(item, self.settings.max_bytes)
        except Exception as exc:  # noqa: BLE001 - becomes this image's error document
            return self._fail(out, item, error_document(ImageInfo(uri=item.uri, size_bytes=item.size), "fetch", exc))
        sha = out["sha256"] = sha256_bytes(data)
        if not task.get("force"):
            if RESULT_SUFFIX in existing:
                doc = self.dest.read_doc(item.rel, RESULT_SUFFIX)
                if is_current(doc, sha, self.models):
                    if ERROR_SUFFIX in existing:  # a crash between two writes left both
                        self.dest.remove_error(item.rel)
                    return {**out, "action": "current", "summary": summarize(doc)}
            elif ERROR_SUFFIX in existing and not task.get("retry_failed"):
                doc = self.dest.read_doc(item.rel, ERROR_SUFFIX) or {}
                if (doc.get("image") or {}).get("sha256") == sha:
                    err = doc.get("error") or {}
                    return {**out, "action": "kept-failed", "kind": str(err.get("kind", "")),
                            "message": str(err.get("message", ""))}
        m = self.pipeline.measure(data, item.uri)
        del data
        if not m.ok:
            return self._fail(out, item, m.doc)
        try:
            self.dest.write_result(item.rel, m.doc, m.rgb)
        except Exception as exc:  # noqa: BLE001 - e.g. storage refused the upload
            return self._fail(out, item, error_document(m.doc.image, "write", exc))
        return {**out, "action": "measured", "summary": summarize(m.doc.model_dump(mode="json", by_alias=True))}

    def _fail(self, out: dict, item: Item, doc) -> dict:
        out = {**out, "action": "failed", "kind": doc.error.kind, "message": doc.error.message,
               "sha256": doc.image.sha256 or out["sha256"]}
        try:
            self.dest.write_error(item.rel, doc)
        except Exception as exc:  # noqa: BLE001 - reported; the next run retries it
            out["message"] += f" (and the error document could not be written: {type(exc).__name__})"
            out["kind"] = out["kind"] or "storage"
        return out


def worker_main(wid: int, source_text: str, dest_text: str, settings: Settings, models: dict[str, str],
                threads: int, tasks, results, stop) -> None:
    """Entry point of a spawned worker (see the module docstring)."""
    _die_with_parent()
    # Out of the terminal's process group: Ctrl-C must reach the coordinator only, not this worker
    # nor the Tesseract processes it starts (a killed OCR would turn into a spurious failure).
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("HERBMORPH_THREADS", str(threads))
    import logging

    from herbmorph import logsafe

    logsafe.setup(logging.WARNING)  # a spawned process: the coordinator's logging is not inherited
    try:
        from herbmorph.pipeline import Pipeline

        _set_threads(threads)
        pipeline = Pipeline(settings).setup()
        worker = Worker(Source(Location.parse(source_text)), Destination(Location.parse(dest_text), settings),
                        pipeline, models, settings)
    except Exception as exc:  # noqa: BLE001
        results.put(("fatal", wid, f"{type(exc).__name__}: {exc}"))
        return
    results.put(("ready", wid, os.getpid(), rss_bytes()))
    parent = mp.parent_process()
    while not stop.is_set():
        try:
            task = tasks.get(timeout=0.5)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return
            continue
        if task is None or stop.is_set():
            return
        _set_threads(task.get("threads", threads))
        results.put(("start", wid, task["item"]["key"]))
        t0 = time.perf_counter()
        try:
            outcome = worker.process(task)
        except Exception as exc:  # noqa: BLE001 - never lose the image: report it
            outcome = {"key": task["item"]["key"], "action": "failed", "sha256": None, "kind": "internal",
                       "message": f"{type(exc).__name__}: {exc}", "summary": None}
        outcome["seconds"] = round(time.perf_counter() - t0, 4)
        results.put(("done", wid, outcome, rss_bytes()))
