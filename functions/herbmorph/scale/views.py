"""The upright views of a ruler crop, each read: its numbers (OCR) and their digit-spacing fits.

A crop is read in the two quarter turns that lay its long axis along x (the ruler may be upside
down); each view keeps its OCR image, its unfiltered tick image and the numbers found on it, in
the view's upscaled pixels, with the maps back to the crop's own frame. A crop is prepared once
(upscale, filter, glyph blobs) and read lazily: the reader asks for a second reading of the
numbers, or the other polarity, only when the first is not confirmed.

Small numbers are read at a large upscale (digits of OCR_DIGIT_PX). Upscaling and filtering the
whole crop at that scale was half the reader's time on real scans, so the glyphs are searched at
FIND_SHARE of it, the tick lattice is measured on the (cheap, unfiltered) full-scale upscale, and
only the numbers' own patches are upscaled and filtered fully for Tesseract.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..results import Digit
from .layout import NumberLayout, ReadingSource, half_turn_boxes
from .ocr import (CC_MIN_H, OCR_DIGIT_PX, OCR_MAX_UPSCALE, cc_char_boxes, dark_body, ocr_image, tick_view,
                  upscale_for)
from .spacing import SpacingEstimate, fit_digit_rows


FIND_SHARE = 0.5  # where the numbers must be upscaled to be read, their glyphs are searched at
                  # this share of the reading scale (a quarter of the pixels)


def long_axis_turn(gray: np.ndarray) -> int:
    """Quarter turns (counter-clockwise) that lay the crop's long axis along x: 0 or 1."""
    h, w = gray.shape
    return 0 if w >= h else 1


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
    img: np.ndarray          # OCR image the glyphs were searched in: upscaled, dark-on-light, filtered
    scale: float
    digits: list[Digit]
    fits: list[SpacingEstimate]
    digit_height: float
    tick_img: np.ndarray | None = None  # same geometry, *unfiltered*: the bilateral filter
                                         # smears 1-px mm ticks into the background
    reading: str = "printed"             # which of ocr.NUMBER_READINGS

    @property
    def support(self) -> tuple[int, float]:
        if not self.fits:
            return (0, 0.0)
        f = self.fits[0]
        return (len({d.value for d in f.digits}), -f.residual_px)


@dataclass
class PreparedView:
    """One upright view of a crop, ready to read: its tick image and glyph blobs at the reading
    scale, the filtered image the glyphs were searched in, and where Tesseract's patches come
    from. The number layout (which may need Tesseract's own layout pass) is found on first use,
    in the thread that reads the view."""

    k: int
    img: np.ndarray      # filtered (OCR) image the glyphs were searched in, at 1/zoom of ``scale``
    ticks: np.ndarray    # unfiltered, at the reading scale
    scale: float         # reading pixels per crop pixel
    blobs: list[tuple]   # glyph blobs, reading pixels
    zoom: float = 1.0
    source: ReadingSource | None = None  # where patches are upscaled from (None: cut from img)
    _layout: NumberLayout | None = None

    @property
    def layout(self) -> NumberLayout:
        if self._layout is None:
            self._layout = NumberLayout.find(self.img, self.blobs, self.zoom, self.source, self.ticks)
        return self._layout

    def half_turned(self) -> "PreparedView":
        """The same view turned by half a turn (the ruler upside down). Resampling, the
        bilateral filter, both thresholds and the connected components are all symmetric under
        a half turn, so the arrays and blobs are turned rather than computed again."""
        return PreparedView((self.k + 2) % 4, np.ascontiguousarray(self.img[::-1, ::-1]),
                            np.ascontiguousarray(self.ticks[::-1, ::-1]), self.scale,
                            half_turn_boxes(self.blobs, self.ticks.shape), self.zoom,
                            self.source and self.source.half_turned())


def _filter_diameter(zoom: float) -> int:
    """The bilateral filter's diameter at 1/zoom of the reading scale: 9 at the reading scale,
    in proportion below it (odd, at least 3). A fixed 9 px at half the scale glues small digits
    to the ticks beside them: on the real LM2 scans about 40% of the glyphs found at full scale
    were lost, against 5-15% with the diameter scaled."""
    return max(3, int(round(9 / zoom)) | 1)


