"""Digit-spacing estimates from OCR'd ruler numbers: pure functions over digit lists.

``paper_px_per_unit`` reproduces the published baseline exactly; ``fit_digit_rows`` is our
extension (numbers past 10, several rows such as dual cm/inch rulers, outlier rejection).
Digits here are in the *upright* ruler frame: x runs along the ruler, values grow with x.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from ..results import Digit

PAPER_MIN_CONF = 75.0
PAPER_MAX_VALUE = 10


@dataclass(frozen=True)
class SpacingEstimate:
    px_per_unit: float
    method: str  # "ocr-consecutive" | "ocr-pair" | "ocr-fit"
    digits: tuple[Digit, ...] = ()
    residual_px: float = 0.0


def paper_filter(digits: list[Digit], min_conf: float = PAPER_MIN_CONF, max_value: int = PAPER_MAX_VALUE) -> list[Digit]:
    return [d for d in digits if d.conf > min_conf and 0 <= d.value <= max_value]


def paper_px_per_unit(digits: list[Digit], min_conf: float = PAPER_MIN_CONF,
                      max_value: int = PAPER_MAX_VALUE) -> SpacingEstimate | None:
    """The paper's method: keep confident digits 0–10, sort them, average the spacing of
    consecutive digits per unit step; when no two digits are consecutive, use the closest pair."""
    kept = sorted(paper_filter(digits, min_conf, max_value), key=lambda d: (d.value, d.x))
    if len(kept) < 2:
        return None
    steps = [abs(b.x - a.x) for a, b in zip(kept, kept[1:]) if b.value - a.value == 1]
    if steps:
        return SpacingEstimate(float(np.mean(steps)), "ocr-consecutive", tuple(kept))
    pairs = [(a, b) for a, b in combinations(kept, 2) if a.value != b.value]
    if not pairs:
        return None
    a, b = min(pairs, key=lambda p: (abs(p[1].value - p[0].value), abs(p[1].x - p[0].x)))
    return SpacingEstimate(abs(b.x - a.x) / abs(b.value - a.value), "ocr-pair", (a, b))


@dataclass
class DigitRow:
    """Digits sharing one baseline (a dual ruler has a cm row and an inch row)."""

    y: float
    digits: list[Digit] = field(default_factory=list)


def group_rows(digits: list[Digit], tol: float) -> list[DigitRow]:
    """Rows of numbers, chained along x: a number joins the row whose nearest member (in x) sits
    within ``tol`` of it in y. A ruler a degree off the crop's axis drifts by more than ``tol``
    over its length, which a row's mean would split into pieces of two or three numbers."""
    rows: list[DigitRow] = []
    for d in sorted(digits, key=lambda d: d.x):
        near = [(abs(d.y - r.digits[-1].y), i) for i, r in enumerate(rows) if abs(d.y - r.digits[-1].y) <= tol]
        if near:
            row = rows[min(near)[1]]
            row.digits.append(d)
            row.y = float(np.mean([e.y for e in row.digits]))
        else:
            rows.append(DigitRow(d.y, [d]))
    return rows


def fit_row(digits: list[Digit], rel_tol: float = 0.12) -> SpacingEstimate | None:
    """Robust x = x0 + s·value fit (RANSAC over pairs, then least squares on the inliers).

    Needs at least three digits agreeing on one progression, so that a single misread or a
    stray number cannot define a scale on its own. Slope must be positive: in the upright frame
    numbers grow along the ruler.
    """
    if len(digits) < 3:
        return None
    best: list[Digit] = []
    for a, b in combinations(digits, 2):
        if a.value == b.value:
            continue
        s = (b.x - a.x) / (b.value - a.value)
        if s <= 0:
            continue
        inl = [d for d in digits if abs(d.x - (a.x + s * (d.value - a.value))) <= rel_tol * s]
        # one reading per value: duplicates of a value are the same printed number
        if len({d.value for d in inl}) > len({d.value for d in best}):
            best = inl
    values = {d.value for d in best}
    if len(values) < 3:
        return None
    v = np.array([d.value for d in best], float)
    x = np.array([d.x for d in best], float)
    s, x0 = np.polyfit(v, x, 1)
    resid = float(np.sqrt(np.mean((x - (x0 + s * v)) ** 2)))
    return SpacingEstimate(float(s), "ocr-fit", tuple(sorted(best, key=lambda d: d.x)), resid)


def fit_digit_rows(digits: list[Digit], row_tol: float) -> list[SpacingEstimate]:
    """One robust fit per row, best supported first."""
    fits = [f for f in (fit_row(r.digits) for r in group_rows(digits, row_tol)) if f]
    return sorted(fits, key=lambda f: (-len({d.value for d in f.digits}), f.residual_px))
