"""Bring your own weights: a model's classes are mapped to ours by name, never by index.

The models here are real YOLO11n-seg networks trained in the test (one epoch, 64 px, CPU, a few
seconds each) on sheets whose labels carry a user's names: shuffled, respelt, and with classes
that are not organs or that we do not know."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from tinysheets import draw_sheets, train_tiny_model, write_yolo_seg

from herbmorph.config import Settings
from herbmorph.errors import ModelError
from herbmorph.pipeline import Pipeline
from herbmorph.segment.classes import map_classes, organ_class_map
from herbmorph.segment.core import SegmentPredictor

# index → the user's name; what each name labels on the drawn sheets
USER_NAMES = {0: "Fruits", 1: "Leaves", 2: "ruler", 3: "Stalks", 4: "Insect damage"}
USER_KINDS = {"Fruits": "fruit", "Leaves": "leaf", "ruler": "ruler", "Stalks": "stem", "Insect damage": "damage"}
NO_ORGAN_NAMES = {0: "ruler", 1: "Herbarium label", 2: "barcode"}


def _train(tmp_path_factory, name: str, names: dict[int, str], kinds: dict[str, str]):
    root = tmp_path_factory.mktemp(name)
    sheets = draw_sheets(4, seed=11)
    data = write_yolo_seg(root / "data", {"train": sheets, "val": sheets[:1]}, names, kinds)
    return train_tiny_model(data, root / f"{name}.pt"), sheets


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    return _train(tmp_path_factory, "user", USER_NAMES, USER_KINDS)


@pytest.fixture(scope="module")
def no_organ_model(tmp_path_factory):
    return _train(tmp_path_factory, "no_organ", NO_ORGAN_NAMES, {"ruler": "ruler"})[0]


def test_names_map_by_name_case_and_synonym():
    m = organ_class_map({0: "Inflorescence", 1: "LEAVES", 2: "ruler", 3: "stem", 4: "Bar code thing", 5: "seeds"})
    assert m == {0: "flower", 1: "leaf", 2: None, 3: "stem", 4: None, 5: "seed"}
    cm = map_classes({0: "Inflorescence", 1: "ruler", 2: "Bar code thing", 3: "Colour chart"})
    assert cm.non_organs == ("ruler", "Colour chart") and cm.unknown == ("Bar code thing",)


def test_a_name_list_without_organ_classes_is_refused():
    with pytest.raises(ModelError, match="no organ class"):
        organ_class_map({0: "ruler", 1: "label", 2: "barcode"})


def test_user_model_detections_take_the_class_of_their_name(user_model, caplog):
    """Every detection of the trained model is read through its own class name: 'Leaves' (index 1)
    is a leaf, 'Stalks' (index 3, our 'fruit' by index) a stem; 'ruler' and the unknown
    'Insect damage' are dropped, the unknown one with a warning that names it."""
    weights, sheets = user_model
    from ultralytics import YOLO

    assert YOLO(str(weights)).names == USER_NAMES  # the real trained file carries the user's names
    rgb = np.asarray(sheets[0].image)
    settings = Settings(segment_weights=weights, conf=0.0001, imgsz=64, device="cpu")
    with caplog.at_level(logging.WARNING, logger="herbmorph.segment.classes"):
        predictor = SegmentPredictor(settings).setup()
    assert "'Insect damage'" in caplog.text
    raw = predictor._infer(predictor.preprocess(rgb), 64, 0.0001)
    got = predictor.postprocess(raw, rgb.shape[:2], 64, 0.0001).organs
    ours = {"Fruits": "fruit", "Leaves": "leaf", "Stalks": "stem"}
    confs, classes = raw.scores, raw.classes
    order = np.argsort(-confs, kind="stable")
    want = [(round(float(confs[i]), 4), ours[USER_NAMES[classes[i]]]) for i in order
            if USER_NAMES[classes[i]] in ours]
    dropped = [USER_NAMES[classes[i]] for i in order if USER_NAMES[classes[i]] not in ours]
    assert dropped, "the model's raw output includes non-organ detections, so dropping them is exercised"
    assert got, "organ detections come through"
    # a user's weights with no calibration beside them: confidences are the raw scores, said so
    assert predictor.info.calibration.startswith("none") and all(o.confidence == o.raw_confidence for o in got)
    # in confidence order, each organ is the raw detection of its score, under the class its *name* says
    # (the predictor may still drop a detection whose mask is empty at this size: a subsequence)
    it = iter(want)
    assert all(any((o.raw_confidence, o.class_) == w for w in it) for o in got)
    assert {o.class_ for o in got} <= set(ours.values())
    by_index = dict(enumerate(("leaf", "stem", "flower", "fruit", "root", "seed")))
    assert any(by_index[int(c)] != ours.get(USER_NAMES[int(c)]) for c in classes), \
        "reading by index would have named some of these detections otherwise"


def test_a_trained_model_with_no_organ_class_is_refused_at_start_up(no_organ_model):
    with pytest.raises(ModelError, match="no organ class") as err:
        SegmentPredictor(Settings(segment_weights=no_organ_model)).setup()
    assert "'Herbarium label'" in str(err.value) and "HERBMORPH_SEGMENT_WEIGHTS" in str(err.value)
    with pytest.raises(ModelError, match="no organ class"):
        Pipeline(Settings(segment_weights=no_organ_model)).setup()


def test_measure_cli_refuses_a_model_with_no_organ_class(no_organ_model, tmp_path):
    """The real CLI stops before the first sheet, with one clear line and no result files:
    a sheet measured with such a model would look like a sheet with no plant on it."""
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO / "functions")}
    p = subprocess.run([sys.executable, "-m", "herbmorph.cli", "measure", str(REPO / "samples" / "sheet-99-00000.jpg"),
                        "--out", str(out), "--segment-weights", str(no_organ_model)],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2, p.stderr[-2000:]
    assert "no organ class" in p.stderr and "Traceback" not in p.stderr
    assert not out.exists() or not any(out.iterdir())
