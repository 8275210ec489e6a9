"""Drawing helpers shared by every organ: a crop canvas, the organ record, low-resolution painting.

Masks are drawn at full resolution (they are the ground truth, exact to the pixel). Colours are
painted at no more than :data:`PAINT_PPC` px/cm over the whole crop and upscaled once: detail
finer than a quarter millimetre is lost when a sheet is downscaled for the model anyway, and a
250 px/cm sheet would otherwise cost seconds per leaf. Painting the whole crop (not just the
mask) keeps the upscaled colour valid right up to the mask's edge.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import cv2
import numpy as np

from ..results import ORGAN_CLASSES
from .paper import smooth_noise

SHIFT = 4  # cv2 fixed-point bits for sub-pixel polygons/lines
ONE = 1 << SHIFT
PAINT_PPC = 40.0


@dataclass
class OrganDrawing:
    cls: str
    x: int                     # crop top-left in sheet pixels
    y: int
    mask: np.ndarray           # h×w bool: the organ's pixels before occlusion
    painter: Callable[[], np.ndarray]   # returns the h×w×3 uint8 colour patch (lazy: only
    meta: dict = field(default_factory=dict)   # organs that get placed are painted)
    _rgb: Optional[np.ndarray] = None

    @property
    def rgb(self) -> np.ndarray:
        """h×w×3 uint8 colours (meaningful under ``mask``), painted on first access."""
        if self._rgb is None:
            self._rgb = self.painter()
        return self._rgb

    @property
    def class_id(self) -> int:
        return ORGAN_CLASSES.index(self.cls)


def rot(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s], [s, c]])


def to_fixed(pts: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(pts, np.float64) * ONE).astype(np.int32)


class Canvas:
    """A crop of the sheet around points given in sheet pixels, with a low-resolution twin for
    painting (``s`` = low-res pixels per full-res pixel)."""

    def __init__(self, pts_px: np.ndarray, pad: float, ppc: float):
        pts_px = np.asarray(pts_px, np.float64).reshape(-1, 2)
        x0 = int(np.floor(pts_px[:, 0].min() - pad))
        y0 = int(np.floor(pts_px[:, 1].min() - pad))
        x1 = int(np.ceil(pts_px[:, 0].max() + pad)) + 1
        y1 = int(np.ceil(pts_px[:, 1].max() + pad)) + 1
        self.x, self.y = x0, y0
        self.w, self.h = max(1, x1 - x0), max(1, y1 - y0)
        self.mask = np.zeros((self.h, self.w), np.uint8)
        self.ppc = ppc
        self.s = min(1.0, PAINT_PPC / ppc)
        self.lw, self.lh = max(2, int(round(self.w * self.s))), max(2, int(round(self.h * self.s)))

    # full-resolution drawing (masks); points in sheet pixels, continuous convention
    def local(self, pts_px) -> np.ndarray:
        # continuous → cv2 pixel-centre coords: cv2 draws point p on pixel round(p)
        return np.asarray(pts_px, np.float64) - np.array([self.x, self.y]) - 0.5

    def poly(self, img: np.ndarray, pts_px, value, low: bool = False) -> None:
        cv2.fillPoly(img, [to_fixed(self._pts(pts_px, low))], value, cv2.LINE_8, SHIFT)

    def polyline(self, img: np.ndarray, pts_px, value, thick_px: float, low: bool = False,
                 closed: bool = False) -> None:
        t = max(1, int(round(thick_px * (self.s if low else 1.0))))
        cv2.polylines(img, [to_fixed(self._pts(pts_px, low))], closed, value, t,
                      cv2.LINE_AA if low else cv2.LINE_8, SHIFT)

    def line(self, img: np.ndarray, p, q, value, thick_px: float, low: bool = False) -> None:
        a, b = to_fixed(self._pts(np.array([p, q]), low))
        t = max(1, int(round(thick_px * (self.s if low else 1.0))))
        cv2.line(img, tuple(int(v) for v in a), tuple(int(v) for v in b), value, t,
                 cv2.LINE_AA if low else cv2.LINE_8, SHIFT)

    def _pts(self, pts_px, low: bool) -> np.ndarray:
        q = self.local(pts_px)
        if low:  # low-res pixel centres: (q + 0.5) * s - 0.5
            q = (q + 0.5) * [self.lw / self.w, self.lh / self.h] - 0.5
        return q

    # low-resolution painting
    def low_zeros(self, ch: int = 0, dtype=np.float32) -> np.ndarray:
        return np.zeros((self.lh, self.lw) + ((ch,) if ch else ()), dtype)

    def low_mask(self, mask: Optional[np.ndarray] = None) -> np.ndarray:
        """The (full-res) mask as a soft float mask at painting resolution."""
        m = (self.mask if mask is None else mask).astype(np.float32)
        if (self.lh, self.lw) == m.shape:
            return m
        return cv2.resize(m, (self.lw, self.lh), interpolation=cv2.INTER_AREA)

    def noise(self, rng: np.random.Generator, cell_cm: float) -> np.ndarray:
        """Smooth noise in about [-1, 1] with features of about ``cell_cm``."""
        cells = max(2.0, max(self.w, self.h) / (self.ppc * cell_cm))
        return smooth_noise(rng, self.lh, self.lw, cells)

    def grain(self, rng: np.random.Generator, amount: float) -> np.ndarray:
        g = rng.normal(0, 1, (self.lh, self.lw)).astype(np.float32)
        return cv2.GaussianBlur(g, (0, 0), 0.7) * amount

    def upscale(self, low_rgb: np.ndarray) -> np.ndarray:
        img = np.clip(low_rgb, 0, 255).astype(np.uint8)
        if (self.lh, self.lw) != (self.h, self.w):
            img = cv2.resize(img, (self.w, self.h), interpolation=cv2.INTER_LINEAR)
        return img


def rim(low_mask: np.ndarray, width_low_px: float) -> np.ndarray:
    """0..1 weight that rises towards the mask's edge (for darker or paler margins)."""
    k = max(1.0, width_low_px)
    inner = cv2.GaussianBlur(low_mask, (0, 0), k)
    return np.clip((low_mask - inner) * 2.0 + (1.0 - low_mask) * 0.0, 0, 1)


def finish(cls: str, cv: Canvas, painter: Callable[[], np.ndarray], meta=None) -> Optional[OrganDrawing]:
    m = cv.mask > 0
    if not m.any():
        return None
    return OrganDrawing(cls, cv.x, cv.y, m, painter, meta or {})


def reflection(p0: np.ndarray, d: np.ndarray) -> np.ndarray:
    """2×3 affine that mirrors points across the line through p0 along unit direction d."""
    d = np.asarray(d, np.float64) / np.linalg.norm(d)
    r = 2 * np.outer(d, d) - np.eye(2)
    return np.hstack([r, (np.asarray(p0) - r @ p0)[:, None]])


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    return pts @ m[:, :2].T + m[:, 2]
