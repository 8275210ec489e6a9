"""One synthetic herbarium sheet with exact ground truth.

:func:`generate_sheet` returns the RGB image and a JSON-serialisable GT dict (see
:data:`GT_FORMAT`); :func:`generate_sheet_sample` also returns the instance label map the GT was
computed from (0 = paper, k = organ ``k-1`` of ``gt["organs"]``, 255 = everything that is not a
plant: background, labels, ruler, charts...).

Coordinates: continuous pixel coordinates (pixel i covers [i, i+1)) for bboxes, ruler digits and
tick positions; organ polygons are the boundary pixel indices returned by ``cv2.findContours``
(so ``cv2.fillPoly`` of a polygon reproduces its mask component).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import cv2
import numpy as np

from . import clutter
from .extras import loose_seeds, seed_packet, tape
from .paper import make_paper
from .placement import PlantBed
from .plants import add_specimens
from .rulers import RULER_DESIGNS, RulerDrawing, render_colour_chart, render_ruler
from .scalebars import render_scalebar
from .skew import skew_sample
from .targets import render_target

GT_FORMAT = """
{"width": W, "height": H, "px_per_cm": float, "seed": any, "paper_bbox": [x1,y1,x2,y2],
 "organs": [{"class": "leaf", "class_id": 0, "polygon": [[x,y],...], "polygons": [[[x,y],...],...],
             "bbox": [x1,y1,x2,y2], "area_px": int}],
 "scale": null | {"bbox": [x1,y1,x2,y2], "design": str, "rotation": 0|90|180|270,
                  "px_per_cm": float, "tick0": [x,y], "axis": [dx,dy],
                  "digits": [{"text","value","unit","cx","cy","bbox"}],
                  "bar_cm": float (design "bar" only: a printed scale bar, tick0 its left end at
                            mid-thickness, its one label in digits, e.g. "5 cm" or "10mm")},
 "distractors": [{"kind": "colour_chart"|"label"|"barcode"|"envelope"|"stamp", "bbox": [...],
                  "rotation": int, "digits": [...]}]}
