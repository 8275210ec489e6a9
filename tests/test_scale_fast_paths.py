"""The ruler reader's shortcuts give what the long way gives: glyphs searched at half the reading
scale, number patches upscaled on their own, the glyph-only reading of unchanged patches taken
from the printed one, the lattice basis built from two small tables, histogram percentiles."""
import cv2
import numpy as np
import pytest

from herbmorph.scale import layout, views
from herbmorph.scale.layout import MAX_NUMBERS, ReadingSource, nearest_the_comb
from herbmorph.scale.ocr import u8_percentile
from herbmorph.scale.ruler import read_ruler
from herbmorph.scale.ticks import phasors
from herbmorph.synth.rulers import render_ruler


def _small_digit_ruler(ppc: float, seed: int) -> tuple[np.ndarray, float]:
    """A ruler in a generous crop of paper (as a detector box gives it): its numbers must be
    upscaled several times to be read."""
    d = render_ruler(np.random.default_rng([int(ppc), seed]), ppc, "cm-15")
    h, w = d.image.shape[:2]
    crop = np.full((4 * h, w + 40, 3), 228, np.uint8)
    crop[h:2 * h, 20:20 + w] = d.image
    return crop, d.px_per_cm


@pytest.mark.parametrize("ppc,seed", [(25.0, 1), (30.0, 2), (22.0, 3)])
def test_glyphs_searched_at_half_scale_read_what_the_full_search_reads(ppc, seed):
    img, truth = _small_digit_ruler(ppc, seed)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    fast = views.prepare_view(0, gray)
    full = views.prepare_view(0, gray, find_share=1.0)
    # Small numbers: both read at the same upscale, the fast view searched at half of it.
    assert fast.scale == full.scale and fast.ticks.shape == full.ticks.shape
    assert 1.8 < fast.zoom < 2.2 and full.zoom == 1.0
    assert fast.img.size < 0.3 * full.img.size
    for find_share in (views.FIND_SHARE, 1.0):
        r = read_ruler(img, find_share=find_share)
        assert r.px_per_cm is not None and abs(r.px_per_cm / truth - 1) < 0.02, (find_share, r.reason)


def test_a_patch_upscaled_on_its_own_matches_the_whole_view_upscaled():
    img, _ = _small_digit_ruler(25.0, 4)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    full = views.prepare_view(0, gray, find_share=1.0)
    source = ReadingSource(gray, full.scale, invert=False)
    lay = full.layout
    assert lay.boxes
    for box in lay.boxes[:8]:
        x1, y1, x2, y2 = box
        whole = full.img[y1:y2, x1:x2].astype(int)
        alone = source.patch(box).astype(int)
        assert alone.shape == whole.shape
        # The same pixels up to the sub-pixel offset of the patch's own resampling grid.
        assert np.abs(alone - whole).mean() < 6.0


def test_glyph_only_reading_reads_again_only_the_patches_the_mask_changes(monkeypatch):
    img, _ = _small_digit_ruler(40.0, 5)
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    lay = views.prepare_view(0, gray).layout
    printed = lay.read("printed")
    assert printed
    sizes = []
    real = layout.read_lines
    monkeypatch.setattr(layout, "read_lines", lambda patches, gap: sizes.append(len(patches)) or real(patches, gap))
    glyphs = lay.read("glyphs")
    assert sum(sizes) < len(lay.boxes)  # not every patch went to Tesseract again
    unchanged = {(d.x, d.y, d.value, d.conf) for d in printed} & {(d.x, d.y, d.value, d.conf) for d in glyphs}
    assert unchanged  # ... and those that did not kept their printed reading


def test_lattice_basis_matches_direct_evaluation():
    periods = np.geomspace(2.2, 300.0, 400)
    for n in (7, 64, 1000, 4781):
        direct = np.exp(-2j * np.pi * np.outer(1.0 / periods, np.arange(n)))
        assert np.abs(phasors(n, periods) - direct).max() < 1e-5


def test_histogram_percentile_is_numpys():
    rng = np.random.default_rng(0)
    for shape in [(1,), (3, 5), (97, 131), (1000, 2000)]:
        img = rng.integers(0, 256, shape, dtype=np.uint8)
        for q in (0, 10, 50, 85, 90, 100):
            assert u8_percentile(img, q) == pytest.approx(float(np.percentile(img, q)), abs=1e-9)


def test_too_many_number_groups_keep_those_beside_the_tick_comb():
    """A crop holding a table of figures above a ruler has more groups than MAX_NUMBERS; the
    ruler's numbers are kept (they lie beside its tick comb), not the table's first rows."""
    h, w = 400, 2400
    ticks = np.full((h, w), 235, np.uint8)
    ticks[330:345, ::12] = 20  # a comb of ticks near the bottom
    ticks[330:345, 1::12] = 20
    glyph = lambda x, y: ("?", float(x), float(y), float(x + 8), float(y + 12))  # noqa: E731
    table = [[glyph(x, y)] for y in range(10, 250, 20) for x in range(0, 2400, 150)]  # 192 groups
    ruler = [[glyph(x, 350)] for x in range(50, 2400, 200)]
    kept = nearest_the_comb(table + ruler, ticks)
    assert len(kept) == MAX_NUMBERS
    assert all(g in kept for g in ruler)
    assert kept == sorted(kept, key=(table + ruler).index)  # in their order
