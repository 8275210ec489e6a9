"""Model-free ruler proposals: where a sheet has a strongly periodic comb of thin ticks.

A ruler is long, thin, high-contrast, and carries a tick pattern with one period along its
length; almost nothing else on a herbarium sheet has that (handwriting, labels and plants are
aperiodic; barcodes have bars of mixed widths). The search is cheap: short row bands, cut into
windows, each window's column profile scored by how much of its spectrum one period holds.
Windows that score high and line up along a row form a proposal. Proposals only say where to
look; the reader still decides whether a scale is there.

Sheets photographed askew are handled by :func:`dominant_skew`: the long straight edges of a
sheet, its labels and its ruler share one angle, which the reader undoes before searching.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import fft as sfft
from scipy import ndimage

BAND_PX = 6            # rows per band: about a tick's length at the working resolution
WINDOW_PX = 192        # columns per window: several periods of a cm-scale lattice at ~50 px/cm
MIN_PERIOD_PX = 2.5    # shorter periods are not resolved
MAX_PERIOD_PX = 12.0   # longer ones are not tick combs at the working resolution (<= ~60 px/cm)
MIN_PEAK_SHARE = 0.5   # share of a window's (detrended) spectral power in its strongest line
MIN_CONTRAST = 6.0     # grey levels of profile standard deviation: paper texture stays below
MIN_RUN_WINDOWS = 3    # a proposal spans at least this many windows along its row
MAX_PROPOSALS = 6
SKEW_MIN_DEG = 1.0     # below this a ruler is read as it lies (the reader tolerates it)


@dataclass(frozen=True)
class Proposal:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in the searched image
    score: float                             # summed periodicity of its windows
    vertical: bool


def dominant_skew(gray: np.ndarray) -> float:
    """Degrees to rotate the image (counter-clockwise, as ``cv2.getRotationMatrix2D``) so its long
    straight edges run along the axes; 0.0 when they already do (within SKEW_MIN_DEG)."""
    h, w = gray.shape
    f = min(1.0, 1000.0 / max(h, w))
    small = cv2.resize(gray, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) if f < 1 else gray
    edges = cv2.Canny(small, 50, 150)
    min_len = 0.12 * max(small.shape)
    lines = cv2.HoughLinesP(edges, 1, np.pi / 360, threshold=80, minLineLength=min_len, maxLineGap=6)
    if lines is None:
        return 0.0
    x1, y1, x2, y2 = np.asarray(lines, float).reshape(-1, 4).T
    length = np.hypot(x2 - x1, y2 - y1)
    ang = np.degrees(np.arctan2(y2 - y1, x2 - x1))
    ang = (ang + 45.0) % 90.0 - 45.0  # a line and its perpendicular share a skew
    hist, edges_deg = np.histogram(ang, bins=180, range=(-45, 45), weights=length)
    hist = ndimage.uniform_filter1d(hist, 3, mode="wrap")
    i = int(np.argmax(hist))
    sel = np.abs(ang - (edges_deg[i] + 0.25)) < 1.0
    skew = float(np.average(ang[sel], weights=length[sel])) if sel.any() else 0.0
    # Image y grows downwards: a line at +a degrees in image terms is undone by rotating +a
    # counter-clockwise in cv2's convention.
    return skew if abs(skew) >= SKEW_MIN_DEG and hist[i] >= 0.3 * hist.sum() else 0.0


def _window_scores(gray: np.ndarray) -> np.ndarray:
    """Per (band, window): the share of spectral power in the strongest line (with its kin).
    Rows of the grid are bands of BAND_PX rows (stride BAND_PX/2), columns are windows of
    WINDOW_PX (stride WINDOW_PX/2)."""
    h, w = gray.shape
    if h < BAND_PX or w < WINDOW_PX:
        return np.zeros((0, 0))
    # Band means: mean rows of half a band each, then neighbours averaged (a band of BAND_PX
    # rows every BAND_PX/2 rows).
    half = BAND_PX // 2
    n_half = h // half
    halves = gray[:n_half * half].reshape(n_half, half, w).mean(axis=1, dtype=np.float32)
    bands = 0.5 * (halves[:-1] + halves[1:])                            # (nb, w)
    # Detrend each band by a moving average of ~MAX_PERIOD (shading and label edges are slow),
    # once along the whole row, before it is cut into windows.
    bands = bands - ndimage.uniform_filter1d(bands, size=int(MAX_PERIOD_PX) | 1, axis=1, mode="nearest")
    wstarts = np.arange(0, w - WINDOW_PX + 1, WINDOW_PX // 2)
    idx = wstarts[:, None] + np.arange(WINDOW_PX)[None, :]
    x = bands[:, idx]                                                    # (nb, nw, W)
    x -= x.mean(axis=2, keepdims=True)
    contrast = x.std(axis=2)
    spec = np.abs(sfft.rfft(x * np.hanning(WINDOW_PX).astype(np.float32), axis=2)) ** 2  # float32 throughout
    freqs = np.fft.rfftfreq(WINDOW_PX)
    band = (freqs >= 1.0 / MAX_PERIOD_PX) & (freqs <= 1.0 / MIN_PERIOD_PX)
    sb = spec[..., band]
    peak_bin = np.argmax(sb, axis=2) + int(np.argmax(band))  # in the full spectrum
    # A comb of thin ticks puts its power in a line and its harmonics; ticks of alternating
    # length (1/16 inch beside 1/8) also in the line at half the frequency. Each line leaks into
    # its neighbour bins through the window, so each is counted with them.
    n_bins = spec.shape[2]
    padded = np.pad(spec, ((0, 0), (0, 0), (1, 1)))
    peak = np.zeros(peak_bin.shape, np.float32)
    for mult in (0.5, 1.0, 2.0):
        centre = np.rint(peak_bin * mult).astype(int)
        ok = (centre >= 2) & (centre < n_bins - 1)
        idx = np.clip(centre, 1, n_bins - 2)[..., None] + np.array([0, 1, 2])  # padded: -1, 0, +1
        peak += np.where(ok, np.take_along_axis(padded, idx, axis=2).sum(axis=2), 0.0)
    share = peak / np.maximum(spec[..., 2:].sum(axis=2), 1e-6)
    share[contrast < MIN_CONTRAST] = 0.0
    return share


def _search_rows(gray: np.ndarray, vertical: bool) -> list[Proposal]:
    share = _window_scores(gray)
    if share.size == 0:
        return []
    hot = share >= MIN_PEAK_SHARE
    # Join hot windows that continue each other along the ruler: one band and one window apart.
    labels, n = ndimage.label(hot, structure=np.ones((3, 3)))
    out = []
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        cells = labels[sl] == i
        runs = cells.any(axis=0).sum()
        if runs < MIN_RUN_WINDOWS:
            continue
        rows, cols = np.nonzero(cells)
        rows, cols = rows + sl[0].start, cols + sl[1].start
        y1 = rows.min() * (BAND_PX // 2)
        y2 = rows.max() * (BAND_PX // 2) + BAND_PX
        x1 = cols.min() * (WINDOW_PX // 2)
        x2 = cols.max() * (WINDOW_PX // 2) + WINDOW_PX
        length = x2 - x1
        # Across the ruler: the tick band plus the numbers and body beside it, on both sides
        # (which side the numbers are is unknown); a ruler is about a sixth as wide as long.
        grow = max(3.0 * (y2 - y1), 0.12 * length, 40.0)
        y1, y2 = max(0.0, y1 - grow), min(float(gray.shape[0]), y2 + grow)
        box = (float(x1), float(y1), float(x2), float(y2))
        if vertical:
            box = (box[1], box[0], box[3], box[2])
        out.append(Proposal(box, float(share[rows, cols].sum()), vertical))
    return out


def row_proposals(gray: np.ndarray) -> list[Proposal]:
    """Proposals of rulers lying along the image's rows."""
    return _search_rows(gray, vertical=False)


def column_proposals(gray: np.ndarray) -> list[Proposal]:
    """Proposals of rulers standing along its columns."""
    return _search_rows(np.ascontiguousarray(gray.T), vertical=True)


def strongest(props: list[Proposal], max_n: int = MAX_PROPOSALS) -> list[Proposal]:
    return sorted(props, key=lambda p: -p.score)[:max_n]


def find_proposals(gray: np.ndarray, max_n: int = MAX_PROPOSALS) -> list[Proposal]:
    """Ruler proposals in a greyscale image (both orientations), strongest first."""
    return strongest(row_proposals(gray) + column_proposals(gray), max_n)
