"""The upright views of a ruler crop, each read: its numbers (OCR) and their digit-spacing fits.

A crop is read in the two quarter turns that lay its long axis along x (the ruler may be upside
down); each view keeps its OCR image, its unfiltered tick image and the numbers found on it, in
the view's upscaled pixels, with the maps back to the crop's own frame.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..results import Digit
from .ocr import (OCR_DIGIT_PX, OCR_MAX_UPSCALE, cc_char_boxes, dark_body, prepare_for_ocr,
                  tesseract_digits, tick_view)
from .spacing import SpacingEstimate, fit_digit_rows


def upright_views(gray: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """The two rotations (in quarter turns, counter-clockwise) that lay the long axis along x."""
    h, w = gray.shape
    ks = (0, 2) if w >= h else (1, 3)
    return [(k, np.ascontiguousarray(np.rot90(gray, k))) for k in ks]


def to_crop_coords(x: float, y: float, k: int, crop_hw: tuple[int, int]) -> tuple[float, float]:
    """Map a point of ``np.rot90(crop, k)`` back to the crop's own pixel frame."""
    h, w = crop_hw
    if k == 0:
        return x, y
    if k == 1:
        return w - 1 - y, x
    if k == 2:
        return w - 1 - x, h - 1 - y
    return y, h - 1 - x


def axis_to_crop(x: float, k: int, crop_hw: tuple[int, int]) -> float:
    """A position along the upright view's x axis → the crop's coordinate along the same axis."""
    h, w = crop_hw
    return {0: x, 1: x, 2: w - 1 - x, 3: h - 1 - x}[k]


def cross_to_crop(y: float, k: int, crop_hw: tuple[int, int]) -> float:
    """A position along the upright view's y axis → the crop's coordinate along the same axis."""
    h, w = crop_hw
    return {0: y, 1: w - 1 - y, 2: h - 1 - y, 3: y}[k]


@dataclass
class ViewReading:
    """One reading of the numbers of one upright view: ``np.rot90(crop, k)`` upscaled by ``scale``;
    digit centres and ``digit_height`` are in that view's pixels."""

    k: int
    img: np.ndarray          # OCR image: upscaled, dark-on-light, bilateral-filtered
    scale: float
    digits: list[Digit]
    fits: list[SpacingEstimate]
    digit_height: float
    tick_img: np.ndarray | None = None  # same geometry, *unfiltered*: the bilateral filter
                                         # smears 1-px mm ticks into the background

    @property
    def support(self) -> tuple[int, float]:
        if not self.fits:
            return (0, 0.0)
        f = self.fits[0]
        return (len({d.value for d in f.digits}), -f.residual_px)


def read_view(k: int, gray_upright: np.ndarray, min_conf: float, flip: bool | None = None) -> list[ViewReading]:
    """OCR one upright view, one ViewReading per number reading (see ``ocr.tesseract_digits``).
    ``flip`` forces the polarity (None: dark-bodied views are inverted)."""
    img, f = prepare_for_ocr(gray_upright, flip=flip)
    # Size the upscale by the digits themselves, not the crop: a wide ruler with small numbers
    # would otherwise hand Tesseract 15-px glyphs.
    blobs = cc_char_boxes(img)
    if blobs:
        h_digit = float(np.median([b[4] - b[2] for b in blobs]))
        want = min(OCR_MAX_UPSCALE, f * OCR_DIGIT_PX / max(h_digit, 1.0))
        if h_digit < 0.75 * OCR_DIGIT_PX and want > f * 1.15:
            img, f = prepare_for_ocr(gray_upright, want, flip=flip)
    readings, h = tesseract_digits(img)
    ticks = tick_view(gray_upright, f, flip)
    views = []
    for digits in readings.values():
        confident = [d for d in digits if d.conf > min_conf]
        views.append(ViewReading(k, img, f, digits, fit_digit_rows(confident, row_tol=max(6.0, 0.5 * h)), h, ticks))
    return views


def _view_threads() -> int:
    """2, unless this process was sized to one core: ``HERBMORPH_THREADS`` (set by a runtime slot
    from the FDL's ``cpu``, and by a batch worker from ``--threads``), else the CPUs it may run on.
    Not ``OMP_NUM_THREADS``: importing Ultralytics sets that to 1 wherever it was unset."""
    try:
        return 1 if int(os.environ.get("HERBMORPH_THREADS", "")) < 2 else 2
    except ValueError:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return min(2, cpus)


def read_views(gray: np.ndarray, min_conf: float, other_polarity: bool = False) -> list[ViewReading]:
    """Both upright views, read side by side: most of the time is Tesseract, which releases the
    GIL, so two views use two cores where the machine has them (same views, same order)."""
    def read(kg: tuple[int, np.ndarray]) -> list[ViewReading]:
        k, g = kg
        return read_view(k, g, min_conf, flip=(not dark_body(g)) if other_polarity else None)

    if _view_threads() == 1:
        return [v for kg in upright_views(gray) for v in read(kg)]
    return [v for vs in _view_pool().map(read, upright_views(gray)) for v in vs]


_pool: tuple[int, ThreadPoolExecutor] | None = None


def _view_pool() -> ThreadPoolExecutor:
    """Two threads kept for the process's life: each keeps its Tesseract engines loaded
    (``ocr.engine`` is per thread), where a pool per call would load them again every time.
    Made anew after a fork (batch workers and the runtime's zygote fork), whose child has no
    threads."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(max_workers=2, thread_name_prefix="ruler-view"))
    return _pool[1]


def digits_in_crop(view: ViewReading, hw: tuple[int, int]) -> list[Digit]:
    """The view's numbers in the crop's own pixels (``hw``: the crop's height and width)."""
    out = []
    for d in view.digits:
        x, y = to_crop_coords(d.x / view.scale, d.y / view.scale, view.k, hw)
        out.append(Digit(value=d.value, conf=round(d.conf, 1), x=round(x, 1), y=round(y, 1)))
    return out
