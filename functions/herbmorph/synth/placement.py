"""Where organs go on a sheet, and what of them stays visible: the ground truth's one source.

The sheet's label map holds 0 for bare paper, k for organ k-1 and 255 for everything that is not
plant (background, labels, ruler, charts, tape strips). An organ is drawn over paper and over
earlier organs (it lies on top of them; they lose those pixels). It may also pass *under* a
label, slip, envelope or barcode sticker (glued on after the plant): those pixels stay the
label's and are not the organ's. It never touches a ruler, a colour chart or the background.
So an organ's mask is exactly the pixels that show it.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from ..results import ORGAN_CLASSES
from .draw import OrganDrawing
from .masks import mask_truth

MAX_ORGANS = 150          # the label map is uint8: organs 1..254
COVER_KINDS = ("label", "envelope", "barcode")   # glued on after the plant: organs run under them


class Placed(NamedTuple):
    """What is kept of a placed organ: its class and its crop (the drawing itself is let go, so
    that a 250 px/cm sheet does not hold every organ's full-resolution colours until the end)."""
    cls: str
    x: int
    y: int
    w: int
    h: int


class PlantBed:
    def __init__(self, sheet, rng: np.random.Generator):
        self.rng = rng
        self.ppc = sheet.ppc
        self.img = sheet.img
        self.labels = sheet.labels
        self.paper = sheet.layout.paper
        self.cover = [tuple(int(round(v)) for v in d["bbox"]) for d in sheet.distractors
                      if d["kind"] in COVER_KINDS]
        self.organs: list[Placed] = []
        self.visible: list[int] = []
        self.original: list[int] = []
        self.axes: list[tuple[np.ndarray, float]] = []   # stem centrelines (cm) and widths, for tape

    @property
    def paper_cm(self) -> tuple[float, float, float, float]:
        return tuple(v / self.ppc for v in self.paper)

    def count(self, cls: str) -> int:
        return sum(o.cls == cls for o in self.organs)

    def full(self) -> bool:
        return len(self.organs) >= MAX_ORGANS

    # ------------------------------------------------------------------ occlusion by labels
    def cover_crop(self, x: int, y: int, w: int, h: int) -> np.ndarray:
        out = np.zeros((h, w), bool)
        for x0, y0, x1, y1 in self.cover:
            a, b, c, d = max(x0 - x, 0), max(y0 - y, 0), min(x1 - x, w), min(y1 - y, h)
            if c > a and d > b:
                out[b:d, a:c] = True
        return out

    def coverable(self, x: float, y: float) -> bool:
        return any(x0 <= x < x1 and y0 <= y < y1 for x0, y0, x1, y1 in self.cover)

    # ------------------------------------------------------------------ placing
    def try_place(self, od: Optional[OrganDrawing], max_overlap: float = 0.3, keep_frac: float = 0.5,
                  max_hidden: float = 0.35) -> bool:
        """Draw ``od`` if it fits: at most ``max_overlap`` of its visible pixels over earlier
        organs, each of those keeping ``keep_frac`` of its pixels, at most ``max_hidden`` of it
        under labels, none of it on anything else that is not paper."""
        if od is None or self.full():
            return False
        if not self._inside(od):
            return False
        h, w = od.mask.shape
        sub = self.labels[od.y:od.y + h, od.x:od.x + w]
        if self._clearly_fails(od.mask, sub, max_overlap, max_hidden):
            return False
        covered = sub[od.mask]
        n = covered.size
        if n == 0:
            return False
        cnt = np.bincount(covered, minlength=256)
        hidden = int(cnt[255])
        vis = od.mask
        if hidden:
            if hidden > max_hidden * n:
                return False
            under = od.mask & (sub == 255)
            if not self.cover_crop(od.x, od.y, w, h)[under].all():
                return False
            vis = od.mask & (sub != 255)
        n_vis = n - hidden
        if n_vis - cnt[0] > max_overlap * n_vis:
            return False
        hit = np.nonzero(cnt[1:255])[0] + 1
        for k in hit:
            if self.visible[k - 1] - cnt[k] < keep_frac * self.original[k - 1]:
                return False
        for k in hit:
            self.visible[k - 1] -= int(cnt[k])
        sub[vis] = len(self.organs) + 1
        dst = self.img[od.y:od.y + h, od.x:od.x + w]
        dst[vis] = od.rgb[vis]
        self.organs.append(Placed(od.cls, od.x, od.y, w, h))
        self.visible.append(n_vis)
        self.original.append(n_vis)
        return True

    def sketch_fits(self, max_overlap: float = 0.3, max_hidden: float = 0.35):
        """A check on an organ's outline and veins (sheet px) before its mask is drawn: off the
        image or on a ruler means no, and so does a clear excess over labels or other organs.
        Drawing a large leaf's full-resolution mask only to turn it down is what costs time."""
        H, W = self.labels.shape

        def fits(pts: np.ndarray) -> bool:
            p = np.floor(np.asarray(pts)).astype(np.int64)
            if p[:, 0].min() < 0 or p[:, 1].min() < 0 or p[:, 0].max() >= W or p[:, 1].max() >= H:
                return False
            v = self.labels[p[:, 1], p[:, 0]]
            on = v == 255
            if on.any() and not all(self.coverable(x, y) for x, y in p[on][:: max(1, int(on.sum()) // 50)]):
                return False
            n = len(v)
            return on.sum() <= (max_hidden + 0.2) * n and np.count_nonzero((v > 0) & ~on) <= (max_overlap + 0.25) * n

        return fits

    def _clearly_fails(self, mask: np.ndarray, sub: np.ndarray, max_overlap: float, max_hidden: float) -> bool:
        """A quick look at every k-th pixel (sheets above 50 px/cm): most candidates are turned
        down, and the full count over a large crop is what makes a high-resolution sheet slow.
        Only clear failures are decided here; the exact count decides the rest."""
        k = int(self.ppc // 25)
        if k < 2:
            return False
        c = sub[::k, ::k][mask[::k, ::k]]
        if c.size < 50:
            return False
        hidden = np.count_nonzero(c == 255)
        over = c.size - hidden - np.count_nonzero(c == 0)
        return hidden > (max_hidden * 1.25 + 0.02) * c.size or over > (max_overlap * 1.25 + 0.02) * (c.size - hidden)

    def _inside(self, od: OrganDrawing) -> bool:
        """Crop an organ's canvas (its padding may stick out) to the image; False when the organ
        itself would leave the image."""
        H, W = self.labels.shape
        h, w = od.mask.shape
        if od.x >= 0 and od.y >= 0 and od.x + w <= W and od.y + h <= H:
            return True
        x0, y0, x1, y1 = max(od.x, 0), max(od.y, 0), min(od.x + w, W), min(od.y + h, H)
        if x1 <= x0 or y1 <= y0:
            return False
        win = (slice(y0 - od.y, y1 - od.y), slice(x0 - od.x, x1 - od.x))
        m = od.mask[win]
        if np.count_nonzero(m) != np.count_nonzero(od.mask):
            return False
        paint = od.painter
        od.painter, od._rgb = (lambda: paint()[win]), None
        od.x, od.y, od.mask = x0, y0, m
        return True

    def free_point(self, margin_cm: float = 1.0, region_cm=None) -> np.ndarray:
        """A point (cm) on bare paper, inside ``region_cm`` (x0, y0, x1, y1) when given."""
        x0, y0, x1, y1 = region_cm or self.paper_cm
        px0, py0, px1, py1 = self.paper_cm
        x0, y0 = max(x0, px0 + margin_cm), max(y0, py0 + margin_cm)
        x1, y1 = min(x1, px1 - margin_cm), min(y1, py1 - margin_cm)
        p = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        for _ in range(30):
            p = np.array([self.rng.uniform(x0, max(x1, x0 + 1e-3)), self.rng.uniform(y0, max(y1, y0 + 1e-3))])
            px = (p * self.ppc).astype(int)
            if self.labels[px[1], px[0]] == 0:
                return p
        return p

    def clip_path(self, path: np.ndarray, width_cm: float) -> np.ndarray:
        """Cut a centreline (cm) where it would leave the paper or touch a ruler or chart (it may
        run under labels)."""
        H, W = self.labels.shape
        r = width_cm * self.ppc + 2
        for i, p in enumerate(path):
            for dx, dy in ((0, 0), (r, 0), (-r, 0), (0, r), (0, -r)):
                x, y = int(p[0] * self.ppc + dx), int(p[1] * self.ppc + dy)
                if not (0 <= x < W and 0 <= y < H) or (self.labels[y, x] == 255 and not self.coverable(x, y)):
                    return path[:i]
        return path

    # ------------------------------------------------------------------ ground truth
    def ground_truth(self) -> tuple[list[dict], np.ndarray]:
        """Organ records read from the label map (organs left without a pixel are dropped and the
        map renumbered); returns (organs, labels)."""
        out, lut = [], np.zeros(256, np.uint8)
        lut[255] = 255
        for k, od in enumerate(self.organs, start=1):
            sub = self.labels[od.y:od.y + od.h, od.x:od.x + od.w]
            truth = mask_truth((sub == k).astype(np.uint8), od.x, od.y)
            if truth is None:
                continue
            lut[k] = len(out) + 1
            out.append({"class": od.cls, "class_id": ORGAN_CLASSES.index(od.cls), **truth})
        if len(out) != len(self.organs):
            self.labels = lut[self.labels]
        return out, self.labels
