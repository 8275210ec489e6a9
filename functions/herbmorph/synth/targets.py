"""Colour targets with a scale, as institutions photograph them beside a sheet (Golden Thread,
Kodak): a grey bar carrying an inch scale, often a cm scale, and a row of numbered colour patches.

The patches are numbered at a quarter-inch pitch, evenly spaced, and are *not* a scale: a
reader that takes them for one is 37% wrong. The scale is the inch scale (numbered inches, 1/8
or 1/16 ticks) or the cm scale (numbered cm, mm ticks); where both are printed, the inch
numbers often run the other way (4 3 2 1 0 | 0 1 2 … 10), as on the Golden Thread target.
"""
from __future__ import annotations

import numpy as np

from .rulers import (CM_PER_INCH, RulerDrawing, _CHART_COLOURS, _cm_axis_params, _compose, _draw_cm_ticks,
                     _draw_digit, _draw_word, _inch_ticks, _soften, draw_rect)


def render_target(rng: np.random.Generator, ppc: float) -> RulerDrawing:
    ppi = ppc * CM_PER_INCH
    n_in = 4
    div = int(rng.choice([8, 16]))
    with_cm = rng.random() < 0.6
    n_cm = 10
    body = np.array([rng.uniform(105, 160)] * 3, np.float32) + rng.uniform(-4, 4, 3).astype(np.float32)
    ink = np.array([rng.uniform(5, 30)] * 3, np.float32)
    dh = float(np.clip(rng.uniform(0.18, 0.3) * ppc, 6.0, None))
    kind = str(rng.choice(["sans", "sans-bold"]))
    m = rng.uniform(0.2, 0.4) * ppc
    edge = rng.uniform(0.05, 0.15) * ppc
    ax = _cm_axis_params(rng, ppc, n_cm, 0)
    scale_h = edge + max(2.6 * 0.2 * ppc, ax.cm_len) + 0.1 * ppc + dh + 0.1 * ppc
    patch_h = rng.uniform(0.8, 1.4) * ppc
    pitch = ppi / 4
    n_patch = int(rng.integers(12, 25))
    H = int(np.ceil(scale_h + patch_h + 0.1 * ppc + dh + m))
    inch_len = n_in * ppi
    W = int(np.ceil(2 * m + inch_len + (0.6 * ppc + n_cm * ppc if with_cm else 0) + m))
    W = max(W, int(np.ceil(2 * m + n_patch * pitch)))
    base = np.empty((H, W, 3), np.float32)
    base[:] = body
    alpha = np.zeros((H, W), np.float32)
    tick_w = max(rng.uniform(0.010, 0.02) * ppc, 0.45)
    # inch scale: numbers grow left to right on a pure inch target, right to left beside a cm one
    reverse = with_cm
    xi0 = m + (inch_len if reverse else 0.0)
    band_lo, band_hi, lin = _inch_ticks_dir(alpha, rng, ppc, xi0, edge, n_in, div, tick_w, reverse)
    cy = edge + lin + 0.08 * ppc + dh / 2
    digits = [_draw_digit(alpha, str(k), k, "inch", xi0 + (-1 if reverse else 1) * k * ppi, cy, dh, kind, 0.0)
              for k in range(n_in + 1)]
    x0 = None
    cm_band = None
    if with_cm:
        x0 = m + inch_len + 0.6 * ppc
        cm_band = _draw_cm_ticks(alpha, ax, x0, edge, True, ppc)
        cyc = edge + ax.cm_len + 0.08 * ppc + dh / 2
        digits += [_draw_digit(alpha, str(k), k, "cm", x0 + k * ppc, cyc, dh, kind, 0.0) for k in range(n_cm + 1)]
        _draw_word(alpha, "centimeters", x0 + 0.6 * n_cm * ppc, cyc + dh, 0.6 * dh, "sans")
    draw_rect(alpha, m, edge - max(tick_w, 0.6), W - m, edge)  # the scale's edge line
    # the trap: numbered patches at a quarter-inch pitch, numbers in the middle of each patch
    y_p = scale_h
    idx = rng.permutation(len(_CHART_COLOURS))
    patch_digits = []
    for i in range(n_patch):
        x = m + i * pitch
        c = _CHART_COLOURS[idx[i % len(idx)]] + rng.normal(0, 6, 3)
        base[int(round(y_p)):int(round(y_p + patch_h)), int(round(x)):int(round(x + pitch)) - 1] = np.clip(c, 0, 255)
        patch_digits.append(_draw_digit(alpha, str(i + 1), i + 1, "patch", x + pitch / 2,
                                        y_p + patch_h + 0.05 * ppc + dh / 2, dh, kind, 0.0))
    img = _soften(_compose(alpha, body, ink, rng, base=base), rng, ppc)
    tick_band = cm_band if cm_band is not None else (band_lo, band_hi)
    return RulerDrawing(img, digits, "target", ppc, x0 if x0 is not None else float(xi0), tick_band,
                        float(xi0), (band_lo, band_hi),
                        extra={"inch_div": div, "inch_reversed": reverse, "patch_digits": patch_digits})


def _inch_ticks_dir(alpha, rng, ppc: float, xi0: float, edge: float, n_in: int, div: int, w: float,
                    reverse: bool) -> tuple[float, float, float]:
    """Inch ticks hanging down from the edge, running right to left from xi0 when ``reverse``."""
    if not reverse:
        return _inch_ticks(alpha, rng, ppc, xi0, edge, True, n_in, div, w)
    flipped = np.ascontiguousarray(alpha[:, ::-1])
    W = alpha.shape[1]
    out = _inch_ticks(flipped, rng, ppc, W - xi0, edge, True, n_in, div, w)
    alpha[:] = flipped[:, ::-1]
    return out
