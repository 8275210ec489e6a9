"""What is mounted with a specimen: seeds in clear packets, loose seeds, and strips of tape.

Labelling rules (the ground truth follows what the eye sees):
- seeds in a clear (glassine or cellophane) packet show through its film and are seeds; the
  packet's folded rim is opaque and hides what is under it, so seeds lie inside it;
- an opaque strip (gummed paper or linen, the usual way a specimen is strapped down) hides the
  plant: its pixels are not the organ's, so a stem under a strip is cut in two;
- clear tape does not hide the plant: an organ seen through it keeps those pixels.
"""
from __future__ import annotations

import cv2
import numpy as np

from .clutter import tape_strip
from .colours import SEED_COLOURS, pick
from .organs import make_seed
from .paper import smooth_noise
from .placement import PlantBed

STRIP_COLOURS = np.array([[244, 240, 228], [236, 226, 200], [226, 212, 176], [248, 248, 244], [214, 196, 160]],
                         np.float32)


def _free_rect(bed: PlantBed, w: int, h: int, tries: int = 40):
    H, W = bed.labels.shape
    x0, y0, x1, y1 = bed.paper
    for _ in range(tries):
        if x1 - x0 - w < 2 or y1 - y0 - h < 2:
            return None
        x, y = int(bed.rng.uniform(x0, x1 - w)), int(bed.rng.uniform(y0, y1 - h))
        if not bed.labels[y:y + h, x:x + w].any():
            return x, y
    return None


def seed_packet(bed: PlantBed) -> int:
    """A clear packet of one species' seeds; returns how many seeds show."""
    rng, ppc = bed.rng, bed.ppc
    w, h = int(rng.uniform(4, 9) * ppc), int(rng.uniform(5, 11) * ppc)
    pos = _free_rect(bed, w, h)
    if pos is None:
        return 0
    x, y = pos
    rim = max(2, int(rng.uniform(0.15, 0.35) * ppc))
    size = rng.uniform(0.15, 0.8)
    col = pick(rng, SEED_COLOURS)
    n = 0
    for _ in range(int(rng.integers(4, 31))):
        cx = rng.uniform(x + rim + size * ppc, x + w - rim - size * ppc)
        cy = y + h - rim - size * ppc - abs(rng.normal(0, 0.35)) * (h - 2 * rim)  # they settle at the bottom
        if cy < y + rim + size * ppc:
            continue
        s = bed.try_place(make_seed(rng, ppc, np.array([cx, cy]), size * rng.uniform(0.85, 1.15), col),
                          max_overlap=0.15, keep_frac=0.6)
        n += bool(s)
    # the film over everything inside, then the opaque folded rim
    film = np.array([rng.uniform(230, 250)] * 3, np.float32) - [0, 2, 8]
    a = rng.uniform(0.1, 0.3) * (1 + 0.3 * smooth_noise(rng, h, w, 5))
    sub = bed.img[y:y + h, x:x + w].astype(np.float32)
    sub = sub * (1 - a[..., None]) + film * a[..., None]
    crinkle = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(2, 7))):
        p = rng.uniform(0, 1, 2) * [w, h]
        q = p + rng.normal(0, 0.5, 2) * [w, h]
        cv2.line(crinkle, tuple(int(v) for v in p), tuple(int(v) for v in q), 1.0, max(1, int(0.03 * ppc)), cv2.LINE_AA)
    sub += crinkle[..., None] * rng.uniform(8, 20)
    band = np.ones((h, w), bool)
    band[rim:h - rim, rim:w - rim] = False
    top = int(rng.uniform(0.1, 0.25) * h)   # the folded-over flap at the top
    band[:top] = True
    sub[band] = sub[band] * 0.25 + film * 0.75 - rng.uniform(0, 12)
    bed.img[y:y + h, x:x + w] = np.clip(sub, 0, 255).astype(np.uint8)
    lab = bed.labels[y:y + h, x:x + w]
    lab[band | (lab == 0)] = 255   # the packet is not plant; its seeds are
    return n


