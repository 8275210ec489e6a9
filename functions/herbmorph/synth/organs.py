"""Pressed plant organs: leaves, stems, flowers, fruits, roots, seeds.

Every generator works in a local crop at full resolution and returns an :class:`OrganDrawing`:
the crop's top-left corner in the sheet, a boolean mask (the organ's pixels before occlusion) and
an RGB colour patch for those pixels. Shapes are built in centimetres and converted with
``px_per_cm``, so sizes are realistic whatever the resolution.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import cv2
import numpy as np

from ..results import ORGAN_CLASSES
from .paper import smooth_noise

_SHIFT = 4  # cv2 fixed-point bits for sub-pixel polygons/lines
_ONE = 1 << _SHIFT


@dataclass
class OrganDrawing:
    cls: str
    x: int                     # crop top-left in sheet pixels
    y: int
    mask: np.ndarray           # h×w bool
    painter: Callable[[], np.ndarray]   # returns the h×w×3 uint8 colour patch (lazy: only
    anchors: list = field(default_factory=list)   # organs that get placed are painted)
    meta: dict = field(default_factory=dict)
    _rgb: Optional[np.ndarray] = None

    @property
    def rgb(self) -> np.ndarray:
        """h×w×3 uint8 colours (meaningful under ``mask``), painted on first access."""
        if self._rgb is None:
            self._rgb = self.painter()
        return self._rgb

    @property
    def class_id(self) -> int:
        return ORGAN_CLASSES.index(self.cls)


# --------------------------------------------------------------------------- colour palettes
LEAF_COLOURS = np.array([
    [88, 104, 56], [104, 112, 62], [120, 118, 70], [96, 90, 52], [128, 104, 64], [112, 84, 52],
    [86, 68, 44], [140, 128, 88], [70, 80, 48], [150, 120, 78], [108, 100, 84], [62, 58, 40],
], np.float32)
STEM_COLOURS = np.array([
    [112, 86, 58], [96, 74, 50], [130, 104, 72], [88, 92, 56], [120, 110, 74], [76, 58, 40],
    [150, 120, 84],
], np.float32)
FLOWER_COLOURS = np.array([
    [112, 78, 88], [136, 98, 104], [176, 150, 92], [160, 112, 92], [126, 88, 62], [196, 178, 142],
    [94, 68, 84], [150, 90, 76], [140, 124, 132], [180, 158, 88], [120, 96, 70], [104, 84, 60],
], np.float32)
FRUIT_COLOURS = np.array([
    [62, 38, 30], [110, 52, 34], [42, 40, 44], [150, 100, 52], [96, 84, 46], [128, 70, 40],
    [80, 50, 36], [170, 130, 80],
], np.float32)
ROOT_COLOURS = np.array([
    [96, 70, 46], [120, 92, 62], [70, 52, 36], [140, 112, 80], [84, 62, 44],
], np.float32)
SEED_COLOURS = np.array([
    [70, 48, 32], [40, 34, 30], [130, 96, 58], [160, 128, 84], [100, 70, 40], [60, 60, 56],
], np.float32)


def _jitter(rng: np.random.Generator, palette: np.ndarray, amount: float = 10.0) -> np.ndarray:
    """A palette colour with brightness jitter and a little per-channel jitter (no odd hues)."""
    c = palette[rng.integers(0, len(palette))] * rng.uniform(0.8, 1.2) + rng.normal(0, amount * 0.3, 3)
    return np.clip(c, 0, 255).astype(np.float32)


# --------------------------------------------------------------------------- geometry helpers
def _rot(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s], [s, c]])


def _to_fixed(pts: np.ndarray) -> np.ndarray:
    return np.round(pts * _ONE).astype(np.int32)


class _Canvas:
    """A crop of the sheet, positioned from the organ's extent in sheet pixels."""

    def __init__(self, pts_px: np.ndarray, pad: float):
        x0 = int(np.floor(pts_px[:, 0].min() - pad))
        y0 = int(np.floor(pts_px[:, 1].min() - pad))
        x1 = int(np.ceil(pts_px[:, 0].max() + pad)) + 1
        y1 = int(np.ceil(pts_px[:, 1].max() + pad)) + 1
        self.x, self.y = x0, y0
        self.w, self.h = max(1, x1 - x0), max(1, y1 - y0)
        self.mask = np.zeros((self.h, self.w), np.uint8)

    def local(self, pts_px: np.ndarray) -> np.ndarray:
        # continuous → cv2 pixel-centre coords: cv2 draws point p on pixel round(p)
        return pts_px - np.array([self.x, self.y]) - 0.5

    def poly(self, img: np.ndarray, pts_px: np.ndarray, value) -> None:
        cv2.fillPoly(img, [_to_fixed(self.local(pts_px))], value, cv2.LINE_8, _SHIFT)

    def polyline(self, img: np.ndarray, pts_px: np.ndarray, value, thick: float,
                 closed: bool = False) -> None:
        t = max(1, int(round(thick)))
        cv2.polylines(img, [_to_fixed(self.local(pts_px))], closed, value, t, cv2.LINE_8, _SHIFT)

    def line(self, img: np.ndarray, p: np.ndarray, q: np.ndarray, value, thick: float,
             aa: bool = False) -> None:
        a, b = _to_fixed(self.local(np.array([p, q])))
        cv2.line(img, tuple(int(v) for v in a), tuple(int(v) for v in b), value,
                 max(1, int(round(thick))), cv2.LINE_AA if aa else cv2.LINE_8, _SHIFT)


