"""segment core: YOLO11-seg organs → class, confidence, box, polygon, pixel area.

Stages follow KServe's naming (load / preprocess / predict / postprocess); the public surface is
Cog-like: construct once (``setup``), then call :meth:`SegmentPredictor.predict` per image.
Everything returned is in original-image pixels: the letterbox of the model input is undone here.

Masks follow the organ, not its predicted box (:mod:`.masks`), and each organ's ``bbox`` is its
mask's extent, so box, polygon and area describe the same pixels. Confidences are calibrated
probabilities when a calibration fitted on these very weights sits beside them
(:mod:`.calibration`); ``conf`` thresholds the calibrated value, and Ultralytics is asked for the
lowest raw score that can reach it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..config import Settings
from ..models import load_yolo, model_info, resolve_device
from ..results import Organ, SegmentResult
from .calibration import Calibration, load_for
from .classes import organ_class_map
from .masks import Letterbox, ProtoGrid, mask_extent, mask_polygon, organ_mask
from .raw import RawDetections, predict_raw

__all__ = ["Detection", "SegmentPredictor", "Letterbox", "mask_polygon"]


@dataclass(frozen=True)
class Detection:
    """One organ as the core found it, in original pixels."""

    organ_class: str
    confidence: float  # calibrated when the predictor has a calibration, else = raw_confidence
    raw_confidence: float  # the model's own score
    box: np.ndarray  # the box the detector predicted, xyxy
    extent: list[float]  # the mask's extent, xyxy (max + 1)
    polygon: list[list[float]]
    area_px: int


class SegmentPredictor:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.model = None
        self.info = None
        self.calibration: Calibration | None = None

    # -- load -------------------------------------------------------------------------------
    def setup(self) -> "SegmentPredictor":
        if self.model is None:
            self.model = load_yolo(self.settings.segment_weights, "segment")
            info = model_info(self.settings.segment_weights)
            # By name, never by index: a user's model may order, spell or extend its classes
            # otherwise (see segment.classes).
            self.class_map = organ_class_map(dict(self.model.names))
            self.calibration, state = load_for(self.settings.segment_weights, info.sha256)
            self.info = info.model_copy(update={"calibration": state})
        return self

    # -- preprocess / predict / postprocess ---------------------------------------------------
    @staticmethod
    def preprocess(rgb: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(rgb[..., ::-1])  # Ultralytics wants BGR arrays, like cv2

    def raw_conf(self, conf: float) -> float:
        """The threshold Ultralytics applies to its raw scores so that ``conf`` can apply after."""
        if self.calibration is None:
            return conf
        return self.calibration.raw_threshold(conf, {c for c in self.class_map.values() if c})

    def _infer(self, bgr: np.ndarray, imgsz: int, conf: float) -> RawDetections:
        return predict_raw(self.model, bgr, imgsz, self.raw_conf(conf), resolve_device(self.settings.device))

    def scored(self, raw: RawDetections) -> list[tuple[int, str, float, float]]:
        """(index, organ class, confidence, raw score) of each organ detection, best first."""
        out = []
        for i in range(len(raw)):
            organ_class = self.class_map.get(int(raw.classes[i]))
            if organ_class is None:
                continue  # a non-organ label of the user's model (a ruler, a barcode)
            s = float(raw.scores[i])
            p = s if self.calibration is None else float(self.calibration.apply(organ_class, s))
            out.append((i, organ_class, p, s))
        return sorted(out, key=lambda t: (-t[2], -t[3], t[0]))

    def detections(self, raw: RawDetections, orig_hw: tuple[int, int], conf: float) -> Iterator[Detection]:
        """Each organ detection calibrated to ≥ ``conf`` with its mask, best first."""
        if not len(raw):
            return
        lb = Letterbox.fit(orig_hw, raw.input_hw)
        grid = ProtoGrid(lb, raw.input_hw[0] / raw.protos.shape[1])
        for i, organ_class, p, s in self.scored(raw):
            if p < conf:
                continue
            box = raw.boxes[i].astype(np.float64)
            box = (box - [lb.pad_x, lb.pad_y, lb.pad_x, lb.pad_y]) / lb.gain  # model input → original
            out = organ_mask(raw.coeffs[i], raw.protos, box, grid, orig_hw)
            if out is None:
                continue
            local, x0, y0 = out
            polygon = mask_polygon(local, x0, y0)
            area = int(local.sum())
            if area and len(polygon) >= 3:
                yield Detection(organ_class, p, s, box, mask_extent(local, x0, y0), polygon, area)

    def postprocess(self, raw: RawDetections, orig_hw: tuple[int, int], imgsz: int, conf: float) -> SegmentResult:
        organs = [Organ(id=k, class_=d.organ_class, confidence=round(d.confidence, 4),
                        raw_confidence=round(d.raw_confidence, 4), bbox=d.extent, polygon=d.polygon,
                        area_px=float(d.area_px))
                  for k, d in enumerate(self.detections(raw, orig_hw, conf))]
        return SegmentResult(organs=organs, model=self.info, imgsz=imgsz, conf=conf)

    def predict(self, rgb: np.ndarray, imgsz: int | None = None, conf: float | None = None) -> SegmentResult:
        self.setup()
        imgsz = imgsz or self.settings.imgsz
        conf = self.settings.conf if conf is None else conf
        raw = self._infer(self.preprocess(rgb), imgsz, conf)
        return self.postprocess(raw, rgb.shape[:2], imgsz, conf)
