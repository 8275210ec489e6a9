"""The one home of herbmorph's document types.

Every stage core returns one of these, and every adapter (CLI, OSCAR handler, embedded runtime,
DEEPaaS, batch, the DiSSCo consumer) serialises them with ``doc.to_json()`` and reads them with
``Type.from_json()`` (or :func:`from_json`, which picks the type by ``schema``), so the documents
are byte-identical whichever way an image travelled (timings aside):

- :class:`ResultDocument` ``herbmorph/result/1``: the final answer for one image;
- :class:`ErrorDocument` ``herbmorph/error/1``: why one image has no result (:func:`error_document`);
- :class:`StageDocument` ``herbmorph/stage/1``: what the OSCAR chain's ``segment`` and ``scale``
  functions hand to the next function.
"""
from __future__ import annotations

import json
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from .errors import HerbmorphError, sanitize_message

ORGAN_CLASSES: tuple[str, ...] = ("leaf", "stem", "flower", "fruit", "root", "seed")
SCALE_CLASSES: tuple[str, ...] = ("scale",)

RESULT_SCHEMA = "herbmorph/result/1"
ERROR_SCHEMA = "herbmorph/error/1"
STAGE_SCHEMA = "herbmorph/stage/1"

BBox = list[float]  # [x1, y1, x2, y2] in original-image pixels


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    def to_json(self) -> str:
        """Canonical serialisation shared by every adapter (aliases, 2-space indent, UTF-8)."""
        return _dumps(self.model_dump(mode="json", by_alias=True))

    @classmethod
    def from_json(cls, text: str | bytes):
        return cls.model_validate_json(text)


def _dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


class ImageInfo(_Model):
    uri: str
    sha256: Optional[str] = None
    width: Optional[int] = None
    height: Optional[int] = None
    size_bytes: Optional[int] = None


class ModelInfo(_Model):
    name: str
    sha256: str
    #: the organ model's confidence calibration: ``<file>@<weights sha256, 12 hex>`` when its
    #: confidences are calibrated probabilities, ``none (<why>)`` when they are raw scores;
    #: absent (null) for the ruler detector and in documents written before it existed
    calibration: Optional[str] = None


class Organ(_Model):
    id: int
    class_: str = Field(alias="class")
    #: the calibrated probability that this is a true organ of its class when the model info's
    #: ``calibration`` names a file, else the model's raw score; ``conf`` thresholds this
    confidence: float
    #: the model's own score (optional: documents written before it existed lack it)
    raw_confidence: Optional[float] = None
    #: the extent of the organ's mask (which may reach past the box the detector predicted)
    bbox: BBox
    polygon: list[list[float]]
    area_px: float
    area_cm2: Optional[float] = None


class SegmentResult(_Model):
    """Output of the segment core: organs in original-image pixels, no physical units yet."""

    organs: list[Organ]
    model: ModelInfo
    imgsz: int
    conf: float


class Digit(_Model):
    """One number Tesseract read on the ruler; x, y are its centre in original-image pixels."""

    value: int
    conf: float
    x: float
    y: float


class ScaleResult(_Model):
    """Output of the scale core. ``px_per_cm`` is null, with a reason, whenever it can't be trusted."""

    px_per_cm: Optional[float] = None
    method: Optional[str] = None
    status: Literal["ok", "null"] = "null"
    reason: Optional[str] = None
    bbox: Optional[BBox] = None
    detection_conf: Optional[float] = None
    digits: list[Digit] = Field(default_factory=list)
    ocr_px_per_cm: Optional[float] = None
    tick_px_per_cm: Optional[float] = None
    model: Optional[ModelInfo] = None

    @classmethod
    def null(cls, reason: str, **kw) -> "ScaleResult":
        return cls(status="null", px_per_cm=None, reason=reason, **kw)


class ResultDocument(_Model):
    schema_: Literal["herbmorph/result/1"] = Field(default=RESULT_SCHEMA, alias="schema")
    image: ImageInfo
    scale: ScaleResult
    organs: list[Organ]
    models: dict[str, ModelInfo]
    timings_ms: dict[str, float] = Field(default_factory=dict)
    errors: list[str] = Field(default_factory=list)


class ErrorInfo(_Model):
    kind: str
    message: str


class ErrorDocument(_Model):
    schema_: Literal["herbmorph/error/1"] = Field(default=ERROR_SCHEMA, alias="schema")
    image: ImageInfo
    stage: str
    error: ErrorInfo


class StageDocument(_Model):
    """What ``segment`` (and then ``scale``) hands to the next function of the OSCAR chain: the
    original upload's identity, the results so far, the decode warnings and the timings."""

    schema_: Literal["herbmorph/stage/1"] = Field(default=STAGE_SCHEMA, alias="schema")
    stage: Literal["segment", "scale"]
    image: ImageInfo
    segment: SegmentResult
    scale: Optional[ScaleResult] = None
    warnings: list[str] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)

    def to_json(self) -> str:
        data = self.model_dump(mode="json", by_alias=True)
        if data["scale"] is None:  # a segment document has no scale yet
            del data["scale"]
        return _dumps(data)


def error_document(info: ImageInfo, stage: str, exc: BaseException) -> ErrorDocument:
    """A ``herbmorph/error/1`` document for ``exc`` raised in ``stage``.

    ``kind`` comes from :class:`herbmorph.errors.HerbmorphError` (``internal`` for anything else,
    whose message is prefixed by the exception type). The message is :func:`sanitize_message`'d.
    """
    if isinstance(exc, HerbmorphError):
        kind = str(getattr(exc, "kind", None) or "internal")
        raw = str(exc)
    else:
        kind = "internal"
        text = str(exc)
        raw = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    msg = sanitize_message(raw) or type(exc).__name__
    return ErrorDocument(image=info, stage=str(stage), error=ErrorInfo(kind=kind, message=msg))


def to_json(doc: _Model) -> str:
    """Canonical serialisation shared by every adapter (``doc.to_json()``)."""
    return doc.to_json()


_BY_SCHEMA = {RESULT_SCHEMA: ResultDocument, ERROR_SCHEMA: ErrorDocument, STAGE_SCHEMA: StageDocument}


def from_json(text: str | bytes) -> ResultDocument | ErrorDocument | StageDocument:
    """Any herbmorph document, its type chosen by its ``schema`` (a result when it names none)."""
    data = json.loads(text)
    schema = data.get("schema") if isinstance(data, dict) else None
    return _BY_SCHEMA.get(schema, ResultDocument).model_validate(data)
