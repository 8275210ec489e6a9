"""scripts/train_gpu.sh, the one command a session with the GPU machine runs there, runs here on
the CPU at toy size (DEVICE=cpu, 4 sheets of 128 px, seconds of training): every step but the
GPU itself, so a device session's few minutes are not spent finding a broken script.

The real script in a subprocess; the training is real Ultralytics, fine-tuned from the shipped
weights as the script does by default."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from conftest import REPO

from herbmorph.config import Settings
from herbmorph.results import ORGAN_CLASSES
from herbmorph.segment.core import SegmentPredictor

SCRIPT = REPO / "scripts" / "train_gpu.sh"


def _run(tmp_path, **env) -> subprocess.CompletedProcess:
    env = {**os.environ, "PY": sys.executable, "DEVICE": "cpu", "N_TRAIN": "4", "N_VAL": "2", "MINUTES": "0.05",
           "IMGSZ": "128", "BATCH": "2", "WORKERS": "1", "BENCH": "0", "DATA": str(tmp_path / "data"),
           "MODELS": str(tmp_path / "models"), "OUT": str(tmp_path / "out"), **env}
    return subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=600)


def test_the_device_training_script_runs_end_to_end_and_brings_its_weights_back(tmp_path):
    done = _run(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "out"
    parts = sorted(out.glob("segment.pt.part*"))
    assert parts, sorted(p.name for p in out.iterdir())
    joined = b"".join(p.read_bytes() for p in parts)
    assert all(p.stat().st_size <= 15 * 2**20 for p in parts)  # the device tool returns files of 16 MiB at most
    digest, name = (out / "segment.pt.sha256").read_text().split()
    assert name == "segment.pt" and hashlib.sha256(joined).hexdigest() == digest
    assert joined == (tmp_path / "models" / "segment.pt").read_bytes()
    log = (out / "train_gpu.log").read_text()
    assert "sheets drawn in" in log and "training for 0.05 min" in log

    card = json.loads((out / "training.json").read_text())
    plan, model = card["plan"], card["models"]["segment"]
    assert (plan["device"], plan["mask_ratio"], plan["segment_imgsz"], plan["n_train"]) == ("cpu", 2, 128, 4)
    # Fine-tuned from a copy of the shipped weights (the run writes its own over MODELS), and the
    # shipped model's own training record is kept as its history.
    assert model["init"].endswith("init/segment.pt") and model["epochs_done"] >= 1
    assert card["continued_from"]["models"]["segment"]
    # The weights run through the segment core, with our class names.
    predictor = SegmentPredictor(Settings(segment_weights=tmp_path / "models" / "segment.pt")).setup()
    assert set(predictor.class_map.values()) - {None} <= set(ORGAN_CLASSES)
    assert len(set(predictor.class_map.values()) - {None}) == len(ORGAN_CLASSES)


def test_a_budget_the_drawing_leaves_no_training_time_in_stops_before_training(tmp_path):
    done = _run(tmp_path, BUDGET_S="1", RESERVE_S="60")
    assert done.returncode == 3, done.stderr[-2000:]
    assert "nothing trained" in done.stdout + done.stderr
    assert not (tmp_path / "models").exists()
    assert "sheets drawn in" in (tmp_path / "out" / "train_gpu.log").read_text()  # the log came back


def test_without_ultralytics_or_wheels_to_install_it_the_script_says_so_and_trains_nothing(tmp_path):
    no_python = tmp_path / "python"
    no_python.write_text("#!/bin/sh\nexit 1\n")  # a Python on which nothing imports
    no_python.chmod(0o755)
    done = _run(tmp_path, PY=str(no_python), WHEELS=str(tmp_path / "no-wheels"))
    assert done.returncode == 2
    assert "no Ultralytics here" in done.stderr and "device_wheels.sh" in done.stderr
    assert not (tmp_path / "models").exists() and not (tmp_path / "data").exists()
