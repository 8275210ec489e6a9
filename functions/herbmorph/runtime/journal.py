"""The event journal: every accepted event is on disk before anyone is told "accepted".

SQLite in WAL mode with ``synchronous=FULL``: a committed row survives SIGKILL and power loss.
States: ``pending`` -> ``running`` -> ``done`` | ``failed`` (``running`` goes back to ``pending``
when a runtime starts, so a crash mid-event re-runs it; outputs are keyed, so a re-run overwrites).

Duplicates: MinIO delivers at least once, and the start-up sweep may find an object whose event is
also still in MinIO's queue. An event is a duplicate when the journal already holds the same
(service, bucket, key, etag) from the same delivery (same sequencer), or when either of the two
came from a sweep (no sequencer). A real re-upload of identical bytes carries a new sequencer and
is processed again.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from herbmorph.journaldb import open_journal

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  service TEXT NOT NULL, bucket TEXT NOT NULL, key TEXT NOT NULL,
  etag TEXT NOT NULL DEFAULT '', sequencer TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  not_before REAL NOT NULL DEFAULT 0,
  received REAL NOT NULL, finished REAL,
  seconds REAL, note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_identity ON events (service, bucket, key, etag);
CREATE INDEX IF NOT EXISTS events_queue ON events (service, state, not_before, id);
"""


@dataclass(frozen=True)
class Event:
    id: int
    service: str
    bucket: str
    key: str
    etag: str
    sequencer: str
    body: str
    attempts: int


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._db = open_journal(self.path, SCHEMA, synchronous="FULL", threads=True)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def recover(self) -> int:
        """At start: events that were running when the last runtime died go back to the queue."""
        with self._lock:
            return self._db.execute("UPDATE events SET state='pending', not_before=0 WHERE state='running'").rowcount

    def add(self, service: str, bucket: str, key: str, etag: str, sequencer: str, body: dict | str) -> Optional[int]:
        """Journal one event (committed and fsynced on return); None when it is a duplicate."""
        text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                dup = cur.execute(
                    "SELECT 1 FROM events WHERE service=? AND bucket=? AND key=? AND etag=? "
                    "AND (sequencer=? OR sequencer='' OR ?='') LIMIT 1",
                    (service, bucket, key, etag, sequencer, sequencer)).fetchone()
                if dup:
                    cur.execute("COMMIT")
                    return None
                cur.execute("INSERT INTO events (service, bucket, key, etag, sequencer, body, received) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", (service, bucket, key, etag, sequencer, text, time.time()))
                event_id = cur.lastrowid
                cur.execute("COMMIT")
                return event_id
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def known(self, service: str, bucket: str, key: str, etag: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM events WHERE service=? AND bucket=? AND key=? AND etag=? LIMIT 1",
                                    (service, bucket, key, etag)).fetchone() is not None

    def claim(self, service: str) -> Optional[Event]:
        """The oldest runnable pending event of ``service``, now marked running."""
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            row = cur.execute(
                "SELECT id, service, bucket, key, etag, sequencer, body, attempts FROM events "
                "WHERE service=? AND state='pending' AND not_before<=? ORDER BY id LIMIT 1",
                (service, time.time())).fetchone()
            if row:
                cur.execute("UPDATE events SET state='running', attempts=attempts+1 WHERE id=?", (row[0],))
            cur.execute("COMMIT")
        if not row:
            return None
        return Event(*row[:7], attempts=row[7] + 1)

    def finish(self, event_id: int, state: str, seconds: float, note: str = "") -> None:
        assert state in ("done", "failed")
        with self._lock:
            self._db.execute("UPDATE events SET state=?, finished=?, seconds=?, note=? WHERE id=?",
                             (state, time.time(), seconds, note[:2000], event_id))

    def retry_later(self, event_id: int, delay: float, note: str) -> None:
        with self._lock:
            self._db.execute("UPDATE events SET state='pending', not_before=?, note=? WHERE id=?",
                             (time.time() + delay, note[:2000], event_id))

    def counts(self) -> dict[str, dict[str, int]]:
        """{service: {state: n}}"""
        with self._lock:
            rows = self._db.execute("SELECT service, state, COUNT(*) FROM events GROUP BY service, state").fetchall()
        out: dict[str, dict[str, int]] = {}
        for service, state, n in rows:
            out.setdefault(service, {})[state] = n
        return out

    def rows(self, service: Optional[str] = None) -> list[dict]:
        """Every event (for tests, ``herbmorph serve --status`` and post-mortems)."""
        q = "SELECT id, service, bucket, key, etag, sequencer, state, attempts, seconds, note FROM events"
        args: tuple = ()
        if service:
            q, args = q + " WHERE service=?", (service,)
        with self._lock:
            cur = self._db.execute(q + " ORDER BY id", args)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]
