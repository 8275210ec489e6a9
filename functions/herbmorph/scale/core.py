"""scale core: find the ruler, read it, guard the answer.

Cog-like: ``ScalePredictor(settings).setup()`` once, then ``predict(rgb) -> ScaleResult``.

Where to look comes from two witnesses: the YOLO detector and a model-free search for periodic
tick texture (:mod:`.proposals`), both run on one small "view" of the sheet, turned upright
when the sheet was photographed askew. Each candidate is then cut from the full image at a
bounded reading resolution (:mod:`.frames`) and read there; :func:`read_ruler` decides.
Any failure inside the stage is a null with its reason, never an error for the sheet.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager

import cv2
import numpy as np

from ..affine import map_box
from ..boxes import covers_smaller
from ..config import Settings
from ..errors import brief
from ..models import load_yolo, model_info, resolve_device
from ..results import Digit, ScaleResult
from .frames import Frame, crop_candidate, scaled_view, tightened, turned_view
from .proposals import column_proposals, dominant_skew, find_proposals, row_proposals, strongest
from .ruler import RulerReading, read_ruler
from .scalebar import LABELLED_BAR_REASONS, find_bars, label_region, read_scalebar
from .views import reader_pool, reading_threads

log = logging.getLogger(__name__)

# A herbarium sheet is ~29 × 42 cm; scans add margins or crop a little. A factor implying
# the image's long side is shorter or longer than this is not a ruler we read correctly.
PLAUSIBLE_LONG_SIDE_CM = (15.0, 120.0)
CROP_MARGIN = 0.08   # of the box's short side: detectors clip tick ends
MAX_CANDIDATES = 3   # detector clusters read per sheet, best supported first
MAX_PROPOSALS = 2    # tick-texture proposals read per sheet beyond them
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


def fit_box_to_reading(box, reading: RulerReading, x0: int, y0: int) -> list[float]:
    """Trim a (merged, generous) box to what the reading found: along the ruler, the ticks and
    numbers plus END_MARGIN_CM at each end; across it, the ticks, numbers and the ruler body
    around them plus SIDE_MARGIN_CM. Never grows the box."""
    if reading.axis_span is None or not reading.px_per_cm:
        return list(box)
    lo, hi = reading.axis_span
    m = (END_MARGIN_CM if reading.runs_past_ends else SIDE_MARGIN_CM) * reading.px_per_cm
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


def reading_to_result(reading: RulerReading, frame: Frame, det_conf: float,
                      hw: tuple[int, int], model) -> ScaleResult:
    """A reading of a crop (in the crop's pixels) as a result in the original image's pixels."""
    digits = []
    for d in reading.digits:
        x, y = frame.to_original(d.x, d.y)
        digits.append(Digit(value=d.value, conf=d.conf, x=round(x, 1), y=round(y, 1)))
    ch, cw = frame.shape
    per_px = 1.0 / frame.scale  # crop pixels are read_f original pixels

    def orig(v: float | None) -> float | None:
        return None if v is None else round(v * per_px, 3)

    common = dict(bbox=[round(float(v), 1) for v in frame.box_to_original((0, 0, cw, ch))],
                  detection_conf=round(float(det_conf), 4), digits=digits, model=model,
                  ocr_px_per_cm=orig(reading.ocr_px_per_cm), tick_px_per_cm=orig(reading.tick_px_per_cm))
    if reading.px_per_cm is None:
        return ScaleResult.null(reading.reason or "ruler unreadable", **common)
    px_per_cm = reading.px_per_cm * per_px
    why = plausibility_reason(px_per_cm, hw)
    if why:
        return ScaleResult.null(why, **common)
    trimmed = fit_box_to_reading((0.0, 0.0, float(cw), float(ch)), reading, 0, 0)
    common["bbox"] = [round(float(v), 1) for v in frame.box_to_original(trimmed)]
    return ScaleResult(status="ok", px_per_cm=round(px_per_cm, 3), method=reading.method, **common)


def coarse_proposals(gray: np.ndarray, seen: list[list[float]]) -> list[tuple[float, ...]]:
    """Tick-comb proposals on the view at half size, where combs up to twice the search's longest
    period fall inside it, and are seen whole: an inch-only colour target's 1/8-inch ticks on a
    7690x10314 scan lie 15 view pixels apart, and the first search saw them only in fragments,
    ranked below two other proposals. Boxes in view pixels, those already read left out."""
    if min(gray.shape) < 2:
        return []
    half = cv2.resize(gray, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    boxes = [tuple(2.0 * v for v in p.box) for p in find_proposals(half)]
    return [b for b in boxes if not any(covers_smaller(b, s, 0.5) for s in seen)][:MAX_PROPOSALS]


@contextmanager
def opencv_threads(n: int):
    """OpenCV's own threads for the duration of the stage. Importing Ultralytics turns them off
    for the whole process (for its data loaders); the reader's resampling and filtering then run
    on one core where the stage was given two (measured: the bilateral filter 1.9x faster)."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def candidate_boxes(detected: list[tuple[list[float], float]], proposals) -> list[tuple[list[float], float]]:
    """Detector clusters first; a tick proposal overlapping one widens it to the proposal's
    extent (a small detector often boxes half a ruler), the others follow as candidates of
    their own. Confidence of a proposal-only candidate is 0: no model vouched for it."""
    boxes = [(list(b), c) for b, c in detected[:MAX_CANDIDATES]]
    extra = []
    for p in proposals:
        for i, (b, c) in enumerate(boxes):
            if covers_smaller(p.box, b, 0.3):
                boxes[i] = ([min(b[0], p.box[0]), min(b[1], p.box[1]), max(b[2], p.box[2]), max(b[3], p.box[3])], c)
                break
        else:
            extra.append((list(p.box), 0.0))
    return boxes + extra[:MAX_PROPOSALS]


class ScalePredictor:
    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.model = None
        self.info = None

    def setup(self) -> "ScalePredictor":
        # Tesseract's OpenMP threads cost more than they give on ruler crops, and far more when
        # other work shares the cores (measured: the scale stage 2x slower on 2 busy cores).
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")
        if self.model is None:
            self.model = load_yolo(self.settings.scale_weights, "scale")
            self.info = model_info(self.settings.scale_weights)
        return self

    def detect(self, view_rgb: np.ndarray, conf: float | None = None) -> list[tuple[list[float], float]]:
        conf = self.settings.scale_conf if conf is None else conf
        res = self.model.predict(np.ascontiguousarray(view_rgb[..., ::-1]), imgsz=self.settings.scale_imgsz,
                                 conf=conf, verbose=False,
                                 device=resolve_device(self.settings.device))[0]
        boxes = res.boxes.xyxy.cpu().numpy().tolist()
        confs = res.boxes.conf.cpu().numpy().tolist()
        raw = sorted(zip(boxes, confs), key=lambda bc: -bc[1])[:MAX_BOXES]
        return merge_boxes(raw)

    def predict(self, rgb: np.ndarray, conf: float | None = None) -> ScaleResult:
        """Never raises: a failure anywhere in the stage is a null with its reason, so the
        organs found by the other stages are still reported. ``conf``: this call's ruler-detector
        threshold (default: the settings')."""
        self.setup()
        try:
            with opencv_threads(reading_threads()):
                return self._predict(rgb, conf)
        except Exception as exc:  # noqa: BLE001 — the sheet's other results must survive
            log.exception("scale stage failed")
            return ScaleResult.null(f"scale reader failed: {brief(exc)}", model=self.info)

    def _predict(self, rgb: np.ndarray, conf: float | None) -> ScaleResult:
        view, gray, detected, proposals = self._search(rgb, conf)
        candidates = candidate_boxes(detected, proposals)
        results, read = [], []
        for box, conf in candidates:
            frame = crop_candidate(rgb, view, box, CROP_MARGIN)
            if frame is None:
                continue
            reading = self._reading(frame, read_ruler)
            result = reading_to_result(reading, frame, conf, rgb.shape[:2], self.info)
            if result.status == "ok":
                return result
            results.append(result)
            read.append((frame, conf, reading.glyphs_searched_small))
        # A second look, only where every candidate failed: each cut down to its tick comb; then
        # combs too coarse for the first search (see coarse_proposals); then scale bars; last,
        # the best candidate's numbers searched at the full reading scale.
        for frame, conf, _ in read:
            tight = tightened(frame)
            if tight is not None and (result := self._read(tight, conf, rgb.shape[:2])).status == "ok":
                return result
        for box in coarse_proposals(gray, [b for b, _ in candidates]):
            frame = crop_candidate(rgb, view, box, CROP_MARGIN)
            if frame is not None and (result := self._read(frame, 0.0, rgb.shape[:2])).status == "ok":
                return result
        bar = self._read_bars(rgb, view, gray)
        if bar is not None and (bar.status == "ok" or bar.reason.startswith(LABELLED_BAR_REASONS)):
            return bar
        if read and read[0][2]:
            # Its numbers were searched at a fraction of the reading scale. The full scale finds
            # other glyphs, and the ticks judged against another set of numbers can confirm
            # where they did not (2 of 172 synthetic sheets read only so). It costs about what
            # all the rest did: for the best candidate only, when nothing else was read.
            frame, conf, _ = read[0]
            result = self._read(frame, conf, rgb.shape[:2], full_search)
            if result.status == "ok":
                return result
            results[0] = result  # the fuller search's reason explains the null better
        if results:
            return results[0]
        return ScaleResult.null("no scale bar detected" if not candidates else "scale box too small to read",
                                model=self.info)

    def _search(self, rgb: np.ndarray, conf: float | None):
        """The view searched (upright), its grey, the detector's boxes and the tick proposals.

        Where there are two threads, everything runs on the view as it lies, at once: the
        sheet's skew and the tick search along rows in the reader pool, the detector and then
        the tick search along columns here. Only a sheet found askew (a few in a hundred) is
        searched again, turned."""
        view = scaled_view(rgb)
        gray = cv2.cvtColor(view.rgb, cv2.COLOR_RGB2GRAY)
        if reading_threads() == 1:
            view = turned_view(view, dominant_skew(gray))
            gray = cv2.cvtColor(view.rgb, cv2.COLOR_RGB2GRAY) if view.skew_deg else gray
            return view, gray, self.detect(view.rgb, conf), find_proposals(gray)
        pool = reader_pool()
        skew = pool.submit(dominant_skew, gray)
        rows = pool.submit(row_proposals, gray)
        detected = self.detect(view.rgb, conf)
        cols = column_proposals(gray)
        if skew.result():
            view = turned_view(view, skew.result())
            gray = cv2.cvtColor(view.rgb, cv2.COLOR_RGB2GRAY)
            ticks = pool.submit(find_proposals, gray)
            detected = self.detect(view.rgb, conf)
            return view, gray, detected, ticks.result()
        return view, gray, detected, strongest(rows.result() + cols)

    def _read_bars(self, rgb: np.ndarray, view, gray: np.ndarray) -> ScaleResult | None:
        """The first scale bar read, else the first bar's null; None where the view has no bar."""
        first = None
        for box in find_bars(gray):
            frame = crop_candidate(rgb, view, label_region(box, gray.shape), 0.0)
            if frame is None:
                continue
            hint = map_box(frame.to_crop @ np.linalg.inv(view.to_view), box)
            result = self._read(frame, 0.0, rgb.shape[:2], lambda crop: read_scalebar(crop, hint), "scale bar reader")
            if result.status == "ok":
                return result
            first = first or result
        return first

    def _read(self, frame: Frame, conf: float, hw: tuple[int, int], read=None, what: str = "reader"
              ) -> ScaleResult:
        """One candidate crop read (by ``read``: a scale bar's reader; a ruler's by default) as a
        result."""
        return reading_to_result(self._reading(frame, read or read_ruler, what), frame, conf, hw, self.info)

    @staticmethod
    def _reading(frame: Frame, read, what: str = "reader") -> RulerReading:
        try:
            return read(frame.crop)
        except Exception as exc:  # noqa: BLE001 — one bad candidate must not hide the next
            log.exception("%s failed on a candidate", what)
            return RulerReading(px_per_cm=None, reason=f"{what} failed: {brief(exc)}")


def full_search(crop: np.ndarray) -> RulerReading:
    """A ruler crop read with its numbers' glyphs searched at the full reading scale."""
    return read_ruler(crop, find_share=1.0)
