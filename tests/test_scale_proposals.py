"""Model-free ruler proposals: periodic tick combs found on a sheet's view, at two scales."""
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

from herbmorph.boxes import covers_smaller  # noqa: E402
from herbmorph.scale.core import coarse_proposals  # noqa: E402
from herbmorph.scale.proposals import find_proposals  # noqa: E402


def sheet_with_comb(period: float, rows=(1500, 1530), cols=(300, 1500), blur: float = 0.0) -> np.ndarray:
    """A 2000×1400 view of paper with one comb of 2-px ticks of ``period`` px in a row band,
    blurred along the row by ``blur`` (sigma, px) as a downscaled scan blurs them."""
    gray = np.full((2000, 1400), 215.0)
    for x in np.arange(cols[0], cols[1], period):
        gray[rows[0]:rows[1], int(x):int(x) + 2] = 40
    if blur:
        gray = cv2.GaussianBlur(gray, (0, 0), sigmaX=blur, sigmaY=0.5)
    gray += np.random.default_rng(0).normal(0, 3, gray.shape)
    return gray.clip(0, 255).astype(np.uint8)


def comb_box(rows=(1500, 1530), cols=(300, 1500)) -> tuple[float, float, float, float]:
    return (float(cols[0]), float(rows[0]), float(cols[1]), float(rows[1]))


def test_a_fine_comb_is_proposed_where_it_lies():
    props = find_proposals(sheet_with_comb(6.0))
    assert props and covers_smaller(comb_box(), props[0].box, 0.8) and not props[0].vertical


def test_a_comb_too_coarse_for_the_view_is_found_at_half_size():
    """A comb of 30 px, blurred (no harmonic inside the first search's 2.5-12 px), is beyond the
    first search and inside the half-size one. (On a held-out 7690x10314 sheet an inch-only
    target's 1/8-inch ticks, 15 view px apart, were seen by the first search only in fragments,
    ranked below two other proposals, and never read.)"""
    gray = sheet_with_comb(30.0, blur=4.0)
    assert not any(covers_smaller(comb_box(), p.box, 0.8) for p in find_proposals(gray))
    boxes = coarse_proposals(gray, [])
    assert boxes and covers_smaller(comb_box(), boxes[0], 0.8)
    assert coarse_proposals(gray, [list(boxes[0])]) == boxes[1:]  # a box already read is not read again


def test_plain_paper_has_no_proposal():
    gray = np.random.default_rng(1).normal(215, 3, (2000, 1400)).clip(0, 255).astype(np.uint8)
    assert find_proposals(gray) == [] and coarse_proposals(gray, []) == []
