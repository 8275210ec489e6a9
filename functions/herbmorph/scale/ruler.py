"""Read one ruler crop: orientation, OCR of its numbers, tick-lattice confirmation, verdict.

Rule of the house: the digits name the unit, the ticks measure it, and anything short of two
agreeing witnesses is ``null`` with a reason. A null is a visible absence; a wrong factor
silently corrupts every area computed from it.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from ..results import Digit
from .ocr import cc_char_boxes, tesseract_digits
from .spacing import SpacingEstimate, fit_digit_rows, paper_px_per_unit
from .ticks import Lattice, alternation_power, find_lattice

CM_PER_INCH = 2.54
AGREE_REL = 0.03        # digit spacing and tick lattice must agree within 3%
MIN_SNR = 12.0          # spectral line this far above the noise floor
MIN_DOMINANCE = 1.2     # and stronger than any unrelated line
MIN_TICK_PX = 2.5       # a lattice finer than this (in original pixels) is not resolved
CM_LEVEL_MAX_PX = 32.0  # below this many px per unit, a unit-sized lattice can only be cm:
                        # an inch would mean < 12.6 px/cm, which we treat as implausible
CM_LEVEL_ONLY_BELOW_PX = 28.0  # a half-cm lattice may stand in for the mm one only where mm
                        # ticks are unresolved (< 2.8 px apart): above that a real ruler shows
                        # its mm lattice, and a digit-period lattice alone is what a colour
                        # chart's patches (or the digits themselves) produce
MAX_PHASE = 0.3         # numbers of a block ruler sit beside their cell edge (measured 0.21 on a real one);
                        # a colour chart centres them in its patches, half a period away
TICKS_WITHIN_DH = 2.5   # the ticks that confirm a row of numbers lie within this many digit
TICKS_WITHIN_UNITS = 1.0  # heights of the row's band, or this many numbered units of it, if more
                        # (small numbers beside long cm ticks)
DIGIT_BAND = 1.0        # rows within this many digit heights of a number's centre are digits
MAX_DUTY = 0.3          # ticks are thin lines; colour-chart patches fill their period
OCR_TARGET_SHORT_SIDE = 160  # upscale small crops so digits reach Tesseract-friendly size
OCR_MAX_LONG_SIDE = 6000
OCR_MAX_UPSCALE = 6.0
OCR_DIGIT_PX = 40            # digit height Tesseract reads best; small digits are upscaled to it
TICK_ROW_REL = 0.25     # a row crosses the tick comb where the lattice's line is this strong
                        # against its strongest row (rows crossing only the longer, sparser
                        # ticks are weaker)
BODY_TOL_REL = 4.0      # a pixel is the ruler's own background within this many times the typical
                        # deviation of the ticks-and-numbers band from its median colour (shading,
                        # scanner and JPEG noise) ...
BODY_TOL_LEVELS = (8, 24)  # ... kept within these RGB levels
BODY_MIN_SHARE = 0.35   # a row still lies on the ruler where this share of it is that background:
                        # black cells fill half of a block ruler's rows
BODY_GAP_CM = 0.3       # lines along a ruler (a baseline, a frame, mm ticks blurred into a grey
                        # band at low resolution) are narrower than this


@dataclass
class RulerReading:
    """Verdict for one crop. Pixel figures are in the crop's original resolution."""

    px_per_cm: float | None
    reason: str | None
    method: str | None = None
    ocr_px_per_cm: float | None = None
    tick_px_per_cm: float | None = None
    digits: list[Digit] = field(default_factory=list)  # in crop pixels
    rotation: int = 0
    n_fit_digits: int = 0
    # Along the ruler's long axis, the crop-pixel range its ticks and numbers cover (crop x for
    # a horizontal ruler, crop y for a vertical one); None when not read.
    axis_span: tuple[float, float] | None = None
    # Across it (crop y for a horizontal ruler, crop x for a vertical one), the crop-pixel range
    # of its ticks and numbers, widened over the ruler's own background; None when not read.
    cross_span: tuple[float, float] | None = None


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb


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


