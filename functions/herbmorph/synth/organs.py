"""Pressed stems, roots, flowers, fruits and seeds (leaves live in :mod:`leaves`).

Every generator works in a local crop at full resolution and returns an
:class:`~herbmorph.synth.draw.OrganDrawing`: the crop's corner in the sheet, a boolean mask (the
organ before occlusion) and a lazy colour painter. Shapes are built in centimetres, so sizes are
realistic at any resolution. Labelling rules: a stem is one branching system (its branches and
any pedicels drawn with it); a root is one root system (a fibrous mass or a tap root with its
laterals); an inflorescence of small florets (umbel, spike, grass panicle) is one flower, its
thin branches included.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from .colours import FLOWER_COLOURS, FRUIT_COLOURS, ROOT_COLOURS, SEED_COLOURS, Tone, pick
from .draw import ONE, Canvas, OrganDrawing, finish, rim, rot, to_fixed
from .leaves import make_leaf  # noqa: F401  (re-exported: organs used to hold leaves)


# --------------------------------------------------------------------------- paths
def stem_path(rng: np.random.Generator, start_cm: np.ndarray, heading: float, length_cm: float,
              curviness: float = 0.15, step_cm: float = 0.5) -> np.ndarray:
    """A wandering centreline (cm) of about ``length_cm``."""
    n = max(3, int(length_cm / step_cm))
    pts = [np.asarray(start_cm, np.float64)]
    h, dh = heading, 0.0
    for _ in range(n):
        dh = 0.7 * dh + rng.normal(0, curviness * 0.35)
        h += dh
        pts.append(pts[-1] + step_cm * np.array([np.cos(h), np.sin(h)]))
    return np.array(pts)


def _draw_tapered(cv: Canvas, img: np.ndarray, px: np.ndarray, w0: float, w1: float, value,
                  low: bool = False) -> None:
    n = len(px)
    for i in range(n - 1):
        w = w0 + (w1 - w0) * i / max(1, n - 1)
        cv.line(img, px[i], px[i + 1], value, max(1.0, w), low=low)


def _paint_axes(rng, cv: Canvas, axes: list, col: np.ndarray, var: float = 0.08) -> np.ndarray:
    """Colour of stems and roots: noise along the crop, a pale sheen along thick axes, dark rims."""
    lm = cv.low_mask()
    img = col[None, None, :] * (1 + var * cv.noise(rng, 1.0) + cv.grain(rng, 0.04))[..., None]
    hi = np.zeros((cv.lh, cv.lw), np.uint8)
    for px, w0, w1 in axes:
        if w0 * cv.s >= 3:
            _draw_tapered(cv, hi, px, w0 * 0.3, w1 * 0.3, 255, low=True)
    img *= (1 + rng.uniform(0.06, 0.2) * hi.astype(np.float32) / 255.0)[..., None]
    img *= (1 - rng.uniform(0.1, 0.3) * rim(lm, 0.02 * cv.ppc * cv.s))[..., None]
    return cv.upscale(img)


# --------------------------------------------------------------------------- stems
def make_stem(rng: np.random.Generator, ppc: float, axes_cm: list, tone: Optional[Tone] = None,
              colour: Optional[np.ndarray] = None) -> Optional[OrganDrawing]:
    """One stem system: ``axes_cm`` is a list of (path cm, base width cm, tip width cm)."""
    if not axes_cm:
        return None
    col = colour if colour is not None else (tone.stem(rng).at(tone.t) if tone else pick(rng, ROOT_COLOURS))
    axes = [(np.asarray(p) * ppc, w0 * ppc, w1 * ppc) for p, w0, w1 in axes_cm if len(p) >= 2]
    cv = Canvas(np.concatenate([a for a, _, _ in axes]), max(a[1] for a in axes) + 3, ppc)
    for px, w0, w1 in axes:
        _draw_tapered(cv, cv.mask, px, w0, w1, 1)
    if rng.random() < 0.5:  # swollen nodes
        for px, w0, w1 in axes:
            for i in range(3, len(px) - 1, int(rng.integers(3, 8))):
                r = max(1, int(0.6 * (w0 + (w1 - w0) * i / len(px))))
                q = cv.local(px[i][None])[0]
                cv2.circle(cv.mask, (int(round(q[0])), int(round(q[1]))), r, 1, -1)
    return finish("stem", cv, lambda: _paint_axes(rng, cv, axes, col),
                  meta={"width_cm": max(w for _, w, _ in axes_cm), "axes": len(axes)})


# --------------------------------------------------------------------------- roots
def make_root(rng: np.random.Generator, ppc: float, top_cm: np.ndarray, heading: float,
              length_cm: Optional[float] = None, kind: Optional[str] = None) -> Optional[OrganDrawing]:
    """A root system hanging from ``top_cm`` along ``heading``: a fibrous mass of many thin,
    wavy roots (grasses, herbs) or a tap root with laterals."""
    kind = kind or str(rng.choice(["fibrous", "fibrous", "tap"]))
    L = float(length_cm if length_cm is not None else rng.uniform(3.0, 12.0))
    col = pick(rng, ROOT_COLOURS)
    axes: list = []
    top = np.asarray(top_cm, np.float64)

    def grow(start, h, length, w, depth, curl):
        p = stem_path(rng, start, h, length, curviness=curl, step_cm=max(0.1, length / 30))
        axes.append((p * ppc, w * ppc, w * 0.3 * ppc))
        if depth >= 2 or length < 1.0:
            return
        for _ in range(int(rng.integers(1, 4 if depth == 0 else 3))):
            k = int(rng.integers(1, len(p) - 1))
            grow(p[k], h + rng.choice([-1, 1]) * rng.uniform(0.4, 1.2), length * rng.uniform(0.25, 0.55),
                 w * rng.uniform(0.4, 0.7), depth + 1, curl)

    if kind == "fibrous":
        curl = rng.uniform(0.15, 0.5)
        fan = rng.uniform(0.6, 1.8)
        for _ in range(int(rng.integers(12, 45))):
            h = heading + rng.uniform(-fan / 2, fan / 2)
            grow(top + rng.normal(0, 0.25, 2), h, L * rng.uniform(0.35, 1.0), rng.uniform(0.02, 0.07),
                 1 + int(rng.random() < 0.5), curl)
    else:
        grow(top, heading, L, rng.uniform(0.12, 0.5), 0, rng.uniform(0.3, 0.6))
    cv = Canvas(np.concatenate([a for a, _, _ in axes]), max(a[1] for a in axes) + 3, ppc)
    for px, w0, w1 in axes:
        _draw_tapered(cv, cv.mask, px, w0, w1, 1)
    return finish("root", cv, lambda: _paint_axes(rng, cv, axes, col, 0.12),
                  meta={"length_cm": L, "kind": kind})


# --------------------------------------------------------------------------- flowers
def _ellipse(img, c, a, b, angle_deg, value) -> None:
    el = cv2.ellipse2Poly((0, 0), (int(max(a, 0.5) * ONE), int(max(b, 0.5) * ONE)), int(angle_deg), 0, 360, 8)
    cv2.fillPoly(img, [el + to_fixed(np.asarray(c)[None])], value, cv2.LINE_8, 4)


def make_flower(rng: np.random.Generator, ppc: float, centre_px: np.ndarray,
                diameter_cm: Optional[float] = None, kind: Optional[str] = None,
                heading: Optional[float] = None, colour: Optional[np.ndarray] = None) -> Optional[OrganDrawing]:
    """A pressed flower or inflorescence centred on ``centre_px`` (spikes and panicles start
    there and grow along ``heading``)."""
    kind = kind or str(rng.choice(["rosette", "rosette", "head", "bell", "umbel", "spike", "panicle"]))
    big = kind in ("spike", "panicle")
    D = float(diameter_cm if diameter_cm is not None else rng.uniform(3.0, 14.0) if big else rng.uniform(0.6, 4.0))
    col = pick(rng, FLOWER_COLOURS) if colour is None else np.clip(colour * rng.uniform(0.85, 1.1), 0, 255)
    cen = pick(rng, np.array([[140, 116, 62], [90, 64, 44], [160, 136, 74], [64, 52, 40]], np.float32))
    a0 = rng.uniform(0, 2 * np.pi) if heading is None else heading
    c0 = np.asarray(centre_px, np.float64)
    ext = np.array([c0 - D * ppc, c0 + D * ppc])
    cv = Canvas(ext, 3, ppc)
    disc = np.zeros_like(cv.mask)
    c = cv.local(c0[None])[0]
    if kind == "rosette":
        n = int(rng.integers(4, 9))
        pl, pw = D / 2 * ppc, D / 2 * ppc * rng.uniform(0.25, 0.6)
        for i in range(n):
            a = a0 + 2 * np.pi * i / n + rng.normal(0, 0.12)
            _ellipse(cv.mask, c + 0.5 * pl * np.array([np.cos(a), np.sin(a)]), pl * 0.5, pw * 0.5, np.degrees(a), 1)
        cv2.circle(disc, (int(c[0]), int(c[1])), max(1, int(D * 0.13 * ppc)), 1, -1)
    elif kind == "head":  # composite: a disc with short rays
        R = D / 2 * ppc
        for i in range(int(rng.integers(10, 24))):
            a = a0 + 2 * np.pi * i / 20 + rng.normal(0, 0.05)
            _ellipse(cv.mask, c + 0.6 * R * np.array([np.cos(a), np.sin(a)]), R * 0.42, max(R * 0.1, 1), np.degrees(a), 1)
        cv2.circle(disc, (int(c[0]), int(c[1])), max(1, int(R * 0.42)), 1, -1)
    elif kind == "bell":
        L = D * ppc
        t = np.linspace(0, 1, 30)
        half = L * 0.35 * (0.3 + 0.7 * t ** 1.5)
        xs = t * L - L / 2
        lip = np.stack([L / 2 + L * 0.08 * (np.arange(5) % 2 == 0), np.linspace(-1, 1, 7)[1:-1][::-1] * L * 0.33], 1)
        poly = np.concatenate([np.stack([xs, half], 1), lip, np.stack([xs[::-1], -half[::-1]], 1)])
        cv2.fillPoly(cv.mask, [to_fixed(poly @ rot(a0).T + c)], 1, cv2.LINE_8, 4)
    else:  # umbel / spike / panicle: small florets on thin branches
        R = D / 2 * ppc
        fl = max(1.0, rng.uniform(0.04, 0.1) * D * ppc * (0.4 if big else 1))
        axis_w = max(1.0, rng.uniform(0.02, 0.06) * ppc)
        florets = []
        if kind == "umbel":
            for _ in range(int(rng.integers(8, 30))):
                a = a0 + rng.uniform(-1.2, 1.2)
                q = c + R * rng.uniform(0.5, 1.0) * np.array([np.cos(a), np.sin(a)])
                cv2.line(cv.mask, tuple(int(v) for v in c), tuple(int(v) for v in q), 1, int(axis_w))
                florets.append(q)
        else:
            L = D * ppc
            d = np.array([np.cos(a0), np.sin(a0)])
            tip = c + d * L * 0.95
            cv2.line(cv.mask, tuple(int(v) for v in c), tuple(int(v) for v in tip), 1, int(axis_w))
            for u in np.linspace(0.05, 1.0, int(rng.integers(10, 40))):
                base = c + d * L * 0.95 * u
                if kind == "panicle":
                    a = a0 + rng.choice([-1, 1]) * rng.uniform(0.2, 0.8)
                    q = base + R * 0.5 * (1.1 - u) * rng.uniform(0.3, 1.0) * np.array([np.cos(a), np.sin(a)])
                    cv2.line(cv.mask, tuple(int(v) for v in base), tuple(int(v) for v in q), 1, max(1, int(axis_w * 0.6)))
                    florets += [base + (q - base) * f for f in rng.uniform(0.4, 1.0, int(rng.integers(1, 4)))]
                else:
                    florets.append(base + rng.normal(0, fl * 0.5, 2))
        for q in florets:
            _ellipse(cv.mask, q, fl, fl * rng.uniform(0.4, 0.8), rng.uniform(0, 180), 1)
    cv.mask |= disc
    vein_rows = rng.random() < 0.5

    def paint() -> np.ndarray:
        lm = cv.low_mask()
        img = col[None, None, :] * (1 + 0.15 * cv.noise(rng, 0.5) + cv.grain(rng, 0.05))[..., None]
        img *= (1 + rng.uniform(-0.3, 0.15) * rim(lm, 0.05 * ppc * cv.s))[..., None]  # petals thin out at the edge
        if vein_rows and kind == "rosette":
            img *= (1 - 0.08 * (np.sin(np.arange(cv.lw) * 1.7)[None, :] > 0.6))[..., None]
        ld = cv.low_mask(disc)[..., None]
        return cv.upscale(img * (1 - ld) + cen * ld * (1 + 0.1 * cv.noise(rng, 0.2))[..., None])

    return finish("flower", cv, paint, meta={"kind": kind, "diameter_cm": D})


# --------------------------------------------------------------------------- fruits
def make_fruit(rng: np.random.Generator, ppc: float, centre_px: np.ndarray,
               size_cm: Optional[float] = None, kind: Optional[str] = None) -> Optional[OrganDrawing]:
    kind = kind or str(rng.choice(["berry", "berry", "drupe", "capsule", "pod", "samara", "cone"]))
    S = float(size_cm if size_cm is not None else
              rng.uniform(0.3, 1.6) if kind in ("berry", "drupe") else
              rng.uniform(2.0, 12.0) if kind == "pod" else rng.uniform(1.0, 4.0))
    col = pick(rng, FRUIT_COLOURS)
    a0 = rng.uniform(0, 2 * np.pi)
    c0 = np.asarray(centre_px, np.float64)
    cv = Canvas(np.array([c0 - S * ppc, c0 + S * ppc]), 3, ppc)
    c = cv.local(c0[None])[0]
    marks: list = []   # (polyline local px, width px): sutures, scales
    if kind in ("berry", "drupe", "capsule", "cone"):
        ell = rng.uniform(0.85, 1.0) if kind in ("berry", "drupe") else rng.uniform(0.4, 0.75)
        a, b = S / 2 * ppc, S / 2 * ppc * ell
        _ellipse(cv.mask, c, a, b, np.degrees(a0), 1)
        d, n = np.array([np.cos(a0), np.sin(a0)]), np.array([-np.sin(a0), np.cos(a0)])
        if kind == "capsule":
            marks = [(np.array([c - d * a * 0.9, c + d * a * 0.9]), 1.0)]
        elif kind == "cone":  # overlapping scales: rows of arcs
            for u in np.linspace(-0.8, 0.8, int(rng.integers(5, 12))):
                q = c + d * a * u
                marks.append((np.array([q - n * b * 0.8 * np.sqrt(1 - u * u), q + d * a * 0.1, q + n * b * 0.8 * np.sqrt(1 - u * u)]), 1.0))
    elif kind == "samara":  # a seed with a wing
        L = S * ppc
        t = np.linspace(0, 1, 30)
        half = L * 0.16 * np.sin(np.pi * t ** 0.7)
        poly = np.concatenate([np.stack([t * L, half], 1), np.stack([t[::-1] * L, -half[::-1] * 0.6], 1)])
        cv2.fillPoly(cv.mask, [to_fixed(poly @ rot(a0).T + c - rot(a0) @ [L / 2, 0])], 1, cv2.LINE_8, 4)
        _ellipse(cv.mask, c - rot(a0) @ [L * 0.4, 0], L * 0.12, L * 0.08, np.degrees(a0), 1)
    else:  # legume pod: long, curved, bumpy over its seeds
        L = S * ppc
        t = np.linspace(-0.5, 0.5, 60)
        wpod = L * rng.uniform(0.06, 0.18)
        ctr = np.stack([t * L, rng.normal(0, 0.15) * L * (t ** 2 - 0.25)], 1)
        nb = int(rng.integers(3, 9))
        half = wpod / 2 * np.sqrt(np.clip(1 - (2 * t) ** 8, 0, 1)) * (1 + 0.12 * np.abs(np.sin(np.pi * nb * (t + 0.5))))
        poly = np.concatenate([ctr + np.stack([0 * t, half], 1), (ctr - np.stack([0 * t, half], 1))[::-1]])
        cv2.fillPoly(cv.mask, [to_fixed(poly @ rot(a0).T + c)], 1, cv2.LINE_8, 4)
        marks = [((ctr @ rot(a0).T + c)[5:-5], 1.0)]

    def paint() -> np.ndarray:
        lm = cv.low_mask()
        img = col[None, None, :] * (1 + 0.12 * cv.noise(rng, 0.4) + cv.grain(rng, 0.04))[..., None]
        if kind in ("berry", "drupe") and S * ppc * cv.s > 8:  # wrinkled skin, a soft highlight
            hl = np.zeros((cv.lh, cv.lw), np.float32)
            off = (c + 0.5) * cv.s - 0.5 - 0.18 * S * ppc * cv.s
            cv2.circle(hl, (int(off[0]), int(off[1])), max(1, int(S * 0.12 * ppc * cv.s)), 1.0, -1)
            img += cv2.GaussianBlur(hl, (0, 0), max(0.5, S * 0.06 * ppc * cv.s))[..., None] * rng.uniform(20, 60)
        mk = np.zeros((cv.lh, cv.lw), np.uint8)
        for p, w in marks:
            cv2.polylines(mk, [to_fixed((p + 0.5) * cv.s - 0.5)], False, 255, max(1, int(w)), cv2.LINE_AA, 4)
        img *= (1 - 0.35 * mk.astype(np.float32)[..., None] / 255.0)
        img *= (1 - rng.uniform(0.1, 0.3) * rim(lm, 0.03 * ppc * cv.s))[..., None]
        return cv.upscale(img)

    return finish("fruit", cv, paint, meta={"kind": kind, "size_cm": S})


# --------------------------------------------------------------------------- seeds
def make_seed(rng: np.random.Generator, ppc: float, centre_px: np.ndarray,
              size_cm: Optional[float] = None, colour: Optional[np.ndarray] = None) -> Optional[OrganDrawing]:
    S = float(size_cm if size_cm is not None else rng.uniform(0.2, 1.0))
    col = colour if colour is not None else pick(rng, SEED_COLOURS)
    col = np.clip(col * rng.uniform(0.92, 1.08), 0, 255)
    ang = rng.uniform(0, 360)
    c0 = np.asarray(centre_px, np.float64)
    cv = Canvas(np.array([c0 - S * ppc, c0 + S * ppc]), 2, ppc)
    c = cv.local(c0[None])[0]
    a, b = S / 2 * ppc, S / 2 * ppc * rng.uniform(0.45, 0.9)
    _ellipse(cv.mask, c, a, b, ang, 1)
    if rng.random() < 0.3 and a > 3:  # kidney-shaped: a notch at the hilum
        d = np.array([-np.sin(np.radians(ang)), np.cos(np.radians(ang))])
        _ellipse(cv.mask, c + d * b * 1.05, a * 0.3, b * 0.35, ang, 0)

    def paint() -> np.ndarray:
        lm = cv.low_mask()
        img = col[None, None, :] * (1 + 0.08 * cv.noise(rng, 0.1) + cv.grain(rng, 0.05))[..., None]
        img *= (1 - 0.3 * rim(lm, max(0.6, 0.03 * ppc * cv.s)))[..., None]
        return cv.upscale(img)

    return finish("seed", cv, paint, meta={"size_cm": S})
