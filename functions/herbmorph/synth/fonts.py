"""Font lookup and text rasterisation for the synthetic sheets.

Uses a TrueType sans font (DejaVu, Liberation, FreeSans, ...) through Pillow when one exists on
the system, and falls back to OpenCV's Hershey fonts otherwise, so the generator never needs a
download. Text is rendered into a float32 coverage mask cropped to the ink, which callers place
with sub-pixel accuracy.
"""
from __future__ import annotations

import functools
import glob
import os
from typing import Optional

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

_SANS_BOLD = (
    "DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "FreeSansBold.ttf", "Arial_Bold.ttf",
    "arialbd.ttf", "NotoSans-Bold.ttf", "DejaVuSansCondensed-Bold.ttf",
)
_SANS = (
    "DejaVuSans.ttf", "LiberationSans-Regular.ttf", "FreeSans.ttf", "Arial.ttf", "arial.ttf",
    "NotoSans-Regular.ttf", "DejaVuSansCondensed.ttf",
)
_SERIF = ("DejaVuSerif.ttf", "LiberationSerif-Regular.ttf", "FreeSerif.ttf", "Times_New_Roman.ttf")
_MONO = ("DejaVuSansMono.ttf", "LiberationMono-Regular.ttf", "FreeMono.ttf")
_ITALIC = ("DejaVuSerif-Italic.ttf", "DejaVuSans-Oblique.ttf", "LiberationSerif-Italic.ttf",
           "FreeSerifItalic.ttf")

FONT_KINDS = ("sans-bold", "sans", "serif", "mono", "italic")
_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts"),
              "/Library/Fonts", "C:/Windows/Fonts")


@functools.lru_cache(maxsize=1)
def _all_font_files() -> dict[str, str]:
    found: dict[str, str] = {}
    for d in _FONT_DIRS:
        for p in glob.glob(os.path.join(d, "**", "*.tt[fc]"), recursive=True):
            found.setdefault(os.path.basename(p), p)
    return found


@functools.lru_cache(maxsize=None)
def font_path(kind: str = "sans-bold") -> Optional[str]:
    """Path of a TTF for ``kind`` (one of FONT_KINDS), or None when no TTF exists at all."""
    files = _all_font_files()
    order = {"sans-bold": _SANS_BOLD + _SANS, "sans": _SANS + _SANS_BOLD,
             "serif": _SERIF + _SANS, "mono": _MONO + _SANS, "italic": _ITALIC + _SERIF + _SANS}
    for name in order.get(kind, _SANS):
        if name in files:
            return files[name]
    return next(iter(sorted(files.values())), None)


@functools.lru_cache(maxsize=None)
def _digit_height_ratio(path: str) -> float:
    """Ink height of the digits '0123456789' per unit font size."""
    f = ImageFont.truetype(path, 200)
    x1, y1, x2, y2 = f.getbbox("0123456789")
    return (y2 - y1) / 200.0


@functools.lru_cache(maxsize=2048)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def get_font(kind: str, size_px: int) -> Optional[ImageFont.FreeTypeFont]:
    p = font_path(kind)
    return _font(p, max(4, int(size_px))) if p else None


def text_mask(text: str, digit_height_px: float, kind: str = "sans-bold",
              stroke: float = 0.0) -> np.ndarray:
    """Render ``text`` so that its digits are ``digit_height_px`` tall.

    Returns a float32 coverage mask in [0, 1], cropped tightly to the ink (ink bbox == array
    extent). ``stroke`` (in fractions of the digit height) thickens the glyphs.
    """
    h = max(3.0, float(digit_height_px))
    path = font_path(kind)
    # Supersample small text so the coverage is smooth, then reduce with area averaging.
    ss = 4 if h < 24 else (2 if h < 60 else 1)
    if path is not None:
        size = int(round(h * ss / _digit_height_ratio(path)))
        f = _font(path, max(4, size))
        sw = int(round(stroke * h * ss))
        x1, y1, x2, y2 = f.getbbox(text, stroke_width=sw)
        pad = 2 * ss
        img = Image.new("L", (x2 - x1 + 2 * pad, y2 - y1 + 2 * pad), 0)
        ImageDraw.Draw(img).text((pad - x1, pad - y1), text, font=f, fill=255,
                                 stroke_width=sw, stroke_fill=255)
        a = np.asarray(img)
    else:  # Hershey fallback
        face = cv2.FONT_HERSHEY_DUPLEX
        (tw, th), base = cv2.getTextSize(text, face, 1.0, 1)
        scale = h * ss / th
        thick = max(1, int(round(scale * (1.6 + 6 * stroke))))
        (tw, th), base = cv2.getTextSize(text, face, scale, thick)
        pad = 2 * ss + thick
        a = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
        cv2.putText(a, text, (pad, pad + th), face, scale, 255, thick, cv2.LINE_AA)
    ys, xs = np.nonzero(a > 8)
    if len(xs) == 0:
        return np.zeros((1, 1), np.float32)
    a = a[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1].astype(np.float32) / 255.0
    if ss > 1:
        # Pad to a multiple of ss, keeping the ink centred, then area-average.
        hh, ww = a.shape
        H, W = -(-hh // ss) * ss, -(-ww // ss) * ss
        py, px = (H - hh) // 2, (W - ww) // 2
        b = np.zeros((H, W), np.float32)
        b[py: py + hh, px: px + ww] = a
        a = cv2.resize(b, (W // ss, H // ss), interpolation=cv2.INTER_AREA)
    return np.clip(a, 0.0, 1.0)


def paste_mask_centered(alpha: np.ndarray, mask: np.ndarray, cx: float, cy: float,
                        mode: str = "max") -> list[float]:
    """Place ``mask`` into ``alpha`` (float32 H×W) with its centre at continuous (cx, cy).

    Continuous coordinates: pixel (i, j) covers [i, i+1) × [j, j+1). The placement is sub-pixel
    exact (bilinear shift). Returns the placed ink bbox [x1, y1, x2, y2].
    """
    mh, mw = mask.shape
    tx, ty = cx - mw / 2.0, cy - mh / 2.0
    ix, iy = int(np.floor(tx)), int(np.floor(ty))
    fx, fy = tx - ix, ty - iy
    M = np.float32([[1, 0, fx], [0, 1, fy]])
    shifted = cv2.warpAffine(mask, M, (mw + 1, mh + 1), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    H, W = alpha.shape
    x0, y0 = max(ix, 0), max(iy, 0)
    x1, y1 = min(ix + mw + 1, W), min(iy + mh + 1, H)
    if x1 > x0 and y1 > y0:
        src = shifted[y0 - iy: y1 - iy, x0 - ix: x1 - ix]
        dst = alpha[y0:y1, x0:x1]
        if mode == "max":
            np.maximum(dst, src, out=dst)
        else:
            dst += src
            np.clip(dst, 0, 1, out=dst)
    return [tx, ty, tx + mw, ty + mh]