def _dark_body(img: np.ndarray) -> bool:
    return bool(np.median(img) < 110)  # white-on-black ruler


def axis_to_crop(x: float, k: int, crop_hw: tuple[int, int]) -> float:
    """A position along the upright view's x axis → the crop's coordinate along the same axis."""
    h, w = crop_hw
    return {0: x, 1: x, 2: w - 1 - x, 3: h - 1 - x}[k]


def cross_to_crop(y: float, k: int, crop_hw: tuple[int, int]) -> float:
    """A position along the upright view's y axis → the crop's coordinate along the same axis."""
    h, w = crop_hw
    return {0: y, 1: w - 1 - y, 2: h - 1 - y, 3: y}[k]


def tick_and_digit_rows(tick_img: np.ndarray, lat: Lattice, digits, digit_height: float) -> tuple[float, float]:
    """Rows of an upright view that the ticks and numbers occupy: the run of rows around the
    strongest in which the lattice's period stands out, joined with the numbers' glyph rows."""
    x0, x1 = int(lat.span[0]), int(np.ceil(lat.span[1])) + 1
    ink = 255.0 - tick_img[:, x0:x1].astype(np.float32)
    ink -= ink.mean(axis=1, keepdims=True)
    amp = np.abs(ink @ np.exp(-2j * np.pi * np.arange(x1 - x0) / lat.period))
    top = lo = hi = int(np.argmax(amp))
    while lo > 0 and amp[lo - 1] >= TICK_ROW_REL * amp[top]:
        lo -= 1
    while hi + 1 < len(amp) and amp[hi + 1] >= TICK_ROW_REL * amp[top]:
        hi += 1
    ys = [d.y for d in digits]
    return min(lo, min(ys) - digit_height / 2), max(hi + 1, max(ys) + digit_height / 2)


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


def prepare_for_ocr(gray: np.ndarray, f: float | None = None,
                    flip: bool | None = None) -> tuple[np.ndarray, float]:
    """The paper's preprocessing (greyscale, bilateral filter), after an upscale of small crops
    and a polarity flip so digits are dark on light, as Tesseract prefers. ``f`` forces the
    upscale factor (still capped by OCR_MAX_LONG_SIDE)."""
    h, w = gray.shape
    if f is None:
        f = float(np.clip(OCR_TARGET_SHORT_SIDE / max(h, 1), 1.0, OCR_MAX_UPSCALE))
    f = min(f, OCR_MAX_LONG_SIDE / max(w, 1)) if w * f > OCR_MAX_LONG_SIDE else f
    return cv2.bilateralFilter(tick_view(gray, f, flip), 9, 75, 75), f


@dataclass
class _View:
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


def tick_view(gray: np.ndarray, f: float, flip: bool | None = None) -> np.ndarray:
    """Upscaled by ``f``, dark digits on light (``flip`` forces it; None: dark-bodied views are
    inverted). The tick lattice is measured on this; the OCR image is it after the bilateral
    filter (which erases thin, low-contrast mm ticks)."""
    img = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC) if f != 1.0 else gray.copy()
    return 255 - img if (_dark_body(img) if flip is None else flip) else img