def _shade(rng: np.random.Generator, mask: np.ndarray, base: np.ndarray, ppc: float,
           var: float = 0.12, blotch: float = 0.0) -> np.ndarray:
    """Colour a crop: base colour × noise (low-frequency + fine), computed at ≤30 px/cm and upscaled.

    Returns uint8 h×w×3.
    """
    h, w = mask.shape
    s = min(1.0, 30.0 / ppc)
    lh, lw = max(2, int(round(h * s))), max(2, int(round(w * s)))
    cells = max(3.0, max(h, w) / (ppc * 0.8))
    n = smooth_noise(rng, lh, lw, cells) * var
    if blotch > 0:
        n += smooth_noise(rng, lh, lw, cells * 3) * blotch
    # fine texture (cells, hairs, wrinkles) at ~0.3 mm
    n += cv2.GaussianBlur(rng.normal(0, 1, (lh, lw)).astype(np.float32), (0, 0), 0.7) * rng.uniform(0.02, 0.06)
    img = base[None, None, :] * (1.0 + n[..., None])
    # slight hue drift across the organ (drying is uneven)
    drift = smooth_noise(rng, lh, lw, max(2.0, cells / 2))
    img[..., 0] += drift * rng.uniform(0, 8)
    img[..., 1] -= drift * rng.uniform(0, 3)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if (lh, lw) != (h, w):
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return img


def _scale_px(img: np.ndarray, sel: np.ndarray, factor: float) -> None:
    img[sel] = np.clip(img[sel] * factor, 0, 255).astype(np.uint8)


def _darken_rim(img: np.ndarray, mask: np.ndarray, amount: float, width_px: float) -> None:
    k = max(1, int(round(width_px)))
    inner = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    _scale_px(img, (mask > 0) & (inner == 0), 1.0 - amount)


def _finish(cls: str, cv: _Canvas, painter: Callable[[], np.ndarray], anchors=None,
            meta=None) -> Optional[OrganDrawing]:
    m = cv.mask > 0
    if not m.any():
        return None
    return OrganDrawing(cls, cv.x, cv.y, m, painter, anchors or [], meta or {})


