"""Herbarium paper: cream/white/yellowed/tan stock with fibres, foxing and gentle illumination.

Everything low-frequency is generated at a reduced resolution and upscaled; only a tiled fine
grain is added at full resolution, so a 30 Mpx sheet costs tens of milliseconds.
"""
from __future__ import annotations

import cv2
import numpy as np

PAPER_TONES = {
    "white": (244, 243, 238),
    "cream": (240, 233, 212),
    "ivory": (236, 228, 205),
    "yellowed": (228, 214, 176),
    "tan": (212, 198, 166),
    "grey-white": (232, 232, 226),
}
_TONE_P = {"white": 0.22, "cream": 0.3, "ivory": 0.18, "yellowed": 0.14, "tan": 0.08,
           "grey-white": 0.08}


def paper_tone(rng: np.random.Generator) -> np.ndarray:
    names = list(_TONE_P)
    name = names[int(rng.choice(len(names), p=np.array(list(_TONE_P.values()))))]
    return np.clip(np.array(PAPER_TONES[name], np.float32) + rng.normal(0, 3.0, 3), 0, 255)


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: float) -> np.ndarray:
    """Smooth noise in about [-1, 1] with ``cells`` random lattice points along the long side."""
    n = max(2, int(cells))
    gh = max(2, int(round(n * h / max(h, w))) + 1)
    gw = max(2, int(round(n * w / max(h, w))) + 1)
    g = rng.normal(0, 1, (gh, gw)).astype(np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)


def fine_grain(rng: np.random.Generator, h: int, w: int, strength: float) -> np.ndarray:
    """int16 H×W grain built from a tiled 256² random patch (cheap at any size)."""
    t = 256
    patch = rng.normal(0, strength, (t, t)).astype(np.float32)
    patch = cv2.GaussianBlur(patch, (0, 0), 0.6)
    patch = np.round(patch).astype(np.int16)
    reps = (-(-h // t), -(-w // t))
    return np.tile(patch, reps)[:h, :w]


def make_paper(rng: np.random.Generator, h: int, w: int, px_per_cm: float,
               tone: np.ndarray | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """A paper texture of h×w pixels (RGB uint8), written into ``out`` when given.

    Built in three resolutions: illumination, mottling and stains at ≤10 px/cm; fibres and grain
    at ≤40 px/cm; one linear upscale to full resolution.
    """
    tone = paper_tone(rng) if tone is None else tone
    s1 = min(1.0, 10.0 / px_per_cm)
    lh, lw = max(8, int(h * s1)), max(8, int(w * s1))
    lo = np.empty((lh, lw, 3), np.float32)
    lo[:] = tone
    # illumination: linear gradient + soft vignette
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    yy /= lh
    xx /= lw
    gx, gy = rng.normal(0, 0.03, 2)
    illum = 1.0 + gx * (xx - 0.5) + gy * (yy - 0.5)
    vig = rng.uniform(0.0, 0.05)
    illum -= vig * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2) * 2
    lo *= illum[..., None]
    # cloudy mottling (paper formation), mostly luminance
    lum = smooth_noise(rng, lh, lw, rng.uniform(6, 20)) * rng.uniform(0.8, 2.5)
    lum += smooth_noise(rng, lh, lw, rng.uniform(40, 90)) * rng.uniform(0.5, 1.5)
    lo += lum[..., None]
    lo[..., 2] += smooth_noise(rng, lh, lw, 6) * rng.uniform(0.3, 1.5)
    # foxing / stains: brownish soft blotches
    for _ in range(int(rng.poisson(2.0 if rng.random() < 0.5 else 0.3))):
        cx, cy = rng.uniform(0, lw), rng.uniform(0, lh)
        r = rng.uniform(0.1, 1.2) * px_per_cm * s1
        blot = np.zeros((lh, lw), np.float32)
        cv2.circle(blot, (int(cx), int(cy)), max(1, int(r)), 1.0, -1)
        blot = cv2.GaussianBlur(blot, (0, 0), max(0.8, r * 0.5))
        a = rng.uniform(0.05, 0.2)
        stain = np.array([150, 110, 60], np.float32)
        lo += (stain - lo) * (blot[..., None] * a)
    if rng.random() < 0.2:  # large faint water-stain ring
        cx, cy = rng.uniform(0, lw), rng.uniform(0, lh)
        r = rng.uniform(2, 8) * px_per_cm * s1
        ring = np.zeros((lh, lw), np.float32)
        cv2.circle(ring, (int(cx), int(cy)), max(2, int(r)), 1.0, max(1, int(r * 0.08)))
        ring = cv2.GaussianBlur(ring, (0, 0), max(1.0, r * 0.05))
        lo -= ring[..., None] * rng.uniform(4, 10) * np.array([0.6, 0.8, 1.2], np.float32)
    # mid resolution: fibres and grain
    s2 = min(1.0, 40.0 / px_per_cm)
    mh, mw = max(8, int(h * s2)), max(8, int(w * s2))
    mid = cv2.resize(lo, (mw, mh), interpolation=cv2.INTER_LINEAR)
    fib = np.zeros((mh, mw), np.float32)
    nf = int(h * w / px_per_cm ** 2 * rng.uniform(0.5, 3.0))  # fibres per cm²
    pts = rng.uniform(0, 1, (nf, 2)) * [mw, mh]
    ang = rng.uniform(0, np.pi, nf)
    ln = rng.uniform(0.05, 0.4, nf) * px_per_cm * s2
    sgn = rng.choice([-1.0, 1.0], nf)
    for (x, y), a, L, sg in zip(pts, ang, ln, sgn):
        dx, dy = np.cos(a) * L, np.sin(a) * L
        cv2.line(fib, (int(x), int(y)), (int(x + dx), int(y + dy)), float(sg), 1, cv2.LINE_AA)
    g = rng.normal(0, rng.uniform(1.0, 2.5), (mh, mw)).astype(np.float32)
    mid += (fib * rng.uniform(2, 6) + g)[..., None]
    mid = np.clip(mid, 0, 255).astype(np.uint8)
    full = mid if (mh, mw) == (h, w) else cv2.resize(mid, (w, h), interpolation=cv2.INTER_LINEAR)
    if out is None:
        return full
    out[:] = full
    return out
