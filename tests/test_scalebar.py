"""Scale bars with one length label: read within 2% where the bar and its label agree, null
with a reason where anything is missing or doubtful (real Tesseract, no mocks)."""
from __future__ import annotations

import numpy as np
import pytest

from herbmorph.scale.scalebar import find_bars, read_scalebar
from herbmorph.synth.fonts import paste_mask_centered, text_mask
from herbmorph.synth.rulers import draw_rect


def card(ppc: float, length_cm: float, labels: list[tuple[str, str]], thickness_cm: float = 0.15,
         wedge: bool = False) -> tuple[np.ndarray, float]:
    """A light card with a dark bar ``length_cm`` long and its labels ((text, side) with side
    "above", "below", "right", or "far" for a word well away from the bar); (RGB, bar x0)."""
    length = length_cm * ppc
    t = max(3.0, thickness_cm * ppc)
    dh = max(12.0, 0.35 * ppc)
    H, W = int(length * 0.6 + 8 * dh + 4 * t), int(length * 1.6 + 12 * dh)
    alpha = np.zeros((H, W), np.float32)
    x0, y0 = 3.3 * dh + 0.37, H / 2 + 0.41
    if wedge:  # a tapering shape, not a bar: its long sides are not parallel
        for i in range(int(length)):
            draw_rect(alpha, x0 + i, y0, x0 + i + 1, y0 + t * (0.3 + 1.4 * i / length))
    else:
        draw_rect(alpha, x0, y0, x0 + length, y0 + t)
    for text, side in labels:
        m = text_mask(text, dh, kind="sans")
        cx = {"right": x0 + length + 0.3 * ppc + m.shape[1] / 2, "far": x0 + length / 2}.get(side, x0 + length / 2)
        cy = {"above": y0 - 0.2 * ppc - dh / 2, "below": y0 + t + 0.2 * ppc + dh / 2, "right": y0 + t / 2,
              "far": y0 - 2.2 * dh - 4 * t}[side]
        paste_mask_centered(alpha, m, cx, cy)
    gray = (238.0 - 212.0 * alpha).astype(np.uint8)
    return np.dstack([gray] * 3), x0


def read(rgb: np.ndarray, turns: int = 0):
    rgb = np.ascontiguousarray(np.rot90(rgb, turns))
    bars = find_bars(rgb[..., 0])
    assert bars, "no bar-like component found"
    return read_scalebar(rgb, bars[0])


@pytest.mark.parametrize("ppc,length_cm,text,side,turns", [
    (45.0, 5, "5 cm", "above", 0),
    (138.0, 2, "2 cm", "right", 0),
    (25.0, 10, "10 cm", "below", 1),
    (60.0, 5, "50 mm", "below", 2),
    (90.0, 1, "1cm", "above", 3),
])
def test_bar_with_its_label_is_read_within_2_percent(ppc, length_cm, text, side, turns):
    rgb, _ = card(ppc, length_cm, [(text, side)])
    r = read(rgb, turns)
    assert r.px_per_cm is not None, r.reason
    assert abs(r.px_per_cm / ppc - 1) < 0.02
    assert r.method.startswith("scale-bar-")
    assert r.rotation % 180 == turns % 2 * 90


@pytest.mark.parametrize("labels,why", [
    ([], "without a readable length label"),
    ([("Height 5 cm", "above")], "without a readable length label"),
    ([("5 cm", "far")], "without a readable length label"),
    ([("5 cm", "above"), ("10 mm", "below")], "labels that disagree"),
])
def test_bar_without_one_clear_label_is_null(labels, why):
    rgb, _ = card(45.0, 5, labels)
    r = read(rgb)
    assert r.px_per_cm is None
    assert why in r.reason


def test_a_wedge_is_not_a_bar():
    rgb, _ = card(45.0, 5, [("5 cm", "above")], wedge=True)
    bars = find_bars(rgb[..., 0])
    r = read_scalebar(rgb, bars[0]) if bars else None
    assert r is None or (r.px_per_cm is None and "not a bar" in r.reason)


def test_a_bar_too_short_to_measure_within_2_percent_is_null():
    rgb, _ = card(20.0, 1, [("1 cm", "above")])
    r = read(rgb)
    assert r.px_per_cm is None and "too short" in r.reason


def test_generated_scale_bars_are_read_or_null_never_wrong():
    """The generator's bars (both styles, every label side, the four turns, 15-250 px/cm):
    every answer within 2%, and most read."""
    from herbmorph.synth.scalebars import render_scalebar

    read_ok = 0
    n = 40
    for i in range(n):
        rng = np.random.default_rng([99, i])
        ppc = float(np.exp(rng.uniform(np.log(15), np.log(250))))
        d = render_scalebar(rng, ppc)
        sheet = np.full((d.height + 80, d.width + 80, 3), 225, np.uint8)
        sheet[40:-40, 40:-40] = d.image
        sheet = np.ascontiguousarray(np.rot90(sheet, i % 4))
        for box in find_bars(sheet[..., 1]):
            r = read_scalebar(sheet, box)
            if r.px_per_cm is not None:
                assert abs(r.px_per_cm / ppc - 1) < 0.02, (i, ppc, d.digits[0]["text"], r.method)
                read_ok += 1
                break
    assert read_ok >= 0.8 * n


def test_a_sheet_with_a_scale_bar_is_read_by_the_scale_stage():
    from herbmorph.scale.core import ScalePredictor
    from herbmorph.synth.sheet import generate_sheet

    rgb, gt = generate_sheet(np.random.default_rng([7, 2]), (15, 250), seed=[7, 2])
    assert gt["scale"]["design"] == "bar"
    r = ScalePredictor().predict(rgb)
    assert r.status == "ok", r.reason
    assert abs(r.px_per_cm / gt["scale"]["px_per_cm"] - 1) < 0.02
    assert r.method == "scale-bar-5cm"
    x1, y1, x2, y2 = gt["scale"]["bbox"]
    bx1, by1, bx2, by2 = r.bbox
    assert x1 - 5 <= bx1 and bx2 <= x2 + 5 and y1 - 5 <= by1 and by2 <= y2 + 5