# --------------------------------------------------------------------------- leaves
def _leaf_outline(rng: np.random.Generator, L: float, Wd: float, shape: str, n: int = 80) -> np.ndarray:
    """Closed outline in cm, base at (0,0), tip at (L,0)."""
    t = np.linspace(0, 1, n)
    if shape == "lanceolate":
        p = rng.uniform(0.7, 1.0)
        f = np.sin(np.pi * t ** p) ** rng.uniform(0.7, 1.0)
    elif shape == "obovate":
        f = np.sin(np.pi * t ** rng.uniform(1.3, 1.8)) ** 0.8
    elif shape == "lobed":
        f = np.sin(np.pi * t ** rng.uniform(0.8, 1.1)) ** 0.7
        k = int(rng.integers(2, 5))
        depth = rng.uniform(0.25, 0.55)
        f = f * (1.0 - depth * np.abs(np.sin(np.pi * k * t)) ** 0.6 * (t > 0.08))
    elif shape == "cordate":
        f = np.sin(np.pi * t ** rng.uniform(0.55, 0.75)) ** 0.6
    else:  # ovate / elliptic
        f = np.sin(np.pi * t ** rng.uniform(0.75, 1.15)) ** rng.uniform(0.6, 0.9)
    if rng.random() < 0.3:  # serrate margin
        teeth = rng.integers(12, 40)
        f = f * (1.0 + rng.uniform(0.02, 0.06) * np.abs(np.sin(np.pi * teeth * t)))
    half = Wd / 2 * f
    asym = rng.uniform(0.9, 1.1)
    x = t * L
    up = np.stack([x, half], 1)
    lo = np.stack([x[::-1], -half[::-1] * asym], 1)
    pts = np.concatenate([up, lo[1:-1]])
    if shape == "cordate":  # pull the base into two lobes
        base_idx = pts[:, 0] < 0.12 * L
        pts[base_idx, 0] -= 0.08 * L * np.abs(pts[base_idx, 1]) / max(Wd / 2, 1e-6)
    return pts


def _bend(pts: np.ndarray, L: float, c: float) -> np.ndarray:
    out = pts.copy()
    out[:, 1] += c * (np.clip(pts[:, 0], 0, None) / L) ** 2 * L
    return out


