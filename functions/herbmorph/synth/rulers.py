"""Synthetic rulers and colour charts with exact geometry.

Coordinate convention (used by the whole ``herbmorph.synth`` package): continuous pixel
coordinates where pixel column ``i`` covers ``[i, i+1)``, so its centre is ``i + 0.5``. A tick
"at x" is a rectangle centred on ``x``; its antialiased coverage is the exact area of that
rectangle falling on each pixel, so the intensity-weighted centroid of the tick's columns (in
column indices) is ``x - 0.5``.

Every ruler is drawn horizontally and upright (readable digits, long axis along x). Tick ``i``
of the cm scale sits at ``x0 + i * px_per_cm / 10``. Numbers are drawn with their ink bbox
centred on the tick they label, so a digit's ``cx`` is exactly the tick's x.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import cv2
import numpy as np

from .fonts import paste_mask_centered, text_mask

RULER_DESIGNS: tuple[str, ...] = ("cm-black", "cm-white", "cm-15", "cm-30", "dual", "block")
CM_PER_INCH = 2.54
MIN_DIGIT_PX = 7.0  # keep numbers readable at low resolution where they still fit


@dataclass
class RulerDrawing:
    """A ruler (or colour chart) drawn upright; every coordinate is in this image's pixels."""

    image: np.ndarray                      # H×W×3 uint8 RGB
    digits: list[dict]                     # {"text","value","unit","cx","cy","bbox"}
    design: str
    px_per_cm: float = 0.0
    x0: Optional[float] = None             # x of the cm scale's tick 0 (None for charts)
    tick_band: Optional[tuple[float, float]] = None   # y-range covered by every mm tick
    inch_x0: Optional[float] = None        # x of the inch scale's tick 0 ("dual" only)
    inch_band: Optional[tuple[float, float]] = None   # y-range covered by every inch tick
    extra: dict = field(default_factory=dict)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


# --------------------------------------------------------------------------- drawing primitives
def _coverage(lo: float, hi: float, start: int, n: int) -> np.ndarray:
    """Exact coverage of pixels start..start+n-1 (pixel i = [i, i+1)) by the interval [lo, hi]."""
    i = np.arange(start, start + n, dtype=np.float64)
    return np.clip(np.minimum(hi, i + 1.0) - np.maximum(lo, i), 0.0, 1.0).astype(np.float32)


def draw_rect(alpha: np.ndarray, x0: float, y0: float, x1: float, y1: float,
              value: float = 1.0) -> None:
    """Antialiased axis-aligned rectangle [x0,x1]×[y0,y1] (continuous coords), max-composited."""
    H, W = alpha.shape
    if x1 < x0:
        x0, x1 = x1, x0
    if y1 < y0:
        y0, y1 = y1, y0
    cx0, cx1 = max(int(np.floor(x0)), 0), min(int(np.ceil(x1)), W)
    cy0, cy1 = max(int(np.floor(y0)), 0), min(int(np.ceil(y1)), H)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    cov = np.outer(_coverage(y0, y1, cy0, cy1 - cy0), _coverage(x0, x1, cx0, cx1 - cx0)) * value
    dst = alpha[cy0:cy1, cx0:cx1]
    np.maximum(dst, cov, out=dst)


def _draw_digit(alpha: np.ndarray, text: str, value: int, unit: str, cx: float, cy: float,
                h_px: float, kind: str, stroke: float) -> dict:
    m = text_mask(text, h_px, kind=kind, stroke=stroke)
    bbox = paste_mask_centered(alpha, m, cx, cy)
    return {"text": text, "value": value, "unit": unit, "cx": float(cx), "cy": float(cy),
            "bbox": [float(b) for b in bbox]}


def _draw_word(alpha: np.ndarray, text: str, cx: float, cy: float, h_px: float,
               kind: str = "sans-bold") -> None:
    if h_px >= 3:
        paste_mask_centered(alpha, text_mask(text, h_px, kind=kind), cx, cy)


