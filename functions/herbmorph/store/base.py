"""The one object-store interface every adapter uses, and ``s3://`` URIs.

A store holds objects named ``(bucket, key)``. Two implementations: :class:`~.s3.S3Store`
(MinIO, Ceph RGW, AWS S3 through the ``minio`` client) and :class:`~.folder.FolderStore`
(``root/<bucket>/<key>`` on a disk; the embedded runtime's zero-setup mode, ``herbmorph measure``
and local batches). Callers never ask which one they hold.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Protocol

from herbmorph.errors import HerbmorphError


class StorageError(HerbmorphError):
    """Object storage unreachable, misconfigured or refusing us."""

    kind = "storage"


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    etag: str  # changes whenever the bytes may have changed (S3 ETag, or size-mtime on a disk)
    size: int


class ObjectStore(Protocol):
    kind: str

    def get(self, bucket: str, key: str, max_bytes: Optional[int] = None) -> bytes:
        """The whole object. ``kind="not-found"`` when missing, ``"too-large"`` over ``max_bytes``
        (refused before the bytes are read), ``"storage"`` for anything the backend says."""

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream") -> ObjectInfo:
        """Write atomically: a reader sees the old object or the new one, never a part."""

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (a folder: give it with its ``/``)."""

    def exists(self, bucket: str, key: str) -> bool: ...

    def stat(self, bucket: str, key: str) -> Optional[ObjectInfo]:
        """``None`` when there is no such object."""

    def remove(self, bucket: str, keys: list[str]) -> list[str]:
        """Delete ``keys`` (missing ones are fine); returns the keys that could not be removed."""

    def ready(self) -> bool:
        """Whether the store answers now."""


def join_key(*parts: str) -> str:
    """``join_key("results", "a/b.json")`` -> ``"results/a/b.json"``; empty parts dropped."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/key.jpg`` -> ``("bucket", "some/key.jpg")``.

    The key is returned as written (S3 keys are opaque: ``..`` or unicode are legal there). Raises
    ``ValueError`` for anything that is not an ``s3://`` URI with a bucket and a key.
    """
    uri = str(uri)
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket or not key or "\x00" in uri:
        raise ValueError(f"an s3:// URI needs a bucket and a key: {uri!r}")
    return bucket, key
