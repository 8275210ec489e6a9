"""scale core: YOLO detector finds the ruler, :func:`read_ruler` reads it, plausibility guards it.

Cog-like: ``ScalePredictor(settings).setup()`` once, then ``predict(rgb) -> ScaleResult``.
"""
from __future__ import annotations

import numpy as np

from ..config import Settings
from ..models import load_yolo, model_info, resolve_device
from ..results import Digit, ScaleResult
from .ruler import RulerReading, read_ruler

# A herbarium sheet is ~29 × 42 cm; scans add margins or crop a little. A factor implying
# the image's long side is shorter or longer than this is not a ruler we read correctly.
PLAUSIBLE_LONG_SIDE_CM = (15.0, 120.0)
CROP_MARGIN = 0.08   # of the box's short side: detectors clip tick ends
MAX_CANDIDATES = 3


def plausibility_reason(px_per_cm: float, hw: tuple[int, int]) -> str | None:
    long_cm = max(hw) / px_per_cm
    lo, hi = PLAUSIBLE_LONG_SIDE_CM
    if not lo <= long_cm <= hi:
        return (f"implausible for a herbarium sheet: {px_per_cm:.1f} px/cm makes the image "
                f"{long_cm:.0f} cm long (expected {lo:.0f}–{hi:.0f} cm)")
    return None


def crop_box(rgb: np.ndarray, box) -> tuple[np.ndarray, int, int]:
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = box
    m = CROP_MARGIN * min(x2 - x1, y2 - y1)
    x1, y1 = int(max(0, x1 - m)), int(max(0, y1 - m))
    x2, y2 = int(min(w, x2 + m)), int(min(h, y2 + m))
    return rgb[y1:y2, x1:x2], x1, y1


def reading_to_result(reading: RulerReading, box, det_conf: float, x0: int, y0: int,
                      hw: tuple[int, int], model) -> ScaleResult:
    digits = [Digit(value=d.value, conf=d.conf, x=round(d.x + x0, 1), y=round(d.y + y0, 1)) for d in reading.digits]
    common = dict(bbox=[round(float(v), 1) for v in box], detection_conf=round(float(det_conf), 4),
                  digits=digits, model=model,
                  ocr_px_per_cm=None if reading.ocr_px_per_cm is None else round(reading.ocr_px_per_cm, 3),
                  tick_px_per_cm=None if reading.tick_px_per_cm is None else round(reading.tick_px_per_cm, 3))
    if reading.px_per_cm is None:
        return ScaleResult.null(reading.reason or "ruler unreadable", **common)
    why = plausibility_reason(reading.px_per_cm, hw)
    if why:
        return ScaleResult.null(why, **common)
    return ScaleResult(status="ok", px_per_cm=round(reading.px_per_cm, 3), method=reading.method, **common)


class ScalePredictor:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.model = None
        self.info = None

    def setup(self) -> "ScalePredictor":
        if self.model is None:
            self.model = load_yolo(self.settings.scale_weights, "scale")
            self.info = model_info(self.settings.scale_weights)
        return self

    def detect(self, rgb: np.ndarray) -> list[tuple[list[float], float]]:
        res = self.model.predict(np.ascontiguousarray(rgb[..., ::-1]), imgsz=self.settings.scale_imgsz,
                                 conf=self.settings.scale_conf, verbose=False,
                                 device=resolve_device(self.settings.device))[0]
        boxes = res.boxes.xyxy.cpu().numpy().tolist()
        confs = res.boxes.conf.cpu().numpy().tolist()
        return sorted(zip(boxes, confs), key=lambda bc: -bc[1])[:MAX_CANDIDATES]

    def predict(self, rgb: np.ndarray) -> ScaleResult:
        self.setup()
        candidates = self.detect(rgb)
        if not candidates:
            return ScaleResult.null("no scale bar detected", model=self.info)
        results = []
        for box, conf in candidates:
            crop, x0, y0 = crop_box(rgb, box)
            if min(crop.shape[:2]) < 4:
                continue
            result = reading_to_result(read_ruler(crop), box, conf, x0, y0, rgb.shape[:2], self.info)
            if result.status == "ok":
                return result
            results.append(result)
        return results[0] if results else ScaleResult.null("scale box too small to read", model=self.info)