def _compose(alpha: np.ndarray, bg: np.ndarray, ink: np.ndarray, rng: np.random.Generator,
             base: Optional[np.ndarray] = None) -> np.ndarray:
    """Blend ink over a (lightly textured) background; returns uint8 RGB."""
    H, W = alpha.shape
    if base is None:
        base = np.empty((H, W, 3), np.float32)
        base[:] = bg
    # gentle low-frequency shading (material, illumination)
    sh = rng.normal(0, 1, (max(2, H // 64 + 2), max(2, W // 64 + 2))).astype(np.float32)
    sh = cv2.resize(sh, (W, H), interpolation=cv2.INTER_CUBIC) * rng.uniform(1.0, 4.0)
    img = base + sh[..., None]
    img = img * (1.0 - alpha[..., None]) + ink[None, None, :] * alpha[..., None]
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _soften(img: np.ndarray, rng: np.random.Generator, px_per_cm: float) -> np.ndarray:
    # symmetric blur: keeps every tick centroid where it was
    s = rng.uniform(0.25, 0.55) * (1.0 if px_per_cm < 60 else rng.uniform(1.0, 2.0))
    return cv2.GaussianBlur(img, (0, 0), s)


def _palette(rng: np.random.Generator, dark_body: bool) -> tuple[np.ndarray, np.ndarray]:
    if dark_body:
        bg = rng.uniform(8, 45) + rng.uniform(-4, 4, 3)
        ink = rng.uniform(215, 250) + rng.uniform(-5, 3, 3)
    else:
        choice = rng.integers(0, 4)
        if choice == 0:   # white plastic / paper
            bg = np.array([rng.uniform(235, 252)] * 3) + rng.uniform(-3, 3, 3)
        elif choice == 1:  # cream
            bg = np.array([rng.uniform(232, 248), rng.uniform(225, 240), rng.uniform(195, 222)])
        elif choice == 2:  # light grey
            bg = np.array([rng.uniform(200, 225)] * 3) + rng.uniform(-4, 4, 3)
        else:             # pale yellow
            bg = np.array([rng.uniform(235, 252), rng.uniform(220, 240), rng.uniform(140, 190)])
        ink = rng.uniform(10, 50) + rng.uniform(-5, 5, 3)
    return np.clip(bg, 0, 255).astype(np.float32), np.clip(ink, 0, 255).astype(np.float32)


def _half_text_w(dh: float, n_chars: int) -> float:
    """Generous half-width of a number ``n_chars`` long drawn ``dh`` tall (bold sans)."""
    return 0.5 * 0.95 * dh * n_chars + 2.0


def _digit_height(rng: np.random.Generator, ppc: float, spacing_px: float, n_chars: int) -> float:
    """Digit height in px: 0.30–0.60 cm, at least MIN_DIGIT_PX when the numbers still fit."""
    h = rng.uniform(0.30, 0.60) * ppc
    fit = spacing_px * 0.8 / (0.85 * n_chars)  # bold sans digit: ink width ≈ 0.85 × height
    if h < MIN_DIGIT_PX:
        h = min(MIN_DIGIT_PX, max(h, fit))
    return float(min(h, max(fit, 3.0)) if h > fit else h)


# --------------------------------------------------------------------------- cm scale
@dataclass
class _CmAxis:
    n_cm: int
    first_number: int
    mm_len: float
    half_len: float
    cm_len: float
    tick_w: float
    cm_tick_w: float


def _cm_axis_params(rng: np.random.Generator, ppc: float, n_cm: int, first_number: int) -> _CmAxis:
    mm_len = rng.uniform(0.15, 0.30) * ppc
    half_len = mm_len * rng.uniform(1.35, 1.7)
    cm_len = mm_len * rng.uniform(1.8, 2.6)
    tick_w = max(rng.uniform(0.010, 0.025) * ppc, 0.45)
    cm_tick_w = tick_w * rng.uniform(1.0, 1.6)
    return _CmAxis(n_cm, first_number, mm_len, half_len, cm_len, tick_w, cm_tick_w)


def _draw_cm_ticks(alpha: np.ndarray, ax: _CmAxis, x0: float, y_edge: float, down: bool,
                   ppc: float, mm: bool = True) -> tuple[float, float]:
    """Draw cm/5 mm/mm ticks from y_edge (downwards if ``down``). Returns the mm tick band."""
    sgn = 1.0 if down else -1.0
    step = ppc / 10.0
    for i in range(ax.n_cm * 10 + 1):
        x = x0 + i * step
        if i % 10 == 0:
            L, w = ax.cm_len, ax.cm_tick_w
        elif i % 5 == 0:
            L, w = ax.half_len, ax.tick_w
        elif mm:
            L, w = ax.mm_len, ax.tick_w
        else:
            continue
        draw_rect(alpha, x - w / 2, y_edge, x + w / 2, y_edge + sgn * L)
    band = (y_edge, y_edge + sgn * ax.mm_len)
    return (min(band), max(band))


# --------------------------------------------------------------------------- designs
def render_ruler(rng: np.random.Generator, px_per_cm: float, design: str) -> RulerDrawing:
    """Draw one ruler of ``design`` (see RULER_DESIGNS) at ``px_per_cm``, horizontal and upright."""
    if design not in RULER_DESIGNS:
        raise ValueError(f"unknown ruler design {design!r}; expected one of {RULER_DESIGNS}")
    ppc = float(px_per_cm)
    if design == "dual":
        return _render_dual(rng, ppc)
    if design == "block":
        return _render_block(rng, ppc)

    if design == "cm-30":
        n_cm, first = 30, 0
    elif design == "cm-15":
        n_cm, first = 15, 1
    else:
        n_cm = int(rng.choice([10, 10, 10, 11, 12, 15, int(rng.integers(10, 16))]))
        first = 0
    dark = design == "cm-white"
    bg, ink = _palette(rng, dark)
    ax = _cm_axis_params(rng, ppc, n_cm, first)
    dh = _digit_height(rng, ppc, ppc, len(str(n_cm)))
    stroke = rng.uniform(0.0, 0.06) if dh > 12 else 0.0
    gap = rng.uniform(0.06, 0.18) * ppc
    edge = rng.uniform(0.0, 0.12) * ppc
    need = edge + ax.cm_len + gap + dh + 0.15 * ppc
    width_cm = rng.uniform(1.5, 3.0 if design == "cm-30" else 3.5)
    H = int(np.ceil(max(width_cm * ppc, need)))
    ml = max(rng.uniform(0.25, 1.2) * ppc, _half_text_w(dh, len(str(first))) + 1)
    mr = max(rng.uniform(0.3, 1.6) * ppc, _half_text_w(dh, len(str(n_cm))) + 1)
    W = int(np.ceil(ml + n_cm * ppc + mr))
    x0 = ml + rng.uniform(0, 1)  # sub-pixel phase
    alpha = np.zeros((H, W), np.float32)
    band = _draw_cm_ticks(alpha, ax, x0, edge, True, ppc)
    if rng.random() < 0.6:  # baseline along the tick edge
        lw = max(ax.tick_w * rng.uniform(1.0, 2.0), 0.6)
        draw_rect(alpha, x0 - ax.cm_tick_w / 2, edge, x0 + n_cm * ppc + ax.cm_tick_w / 2, edge + lw)
    cy = edge + ax.cm_len + gap + dh / 2
    digits = []
    kind = str(rng.choice(["sans-bold", "sans-bold", "sans"]))
    for k in range(first, n_cm + 1):
        digits.append(_draw_digit(alpha, str(k), k, "cm", x0 + k * ppc, cy, dh, kind, stroke))
    # letters only (never digits) in the free space: unit name / maker text
    free_top = cy + dh / 2 + 0.1 * ppc
    if H - free_top > 0.3 * ppc and rng.random() < 0.6:
        wh = min((H - free_top) * 0.5, 0.3 * ppc)
        word = str(rng.choice(["cm", "CENTIMETRES", "copyright reserved", "HERBARIUM", "cm"]))
        _draw_word(alpha, word, x0 + rng.uniform(0.25, 0.6) * n_cm * ppc,
                   free_top + (H - free_top) / 2, wh, "sans")
    elif rng.random() < 0.5 and ml > 0.5 * ppc:
        _draw_word(alpha, "cm", ml / 2, cy, min(dh, ml * 0.35), kind)
    img = _soften(_compose(alpha, bg, ink, rng), rng, ppc)
    return RulerDrawing(img, digits, design, ppc, float(x0), band)


def _inch_ticks(alpha: np.ndarray, rng: np.random.Generator, ppc: float, x0: float, y_edge: float,
                down: bool, n_in: int, div: int, w: float) -> tuple[float, float, float]:
    """Inch ticks with 1/div subdivisions. Returns (band_lo, band_hi, inch_tick_len)."""
    sgn = 1.0 if down else -1.0
    ppi = ppc * CM_PER_INCH
    base = rng.uniform(0.13, 0.22) * ppc
    if div == 16:
        lens = {1: 2.6, 2: 2.0, 4: 1.6, 8: 1.3, 16: 1.0}
    else:
        lens = {1: 2.6, 2: 2.0, 4: 1.5, 8: 1.0}
    for i in range(n_in * div + 1):
        x = x0 + i * ppi / div
        level = next(lv for lv in (1, 2, 4, 8, 16) if (i * lv) % div == 0)  # coarsest level
        L = lens[level] * base
        ww = w * (1.4 if level == 1 else 1.0)
        draw_rect(alpha, x - ww / 2, y_edge, x + ww / 2, y_edge + sgn * L)
    band = sorted((y_edge, y_edge + sgn * base))
    return band[0], band[1], 2.6 * base


def _render_dual(rng: np.random.Generator, ppc: float) -> RulerDrawing:
    n_in = int(rng.choice([4, 6]))
    div = int(rng.choice([8, 16]))
    n_cm = int(np.floor(n_in * CM_PER_INCH))  # 4 in → 10 cm, 6 in → 15 cm
    bg, ink = _palette(rng, rng.random() < 0.2)
    ax = _cm_axis_params(rng, ppc, n_cm, 0)
    dh = _digit_height(rng, ppc, ppc, 2)
    dh_in = dh * rng.uniform(0.9, 1.2)
    stroke = rng.uniform(0.0, 0.06) if dh > 12 else 0.0
    gap = rng.uniform(0.06, 0.15) * ppc
    edge = rng.uniform(0.0, 0.1) * ppc
    w_in = max(rng.uniform(0.010, 0.025) * ppc, 0.45)
    top_need = edge + ax.cm_len + gap + dh
    bot_need = 0.2 * 2.6 * ppc + gap + dh_in + edge
    H = int(np.ceil(max(rng.uniform(2.4, 3.5) * ppc, top_need + bot_need + 0.2 * ppc)))
    ml = max(rng.uniform(0.3, 1.0) * ppc, _half_text_w(max(dh, dh_in), 1) + 1)
    mr = max(rng.uniform(0.3, 1.2) * ppc, _half_text_w(max(dh, dh_in), 2) + 1) + 0.3 * ppc
    length = max(n_cm * ppc, n_in * CM_PER_INCH * ppc)
    W = int(np.ceil(ml + length + mr))
    x0 = ml + rng.uniform(0, 1)
    xi0 = x0 if rng.random() < 0.7 else x0 + rng.uniform(0, 0.3) * ppc
    alpha = np.zeros((H, W), np.float32)
    band = _draw_cm_ticks(alpha, ax, x0, edge, True, ppc)
    digits = []
    kind = str(rng.choice(["sans-bold", "sans"]))
    cy = edge + ax.cm_len + gap + dh / 2
    for k in range(0, n_cm + 1):
        digits.append(_draw_digit(alpha, str(k), k, "cm", x0 + k * ppc, cy, dh, kind, stroke))
    y_bot = H - edge
    lo, hi, Lin = _inch_ticks(alpha, rng, ppc, xi0, y_bot, False, n_in, div, w_in)
    cyi = y_bot - Lin - gap - dh_in / 2
    ppi = ppc * CM_PER_INCH
    for k in range(0, n_in + 1):
        digits.append(_draw_digit(alpha, str(k), k, "inch", xi0 + k * ppi, cyi, dh_in, kind, stroke))
    if rng.random() < 0.6:
        wh = dh * 0.7
        xc = x0 + n_cm * ppc + dh * 0.9 + 0.3 * wh + 1.0 * wh  # "cm" right of the last number
        if xc + 1.2 * wh < W:
            _draw_word(alpha, "cm", xc, cy + (dh - wh) / 2, wh, kind)
        wi = dh_in * 0.6
        if ppi > 6.5 * wi:  # "inches" between the 0 and 1 inch numbers
            _draw_word(alpha, "inches", xi0 + 0.5 * ppi, cyi, wi, kind)
    img = _soften(_compose(alpha, bg, ink, rng), rng, ppc)
    return RulerDrawing(img, digits, "dual", ppc, float(x0), band, float(xi0), (lo, hi),
                        extra={"inch_div": div})


def _render_block(rng: np.random.Generator, ppc: float) -> RulerDrawing:
    n_cm = int(rng.choice([10, 10, 12, 15]))
    bg, ink = _palette(rng, False)
    ax = _cm_axis_params(rng, ppc, n_cm, 0)
    dh = _digit_height(rng, ppc, ppc, 2)
    stroke = rng.uniform(0.0, 0.06) if dh > 12 else 0.0
    gap = rng.uniform(0.06, 0.15) * ppc
    edge = rng.uniform(0.05, 0.2) * ppc
    band_h = rng.uniform(0.3, 0.6) * ppc
    need = edge + band_h + ax.cm_len + gap + dh + 0.15 * ppc
    H = int(np.ceil(max(rng.uniform(1.5, 3.0) * ppc, need)))
    ml = max(rng.uniform(0.3, 1.0) * ppc, _half_text_w(dh, 1) + 1)
    mr = max(rng.uniform(0.3, 1.2) * ppc, _half_text_w(dh, 2) + 1)
    W = int(np.ceil(ml + n_cm * ppc + mr))
    x0 = ml + rng.uniform(0, 1)
    alpha = np.zeros((H, W), np.float32)
    # alternating 1 cm blocks with a thin frame
    fw = max(ax.tick_w, 0.6)
    draw_rect(alpha, x0, edge, x0 + n_cm * ppc, edge + fw)
    draw_rect(alpha, x0, edge + band_h - fw, x0 + n_cm * ppc, edge + band_h)
    for i in range(0, n_cm, 2):
        draw_rect(alpha, x0 + i * ppc, edge, x0 + (i + 1) * ppc, edge + band_h)
    draw_rect(alpha, x0 + n_cm * ppc - fw, edge, x0 + n_cm * ppc, edge + band_h)
    y_t = edge + band_h
    band = _draw_cm_ticks(alpha, ax, x0, y_t, True, ppc)
    kind = str(rng.choice(["sans-bold", "sans"]))
    cy = y_t + ax.cm_len + gap + dh / 2
    digits = [_draw_digit(alpha, str(k), k, "cm", x0 + k * ppc, cy, dh, kind, stroke)
              for k in range(0, n_cm + 1)]
    img = _soften(_compose(alpha, bg, ink, rng), rng, ppc)
    return RulerDrawing(img, digits, "block", ppc, float(x0), band, extra={"block_band": (edge, y_t)})


# --------------------------------------------------------------------------- colour chart
_CHART_COLOURS = np.array([
    [115, 82, 68], [194, 150, 130], [98, 122, 157], [87, 108, 67], [133, 128, 177],
    [103, 189, 170], [214, 126, 44], [80, 91, 166], [193, 90, 99], [94, 60, 108],
    [157, 188, 64], [224, 163, 46], [56, 61, 150], [70, 148, 73], [175, 54, 60],
    [231, 199, 31], [187, 86, 149], [8, 133, 161], [243, 243, 242], [200, 200, 200],
    [160, 160, 160], [122, 122, 121], [85, 85, 85], [52, 52, 52],
], np.float32)


def render_colour_chart(rng: np.random.Generator, px_per_cm: float) -> RulerDrawing:
    """A colour/grey chart: 8–15 numbered patches (numbers 1..N under the patches, unit "patch").

    The numbers are a trap for the scale OCR: they are evenly spaced but are not centimetres.
    """
    ppc = float(px_per_cm)
    n = int(rng.integers(8, 16))
    pw = rng.uniform(1.3, 2.5) * ppc
    gapx = rng.uniform(0.0, 0.25) * ppc
    ph = rng.uniform(1.0, 2.2) * ppc
    two_rows = rng.random() < 0.35
    dark = rng.random() < 0.35
    m = rng.uniform(0.2, 0.5) * ppc
    dh = _digit_height(rng, ppc, pw + gapx, 2)
    gap = rng.uniform(0.08, 0.2) * ppc
    top_rows = 2 if two_rows else 1
    H = int(np.ceil(m + top_rows * ph + (top_rows - 1) * gapx + gap + dh + m))
    W = int(np.ceil(2 * m + n * pw + (n - 1) * gapx))
    body = np.array([rng.uniform(10, 40)] * 3 if dark else [rng.uniform(225, 250)] * 3, np.float32)
    ink = np.array([235, 235, 235] if dark else [25, 25, 25], np.float32)
    base = np.empty((H, W, 3), np.float32)
    base[:] = body
    idx = rng.permutation(len(_CHART_COLOURS))
    k = 0
    for r in range(top_rows):
        y = m + r * (ph + gapx)
        for i in range(n):
            x = m + i * (pw + gapx)
            c = _CHART_COLOURS[idx[k % len(idx)]] + rng.normal(0, 6, 3)
            k += 1
            base[int(round(y)): int(round(y + ph)), int(round(x)): int(round(x + pw))] = np.clip(c, 0, 255)
    alpha = np.zeros((H, W), np.float32)
    cy = m + top_rows * ph + (top_rows - 1) * gapx + gap + dh / 2
    digits = [_draw_digit(alpha, str(i + 1), i + 1, "patch", m + i * (pw + gapx) + pw / 2, cy,
                          dh, "sans-bold", 0.0) for i in range(n)]
    img = _soften(_compose(alpha, body, ink, rng, base=base), rng, ppc)
    return RulerDrawing(img, digits, "colour_chart", ppc, None, None,
                        extra={"patch_pitch_px": float(pw + gapx)})
