"""Fine-tune the organ model on a herbarium's own labels: read → map and split → Ultralytics →
``<out>/segment.pt``, ``<out>/training.json`` and ``<out>/MODEL_CARD.md``.

Training starts from the shipped weights (or any organ model of ours), so a few hundred labelled
sheets go further than they would from scratch. The working files (the linked dataset, Ultralytics'
run with its checkpoints) stay in ``<out>/work`` for inspection; the three outputs are all a
deployment needs: ``HERBMORPH_SEGMENT_WEIGHTS=<out>/segment.pt``.
"""
from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..config import REPO_DIR
from ..models import file_sha256
from ..results import ORGAN_CLASSES
from ..segment.calibration import calibration_path
from ..segment.classes import organ_class_map
from .dataset import Prepared, prepare
from .read import read_labels
from .source import LabelError

log = logging.getLogger(__name__)
SHIPPED_DIR = REPO_DIR / "models"


@dataclass(frozen=True)
class LabelPlan:
    labels: Path  # a COCO JSON, or a YOLO-seg folder / its data.yaml
    out: Path  # where segment.pt, training.json and MODEL_CARD.md go
    images: Path | None = None  # the COCO export's images, when not beside the JSON
    init: Path = SHIPPED_DIR / "segment.pt"
    epochs: int = 100
    hours: float | None = None  # a time box; ends training before `epochs` when reached
    imgsz: int = 1024  # as HERBMORPH_IMGSZ: train at the size the model will be run at
    batch: int = 8
    device: str = ""  # '' = a GPU when there is one
    val_fraction: float = 0.2
    skip_crowd: bool = False
    patience: int = 50  # epochs without improvement before stopping early
    workers: int = 2
    seed: int = 0


def _check_plan(plan: LabelPlan) -> None:
    if Path(plan.out).resolve() == SHIPPED_DIR.resolve():
        raise LabelError(f"--models-dir {plan.out} holds the shipped weights; write the fine-tuned model to a folder "
                         "of its own and point HERBMORPH_SEGMENT_WEIGHTS at its segment.pt")
    if not 0 < plan.val_fraction < 1:
        raise LabelError(f"--val-fraction must be between 0 and 1, not {plan.val_fraction}")
    if plan.epochs < 1 or plan.imgsz < 32 or plan.batch < 1:
        raise LabelError("--epochs and --batch must be at least 1 and --imgsz at least 32")
    if not Path(plan.init).is_file():
        raise LabelError(f"no weights to start from at {plan.init}")


def _start_from(init: Path):
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    from ultralytics import YOLO

    model = YOLO(str(init))
    if model.task != "segment":
        raise LabelError(f"{init} is a {model.task} model; fine-tuning needs a segmentation model such as models/segment.pt")
    mapped = organ_class_map(dict(model.names))  # refuses a model with no organ class
    if [mapped.get(i) for i in range(len(ORGAN_CLASSES))] != list(ORGAN_CLASSES):
        # Ultralytics carries the class head over by index: another order would start every
        # class from another class's weights. Still trainable, but say so.
        log.warning("%s has classes %s, not ours in our order %s: its class head starts from other classes' "
                    "weights", init, dict(model.names), ORGAN_CLASSES)
    return model


def _last_row(results_csv: Path) -> dict[str, float]:
    if not results_csv.is_file():
        return {}
    rows = list(csv.DictReader(results_csv.open()))
    out = {}
    for k, v in (rows[-1].items() if rows else ()):
        try:
            out[k.strip()] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def _per_class(metrics, prepared: Prepared) -> dict[str, dict]:
    """Validation of the kept weights, per organ class that the validation images have."""
    out = {}
    try:
        for j, c in enumerate(metrics.ap_class_index):
            name = ORGAN_CLASSES[int(c)]
            out[name] = {"val_instances": prepared.instances["val"].get(name, 0),
                         "box_map50": round(float(metrics.box.ap50[j]), 4),
                         "mask_map50": round(float(metrics.seg.ap50[j]), 4),
                         "mask_map50_95": round(float(metrics.seg.ap[j]), 4)}
    except (AttributeError, IndexError, TypeError):  # an Ultralytics without per-class arrays
        log.warning("no per-class validation metrics from this Ultralytics")
    return out


