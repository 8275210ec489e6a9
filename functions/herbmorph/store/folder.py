"""A store on a disk: object ``(bucket, key)`` is the file ``root/<bucket>/<key>`` (``root/<key>``
for the bucket ``""``, a plain output folder).

Objects are read through :mod:`herbmorph.safeopen` (opened once, never through a symbolic link:
anyone who can write to the folder could swap a file for a link to ``/etc/passwd``), written
through a temporary sibling and ``os.replace`` (a crash never leaves half a file, a reader never
sees one), and their etag is ``<size>-<mtime_ns>`` of the entry itself, so a replaced file is a
new object. Keys that would leave the bucket (absolute, ``..``, empty parts) are refused.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator, Optional

from herbmorph.errors import HerbmorphError
from herbmorph.safeopen import read_regular

from .base import ObjectInfo


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` through a temporary sibling + ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def file_etag(st: os.stat_result) -> str:
    """What changes when a file's bytes may have changed (its ``lstat``: never a link's target)."""
    return f"{st.st_size}-{st.st_mtime_ns}"


def _plain_key(key: str) -> list[str]:
    parts = str(key).split("/")
    if not key or str(key).startswith("/") or "\\" in key or "\x00" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a plain relative key: {key!r}")
    return parts


class FolderStore:
    kind = "folders"

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    def bucket_dir(self, bucket: str) -> Path:
        return self.root / bucket if bucket else self.root

    def path(self, bucket: str, key: str) -> Path:
        """Where ``(bucket, key)`` lives; ``ValueError`` for a key that would leave the bucket."""
        return self.bucket_dir(bucket).joinpath(*_plain_key(key))

    def get(self, bucket: str, key: str, max_bytes: Optional[int] = None) -> bytes:
        try:
            return read_regular(self.bucket_dir(bucket), key, max_bytes)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise HerbmorphError(f"{bucket}/{key} does not exist", kind="not-found") from exc
        except PermissionError as exc:
            raise HerbmorphError(f"{bucket}/{key} is not readable", kind="unreadable") from exc

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectInfo:
        path = atomic_write(self.path(bucket, key), data)
        return ObjectInfo(bucket, key, file_etag(path.lstat()), len(data))

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Files below ``prefix``; symbolic links (to files or folders) are listed as objects
        too, never followed: a reader refuses them, so every dropped name gets an answer."""
        base = self.bucket_dir(bucket)
        folder, _, _ = prefix.rpartition("/")
        top = base / folder if folder else base
        for dirpath, dirnames, filenames in os.walk(top):  # never descends into linked folders
            links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in links)
            for name in sorted((*filenames, *links)):
                full = Path(dirpath) / name
                key = full.relative_to(base).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    st = full.lstat()
                except FileNotFoundError:
                    continue
                yield ObjectInfo(bucket, key, file_etag(st), st.st_size)

    def stat(self, bucket: str, key: str) -> Optional[ObjectInfo]:
        try:
            st = self.path(bucket, key).lstat()
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        return ObjectInfo(bucket, key, file_etag(st), st.st_size)

    def exists(self, bucket: str, key: str) -> bool:
        return self.stat(bucket, key) is not None

    def remove(self, bucket: str, keys: list[str]) -> list[str]:
        failed = []
        for key in keys:
            try:
                self.path(bucket, key).unlink()
            except FileNotFoundError:
                pass
            except (OSError, ValueError):
                failed.append(key)
        return failed

    def ready(self) -> bool:
        return self.root.is_dir()
