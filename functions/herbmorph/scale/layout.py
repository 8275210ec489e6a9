"""Where the printed numbers of an upright ruler view are, and how each is read: glyph blobs
grouped into numbers, each number's patch laid on its own line of a page for Tesseract.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..boxes import covers_smaller
from ..results import Digit
from .ocr import TESS_MAX_SIDE, cc_char_boxes, ocr_image, recognise, tesseract_char_boxes, u8_percentile
from .ticks import comb_rows

SPLIT_GAP = 0.35  # gap (in digit heights) that separates two printed numbers
CC_ENOUGH = 6     # glyph blobs in rows that make Tesseract's layout pass unnecessary
PAGE_MAX_HEIGHT = 8000  # the number strip is read in pages of at most this height
NUMBER_READINGS = ("printed", "glyphs")  # see NumberLayout
MAX_NUMBERS = 120       # a ruler prints at most ~60 numbers; more groups are text or noise
MASK_UNCHANGED = 24     # grey levels: a patch the glyph mask alters by no more reads as it was
ROW_OVERLAP = 0.5       # numbers whose rows overlap by this share of the shorter are one row


def _overlaps(a: tuple, b: tuple, frac: float = 0.3) -> bool:
    """Two (text, x1, y1, x2, y2) glyph boxes, one mostly inside the other."""
    return covers_smaller(a[1:], b[1:], frac)


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


def nearest_the_comb(groups: list[list[tuple]], ticks: np.ndarray | None) -> list[list[tuple]]:
    """At most MAX_NUMBERS groups, in their order: those whose rows lie nearest the view's
    strongest tick comb (a ruler prints its numbers beside its ticks). A crop holding a table of
    figures beside a colour target's scale has hundreds; kept from the top down, the scale's own
    numbers at the bottom were cut off, or kept in the half-turned view only."""
    if len(groups) <= MAX_NUMBERS:
        return groups
    rows = comb_rows(ticks) if ticks is not None else None
    if rows is None:
        return groups[:MAX_NUMBERS]
    mid = (rows[0] + rows[1]) / 2
    centre = [(min(c[2] for c in g) + max(c[4] for c in g)) / 2 for g in groups]
    keep = sorted(sorted(range(len(groups)), key=lambda i: abs(centre[i] - mid))[:MAX_NUMBERS])
    return [groups[i] for i in keep]


def row_extents(groups: list[list[tuple]]) -> list[tuple[float, float]]:
    """Each number's rows, grown to its row's: the median top and bottom of the numbers whose
    rows overlap its own by half. A ruler prints its numbers at one height; a faint digit whose
    blob came apart keeps only a part (a "3" cut at its waist reads "5"), which its row restores."""
    tops = np.array([min(c[2] for c in g) for g in groups])
    bottoms = np.array([max(c[4] for c in g) for g in groups])
    out = []
    for t, b in zip(tops, bottoms):
        overlap = np.minimum(b, bottoms) - np.maximum(t, tops)
        peers = overlap >= ROW_OVERLAP * np.minimum(b - t, bottoms - tops)
        out.append((min(t, float(np.median(tops[peers]))), max(b, float(np.median(bottoms[peers])))))
    return out


def _whiten(patch: np.ndarray) -> np.ndarray:
    """Stretch a number's patch so its background is white like the canvas: grey patches on
    white make Tesseract segment the patch rectangles, not the digits."""
    lo, hi = float(patch.min()), u8_percentile(patch, 85)
    if hi - lo < 20:
        return patch
    return np.clip((patch.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def _pages(heights: list[int], gap: int) -> list[list[int]]:
    """Indices of number patches, cut into pages no taller than PAGE_MAX_HEIGHT when stacked."""
    pages: list[list[int]] = [[]]
    height = gap
    for i, h in enumerate(heights):
        if pages[-1] and height + h + gap > PAGE_MAX_HEIGHT:
            pages.append([])
            height = gap
        pages[-1].append(i)
        height += h + gap
    return [p for p in pages if p]


def read_lines(patches: list[np.ndarray], gap: int) -> list[tuple[int, int, float]]:
    """Each number's patch laid out on its own line of a clean white page (Tesseract splits
    lines reliably, words on tight rulers it does not): (patch index, value, confidence) for
    each number read, in page order."""
    out = []
    canvas_w = max(p.shape[1] for p in patches) + 2 * gap
    for page in _pages([p.shape[0] for p in patches], gap):
        canvas_h = sum(patches[i].shape[0] for i in page) + gap * (len(page) + 1)
        canvas = np.full((canvas_h, min(canvas_w, TESS_MAX_SIDE)), 255, np.uint8)
        spans, y = [], gap
        for i in page:
            patch = _whiten(patches[i])[:, :canvas.shape[1] - gap]
            canvas[y:y + patch.shape[0], gap:gap + patch.shape[1]] = patch
            spans.append((y, y + patch.shape[0]))
            y += patch.shape[0] + gap
        for text, conf, (_, top, _, bottom) in recognise(canvas, 6, "word"):
            if not text.isdigit() or len(text) > 3:
                continue
            cy = (top + bottom) / 2
            for (s0, s1), i in zip(spans, page):
                if s0 - gap / 2 <= cy <= s1 + gap / 2:
                    out.append((i, int(text), conf))
                    break
    return out


@dataclass
class ReadingSource:
    """Where the numbers' patches are upscaled from, when the glyphs were searched at a smaller
    scale than Tesseract reads (a large upscale of the whole crop, filtered, was most of the
    reader's time): the upright crop, each patch on its own."""

    gray: np.ndarray  # the upright crop, original pixels, before any polarity change
    scale: float      # reading pixels per crop pixel
    invert: bool

    def half_turned(self) -> "ReadingSource":
        return ReadingSource(np.ascontiguousarray(self.gray[::-1, ::-1]), self.scale, self.invert)

    def patch(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """The box (reading pixels) dark on light and filtered, as the whole view would be."""
        x1, y1, x2, y2 = box
        margin = 3  # crop pixels: the cubic kernel's and the filter's reach, and rounding
        h, w = self.gray.shape
        cx1, cy1 = max(0, int(np.floor(x1 / self.scale)) - margin), max(0, int(np.floor(y1 / self.scale)) - margin)
        cx2, cy2 = min(w, int(np.ceil(x2 / self.scale)) + margin), min(h, int(np.ceil(y2 / self.scale)) + margin)
        up = cv2.resize(self.gray[cy1:cy2, cx1:cx2], None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_CUBIC)
        up = ocr_image(255 - up if self.invert else up)
        ox, oy = round(x1 - cx1 * self.scale), round(y1 - cy1 * self.scale)
        return up[oy:oy + max(1, y2 - y1), ox:ox + max(1, x2 - x1)]


def glyphs_only(patch: np.ndarray, box: tuple[int, int, int, int], chars: list[tuple], grow: int,
                background: np.uint8) -> np.ndarray:
    """A number's patch (at ``box``) with everything but the glyph boxes (grown by ``grow``)
    painted as ``background``: a tick printed right beside a number would otherwise be read as
    a "1" glued to it."""
    out = np.full(patch.shape, background, np.uint8)
    ph, pw = patch.shape
    for _, x1, y1, x2, y2 in chars:
        a0, a1 = max(0, max(0, int(y1) - grow) - box[1]), min(ph, int(np.ceil(y2)) + grow - box[1])
        b0, b1 = max(0, max(0, int(x1) - grow) - box[0]), min(pw, int(np.ceil(x2)) + grow - box[0])
        if a1 > a0 and b1 > b0:
            out[a0:a1, b0:b1] = patch[a0:a1, b0:b1]
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

    img: np.ndarray  # the filtered image the glyphs were searched in, at 1/zoom of the reading scale
    groups: list[list[tuple]]
    boxes: list[tuple[int, int, int, int]]
    pad: int
    gap: int
    height: float  # the numbers' median height, in the view's (reading) pixels
    source: ReadingSource | None = None  # None: patches are cut from ``img`` itself (zoom 1)
    _patches: list[np.ndarray] | None = None
    _printed: list[tuple[int, int, float]] | None = None  # the printed reading, once made

    @classmethod
    def find(cls, img: np.ndarray, blobs: list[tuple] | None = None, zoom: float = 1.0,
             source: ReadingSource | None = None, ticks: np.ndarray | None = None) -> "NumberLayout":
        """``blobs``: the glyph blobs where already known (``cc_char_boxes(img)``, times
        ``zoom``). ``zoom``, ``source``: the reading scale over ``img``'s, and where patches are
        then upscaled from. ``ticks``: the view's tick image (reading scale), which says where
        the ruler runs when there are more groups than MAX_NUMBERS."""
        # Blob boxes first: Tesseract's boxes sometimes swallow a tick touching the digit, and
        # over-tall boxes glue a whole run of numbers into one "word".
        chars = list(cc_char_boxes(img) if blobs is None else blobs)
        if len(chars) < CC_ENOUGH:  # Tesseract's own layout pass is the slow part: only as a fallback
            more = [(t, *(v * zoom for v in b)) for t, *b in tesseract_char_boxes(img)]
            chars += [b for b in more if not any(_overlaps(b, c) for c in chars)]
        groups = nearest_the_comb(group_numbers(chars), ticks)
        if not groups:
            return cls(img, [], [], 0, 0, 0.0, source)
        heights = [max(c[4] for c in g) - min(c[2] for c in g) for g in groups]
        h = int(max(heights))
        pad, gap = max(2, h // 5), max(8, h // 2 + 4)
        H, W = round(img.shape[0] * zoom), round(img.shape[1] * zoom)
        boxes = []
        for g, (top, bottom) in zip(groups, row_extents(groups)):
            x1, y1 = int(min(c[1] for c in g)) - pad, int(top) - pad
            x2, y2 = int(max(c[3] for c in g)) + pad, int(bottom) + pad
            boxes.append((max(x1, 0), max(y1, 0), min(x2, W), min(y2, H)))
        return cls(img, groups, boxes, pad, gap, float(np.median(heights)), source)

    def read(self, reading: str) -> list[Digit]:
        """The numbers, centres in the view's pixels, in one of NUMBER_READINGS."""
        if not self.boxes:
            return []
        if self._patches is None:
            self._patches = [self.img[y1:y2, x1:x2] if self.source is None else self.source.patch((x1, y1, x2, y2))
                             for x1, y1, x2, y2 in self.boxes]
        if reading == "printed":
            lines = self._printed = read_lines(self._patches, self.gap)
        else:
            lines = self._read_glyphs_only()
        centres = [((x1 + x2) / 2, (y1 + y2) / 2) for x1, y1, x2, y2 in self.boxes]
        return [Digit(value=v, conf=c, x=centres[i][0], y=centres[i][1]) for i, v, c in sorted(lines, key=lambda l: l[0])]

    def _read_glyphs_only(self) -> list[tuple[int, int, float]]:
        """The glyph-only reading. A patch the mask leaves as it was reads as printed: where the
        printed reading was made, only the patches the mask changed are read again."""
        chars = [c for g in self.groups for c in g]
        background = np.uint8(u8_percentile(self.img, 90))
        masked = [glyphs_only(p, b, chars, max(1, self.pad // 2), background) for p, b in zip(self._patches, self.boxes)]
        if self._printed is None:
            return read_lines(masked, self.gap)
        changed = [i for i, (p, m) in enumerate(zip(self._patches, masked))
                   if int(cv2.absdiff(p, m).max(initial=0)) > MASK_UNCHANGED]
        again_at = set(changed)
        kept = [line for line in self._printed if line[0] not in again_at]
        again = read_lines([masked[i] for i in changed], self.gap) if changed else []
        return kept + [(changed[j], v, c) for j, v, c in again]


def half_turn_boxes(boxes: list[tuple], hw: tuple[int, int]) -> list[tuple]:
    """(text, x1, y1, x2, y2) glyph boxes of an image, in the image turned by half a turn."""
    h, w = hw
    return [(t, w - x2, h - y2, w - x1, h - y1) for t, x1, y1, x2, y2 in boxes]
