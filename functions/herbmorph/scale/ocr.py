"""The images a ruler view is read from, its glyph blobs, and Tesseract (where the numbers
are, and how each is read, is :mod:`.layout`).

Tesseract runs in process through its C API (``tesserocr``): one engine per thread and page
segmentation mode, loaded once and kept, instead of a ``tesseract`` process per call. Every
image handed to it stays inside Tesseract's own size limit by construction (the number strip
is cut into pages), so no ruler, however long, can make it refuse.
"""
from __future__ import annotations

import glob
import os
import threading

import cv2
import numpy as np
from PIL import Image

from ..boxes import covers_smaller_any

DIGITS = "0123456789"
CC_MIN_H = 8      # a glyph blob is at least this tall at the reading scale
TESS_MAX_SIDE = 30000   # Tesseract refuses images with a side of 32767 px or more
OCR_TARGET_SHORT_SIDE = 160  # upscale small crops so digits reach Tesseract-friendly size
OCR_MAX_LONG_SIDE = 6000
OCR_MAX_UPSCALE = 6.0
OCR_DIGIT_PX = 40            # digit height Tesseract reads best; small digits are upscaled to it

_local = threading.local()


def tessdata_dir() -> str | None:
    """Debian's tessdata (the tesserocr wheel bundles its engine, not its language data);
    ``TESSDATA_PREFIX`` wins where set."""
    if os.environ.get("TESSDATA_PREFIX"):
        return os.environ["TESSDATA_PREFIX"]
    found = sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata"))
    return found[-1] if found else None


def engine(psm: int, chars: str = DIGITS):
    """This thread's Tesseract engine for one page segmentation mode and character set."""
    import tesserocr

    apis = getattr(_local, "apis", None)
    if apis is None:
        apis = _local.apis = {}
    if (psm, chars) not in apis:
        path = tessdata_dir()
        api = tesserocr.PyTessBaseAPI(lang="eng", psm=psm, **({"path": path} if path else {}))
        api.SetVariable("tessedit_char_whitelist", chars)
        if chars == DIGITS:
            # Ruler pages are dark on light by construction (tick_view, _whiten); Tesseract's
            # retry of each poorly read line inverted never helps there, and costs a fifth of
            # its time on a page of non-digit glyphs (a maker's name).
            api.SetVariable("tessedit_do_invert", "0")
        apis[psm, chars] = api
    return apis[psm, chars]


def recognise(gray: np.ndarray, psm: int, level: str, chars: str = DIGITS
              ) -> list[tuple[str, float, tuple[int, int, int, int]]]:
    """(text, confidence, (x1, y1, x2, y2)) for each symbol or word Tesseract finds, reading
    only ``chars``."""
    import tesserocr

    h, w = gray.shape[:2]
    if max(h, w) > TESS_MAX_SIDE or min(h, w) < 3:
        raise ValueError(f"image {w}x{h} outside what Tesseract reads")  # a bug upstream, not input
    api = engine(psm, chars)
    api.SetImage(Image.fromarray(np.ascontiguousarray(gray)))
    api.Recognize()
    ril = tesserocr.RIL.SYMBOL if level == "symbol" else tesserocr.RIL.WORD
    out = []
    it = api.GetIterator()
    for r in (tesserocr.iterate_level(it, ril) if it is not None else ()):
        if r.Empty(ril):
            continue
        text = r.GetUTF8Text(ril)
        box = r.BoundingBox(ril)
        if text and box:
            out.append((text.strip(), float(r.Confidence(ril)), tuple(int(v) for v in box)))
    api.Clear()
    return out