def _shown(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO_DIR)) if path.is_relative_to(REPO_DIR) else str(path)


def run(plan: LabelPlan, on_prepared=None) -> dict:
    """Train and write the three outputs; returns the training record (training.json)."""
    from ..train import strip_and_copy

    _check_plan(plan)
    # absolute: Ultralytics puts a relative project under its own runs folder, wherever that is
    out = Path(plan.out).resolve()
    work = out / "work"
    labels = read_labels(Path(plan.labels), plan.images, skip_crowd=plan.skip_crowd)
    prepared = prepare(labels, work / "dataset", plan.val_fraction)
    model = _start_from(Path(plan.init))
    init_sha = _sha256(plan.init)  # before training: --init-from may be the folder the result goes to
    if on_prepared:
        on_prepared(prepared)
    # a rerun into the same folder starts a fresh run: Ultralytics would append to the old results.csv
    shutil.rmtree(work / "runs" / "segment", ignore_errors=True)
    t0 = time.time()
    metrics = model.train(
        data=str(prepared.data_yaml), imgsz=plan.imgsz, epochs=plan.epochs, time=plan.hours, batch=plan.batch,
        device=plan.device or None, workers=plan.workers, project=str(work / "runs"), name="segment",
        exist_ok=True, seed=plan.seed, deterministic=True, plots=False, patience=plan.patience, verbose=False,
        # from trained weights, so no warm-up (its bias learning rate of 0.1 would undo them);
        # sheets lie upright, so left-right flips only
        warmup_epochs=0.0, degrees=0.0, fliplr=0.5, flipud=0.0)
    wall = time.time() - t0
    trainer = model.trainer
    kept = trainer.best if trainer.best.exists() else trainer.last
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "segment.pt"
    strip_and_copy(kept, weights)
    calibration = _drop_calibration(weights)
    names = dict(_start_from(weights).names)  # the written file must read back as an organ model of ours
    record = {
        "kind": "herbmorph/training/labels/1",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "labels": {"format": labels.format, "source": str(Path(labels.source).resolve()),
                   "sha256": _sha256(labels.source), "class_names": list(labels.class_names.values())},
        "classes": {"mapping": prepared.mapping, "non_organ_dropped": prepared.non_organs,
                    "unknown_dropped": prepared.unknown, "model_names": names},
        "images": {"train": len(prepared.images["train"]), "val": len(prepared.images["val"]),
                   "split": prepared.split, "val_images": prepared.images["val"],
                   "left_out_without_organs": len(prepared.left_out)},
        "instances": {s: dict(sorted(c.items())) for s, c in prepared.instances.items()},
        "annotations_dropped": dict(prepared.dropped), "notes": prepared.notes,
        "init": {"weights": _shown(plan.init), "sha256": init_sha},
        "plan": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(plan).items()},
        "run": {"device": str(trainer.device), "epochs_done": int(_last_row(trainer.csv).get("epoch", 0)),
                "wall_s": round(wall, 1), "kept": kept.name, "ultralytics": _version("ultralytics"),
                "torch": _version("torch")},
        "validation": {k: round(float(v), 4) for k, v in (getattr(metrics, "results_dict", None) or {}).items()},
        "validation_per_class": _per_class(metrics, prepared),
        "last_epoch": _last_row(trainer.csv),
        "weights": {"path": str(weights.resolve()), "sha256": _sha256(weights),
                    "bytes": weights.stat().st_size},
        "calibration": calibration,
    }
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    from .card import render

    (out / "MODEL_CARD.md").write_text(render(record))
    return record


def _drop_calibration(weights: Path) -> str:
    """New weights have no calibration: one left beside them by an earlier run is removed (the
    sha256 check would refuse it anyway), and the record says how to fit one."""
    stale = calibration_path(weights)
    if stale.exists():
        stale.unlink()
        log.warning("removed %s: it was fitted on other weights", stale)
    return (f"none: confidences are the model's raw scores; fit one on labelled synthetic sheets with "
            f"`herbmorph calibrate DIR --segment-weights {_shown(weights)}`")


def _sha256(path: Path) -> str:
    return file_sha256.__wrapped__(str(Path(path).resolve()))  # uncached: a rerun rewrites the same paths


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"