"""

ROTATIONS = (0, 90, 180, 270)
_ROT_P = np.array([0.45, 0.2, 0.15, 0.2])
TARGET_P = 0.12  # share of scales drawn as a colour target (Golden Thread, Kodak) instead of a ruler
_DESIGN_P = np.array([0.24, 0.16, 0.14, 0.12, 0.2, 0.14])  # RULER_DESIGNS order
BAR_P = 0.08  # share of scales drawn as a printed scale bar (design "bar") instead of a ruler


# --------------------------------------------------------------------------- rotation helpers
def rotate_image(img: np.ndarray, rot: int) -> np.ndarray:
    """Rotate clockwise by ``rot`` degrees (multiple of 90)."""
    return np.ascontiguousarray(np.rot90(img, k=-(rot // 90) % 4))


def rotate_points(pts: np.ndarray, rot: int, w: float, h: float) -> np.ndarray:
    """Map continuous points of an upright w×h image into the image rotated clockwise by rot."""
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    x, y = p[:, 0], p[:, 1]
    if rot == 0:
        q = np.stack([x, y], 1)
    elif rot == 90:
        q = np.stack([h - y, x], 1)
    elif rot == 180:
        q = np.stack([w - x, h - y], 1)
    elif rot == 270:
        q = np.stack([y, w - x], 1)
    else:
        raise ValueError(rot)
    return q


def rotate_vector(v, rot: int) -> list[float]:
    dx, dy = v
    return {0: [dx, dy], 90: [-dy, dx], 180: [-dx, -dy], 270: [dy, -dx]}[rot]


def _place_digits(digits: list[dict], rot: int, w: int, h: int, ox: int, oy: int) -> list[dict]:
    out = []
    for d in digits:
        c = rotate_points([[d["cx"], d["cy"]]], rot, w, h)[0] + [ox, oy]
        b = d["bbox"]
        corners = rotate_points([[b[0], b[1]], [b[2], b[3]]], rot, w, h) + [ox, oy]
        lo, hi = corners.min(0), corners.max(0)
        out.append({"text": d["text"], "value": d["value"], "unit": d["unit"],
                    "cx": round(float(c[0]), 3), "cy": round(float(c[1]), 3),
                    "bbox": [round(float(v), 3) for v in (lo[0], lo[1], hi[0], hi[1])]})
    return out


# --------------------------------------------------------------------------- layout
@dataclass
class _Layout:
    W: int
    H: int
    ppc: float
    paper: tuple[int, int, int, int]      # x0, y0, x1, y1 (pixels)
    band: Optional[tuple[int, int, int, int]]  # dark top band outside the paper, if any
    rects: list                            # occupied rectangles

    def free(self, x0, y0, x1, y1, pad=0.0) -> bool:
        for a in self.rects:
            if x0 < a[2] + pad and x1 + pad > a[0] and y0 < a[3] + pad and y1 + pad > a[1]:
                return False
        return True

    def find(self, rng, w, h, region, pad_cm=0.3, tries=60) -> Optional[tuple[int, int]]:
        rx0, ry0, rx1, ry1 = region
        pad = pad_cm * self.ppc
        for _ in range(tries):
            if rx1 - w < rx0 or ry1 - h < ry0:
                return None
            x = int(rng.uniform(rx0, rx1 - w))
            y = int(rng.uniform(ry0, ry1 - h))
            if self.free(x, y, x + w, y + h, pad):
                return x, y
        return None


class _Sheet:
    def __init__(self, rng: np.random.Generator, ppc: float):
        self.rng = rng
        self.ppc = ppc
        pw, ph = rng.uniform(26, 30), rng.uniform(38, 44)
        if rng.random() < 0.08:
            pw, ph = ph, pw
        band = None
        if rng.random() < 0.45:
            m = rng.uniform(0.15, 1.5, 4)  # l, t, r, b in cm
            if rng.random() < 0.35:
                m[1] = rng.uniform(3.0, 4.5)  # a dark band on top that carries the ruler
                band = True
        else:
            m = np.zeros(4)
        W = int(round((pw + m[0] + m[2]) * ppc))
        H = int(round((ph + m[1] + m[3]) * ppc))
        p = (int(round(m[0] * ppc)), int(round(m[1] * ppc)), W - int(round(m[2] * ppc)),
             H - int(round(m[3] * ppc)))
        self.layout = _Layout(W, H, ppc, p, None, [])
        if band:
            self.layout.band = (0, 0, W, p[1])
        # background (scanner lid / copy stand) and paper
        bgv = rng.uniform(8, 60) if rng.random() < 0.75 else rng.uniform(90, 160)
        bgc = np.clip(bgv + rng.normal(0, 3, 3), 0, 255).astype(np.uint8)
        if p == (0, 0, W, H):
            self.img = make_paper(rng, H, W, ppc)
            self.labels = np.zeros((H, W), np.uint8)
        else:
            self.img = np.empty((H, W, 3), np.uint8)
            self.img[:p[1]] = bgc
            self.img[p[3]:] = bgc
            self.img[:, :p[0]] = bgc
            self.img[:, p[2]:] = bgc
            make_paper(rng, p[3] - p[1], p[2] - p[0], ppc, out=self.img[p[1]:p[3], p[0]:p[2]])
            self.labels = np.full((H, W), 255, np.uint8)
            self.labels[p[1]:p[3], p[0]:p[2]] = 0
        self.scale: Optional[dict] = None
        self.distractors: list[dict] = []

    # ----------------------------------------------------------------- helpers
    @property
    def paper_cm(self) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = self.layout.paper
        return x0 / self.ppc, y0 / self.ppc, x1 / self.ppc, y1 / self.ppc

    def paste(self, patch: np.ndarray, x: int, y: int, kind: Optional[str] = None,
              digits: Optional[list] = None, rot: int = 0, reserve: bool = True) -> list[float]:
        h, w = patch.shape[:2]
        self.img[y:y + h, x:x + w] = patch
        if reserve:
            self.labels[y:y + h, x:x + w] = 255
        self.layout.rects.append((x, y, x + w, y + h))
        bbox = [float(x), float(y), float(x + w), float(y + h)]
        if kind:
            self.distractors.append({"kind": kind, "bbox": bbox, "rotation": rot,
                                     "digits": digits or []})
        return bbox

    def blend(self, x: int, y: int, rgb: np.ndarray, alpha: np.ndarray) -> None:
        H, W = self.labels.shape
        h, w = alpha.shape
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
        if x1 <= x0 or y1 <= y0:
            return
        a = alpha[y0 - y:y1 - y, x0 - x:x1 - x, None]
        c = rgb[y0 - y:y1 - y, x0 - x:x1 - x]
        dst = self.img[y0:y1, x0:x1]
        dst[:] = np.clip(dst * (1 - a) + c * a, 0, 255).astype(np.uint8)

    def edge_region(self, side: str, w: int, h: int) -> tuple[int, int, int, int]:
        """A region hugging one paper edge (inset 0.2–1.5 cm) that fits a w×h object."""
        x0, y0, x1, y1 = self.layout.paper
        ins = int(self.rng.uniform(0.2, 1.5) * self.ppc)
        if side == "top":
            return (x0 + ins, y0 + ins, x1 - ins, y0 + ins + h)
        if side == "bottom":
            return (x0 + ins, y1 - ins - h, x1 - ins, y1 - ins)
        if side == "left":
            return (x0 + ins, y0 + ins, x0 + ins + w, y1 - ins)
        return (x1 - ins - w, y0 + ins, x1 - ins, y1 - ins)

    # ----------------------------------------------------------------- ruler and charts
    def _place_drawing(self, d: RulerDrawing, rot: int, mode: str) -> Optional[tuple[int, int, np.ndarray]]:
        img = rotate_image(d.image, rot)
        h, w = img.shape[:2]
        L = self.layout
        rng = self.rng
        if mode == "band" and L.band is not None and h <= L.band[3] - 2:
            y = int(rng.uniform(0, L.band[3] - h))
            pos = L.find(rng, w, h, (0, y, L.W, y + h), pad_cm=0.2)
        elif mode == "edge":
            sides = ["top", "bottom"] if rot in (0, 180) else ["left", "right"]
            side = str(rng.choice(sides))
            pos = L.find(rng, w, h, self.edge_region(side, w, h))
        else:
            x0, y0, x1, y1 = L.paper
            m = int(0.3 * self.ppc)
            pos = L.find(rng, w, h, (x0 + m, y0 + m, x1 - m, y1 - m))
        if pos is None:
            return None
        return pos[0], pos[1], img

    def add_ruler(self, bar_rng: Optional[np.random.Generator] = None) -> None:
        # The bar decision and the bar draw from their own stream: the sheets without a bar stay
        # bit for bit what they were before bars existed (the held-out set is regenerated from seeds).
        if bar_rng is not None and bar_rng.random() < BAR_P:
            self.add_scalebar(bar_rng)
            return
        rng = self.rng
        for _ in range(8):
            design = str(rng.choice(RULER_DESIGNS, p=_DESIGN_P))
            if rng.random() < TARGET_P:  # a colour target with an inch (and cm) scale instead
                design = "target"
            rot = int(rng.choice(ROTATIONS, p=_ROT_P))
            in_band = self.layout.band is not None and rng.random() < 0.8
            if in_band:  # institutional scans: ruler in the dark band above the sheet
                design = str(rng.choice(["cm-white", "cm-black", "dual", "block", "cm-15"]))
                rot = 0 if rng.random() < 0.85 else 180
            d = render_target(rng, self.ppc) if design == "target" else render_ruler(rng, self.ppc, design)
            placed = self._place_scale(d, rot, ["band"] if in_band else ["edge", "edge", "free"])
            if placed is None:
                continue
            self._set_scale(d, design, *placed)
            return

    def add_scalebar(self, rng: np.random.Generator) -> None:
        """A printed scale bar as the sheet's scale (never in the dark institutional band)."""
        for _ in range(8):
            d = render_scalebar(rng, self.ppc)
            rot = int(rng.choice(ROTATIONS, p=_ROT_P))
            placed = self._place_scale(d, rot, ["edge", "edge", "free"])
            if placed is None:
                continue
            self._set_scale(d, "bar", *placed)
            self.scale["bar_cm"] = d.extra["bar_cm"]
            return

    def _place_scale(self, d: RulerDrawing, rot: int, modes: list[str]) -> Optional[tuple]:
        """Find a place for the scale, first in one of ``modes``; (rot, x, y, rotated image) or None."""
        rng = self.rng
        for mode in [str(rng.choice(modes)), "edge", "free", "edge"]:
            placed = self._place_drawing(d, rot, mode)
            if placed:
                return (rot, *placed)
        if rot in (0, 180):  # too long across: stand it up
            rot = int(rng.choice([90, 270]))
            for mode in ("edge", "free", "edge"):
                placed = self._place_drawing(d, rot, mode)
                if placed:
                    return (rot, *placed)
        return None

    def _set_scale(self, d: RulerDrawing, design: str, rot: int, x: int, y: int, img: np.ndarray) -> None:
        bbox = self.paste(img, x, y)
        h0, w0 = d.image.shape[:2]
        tick_mid = 0.5 * (d.tick_band[0] + d.tick_band[1])
        t0 = rotate_points([[d.x0, tick_mid]], rot, w0, h0)[0] + [x, y]
        self.scale = {
            "bbox": bbox, "design": design, "rotation": rot, "px_per_cm": self.ppc,
            "tick0": [round(float(t0[0]), 3), round(float(t0[1]), 3)],
            "axis": rotate_vector((1.0, 0.0), rot),
            "digits": _place_digits(d.digits, rot, w0, h0, x, y),
        }

    def add_colour_chart(self) -> None:
        rng = self.rng
        d = render_colour_chart(rng, self.ppc)
        rot = int(rng.choice(ROTATIONS, p=_ROT_P))
        for mode in ("edge", "free", "edge"):
            placed = self._place_drawing(d, rot, mode)
            if placed:
                x, y, img = placed
                h0, w0 = d.image.shape[:2]
                self.paste(img, x, y, "colour_chart", _place_digits(d.digits, rot, w0, h0, x, y), rot)
                return

    # ----------------------------------------------------------------- labels & co
    def add_clutter(self) -> None:
        rng, ppc, L = self.rng, self.ppc, self.layout
        x0, y0, x1, y1 = L.paper
        pw, ph = x1 - x0, y1 - y0
        lower = (x0, y0 + int(ph * 0.55), x1, y1)
        anywhere = (x0, y0, x1, y1)
        m = int(0.3 * ppc)
        inner = (x0 + m, y0 + m, x1 - m, y1 - m)
        # main label(s), mostly lower right
        for k in range(int(rng.integers(1, 3))):
            lw, lh = rng.uniform(8, 14), rng.uniform(4, 9)
            patch = clutter.render_label(rng, ppc, lw, lh)
            h, w = patch.shape[:2]
            region = (x0 + pw // 3, lower[1], x1 - m, y1 - m) if k == 0 and rng.random() < 0.7 else inner
            pos = L.find(rng, w, h, region) or L.find(rng, w, h, inner)
            if pos:
                self.paste(patch, *pos, kind="label")
        if rng.random() < 0.5:  # determination slip
            patch = clutter.render_label(rng, ppc, rng.uniform(6, 10), rng.uniform(1.6, 2.8), slip=True)
            pos = L.find(rng, patch.shape[1], patch.shape[0], lower) or L.find(rng, patch.shape[1], patch.shape[0], inner)
            if pos:
                self.paste(patch, *pos, kind="label")
        if rng.random() < 0.9:
            patch = rotate_image(clutter.render_barcode(rng, ppc), 90 if rng.random() < 0.1 else 0)
            h, w = patch.shape[:2]
            region = lower if rng.random() < 0.6 else (x0 + m, y0 + m, x1 - m, y0 + int(ph * 0.2))
            pos = L.find(rng, w, h, region) or L.find(rng, w, h, inner)
            if pos:
                self.paste(patch, *pos, kind="barcode")
        if rng.random() < 0.25:
            patch = clutter.render_envelope(rng, ppc, rng.uniform(5, 10), rng.uniform(4, 8))
            pos = L.find(rng, patch.shape[1], patch.shape[0], lower) or L.find(rng, patch.shape[1], patch.shape[0], inner)
            if pos:
                self.paste(patch, *pos, kind="envelope")
        if rng.random() < 0.35:
            rgb, a = clutter.render_stamp(rng, ppc)
            pos = L.find(rng, a.shape[1], a.shape[0], inner)
            if pos:
                self.blend(pos[0], pos[1], rgb, a)
                h, w = a.shape
                self.labels[pos[1]:pos[1] + h, pos[0]:pos[0] + w] = 255
                L.rects.append((pos[0], pos[1], pos[0] + w, pos[1] + h))
                self.distractors.append({"kind": "stamp", "bbox": [float(pos[0]), float(pos[1]),
                                                                    float(pos[0] + w), float(pos[1] + h)],
                                         "rotation": 0, "digits": []})

    # ----------------------------------------------------------------- finishing
    def finish(self, rng: np.random.Generator) -> np.ndarray:
        img = self.img
        # Most real scans are white-balanced on the paper, which then looks near white: pull the
        # paper of most sheets towards a white point (the rest keep their cream or tan).
        wb = np.ones(3)
        if rng.random() < 0.6:
            paper = img[::7, ::7][self.labels[::7, ::7] == 0]
            if len(paper) > 100:
                v = rng.uniform(234, 248)
                white = np.array([v, v - rng.uniform(0, 5), v - rng.uniform(1, 12)])
                wb = np.clip(white / np.maximum(np.median(paper, axis=0), 1), 0.92, 1.3)
        # mild global colour/gamma cast through a LUT (cheap at any size)
        lut = np.empty((256, 1, 3), np.uint8)
        x = np.arange(256) / 255.0
        g0, gain0 = rng.uniform(0.94, 1.06), rng.uniform(0.97, 1.02)
        for c in range(3):
            g = g0 * rng.uniform(0.985, 1.015)
            gain = gain0 * rng.uniform(0.992, 1.008) * wb[c]
            lut[:, 0, c] = np.clip((x ** g) * gain * 255 + 0.5, 0, 255).astype(np.uint8)
        cv2.LUT(img, lut, dst=img)
        sigma = rng.uniform(0.3, 0.9)
        if rng.random() < 0.8:
            cv2.GaussianBlur(img, (0, 0), sigma, dst=img)
        return img


@dataclass
class SheetSample:
    image: np.ndarray      # H×W×3 uint8 RGB
    gt: dict
    labels: np.ndarray     # H×W uint8: 0 paper, k organ k-1, 255 non-plant


def generate_sheet_sample(rng: np.random.Generator, px_per_cm_range=(15.0, 250.0),
                          seed: Any = None) -> SheetSample:
    # Side streams, spawned without advancing the sheet's own: the plant (child 0, as it has always
    # been) and the scale-bar decision (child 1). Both are spawned here, once: every spawn moves the
    # parent's child counter, so a spawn anywhere earlier would hand the plant a different stream.
    plant_rng, bar_rng = rng.spawn(2)
    ppc = float(rng.uniform(*px_per_cm_range))
    s = _Sheet(rng, ppc)
    if rng.random() < 0.95:
        s.add_ruler(bar_rng)
    if rng.random() < 0.35:
        s.add_colour_chart()
    s.add_clutter()
    # The plant and everything after it draw from their own stream (plant_rng above): the ruler,
    # charts and labels above and the turn below stay where they were whatever the plant
    # generator draws (the held-out scale evaluation depends on it).
    bed = PlantBed(s, plant_rng)
    if bed.rng.random() < 0.4:  # a packet of seeds, given its place before the plant crowds the sheet
        seed_packet(bed)
    kind = add_specimens(bed)
    if kind == "fragments" and bed.rng.random() < 0.8:
        seed_packet(bed)
    if bed.rng.random() < 0.3:
        loose_seeds(bed)
    tape(bed)
    image = s.finish(bed.rng)
    organs_gt, s.labels = bed.ground_truth()
    gt = {
        "width": int(s.layout.W), "height": int(s.layout.H), "px_per_cm": round(ppc, 6),
        "seed": seed, "paper_bbox": [float(v) for v in s.layout.paper],
        "organs": organs_gt, "scale": s.scale, "distractors": s.distractors, "specimen": kind,
    }
    image, labels, gt = skew_sample(rng, image, s.labels, gt)
    return SheetSample(image, gt, labels)


def generate_sheet(rng: np.random.Generator, px_per_cm_range=(15.0, 250.0),
                   seed: Any = None) -> tuple[np.ndarray, dict]:
    """Draw one synthetic sheet. Returns (RGB uint8 image, GT dict); see GT_FORMAT."""
    s = generate_sheet_sample(rng, px_per_cm_range, seed)
    return s.image, s.gt
