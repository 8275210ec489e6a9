"""Printed scale bars: a bar of known length with a single label ("1 cm", "5 cm", "10 mm").

Some sheets carry a printed scale bar instead of a ruler: the bar's length is the measure, and
there are no ticks or numbers to read. Geometry follows :mod:`herbmorph.synth.rulers`
(continuous coordinates, pixel i covers [i, i+1), exact antialiased coverage): the bar's outer
extent is exactly [x0, x0 + value_cm * px_per_cm] along x, whatever its style.
"""
from __future__ import annotations

import numpy as np

from .fonts import text_mask
from .rulers import RulerDrawing, _compose, _draw_digit, _palette, _soften, draw_rect

# (value, unit) labels printed on real bars
BAR_LABELS: tuple[tuple[int, str], ...] = (
    (1, "cm"), (2, "cm"), (3, "cm"), (5, "cm"), (10, "cm"), (10, "mm"), (20, "mm"), (50, "mm"))
_PREFERRED = {(1, "cm"), (2, "cm"), (5, "cm"), (10, "cm")}  # the common ones, drawn 3× as often
MIN_BAR_PX, MAX_BAR_PX, MAX_BAR_CM = 60.0, 2800.0, 12.0
MIN_SEGMENT_PX = 6.0  # narrower segments blur into grey: not what a printed bar looks like


def _cm(value: int, unit: str) -> float:
    return value / 10.0 if unit == "mm" else float(value)


def choose_label(rng: np.random.Generator, ppc: float) -> tuple[int, str]:
    """A label whose bar is 60 px .. min(12 cm, 2800 px) long at ``ppc``."""
    ok = [lab for lab in BAR_LABELS if MIN_BAR_PX <= _cm(*lab) * ppc <= min(MAX_BAR_CM * ppc, MAX_BAR_PX)]
    if not ok:  # extreme resolutions: the shortest bar still long enough, else the longest one
        long_enough = [lab for lab in BAR_LABELS if _cm(*lab) * ppc >= MIN_BAR_PX]
        if long_enough:
            return min(long_enough, key=lambda lab: _cm(*lab))
        return min(BAR_LABELS, key=lambda lab: abs(_cm(*lab) * ppc - MIN_BAR_PX))
    w = np.array([3.0 if lab in _PREFERRED else 1.0 for lab in ok])
    return ok[int(rng.choice(len(ok), p=w / w.sum()))]


def _n_segments(rng: np.random.Generator, bar_cm: float, length_px: float) -> int:
    """1 cm segments; a 1 cm bar is split in 2, 5 or 10 (at least 2, none narrower than 6 px)."""
    if bar_cm != 1.0 and bar_cm == int(bar_cm) and 2 <= bar_cm <= 10:
        return int(bar_cm)
    fits = [n for n in (2, 5, 10) if length_px / n >= MIN_SEGMENT_PX] or [2]
    return int(rng.choice(fits))


def _card(rng: np.random.Generator) -> np.ndarray:
    """White, cream or light grey card."""
    k = rng.integers(0, 3)
    if k == 0:
        bg = np.array([rng.uniform(235, 252)] * 3) + rng.uniform(-3, 3, 3)
    elif k == 1:
        bg = np.array([rng.uniform(232, 248), rng.uniform(225, 240), rng.uniform(195, 222)])
    else:
        bg = np.array([rng.uniform(200, 225)] * 3) + rng.uniform(-4, 4, 3)
    return np.clip(bg, 0, 255).astype(np.float32)


def draw_bar(alpha: np.ndarray, x0: float, y0: float, length: float, t: float, style: str,
             n: int = 0, w: float = 0.0) -> None:
    """The bar [x0, x0+length]×[y0, y0+t]: filled ("solid"), or ("segmented") an outline of
    width ``w`` around ``n`` equal segments, alternately dark and empty, the first one dark."""
    x1, y1 = x0 + length, y0 + t
    if style == "solid":
        draw_rect(alpha, x0, y0, x1, y1)
        return
    draw_rect(alpha, x0, y0, x1, y0 + w)
    draw_rect(alpha, x0, y1 - w, x1, y1)
    draw_rect(alpha, x0, y0, x0 + w, y1)
    draw_rect(alpha, x1 - w, y0, x1, y1)
    seg = length / n
    for k in range(0, n, 2):  # boundaries at x0 + k*seg: the outline never shifts them
        draw_rect(alpha, x0 + k * seg, y0, x0 + (k + 1) * seg, y1)


def render_scalebar(rng: np.random.Generator, px_per_cm: float) -> RulerDrawing:
    """Draw one scale bar at ``px_per_cm`` on a small card, horizontal and upright."""
    ppc = float(px_per_cm)
    value, unit = choose_label(rng, ppc)
    bar_cm = _cm(value, unit)
    L = bar_cm * ppc
    t = float(np.clip(rng.uniform(0.08, 0.25) * ppc, 3.0, 40.0))
    style = "solid" if rng.random() < 0.6 else "segmented"
    n = _n_segments(rng, bar_cm, L) if style == "segmented" else 0
    w = max(1.5, 0.12 * t)
    if style == "segmented":  # keep the empty segments visibly white inside their outline (>= 3 px)
        t = max(t, 4 * w)
    text = f"{value} {unit}" if rng.random() < 0.7 else f"{value}{unit}"
    kind = str(rng.choice(["sans-bold", "sans"]))
    dh = float(np.clip(rng.uniform(0.25, 0.5) * ppc, 10.0, 120.0))
    th, tw = text_mask(text, dh, kind=kind).shape  # the label's ink size, to lay the card out
    side = str(rng.choice(["above", "below", "right"], p=[0.4, 0.4, 0.2]))
    # Lay out with the bar's left end at x = 0, then shift so the content sits inside the margin.
    if side == "above":
        g = rng.uniform(0.1, 0.3) * ppc
        bar_y, tcx, tcy = th + g, L / 2, th / 2
    elif side == "below":
        g = rng.uniform(0.1, 0.3) * ppc
        bar_y, tcx, tcy = 0.0, L / 2, t + g + th / 2
    else:
        g = rng.uniform(0.2, 0.4) * ppc
        ch = max(t, th)
        bar_y, tcx, tcy = (ch - t) / 2, L + g + tw / 2, ch / 2
    left, top = min(0.0, tcx - tw / 2), min(bar_y, tcy - th / 2)
    right, bottom = max(L, tcx + tw / 2), max(bar_y + t, tcy + th / 2)
    m = rng.uniform(0.3, 0.6) * ppc
    ox, oy = m - left + rng.uniform(0, 1), m - top + rng.uniform(0, 1)  # sub-pixel phase
    W, H = int(np.ceil(ox + right + m)), int(np.ceil(oy + bottom + m))
    x0, y0 = ox, oy + bar_y
    alpha = np.zeros((H, W), np.float32)
    draw_bar(alpha, x0, y0, L, t, style, n, w)
    label = _draw_digit(alpha, text, value, unit, ox + tcx, oy + tcy, dh, kind, 0.0)
    _, ink = _palette(rng, dark_body=False)
    img = _soften(_compose(alpha, _card(rng), ink, rng), rng, ppc)
    extra = {"bar_cm": bar_cm, "bar_style": style, "bar_thickness": t, "bar_x1": float(x0 + L),
             "label_side": side}
    if n:
        extra["bar_segments"] = n
    return RulerDrawing(img, [label], "bar", ppc, float(x0), (float(y0), float(y0 + t)), extra=extra)
