"""scale core: YOLO detector finds the ruler, :func:`read_ruler` reads it, plausibility guards it.

Cog-like: ``ScalePredictor(settings).setup()`` once, then ``predict(rgb) -> ScaleResult``.
"""
from __future__ import annotations

import os

import numpy as np

from ..boxes import covers_smaller
from ..config import Settings
from ..models import load_yolo, model_info, resolve_device
from ..results import Digit, ScaleResult
from .ruler import RulerReading, read_ruler

# A herbarium sheet is ~29 × 42 cm; scans add margins or crop a little. A factor implying
# the image's long side is shorter or longer than this is not a ruler we read correctly.
PLAUSIBLE_LONG_SIDE_CM = (15.0, 120.0)
CROP_MARGIN = 0.08   # of the box's short side: detectors clip tick ends
MAX_CANDIDATES = 3   # rulers (merged box clusters) read per sheet, best supported first
MAX_BOXES = 30       # raw detector boxes considered for clustering
MERGE_OVERLAP = 0.5  # boxes whose intersection covers this share of the smaller one merge
MERGE_MIN_REL = 0.2  # ... if at least this confident relative to the cluster's best box
END_MARGIN_CM = 0.7  # a ruler runs on about this far past its end ticks and numbers
SIDE_MARGIN_CM = 0.1  # across it, the reader finds the body's edge itself; this covers the
                      # edge's blur and shading, where the body's colour fades into the paper's


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


def merge_boxes(boxes: list[tuple[list[float], float]], overlap: float = MERGE_OVERLAP
                ) -> list[tuple[list[float], float]]:
    """Cluster overlapping detections into one box per object: (union box, best member's
    confidence), ordered by the members' summed confidence.

    A small detector at low resolution often sees a long ruler as several fragments, each of
    low confidence and none covering the whole ruler. Their union covers it, and their summed
    confidence ranks it above a single stray box. Reading a generous crop costs nothing in
    safety: the reader, not the box, decides the scale.
    """
    clusters: list[list] = []  # [union box, summed conf, max conf]
    for box, conf in sorted(boxes, key=lambda bc: -bc[1]):
        for cl in clusters:
            u = cl[0]
            if covers_smaller(box, u, overlap):
                if conf >= MERGE_MIN_REL * cl[2]:  # far weaker duplicates only loosen the box
                    cl[0] = [min(u[0], box[0]), min(u[1], box[1]), max(u[2], box[2]), max(u[3], box[3])]
                    cl[1] += conf
                break
        else:
            clusters.append([list(box), float(conf), float(conf)])
    return [(u, top) for u, _, top in sorted(clusters, key=lambda cl: -cl[1])]


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
    common["bbox"] = [round(float(v), 1) for v in fit_box_to_reading(box, reading, x0, y0)]
    return ScaleResult(status="ok", px_per_cm=round(reading.px_per_cm, 3), method=reading.method, **common)


def fit_box_to_reading(box, reading: RulerReading, x0: int, y0: int) -> list[float]:
    """Trim a (merged, generous) box to what the reading found: along the ruler, the ticks and
    numbers plus END_MARGIN_CM at each end; across it, the ticks, numbers and the ruler body
    around them plus SIDE_MARGIN_CM. Never grows the box."""
    if reading.axis_span is None or not reading.px_per_cm:
        return list(box)
    lo, hi = reading.axis_span
    m = END_MARGIN_CM * reading.px_per_cm
    c_lo, c_hi = reading.cross_span or (-np.inf, np.inf)
    s = SIDE_MARGIN_CM * reading.px_per_cm
    x1, y1, x2, y2 = (float(v) for v in box)
    if reading.rotation in (0, 180):
        x1, x2 = max(x1, x0 + lo - m), min(x2, x0 + hi + m)
        y1, y2 = max(y1, y0 + c_lo - s), min(y2, y0 + c_hi + s)
    else:
        y1, y2 = max(y1, y0 + lo - m), min(y2, y0 + hi + m)
        x1, x2 = max(x1, x0 + c_lo - s), min(x2, x0 + c_hi + s)
    if x2 <= x1 or y2 <= y1:
        return list(box)
    return [x1, y1, x2, y2]


class ScalePredictor:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.model = None
        self.info = None

    def setup(self) -> "ScalePredictor":
        # Tesseract's OpenMP threads cost more than they give on ruler crops, and far more when
        # other work shares the cores (measured: the scale stage 2x slower on 2 busy cores). One
        # thread per call, unless the deployment says otherwise; tesseract inherits our env.
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
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
        raw = sorted(zip(boxes, confs), key=lambda bc: -bc[1])[:MAX_BOXES]
        return merge_boxes(raw)[:MAX_CANDIDATES]

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