def make_leaf(rng: np.random.Generator, ppc: float, base_px: np.ndarray, angle: float,
              length_cm: Optional[float] = None, shape: Optional[str] = None) -> Optional[OrganDrawing]:
    """A pressed leaf whose petiole starts at ``base_px`` and points along ``angle`` (radians)."""
    shape = shape or str(rng.choice(["ovate", "ovate", "lanceolate", "lanceolate", "obovate",
                                     "lobed", "cordate", "compound", "palmate"]))
    L = float(length_cm if length_cm is not None else rng.uniform(2.0, 12.0))
    col = _jitter(rng, LEAF_COLOURS, 12)
    R = _rot(angle)
    bend = rng.normal(0, 0.08)
    pet = L * rng.uniform(0.03, 0.2)
    parts: list[np.ndarray] = []       # blade polygons (cm, leaf frame)
    veins: list[tuple[np.ndarray, np.ndarray, float]] = []
    if shape == "compound":
        pairs = int(rng.integers(2, 6))
        rach = L
        lf_len = rach / (pairs + 1) * rng.uniform(1.1, 1.8)
        for i in range(pairs):
            px_ = pet + rach * (i + 1) / (pairs + 1)
            for s in (-1, 1):
                a = s * rng.uniform(0.6, 1.1)
                o = _leaf_outline(rng, lf_len, lf_len * rng.uniform(0.3, 0.5), "ovate", 40)
                o = o @ _rot(a).T + [px_, 0]
                parts.append(o)
        o = _leaf_outline(rng, lf_len, lf_len * 0.45, "ovate", 40) + [pet + rach, 0]
        parts.append(o)
        rachis = np.array([[0, 0], [pet + rach + 0.1 * lf_len, 0]])
        total = pet + rach + lf_len
        rach_w = max(0.04, 0.012 * L)
    elif shape == "palmate":
        r0 = L * 0.5
        k = int(rng.integers(3, 8)) | 1
        th = np.linspace(0, 2 * np.pi, 180, endpoint=False)
        r = r0 * (0.55 + 0.45 * np.abs(np.cos(k * th / 2)) ** rng.uniform(0.5, 1.5))
        r *= 1 - 0.5 * np.exp(-((th - np.pi) ** 2) / 0.1)  # sinus at the petiole
        o = np.stack([r * np.cos(th), r * np.sin(th)], 1) + [pet + r0 * 0.5, 0]
        parts.append(o)
        rachis = np.array([[0, 0], [pet + r0 * 0.5, 0]])
        for j in range(k):
            a = th[int(j * 180 / k)]
            veins.append((np.array([pet + r0 * 0.5, 0]), np.array([pet + r0 * 0.5 + 0.85 * r0 * np.cos(a),
                                                                     0.85 * r0 * np.sin(a)]), 0.6))
        total = pet + r0 * 1.5
        rach_w = max(0.03, 0.01 * L)
    else:
        Wd = L * {"lanceolate": rng.uniform(0.08, 0.28), "obovate": rng.uniform(0.35, 0.6),
                  "lobed": rng.uniform(0.4, 0.8), "cordate": rng.uniform(0.5, 0.85)}.get(
            shape, rng.uniform(0.3, 0.6))
        o = _leaf_outline(rng, L, Wd, shape) + [pet, 0]
        parts.append(_bend(o, L, bend))
        rachis = _bend(np.array([[0, 0], [pet + L * 0.97, 0]]), L, bend)
        nv = int(rng.integers(4, 10))
        for i in range(nv):
            t = (i + 0.7) / (nv + 0.5)
            bx = pet + t * L
            for s in (-1, 1):
                f = np.sin(np.pi * min(t + 0.12, 0.98))
                ex = bx + rng.uniform(0.12, 0.25) * L
                ey = s * Wd / 2 * f * 0.85
                veins.append((np.array([bx, 0.0]), np.array([ex, ey]), 0.35))
        total = pet + L
        rach_w = max(0.025, 0.012 * L)
    # to sheet pixels
    def tf(p):
        return (np.asarray(p, np.float64) @ R.T) * ppc + base_px

    allpts = np.concatenate([tf(p) for p in parts] + [tf(rachis)])
    cv = _Canvas(allpts, pad=3 + rach_w * ppc)
    for p in parts:
        cv.poly(cv.mask, tf(p), 1)
    if shape == "compound" or shape == "palmate" or pet > 0:
        cv.polyline(cv.mask, tf(np.linspace(rachis[0], rachis[-1], 12)), 1, rach_w * ppc)
    if rng.random() < 0.15 and L > 4:  # insect damage holes
        for _ in range(int(rng.integers(1, 5))):
            c = tf([pet + rng.uniform(0.2, 0.8) * L, rng.normal(0, 0.1) * L])
            cv2.circle(cv.mask, tuple(int(v) for v in cv.local(c[None])[0]),
                       max(1, int(rng.uniform(0.06, 0.3) * ppc)), 0, -1)
    def paint() -> np.ndarray:
        img = _shade(rng, cv.mask, col, ppc, var=rng.uniform(0.06, 0.16), blotch=rng.uniform(0, 0.06))
        # venation: lighter or darker lines
        vsign = rng.choice([-1.0, 1.0], p=[0.4, 0.6])
        vc = np.clip(col * (1 + vsign * rng.uniform(0.12, 0.3)), 0, 255)
        vmask = np.zeros_like(cv.mask)
        cv.polyline(vmask, tf(np.linspace(rachis[0], rachis[-1], 12)), 1, max(1.0, rach_w * ppc * 0.8))
        for a, b, wf in veins:
            cv.line(vmask, tf(a), tf(b), 1, max(1.0, rach_w * ppc * wf * 0.6))
        vm = (vmask > 0) & (cv.mask > 0)
        img[vm] = np.clip(img[vm] * 0.35 + vc * 0.65, 0, 255).astype(np.uint8)
        _darken_rim(img, cv.mask, rng.uniform(0.05, 0.2), max(1.0, 0.03 * ppc))
        return img

    return _finish("leaf", cv, paint, meta={"shape": shape, "length_cm": total})


# --------------------------------------------------------------------------- stems
def stem_path(rng: np.random.Generator, start_cm: np.ndarray, heading: float, length_cm: float,
              curviness: float = 0.15, step_cm: float = 0.5) -> np.ndarray:
    n = max(3, int(length_cm / step_cm))
    pts = [np.asarray(start_cm, np.float64)]
    h = heading
    dh = 0.0
    for _ in range(n):
        dh = 0.7 * dh + rng.normal(0, curviness * 0.35)
        h += dh
        pts.append(pts[-1] + step_cm * np.array([np.cos(h), np.sin(h)]))
    return np.array(pts)


