"""Where a batch reads images and writes outcomes: local folders or ``s3://bucket/prefix``.

Both are :mod:`herbmorph.store` stores (S3 credentials from ``MINIO_ENDPOINT/ACCESS_KEY/SECRET_KEY``
or OSCAR's provider), so MinIO, Ceph RGW, AWS S3 and a disk all work the same way. A *source*
lists images (:class:`Item`) and reads their bytes; a *destination* lists existing outcomes,
reads one back, and publishes new ones through :class:`herbmorph.publish.Outcomes`, as every
other adapter does.

Output names are the event chain's: ``<r> = output_relpath(key, source_prefix)``. For the chain's
upload ``herbarium/in/<k>`` the batch ``s3://herbarium/in --out s3://herbarium/results`` writes
``results/<r>.json`` etc., exactly what ``herbmorph-area`` writes.
"""
from __future__ import annotations

import glob
import json
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from herbmorph.config import Settings
from herbmorph.errors import HerbmorphError
from herbmorph.outputs import ERROR_SUFFIX, RESULT_SUFFIXES, output_relpath, split_outcome
from herbmorph.publish import Outcomes
from herbmorph.store import FolderStore, ObjectStore, S3Store, join_key, provider_credentials, s3_uri

#: What a batch takes for an image (compared case-insensitively); anything else is not listed.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")


class LocationError(HerbmorphError):
    kind = "bad-location"


@dataclass(frozen=True)
class Location:
    """``s3://bucket/prefix`` (``bucket`` set) or a local folder (``path`` set)."""

    text: str
    bucket: str = ""
    prefix: str = ""
    path: Optional[Path] = None

    @classmethod
    def parse(cls, text: str) -> "Location":
        text = str(text)
        if text.startswith("s3://"):
            bucket, _, prefix = text[5:].partition("/")
            if not bucket or "\x00" in text:
                raise LocationError(f"{text!r}: expected s3://bucket/prefix")
            return cls(text, bucket=bucket, prefix=prefix.strip("/"))
        if "://" in text:
            raise LocationError(f"{text!r}: only s3:// URIs and local folders are supported")
        return cls(text, path=Path(text).expanduser().resolve())

    @property
    def is_s3(self) -> bool:
        return bool(self.bucket)

    def key(self, rel: str) -> str:
        return posixpath.join(self.prefix, rel) if self.prefix else rel

    def open(self) -> tuple[ObjectStore, str, str]:
        """``(store, bucket, prefix)`` of this location."""
        if self.is_s3:
            return S3Store.from_credentials(provider_credentials()), self.bucket, self.prefix
        return FolderStore(self.path), "", ""

    def contains(self, other: "Location") -> bool:
        """True when ``other`` lies inside (or is) this location."""
        if self.is_s3 != other.is_s3:
            return False
        if self.is_s3:
            return self.bucket == other.bucket and (
                not self.prefix or other.prefix == self.prefix or other.prefix.startswith(self.prefix + "/"))
        return other.path == self.path or self.path in other.path.parents


def check_disjoint(source: Location, dest: Location) -> None:
    """Refuse a destination inside the source or the other way round: outputs (``.png``
    overlays) would be listed as inputs on the next run, and inputs are never touched."""
    if source.contains(dest) or dest.contains(source):
        raise LocationError(f"the destination {dest.text} overlaps the source {source.text}: use separate folders")


@dataclass(frozen=True)
class Item:
    """One input image. ``key`` is the S3 key or the path relative to the source folder."""

    key: str
    rel: str  # output path without suffix: output_relpath(key, source prefix)
    uri: str
    size: int
    fingerprint: str  # changes whenever the bytes may have changed (ETag/size, or mtime/size)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def is_image_key(key: str) -> bool:
    return key.lower().endswith(IMAGE_SUFFIXES)


class _Located:
    """A folder or bucket prefix, with its store opened on first use (folders need no credentials)."""

    def __init__(self, location: Location):
        self.location = location
        self._opened = None

    def _open(self) -> tuple[ObjectStore, str, str]:
        if self._opened is None:
            self._opened = self.location.open()
        return self._opened

    @property
    def store(self) -> ObjectStore:
        return self._open()[0]

    def _key(self, rel: str) -> str:
        _, _, prefix = self._open()
        return join_key(prefix, rel)


