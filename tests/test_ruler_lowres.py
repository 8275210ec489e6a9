"""Low-resolution 0-10 cm rulers with one line per cm and mm ticks only in the first cm (the
SERNEC and Smithsonian families): read by their lines where the numbers sit on them, null where
the numbers sit between lines as on a colour chart (real Tesseract, no mocks)."""
from __future__ import annotations

import numpy as np
import pytest

from herbmorph.scale.ruler import read_ruler
from herbmorph.synth.fonts import paste_mask_centered, text_mask
from herbmorph.synth.rulers import draw_rect


def line_ruler(ppc: float, numbers_between: bool = False, white_on_black: bool = True) -> np.ndarray:
    """A strip with a baseline, a line at every cm from 0 to 10, mm ticks in the first cm only,
    and the numbers under their lines (or half a cm along, between them)."""
    H, W = int(2.6 * ppc), int(12.5 * ppc)
    alpha = np.zeros((H, W), np.float32)
    x0, base = 0.9 * ppc + 0.37, 0.9 * ppc + 0.21
    w = max(0.9, 0.05 * ppc)
    draw_rect(alpha, x0, base - w, x0 + 10 * ppc, base)
    for cm in range(11):
        x = x0 + cm * ppc
        draw_rect(alpha, x - w / 2, base - 0.45 * ppc, x + w / 2, base)
    for mm in range(1, 10):
        x = x0 + mm * ppc / 10
        draw_rect(alpha, x - 0.3, base - 0.3 * ppc, x + 0.3, base)
    dh = max(9.0, 0.4 * ppc)
    for cm in range(11):
        cx = x0 + (cm + (0.5 if numbers_between else 0.0)) * ppc
        paste_mask_centered(alpha, text_mask(str(cm), dh, kind="sans"), cx, base + 0.25 * ppc + dh / 2)
    ink, paper = (235.0, 12.0) if white_on_black else (15.0, 240.0)
    gray = paper + (ink - paper) * alpha
    return np.dstack([gray.astype(np.uint8)] * 3)


@pytest.mark.parametrize("ppc,white", [(22.4, True), (22.4, False), (25.3, True)])
def test_one_line_per_cm_at_low_resolution_is_read(ppc, white):
    r = read_ruler(line_ruler(ppc, white_on_black=white))
    assert r.px_per_cm is not None, r.reason
    assert abs(r.px_per_cm / ppc - 1) < 0.02
    assert "ticks-1percm" in r.method


def test_numbers_between_the_lines_are_no_ruler():
    r = read_ruler(line_ruler(22.4, numbers_between=True))
    assert r.px_per_cm is None


# The real low-resolution sheets' rulers, measured by hand for this test: the centres of the
# regular cm lines (from 1 or 2 to 9 or 10) in a strip of rows across them, far-apart lines'
# distance over the cm between them. The sheets stay in ../shared; only these figures are ours.
REAL_LINES_PX_PER_CM = {"103272.jpg": 22.69, "10737.jpg": 22.39, "109601.jpg": 22.75, "110423.jpg": 22.21,
                        "120853.jpg": 22.69, "176836.jpg": 22.63, "19956.jpg": 22.21, "26124.jpg": 22.13}


def test_real_low_resolution_rulers_are_read_within_2_percent_of_their_lines():
    from conftest import REAL_SHEETS
    from herbmorph.imageio import load_image
    from herbmorph.scale.core import ScalePredictor

    if not REAL_SHEETS.is_dir():
        pytest.skip("../shared/samples/real-sheets is not beside this checkout")
    scale = ScalePredictor()
    read = 0
    for name, truth in REAL_LINES_PX_PER_CM.items():
        r = scale.predict(load_image(REAL_SHEETS / name).rgb)
        if r.px_per_cm is not None:
            assert abs(r.px_per_cm / truth - 1) < 0.02, (name, r.px_per_cm, truth)
            read += 1
    assert read >= 6
