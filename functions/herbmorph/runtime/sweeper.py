"""Finding objects that no event announced: the start-up and periodic sweep (MinIO mode), and
the folder watcher (folder mode, where it is the only source of events)."""
from __future__ import annotations

import logging

from .backends import FolderBackend, list_inputs

log = logging.getLogger("herbmorph.serve")


class Sweeper:
    """Mixed into :class:`~herbmorph.runtime.runtime.Runtime`: needs ``opts``, ``backend``,
    ``stopping``, ``enqueue_object`` and ``_sweep_done``."""

    def _sweep_once(self) -> int:
        n = 0
        for svc in self.opts.fdl.services:
            for path in svc.inputs:
                for obj in list_inputs(self.backend.store, path):
                    if self.stopping.is_set():
                        return n
                    n += self.enqueue_object(obj)
        return n

    def _sweeper(self) -> None:
        """MinIO: sweep at start and every ``sweep_every`` s. Folders: this *is* the watcher."""
        folder = isinstance(self.backend, FolderBackend)
        interval = self.opts.poll_seconds if folder else self.opts.sweep_every
        settle: dict[tuple, str] = {}
        while not self.stopping.is_set():
            try:
                if folder:
                    self._watch_folders(settle)
                else:
                    found = self._sweep_once()
                    if found:
                        log.info("sweep: %d object(s) had no event; queued", found)
            except Exception as exc:  # noqa: BLE001 - storage hiccups must not stop the watcher
                log.warning("sweep failed: %s", exc)
            self._sweep_done.set()
            self.stopping.wait(interval)

    def _watch_folders(self, settle: dict) -> None:
        """Queue a dropped file once it has been seen unchanged for one poll (a copy may be running)."""
        seen = {}
        for svc in self.opts.fdl.services:
            for path in svc.inputs:
                for obj in list_inputs(self.backend.store, path):
                    ident = (obj.bucket, obj.key)
                    seen[ident] = obj.etag
                    if settle.get(ident) == obj.etag:
                        self.enqueue_object(obj)
        settle.clear()
        settle.update(seen)
