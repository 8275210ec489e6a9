"""Pixel frames of the scale stage: the small upright view it searches, and the crops it reads.

Full-resolution scans (4000×6000 up to 7000×10000) are never processed whole: the search runs on
a view of at most VIEW_LONG_SIDE pixels, turned upright when the sheet lies askew, and each
candidate is cut from the original at a reading resolution of at most READ_LONG_SIDE pixels
for the whole sheet: native resolution up to 7000 px, 0.7 of it for a 7000×10000 scan. Only
the crop is resampled. (Reading at 3000 px, about 70 px/cm, lost small digits and blurred
mm ticks into "1"s on 4 of 25 held-out sheets above 115 px/cm; native reading is no slower,
since the first candidate is then read right.) Every frame keeps the affine map back to the
original image, so results are always reported in original pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..affine import map_box, map_points, scaling, shift, turn_keeping_all
from .ticks import comb_rows

VIEW_LONG_SIDE = 2000
READ_LONG_SIDE = 7000
TIGHT_MARGIN = 2.5     # a tightened crop keeps this many comb widths on each side of the comb,
TIGHT_MIN_REL = 0.02   # and at least this share of its length: the numbers printed beside the
                       # ticks, and the ruler's body (a strip about 1/40 as wide as long and more)
TIGHT_MAX_SHARE = 0.6  # a crop is tightened only where that leaves at most this share of it


@dataclass
class View:
    rgb: np.ndarray
    to_view: np.ndarray  # 3×3: original pixel → view pixel
    skew_deg: float


@dataclass
class Frame:
    crop: np.ndarray
    to_crop: np.ndarray  # 3×3: original pixel → crop pixel
    scale: float         # crop pixels per original pixel

    @property
    def shape(self) -> tuple[int, int]:
        return self.crop.shape[:2]

    def to_original(self, x: float, y: float) -> tuple[float, float]:
        p = map_points(np.linalg.inv(self.to_crop), [x, y])[0]
        return float(p[0]), float(p[1])

    def sub(self, x1: int, y1: int, x2: int, y2: int) -> "Frame":
        """The part of this frame's crop between those crop pixels, as a frame of its own."""
        return Frame(np.ascontiguousarray(self.crop[y1:y2, x1:x2]), shift(-x1, -y1) @ self.to_crop, self.scale)

    def box_to_original(self, box) -> list[float]:
        """The axis-aligned box, in original pixels, around a crop-pixel box (turned, if the
        crop was)."""
        return map_box(np.linalg.inv(self.to_crop), box)


def resize_area(img: np.ndarray, f: float) -> np.ndarray:
    if f >= 1.0:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def scaled_view(rgb: np.ndarray) -> View:
    """The sheet at the search resolution, as it lies."""
    h, w = rgb.shape[:2]
    small = resize_area(rgb, min(1.0, VIEW_LONG_SIDE / max(h, w)))
    return View(small, scaling(small.shape[1] / w), 0.0)


def turned_view(view: View, skew: float) -> View:
    """A view turned by ``skew`` degrees (see :func:`dominant_skew`); itself when 0."""
    if not skew:
        return view
    rot, (nw, nh) = turn_keeping_all(view.rgb.shape[:2], skew)
    # Outside the sheet: mid grey, neither paper nor ink.
    turned = cv2.warpAffine(view.rgb, rot[:2], (nw, nh), flags=cv2.INTER_LINEAR, borderValue=(128, 128, 128))
    return View(turned, rot @ view.to_view, skew)


def crop_candidate(rgb: np.ndarray, view: View, box, margin: float) -> Frame | None:
    """Cut a view box (grown by ``margin`` of its short side) from the original, at the reading
    resolution, upright. None when the box is degenerate."""
    h, w = rgb.shape[:2]
    read_f = min(1.0, READ_LONG_SIDE / max(h, w))
    x1, y1, x2, y2 = (float(v) for v in box)
    m = margin * min(x2 - x1, y2 - y1)
    x1, y1, x2, y2 = x1 - m, y1 - m, x2 + m, y2 + m
    view_f = float(np.hypot(*view.to_view[0, :2]))  # view pixels per original pixel
    k = read_f / view_f
    # Original pixels → reading pixels of the upright view, then the box's corner to 0.
    to_read = scaling(k) @ view.to_view
    bx1, by1, bx2, by2 = map_box(np.linalg.inv(view.to_view), (x1, y1, x2, y2))  # the box is in view pixels
    ox1, oy1 = max(0, int(np.floor(bx1))), max(0, int(np.floor(by1)))
    ox2, oy2 = min(w, int(np.ceil(bx2))), min(h, int(np.ceil(by2)))
    if ox2 - ox1 < 4 or oy2 - oy1 < 4:
        return None
    # Downscale the original region first (area averaging keeps 1-px ticks as faint lines;
    # a warp alone would alias them away), then turn and cut it.
    sub = resize_area(rgb[oy1:oy2, ox1:ox2], read_f)
    sub_f = sub.shape[1] / (ox2 - ox1)
    sub_to_orig = shift(ox1, oy1) @ scaling(1.0 / sub_f)
    rx1, ry1 = round(min(x1, x2) * k), round(min(y1, y2) * k)
    cw, ch = round((x2 - x1) * k), round((y2 - y1) * k)
    if cw < 4 or ch < 4:
        return None
    to_crop = shift(-rx1, -ry1) @ to_read
    warp = to_crop @ sub_to_orig
    if view.skew_deg == 0.0:
        # Pure shift: slice (exact pixels, no interpolation).
        dx, dy = int(round(-warp[0, 2])), int(round(-warp[1, 2]))
        crop = sub[max(0, dy):dy + ch, max(0, dx):dx + cw]
        to_crop = shift(-max(0, dx), -max(0, dy)) @ np.linalg.inv(sub_to_orig)
        if min(crop.shape[:2]) < 4:
            return None
        return Frame(np.ascontiguousarray(crop), to_crop, sub_f)
    crop = cv2.warpAffine(sub, warp[:2], (cw, ch), flags=cv2.INTER_LINEAR, borderValue=(128, 128, 128))
    return Frame(crop, to_crop, sub_f)


def tightened(frame: Frame) -> Frame | None:
    """The crop cut down, across the ruler, to its strongest tick comb and what lies beside it;
    None when it has no comb or is already about that tight.

    A candidate box holds what the detector or the tick search saw around the ruler: a colour
    target's numbered patches and the printed table of their values, at the sheet's edge, give
    the reader more numbers than the ruler has, and glyph rows of their own. Read alone, the
    ruler's strip is read."""
    gray = cv2.cvtColor(frame.crop, cv2.COLOR_RGB2GRAY) if frame.crop.ndim == 3 else frame.crop
    h, w = gray.shape
    vertical = h > w
    rows = comb_rows(np.ascontiguousarray(gray.T) if vertical else gray)
    if rows is None:
        return None
    lo, hi = rows
    margin = max(TIGHT_MARGIN * (hi - lo), TIGHT_MIN_REL * max(h, w))
    across = w if vertical else h
    a, b = max(0, int(lo - margin)), min(across, int(np.ceil(hi + margin)))
    if b - a > TIGHT_MAX_SHARE * across or b - a < 4:
        return None
    return frame.sub(a, 0, b, h) if vertical else frame.sub(0, a, w, b)