def loose_seeds(bed: PlantBed) -> int:
    """A few seeds glued beside the specimen, in one small group."""
    rng, ppc = bed.rng, bed.ppc
    centre = bed.free_point(2.0)
    size = rng.uniform(0.15, 1.0)
    col = pick(rng, SEED_COLOURS)
    n = 0
    for _ in range(int(rng.integers(2, 12))):
        q = centre + rng.normal(0, 1.0, 2) * max(0.5, size * 1.5)
        n += bool(bed.try_place(make_seed(rng, ppc, q * ppc, size * rng.uniform(0.85, 1.15), col),
                                max_overlap=0.05, keep_frac=0.8))
    return n


def _strip(rng, ppc: float, centre: np.ndarray, angle: float):
    L, Wd = rng.uniform(1.5, 9.0) * ppc, rng.uniform(0.3, 0.9) * ppc
    c, s = np.cos(angle), np.sin(angle)
    corners = np.array([[-L / 2, -Wd / 2], [L / 2, -Wd / 2], [L / 2, Wd / 2], [-L / 2, Wd / 2]])
    corners = corners @ np.array([[c, s], [-s, c]]) + centre
    x0, y0 = np.floor(corners.min(0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(0)).astype(int) + 2
    a = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.fillPoly(a, [np.round((corners - [x0, y0] - 0.5) * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
    return int(x0), int(y0), a * rng.uniform(0.9, 1.0)


def _anchor(bed: PlantBed, rng):
    """A point on a stem (with the stem's direction) or on a leaf, in sheet pixels."""
    if bed.axes and rng.random() < 0.6:
        path, _ = bed.axes[int(rng.integers(0, len(bed.axes)))]
        if len(path) >= 3:
            i = int(rng.integers(1, len(path) - 1))
            d = path[i + 1] - path[i - 1]
            return path[i] * bed.ppc, float(np.arctan2(d[1], d[0])) + np.pi / 2 + rng.normal(0, 0.3)
    leaves = [k for k, o in enumerate(bed.organs, start=1) if o.cls == "leaf"]
    if not leaves:
        return None
    k = leaves[int(rng.integers(0, len(leaves)))]
    od = bed.organs[k - 1]
    ys, xs = np.nonzero(bed.labels[od.y:od.y + od.h:4, od.x:od.x + od.w:4] == k)
    if len(xs) == 0:
        return None
    i = int(rng.integers(0, len(xs)))
    return np.array([od.x + 4 * xs[i], od.y + 4 * ys[i]], np.float64), rng.uniform(0, np.pi)


def tape(bed: PlantBed) -> int:
    """Opaque strips across stems and leaves (hiding them), now and then clear tape (not)."""
    rng, ppc = bed.rng, bed.ppc
    H, W = bed.labels.shape
    n = 0
    n_opaque = int(rng.integers(2, 14)) if rng.random() < 0.55 else 0
    n_clear = int(rng.integers(1, 5)) if rng.random() < 0.25 else 0
    col = pick(rng, STRIP_COLOURS, 2)
    for k in range(n_opaque + n_clear):
        at = _anchor(bed, rng)
        if at is None:
            return n
        opaque = k < n_opaque
        if opaque:
            x, y, a = _strip(rng, ppc, *at)
            rgb = np.empty(a.shape + (3,), np.float32)
            rgb[:] = col
            rgb *= (1 + 0.02 * smooth_noise(rng, *a.shape, 4))[..., None]
        else:
            x, y, rgb, a = tape_strip(rng, ppc, *at)
        h, w = a.shape
        if x < 0 or y < 0 or x + w > W or y + h > H:
            continue
        sub = bed.labels[y:y + h, x:x + w]
        if (sub[a > 0.01] == 255).any():
            continue  # never over labels, rulers, charts or other strips
        hide = a >= 0.5 if opaque else np.zeros_like(a, bool)
        cnt = np.bincount(sub[hide], minlength=256)
        hit = np.nonzero(cnt[1:255])[0] + 1
        if any(bed.visible[i - 1] - cnt[i] < 0.6 * bed.original[i - 1] for i in hit):
            continue  # a strip may hide a piece of an organ, not most of it
        for i in hit:
            bed.visible[i - 1] -= int(cnt[i])
        dst = bed.img[y:y + h, x:x + w]
        dst[:] = np.clip(dst * (1 - a[..., None]) + rgb * a[..., None], 0, 255).astype(np.uint8)
        sub[hide] = 255
        n += 1
    return n
