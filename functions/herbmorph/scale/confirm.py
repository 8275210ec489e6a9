"""Do the ticks confirm a digit spacing? The second witness, and every guard against a wrong one.

The numbers of a ruler name its unit; a spacing fitted to them is only believed when a tick
lattice of the period that unit implies runs beside them, along them, as thin lines, and no
other reading explains the lattice better: a half-cm comb seen through its harmonic, a colour
chart's patches, an inch row of a dual ruler, a pair of numbers misread.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..results import Digit
from .spacing import SpacingEstimate
from .ticks import Lattice, alternation_power, find_lattices
from .views import ViewReading

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
FEW_LINES_AGREE = 0.008  # one line per cm at low resolution: the lines' fit within this of their
                        # spectral line ...
FEW_LINES_AGREE_DIGITS = 0.015  # ... and within this of the numbers' spacing (not AGREE_REL):
                        # ten lines are no mm lattice, and no half-cm ticks back them
MAX_PHASE = 0.3         # numbers of a block ruler sit beside their cell edge (measured 0.21 on a real one);
                        # a colour chart centres them in its patches, half a period away
TICKS_WITHIN_DH = 2.5   # the ticks that confirm a row of numbers lie within this many digit
TICKS_WITHIN_UNITS = 1.0  # heights of the row's band, or this many numbered units of it, if more
                        # (small numbers beside long cm ticks)
GLYPH_BAND = 0.6        # ... and within this many, the glyphs themselves
DIGIT_BAND = 1.0        # rows within this many digit heights of a number's centre are digits
MAX_DUTY = 0.3          # ticks are thin lines; colour-chart patches fill their period
TICK_ROW_REL = 0.25     # a row crosses the tick comb where the lattice's line is this strong
                        # against its strongest row (rows crossing only the longer, sparser
                        # ticks are weaker)


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
    # A ruler's body runs on past its end ticks and numbers; a scale bar ends where it ends.
    runs_past_ends: bool = True
    # A null's numbers were searched below the reading scale (views.FIND_SHARE); a search at the
    # full scale may still read them.
    glyphs_searched_small: bool = False


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


def lattice_either_polarity(tick_img: np.ndarray, expected: float, **kw) -> Lattice | None:
    """The lattice as ink on the view's polarity, else on the inverted view when that is
    stronger. The view's polarity comes from its median, which a crop of mostly paper around
    a white-on-black ruler gets wrong: its ticks are then gaps in the ink, whose wide plateaus
    no tick fit can follow."""
    search = find_lattices(tick_img, expected, **kw)  # the spectra serve both polarities
    lat = search.best()
    if lat is not None and lat.snr >= MIN_SNR and lat.dominance >= MIN_DOMINANCE:
        return lat
    inv = search.best(inverted=True)
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


def crowded_between(est: SpacingEstimate, digits: list[Digit], digit_height: float) -> bool:
    """A ruler prints one number per unit: between two of its numbers ``k`` units apart lie at
    most ``k - 1`` others. A table of figures in fixed-pitch type has many between any two of its
    digits, and its character pitch passes for mm ticks (a synthetic table beside a colour target
    gave 2.65x wrong from two digits ten characters apart). ``digits``: every number read in the
    view, any confidence."""
    used = {id(d) for d in est.digits}
    ds = sorted(est.digits, key=lambda d: d.x)
    for a, b in zip(ds, ds[1:]):
        lo_y, hi_y = min(a.y, b.y) - 0.5 * digit_height, max(a.y, b.y) + 0.5 * digit_height
        between = sum(1 for d in digits if id(d) not in used and a.x < d.x < b.x and lo_y <= d.y <= hi_y)
        if between > max(abs(b.value - a.value) - 1, 0):
            return True
    return False


def _contradicts(unit: str, est: SpacingEstimate, others: list[SpacingEstimate]) -> bool:
    """A dual ruler's rows differ by 2.54×: the wider-spaced row is inches and can never be cm."""
    if unit != "cm":
        return False
    return any(abs(est.px_per_unit / o.px_per_unit - CM_PER_INCH) / CM_PER_INCH < AGREE_REL for o in others)


def confirm_spacing(view: ViewReading, est: SpacingEstimate, allow_cm_level: bool,
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
        # An inch this small would be implausible (see CM_LEVEL_MAX_PX): half-cm ticks, or
        # else one line per cm. Many rulers print no half-cm ticks, and mm ticks only in their
        # first cm (the 0-10 cm rulers of SERNEC and the Smithsonian, block or not). One line
        # per numbered unit is accepted only with the numbers printed on the lines, not
        # between them as on a colour chart, and as thin lines, not patches (see below).
        hypotheses += [(2, "cm"), (1, "cm")]
    seen: list[str] = []
    others = [f for f in view.fits if f is not est] + list(peers)
    for n, unit in hypotheses:
        # The numbers' spacing is known within AGREE_REL: a hypothesis at the resolution limit
        # is still tried (the lattice search itself refuses aliased periods). Cut exactly at
        # it, a 25 px/cm scale read 24.99 skipped its own mm ticks, confirmed at snr 1300.
        if d_orig / n < MIN_TICK_PX * (1 - AGREE_REL) and n > 2:
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
        few_lines = n == 1 and d_orig < CM_LEVEL_MAX_PX  # about ten lines, each one weighing
        lat = lattice_either_polarity(tick_img, d_up / n, exclude=bands, min_extent=extent,
                                      upscale=view.scale, x_range=span, y_range=near,
                                      refine_agree=FEW_LINES_AGREE if few_lines else None)
        if lat is None and n >= 8 and allow_cm_level:
            # Small numbers printed between fine ticks (a colour target's cm scale) share their
            # rows: no digit-free row is left. A comb of 8 or more ticks per numbered unit is
            # not something three numbers in sequence make, so their rows may be measured (not
            # for a mere pair of numbers: a table of figures in fixed-pitch type is such a comb).
            lat = lattice_either_polarity(tick_img, d_up / n, min_extent=extent,
                                          upscale=view.scale, x_range=span, y_range=near)
        if lat is None and n == 2:
            # Low resolution: short mm ticks blur into the ruler's edge and the half-cm ticks
            # stand alone only in the few rows between their ends and the numbers, which the
            # digits' bands above cover. Measured there, beside the glyphs proper.
            tight = [(d.y - GLYPH_BAND * view.digit_height, d.y + GLYPH_BAND * view.digit_height) for d in est.digits]
            lat = lattice_either_polarity(tick_img, d_up / n, exclude=tight, min_extent=extent,
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
        if n == 1 and d_orig >= CM_LEVEL_MAX_PX and (
                blocks := alternation_power(tick_img, 2 * d_up, span, near)[0]) < MIN_SNR:
            # One line per numbered unit is also an inch ruler whose 1/8-inch ticks are too fine
            # to confirm (2.54x wrong); a block ruler alone alternates dark and light units.
            seen.append(f"1/cm: no alternating cm blocks (power {blocks:.0f})")
            continue
        unit_px = lat.period * n
        if abs(unit_px - d_up) / d_up > (FEW_LINES_AGREE_DIGITS if few_lines else AGREE_REL):
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
