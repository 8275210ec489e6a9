"""The organ model's confidence calibration: fitted on a tiny synthetic set with the shipped
weights (real inference), applied by the segment core, refused for weights it was not fitted on."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from herbmorph.config import Settings
from herbmorph.models import file_sha256
from herbmorph.segment.calibration import (POOLED, Calibration, Curve, calibration_path, fit, isotonic_fit,
                                           load_for, save)
from herbmorph.segment.core import SegmentPredictor

SHIPPED = REPO / "models" / "segment.pt"


def test_pool_adjacent_violators():
    xs, ys = isotonic_fit([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0, 1, 0, 0, 1, 1])
    assert np.all(np.diff(xs) >= 0) and np.all(np.diff(ys) >= 0)
    c = Curve(tuple(xs), tuple(ys))
    assert c(0.1) == 0.0 and c(0.6) == 1.0
    assert c([0.2, 0.3, 0.4]) == pytest.approx([1 / 3] * 3)  # the violators pooled
    assert c(0.0) == 0.0 and c(0.9) == 1.0  # flat beyond its ends
    # ties are one point
    assert isotonic_fit([0.5, 0.5, 0.5], [1, 0, 0]) == ([0.5], [pytest.approx(1 / 3)])


def test_raw_for_inverts_the_curve():
    c = Curve((0.1, 0.3, 0.5, 0.9), (0.0, 0.2, 0.6, 0.9))
    for p in (0.05, 0.2, 0.4, 0.6, 0.85):
        s = c.raw_for(p)
        assert c(s) == pytest.approx(p) and c(s - 1e-3) < p
    assert c.raw_for(0.95) is None  # never reached: the class is never reported at 0.95
    cal = Calibration("x" * 64, {"leaf": c, "stem": Curve((0.2, 0.8), (0.0, 0.3))}, raw_floor=0.01)
    assert cal.raw_threshold(0.5, {"leaf", "stem"}) == pytest.approx(c.raw_for(0.5))
    assert cal.raw_threshold(0.0, {"leaf"}) == 0.01  # never below the fit's floor
    assert cal.raw_threshold(0.95, {"leaf", "stem"}) == 1.0  # nothing can reach it


def test_a_class_with_few_samples_takes_the_pooled_curve():
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 1, 400)
    leaf = (s.tolist(), (rng.uniform(0, 1, 400) < s).astype(int).tolist())
    cal = fit({"leaf": leaf, "root": ([0.3, 0.6], [0, 1])}, "a" * 64, 0.01)
    assert set(cal.curves) == {"leaf", POOLED} and cal.source["pooled_for"] == ["root"]
    assert cal.curve("root") is cal.curves[POOLED] and cal.curve("seed") is cal.curves[POOLED]
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict()))).curves["leaf"].x == \
        pytest.approx(cal.curves["leaf"].x, abs=1e-6)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    from herbmorph.synth.dataset import generate_dataset

    out = tmp_path_factory.mktemp("calibration-set")
    generate_dataset(out, 3, seed=31, px_per_cm_range=(20, 30), progress=False)
    return out


@pytest.fixture(scope="module")
def fitted(tiny_set, tmp_path_factory):
    """``herbmorph calibrate`` on the tiny set, for a copy of the shipped weights."""
    models = tmp_path_factory.mktemp("models")
    weights = models / "segment.pt"
    shutil.copyfile(SHIPPED, weights)
    p = subprocess.run([sys.executable, "-m", "herbmorph.cli", "calibrate", str(tiny_set), "--segment-weights",
                        str(weights), "--imgsz", "640", "--device", "cpu", "--records", str(models / "records.json")],
                       capture_output=True, text=True, cwd=REPO, timeout=900,
                       env={**__import__("os").environ, "PYTHONPATH": str(REPO / "functions")})
    assert p.returncode == 0, p.stderr[-3000:]
    return weights


def test_calibrate_writes_a_calibration_tied_to_the_weights(fitted):
    path = calibration_path(fitted)
    assert path.name == "segment.calibration.json"
    d = json.loads(path.read_text())
    assert d["weights_sha256"] == file_sha256(str(fitted)) and d["raw_floor"] == 0.01
    assert d["source"]["synthetic_seeds"] == ["31"] and d["source"]["sheets"] == 3
    records = json.loads((fitted.parent / "records.json").read_text())
    n = sum(len(r["detections"]) for r in records)
    assert n == sum(v["detections"] for v in d["source"]["counts"].values()) > 0
    assert any(det["true"] for r in records for det in r["detections"]), "some detections are true organs"
    for c in d["curves"].values():
        assert np.all(np.diff(c["x"]) >= 0) and np.all(np.diff(c["y"]) >= 0)
        assert 0 <= min(c["y"]) and max(c["y"]) <= 1


def test_the_core_applies_it_and_thresholds_the_calibrated_value(fitted, tiny_set):
    import cv2

    rgb = cv2.imread(str(next((tiny_set / "images").glob("*.jpg"))))[..., ::-1]
    p = SegmentPredictor(Settings(segment_weights=fitted, imgsz=640, device="cpu")).setup()
    assert p.calibration is not None and p.info.calibration.startswith("segment.calibration.json@")
    conf = 0.2
    res = p.predict(rgb, conf=conf)
    for o in res.organs:
        assert o.confidence >= conf
        # both are rounded to 4 places; the curve is monotone, so the raw score's rounding brackets it
        lo, hi = p.calibration.apply(o.class_, [o.raw_confidence - 5e-5, o.raw_confidence + 5e-5])
        assert lo - 1e-4 <= o.confidence <= hi + 1e-4
    # the same detections, uncalibrated: every one the calibration keeps at conf is among them
    raw = p._infer(p.preprocess(rgb), 640, 0.01)
    p.calibration = None
    everyone = list(p.detections(raw, rgb.shape[:2], 0.01))
    keep = {round(d.raw_confidence, 4) for d in everyone}
    assert {o.raw_confidence for o in res.organs} <= keep
    assert json.loads(res.to_json())["model"]["calibration"] == p.info.calibration


def test_a_calibration_fitted_on_other_weights_is_refused(fitted, tmp_path, caplog):
    weights = tmp_path / "segment.pt"
    shutil.copyfile(SHIPPED, weights)
    d = json.loads(calibration_path(fitted).read_text())
    d["weights_sha256"] = "0" * 64  # fitted on someone else's weights
    calibration_path(weights).write_text(json.dumps(d))
    with caplog.at_level(logging.WARNING, logger="herbmorph.segment.calibration"):
        p = SegmentPredictor(Settings(segment_weights=weights, imgsz=640, device="cpu")).setup()
    assert p.calibration is None and "other weights" in p.info.calibration and "other weights" in caplog.text
    cal, state = load_for(weights, file_sha256(str(weights)))
    assert cal is None and state.startswith("none")
    # and without any file beside them, weights run uncalibrated, saying so
    calibration_path(weights).unlink()
    assert load_for(weights, file_sha256(str(weights)))[1].startswith("none (no calibration")


def test_a_saved_calibration_round_trips(tmp_path):
    cal = Calibration("b" * 64, {"leaf": Curve((0.1, 0.5), (0.0, 0.7))}, 0.01, {"note": "x"})
    path = save(cal, tmp_path / "segment.calibration.json")
    w = tmp_path / "segment.pt"
    w.write_bytes(b"not weights")
    loaded, state = load_for(w, "b" * 64)
    assert loaded == cal and path.name in state
