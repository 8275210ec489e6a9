"""Pressed, dried leaves: any shape of :mod:`leafshapes`, either face up, sometimes folded over,
with venation, uneven drying, insect holes and bitten margins.

The mask is the leaf as it lies on the sheet: a folded leaf's mask is the part that stayed plus
the flap turned over onto (or beside) it, and the flap shows the other face.
"""
from __future__ import annotations

from typing import Callable, Optional

import cv2
import numpy as np

from .colours import Tone, specimen_tone, underside
from .draw import Canvas, OrganDrawing, apply_affine, finish, reflection, rim, rot
from .leafshapes import SHAPES, bend, geometry

# shapes of a leaf drawn on its own (a specimen picks one shape for all its leaves)
SHAPE_P = {"ovate": 0.16, "elliptic": 0.14, "lanceolate": 0.14, "obovate": 0.07, "cordate": 0.07,
           "linear": 0.03, "lobed": 0.08, "palmate": 0.08, "compound": 0.1, "trifoliate": 0.04,
           "digitate": 0.03, "needle": 0.02, "blade": 0.04}
assert set(SHAPE_P) == set(SHAPES)


def random_shape(rng: np.random.Generator) -> str:
    return str(rng.choice(list(SHAPE_P), p=np.array(list(SHAPE_P.values())) / sum(SHAPE_P.values())))


def _heading(rng, shape: str, length: float):
    if shape in ("blade", "linear", "needle"):  # long and thin: they curve, and wave a little
        k1, k2 = rng.normal(0, 0.35), rng.normal(0, 0.5)
        wf, wa, wp = rng.uniform(1, 3), rng.uniform(0, 0.12), rng.uniform(0, 6.3)
        return lambda s: k1 * s / length + k2 * (s / length) ** 2 + wa * np.sin(wf * 6.28 * s / length + wp)
    k = rng.normal(0, 0.15)
    return lambda s: k * 2 * (s / length) ** 2


