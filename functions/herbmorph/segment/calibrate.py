"""``herbmorph calibrate DATASET``: fit the organ model's per-class confidence calibration on a
labelled synthetic set (``python -m herbmorph.synth generate DIR -n N --seed S``: images/ + gt/).

Every sheet goes through the segment core uncalibrated at a low raw threshold (``--floor``), its
organs are matched to the truth by the evaluation's own rule (:func:`herbmorph.evaluate.match_organs`:
same class, box IoU ≥ 0.5, best score first, each true organ once), and each class's
``raw score → matched`` pairs get an isotonic fit (:mod:`.calibration`). The result is written
beside the weights, with the weights' sha256, the set it was fitted on and the counts per class.

Fit it on synthetic sheets only, with a seed of its own (not training's 1 and 2, not the held-out
7): the real sheets are for measuring afterwards, never for choosing. ``scripts/calibrate_segment``
regenerates the shipped one.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2

from ..config import Settings
from ..evaluate import match_organs
from .calibration import Calibration, calibration_path, fit, save

RAW_FLOOR = 0.01


def collect(settings: Settings, dataset: Path, raw_floor: float = RAW_FLOOR, limit: int | None = None,
            progress=None) -> list[dict]:
    """Per sheet: its stem and each organ detection's class, raw score and whether it matched a
    true organ (with the mask-extent box the results report)."""
    from .core import SegmentPredictor

    predictor = SegmentPredictor(settings).setup()
    predictor.calibration = None  # fitted on the model's own scores, whatever sits beside the weights
    records = []
    for gt_path in sorted((Path(dataset) / "gt").glob("*.json"))[:limit]:
        gt = json.loads(gt_path.read_text())
        bgr = cv2.imread(str(Path(dataset) / "images" / (gt_path.stem + ".jpg")), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"no image for {gt_path.name}")
        rgb = bgr[..., ::-1]
        raw = predictor._infer(predictor.preprocess(rgb), settings.imgsz, raw_floor)
        dets = list(predictor.detections(raw, rgb.shape[:2], raw_floor))
        truth = match_organs(gt["organs"], [(d.organ_class, d.raw_confidence, d.extent) for d in dets])
        records.append({"sheet": gt_path.stem, "true_organs": len(gt["organs"]),
                        "detections": [{"class": d.organ_class, "raw": round(d.raw_confidence, 6),
                                        "true": t is not None} for d, t in zip(dets, truth)]})
        if progress:
            progress()
    return records


def fit_records(records: list[dict], weights_sha256: str, raw_floor: float, source: dict) -> Calibration:
    samples: dict[str, tuple[list[float], list[int]]] = {}
    for r in records:
        for d in r["detections"]:
            s, t = samples.setdefault(d["class"], ([], []))
            s.append(d["raw"])
            t.append(int(d["true"]))
    return fit(samples, weights_sha256, raw_floor, source)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", type=Path, help="a synthetic set: images/ + gt/ (python -m herbmorph.synth generate)")
    p.add_argument("--out", type=Path, help="default: beside the weights, <stem>.calibration.json")
    p.add_argument("--floor", type=float, default=RAW_FLOOR, help=f"raw score threshold while fitting ({RAW_FLOOR})")
    p.add_argument("--limit", type=int)
    p.add_argument("--records", type=Path, help="also write every detection's class, raw score and match here")
    p.add_argument("--segment-weights", type=Path, help="organ model (env HERBMORPH_SEGMENT_WEIGHTS)")
    p.add_argument("--imgsz", type=int, help="segment input size (env HERBMORPH_IMGSZ, default 1024)")
    p.add_argument("--device", help="'' auto, 'cpu', '0' … (env HERBMORPH_DEVICE)")


def main(args, progress_factory=None) -> int:
    from ..models import file_sha256

    settings = Settings().with_overrides(segment_weights=args.segment_weights, imgsz=args.imgsz, device=args.device)
    n = len(list((args.dataset / "gt").glob("*.json")))
    n = min(n, args.limit) if args.limit else n
    if n == 0:
        print(f"herbmorph calibrate: no gt/*.json in {args.dataset}")
        return 2
    if progress_factory:
        records = progress_factory(n, lambda advance: collect(settings, args.dataset, args.floor, args.limit, advance))
    else:
        records = collect(settings, args.dataset, args.floor, args.limit)
    sha = file_sha256(str(settings.segment_weights))
    seeds = sorted({r["sheet"].split("-")[1] for r in records if r["sheet"].count("-") >= 2})
    source = {"dataset": args.dataset.name, "sheets": len(records), "synthetic_seeds": seeds,
              "weights": Path(settings.segment_weights).name, "imgsz": settings.imgsz, "raw_floor": args.floor,
              "truth": "same class, box IoU >= 0.5 (herbmorph.evaluate.match_organs), mask-extent boxes",
              "command": f"herbmorph calibrate {args.dataset.name} --floor {args.floor} --imgsz {settings.imgsz}"}
    cal = fit_records(records, sha, args.floor, source)
    out = save(cal, args.out or calibration_path(settings.segment_weights))
    if args.records:
        args.records.write_text(json.dumps(records) + "\n")
    summary = {k: {"detections": v["detections"], "true": v["true"],
                   "raw_for_0.5": _raw_for(cal, k, 0.5)} for k, v in cal.source["counts"].items()}
    print(json.dumps({"written": str(out), "pooled_for": cal.source["pooled_for"], "classes": summary}, indent=2))
    return 0


def _raw_for(cal: Calibration, organ_class: str, p: float):
    c = cal.curve(organ_class)
    v = c.raw_for(p) if c else None
    return None if v is None else round(v, 4)