def read_view(k: int, gray_upright: np.ndarray, min_conf: float, flip: bool | None = None) -> list[_View]:
    """OCR one upright view, one _View per number reading (see ``ocr.tesseract_digits``).
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
        views.append(_View(k, img, f, digits, fit_digit_rows(confident, row_tol=max(6.0, 0.5 * h)), h, ticks))
    return views


def lattice_either_polarity(tick_img: np.ndarray, expected: float, **kw) -> Lattice | None:
    """The lattice as ink on the view's polarity, else on the inverted view when that is
    stronger. The view's polarity comes from its median, which a crop of mostly paper around
    a white-on-black ruler gets wrong: its ticks are then gaps in the ink, whose wide plateaus
    no tick fit can follow."""
    lat = find_lattice(tick_img, expected, **kw)
    if lat is not None and lat.snr >= MIN_SNR and lat.dominance >= MIN_DOMINANCE:
        return lat
    inv = find_lattice(255 - tick_img, expected, **kw)
    return inv if inv is not None and (lat is None or inv.strength > lat.strength) else lat


def half_cm_in_disguise(tick_img: np.ndarray, lat: Lattice, near: tuple[float, float]) -> bool:
    """A mm lattice's comb is strongest at its own period; one whose rows are stronger at twice
    the period is a coarser lattice seen through its harmonic."""
    fund, sub = alternation_power(tick_img, [lat.period, 2 * lat.period], lat.span, near)
    return sub > fund


def digit_phase(digits, lat: Lattice) -> float:
    """Median distance, in periods, from each number's centre to the nearest lattice line."""
    ph = [((d.x - lat.span[0]) / lat.period) % 1.0 for d in digits]
    return float(np.median([min(p, 1.0 - p) for p in ph]))


def grows_along(est: SpacingEstimate) -> bool:
    """In an upright view a ruler's numbers grow with x. The paper's baseline takes the distance
    between two numbers unsigned; a pair that shrinks along the ruler has a misread member (a
    real sheet read "13" as "3" beside a "7", and a 1/16-inch lattice then 'confirmed' it)."""
    ds = sorted(est.digits, key=lambda d: d.value)
    return all(b.x > a.x for a, b in zip(ds, ds[1:]) if b.value > a.value)


def _contradicts(unit: str, est: SpacingEstimate, others: list[SpacingEstimate]) -> bool:
    """A dual ruler's rows differ by 2.54×: the wider-spaced row is inches and can never be cm."""
    if unit != "cm":
        return False
    return any(abs(est.px_per_unit / o.px_per_unit - CM_PER_INCH) / CM_PER_INCH < AGREE_REL for o in others)