def _half_plane(cv: Canvas, p0: np.ndarray, d: np.ndarray, side_pt: np.ndarray) -> np.ndarray:
    """uint8 mask of the canvas on the side of the line (p0, d) that holds ``side_pt`` (local px)."""
    n = np.array([-d[1], d[0]])
    if np.dot(side_pt - p0, n) < 0:
        n = -n
    big = 4.0 * (cv.w + cv.h)
    poly = np.array([p0 - d * big, p0 + d * big, p0 + d * big + n * big, p0 - d * big + n * big])
    out = np.zeros_like(cv.mask)
    cv2.fillPoly(out, [np.round(poly * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    return out


def make_leaf(rng: np.random.Generator, ppc: float, base_px: np.ndarray, angle: float,
              length_cm: Optional[float] = None, shape: Optional[str] = None,
              tone: Optional[Tone] = None, fold_p: float = 0.15, lower_p: float = 0.35,
              damage_p: float = 0.2, fits: Optional[Callable[[np.ndarray], bool]] = None
              ) -> Optional[OrganDrawing]:
    """A pressed leaf whose petiole starts at ``base_px`` (sheet px) pointing along ``angle``;
    None when ``fits`` (given the outline and veins in sheet px) turns it down before drawing."""
    shape = shape or random_shape(rng)
    L = float(length_cm if length_cm is not None else rng.uniform(2.0, 14.0))
    lt = (tone or specimen_tone(rng, grass=shape == "blade")).leaf(rng)
    g = geometry(rng, shape, L)
    g = bend(g, _heading(rng, shape, g.length))
    R = rot(angle)

    def tf(p):
        return (np.asarray(p, np.float64) @ R.T) * ppc + base_px

    blades = [tf(p) for p in g.blades]
    stalks = [(tf(p), w * ppc) for p, w in g.stalks]
    allpts = np.concatenate(blades + [p for p, _ in stalks])
    # fold: the part beyond a line across the leaf is turned over about that line
    fold = None
    if rng.random() < fold_p and shape != "needle" and g.veins:
        axis = tf(g.veins[0][0]) if shape not in ("compound", "trifoliate", "digitate") else tf(g.stalks[0][0])
        if len(axis) >= 2:
            i = int(len(axis) * rng.uniform(0.5, 0.88))
            i = min(max(i, 1), len(axis) - 2)
            da = axis[i + 1] - axis[i - 1]
            da /= max(np.linalg.norm(da), 1e-9)
            phi = rng.uniform(0.5, 1.45) * rng.choice([-1, 1])
            d = rot(phi) @ da
            fold = (axis[i], d, axis[-1])
            m = reflection(axis[i], d)
            allpts = np.concatenate([allpts, apply_affine(m, allpts)])
    if fits is not None and not fits(np.concatenate([allpts] + [tf(p) for p, _, _ in g.veins[:12]])):
        return None
    pad = 3 + max([w for _, w in stalks], default=1.0)
    cv = Canvas(allpts, pad, ppc)
    for p in blades:
        cv.poly(cv.mask, p, 1)
    for p, w in stalks:
        cv.polyline(cv.mask, p, 1, max(1.0, w))
    if rng.random() < damage_p and L * ppc > 40:  # insect holes and bitten margins
        ys, xs = np.nonzero(cv.mask)
        for _ in range(int(rng.integers(1, 7))):
            k = int(rng.integers(0, len(xs)))
            r = max(1, int(min(rng.uniform(0.04, 0.1 if rng.random() < 0.7 else 0.25) * L / 4, 1.0) * ppc))
            cv2.circle(cv.mask, (int(xs[k]), int(ys[k])), r, 0, -1)
        if rng.random() < 0.5:
            edge = np.concatenate(blades)
            for _ in range(int(rng.integers(1, 4))):
                q = cv.local(edge[int(rng.integers(0, len(edge)))][None])[0]
                cv2.circle(cv.mask, (int(q[0]), int(q[1])), max(1, int(rng.uniform(0.1, 0.3) * L / 3 * ppc)), 0, -1)
    keep = cv.mask
    flap = None
    if fold is not None:
        p0, d, tip = (cv.local(fold[0][None])[0], fold[1], cv.local(fold[2][None])[0])
        beyond = _half_plane(cv, p0, d, tip)
        src = cv.mask & beyond
        m = reflection(p0, d)
        flap = cv2.warpAffine(src, m, (cv.w, cv.h), flags=cv2.INTER_NEAREST, borderValue=0)
        keep = cv.mask & (1 - beyond)
        if flap.sum() < 0.05 * src.sum() + 1 or keep.sum() == 0:
            flap, keep, fold = None, cv.mask, None
        else:
            cv.mask = keep | flap
    lower = rng.random() < lower_p
    vein_w = max(0.025, 0.01 * min(L, 25)) * ppc
    rim_amt = rng.uniform(-0.05, 0.25)
    edge_brown = rng.uniform(0.0, 0.2)
    vein_dark = rng.random() < 0.45
    veins = [(tf(p), w, r) for p, w, r in g.veins]
    net = rng.uniform(0.12, 0.4) if shape not in ("needle", "blade", "linear") and rng.random() < 0.7 else 0.0
    net_amt = rng.uniform(-0.06, 0.12)

    def face(low_mask: np.ndarray, is_lower: bool) -> np.ndarray:
        t = lt.t + 0.05 * cv.noise(rng, 2.5) + 0.03 * cv.noise(rng, 0.6)
        t = t + edge_brown * rim(low_mask, 0.15 * ppc * cv.s)
        shade = 1 + 0.04 * cv.noise(rng, 0.3) + cv.grain(rng, rng.uniform(0.015, 0.05))
        if net and cv.s * ppc >= 12:  # the fine vein network: zero crossings of a fine noise
            n = cv.noise(rng, net)
            shade -= net_amt * np.clip(1 - np.abs(n) / 0.12, 0, 1)
        col = lt.at(t) * shade[..., None]
        if is_lower:
            col = underside(col, rng.uniform(0.12, 0.35))
        vm = np.zeros((cv.lh, cv.lw), np.uint8)
        for p, w, rank in veins:
            if rank == 2 and not is_lower and rng.random() < 0.5:
                continue
            cv.polyline(vm, p, 255, max(1.0, vein_w * w * (1.5 if is_lower else 1.0)), low=True)
        a = vm.astype(np.float32)[..., None] / 255.0
        if is_lower:   # raised, pale veins
            vc, s = col * 0.55 + np.array([215, 205, 175], np.float32) * 0.45, rng.uniform(0.5, 0.9)
        elif vein_dark:
            vc, s = col * 0.7, rng.uniform(0.3, 0.7)
        else:
            vc, s = col * 1.18 + 8, rng.uniform(0.3, 0.7)
        col = col * (1 - s * a) + vc * (s * a)
        return col * (1 - rim_amt * rim(low_mask, 0.04 * ppc * cv.s))[..., None]

    def paint() -> np.ndarray:
        main = face(cv.low_mask(keep), lower)
        if flap is None:
            return cv.upscale(main)
        other = face(cv.low_mask(cv.mask), not lower)
        sx, sy = cv.lw / cv.w, cv.lh / cv.h
        p0, d, _ = fold
        p0 = (cv.local(p0[None])[0] + 0.5) * [sx, sy] - 0.5
        d = np.array([d[0] * sx, d[1] * sy])
        other = cv2.warpAffine(other, reflection(p0, d), (cv.lw, cv.lh), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
        fl = cv.low_mask(flap)[..., None]
        out = main * (1 - fl) + other * fl
        crease = np.zeros((cv.lh, cv.lw), np.uint8)
        cv2.line(crease, tuple(int(v) for v in p0 - d * 4 * (cv.lw + cv.lh)),
                 tuple(int(v) for v in p0 + d * 4 * (cv.lw + cv.lh)), 255, 1, cv2.LINE_AA)
        return cv.upscale(out * (1 - 0.25 * crease[..., None] / 255.0))

    return finish("leaf", cv, paint, meta={"shape": shape, "length_cm": g.length, "lower": lower,
                                           "folded": flap is not None})
