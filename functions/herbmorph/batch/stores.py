"""Where a batch reads images and writes outcomes: local folders or ``s3://bucket/prefix``.

A *source* lists images (:class:`Item`) and reads their bytes; a *destination* lists existing
outcomes, reads one back and writes new ones. Both speak S3 through :mod:`herbmorph.storage`
(``minio`` client, credentials from ``MINIO_ENDPOINT/ACCESS_KEY/SECRET_KEY`` or OSCAR's provider),
so MinIO, Ceph RGW and AWS S3 all work.

Output names are the event chain's: ``<r> = output_relpath(key, source_prefix)``. For the chain's
upload ``herbarium/in/<k>`` the batch ``s3://herbarium/in --out s3://herbarium/results`` writes
``results/<r>.json`` etc., exactly what ``herbmorph-area`` writes (see
:mod:`herbmorph.oscar.handler`). Local writes go through :func:`herbmorph.outputs.write_result`
itself; S3 writes render the same files into a temporary folder and upload them in an order that
never shows both outcomes at once (a result's ``.json`` last, after the stale ``.error.json`` is
gone; an error document only after the stale result files are gone).
"""
from __future__ import annotations

import glob
import json
import os
import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from herbmorph.config import Settings
from herbmorph.errors import HerbmorphError
from herbmorph.outputs import (
    ERROR_SUFFIX,
    OPENDS_SUFFIX,
    OVERLAY_SUFFIX,
    RESULT_SUFFIX,
    RESULT_SUFFIXES,
    output_relpath,
    write_error,
    write_result,
)
from herbmorph.storage import fetch_bytes, make_client, provider_credentials, remove_objects, s3_uri

#: The chain's FDL input suffixes (fdl/herbmorph-chain.yaml), compared case-insensitively.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
OUTCOME_SUFFIXES = (ERROR_SUFFIX, OPENDS_SUFFIX, OVERLAY_SUFFIX, RESULT_SUFFIX)  # longest match first
_CONTENT_TYPES = {RESULT_SUFFIX: "application/json", OPENDS_SUFFIX: "application/json",
                  ERROR_SUFFIX: "application/json", OVERLAY_SUFFIX: "image/png"}


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


def split_outcome(name: str) -> tuple[str, str] | None:
    """``a/b.error.json`` -> ``("a/b", ".error.json")``; None for anything else."""
    for sfx in OUTCOME_SUFFIXES:
        if name.endswith(sfx) and len(name) > len(sfx):
            return name[: -len(sfx)], sfx
    return None


def s3_client():
    return make_client(provider_credentials())


# ------------------------------------------------------------------------------------ sources


class _Located:
    """A folder or bucket prefix, with its S3 client made on first use (folders never need one)."""

    def __init__(self, location: Location):
        self.location = location
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = s3_client()
        return self._client


class Source(_Located):
    def items(self) -> Iterator[Item]:
        loc = self.location
        if loc.is_s3:
            prefix = loc.prefix + "/" if loc.prefix else None
            for obj in self.client.list_objects(loc.bucket, prefix=prefix, recursive=True):
                if obj.is_dir or not is_image_key(obj.object_name):
                    continue
                key = obj.object_name
                yield Item(key, output_relpath(key, loc.prefix), s3_uri(loc.bucket, key), int(obj.size or 0),
                           f"etag:{(obj.etag or '').strip(chr(34))}:{obj.size}")
            return
        if not loc.path.is_dir():
            raise LocationError(f"source folder {loc.path} does not exist")
        for dirpath, dirnames, filenames in os.walk(loc.path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath, name)
                if name.startswith(".") or not is_image_key(name):
                    continue
                try:  # a symlink may only point inside the source folder
                    real = path.resolve(strict=True)
                    st = real.stat()
                except OSError:
                    continue
                if loc.path not in real.parents or not real.is_file():
                    continue
                key = path.relative_to(loc.path).as_posix()
                yield Item(key, output_relpath(key, ""), str(path), st.st_size,
                           f"mtime:{st.st_mtime_ns}:{st.st_size}")

    def read(self, item: Item, max_bytes: int) -> bytes:
        """The image's bytes; over ``max_bytes`` is ``kind="too-large"`` before anything is read."""
        if self.location.is_s3:
            return fetch_bytes(item.uri, max_bytes=max_bytes, client=self.client)
        path = Path(item.uri)
        try:
            size = path.stat().st_size
            if size > max_bytes:
                raise HerbmorphError(f"{item.uri} is {size:,} bytes, over the limit of {max_bytes:,}", kind="too-large")
            with open(path, "rb") as fh:  # read-only: inputs are never modified
                return fh.read(max_bytes + 1)
        except FileNotFoundError as exc:
            raise HerbmorphError(f"{item.uri} disappeared since it was listed", kind="not-found") from exc
        except PermissionError as exc:
            raise HerbmorphError(f"{item.uri} is not readable", kind="unreadable") from exc


# ------------------------------------------------------------------------------- destinations