def _confirm(view: _View, est: SpacingEstimate, allow_cm_level: bool,
             peers: list[SpacingEstimate] = ()) -> tuple[RulerReading | None, str]:
    """Test the lattice hypotheses a digit spacing implies. ``peers``: rows read in the other
    views of the same crop, in this view's pixels (a dual ruler's cm row may be read in one view
    and its inch row in another). Returns (reading, reason-if-not)."""
    d_up = est.px_per_unit          # px per numbered unit in the upscaled view
    d_orig = d_up / view.scale
    # (ticks per unit, unit, how px/cm follows from the unit length)
    hypotheses = [(10, "cm")]
    if d_orig >= CM_LEVEL_MAX_PX:
        hypotheses += [(16, "inch"), (8, "inch")]
        if allow_cm_level:
            # Block rulers: one thin line per numbered cm (the cell edges), mm ticks at most in
            # the first cm. Accepted only with the numbers printed *on* the lines (see below).
            hypotheses += [(1, "cm")]
    elif allow_cm_level and d_orig < CM_LEVEL_ONLY_BELOW_PX:
        # An inch this small would be implausible (see CM_LEVEL_MAX_PX). Half-cm ticks are
        # resolved at any plausible resolution (>= 7 px apart), so a one-tick-per-unit lattice
        # is no ruler evidence: its only period is the digits' own, as on a colour chart.
        hypotheses += [(2, "cm")]
    seen: list[str] = []
    others = [f for f in view.fits if f is not est] + list(peers)
    for n, unit in hypotheses:
        if d_orig / n < MIN_TICK_PX and n > 2:
            continue
        if _contradicts(unit, est, others):
            seen.append(f"{n}/{unit}: this row is spaced 2.54× another row, so it is inches")
            continue
        # Measure ticks away from the numbers: a row of digits is periodic too.
        bands = [(d.y - DIGIT_BAND * view.digit_height, d.y + DIGIT_BAND * view.digit_height) for d in est.digits]
        # ... but close to them: a ruler prints its numbers right beside their ticks. Ticks far
        # away belong to something else (a colour target's 1/8-inch ticks beyond its patches
        # confirm the patch numbers' quarter-inch pitch as half-cm ticks).
        ys = [d.y for d in est.digits]
        reach = max((DIGIT_BAND + TICKS_WITHIN_DH) * view.digit_height, TICKS_WITHIN_UNITS * d_up)
        near = (min(ys) - reach, max(ys) + reach)
        # The ticks must run along the numbered length, not fill one corner of it.
        extent = 0.6 * (max(d.x for d in est.digits) - min(d.x for d in est.digits))
        tick_img = view.tick_img if view.tick_img is not None else view.img
        # ... and only there: beyond the end numbers (plus a unit of margin) lies other content.
        span = (min(d.x for d in est.digits) - 1.2 * d_up, max(d.x for d in est.digits) + 1.2 * d_up)
        lat = lattice_either_polarity(tick_img, d_up / n, exclude=bands, min_extent=extent,
                                      upscale=view.scale, x_range=span, y_range=near)
        if lat is None:
            continue
        if lat.snr < MIN_SNR or lat.dominance < MIN_DOMINANCE:
            seen.append(f"{n}/{unit}: weak lattice (snr {lat.snr:.0f}, dominance {lat.dominance:.1f})")
            continue
        if n <= 2 and lat.duty > MAX_DUTY:
            seen.append(f"{n}/{unit}: lattice is blocks, not ticks (duty {lat.duty:.2f})")
            continue
        if n == 10 and half_cm_in_disguise(tick_img, lat, near):
            # Where mm ticks are a blur, the half-cm ticks' second harmonic sits at 2.5 mm, 1.6%
            # from a tenth of an inch: a dual ruler's inch numbers then pass as cm, 2.54x wrong.
            seen.append("10/cm: the lattice is the second harmonic of half-cm ticks, not mm ticks")
            continue
        if n == 1 and (off := digit_phase(est.digits, lat)) > MAX_PHASE:
            # A colour chart prints its numbers in the middle of its patches, half a period
            # from the patch edges; a ruler prints each number on its own line.
            seen.append(f"1/cm: numbers sit between the lines, not on them (phase {off:.2f})")
            continue
        if n == 1 and (blocks := alternation_power(tick_img, 2 * d_up, span, near)[0]) < MIN_SNR:
            # One line per numbered unit is also an inch ruler whose 1/8-inch ticks are too fine
            # to confirm (2.54x wrong); a block ruler alone alternates dark and light units.
            seen.append(f"1/cm: no alternating cm blocks (power {blocks:.0f})")
            continue
        unit_px = lat.period * n
        if abs(unit_px - d_up) / d_up > AGREE_REL:
            seen.append(f"digits {d_orig:.2f} px/{unit} vs ticks {unit_px / view.scale:.2f} px/{unit}")
            continue
        to_cm = 1.0 if unit == "cm" else 1.0 / CM_PER_INCH
        lo = min(lat.span[0], min(d.x for d in est.digits)) / view.scale
        hi = max(lat.span[1], max(d.x for d in est.digits)) / view.scale
        c_lo, c_hi = tick_and_digit_rows(tick_img, lat, est.digits, view.digit_height)
        return RulerReading(
            px_per_cm=unit_px / view.scale * to_cm, reason=None,
            method=f"{est.method}+ticks-{n}per{unit}",
            ocr_px_per_cm=d_orig * to_cm, tick_px_per_cm=unit_px / view.scale * to_cm,
            rotation=view.k * 90, n_fit_digits=len(est.digits), axis_span=(lo, hi),
            cross_span=(c_lo / view.scale, c_hi / view.scale)), ""
    detail = "; ".join(seen) if seen else "no periodic tick pattern found"
    return None, f"tick lattice does not confirm digit spacing {d_orig:.1f} px/unit ({detail})"