def make_stem(rng: np.random.Generator, ppc: float, path_cm: np.ndarray,
              width_cm: Optional[float] = None, branches: Optional[list[np.ndarray]] = None
              ) -> Optional[OrganDrawing]:
    """A stem along ``path_cm`` (sheet cm), tapering to the tip; ``branches`` join the same mask."""
    w0 = float(width_cm if width_cm is not None else rng.uniform(0.1, 0.45))
    col = _jitter(rng, STEM_COLOURS, 10)
    paths = [path_cm] + list(branches or [])
    allpx = np.concatenate(paths) * ppc
    cv = _Canvas(allpx, pad=w0 * ppc + 3)
    hi = np.zeros_like(cv.mask)
    for j, p in enumerate(paths):
        px = p * ppc
        n = len(px)
        wb = w0 if j == 0 else w0 * rng.uniform(0.4, 0.7)
        for i in range(n - 1):
            w = wb * (1.0 - 0.6 * i / n)
            t = max(1.0, w * ppc)
            cv.line(cv.mask, px[i], px[i + 1], 1, t)
            if t >= 4:
                cv.line(hi, px[i], px[i + 1], 1, t * 0.35)
    def paint() -> np.ndarray:
        img = _shade(rng, cv.mask, col, ppc, var=0.08)
        _scale_px(img, (hi > 0) & (cv.mask > 0), rng.uniform(1.08, 1.25))
        _darken_rim(img, cv.mask, rng.uniform(0.1, 0.25), max(1.0, 0.02 * ppc))
        return img

    return _finish("stem", cv, paint, meta={"width_cm": w0})


# --------------------------------------------------------------------------- flowers
def make_flower(rng: np.random.Generator, ppc: float, centre_px: np.ndarray,
                diameter_cm: Optional[float] = None, kind: Optional[str] = None) -> Optional[OrganDrawing]:
    kind = kind or str(rng.choice(["rosette", "rosette", "cluster", "bell", "head"]))
    D = float(diameter_cm if diameter_cm is not None else rng.uniform(0.6, 4.0))
    col = _jitter(rng, FLOWER_COLOURS, 14)
    cen = _jitter(rng, np.array([[140, 116, 62], [90, 64, 44], [160, 136, 74], [64, 52, 40]],
                                np.float32), 10)
    rot = rng.uniform(0, 2 * np.pi)
    ext = np.array([centre_px - D * ppc, centre_px + D * ppc])
    cv = _Canvas(ext, pad=3)
    disc = np.zeros_like(cv.mask)
    c = cv.local(np.asarray(centre_px, np.float64)[None])[0]
    if kind == "rosette":
        n = int(rng.integers(4, 9))
        pl, pw = D / 2 * ppc, D / 2 * ppc * rng.uniform(0.25, 0.55)
        for i in range(n):
            a = rot + 2 * np.pi * i / n + rng.normal(0, 0.1)
            pc = c + 0.5 * pl * np.array([np.cos(a), np.sin(a)])
            el = cv2.ellipse2Poly((0, 0), (int(pl * 0.5 * _ONE), int(max(pw * 0.5, 1) * _ONE)),
                                  int(np.degrees(a)), 0, 360, 10)
            cv2.fillPoly(cv.mask, [el + _to_fixed(pc[None])], 1, cv2.LINE_8, _SHIFT)
        cv2.circle(disc, (int(c[0]), int(c[1])), max(1, int(D * 0.13 * ppc)), 1, -1)
    elif kind == "cluster":  # many small florets (inflorescence)
        m = int(rng.integers(8, 30))
        for _ in range(m):
            r = D / 2 * ppc * np.sqrt(rng.uniform(0, 1))
            a = rng.uniform(0, 2 * np.pi)
            p = c + r * np.array([np.cos(a), np.sin(a)] * np.array([1.0, rng.uniform(0.5, 1.0)]))
            cv2.circle(cv.mask, (int(p[0]), int(p[1])), max(1, int(D * ppc * rng.uniform(0.05, 0.12))), 1, -1)
    elif kind == "bell":
        L = D * ppc
        t = np.linspace(0, 1, 30)
        half = L * 0.35 * (0.3 + 0.7 * t ** 1.5)
        xs = t * L - L / 2
        poly = np.concatenate([np.stack([xs, half], 1), np.stack([xs[::-1], -half[::-1]], 1)])
        lobes = np.linspace(-1, 1, 7)[1:-1] * L * 0.33
        lip = np.stack([L / 2 + L * 0.08 * (np.arange(5) % 2 == 0), lobes[::-1]], 1)
        poly = np.concatenate([poly[:30], lip, poly[30:]])
        poly = poly @ _rot(rot).T + c
        cv2.fillPoly(cv.mask, [_to_fixed(poly)], 1, cv2.LINE_8, _SHIFT)
    else:  # head (composite): disc with short ray petals
        n = int(rng.integers(10, 22))
        R = D / 2 * ppc
        for i in range(n):
            a = rot + 2 * np.pi * i / n
            p = c + 0.6 * R * np.array([np.cos(a), np.sin(a)])
            el = cv2.ellipse2Poly((0, 0), (int(R * 0.42 * _ONE), int(max(R * 0.1, 1) * _ONE)),
                                  int(np.degrees(a)), 0, 360, 15)
            cv2.fillPoly(cv.mask, [el + _to_fixed(p[None])], 1, cv2.LINE_8, _SHIFT)
        cv2.circle(disc, (int(c[0]), int(c[1])), max(1, int(R * 0.4)), 1, -1)
    cv.mask |= disc
    def paint() -> np.ndarray:
        img = _shade(rng, cv.mask, col, ppc, var=0.15, blotch=0.05)
        d = disc > 0
        if d.any():
            img[d] = np.clip(cen * (1 + rng.normal(0, 0.04, (int(d.sum()), 1))), 0, 255).astype(np.uint8)
        _darken_rim(img, cv.mask, rng.uniform(0.1, 0.3), max(1.0, 0.02 * ppc))
        return img

    return _finish("flower", cv, paint, meta={"kind": kind, "diameter_cm": D})


