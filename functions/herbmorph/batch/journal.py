"""The batch journal: a SQLite file recording what each image became, and every action taken.

Why SQLite: one file, crash-safe (WAL; a SIGKILL loses at most the transaction being written,
never the file), queryable by people (``sqlite3 journal.sqlite 'select * from items'``).

The destination's documents stay the source of truth: a result whose image sha256 and model
sha256s match is *current*, whatever the journal says. The journal adds

* a fast path: an image whose listing fingerprint (ETag+size, or mtime+size) and models are
  unchanged since it was recorded ``done`` is skipped without downloading it again;
* the failures of earlier runs, for the final list and ``--retry-failed``;
* per-image summaries (organs, cm², px/cm), so the summary and the report cover the whole source
  and not just what this run measured;
* an append-only ``events`` log (``measured``, ``current``, ``failed``, ``kept-failed``,
  ``crashed``), which is how a test proves no image was measured twice.

Only the coordinator process writes here.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path
from typing import Iterable, Optional

from herbmorph.journaldb import open_journal

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE IF NOT EXISTS runs (id INTEGER PRIMARY KEY, started REAL, finished REAL, source TEXT,
                                 dest TEXT, state TEXT, pid INTEGER);
CREATE TABLE IF NOT EXISTS items (key TEXT PRIMARY KEY, rel TEXT, fingerprint TEXT, sha256 TEXT,
                                  models TEXT, status TEXT, kind TEXT, message TEXT, summary TEXT,
                                  updated REAL);
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, run INTEGER, key TEXT, action TEXT,
                                   worker INTEGER, at REAL);
CREATE INDEX IF NOT EXISTS events_key ON events(key);
"""


def default_journal_path(source: str, dest: str) -> Path:
    """``$XDG_CACHE_HOME/herbmorph/batch/<hash of source and dest>.sqlite`` (one per pair)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(f"{source}\n{dest}".encode()).hexdigest()[:16]
    return cache / "herbmorph" / "batch" / f"{digest}.sqlite"


def models_key(models: dict[str, str]) -> str:
    return json.dumps(dict(sorted(models.items())), separators=(",", ":"))


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.db = open_journal(self.path, SCHEMA, synchronous="NORMAL")  # durable across a process crash
        self.run_id: Optional[int] = None

    # ------------------------------------------------------------------------------- runs

    def start_run(self, source: str, dest: str) -> int:
        cur = self.db.execute("INSERT INTO runs(started, source, dest, state, pid) VALUES (?,?,?,?,?)",
                              (time.time(), source, dest, "running", os.getpid()))
        self.run_id = int(cur.lastrowid)
        return self.run_id

    def finish_run(self, state: str) -> None:
        self.db.execute("UPDATE runs SET finished=?, state=? WHERE id=?", (time.time(), state, self.run_id))

    # ------------------------------------------------------------------------------- meta

    def get_meta(self, k: str) -> Optional[str]:
        row = self.db.execute("SELECT v FROM meta WHERE k=?", (k,)).fetchone()
        return row[0] if row else None

    def set_meta(self, k: str, v) -> None:
        self.db.execute("INSERT INTO meta(k, v) VALUES (?,?) ON CONFLICT(k) DO UPDATE SET v=excluded.v", (k, str(v)))

    # ------------------------------------------------------------------------------ items

    def items(self) -> dict[str, sqlite3.Row]:
        self.db.row_factory = sqlite3.Row
        try:
            return {r["key"]: r for r in self.db.execute("SELECT key, rel, fingerprint, models, status FROM items")}
        finally:
            self.db.row_factory = None

    def record(self, key: str, *, rel: str, fingerprint: str, sha256: Optional[str], models: str,
               status: str, action: str, worker: int = -1, kind: str = "", message: str = "",
               summary: Optional[dict] = None) -> None:
        """One outcome: upsert the item and append the event, in one transaction."""
        with self.db:  # BEGIN ... COMMIT
            self.db.execute("BEGIN")
            self.db.execute(
                "INSERT INTO items(key, rel, fingerprint, sha256, models, status, kind, message, summary, updated) "
                "VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET rel=excluded.rel, "
                "fingerprint=excluded.fingerprint, sha256=excluded.sha256, models=excluded.models, "
                "status=excluded.status, kind=excluded.kind, message=excluded.message, "
                "summary=excluded.summary, updated=excluded.updated",
                (key, rel, fingerprint, sha256, models, status, kind, message,
                 json.dumps(summary) if summary is not None else None, time.time()))
            self.db.execute("INSERT INTO events(run, key, action, worker, at) VALUES (?,?,?,?,?)",
                            (self.run_id, key, action, worker, time.time()))

    def event(self, key: str, action: str, worker: int = -1) -> None:
        self.db.execute("INSERT INTO events(run, key, action, worker, at) VALUES (?,?,?,?,?)",
                        (self.run_id, key, action, worker, time.time()))

    def summaries(self, keys: Iterable[str]) -> list[dict]:
        wanted = set(keys)
        out = []
        for key, status, kind, message, summary, rel in self.db.execute(
                "SELECT key, status, kind, message, summary, rel FROM items"):
            if key in wanted:
                out.append({"key": key, "rel": rel, "status": status, "kind": kind, "message": message,
                            **(json.loads(summary) if summary else {})})
        return out

    def close(self) -> None:
        self.db.close()
