"""The one home of herbmorph's typed results.

Every stage core returns one of these and every adapter (CLI, OSCAR handler, embedded runtime,
DEEPaaS, batch) serialises them with :func:`to_json`, so the documents are byte-identical
whichever way an image travelled (timings aside).
"""
from __future__ import annotations

import json
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

ORGAN_CLASSES: tuple[str, ...] = ("leaf", "stem", "flower", "fruit", "root", "seed")
SCALE_CLASSES: tuple[str, ...] = ("scale",)

RESULT_SCHEMA = "herbmorph/result/1"
ERROR_SCHEMA = "herbmorph/error/1"

BBox = list[float]  # [x1, y1, x2, y2] in original-image pixels


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class ImageInfo(_Model):
    uri: str
    sha256: Optional[str] = None
    width: Optional[int] = None
    height: Optional[int] = None
    size_bytes: Optional[int] = None


class ModelInfo(_Model):
    name: str
    sha256: str


class Organ(_Model):
    id: int
    class_: str = Field(alias="class")
    confidence: float
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


def to_json(doc: BaseModel) -> str:
    """Canonical serialisation shared by every adapter."""
    return json.dumps(doc.model_dump(mode="json", by_alias=True), indent=2, ensure_ascii=False) + "\n"


def from_json(text: str | bytes) -> ResultDocument | ErrorDocument:
    data = json.loads(text)
    if data.get("schema") == ERROR_SCHEMA:
        return ErrorDocument.model_validate(data)
    return ResultDocument.model_validate(data)
