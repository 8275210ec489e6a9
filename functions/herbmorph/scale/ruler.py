"""Read one ruler crop: orientation, OCR of its numbers, tick-lattice confirmation, verdict.

Rule of the house: the digits name the unit, the ticks measure it, and anything short of two
agreeing witnesses is ``null`` with a reason. A null is a visible absence; a wrong factor
silently corrupts every area computed from it.

Each upright view is read in :mod:`.views` (numbers by :mod:`.ocr`, spacing by :mod:`.spacing`);
:mod:`.confirm` decides whether the ticks confirm a spacing; this module tries the fits in
order of support and reports the winner's spans in the crop's frame.
"""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from ..results import Digit
from .confirm import RulerReading, confirm_spacing, crowded_between, grows_along
from .spacing import SpacingEstimate, paper_px_per_unit
from .layout import NUMBER_READINGS
from .views import (FIND_SHARE, ViewReading, axis_to_crop, cross_to_crop, digits_in_crop, prepare_views,
                    read_views)

__all__ = ["RulerReading", "read_ruler"]

BODY_TOL_REL = 4.0      # a pixel is the ruler's own background within this many times the typical
                        # deviation of the ticks-and-numbers band from its median colour (shading,
                        # scanner and JPEG noise) ...
BODY_TOL_LEVELS = (8, 24)  # ... kept within these RGB levels
BODY_MIN_SHARE = 0.35   # a row still lies on the ruler where this share of it is that background:
                        # black cells fill half of a block ruler's rows
BODY_GAP_CM = 0.3       # lines along a ruler (a baseline, a frame, mm ticks blurred into a grey
                        # band at low resolution) are narrower than this


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb


def widen_over_body(rgb: np.ndarray, rows: tuple[int, int], cols: tuple[int, int],
                    px_per_cm: float) -> tuple[int, int]:
    """Grow a band of rows (upright view, ``cols`` the ruler's length) over the rows that are
    mostly the ruler's background, taken as the band's median colour (ink there is sparse).

    A ruler's body runs on past its ticks and numbers (margins, maker's text) but differs from
    the paper or scanner lid it lies on; where it does not, the band grows to the crop's edge,
    that is, nothing is trimmed on that side. Lines printed along the ruler (a baseline, a
    block ruler's frame) are crossed: growth stops only after BODY_GAP_CM without body.
    """
    strip = np.atleast_3d(rgb)[:, cols[0]:cols[1]].astype(np.int16)
    band = strip[rows[0]:rows[1]].reshape(-1, strip.shape[2])
    ref = np.median(band, axis=0)
    tol = np.clip(BODY_TOL_REL * np.median(np.abs(band - ref).max(axis=1)), *BODY_TOL_LEVELS)
    body = (np.abs(strip - ref).max(axis=2) <= tol).mean(axis=1) >= BODY_MIN_SHARE
    gap = max(1, int(BODY_GAP_CM * px_per_cm))
    lo, hi = rows[0], rows[1] - 1  # first and last row of the band
    while (more := np.flatnonzero(body[max(0, lo - gap):lo])).size:
        lo = max(0, lo - gap) + int(more[0])
    while (more := np.flatnonzero(body[hi + 1:hi + 1 + gap])).size:
        hi = hi + 1 + int(more[-1])
    return lo, hi + 1


def _finish(reading: RulerReading, view: ViewReading, digits_crop: list[Digit], crop_rgb: np.ndarray) -> RulerReading:
    """Spans from the upright view's frame to the crop's, the cross span first widened over the
    ruler's body."""
    hw = crop_rgb.shape[:2]
    reading.digits = digits_crop
    if reading.cross_span is not None:
        up = np.rot90(crop_rgb, view.k)
        rows = (max(0, int(reading.cross_span[0])), min(up.shape[0], int(np.ceil(reading.cross_span[1]))))
        cols = (max(0, int(reading.axis_span[0])), int(np.ceil(reading.axis_span[1])) + 1)
        lo, hi = widen_over_body(up, rows, cols, reading.px_per_cm)
        a, b = cross_to_crop(lo, view.k, hw), cross_to_crop(hi - 1, view.k, hw)  # first and last row
        reading.cross_span = (min(a, b), max(a, b) + 1)
    if reading.axis_span is not None:
        a, b = (axis_to_crop(v, view.k, hw) for v in reading.axis_span)
        reading.axis_span = (min(a, b), max(a, b))
    return reading