def u8_percentile(img: np.ndarray, q: float) -> float:
    """``np.percentile(img, q)`` (linear interpolation) of a uint8 image, from its histogram:
    exact, and 30x faster than sorting a 5-megapixel upscaled view."""
    flat = img.reshape(-1, img.shape[-1]) if img.ndim > 1 else img[None]
    # cv2 counts in float32, exact up to 2**24 per call: count in row chunks below that.
    step = max(1, (1 << 24) // max(flat.shape[1], 1))
    hist = np.zeros(256, np.int64)
    for i in range(0, flat.shape[0], step):
        hist += cv2.calcHist([np.ascontiguousarray(flat[i:i + step])], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    cum = np.cumsum(hist)
    pos = q / 100.0 * (int(cum[-1]) - 1)
    lo = int(np.floor(pos))
    v_lo = int(np.searchsorted(cum, lo, side="right"))
    if pos == lo:
        return float(v_lo)
    v_hi = int(np.searchsorted(cum, lo + 1, side="right"))
    return v_lo + (pos - lo) * (v_hi - v_lo)


def dark_body(img: np.ndarray) -> bool:
    return u8_percentile(img, 50) < 110  # white-on-black ruler (the median)


def upscale_for(gray: np.ndarray, f: float | None = None) -> float:
    """The upscale of a crop for reading: small crops grow to OCR_TARGET_SHORT_SIDE (``f``
    forces a factor), never past OCR_MAX_LONG_SIDE along the ruler."""
    h, w = gray.shape
    if f is None:
        f = float(np.clip(OCR_TARGET_SHORT_SIDE / max(h, 1), 1.0, OCR_MAX_UPSCALE))
    return min(f, OCR_MAX_LONG_SIDE / max(w, 1)) if w * f > OCR_MAX_LONG_SIDE else f


def ocr_image(ticks: np.ndarray, d: int = 9) -> np.ndarray:
    """The paper's preprocessing (greyscale, bilateral filter) of a tick view (upscaled,
    dark-on-light). ``d``: the filter's diameter, 9 at the reading scale (digits of about
    OCR_DIGIT_PX); a view searched at a smaller scale takes a proportionally smaller one."""
    return cv2.bilateralFilter(ticks, d, 75, 75)


def tick_view(gray: np.ndarray, f: float, flip: bool | None = None) -> tuple[np.ndarray, bool]:
    """Upscaled by ``f``, dark digits on light (``flip`` forces it; None: dark-bodied views are
    inverted), and whether it was inverted. The tick lattice is measured on this; the OCR image
    is it after the bilateral filter (which erases thin, low-contrast mm ticks)."""
    img = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC) if f != 1.0 else gray.copy()
    invert = dark_body(img) if flip is None else flip
    return (255 - img if invert else img), invert


def tesseract_char_boxes(img: np.ndarray) -> list[tuple[str, float, float, float, float]]:
    """Tesseract's own layout pass (sparse text): one box per digit it sees."""
    if max(img.shape) > TESS_MAX_SIDE:
        f = TESS_MAX_SIDE / max(img.shape)
        small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        return [(t, x1 / f, y1 / f, x2 / f, y2 / f) for t, x1, y1, x2, y2 in tesseract_char_boxes(small)]
    return [(t, float(x1), float(y1), float(x2), float(y2))
            for t, _, (x1, y1, x2, y2) in recognise(img, 11, "symbol")
            if t.isdigit() and x2 > x1 and y2 > y1]


def cc_char_boxes(img: np.ndarray, min_h: int = CC_MIN_H) -> list[tuple[str, float, float, float, float]]:
    """Glyph boxes from connected components of the binarised view (dark ink on light).

    Tesseract's own page segmentation sometimes sees a whole clean ruler as one picture and
    returns nothing; glyphs of a printed number are simply blobs of one height in one row.
    Ticks are excluded by shape (thin, or solid rectangles), and a blob only counts in a row
    of at least three of similar height. The value of each box is read later, by Tesseract.
    """
    H, W = img.shape
    thr, _ = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Global Otsu can split solid black blocks from everything else (block rulers) and lose
    # thin grey digits; a local threshold keeps them.
    block = int(max(15, min(H, W) // 4)) | 1
    masks = [(img < thr).astype(np.uint8),
             (cv2.adaptiveThreshold(img, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12) > 0
              ).astype(np.uint8)]
    # Crops of busy sheets give thousands of blobs: filter them in numpy, and check each new blob
    # against all kept ones at once (same greedy order as one by one).
    blobs: list[tuple] = []
    kept = np.empty((64, 4))  # the blobs kept so far, as boxes (grown by doubling)
    for ink in masks:
        _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
        x, y, w, h, area = stats[1:].astype(np.int64).T
        ok = (h >= min_h) & (h <= 0.8 * H) & (x != 0) & (y != 0) & (x + w < W) & (y + h < H)
        ok &= (0.2 * h <= w) & (w <= 1.4 * h)
        fill = area / np.maximum(w * h, 1).astype(float)
        ok &= (0.12 <= fill) & (fill <= 0.85)
        for xi, yi, wi, hi in zip(x[ok].tolist(), y[ok].tolist(), w[ok].tolist(), h[ok].tolist()):
            b = (float(xi), float(yi), float(xi + wi), float(yi + hi))
            if covers_smaller_any(kept[:len(blobs)], b, 0.3):
                continue  # a fragment of a blob already kept
            if len(blobs) == len(kept):
                kept = np.concatenate([kept, np.empty_like(kept)])
            kept[len(blobs)] = b
            blobs.append(("?", *b))
    rows: list[list[tuple]] = []
    row_stats: list[tuple[float, float]] = []  # (mean centre, median height), updated on append
    for b in sorted(blobs, key=lambda b: (b[2] + b[4]) / 2):
        yc, hb = (b[2] + b[4]) / 2, b[4] - b[2]
        for i, row in enumerate(rows):
            ry, rh = row_stats[i]
            if abs(yc - ry) < 0.35 * rh and abs(hb - rh) <= 0.3 * rh:
                row.append(b)
                row_stats[i] = (np.mean([(c[2] + c[4]) / 2 for c in row]), np.median([c[4] - c[2] for c in row]))
                break
        else:
            rows.append([b])
            row_stats.append((yc, hb))
    return [b for row in rows if len(row) >= 3 for b in row]