class Destination(_Located):
    def __init__(self, location: Location, settings: Settings | None = None):
        super().__init__(location)
        self.settings = settings or Settings()

    def ensure(self) -> None:
        """Create the destination bucket (or folder) when it does not exist yet."""
        if self.location.is_s3:
            if not self.client.bucket_exists(self.location.bucket):
                self.client.make_bucket(self.location.bucket)
        else:
            self.location.path.mkdir(parents=True, exist_ok=True)

    def outcomes(self) -> dict[str, set[str]]:
        """``{<r>: {".json", ".error.json", ...}}`` for everything already in the destination."""
        found: dict[str, set[str]] = {}
        loc = self.location
        if loc.is_s3:
            prefix = loc.prefix + "/" if loc.prefix else None
            try:
                names = [o.object_name for o in self.client.list_objects(loc.bucket, prefix=prefix, recursive=True)]
            except Exception as exc:  # noqa: BLE001 - e.g. the bucket does not exist yet
                if getattr(exc, "code", "") == "NoSuchBucket":
                    return found
                raise
            start = len(prefix or "")
            names = [n[start:] for n in names]
        else:
            if not loc.path.is_dir():
                return found
            names = [p.relative_to(loc.path).as_posix() for p in loc.path.rglob("*")
                     if p.is_file() and not p.name.startswith(".")]
        for name in names:
            parts = split_outcome(name)
            if parts:
                found.setdefault(parts[0], set()).add(parts[1])
        return found

    def read_doc(self, rel: str, suffix: str) -> Optional[dict]:
        """An existing ``<r><suffix>`` document, or None when missing or unreadable."""
        try:
            if self.location.is_s3:
                uri = s3_uri(self.location.bucket, self.location.key(rel + suffix))
                raw = fetch_bytes(uri, max_bytes=self.settings.max_bytes, client=self.client)
            else:
                path = self.location.path / (rel + suffix)
                if path.stat().st_size > self.settings.max_bytes:
                    return None
                raw = path.read_bytes()
            data = json.loads(raw)
        except Exception:  # noqa: BLE001 - an unreadable document is simply "not current"
            return None
        return data if isinstance(data, dict) else None

    def read_bytes(self, rel: str, suffix: str) -> Optional[bytes]:
        try:
            if self.location.is_s3:
                uri = s3_uri(self.location.bucket, self.location.key(rel + suffix))
                return fetch_bytes(uri, max_bytes=self.settings.max_bytes, client=self.client)
            return (self.location.path / (rel + suffix)).read_bytes()
        except Exception:  # noqa: BLE001
            return None

    def write_result(self, rel: str, doc, rgb) -> None:
        if not self.location.is_s3:
            write_result(self.location.path, rel, doc, rgb)
            return
        with tempfile.TemporaryDirectory(prefix="herbmorph-batch-") as tmp:
            written = write_result(Path(tmp), rel, doc, rgb)  # the JSON is the last path
            for path in written[:-1]:
                self._upload(Path(tmp), path)
            self._remove([rel + ERROR_SUFFIX])
            self._upload(Path(tmp), written[-1])
            stale = [rel + s for s in RESULT_SUFFIXES if not any(str(p).endswith(s) for p in written)]
            self._remove(stale)

    def write_error(self, rel: str, doc) -> None:
        if not self.location.is_s3:
            write_error(self.location.path, rel, doc)
            return
        self._remove([rel + s for s in RESULT_SUFFIXES])
        with tempfile.TemporaryDirectory(prefix="herbmorph-batch-") as tmp:
            self._upload(Path(tmp), write_error(Path(tmp), rel, doc))

    def remove_partial(self, rel: str) -> None:
        """Drop the temporary files a killed writer left for ``rel`` (outputs.atomic_write's
        ``.<name>.*.tmp`` siblings). Object storage has none: an upload lands whole or not at all."""
        if self.location.is_s3:
            return
        target = self.location.path / rel
        for sfx in (*RESULT_SUFFIXES, ERROR_SUFFIX):
            for tmp in target.parent.glob(f".{glob.escape(target.name + sfx)}.*.tmp"):
                tmp.unlink(missing_ok=True)

    def remove_error(self, rel: str) -> None:
        """Drop a stale ``.error.json`` beside a current result (a crash between two writes)."""
        if self.location.is_s3:
            self._remove([rel + ERROR_SUFFIX])
        else:
            try:
                (self.location.path / (rel + ERROR_SUFFIX)).unlink()
            except FileNotFoundError:
                pass

    def _upload(self, root: Path, path: Path) -> None:
        name = path.relative_to(root).as_posix()
        sfx = split_outcome(name)[1]
        self.client.fput_object(self.location.bucket, self.location.key(name), str(path),
                                content_type=_CONTENT_TYPES[sfx])

    def _remove(self, rels: list[str]) -> None:
        failed = remove_objects(self.location.bucket, [self.location.key(r) for r in rels], client=self.client)
        if failed:
            raise HerbmorphError(f"could not remove stale {failed} from {self.location.bucket}", kind="storage")
