"""The one way herbmorph opens a journal: SQLite in WAL mode, autocommit, its schema applied.

Two journals use it: the embedded runtime's events (``synchronous=FULL``: an accepted event must
survive power loss, since MinIO was already told "accepted") and the batch's items
(``NORMAL``: durable across a process crash; a lost last row only means one image is redone).
"""
from __future__ import annotations

import sqlite3
from pathlib import Path


def open_journal(path: Path, schema: str, *, synchronous: str = "FULL", threads: bool = False,
                 timeout: float = 30.0) -> sqlite3.Connection:
    """Open (creating its folder) and prepare the journal at ``path``. ``threads``: the
    connection is shared between threads, which then serialise on their own lock."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=not threads)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    return db