class Source(_Located):
    def items(self) -> Iterator[Item]:
        loc = self.location
        if not loc.is_s3 and not loc.path.is_dir():
            raise LocationError(f"source folder {loc.path} does not exist")
        store, bucket, prefix = self._open()
        for obj in store.list(bucket, prefix + "/" if prefix else ""):
            name = obj.key.rsplit("/", 1)[-1]
            if name.startswith(".") or not is_image_key(name):
                continue
            uri = s3_uri(bucket, obj.key) if loc.is_s3 else str(loc.path / obj.key)
            yield Item(obj.key, output_relpath(obj.key, prefix), uri, obj.size, f"etag:{obj.etag}:{obj.size}")

    def read(self, item: Item, max_bytes: int) -> bytes:
        """The image's bytes; over ``max_bytes`` is ``kind="too-large"`` before anything is read.
        A folder's file is opened once and never through a symbolic link."""
        store, bucket, _ = self._open()
        try:
            return store.get(bucket, item.key, max_bytes)
        except HerbmorphError as exc:
            if exc.kind == "not-found":
                raise HerbmorphError(f"{item.uri} disappeared since it was listed", kind="not-found") from exc
            raise


# ------------------------------------------------------------------------------- destinations


class Destination(_Located):
    def __init__(self, location: Location, settings: Settings | None = None):
        super().__init__(location)
        self.settings = settings or Settings()

    def ensure(self) -> None:
        """Create the destination bucket (or folder) when it does not exist yet."""
        if self.location.is_s3:
            self.store.ensure_bucket(self.location.bucket)
        else:
            self.location.path.mkdir(parents=True, exist_ok=True)

    @property
    def outcomes_place(self) -> Outcomes:
        store, bucket, prefix = self._open()
        return Outcomes(store, bucket, prefix)

    def outcomes(self) -> dict[str, set[str]]:
        """``{<r>: {".json", ".error.json", ...}}`` for everything already in the destination."""
        found: dict[str, set[str]] = {}
        if not self.location.is_s3 and not self.location.path.is_dir():
            return found
        store, bucket, prefix = self._open()
        start = len(prefix) + 1 if prefix else 0
        for obj in store.list(bucket, prefix + "/" if prefix else ""):
            parts = split_outcome(obj.key[start:])
            if parts and not obj.key.rsplit("/", 1)[-1].startswith("."):
                found.setdefault(parts[0], set()).add(parts[1])
        return found

    def read_bytes(self, rel: str, suffix: str) -> Optional[bytes]:
        """An existing ``<r><suffix>``, or None when missing or unreadable."""
        store, bucket, _ = self._open()
        try:
            return store.get(bucket, self._key(rel + suffix), self.settings.max_bytes)
        except Exception:  # noqa: BLE001 - an unreadable document is simply "not current"
            return None

    def read_doc(self, rel: str, suffix: str) -> Optional[dict]:
        """An existing ``<r><suffix>`` document, or None when missing or unreadable."""
        raw = self.read_bytes(rel, suffix)
        try:
            data = json.loads(raw) if raw is not None else None
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def write_result(self, rel: str, doc, rgb) -> None:
        self.outcomes_place.result(rel, doc, rgb)

    def write_error(self, rel: str, doc) -> None:
        self.outcomes_place.error(rel, doc)

    def remove_partial(self, rel: str) -> None:
        """Drop the temporary files a killed writer left for ``rel`` (a folder store's
        ``.<name>.*.tmp`` siblings). Object storage has none: an upload lands whole or not at all."""
        if self.location.is_s3:
            return
        target = self.location.path / rel
        for sfx in (*RESULT_SUFFIXES, ERROR_SUFFIX):
            for tmp in target.parent.glob(f".{glob.escape(target.name + sfx)}.*.tmp"):
                tmp.unlink(missing_ok=True)

    def remove_error(self, rel: str) -> None:
        """Drop a stale ``.error.json`` beside a current result (a crash between two writes)."""
        self.outcomes_place.clear_other(rel, "result")
