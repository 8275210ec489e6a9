"""Reading the numbers of an upright ruler view: the image prepared for it, glyph blobs, printed
numbers, Tesseract.

Tesseract runs in process through its C API (``tesserocr``): one engine per thread and page
segmentation mode, loaded once and kept, instead of a ``tesseract`` process per call. Every
image handed to it stays inside Tesseract's own size limit by construction (the number strip
is cut into pages), so no ruler, however long, can make it refuse.
"""
from __future__ import annotations

import glob
import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from ..boxes import covers_smaller, covers_smaller_any
from ..results import Digit

DIGITS = "0123456789"
SPLIT_GAP = 0.35  # gap (in digit heights) that separates two printed numbers
CC_ENOUGH = 6     # glyph blobs in rows that make Tesseract's layout pass unnecessary
TESS_MAX_SIDE = 30000   # Tesseract refuses images with a side of 32767 px or more
PAGE_MAX_HEIGHT = 8000  # the number strip is read in pages of at most this height
NUMBER_READINGS = ("printed", "glyphs")  # see NumberLayout
MAX_NUMBERS = 120       # a ruler prints at most ~60 numbers; more groups are text or noise
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


def dark_body(img: np.ndarray) -> bool:
    return bool(np.median(img) < 110)  # white-on-black ruler


def upscale_for(gray: np.ndarray, f: float | None = None) -> float:
    """The upscale of a crop for reading: small crops grow to OCR_TARGET_SHORT_SIDE (``f``
    forces a factor), never past OCR_MAX_LONG_SIDE along the ruler."""
    h, w = gray.shape
    if f is None:
        f = float(np.clip(OCR_TARGET_SHORT_SIDE / max(h, 1), 1.0, OCR_MAX_UPSCALE))
    return min(f, OCR_MAX_LONG_SIDE / max(w, 1)) if w * f > OCR_MAX_LONG_SIDE else f


def ocr_image(ticks: np.ndarray) -> np.ndarray:
    """The paper's preprocessing (greyscale, bilateral filter) of a tick view (upscaled,
    dark-on-light)."""
    return cv2.bilateralFilter(ticks, 9, 75, 75)


def tick_view(gray: np.ndarray, f: float, flip: bool | None = None) -> np.ndarray:
    """Upscaled by ``f``, dark digits on light (``flip`` forces it; None: dark-bodied views are
    inverted). The tick lattice is measured on this; the OCR image is it after the bilateral
    filter (which erases thin, low-contrast mm ticks)."""
    img = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC) if f != 1.0 else gray.copy()
    return 255 - img if (dark_body(img) if flip is None else flip) else img


def _char_boxes(img: np.ndarray) -> list[tuple[str, float, float, float, float]]:
    """Tesseract's own layout pass (sparse text): one box per digit it sees."""
    if max(img.shape) > TESS_MAX_SIDE:
        f = TESS_MAX_SIDE / max(img.shape)
        small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        return [(t, x1 / f, y1 / f, x2 / f, y2 / f) for t, x1, y1, x2, y2 in _char_boxes(small)]
    return [(t, float(x1), float(y1), float(x2), float(y2))
            for t, _, (x1, y1, x2, y2) in recognise(img, 11, "symbol")
            if t.isdigit() and x2 > x1 and y2 > y1]


def _overlaps(a: tuple, b: tuple, frac: float = 0.3) -> bool:
    """Two (text, x1, y1, x2, y2) glyph boxes, one mostly inside the other."""
    return covers_smaller(a[1:], b[1:], frac)


def cc_char_boxes(img: np.ndarray, min_h: int = 8) -> list[tuple[str, float, float, float, float]]:
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


def group_numbers(chars: list[tuple]) -> list[list[tuple]]:
    """Characters → printed numbers: same baseline, and gaps narrower than SPLIT_GAP heights.
    Tesseract itself glues tightly printed rulers into one word ("0123456789101112")."""
    if not chars:
        return []
    h = float(np.median([c[4] - c[2] for c in chars])) or 1.0
    rows: list[list[tuple]] = []
    for c in sorted(chars, key=lambda c: (c[2] + c[4]) / 2):
        yc = (c[2] + c[4]) / 2
        if rows and abs(yc - np.mean([(d[2] + d[4]) / 2 for d in rows[-1]])) < 0.5 * h:
            rows[-1].append(c)
        else:
            rows.append([c])
    groups = []
    for row in rows:
        row.sort(key=lambda c: c[1])
        groups.append([row[0]])
        for prev, cur in zip(row, row[1:]):
            (groups[-1].append(cur) if cur[1] - prev[3] < SPLIT_GAP * h else groups.append([cur]))
    return [g for g in groups if len(g) <= 3]


