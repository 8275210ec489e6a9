"""Train the shipped models on synthetic sheets: a YOLO11n-seg organ model and a YOLO11n scale
detector, from scratch (no hub is reachable), on the CPU, time-boxed so the whole run is
reproducible by one command (scripts/train.sh) on a 2-core machine.

Real deployments bring their own weights (e.g. the paper's YOLO11x-seg at 1064 px) through
HERBMORPH_SEGMENT_WEIGHTS / HERBMORPH_SCALE_WEIGHTS instead, or fine-tune the shipped organ model
on their own labels (``herbmorph train --labels``, :mod:`herbmorph.labels`).
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import REPO_DIR


@dataclass(frozen=True)
class TrainPlan:
    data_dir: Path = REPO_DIR / "data" / "train"
    models_dir: Path = REPO_DIR / "models"
    n_train: int = 320
    n_val: int = 40
    seed: int = 1
    val_seed: int = 2
    # Training sheets are downscaled to max_side anyway, so low px/cm renders look the same
    # after the downscale and cost far less to draw.
    px_per_cm_range: tuple[float, float] = (15.0, 40.0)
    max_side: int = 1024
    segment_imgsz: int = 512
    scale_imgsz: int = 416
    hours_segment: float = 1.15
    hours_scale: float = 1.0
    epochs: int = 300  # an upper bound; the time box ends training first
    batch: int = 8
    workers: int = 1
    device: str = "cpu"  # "0" on a GPU node (scripts/train_gpu.sh)
    segment_arch: str = "yolo11n-seg"
    # Mask targets at imgsz / mask_ratio: at Ultralytics' default 4, 1–2 px stems vanish from them.
    mask_ratio: int = 4
    # Training images get a scanned specimen's fine texture (synth.scanlook); False: as drawn
    # (the shipped weights' runs, models/training.json).
    scan_texture: bool = True
    # Continue from DIR/<task>.pt (fine-tune) instead of a random init:
    # how a longer budget is spread over several time-boxed runs.
    init_from: Path | None = None


def build_datasets(plan: TrainPlan) -> dict[str, Path]:
    from .synth.dataset import export_yolo, generate_dataset

    splits = {}
    for split, n, seed in (("train", plan.n_train, plan.seed), ("val", plan.n_val, plan.val_seed)):
        out = plan.data_dir / "sheets" / split
        if not (out / "gt").is_dir() or len(list((out / "gt").glob("*.json"))) < n:
            generate_dataset(out, n=n, seed=seed, px_per_cm_range=plan.px_per_cm_range)
        splits[split] = out
    return export_yolo(splits, plan.data_dir / "yolo", max_side=plan.max_side, scan_texture=plan.scan_texture,
                       workers=max(1, plan.workers))


def train_one(task: str, data_yaml: Path, plan: TrainPlan, hours: float, imgsz: int) -> dict:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    if plan.device != "cpu":
        _skip_amp_download_check()

    arch = (plan.segment_arch.removesuffix(".yaml") + ".yaml") if task == "segment" else "yolo11n.yaml"
    init = Path(plan.init_from) / f"{task}.pt" if plan.init_from else None
    # From the architecture file (random init, nothing downloaded) or from our own earlier weights.
    model = YOLO(str(init) if init else arch)
    project = plan.data_dir / "runs"
    model.train(
        data=str(data_yaml), imgsz=imgsz, epochs=plan.epochs, time=hours, batch=plan.batch,
        device=plan.device, workers=plan.workers, project=str(project), name=task, exist_ok=True,
        seed=plan.seed, deterministic=True, plots=False, amp=plan.device != "cpu",
        pretrained=str(init) if init else False,
        **({"mask_ratio": plan.mask_ratio} if task == "segment" else {}),
        patience=1000, verbose=False, cache="ram", warmup_epochs=0.0 if init else 3.0,
        # Sheets are photographed upright-ish; rulers can be vertical or upside down.
        degrees=0.0, fliplr=0.5, flipud=0.0 if task == "segment" else 0.5, mosaic=1.0,
    )
    run = project / task
    best = run / "weights" / "best.pt"
    if not best.exists():
        best = run / "weights" / "last.pt"
    dest = plan.models_dir / f"{task}.pt"
    plan.models_dir.mkdir(parents=True, exist_ok=True)
    strip_and_copy(best, dest)
    metrics = {}
    results_csv = run / "results.csv"
    if results_csv.exists():
        import csv

        rows = list(csv.DictReader(results_csv.open()))
        if rows:
            metrics = {k.strip(): float(v) for k, v in rows[-1].items() if k.strip() and _is_float(v)}
    return {"task": task, "arch": arch, "init": str(init) if init else "random", "imgsz": imgsz, "hours": hours,
            "epochs_done": int(metrics.get("epoch", 0)),
            "final_metrics": metrics, "weights": _shown(dest)}


def _skip_amp_download_check() -> None:
    """Ultralytics checks mixed precision on a GPU by downloading a model of its own and comparing
    its outputs; where nothing can be fetched (the project's GPU machine), the download is retried
    by curl with 30-s connect timeouts before the check gives up, which would spend minutes of a
    short device lease. AMP on the data-centre GPUs we train on is sound: the check is skipped."""
    import ultralytics.engine.trainer as trainer

    def amp_ok(model) -> bool:
        trainer.LOGGER.info("AMP: check skipped (no downloads here); mixed precision on")
        return True

    trainer.check_amp = amp_ok


def _shown(path: Path) -> str:
    """Relative to the repository when inside it (the shipped weights), else absolute."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO_DIR)) if path.is_relative_to(REPO_DIR) else str(path)


def _is_float(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def strip_and_copy(src: Path, dest: Path) -> None:
    """Drop the optimizer state so the shipped file stays a few MB."""
    from ultralytics.utils.torch_utils import strip_optimizer

    tmp = dest.with_suffix(".tmp.pt")
    shutil.copyfile(src, tmp)
    strip_optimizer(str(tmp))
    os.replace(tmp, dest)


def run(plan: TrainPlan, tasks: tuple[str, ...] = ("segment", "scale")) -> dict:
    yamls = build_datasets(plan)
    card = {"plan": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(plan).items()}, "models": {}}
    for task in tasks:
        hours = plan.hours_segment if task == "segment" else plan.hours_scale
        imgsz = plan.segment_imgsz if task == "segment" else plan.scale_imgsz
        card["models"][task] = train_one(task, yamls[task], plan, hours, imgsz)
    previous = Path(plan.init_from or "", "training.json")
    if plan.init_from and previous.is_file():
        # the whole history of a budget spread over several runs stays on record
        card["continued_from"] = json.loads(previous.read_text())
    (plan.models_dir / "training.json").write_text(json.dumps(card, indent=2) + "\n")
    return card
