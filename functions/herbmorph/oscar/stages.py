"""The three functions of the OSCAR chain, one image at a time: ``segment``, ``scale``, ``area``.

Each takes an :class:`~.invocation.Invocation` and returns an :class:`Outcome`; it writes only
below the call's ``TMP_OUTPUT_DIR`` (OSCAR uploads it), through :mod:`herbmorph.publish`. Any
failure becomes ``<r>.error.json``; a stage that receives an error document passes it on byte for
byte, so every upload ends with exactly one result or one error document.

``scale`` and ``area`` read the original upload again from the store named by the stage
document, and check its sha256. A stage document whose original has been replaced since is
dropped with a log line and no output: the replacement has its own chain, and an error written
here could land after, and overwrite, that newer outcome.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from herbmorph.config import Settings
from herbmorph.errors import HerbmorphError
from herbmorph.imageio import LoadedImage, describe, load_image, sha256_bytes
from herbmorph.publish import Outcomes
from herbmorph.results import ERROR_SCHEMA, STAGE_SCHEMA, ErrorDocument, ImageInfo, StageDocument, error_document
from herbmorph.store import FolderStore, parse_s3_uri

from .invocation import STAGE_SUFFIX, UPSTREAM, Invocation

EXIT_OK, EXIT_ERROR_DOC, EXIT_NOTHING = 0, 1, 2

# Models loaded once per process, per stage and weights: an embedded runtime's warm worker or a
# warm container reuses them, and a call naming other weights gets its own.
_PREDICTORS: dict[tuple, Any] = {}


class StageDocumentError(HerbmorphError):
    kind = "bad-stage-document"


@dataclass
class Outcome:
    code: int
    written: list[Path] = field(default_factory=list)
    note: str = ""
    error: Optional[ErrorDocument] = None


def load_predictor(stage: str, settings: Settings):
    """The loaded core for ``stage`` (``segment`` or ``scale``) with ``settings``' weights."""
    weights = settings.segment_weights if stage == "segment" else settings.scale_weights
    key = (stage, str(weights), settings.device, settings.scale_imgsz if stage == "scale" else None)
    predictor = _PREDICTORS.get(key)
    if predictor is None:
        if stage == "segment":
            from herbmorph.segment.core import SegmentPredictor

            predictor = SegmentPredictor(settings).setup()
        else:
            from herbmorph.scale.core import ScalePredictor

            predictor = ScalePredictor(settings).setup()
        _PREDICTORS[key] = predictor
    return predictor


def _outputs(inv: Invocation) -> Outcomes:
    return Outcomes.folder(inv.out_dir)


def _paths(inv: Invocation, keys: list[str]) -> list[Path]:
    return [Path(inv.out_dir, *k.split("/")) for k in keys]


def _error(inv: Invocation, info: ImageInfo, stage: str, exc: BaseException) -> Outcome:
    doc = error_document(info, stage, exc)
    return Outcome(EXIT_ERROR_DOC, _paths(inv, [_outputs(inv).error(inv.relpath, doc)]), doc.error.message, doc)


def _write_stage_doc(inv: Invocation, doc: StageDocument) -> Outcome:
    key = inv.relpath + STAGE_SUFFIX[inv.stage]
    FolderStore(inv.out_dir).put("", key, doc.to_json().encode("utf-8"), "application/json")
    return Outcome(EXIT_OK, _paths(inv, [key]))


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


# ---------------------------------------------------------------------------- upstream docs


@dataclass
class Upstream:
    raw: bytes
    doc: Optional[StageDocument] = None  # the stage document
    error: Optional[ErrorDocument] = None  # or an error document to pass through


