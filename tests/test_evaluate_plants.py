"""Plant coverage against binary masks (`herbmorph evaluate DIR --plant-masks MASKS`)."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import REAL_SHEETS, REPO

from herbmorph.evaluate_plants import coverage, cut_by_box, evaluate_plant_masks, organ_union
from herbmorph.synth.sheet import generate_sheet_sample


def test_coverage_of_two_overlapping_squares():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[0:4, 0:4] = True   # 16 px
    b[2:6, 2:6] = True   # 16 px, 4 shared
    c = coverage(a, b)
    assert c == {"iou": 4 / 28, "recall": 4 / 16, "precision": 4 / 16}
    assert coverage(np.zeros((10, 10), bool), b) == {"iou": 0.0, "recall": 0.0, "precision": 0.0}  # nothing found


def test_a_mask_cut_by_its_box_is_found_and_an_outline_touching_it_is_not():
    hw = (200, 300)
    # an ellipse-like outline touches each side of its box at one point only
    t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    ellipse = np.c_[150 + 40 * np.cos(t), 100 + 20 * np.sin(t)]
    box = [ellipse[:, 0].min(), ellipse[:, 1].min(), ellipse[:, 0].max(), ellipse[:, 1].max()]
    assert cut_by_box(ellipse.tolist(), box, hw) == []
    # the same ellipse clipped by a box too small on the right: a straight run along x = 170
    clipped = np.c_[np.minimum(ellipse[:, 0], 170), ellipse[:, 1]]
    assert cut_by_box(clipped.tolist(), [110, 80, 170, 120], hw) == ["right"]
    # clipped at the image border instead: that straight edge is the sheet's, not the box's
    at_border = np.c_[np.minimum(ellipse[:, 0] + 110, 299), ellipse[:, 1]]
    assert cut_by_box(at_border.tolist(), [220, 80, 299, 120], hw) == []


def test_synthetic_sheet_against_its_own_plant_mask(pipeline, tmp_path):
    """A synthetic sheet and the mask its generator drew: the reported figures are the ones the
    result document's polygons give against that mask."""
    s = generate_sheet_sample(np.random.default_rng([5, 3]), (30.0, 40.0))
    (tmp_path / "sheets").mkdir()
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "sheets" / "s.jpg"), s.image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    plant = ((s.labels > 0) & (s.labels < 255)).astype(np.uint8) * 255
    cv2.imwrite(str(tmp_path / "masks" / "s.png"), plant)
    summary = evaluate_plant_masks(pipeline, tmp_path / "sheets", tmp_path / "masks")
    (row,) = summary["rows"]
    doc = pipeline.measure(tmp_path / "sheets" / "s.jpg").doc
    want = coverage(organ_union(doc, plant.shape), plant > 127)
    assert row["organs"] == len(doc.organs) > 0
    assert row["iou"] == round(want["iou"], 3) and row["precision"] == round(want["precision"], 3)
    assert 0.0 < row["iou"] <= 1.0 and summary["errors"] == 0


@pytest.mark.skipif(not (REAL_SHEETS / "masks").is_dir(), reason="../shared/samples/real-sheets/masks is absent")
def test_cli_on_real_sheets_with_plant_masks(tmp_path):
    out = tmp_path / "plants.json"
    proc = subprocess.run([sys.executable, "-m", "herbmorph.cli", "evaluate", str(REAL_SHEETS),
                           "--plant-masks", str(REAL_SHEETS / "masks"), "--json", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads(out.read_text())
    assert s["sheets"] == 19 and s["errors"] == 0
    for r in s["rows"]:
        assert 0.0 <= r["iou"] <= min(r["recall"], r["precision"]) + 1e-9 or r["organs"] == 0
    assert "median IoU" in proc.stdout
