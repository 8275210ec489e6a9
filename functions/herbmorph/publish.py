"""The outcome publisher: every input ends with exactly one result or one error document.

For an input whose output name is ``<r>`` (:mod:`herbmorph.outputs`), a place ``(store, bucket,
prefix)`` ends up with exactly one of

- ``<r>.json`` (``herbmorph/result/1``), plus ``<r>.opends.json`` and ``<r>.overlay.png`` when asked for;
- ``<r>.error.json`` (``herbmorph/error/1``).

Every adapter (``measure``, the OSCAR functions, the embedded runtime, batch, DEEPaaS) writes
through :class:`Outcomes`, on a folder or on S3 alike (:mod:`herbmorph.store`). Each object is
written atomically by the store. The order never shows both outcomes at once and never shows a
result whose companions are missing: a result's companions first, then the stale
``.error.json`` goes, then ``<r>.json`` (its presence means the result is complete), then stale
companions; an error document only after the result files are gone.

``<r>.opends.json`` is an ``annotation-processing-event`` (``{"jobId", "annotations"}``), the
message a DiSSCo MAS publishes. Outside a DiSSCo job it carries ``urn:herbmorph:<image sha256>``
(or a hash of the image URI), which a forwarder replaces with the real job handle.

Imports no torch (the area container has none).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from herbmorph.outputs import ERROR_SUFFIX, OPENDS_SUFFIX, OVERLAY_SUFFIX, RESULT_SUFFIX, RESULT_SUFFIXES, check_stem
from herbmorph.results import ErrorDocument, ResultDocument
from herbmorph.store import FolderStore, ObjectStore, StorageError, join_key

CONTENT_TYPES = {RESULT_SUFFIX: "application/json", OPENDS_SUFFIX: "application/json",
                 ERROR_SUFFIX: "application/json", OVERLAY_SUFFIX: "image/png"}


def default_job_id(doc: ResultDocument) -> str:
    digest = doc.image.sha256 or hashlib.sha256(doc.image.uri.encode("utf-8", "surrogatepass")).hexdigest()
    return f"urn:herbmorph:{digest}"


def render_outputs(doc: ResultDocument, rgb=None, *, opends: bool = True, overlay: bool = True,
                   created: str | None = None, job_id: str | None = None, target_id: str | None = None,
                   creator: dict | None = None) -> dict[str, bytes]:
    """A result's files, in memory: ``{suffix: bytes}``, the result JSON last.

    ``rgb`` is the original image (H×W×3 uint8) for the overlay; without it no overlay is drawn.
    ``created``/``job_id``/``target_id``/``creator`` go to the openDS export (see module doc).
    Everything is rendered before anything is written, so a failure here writes nothing.
    """
    files: dict[str, bytes] = {}
    if overlay and rgb is not None:
        from herbmorph.area.overlay import render_overlay

        files[OVERLAY_SUFFIX] = render_overlay(rgb, doc)
    if opends:
        from herbmorph.area.opends import annotation_event

        event = annotation_event(doc, job_id or default_job_id(doc), target_id=target_id, creator=creator,
                                 created=created)
        files[OPENDS_SUFFIX] = (json.dumps(event, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    files[RESULT_SUFFIX] = doc.to_json().encode("utf-8")
    return files


class Outcomes:
    """Where one kind of outcome lands: ``prefix/<r><suffix>`` in ``bucket`` of ``store``."""

    def __init__(self, store: ObjectStore, bucket: str = "", prefix: str = ""):
        self.store, self.bucket, self.prefix = store, bucket, prefix.strip("/")

    @classmethod
    def folder(cls, out_dir: str | Path) -> "Outcomes":
        return cls(FolderStore(out_dir))

    def key(self, rel: str, suffix: str) -> str:
        return join_key(self.prefix, check_stem(rel) + suffix)

    def _put(self, rel: str, suffix: str, data: bytes) -> str:
        key = self.key(rel, suffix)
        self.store.put(self.bucket, key, data, CONTENT_TYPES.get(suffix, "application/json"))
        return key

    def _remove(self, rel: str, suffixes) -> None:
        failed = self.store.remove(self.bucket, [self.key(rel, s) for s in suffixes])
        if failed:
            raise StorageError(f"could not remove stale {failed} from {self.bucket or 'the output folder'}")

    def result(self, rel: str, doc: ResultDocument, rgb=None, **options) -> list[str]:
        """Write a result (``options``: those of :func:`render_outputs`); returns the keys
        written, the result JSON last."""
        files = render_outputs(doc, rgb, **options)
        body = files.pop(RESULT_SUFFIX)
        written = [self._put(rel, sfx, data) for sfx, data in files.items()]
        self._remove(rel, [ERROR_SUFFIX])
        written.append(self._put(rel, RESULT_SUFFIX, body))
        self._remove(rel, [s for s in (OPENDS_SUFFIX, OVERLAY_SUFFIX) if s not in files])
        return written

    def error(self, rel: str, doc: ErrorDocument | bytes) -> str:
        """Write an error document (a typed one, or an upstream one's exact bytes)."""
        data = doc if isinstance(doc, bytes) else doc.to_json().encode("utf-8")
        self._remove(rel, RESULT_SUFFIXES)  # the result JSON first: a result is never half there
        return self._put(rel, ERROR_SUFFIX, data)

    def clear_other(self, rel: str, kept: str) -> None:
        """After the other outcome was published elsewhere (OSCAR uploads a function's output
        folder itself): drop what contradicts it here. ``kept`` is ``"result"`` or ``"error"``."""
        self._remove(rel, [ERROR_SUFFIX] if kept == "result" else list(RESULT_SUFFIXES))


def write_result(out_dir: Path, stem: str, doc: ResultDocument, rgb=None, **options) -> list[Path]:
    """:meth:`Outcomes.result` into a folder; returns the paths written (result JSON last)."""
    keys = Outcomes.folder(out_dir).result(stem, doc, rgb, **options)
    return [Path(out_dir, *k.split("/")) for k in keys]


def write_error(out_dir: Path, stem: str, doc: ErrorDocument | bytes) -> Path:
    """:meth:`Outcomes.error` into a folder; returns the path written."""
    return Path(out_dir, *Outcomes.folder(out_dir).error(stem, doc).split("/"))