def _whiten(patch: np.ndarray) -> np.ndarray:
    """Stretch a number's patch so its background is white like the canvas: grey patches on
    white make Tesseract segment the patch rectangles, not the digits."""
    p = patch.astype(np.float32)
    lo, hi = float(p.min()), float(np.percentile(p, 85))
    if hi - lo < 20:
        return patch
    return np.clip((p - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def _pages(boxes: list[tuple[int, int, int, int]], gap: int) -> list[list[int]]:
    """Indices of number boxes, cut into pages no taller than PAGE_MAX_HEIGHT when stacked."""
    pages: list[list[int]] = [[]]
    height = gap
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        if pages[-1] and height + (y2 - y1) + gap > PAGE_MAX_HEIGHT:
            pages.append([])
            height = gap
        pages[-1].append(i)
        height += (y2 - y1) + gap
    return [p for p in pages if p]


def glyphs_only(img: np.ndarray, chars: list[tuple], pad: int) -> np.ndarray:
    """The view with everything but the glyph boxes (grown by a little) painted as background:
    a tick printed right beside a number would otherwise be read as a "1" glued to it."""
    keep = np.zeros(img.shape, bool)
    g = max(1, pad // 2)
    for _, x1, y1, x2, y2 in chars:
        keep[max(0, int(y1) - g):int(np.ceil(y2)) + g, max(0, int(x1) - g):int(np.ceil(x2)) + g] = True
    out = img.copy()
    out[~keep] = np.uint8(np.percentile(img, 90))
    return out


def read_numbers(img: np.ndarray, boxes: list[tuple[int, int, int, int]], gap: int) -> list[Digit]:
    """Each number box laid out on its own line of a clean white page (Tesseract splits lines
    reliably, words on tight rulers it does not); one word, one confidence, per printed number."""
    out = []
    canvas_w = max(b[2] - b[0] for b in boxes) + 2 * gap
    for page in _pages(boxes, gap):
        page_boxes = [boxes[i] for i in page]
        canvas_h = sum(b[3] - b[1] for b in page_boxes) + gap * (len(page_boxes) + 1)
        canvas = np.full((canvas_h, min(canvas_w, TESS_MAX_SIDE)), 255, np.uint8)
        spans, y = [], gap
        for x1, y1, x2, y2 in page_boxes:
            patch = _whiten(img[y1:y2, x1:x2])[:, :canvas.shape[1] - gap]
            canvas[y:y + y2 - y1, gap:gap + patch.shape[1]] = patch
            spans.append((y, y + y2 - y1))
            y += y2 - y1 + gap
        for text, conf, (_, top, _, bottom) in recognise(canvas, 6, "word"):
            if not text.isdigit() or len(text) > 3:
                continue
            cy = (top + bottom) / 2
            for (s0, s1), (x1, y1, x2, y2) in zip(spans, page_boxes):
                if s0 - gap / 2 <= cy <= s1 + gap / 2:
                    out.append(Digit(value=int(text), conf=conf, x=(x1 + x2) / 2, y=(y1 + y2) / 2))
                    break
    return out


@dataclass
class NumberLayout:
    """Where the printed numbers of an upright view are, found once and read as often as asked.

    Glyph blobs (or, failing them, Tesseract's layout pass) find where the numbers are; each
    number is then read again on a clean page, which gives one word per printed number. Two
    readings (NUMBER_READINGS): the numbers as printed, and with everything but their glyph
    blobs painted out. The mask removes a tick printed right beside a number (read as a "1"
    glued to it), but it also cuts off strokes of small, blurred digits whose blobs came apart;
    the reader asks for it only when the printed reading is not confirmed.
    """

    img: np.ndarray
    groups: list[list[tuple]]
    boxes: list[tuple[int, int, int, int]]
    pad: int
    gap: int
    height: float  # the numbers' median height, in the view's pixels

    @classmethod
    def find(cls, img: np.ndarray, blobs: list[tuple] | None = None) -> "NumberLayout":
        """``blobs``: the view's glyph blobs where already known (``cc_char_boxes(img)``)."""
        # Blob boxes first: Tesseract's boxes sometimes swallow a tick touching the digit, and
        # over-tall boxes glue a whole run of numbers into one "word".
        chars = list(cc_char_boxes(img) if blobs is None else blobs)
        if len(chars) < CC_ENOUGH:  # Tesseract's own layout pass is the slow part: only as a fallback
            chars += [b for b in _char_boxes(img) if not any(_overlaps(b, c) for c in chars)]
        groups = group_numbers(chars)[:MAX_NUMBERS]
        if not groups:
            return cls(img, [], [], 0, 0, 0.0)
        heights = [max(c[4] for c in g) - min(c[2] for c in g) for g in groups]
        h = int(max(heights))
        pad, gap = max(2, h // 5), max(8, h // 2 + 4)
        boxes = []
        for g in groups:
            x1, y1 = int(min(c[1] for c in g)) - pad, int(min(c[2] for c in g)) - pad
            x2, y2 = int(max(c[3] for c in g)) + pad, int(max(c[4] for c in g)) + pad
            boxes.append((max(x1, 0), max(y1, 0), min(x2, img.shape[1]), min(y2, img.shape[0])))
        return cls(img, groups, boxes, pad, gap, float(np.median(heights)))

    def read(self, reading: str) -> list[Digit]:
        """The numbers, centres in the view's pixels, in one of NUMBER_READINGS."""
        if not self.boxes:
            return []
        page = self.img if reading == "printed" else glyphs_only(self.img, [c for g in self.groups for c in g], self.pad)
        return read_numbers(page, self.boxes, self.gap)


def half_turn_boxes(boxes: list[tuple], hw: tuple[int, int]) -> list[tuple]:
    """(text, x1, y1, x2, y2) glyph boxes of an image, in the image turned by half a turn."""
    h, w = hw
    return [(t, w - x2, h - y2, w - x1, h - y1) for t, x1, y1, x2, y2 in boxes]
