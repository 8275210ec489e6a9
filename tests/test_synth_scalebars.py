"""Printed scale bars in the synthetic sheets (herbmorph.synth.scalebars): exact bar length, the
label where the ground truth says, equal segments, and sheets without a bar left as they were."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from herbmorph.synth import scalebars, sheet
from herbmorph.synth.sheet import generate_sheet

PPCS = (15, 45, 138, 250)


def _render(monkeypatch, ppc, want: dict):
    """The first bar (seeds [ppc, k]) whose extra matches ``want``, with the alpha it was drawn from."""
    seen = {}
    compose = scalebars._compose

    def spy(alpha, *a, **k):  # the unblurred coverage, before _compose and _soften
        seen["alpha"] = alpha.copy()
        return compose(alpha, *a, **k)

    monkeypatch.setattr(scalebars, "_compose", spy)
    for k in range(300):
        d = scalebars.render_scalebar(np.random.default_rng([ppc, k]), ppc)
        if all(d.extra.get(key) == v for key, v in want.items()):
            return d, seen["alpha"]
    pytest.fail(f"no bar with {want} at {ppc} px/cm")


def _ink_row(d, y: float) -> np.ndarray:
    """Ink (0 card .. 1 bar) along image row y up to just past the bar (a label on the right is
    at least 0.2 cm further), from the card left of the bar and the bar's first end."""
    row = d.image[int(y), : int(np.ceil(d.extra["bar_x1"] + 2.5))].astype(np.float64).mean(axis=1)
    x0 = d.x0
    card = np.median(row[: int(x0) - 3])
    dark = np.median(row[int(x0) + 2: int(x0) + 5])
    return (card - row) / (card - dark)


def _half_crossings(p: np.ndarray) -> tuple[float, float]:
    """Sub-pixel x (pixel i centred on i + 0.5) where the ink first rises through and last falls through 0.5."""
    above = np.nonzero(p >= 0.5)[0]
    i, j = above[0], above[-1]
    left = (i - 1) + 0.5 + (0.5 - p[i - 1]) / (p[i] - p[i - 1])
    right = j + 0.5 + (p[j] - 0.5) / (p[j] - p[j + 1])
    return left, right


@pytest.mark.parametrize("style", ["solid", "segmented"])
@pytest.mark.parametrize("ppc", PPCS)
def test_bar_outer_length_is_exact(monkeypatch, ppc, style):
    d, alpha = _render(monkeypatch, ppc, {"bar_style": style})
    L = d.extra["bar_cm"] * ppc
    assert d.design == "bar" and d.extra["bar_x1"] == pytest.approx(d.x0 + L, abs=1e-9)
    assert 60 <= L <= min(12 * ppc, 2800)
    y0, y1 = d.tick_band
    assert y1 - y0 == pytest.approx(d.extra["bar_thickness"])
    # unblurred: a fully covered row of the bar (the outline's, on a segmented bar) sums to its length
    cols = slice(int(d.x0) - 2, int(np.ceil(d.x0 + L)) + 2)
    rows = alpha[int(np.ceil(y0)): int(np.floor(y1)), cols]
    assert rows.sum(axis=1).max() == pytest.approx(L, abs=0.01)
    # on the image as drawn (antialiased, blurred): the ends' half-ink crossings along the middle row
    p = _ink_row(d, (y0 + y1) / 2)
    left, right = _half_crossings(p)
    assert abs(left - d.x0) < 0.5
    last_dark = style == "solid" or d.extra["bar_segments"] % 2 == 1
    if last_dark:  # an empty last segment ends in a thin outline, which blurs below half ink
        assert abs((right - left) - L) < 0.5, (left, right, d.x0, L)


@pytest.mark.parametrize("ppc", PPCS)
def test_segmented_bar_has_equal_segments(monkeypatch, ppc):
    d, alpha = _render(monkeypatch, ppc, {"bar_style": "segmented"})
    n, L = d.extra["bar_segments"], d.extra["bar_cm"] * ppc
    assert n >= 2
    y0, y1 = d.tick_band
    # a row inside the outline, up to the bar's end: dark segments, empty ones, end lines
    r = alpha[int((y0 + y1) / 2), : int(np.ceil(d.extra["bar_x1"])) + 1]
    runs, i = [], 0
    while i < len(r):  # runs of inked pixels; their sub-pixel ends from the end pixels' coverage
        if r[i] > 0:
            j = i
            while j + 1 < len(r) and r[j + 1] > 0:
                j += 1
            runs.append((i + 1 - r[i], j + r[j]))
            i = j + 1
        else:
            i += 1
    edges = [e for run in runs for e in run]
    if n % 2 == 0:  # the last segment is empty: the run after it is the right outline; drop its inner side
        edges.pop(-2)
    assert len(edges) == n + 1, (edges, n)
    assert edges[0] == pytest.approx(d.x0, abs=0.01) and edges[-1] == pytest.approx(d.x0 + L, abs=0.01)
    assert np.diff(edges) == pytest.approx(np.full(n, L / n), abs=0.02)
    # and the image shows them: dark and empty segments alternate along the bar's middle row
    p = _ink_row(d, (y0 + y1) / 2)
    mids = (np.asarray(edges[:-1]) + L / n / 2).astype(int)
    assert (p[mids[0::2]] > 0.7).all() and (p[mids[1::2]] < 0.3).all(), p[mids]


