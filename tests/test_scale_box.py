"""The reported ruler box: trimmed across the ruler to what the reader found, never grown."""
import numpy as np

from herbmorph.scale.core import SIDE_MARGIN_CM, fit_box_to_reading
from herbmorph.scale.ruler import RulerReading, read_ruler
from herbmorph.synth.rulers import render_ruler


def test_box_is_trimmed_across_the_ruler_never_grown():
    m = SIDE_MARGIN_CM * 50.0
    r = RulerReading(px_per_cm=50.0, reason=None, rotation=0, axis_span=(300.0, 800.0), cross_span=(30.0, 110.0))
    # crop origin (100, 40): ruler body y 70..150 on the sheet, plus the side margin
    assert fit_box_to_reading([0, 0, 1500, 400], r, 100, 40) == [365.0, 70.0 - m, 935.0, 150.0 + m]
    assert fit_box_to_reading([0, 80, 1500, 140], r, 100, 40) == [365.0, 80.0, 935.0, 140.0]
    rv = RulerReading(px_per_cm=50.0, reason=None, rotation=270, axis_span=(300.0, 800.0), cross_span=(30.0, 110.0))
    assert fit_box_to_reading([0, 0, 400, 1500], rv, 40, 100) == [70.0 - m, 365.0, 150.0 + m, 935.0]


def _on_canvas(ppc, design, seed, paper, k=0):
    """A rendered ruler on a canvas three times its width, as a generous detector crop."""
    d = render_ruler(np.random.default_rng([ppc, seed]), ppc, design)
    h, w = d.image.shape[:2]
    canvas = np.empty((3 * h, w + 100, 3), np.uint8)
    canvas[:] = paper
    canvas[h:2 * h, 50:50 + w] = d.image
    return np.ascontiguousarray(np.rot90(canvas, k)), h


def test_cross_span_is_the_ruler_body():
    """On paper of another colour the reader finds the body's edges, past the ticks and numbers
    (a block ruler's black cells and frame lines included), whichever way the ruler lies."""
    for ppc, design, seed, k in [(60, "cm-black", 1, 0), (45, "block", 2, 1), (80, "cm-15", 3, 2)]:
        img, h = _on_canvas(ppc, design, seed, (90, 70, 50), k)
        r = read_ruler(img)
        assert r.px_per_cm is not None, r.reason
        lo, hi = r.cross_span
        assert abs(lo - h) <= 3 and abs(hi - 2 * h) <= 3, (design, k, r.cross_span, h)


def test_cross_span_is_not_trimmed_where_ruler_and_paper_look_alike():
    """A ruler on paper of its own colour has no visible edge: the span reaches the crop's edges."""
    d = render_ruler(np.random.default_rng([60, 1]), 60, "cm-black")
    img, h = _on_canvas(60, "cm-black", 1, np.median(d.image.reshape(-1, 3), axis=0))
    r = read_ruler(img)
    assert r.px_per_cm is not None, r.reason
    assert r.cross_span == (0, 3 * h)
