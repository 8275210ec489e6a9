"""Plant coverage against binary masks (`herbmorph evaluate DIR --plant-masks MASKS`)."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import REAL_SHEETS, REPO

from herbmorph.evaluate_plants import coverage, evaluate_plant_masks, organ_union
from herbmorph.synth.sheet import generate_sheet_sample


def test_coverage_of_two_overlapping_squares():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[0:4, 0:4] = True   # 16 px
    b[2:6, 2:6] = True   # 16 px, 4 shared
    c = coverage(a, b)
    assert c == {"iou": 4 / 28, "recall": 4 / 16, "precision": 4 / 16}
    assert coverage(np.zeros((10, 10), bool), b) == {"iou": 0.0, "recall": 0.0, "precision": 0.0}  # nothing found


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
