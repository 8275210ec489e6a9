"""Helpers shared by the tests/test_batch*.py files (no tests here)."""
from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = sorted((REPO / "samples").glob("*.jpg"))
RESULT_SET = {".json", ".opends.json", ".overlay.png"}


@lru_cache(maxsize=None)
def _small(sample: str, width: int):
    from PIL import Image

    img = Image.open(sample).convert("RGB")
    img.thumbnail((width, width))
    return img


def sheet_bytes(i: int, sample: int | None = None, width: int = 800) -> bytes:
    """Sample ``sample`` (default ``i % 3``) scaled down to ``width`` px, with a JPEG comment
    making its sha256 unique."""
    buf = io.BytesIO()
    src = SAMPLES[(i if sample is None else sample) % len(SAMPLES)]
    _small(str(src), width).save(buf, "JPEG", quality=90, comment=f"herbmorph test copy {i}")
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cli(args: list[str], env: dict | None = None, timeout: int = 600, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "herbmorph.cli", *args], env={**os.environ, **(env or {})},
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)


def objects(client, bucket: str, prefix: str) -> dict[str, tuple[str, object]]:
    """``{name below prefix: (etag, last_modified)}``."""
    return {o.object_name[len(prefix):]: (o.etag, o.last_modified)
            for o in client.list_objects(bucket, prefix=prefix, recursive=True)}


def outcome_sets(names) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for name in names:
        for sfx in (".error.json", ".opends.json", ".overlay.png", ".json"):
            if name.endswith(sfx):
                out.setdefault(name[: -len(sfx)], set()).add(sfx)
                break
        else:
            out.setdefault("<unexpected>", set()).add(name)
    return out


def journal_rows(path: Path, sql: str, args=()) -> list[tuple]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def load_json(data: bytes | str) -> dict:
    return json.loads(data)