def _finish(reading: RulerReading, view: _View, digits_crop: list[Digit], crop_rgb: np.ndarray) -> RulerReading:
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


def _view_threads() -> int:
    """2, unless this process was sized to one core: ``HERBMORPH_THREADS`` (set by a runtime slot
    from the FDL's ``cpu``, and by a batch worker from ``--threads``), else the CPUs it may run on.
    Not ``OMP_NUM_THREADS``: importing Ultralytics sets that to 1 wherever it was unset."""
    try:
        return 1 if int(os.environ.get("HERBMORPH_THREADS", "")) < 2 else 2
    except ValueError:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return min(2, cpus)


def _read_views(gray: np.ndarray, min_conf: float, other_polarity: bool = False) -> list[_View]:
    """Both upright views, read side by side: most of the time is Tesseract, which releases the
    GIL, so two views use two cores where the machine has them (same views, same order)."""
    def read(kg: tuple[int, np.ndarray]) -> list[_View]:
        k, g = kg
        return read_view(k, g, min_conf, flip=(not _dark_body(g)) if other_polarity else None)

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


def read_ruler(crop_rgb: np.ndarray, min_conf: float = 75.0) -> RulerReading:
    gray = _gray(crop_rgb)
    views = _read_views(gray, min_conf)
    if max(v.support for v in views)[0] < 3:
        # Polarity by the median fails on a dark ruler in a crop of mostly light paper (or the
        # reverse): read the other polarity too before giving up.
        views += _read_views(gray, min_conf, other_polarity=True)
    views.sort(key=lambda v: v.support, reverse=True)
    reasons: list[str] = []
    # Best-supported view first; another reading of the numbers may still confirm where the
    # best one's fits do not (each is a separate witness, judged by the same rules).
    for view in [v for v in views if v.fits] or views[:1]:
        peers = [replace(f, px_per_unit=f.px_per_unit / o.scale * view.scale)
                 for o in views if o is not view for f in o.fits]
        reading = _read_fits(view, peers, gray, crop_rgb, reasons, min_conf)
        if reading is not None:
            return reading
    best = views[0]
    return RulerReading(px_per_cm=None, reason=reasons[0], digits=_digits_in_crop(best, gray.shape),
                        rotation=best.k * 90)


def _digits_in_crop(view: _View, hw: tuple[int, int]) -> list[Digit]:
    out = []
    for d in view.digits:
        x, y = to_crop_coords(d.x / view.scale, d.y / view.scale, view.k, hw)
        out.append(Digit(value=d.value, conf=round(d.conf, 1), x=round(x, 1), y=round(y, 1)))
    return out


def _read_fits(view: _View, peers: list[SpacingEstimate], gray: np.ndarray, crop_rgb: np.ndarray,
               reasons: list[str], min_conf: float) -> RulerReading | None:
    """The first of a view's digit fits the ticks confirm, or None (reasons appended)."""
    for est in view.fits:
        reading, why = _confirm(view, est, allow_cm_level=True, peers=peers)
        if reading:
            return _finish(reading, view, _digits_in_crop(view, gray.shape), crop_rgb)
        reasons.append(why)
    if view.fits:
        return None
    # Two confident digits are too few to define a scale alone; with a resolved mm or
    # 1/16-inch lattice behind them they may still do (cm-level checks are not enough).
    paper = paper_px_per_unit([d for d in view.digits])
    if paper is not None and not grows_along(paper):
        reasons.append("the two numbers read decrease along the ruler: one of them is misread")
    elif paper is not None:
        reading, why = _confirm(view, paper, allow_cm_level=False, peers=peers)
        if reading:
            return _finish(reading, view, _digits_in_crop(view, gray.shape), crop_rgb)
        reasons.append(why)
    else:
        n = sum(d.conf > min_conf for d in view.digits)
        reasons.append(f"ruler numbers unreadable ({n} confident digit(s), need 3 in sequence)")
    return None