def _read_upstream(inv: Invocation) -> Upstream:
    """The stage document (or error document) that triggered ``inv``; raises StageDocumentError."""
    if inv.input_path is None:
        raise StageDocumentError("INPUT_FILE_PATH is not set: no stage document to read")
    try:
        size = inv.input_path.stat().st_size
        if size > inv.settings.max_bytes:
            raise StageDocumentError(f"{inv.key}: stage document of {size:,} bytes is over the limit")
        raw = inv.input_path.read_bytes()
    except OSError as exc:
        raise StageDocumentError(f"cannot read the stage document {inv.key}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StageDocumentError(f"{inv.key} is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise StageDocumentError(f"{inv.key} is not a herbmorph stage document")
    if data.get("schema") == ERROR_SCHEMA:
        try:
            return Upstream(raw, error=ErrorDocument.model_validate(data))
        except Exception as exc:  # noqa: BLE001
            raise StageDocumentError(f"{inv.key}: invalid error document ({exc})") from exc
    expected = UPSTREAM[inv.stage]
    if data.get("schema") != STAGE_SCHEMA or data.get("stage") != expected:
        raise StageDocumentError(
            f"{inv.key} is not a {expected!r} stage document ({STAGE_SCHEMA}); got schema="
            f"{data.get('schema')!r} stage={data.get('stage')!r}")
    try:
        doc = StageDocument.model_validate(data)
        if expected == "scale" and doc.scale is None:
            raise ValueError("no scale result")
    except Exception as exc:  # noqa: BLE001
        raise StageDocumentError(f"{inv.key}: invalid {expected!r} stage document ({exc})") from exc
    return Upstream(raw, doc=doc)


def _upstream_image(inv: Invocation) -> ImageInfo:
    """Best-effort image identity for an error raised before the stage document was parsed."""
    try:
        data = json.loads(inv.input_path.read_bytes()) if inv.input_path else None
        return ImageInfo.model_validate(data["image"])
    except Exception:  # noqa: BLE001
        return ImageInfo(uri=inv.object_uri)


def _pass_through(inv: Invocation, up: Upstream) -> Outcome:
    """Copy an upstream error document, byte for byte, to ``<r>.error.json``."""
    key = _outputs(inv).error(inv.relpath, up.raw)
    return Outcome(EXIT_ERROR_DOC, _paths(inv, [key]), f"passed through: {up.error.error.kind}", up.error)


def _fetch_original(inv: Invocation, image: ImageInfo) -> Optional[LoadedImage]:
    """The original upload named by ``image.uri``, decoded; None when it changed since (stale).
    Downloaded and hashed once, decoded at most once (the pixel cache may spare the decode)."""
    try:
        bucket, key = parse_s3_uri(image.uri)
    except ValueError as exc:
        raise StageDocumentError(f"stage document names no fetchable original: {exc}") from exc
    s = inv.settings
    data = inv.store.get(bucket, key, s.max_bytes)
    sha = sha256_bytes(data)
    if image.sha256 and sha != image.sha256:
        return None
    # content-addressed by sha256: the segment stage's decode of these very bytes
    rgb = inv.pixels.get(sha, s.max_pixels) if inv.pixels else None
    if rgb is not None:
        return LoadedImage(rgb=rgb, info=image)
    return load_image(data, image.uri, max_pixels=s.max_pixels, max_bytes=s.max_bytes, sha256=sha)


# ----------------------------------------------------------------------------------- stages


def _timed_predict(stage: str, inv: Invocation, rgb):
    """Run a stage's core (loaded once per process) with this call's options; time it in ms."""
    s = inv.settings
    predictor = load_predictor(stage, s)
    t0 = time.perf_counter()
    if stage == "segment":
        result = predictor.predict(rgb, imgsz=s.imgsz, conf=s.conf)
    else:
        result = predictor.predict(rgb, conf=s.scale_conf)
    return result, _ms(t0)


def run_segment(inv: Invocation) -> Outcome:
    uri = inv.object_uri
    source = inv.input_path if inv.input_path is not None else b""
    try:
        img = load_image(source, uri, max_pixels=inv.settings.max_pixels, max_bytes=inv.settings.max_bytes)
    except Exception as exc:  # noqa: BLE001 - the same kinds the CLI reports
        info = getattr(exc, "image_info", None) or describe(source, uri)
        return _error(inv, info, "decode", exc)
    try:
        seg, ms = _timed_predict("segment", inv, img.rgb)
    except Exception as exc:  # noqa: BLE001
        return _error(inv, img.info, "segment", exc)
    if inv.pixels:
        inv.pixels.put(img.info.sha256, img.rgb)
    return _write_stage_doc(inv, StageDocument(stage="segment", image=img.info, segment=seg,
                                               warnings=list(img.warnings), timings_ms={"segment": ms}))


def _upstream_with_original(inv: Invocation, stage: str):
    """Shared start of the downstream stages: read the stage doc, pass errors through, fetch the
    original. Returns an Outcome when the stage is already finished, else (upstream, image)."""
    try:
        up = _read_upstream(inv)
    except Exception as exc:  # noqa: BLE001
        return _error(inv, _upstream_image(inv), stage, exc)
    if up.error is not None:
        return _pass_through(inv, up)
    try:
        img = _fetch_original(inv, up.doc.image)
    except Exception as exc:  # noqa: BLE001
        return _error(inv, up.doc.image, stage, exc)
    if img is None:
        return Outcome(EXIT_OK, note=f"stale: {up.doc.image.uri} changed since segmentation; dropped")
    return up, img


def run_scale(inv: Invocation) -> Outcome:
    got = _upstream_with_original(inv, "scale")
    if isinstance(got, Outcome):
        return got
    up, img = got
    try:
        scale, ms = _timed_predict("scale", inv, img.rgb)
    except Exception as exc:  # noqa: BLE001
        return _error(inv, up.doc.image, "scale", exc)
    doc = up.doc.model_copy(update={"stage": "scale", "scale": scale,
                                    "timings_ms": {**up.doc.timings_ms, "scale": ms}})
    return _write_stage_doc(inv, doc)


def run_area(inv: Invocation) -> Outcome:
    from herbmorph.area import build_document

    got = _upstream_with_original(inv, "area")
    if isinstance(got, Outcome):
        _release_pixels(inv, got.error.image if got.error else None)
        return got
    up, img = got
    try:
        timings = {k: float(v) for k, v in up.doc.timings_ms.items() if k != "area"}
        doc = build_document(up.doc.image, up.doc.segment, up.doc.scale, timings, errors=list(up.doc.warnings))
        written = _outputs(inv).result(inv.relpath, doc, img.rgb)
    except Exception as exc:  # noqa: BLE001
        return _error(inv, up.doc.image, "area", exc)
    finally:
        _release_pixels(inv, up.doc.image)
    return Outcome(EXIT_OK, _paths(inv, written))


def _release_pixels(inv: Invocation, image: Optional[ImageInfo]) -> None:
    """The area stage ends the chain: no later stage needs the decoded original."""
    if inv.pixels and image is not None:
        inv.pixels.drop(image.sha256)


RUNNERS = {"segment": run_segment, "scale": run_scale, "area": run_area}
