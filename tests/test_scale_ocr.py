"""The paper's OCR spacing method and our robust extension, on crafted digit lists."""
from herbmorph.results import Digit
from herbmorph.scale.spacing import fit_digit_rows, fit_row, paper_px_per_unit


def D(value, x, conf=90.0, y=10.0):
    return Digit(value=value, conf=conf, x=x, y=y)


def test_paper_averages_consecutive_steps():
    est = paper_px_per_unit([D(1, 100), D(2, 150), D(3, 202), D(5, 300)])
    assert est.method == "ocr-consecutive"
    assert abs(est.px_per_unit - (50 + 52) / 2) < 1e-9


def test_paper_drops_low_confidence_and_values_past_ten():
    est = paper_px_per_unit([D(1, 100), D(2, 150), D(3, 999, conf=60), D(12, 5)])
    assert est.px_per_unit == 50
    assert {d.value for d in est.digits} == {1, 2}


def test_paper_falls_back_to_closest_pair():
    est = paper_px_per_unit([D(2, 100), D(4, 200), D(9, 460)])
    assert est.method == "ocr-pair"
    assert est.px_per_unit == 50  # values 2 and 4: the closest pair


def test_paper_needs_two_digits():
    assert paper_px_per_unit([D(3, 10)]) is None
    assert paper_px_per_unit([D(3, 10, conf=75.0), D(4, 60, conf=75.0)]) is None  # strictly above 75


def test_robust_fit_handles_numbers_past_ten_and_a_misread():
    digits = [D(v, 20 + 40 * v) for v in range(8, 16)] + [D(91, 380)]  # "9 10" glued into 91
    est = fit_row(digits)
    assert abs(est.px_per_unit - 40) < 1e-6
    assert 91 not in {d.value for d in est.digits}


def test_robust_fit_refuses_fewer_than_three_agreeing_values():
    assert fit_row([D(1, 10), D(2, 50)]) is None
    assert fit_row([D(1, 10), D(2, 50), D(7, 900)]) is None


def test_decreasing_numbers_do_not_fit():
    """Upside-down reading order (values falling along x) is not a ruler in the upright frame."""
    assert fit_row([D(5, 10), D(4, 50), D(3, 90), D(2, 130)]) is None


def test_dual_ruler_rows_are_fitted_apart():
    cm = [D(v, 10 + 40 * v, y=20) for v in range(0, 10)]
    inch = [D(v, 10 + 101.6 * v, y=80) for v in range(0, 4)]
    fits = fit_digit_rows(cm + inch, row_tol=15)
    assert [round(f.px_per_unit, 1) for f in fits] == [40.0, 101.6]


def test_dual_ruler_inch_row_can_never_be_read_as_cm():
    from herbmorph.scale.confirm import _contradicts

    cm = fit_row([D(v, 10 + 46 * v) for v in range(0, 10)])
    inch = fit_row([D(v, 10 + 46 * 2.54 * v, y=80) for v in range(0, 5)])
    assert _contradicts("cm", inch, [cm])
    assert not _contradicts("cm", cm, [inch])
    assert not _contradicts("inch", inch, [cm])


# --------------------------------------------------------------------------- real Tesseract
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from herbmorph.evaluate import ocr_chars  # noqa: E402
from herbmorph.scale.layout import NUMBER_READINGS  # noqa: E402
from herbmorph.scale.ocr import OCR_DIGIT_PX, cc_char_boxes  # noqa: E402
from herbmorph.scale.ruler import read_ruler  # noqa: E402
from herbmorph.scale.views import prepare_view, read_as  # noqa: E402
from herbmorph.synth.rulers import render_ruler  # noqa: E402


def test_numbers_on_rendered_rulers_are_read():
    """Character accuracy of the printed numbers (the evaluation's measure) over designs and
    resolutions, straight from read_ruler: at least 90%."""
    correct = total = 0
    for ppc in (25, 50, 120):
        for design in ("cm-black", "cm-white", "cm-15", "block", "dual"):
            d = render_ruler(np.random.default_rng([ppc, 99]), ppc, design)
            c, t = ocr_chars(d.digits, read_ruler(d.image).digits, 0.4 * ppc)
            correct, total = correct + c, total + t
    assert correct / total >= 0.9, (correct, total)


@pytest.mark.parametrize("ppc,design", [(60, "cm-15"), (40, "cm-black"), (25, "block"), (90, "cm-white")])
def test_glyph_blobs_cover_every_number(ppc, design):
    """Number locations come from glyph blobs, not only from Tesseract's page layout (which can
    return nothing at all on a clean ruler)."""
    d = render_ruler(np.random.default_rng([ppc, 1]), ppc, design)
    gray = cv2.cvtColor(d.image, cv2.COLOR_RGB2GRAY)
    if np.median(gray) < 110:
        gray = 255 - gray
    blobs = cc_char_boxes(gray, min_h=4)
    for g in d.digits:
        assert any(b[1] - 1 <= g["cx"] <= b[3] + 1 or  # a number of two glyphs: its centre
                   (b[1] - 1 <= g["bbox"][0] + 1 and g["bbox"][0] <= b[3])  # or its first glyph
                   for b in blobs if b[2] - 2 <= g["cy"] <= b[4] + 2), g["text"]


def test_small_digits_are_upscaled_for_tesseract():
    d = render_ruler(np.random.default_rng([25, 99]), 25, "cm-15")
    gray = cv2.cvtColor(d.image, cv2.COLOR_RGB2GRAY)
    view = prepare_view(0, gray)
    v = max((read_as(view, r, 75.0) for r in NUMBER_READINGS), key=lambda v: sum(d.conf > 75 for d in v.digits))
    printed = np.median([g["bbox"][3] - g["bbox"][1] for g in d.digits])
    assert printed < 15 and v.digit_height >= 0.75 * OCR_DIGIT_PX
    assert {dg.value for dg in v.digits if dg.conf > 75} >= set(range(1, 16)) - {1}