def read_ruler(crop_rgb: np.ndarray, min_conf: float = 75.0, find_share: float = FIND_SHARE) -> RulerReading:
    """The scale of one ruler crop, or a null with the reason of its best-supported reading;
    digits count as read above ``min_conf``. ``find_share``: where the numbers must be upscaled
    to be read, the share of that scale their glyphs are searched at (views.FIND_SHARE; 1: the
    full scale); a null says whether a smaller search was made (``glyphs_searched_small``).

    Readings are asked for in order of cost, and the first the ticks confirm wins: the numbers
    as printed in both upright views, then the glyph-only reading, then (when no reading found
    three numbers in sequence) the same in the other polarity."""
    gray = _gray(crop_rgb)
    tried: list[ViewReading] = []
    reasons: list[tuple[tuple[int, float], str]] = []  # (support of the view, why it failed)
    searched_small = False
    for other_polarity in (False, True):
        if other_polarity and max(v.support for v in tried)[0] >= 3:
            break
        # Polarity by the median fails on a dark ruler in a crop of mostly light paper (or the
        # reverse): read the other polarity too before giving up.
        prepared = prepare_views(gray, other_polarity, find_share)
        searched_small |= prepared[0].zoom > 1.0
        for reading in NUMBER_READINGS:
            batch = read_views(prepared, reading, min_conf)
            tried += batch
            # Best-supported view first; another reading of the numbers may still confirm where
            # the best one's fits do not (each is a separate witness, judged by the same rules).
            for view in sorted((v for v in batch if v.fits), key=lambda v: v.support, reverse=True):
                found = _confirm_fits(view, _peers(view, tried), gray, crop_rgb, reasons)
                if found is not None:
                    return found
    tried.sort(key=lambda v: v.support, reverse=True)
    best = tried[0]
    if not best.fits:  # no view found 3 numbers in sequence: two, with fine ticks, may do
        found = _confirm_pair(best, _peers(best, tried), gray, crop_rgb, reasons, min_conf)
        if found is not None:
            return found
    why = max(reasons, key=lambda sr: sr[0])[1]  # the first reason among the best supported
    return RulerReading(px_per_cm=None, reason=why, digits=digits_in_crop(best, gray.shape),
                        rotation=best.k * 90, glyphs_searched_small=searched_small)


def _peers(view: ViewReading, tried: list[ViewReading]) -> list[SpacingEstimate]:
    """The other readings' fits, in ``view``'s pixels."""
    return [replace(f, px_per_unit=f.px_per_unit / o.scale * view.scale)
            for o in tried if o is not view for f in o.fits]


def _confirm_fits(view: ViewReading, peers: list[SpacingEstimate], gray: np.ndarray, crop_rgb: np.ndarray,
                  reasons: list) -> RulerReading | None:
    """The first of a view's digit fits the ticks confirm, or None (reasons appended)."""
    for est in view.fits:
        reading, why = confirm_spacing(view, est, allow_cm_level=True, peers=peers)
        if reading:
            return _finish(reading, view, digits_in_crop(view, gray.shape), crop_rgb)
        reasons.append((view.support, why))
    return None


def _confirm_pair(view: ViewReading, peers: list[SpacingEstimate], gray: np.ndarray, crop_rgb: np.ndarray,
                  reasons: list, min_conf: float) -> RulerReading | None:
    """Two confident digits are too few to define a scale alone; with a resolved mm or
    1/16-inch lattice behind them they may still do (cm-level checks are not enough)."""
    paper = paper_px_per_unit([d for d in view.digits])
    if paper is not None and not grows_along(paper):
        why = "the two numbers read decrease along the ruler: one of them is misread"
    elif paper is not None and crowded_between(paper, view.digits, view.digit_height):
        why = "other numbers lie between the two read: not neighbours on a ruler (a table of figures?)"
    elif paper is not None:
        reading, why = confirm_spacing(view, paper, allow_cm_level=False, peers=peers)
        if reading:
            return _finish(reading, view, digits_in_crop(view, gray.shape), crop_rgb)
    else:
        n = sum(d.conf > min_conf for d in view.digits)
        why = f"ruler numbers unreadable ({n} confident digit(s), need 3 in sequence)"
    reasons.insert(0, (view.support, why))
    return None
