"""Scale bars: a bar printed with one length label ("1 cm", "5 cm", "10 mm").

Some sheets carry no ruler but a printed scale bar. It has no ticks to confirm a reading, so
the witnesses differ from a ruler's, and each must hold or the answer is a null:
- the label, read whole, is a length and nothing else ("5 cm", "10mm"): a line of other text
  that ends in a length ("Height 5 cm") is not a scale bar's label;
- the bar is a rectangle: straight, parallel long sides and square ends along its whole
  length, so its two ends can be placed to a fraction of a pixel;
- the label sits beside the bar, above or below it within its span, or in line with one end;
- the bar is long enough that the blur of its ends cannot make the figure 2% wrong.

The search is model-free and cheap (connected components of dark ink on the stage's view); it
runs only when no ruler was read, since any dark rectangle beside a number could be asked.
"""
from __future__ import annotations

import re

import cv2
import numpy as np

from .confirm import RulerReading
from .ocr import OCR_DIGIT_PX, recognise
from ..results import Digit

INK_REL = 0.55          # printed ink is darker than this share of the paper's grey ...
INK_MAX = 110           # ... and than this level
BAR_MIN_ASPECT = 3.5    # long side over short side (a 1 cm bar 0.25 cm thick is 4)
BAR_MIN_FILL = 0.5      # share of its box the bar's ink fills (a segmented bar: about half)
BAR_MIN_VIEW_PX = 20    # shorter components in the view are not looked at
PIECE_MIN_ASPECT = 2.0  # ... a piece of one (a segment of a segmented bar)
MAX_BARS = 6            # bar candidates read per sheet, the longest first
MIN_BAR_PX = 50.0       # at the reading resolution: each end placed within about 0.3 px, so a
                        # bar this long is measured within about 1.2%
EDGE_TOL_REL = 0.01     # the ends' per-row positions agree within this share of the length ...
EDGE_TOL_PX = 1.5       # ... or this many pixels
END_TOL_PX = 2.0        # the ends measured across the middle rows lie where the bar's ink ends
SIDE_TOL_REL = 0.25     # the long sides stay within this share of the thickness ...
SIDE_TOL_PX = 2.0       # ... or this many pixels, over the bar's length
LABEL_GAP_REL = 2.5     # the label lies within this many of its heights from the bar
WORD_GAP_REL = 1.2      # glyphs further apart than this many heights belong to other words
LABEL_CHARS = "0123456789cm"
LETTER_MIN_CONF = 40.0  # the unit's letters: "cm" for "mm" would be 10x wrong, and so would the
                        # label's size (LABEL_CM), which catches it
MIN_LABEL_PX = 10       # a label's glyphs at least this tall at the reading resolution: with no
                        # other number to check it against, a small 5 read as a 9 would pass
LABEL_CM = (0.1, 1.0)   # printed labels are 0.1-1 cm tall: a misread value or unit (10x, 11x)
                        # makes the label implausibly large or small
LABEL_RE = re.compile(r"^(\d{1,3})\s*(cm|mm)$")
CM_PER_UNIT = {"cm": 1.0, "mm": 0.1}
# Nulls that found a bar with a length label beside it: they tell more than a ruler candidate's.
LABELLED_BAR_REASONS = ("scale bar too short", "scale bar with labels", "scale bar label",
                        "scale bar without a readable length label (read")


def paper_grey(gray: np.ndarray) -> float:
    """The paper's grey: most of a sheet, or of a crop around a bar, is paper (a sample of
    the pixels is enough)."""
    step = max(1, int(np.sqrt(gray.size / 250_000)))
    return float(np.percentile(gray[::step, ::step], 75))


def ink_mask(gray: np.ndarray) -> np.ndarray:
    return (gray < min(INK_MAX, INK_REL * paper_grey(gray))).astype(np.uint8)