# --------------------------------------------------------------------------- fruits
def make_fruit(rng: np.random.Generator, ppc: float, centre_px: np.ndarray,
               size_cm: Optional[float] = None, kind: Optional[str] = None) -> Optional[OrganDrawing]:
    kind = kind or str(rng.choice(["berry", "berry", "ellipse", "pod", "capsule"]))
    S = float(size_cm if size_cm is not None else
              (rng.uniform(0.4, 1.6) if kind == "berry" else rng.uniform(1.0, 6.0 if kind == "pod" else 3.5)))
    col = _jitter(rng, FRUIT_COLOURS, 12)
    rot = rng.uniform(0, 2 * np.pi)
    cv = _Canvas(np.array([centre_px - S * ppc, centre_px + S * ppc]), pad=3)
    c = cv.local(np.asarray(centre_px, np.float64)[None])[0]
    if kind in ("berry", "ellipse", "capsule"):
        ax = (S / 2 * ppc, S / 2 * ppc * (rng.uniform(0.85, 1.0) if kind == "berry" else rng.uniform(0.45, 0.8)))
        el = cv2.ellipse2Poly((0, 0), (int(ax[0] * _ONE), int(max(ax[1], 0.5) * _ONE)),
                              int(np.degrees(rot)), 0, 360, 5)
        cv2.fillPoly(cv.mask, [el + _to_fixed(c[None])], 1, cv2.LINE_8, _SHIFT)
        if kind == "capsule":  # sutures
            pass
    else:  # pod: curved elongated with rounded ends and seed bumps
        L = S * ppc
        t = np.linspace(-0.5, 0.5, 40)
        wpod = L * rng.uniform(0.1, 0.2)
        curve = rng.normal(0, 0.15) * L
        ctr = np.stack([t * L, curve * (t ** 2 - 0.25)], 1)
        nb = int(rng.integers(3, 8))
        half = wpod / 2 * (np.sqrt(np.clip(1 - (2 * t) ** 8, 0, 1))) * (1 + 0.12 * np.abs(np.sin(np.pi * nb * (t + 0.5))))
        poly = np.concatenate([ctr + np.stack([0 * t, half], 1), (ctr - np.stack([0 * t, half], 1))[::-1]])
        poly = poly @ _rot(rot).T + c
        cv2.fillPoly(cv.mask, [_to_fixed(poly)], 1, cv2.LINE_8, _SHIFT)
    def paint() -> np.ndarray:
        img = _shade(rng, cv.mask, col, ppc, var=0.12, blotch=0.08)
        if kind == "berry" and S * ppc > 8:  # soft highlight
            hl = np.zeros(cv.mask.shape, np.float32)
            off = np.array([-0.18, -0.18]) * S * ppc
            cv2.circle(hl, (int(c[0] + off[0]), int(c[1] + off[1])), max(1, int(S * 0.12 * ppc)), 1.0, -1)
            hl = cv2.GaussianBlur(hl, (0, 0), max(0.5, S * 0.06 * ppc))
            img[:] = np.clip(img + hl[..., None] * rng.uniform(30, 70), 0, 255).astype(np.uint8)
        _darken_rim(img, cv.mask, rng.uniform(0.1, 0.3), max(1.0, 0.03 * ppc))
        return img

    return _finish("fruit", cv, paint, meta={"kind": kind, "size_cm": S})