def prepare_view(k: int, gray_upright: np.ndarray, flip: bool | None = None,
                 find_share: float = FIND_SHARE) -> PreparedView:
    """Upscale, polarity and glyph blobs of one upright view. ``flip`` forces the polarity
    (None: dark-bodied views are inverted); ``find_share``: the share of the reading scale the
    glyphs are searched at, where the numbers must be upscaled (1: at the reading scale)."""
    f = upscale_for(gray_upright)
    ticks, invert = tick_view(gray_upright, f, flip)
    first, first_invert = ticks, invert
    img = ocr_image(ticks)
    blobs = cc_char_boxes(img)
    # Size the reading scale by the digits themselves, not the crop: a wide ruler with small
    # numbers would otherwise hand Tesseract 15-px glyphs. The glyphs are then searched at
    # FIND_SHARE of that scale, and only the numbers' patches are upscaled and filtered fully.
    if blobs:
        h_digit = float(np.median([b[4] - b[2] for b in blobs]))
        want = min(OCR_MAX_UPSCALE, f * OCR_DIGIT_PX / max(h_digit, 1.0))
        if h_digit < 0.75 * OCR_DIGIT_PX and want > f * 1.15:
            read_f = upscale_for(gray_upright, want)
            ticks, invert = tick_view(gray_upright, read_f, flip)
            find_f = max(f, find_share * read_f)
            if find_f >= read_f:
                img = ocr_image(ticks)
                return PreparedView(k, img, ticks, read_f, cc_char_boxes(img))
            # Searched at the first pass's own scale, in its polarity: that view is at hand.
            found = first if (find_f, invert) == (f, first_invert) else tick_view(gray_upright, find_f, invert)[0]
            zoom = ticks.shape[1] / found.shape[1]
            img = ocr_image(found, _filter_diameter(zoom))
            blobs = [(t, *(v * zoom for v in b))
                     for t, *b in cc_char_boxes(img, max(4, round(CC_MIN_H / zoom)))]
            return PreparedView(k, img, ticks, read_f, blobs, zoom, ReadingSource(gray_upright, read_f, invert))
    return PreparedView(k, img, ticks, f, blobs)


def prepare_views(gray: np.ndarray, other_polarity: bool = False, find_share: float = FIND_SHARE
                  ) -> list[PreparedView]:
    """The two upright views of a crop (the quarter turns that lay its long axis along x; the
    ruler may be upside down), prepared once and half-turned.
    ``other_polarity``: the polarity the median did not choose (it fails on a dark ruler in a
    crop of mostly light paper, or the reverse)."""
    k = long_axis_turn(gray)
    g = np.ascontiguousarray(np.rot90(gray, k))
    view = prepare_view(k, g, (not dark_body(g)) if other_polarity else None, find_share)
    return [view, view.half_turned()]


def read_as(view: PreparedView, reading: str, min_conf: float) -> ViewReading:
    """One reading (of ocr.NUMBER_READINGS) of a prepared view, with its digit-spacing fits."""
    lay = view.layout
    digits = lay.read(reading)
    confident = [d for d in digits if d.conf > min_conf]
    fits = fit_digit_rows(confident, row_tol=max(6.0, 0.5 * lay.height))
    return ViewReading(view.k, view.img, view.scale, digits, fits, lay.height, view.ticks, reading)


def reading_threads() -> int:
    """2, unless this process was sized to one core: ``HERBMORPH_THREADS`` (set by a runtime slot
    from the FDL's ``cpu``, and by a batch worker from ``--threads``), else the CPUs it may run on.
    Not ``OMP_NUM_THREADS``: importing Ultralytics sets that to 1 wherever it was unset."""
    try:
        return 1 if int(os.environ.get("HERBMORPH_THREADS", "")) < 2 else 2
    except ValueError:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return min(2, cpus)


def read_views(views: list[PreparedView], reading: str, min_conf: float) -> list[ViewReading]:
    """One reading of each prepared view, side by side: most of the time is Tesseract, which
    releases the GIL, so two views use two cores where the machine has them (same order)."""
    if reading_threads() == 1:
        return [read_as(v, reading, min_conf) for v in views]
    return list(reader_pool().map(lambda v: read_as(v, reading, min_conf), views))


_pool: tuple[int, ThreadPoolExecutor] | None = None


def reader_pool() -> ThreadPoolExecutor:
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
