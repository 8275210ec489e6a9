"""Acceptance (issue 13): `herbmorph train --labels` fine-tunes the shipped organ model for one
short epoch on a tiny COCO export written here (class names in another order, a non-organ class
and one we do not know), and `herbmorph measure` runs the result with our class names.

Both are the real CLI in a subprocess; the training is real Ultralytics on the CPU (6 sheets of
256×320 at imgsz 128: seconds)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from conftest import REPO
from tinysheets import draw_sheet, draw_sheets, write_coco

from herbmorph.config import Settings
from herbmorph.models import file_sha256
from herbmorph.segment.calibration import Calibration, Curve, save
from herbmorph.results import ORGAN_CLASSES
from herbmorph.segment.core import SegmentPredictor

NAMES = {"leaf": "Leaves", "stem": "Stalk", "fruit": "Fruits", "ruler": "ruler", "damage": "Insect damage"}
IDS = {"Fruits": 4, "ruler": 1, "Insect damage": 9, "Stalk": 2, "Leaves": 7}  # listed in this order
IMGSZ = 128


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "functions")}
    return subprocess.run([sys.executable, "-m", "herbmorph.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def _box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _leaf_boxes(sheet):
    return [(min(x for x, _ in p), min(y for _, y in p), max(x for x, _ in p), max(y for _, y in p))
            for k, p in sheet.shapes if k == "leaf"]


def _leaf_confidence(organs, leaves) -> list[float]:
    """For each drawn leaf, the confidence of the best-overlapping organ called 'leaf' (0 if none)."""
    return [max([o["confidence"] for o in organs if o["class"] == "leaf" and _box_iou(o["bbox"], box) > 0.5],
                default=0.0) for box in leaves]


def test_train_on_a_coco_export_then_measure_with_the_result(tmp_path):
    json_path = write_coco(tmp_path / "export", draw_sheets(6, seed=0), NAMES, IDS)
    models = tmp_path / "herbarium-model"
    models.mkdir()
    stale = models / "segment.calibration.json"  # an earlier run's calibration, fitted on the starting weights
    save(Calibration(file_sha256(str(REPO / "models" / "segment.pt")), {"leaf": Curve((0.1, 0.9), (0.0, 1.0))},
                     0.01), stale)
    p = _cli("train", "--labels", str(json_path), "--models-dir", str(models), "--epochs", "1",
             "--imgsz", str(IMGSZ), "--batch", "4", "--device", "cpu")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "'Insect damage'" in p.stderr  # the unknown class, named in a warning

    record = json.loads((models / "training.json").read_text())
    assert record["classes"]["mapping"] == {"Leaves": "leaf", "Stalk": "stem", "Fruits": "fruit"}
    assert record["classes"]["non_organ_dropped"] == ["ruler"]
    assert record["classes"]["unknown_dropped"] == ["Insect damage"]
    assert record["classes"]["model_names"] == {str(i): c for i, c in enumerate(ORGAN_CLASSES)}
    assert record["images"]["train"] == 5 and record["images"]["val"] == 1
    assert record["run"]["epochs_done"] == 1 and record["weights"]["sha256"] != record["init"]["sha256"]
    assert 0 < record["weights"]["bytes"] < 20e6
    # new weights: no calibration may apply to them (it was fitted on others), and the record says so
    assert not stale.exists() and record["calibration"].startswith("none")
    card = (models / "MODEL_CARD.md").read_text()
    assert "| leaf | `Leaves` | 12 |" in card and "not organs: `ruler`" in card

    new = draw_sheet(100)  # a sheet the model has not seen
    new.image.save(tmp_path / "new.jpg", quality=95)
    out = tmp_path / "measured"
    p = _cli("measure", str(tmp_path / "new.jpg"), "--out", str(out), "--segment-weights", str(models / "segment.pt"),
             "--imgsz", str(IMGSZ), "--conf", "0.5")
    assert p.returncode == 0, p.stderr[-3000:]
    doc = json.loads((out / "new.jpg.json").read_text())
    assert doc["models"]["segment"]["sha256"] == record["weights"]["sha256"]
    assert doc["models"]["segment"]["calibration"].startswith("none")
    assert doc["organs"] and {o["class"] for o in doc["organs"]} <= set(ORGAN_CLASSES)
    leaves = _leaf_boxes(new)
    tuned = _leaf_confidence(doc["organs"], leaves)
    assert sum(c >= 0.5 for c in tuned) >= 2, (tuned, doc["organs"])
    for o in doc["organs"]:  # nothing else is claimed on a leaf with more confidence than its leaf
        for box, c in zip(leaves, tuned):
            if _box_iou(o["bbox"], box) > 0.5:
                assert o["class"] == "leaf" or o["confidence"] < c, o

    # The epoch taught the leaves under their own name: the starting model was less sure of them.
    start = SegmentPredictor(Settings(conf=0.05, imgsz=IMGSZ, device="cpu")).setup()
    start.calibration = None  # its raw scores, as the tuned model's (uncalibrated) confidences are
    before = start.predict(np.asarray(new.image)).organs
    # raw scores on both sides: the shipped model's calibrated confidences are another scale
    was = _leaf_confidence([{"class": o.class_, "confidence": o.raw_confidence, "bbox": o.bbox} for o in before],
                           leaves)
    assert np.mean(tuned) > np.mean(was) + 0.05, (tuned, was)