def bar_ink(gray: np.ndarray, hint) -> np.ndarray:
    """Ink at the reading resolution, at half way between the paper and the darkest ink at the
    bar's place: a segmented bar's thin outline, which joins its dark segments into one bar,
    is lighter than its segments once blurred."""
    x1, y1, x2, y2 = (int(round(v)) for v in hint)
    at_bar = gray[max(0, y1):max(y2, y1 + 1), max(0, x1):max(x2, x1 + 1)]
    dark = float(np.percentile(at_bar, 5)) if at_bar.size else 0.0
    return (gray < 0.5 * (paper_grey(gray) + dark)).astype(np.uint8)


def find_bars(gray: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Boxes (in ``gray``'s pixels) of dark, solid, elongated components: scale bar candidates,
    the most bar-like first.

    Components touching the image's border are sheet edges or backgrounds. Pieces in line, on
    the same rows, are one candidate: a segmented bar's thin outline is lost at the view's
    resolution, leaving its dark segments apart. Pieces with parallel neighbours are the bars
    of a barcode, which would otherwise crowd out the scale bar."""
    H, W = gray.shape
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink_mask(gray), connectivity=8)
    x, y, w, h, area = stats[1:].astype(np.int64).T
    long_side, short_side = np.maximum(w, h), np.minimum(w, h)
    ok = (long_side >= PIECE_MIN_ASPECT * short_side) & (short_side >= 2) & (long_side >= 6)
    ok &= (area >= BAR_MIN_FILL * w * h) & (x > 0) & (y > 0) & (x + w < W) & (y + h < H)
    pieces = [(float(a), float(b), float(a + c), float(b + d)) for a, b, c, d in zip(x[ok], y[ok], w[ok], h[ok])]
    bars = []
    for horizontal in (True, False):
        lay = [p if horizontal else (p[1], p[0], p[3], p[2]) for p in pieces
               if ((p[2] - p[0]) >= (p[3] - p[1])) == horizontal]
        for x1, y1, x2, y2 in _in_line(lay):
            length, t = x2 - x1, y2 - y1
            if length < BAR_MIN_VIEW_PX or length < BAR_MIN_ASPECT * t:
                continue
            if sum(1 for a, b, c, d in lay if min(c, x2) - max(a, x1) > 0.5 * (c - a)
                   and t < abs((b + d) - (y1 + y2)) / 2 <= 0.5 * length) >= 2:
                continue  # a barcode's bars, side by side
            bars.append(((x1, y1, x2, y2) if horizontal else (y1, x1, y2, x2), length))
    bars.sort(key=lambda bl: -bl[1])
    return [b for b, _ in bars[:MAX_BARS]]


def _in_line(pieces: list[tuple]) -> list[tuple]:
    """Horizontal pieces joined where they share their rows and follow each other closely."""
    out: list[list[float]] = []
    for x1, y1, x2, y2 in sorted(pieces):
        tol = max(1.0, 0.25 * (y2 - y1))
        for o in out:
            if abs(o[1] - y1) <= tol and abs(o[3] - y2) <= tol and 0 <= x1 - o[2] <= 1.5 * max(x2 - x1, o[4]):
                o[2], o[4] = max(o[2], x2), max(o[4], x2 - x1)
                break
        else:
            out.append([x1, y1, x2, y2, x2 - x1])
    return [tuple(o[:4]) for o in out]


def label_region(box, hw: tuple[int, int]) -> tuple[float, float, float, float]:
    """Where a bar's label may be: beside the bar on every side, as far as a label of a
    plausible size (up to about six thicknesses tall, or a third of the length) reaches."""
    x1, y1, x2, y2 = box
    horizontal = (x2 - x1) >= (y2 - y1)
    length, t = (x2 - x1, y2 - y1) if horizontal else (y2 - y1, x2 - x1)
    along, across = max(0.6 * length, 25 * t), max(8 * t, 0.4 * length)
    H, W = hw
    if horizontal:
        return (max(0.0, x1 - along), max(0.0, y1 - across), min(W, x2 + along), min(H, y2 + across))
    return (max(0.0, x1 - across), max(0.0, y1 - along), min(W, x2 + across), min(H, y2 + along))


def _crossing(c: np.ndarray) -> float | None:
    """Sub-pixel position (continuous coordinates: pixel i covers [i, i+1)) where coverage
    ``c`` first rises to half its local peak, scanning from index 0."""
    above = np.flatnonzero(c >= 0.25)
    if not above.size or above[0] == 0:
        return None
    a = int(above[0])
    half = 0.5 * float(c[a:a + 4].max())
    i = a
    while i > 0 and c[i - 1] >= half:
        i -= 1
    while c[i] < half:
        i += 1
    lo, hi = float(c[i - 1]), float(c[i])
    return (i - 1) + (half - lo) / max(hi - lo, 1e-6) + 0.5


class Bar:
    """A bar laid horizontally in ``gray``: its ends (sub-pixel), rows, thickness and ink grey."""

    def __init__(self, left: float, right: float, top: int, bottom: int, mask: np.ndarray, dark: float):
        self.left, self.right, self.top, self.bottom, self.mask, self.dark = left, right, top, bottom, mask, dark

    @property
    def length(self) -> float:
        return self.right - self.left

    @property
    def thickness(self) -> int:
        return self.bottom - self.top


def measure_bar(gray: np.ndarray, hint) -> tuple[Bar | None, str | None]:
    """The bar nearest ``hint`` (a box in ``gray``'s pixels, the bar horizontal), measured: or
    (None, why not). The ends are placed where each row's ink coverage crosses half its peak."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bar_ink(gray, hint), connectivity=8)
    hx1, hy1, hx2, hy2 = hint
    best, best_overlap = 0, 0.0
    for i in range(1, n):
        x, y, w, h, _ = stats[i]
        ov = max(0.0, min(x + w, hx2) - max(x, hx1)) * max(0.0, min(y + h, hy2) - max(y, hy1))
        if w >= BAR_MIN_ASPECT * h and ov > best_overlap:
            best, best_overlap = i, ov
    if not best:
        return None, "no bar at the scale bar's place"
    x, y, w, h, _ = stats[best]
    if x == 0 or y == 0 or x + w == gray.shape[1] or y + h == gray.shape[0]:
        return None, "not a bar: it runs off the crop"
    mask = labels == best
    cols = mask[:, x:x + w]
    top = np.argmax(cols, axis=0)
    bottom = cols.shape[0] - np.argmax(cols[::-1], axis=0)
    inner = slice(int(0.05 * w), max(int(0.95 * w), int(0.05 * w) + 1))
    t = float(np.median(bottom[inner] - top[inner]))
    side_tol = max(SIDE_TOL_PX, SIDE_TOL_REL * t)
    if np.ptp(top[inner]) > side_tol or np.ptp(bottom[inner]) > side_tol:
        return None, "not a bar: its long sides are not straight"
    t0, t1 = int(np.median(top[inner])), int(np.median(bottom[inner]))
    rows = range(t0 + int(0.25 * (t1 - t0)), max(t1 - int(0.25 * (t1 - t0)), t0 + int(0.25 * (t1 - t0)) + 1))
    pad = int(max(3, t))
    c0, c1 = max(0, x - pad), min(gray.shape[1], x + w + pad)
    # The paper's grey beside the bar (about its thickness away, on every side): mostly paper,
    # whatever the card's shade; the label's few glyph pixels do not move the median.
    near = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(2, int(t) // 2))
    y_lo, y_hi = max(0, t0 - 2 * pad), t1 + 2 * pad
    beside = gray[y_lo:y_hi, c0:c1][near[y_lo:y_hi, c0:c1] == 0]
    paper = float(np.median(beside)) if beside.size else paper_grey(gray)
    dark = float(np.median(gray[mask]))
    if paper - dark < 40:
        return None, "not a bar: too little contrast with the paper"
    lefts, rights = [], []
    for r in rows:
        cov = np.clip((paper - gray[r, c0:c1].astype(np.float64)) / (paper - dark), 0.0, 1.0)
        lo, hi = _crossing(cov), _crossing(cov[::-1])
        if lo is None or hi is None:
            return None, "not a bar: an end runs off the crop"
        lefts.append(c0 + lo)
        rights.append(c1 - hi)
    left, right = float(np.median(lefts)), float(np.median(rights))
    tol = max(EDGE_TOL_PX, EDGE_TOL_REL * (right - left))
    if np.ptp(lefts) > tol or np.ptp(rights) > tol:
        return None, "not a bar: its ends are not square"
    if abs(left - x) > END_TOL_PX or abs(right - (x + w)) > END_TOL_PX:
        return None, "not a bar: its middle ends before its outline does"
    if _continues(stats, best, x, x + w, t0, t1):
        return None, "not a bar: it continues past its ends (one segment of a longer bar?)"
    return Bar(left, right, t0, t1, mask, dark), None


def _continues(stats: np.ndarray, bar: int, x1: int, x2: int, top: int, bottom: int) -> bool:
    """Another ink component on exactly the bar's rows, within a bar's length of either end: the
    next dark segment of a segmented bar whose outline did not join them. Measured alone, one
    segment would give the whole label's length to a fraction of the bar."""
    length, tol = x2 - x1, max(2, 0.15 * (bottom - top))
    for i, (x, y, w, h, area) in enumerate(stats):
        if i in (0, bar) or abs(y - top) > tol or abs(y + h - bottom) > tol:
            continue
        if area < 0.75 * w * h or w < 0.5 * h:  # a letter of a label in line with a thin bar
            continue
        if x1 - length <= x + w <= x1 or x2 <= x <= x2 + length:
            return True
    return False


def _glyph_rows(gray: np.ndarray, region: tuple[int, int, int, int], dark: float, paper: float) -> list[list[tuple]]:
    """Glyph-sized blobs of ``region`` (x1, y1, x2, y2) grouped into words on shared rows."""
    x1, y1, x2, y2 = region
    sub = gray[y1:y2, x1:x2]
    if sub.size == 0:
        return []
    ink = (sub < 0.5 * (paper + dark)).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    blobs = [(bx + x1, by + y1, bx + bw + x1, by + bh + y1) for bx, by, bw, bh, a in stats[1:]
             if 6 <= bh and bw <= 2.5 * bh and a >= 0.1 * bw * bh]
    rows: list[list[tuple]] = []
    for b in sorted(blobs, key=lambda b: (b[1] + b[3]) / 2):
        for row in rows:
            ref = row[0]
            h = ref[3] - ref[1]
            if abs((b[1] + b[3]) / 2 - (ref[1] + ref[3]) / 2) < 0.5 * h and 0.4 * h <= b[3] - b[1] <= 1.6 * h:
                row.append(b)
                break
        else:
            rows.append([b])
    words = []
    for row in rows:
        row.sort(key=lambda b: b[0])
        h = float(np.median([b[3] - b[1] for b in row]))
        words.append([row[0]])
        for prev, cur in zip(row, row[1:]):
            (words[-1].append(cur) if cur[0] - prev[2] < WORD_GAP_REL * h else words.append([cur]))
    return words


def _read_label(gray: np.ndarray, word: list[tuple], paper: float, turned: bool) -> tuple[str, float]:
    """Tesseract's reading of one word box (single line; ``turned``: upside down), upscaled to
    its preferred height, and
    the lowest confidence of its digits; ("", 0) where it read more symbols than there are
    glyph blobs, or two symbols in one place (a glyph read twice, "55" for "5", changes the
    length), or letters below LETTER_MIN_CONF. A thin letter may come apart in two blobs, so
    fewer symbols than blobs is allowed."""
    x1, y1 = min(b[0] for b in word), min(b[1] for b in word)
    x2, y2 = max(b[2] for b in word), max(b[3] for b in word)
    h = y2 - y1
    pad = max(2, h // 4)
    patch = gray[max(0, y1 - pad):y2 + pad, max(0, x1 - pad):x2 + pad]
    if turned:
        patch = patch[::-1, ::-1]
    f = float(np.clip(OCR_DIGIT_PX / max(h, 1), 1.0, 6.0))
    if f > 1.0:
        patch = cv2.resize(patch, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
    m = int(0.5 * OCR_DIGIT_PX)
    canvas = np.full((patch.shape[0] + 2 * m, patch.shape[1] + 2 * m), 255, np.uint8)
    lo, hi = float(patch.min()), max(float(paper), float(patch.min()) + 1)
    canvas[m:m + patch.shape[0], m:m + patch.shape[1]] = np.clip((patch - lo) * (255.0 / (hi - lo)), 0, 255)
    # Symbol by symbol: a word's confidence counts it against a dictionary ("50mm" gets 0).
    symbols = recognise(canvas, 7, "symbol", LABEL_CHARS)
    if len(symbols) > len(word) or _overlapping(symbols) or any(
            c < LETTER_MIN_CONF for t, c, _ in symbols if not t.isdigit()):
        return "", 0.0
    text = "".join(t for t, _, _ in symbols)
    conf = min((c for t, c, _ in symbols if t.isdigit()), default=0.0)
    return text, conf


def _overlapping(symbols: list[tuple]) -> bool:
    boxes = sorted(b for _, _, b in symbols)
    return any(min(a[2], b[2]) - b[0] > 0.5 * min(a[2] - a[0], b[2] - b[0]) for a, b in zip(boxes, boxes[1:]))


def _labels_beside(gray: np.ndarray, bar: Bar, paper: float) -> list[tuple]:
    """(value, unit, conf, word box, turned) for each word beside the bar that reads as a length
    alone, as printed or upside down (the bar may have been printed so; where a word may lie
    beside the bar is the same either way up). A word too small to read is (None, why, 0, box,
    False)."""
    H, W = gray.shape
    clean = gray.copy()
    clean[cv2.dilate(bar.mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=3) > 0] = np.uint8(paper)
    found = []
    for word in _glyph_rows(clean, (0, 0, W, H), bar.dark, paper):
        x1, y1 = min(b[0] for b in word), min(b[1] for b in word)
        x2, y2 = max(b[2] for b in word), max(b[3] for b in word)
        h = y2 - y1
        gap = LABEL_GAP_REL * h
        cy = 0.5 * (y1 + y2)
        within_span = bar.left <= 0.5 * (x1 + x2) <= bar.right
        above = within_span and bar.top - gap <= y2 <= bar.top + 1
        below = within_span and bar.bottom - 1 <= y1 <= bar.bottom + gap
        mid = 0.5 * (bar.top + bar.bottom)
        in_line = abs(cy - mid) <= max(0.5 * h, bar.thickness) and (
            bar.right - 1 <= x1 <= bar.right + gap or bar.left - gap <= x2 <= bar.left + 1)
        if not (above or below or in_line) or h > bar.length:
            continue
        if h < MIN_LABEL_PX:  # too small to tell a 5 from a 9 (or 6, 8, 3) safely
            found.append((None, f"{h} px tall", 0.0, (x1, y1, x2, y2), False))
            continue
        for turned in (False, True):
            text, conf = _read_label(clean, word, paper, turned)
            if m := LABEL_RE.match(text.strip()):
                found.append((int(m.group(1)), m.group(2), conf, (x1, y1, x2, y2), turned))
    return found


def read_scalebar(crop_rgb: np.ndarray, hint, min_conf: float = 70.0) -> RulerReading:
    """The scale of a scale bar in a crop (``hint``: the bar's box in crop pixels), or a null
    with the reason."""
    gray = cv2.cvtColor(crop_rgb, cv2.COLOR_RGB2GRAY) if crop_rgb.ndim == 3 else crop_rgb
    hx1, hy1, hx2, hy2 = hint
    vertical = (hy2 - hy1) > (hx2 - hx1)
    if vertical:  # lay it down: a quarter turn clockwise maps crop (x, y) to (h-1-y, x)
        gray = np.ascontiguousarray(np.rot90(gray, -1))
        h = crop_rgb.shape[0]
        hint = (h - hy2, hx1, h - hy1, hx2)
    bar, why = measure_bar(gray, hint)
    if bar is None:
        return RulerReading(px_per_cm=None, reason=why)
    labels = _labels_beside(gray, bar, paper_grey(gray))
    small = [lb for lb in labels if lb[0] is None]
    labels = [lb for lb in labels if lb[0] is not None]
    confident = [lb for lb in labels if lb[2] >= min_conf]
    if small and not confident:
        return RulerReading(px_per_cm=None, reason=f"scale bar label too small to read safely ({small[0][1]})")
    if not confident:
        return RulerReading(px_per_cm=None, reason="scale bar without a readable length label"
                            + (f" (read {labels[0][0]} {labels[0][1]} at {labels[0][2]:.0f}%)" if labels else ""))
    # Every length read beside the bar, however unsure, must agree with the one taken.
    lengths = {round(v * CM_PER_UNIT[u], 3) for v, u, *_ in labels}
    if len(lengths) > 1:
        return RulerReading(px_per_cm=None, reason="scale bar with labels that disagree: "
                            + ", ".join(f"{v} {u}" for v, u, *_ in labels))
    if bar.length < MIN_BAR_PX:
        return RulerReading(px_per_cm=None, reason=f"scale bar too short to measure within 2% ({bar.length:.0f} px)")
    value, unit, conf, box, turned = max(confident, key=lambda lb: lb[2])
    cm = value * CM_PER_UNIT[unit]
    label_cm = (box[3] - box[1]) * cm / bar.length
    if not LABEL_CM[0] <= label_cm <= LABEL_CM[1]:
        return RulerReading(px_per_cm=None, reason=f"scale bar label {value} {unit} would be {label_cm:.2f} cm tall: "
                            "misread, or not this bar's label")
    digit = Digit(value=value, conf=round(conf, 1), x=0.5 * (box[0] + box[2]), y=0.5 * (box[1] + box[3]))
    x_lo, x_hi = min(bar.left, box[0]), max(bar.right, box[2])
    y_lo, y_hi = min(bar.top, box[1]), max(bar.bottom, box[3])
    reading = RulerReading(px_per_cm=bar.length / cm, reason=None, method=f"scale-bar-{value}{unit}",
                           digits=[digit], rotation=180 if turned else 0,
                           axis_span=(x_lo, x_hi), cross_span=(y_lo, y_hi), runs_past_ends=False)
    return _back_to_crop(reading, crop_rgb.shape[:2]) if vertical else reading


def _back_to_crop(reading: RulerReading, hw: tuple[int, int]) -> RulerReading:
    """A reading of the crop turned a quarter clockwise, in the crop's own pixels: its x runs
    along the crop's y, its y along the crop's x reversed."""
    h, _ = hw
    d = reading.digits[0]
    reading.digits = [Digit(value=d.value, conf=d.conf, x=d.y, y=h - d.x)]
    (a0, a1), (c0, c1) = reading.axis_span, reading.cross_span
    reading.axis_span = (h - a1, h - a0)   # along the crop's y
    reading.cross_span = (c0, c1)          # along the crop's x
    reading.rotation = (reading.rotation + 90) % 360
    return reading