@pytest.mark.parametrize("ppc,side", [(15, "right"), (45, "above"), (138, "below"), (250, "right"), (250, "above")])
def test_label_is_inked_where_its_bbox_says(monkeypatch, ppc, side):
    d, alpha = _render(monkeypatch, ppc, {"label_side": side})
    (g,) = d.digits
    value, unit = g["value"], g["unit"]
    assert g["text"] in (f"{value} {unit}", f"{value}{unit}") and unit in ("cm", "mm")
    assert d.extra["bar_cm"] == (value / 10 if unit == "mm" else value)
    bx0, by0, bx1, by1 = g["bbox"]
    assert (g["cx"], g["cy"]) == pytest.approx(((bx0 + bx1) / 2, (by0 + by1) / 2))
    y0, y1 = d.tick_band
    if side == "above":
        assert by1 < y0 and abs(g["cx"] - (d.x0 + d.extra["bar_x1"]) / 2) < 0.5
    elif side == "below":
        assert by0 > y1 and abs(g["cx"] - (d.x0 + d.extra["bar_x1"]) / 2) < 0.5
    else:
        assert bx0 > d.extra["bar_x1"] and abs(g["cy"] - (y0 + y1) / 2) < 0.5
    # every bit of ink is the bar's or lies in the label's box (one pixel for the sub-pixel shift)
    H, W = alpha.shape
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    in_bar = (xx > d.x0 - 1) & (xx < d.extra["bar_x1"] + 1) & (yy > y0 - 1) & (yy < y1 + 1)
    in_box = (xx > bx0 - 1) & (xx < bx1 + 1) & (yy > by0 - 1) & (yy < by1 + 1)
    assert not alpha[~in_bar & ~in_box].any()
    ys, xs = np.nonzero((alpha > 0.5) & ~in_bar)
    assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == pytest.approx([bx0, by0, bx1, by1], abs=1.5)
    # and on the image: nothing dark outside the bar and the box, given the blur a little room
    grey = d.image.astype(np.float64).mean(axis=2)
    card = np.median(grey)
    dark = (card - grey) > 0.5 * (card - grey[int((y0 + y1) / 2), int(d.x0) + 2])
    grow = lambda m: cv2.dilate(m.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # noqa: E731
    assert not (dark & ~grow(in_bar) & ~grow(in_box)).any()
    assert dark[int(by0):int(np.ceil(by1)), int(bx0):int(np.ceil(bx1))].mean() > 0.1


def test_label_choice_fits_the_resolution():
    rng = np.random.default_rng(0)
    for ppc in (5, 15, 45, 138, 250, 400, 3000):
        for _ in range(20):
            value, unit = scalebars.choose_label(rng, ppc)
            L = (value / 10 if unit == "mm" else value) * ppc
            if 6 <= ppc <= 280:
                assert 60 <= L <= 2800
    assert scalebars.choose_label(rng, 3000) in ((1, "cm"), (10, "mm"))   # every bar too long: the shortest
    assert scalebars.choose_label(rng, 4) == (10, "cm")                    # every bar too short: the longest


# --------------------------------------------------------------------------- sheets
# Cheap ones of [7, i], i < 30, drawn at (15, 250) px/cm (low px/cm); [7, 2] draws a bar.
SEEDS = [[7, 5], [7, 21], [7, 25], [7, 2]]


@pytest.fixture(scope="module")
def sheets():
    return {tuple(s): generate_sheet(np.random.default_rng(s), (15, 250), seed=s) for s in SEEDS}


def test_sheets_without_a_bar_are_unchanged(sheets, monkeypatch):
    """The bar decision draws from its own stream: with bars switched off, every sheet that did
    not get one comes out byte for byte the same (the held-out set is regenerated from seeds)."""
    monkeypatch.setattr(sheet, "BAR_P", 0.0)
    n_bar = 0
    for s in SEEDS:
        img0, gt0 = generate_sheet(np.random.default_rng(s), (15, 250), seed=s)
        img, gt = sheets[tuple(s)]
        assert gt0["scale"] is None or gt0["scale"]["design"] != "bar"
        if gt["scale"] and gt["scale"]["design"] == "bar":
            n_bar += 1
            continue
        assert img.shape == img0.shape and img.tobytes() == img0.tobytes(), s
        assert json.dumps(gt, sort_keys=True) == json.dumps(gt0, sort_keys=True), s
    assert 0 < n_bar < len(SEEDS)


def test_sheet_with_a_bar_has_consistent_ground_truth(sheets):
    img, gt = sheets[(7, 2)]
    sc = gt["scale"]
    assert sc["design"] == "bar" and sc["px_per_cm"] == pytest.approx(gt["px_per_cm"])
    assert set(sc) == {"bbox", "design", "rotation", "px_per_cm", "tick0", "axis", "digits", "bar_cm"}
    (g,) = sc["digits"]
    assert sc["bar_cm"] == (g["value"] / 10 if g["unit"] == "mm" else g["value"])
    L = sc["bar_cm"] * gt["px_per_cm"]
    x1, y1, x2, y2 = sc["bbox"]
    t0, ax = np.asarray(sc["tick0"]), np.asarray(sc["axis"], float)
    end = t0 + L * ax
    for x, y in (t0, end, (g["cx"], g["cy"])):
        assert x1 < x < x2 and y1 < y < y2
    # the image is dark along the axis between the ends and light just beyond them
    grey = cv2.GaussianBlur(img.astype(np.float32).mean(axis=2), (0, 0), 0.7)
    s = np.array([-3.0, 1.5, 3.0, L - 3.0, L - 1.5, L + 3.0])
    pts = (t0 + s[:, None] * ax).astype(np.float32)
    v = cv2.remap(grey, pts[:, 0][None], pts[:, 1][None], cv2.INTER_LINEAR)[0]
    card = max(v[0], v[-1])
    assert v[1] < card - 60 and v[2] < card - 60, v  # the first segment is always dark
    assert v[0] > v[1] + 60 and v[-1] > min(v[3], v[4]) + 20, v