# --------------------------------------------------------------------------- roots
def make_root(rng: np.random.Generator, ppc: float, top_cm: np.ndarray, heading: float,
              length_cm: Optional[float] = None) -> Optional[OrganDrawing]:
    L = float(length_cm if length_cm is not None else rng.uniform(3.0, 12.0))
    col = _jitter(rng, ROOT_COLOURS, 10)
    w0 = rng.uniform(0.06, 0.25)
    segs: list[tuple[np.ndarray, float]] = []

    def grow(start, h, length, w, depth):
        p = stem_path(rng, start, h, length, curviness=0.5, step_cm=max(0.15, length / 25))
        segs.append((p, w))
        if depth >= 3:
            return
        nb = int(rng.integers(1, 4 if depth == 0 else 3))
        for _ in range(nb):
            k = int(rng.integers(1, len(p) - 1))
            grow(p[k], h + rng.choice([-1, 1]) * rng.uniform(0.4, 1.2), length * rng.uniform(0.3, 0.6),
                 w * rng.uniform(0.4, 0.7), depth + 1)

    grow(np.asarray(top_cm, np.float64), heading, L, w0, 0)
    allpx = np.concatenate([p for p, _ in segs]) * ppc
    cv = _Canvas(allpx, pad=w0 * ppc + 3)
    for p, w in segs:
        px = p * ppc
        for i in range(len(px) - 1):
            cv.line(cv.mask, px[i], px[i + 1], 1, max(1.0, w * ppc * (1 - 0.7 * i / len(px))))
    return _finish("root", cv, lambda: _shade(rng, cv.mask, col, ppc, var=0.1), meta={"length_cm": L})


# --------------------------------------------------------------------------- seeds
def make_seed(rng: np.random.Generator, ppc: float, centre_px: np.ndarray,
              size_cm: Optional[float] = None) -> Optional[OrganDrawing]:
    S = float(size_cm if size_cm is not None else rng.uniform(0.3, 1.0))
    col = _jitter(rng, SEED_COLOURS, 10)
    rot = rng.uniform(0, 360)
    cv = _Canvas(np.array([centre_px - S * ppc, centre_px + S * ppc]), pad=2)
    c = cv.local(np.asarray(centre_px, np.float64)[None])[0]
    a, b = S / 2 * ppc, S / 2 * ppc * rng.uniform(0.5, 0.85)
    el = cv2.ellipse2Poly((0, 0), (int(max(a, 0.6) * _ONE), int(max(b, 0.6) * _ONE)), int(rot), 0, 360, 8)
    cv2.fillPoly(cv.mask, [el + _to_fixed(c[None])], 1, cv2.LINE_8, _SHIFT)
    def paint() -> np.ndarray:
        img = _shade(rng, cv.mask, col, ppc, var=0.1)
        if a > 4:  # hilum
            hm = np.zeros_like(cv.mask)
            d = np.array([np.cos(np.radians(rot)), np.sin(np.radians(rot))]) * a * 0.7
            cv2.circle(hm, (int(c[0] + d[0]), int(c[1] + d[1])), max(1, int(a * 0.15)), 1, -1)
            _scale_px(img, (hm > 0) & (cv.mask > 0), 0.6)
        _darken_rim(img, cv.mask, 0.2, max(1.0, 0.02 * ppc))
        return img

    return _finish("seed", cv, paint, meta={"size_cm": S})
